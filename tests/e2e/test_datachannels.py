"""Data channels between Chromium and our server, through the signalling endpoint.

The page is our client (`web/`); on top of its peer connection the tests open
channels labelled "echo", which the server answers message for message. Every wait
is a Promise resolved by a channel event, with a JavaScript-side timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS
from .selkies_server import LoggedServer, running_server

# Helpers installed once per page; each returns a Promise that settles on events.
HELPERS = """() => {
  const withTimeout = (ms, what, body) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    body((value) => { clearTimeout(timer); resolve(value); },
         (error) => { clearTimeout(timer); reject(error); });
  });
  const pcReady = () => withTimeout(30000, "input channel open", (resolve) => {
    const check = () => {
      const input = window.selkiesClient.channels.get("input");
      if (input && input.readyState === "open") resolve(window.selkiesClient.pc);
      else window.selkiesClient.onUpdate = check;
    };
    check();
  });
  const open = async (options) => {
    const pc = await pcReady();
    const channel = pc.createDataChannel("echo", options || {});
    channel.binaryType = "arraybuffer";
    await withTimeout(15000, "echo channel open", (resolve, reject) => {
      channel.onopen = () => resolve();
      channel.onerror = (event) => reject(new Error(`channel error: ${event.error}`));
    });
    return channel;
  };
  const closed = (channel) => withTimeout(15000, "echo channel close", (resolve) => {
    if (channel.readyState === "closed") resolve();
    channel.addEventListener("close", () => resolve(), { once: true });
  });
  // Waits while the browser holds more than `limit` bytes for this channel.
  const drained = (channel, limit) => new Promise((resolve) => {
    if (channel.bufferedAmount <= limit) { resolve(); return; }
    channel.bufferedAmountLowThreshold = limit;
    channel.addEventListener("bufferedamountlow", () => resolve(), { once: true });
  });
  const toBytes = (data) => typeof data === "string"
    ? new TextEncoder().encode(data) : new Uint8Array(data);
  const sha256 = async (chunks) => {
    let total = 0;
    for (const chunk of chunks) total += chunk.length;
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) { joined.set(chunk, offset); offset += chunk.length; }
    const digest = await crypto.subtle.digest("SHA-256", joined);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  };
  window.dcTest = { withTimeout, pcReady, open, closed, drained, toBytes, sha256 };
}"""

ECHO_SIZES = """async (sizes) => {
  const { open, withTimeout, closed } = window.dcTest;
  const channel = await open();
  const results = [];
  const pattern = (size, seed) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
    return bytes;
  };
  const text = (size, seed) => {
    // ASCII only, so characters and UTF-8 bytes agree on the size.
    let out = "";
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (let i = 0; i < size; i++) out += alphabet[(i + seed) % alphabet.length];
    return out;
  };
  const roundTrip = (message) => withTimeout(20000, "echo", (resolve) => {
    channel.onmessage = (event) => resolve(event.data);
    channel.send(message);
  });
  for (const size of sizes) {
    const sentText = text(size, size);
    const backText = await roundTrip(sentText);
    const sentBinary = pattern(size, size);
    const backBinary = await roundTrip(sentBinary);
    const back = new Uint8Array(backBinary);
    let same = back.length === sentBinary.length;
    for (let i = 0; same && i < back.length; i++) same = back[i] === sentBinary[i];
    results.push({
      size,
      textType: typeof backText, textOk: backText === sentText,
      binaryType: backBinary instanceof ArrayBuffer ? "arraybuffer" : typeof backBinary,
      binaryOk: same,
    });
  }
  let tooLarge = null;
  try {
    channel.send(new Uint8Array(window.selkiesClient.pc.sctp.maxMessageSize + 1));
  } catch (error) {
    tooLarge = error.name;
  }
  const maxMessageSize = window.selkiesClient.pc.sctp.maxMessageSize;
  const stillOpen = channel.readyState;
  channel.close();
  await closed(channel);
  return { results, maxMessageSize, tooLarge, stillOpen };
}"""

ORDERED_BULK = """async (count) => {
  const { open, withTimeout, drained, toBytes, sha256, closed } = window.dcTest;
  const channel = await open({ ordered: true });
  // Deterministic contents of varying length, each led by its index.
  const message = (i) => `${i}:` + "x".repeat((i * 7919) % 300);
  const sent = [];
  const received = [];
  let outOfOrder = 0;
  const done = withTimeout(60000, `${count} echoes`, (resolve) => {
    channel.onmessage = (event) => {
      const index = received.length;
      if (!event.data.startsWith(`${index}:`)) outOfOrder += 1;
      received.push(toBytes(event.data));
      if (received.length === count) resolve();
    };
  });
  for (let i = 0; i < count; i++) {
    const text = message(i);
    sent.push(toBytes(text));
    channel.send(text);
    // Backpressure as an application would apply it, not a window tuned to the server.
    if (channel.bufferedAmount > 1 << 20) await drained(channel, 1 << 18);
  }
  await done;
  const result = {
    count: received.length, outOfOrder,
    sentHash: await sha256(sent), receivedHash: await sha256(received),
  };
  channel.close();
  await closed(channel);
  return result;
}"""

UNORDERED = """async (count) => {
  const { open, withTimeout, closed } = window.dcTest;
  const channel = await open({ ordered: false });
  const seen = new Set();
  let inversions = 0;
  let last = -1;
  const done = withTimeout(30000, `${count} unordered echoes`, (resolve) => {
    channel.onmessage = (event) => {
      const index = Number(event.data.split(":")[0]);
      if (index < last) inversions += 1;
      last = index;
      seen.add(index);
      if (seen.size === count) resolve();
    };
  });
  for (let i = 0; i < count; i++) channel.send(`${i}:` + "u".repeat(100 + (i % 500)));
  await done;
  const result = {
    ordered: channel.ordered, distinct: seen.size,
    all: [...Array(count).keys()].every((i) => seen.has(i)), inversions,
  };
  channel.close();
  await closed(channel);
  return result;
}"""

CLOSE_AND_REOPEN = """async () => {
  const { open, withTimeout, closed } = window.dcTest;
  const echoOnce = (channel, text) => withTimeout(10000, "echo", (resolve) => {
    channel.onmessage = (event) => resolve(event.data);
    channel.send(text);
  });
  const first = await open();
  const firstId = first.id;
  const before = await echoOnce(first, "before close");
  first.close();
  const closingState = first.readyState;
  // "close" fires only once both directions of the stream are reset.
  await closed(first);
  const second = await open();
  const after = await echoOnce(second, "after reopen");
  const result = {
    firstId, secondId: second.id, before, after, closingState,
    firstState: first.readyState, secondState: second.readyState,
  };
  second.close();
  await closed(second);
  return result;
}"""


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LoggedServer]:
    with running_server() as server:
        yield server


@pytest.fixture(scope="module")
def page(shared_server: LoggedServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: shared_server.log.append(f"[console] {m.text}\n"))
            page.goto(shared_server.url + "/")
            page.evaluate(HELPERS)
            page.evaluate("() => window.dcTest.pcReady().then(() => true)")
            yield page
        finally:
            browser.close()


def _evaluate(page: Any, server: LoggedServer, script: str, argument: Any = None) -> Any:
    try:
        return page.evaluate(script, argument)
    except Exception as error:
        raise AssertionError(f"{error}\nserver log:\n" + "".join(server.log[-80:])) from error


SIZES = [1, 2, 100, 1024, 1100, 1200, 4096, 16383, 16384, 16385, 65535, 65536, 65537,
         100_000, 131072, 200_000, 262143, 262144]


def test_echo_text_and_binary_from_1_byte_to_256_kib(page: Any,
                                                      shared_server: LoggedServer) -> None:
    outcome = _evaluate(page, shared_server, ECHO_SIZES, SIZES)
    # Both sides say 256 KiB: we offer a=max-message-size:262144, and so does Chromium.
    assert outcome["maxMessageSize"] == 262144
    assert outcome["tooLarge"] == "TypeError"
    assert outcome["stillOpen"] == "open"
    assert [r["size"] for r in outcome["results"]] == SIZES
    for result in outcome["results"]:
        assert result["textType"] == "string", result
        assert result["binaryType"] == "arraybuffer", result
        assert result["textOk"] and result["binaryOk"], result


def test_ten_thousand_messages_arrive_in_order_with_matching_hash(
        page: Any, shared_server: LoggedServer) -> None:
    outcome = _evaluate(page, shared_server, ORDERED_BULK, 10_000)
    assert outcome["count"] == 10_000
    assert outcome["outOfOrder"] == 0
    assert outcome["receivedHash"] == outcome["sentHash"]


def test_unordered_channel_delivers_every_message(page: Any,
                                                  shared_server: LoggedServer) -> None:
    outcome = _evaluate(page, shared_server, UNORDERED, 1000)
    assert outcome["ordered"] is False
    assert outcome["distinct"] == 1000
    assert outcome["all"] is True


def test_close_then_reopen_reuses_the_stream_id(page: Any,
                                                shared_server: LoggedServer) -> None:
    outcome = _evaluate(page, shared_server, CLOSE_AND_REOPEN)
    assert outcome["before"] == "before close"
    assert outcome["closingState"] == "closing"
    assert outcome["firstState"] == "closed"
    assert outcome["after"] == "after reopen"
    assert outcome["secondState"] == "open"
    # The stream id is free again only after both directions were reset.
    assert outcome["secondId"] == outcome["firstId"]
    # The server kept the session through all of this.
    assert page.evaluate("() => window.selkiesClient.pc.connectionState") == "connected"
