"""Data-channel throughput and round-trip time: our server, aiortc, and Chromium itself.

One headless Chromium measures three remote peers in the same run, each answering
on a channel labelled "echo" by sending every message back:

- ours: `python -m selkies_trio serve` (synthetic source) reached through the
  Selkies signalling endpoint. The page is a minimal one (no video element, so
  Chromium does not decode our video); the server's own video runs at a low
  frame rate and size so that the measurement is of the data path.
- aiortc: an aiortc peer in this process (asyncio thread) that echoes, with the
  SDP exchanged through the page.
- chromium: a second RTCPeerConnection in the same page that echoes (the ceiling
  on this machine: libwebrtc's dcsctp on both sides).

Per peer, measured in the page with `performance.now()`:

- RTT: one small message at a time, time to its echo; p50 and p99.
- browser→peer: 16 KiB messages, timed from the first send to the arrival of the
  echo of the last one (the peer must have received everything by then).
- peer→browser: 256 KiB messages (large, fragmented and reassembled by SCTP), rate
  at which echoes arrive at the browser, from the first echo to the last.
- echoes/s: 64-byte messages (the size of input events), at most 1024 in flight
  (our server's echo queue holds 65536), completed round trips per second.

Both bulk modes keep at most WINDOW bytes outstanding (sent, not yet echoed), the
way an application bounds its buffers; the echoes flow back while sending goes on,
so each bulk run loads both directions. Rounds interleave the peers.

    .venv/bin/python benchmarks/datachannel.py [--quick] [--json PATH] [--profile PATH]

`--profile PATH` runs our server under cProfile and writes its stats to PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.aiortc_peer import loopback_only  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.selkies_server import running_server  # noqa: E402

PEERS = ("ours", "aiortc", "chromium")
JS_TIMEOUT_MS = 180_000

MEASURE_JS = """() => {
  const withTimeout = (ms, what, body) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    body((value) => { clearTimeout(timer); resolve(value); },
         (error) => { clearTimeout(timer); reject(error); });
  });
  const opened = (channel) => withTimeout(30000, "channel open", (resolve) => {
    if (channel.readyState === "open") resolve(channel);
    else channel.addEventListener("open", () => resolve(channel), { once: true });
  });
  const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

  async function rtt(channel, count) {
    const samples = [];
    for (let i = 0; i < count; i++) {
      const sent = performance.now();
      await withTimeout(10000, "ping echo", (resolve) => {
        channel.onmessage = () => resolve();
        channel.send(`ping ${i} ..........`);
      });
      samples.push(performance.now() - sent);
    }
    samples.sort((a, b) => a - b);
    return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), count };
  }

  async function bulk(channel, messageSize, totalBytes, windowBytes, timeoutMs) {
    channel.binaryType = "arraybuffer";
    const payload = new Uint8Array(messageSize);
    for (let i = 0; i < messageSize; i++) payload[i] = i & 0xff;
    const count = Math.max(1, Math.floor(totalBytes / messageSize));
    let sent = 0, received = 0, receivedBytes = 0, firstEcho = 0, lastEcho = 0;
    let wake = null;
    const done = withTimeout(timeoutMs, "bulk echoes", (resolve) => {
      channel.onmessage = (event) => {
        const now = performance.now();
        if (received === 0) firstEcho = now;
        received += 1;
        receivedBytes += event.data.byteLength;
        lastEcho = now;
        if (wake) { const w = wake; wake = null; w(); }
        if (received === count) resolve();
      };
    });
    const start = performance.now();
    while (sent < count) {
      const outstanding = (sent - received) * messageSize;
      if (outstanding + messageSize > windowBytes && sent > received) {
        await new Promise((resolve) => { wake = resolve; });
        continue;
      }
      channel.send(payload);
      sent += 1;
    }
    await done;
    const bytes = count * messageSize;
    return {
      messageSize, count, bytes,
      upMBps: bytes / 1e6 / ((lastEcho - start) / 1000),
      messagesPerSecond: count / ((lastEcho - start) / 1000),
      // Bytes that arrived after the first echo, over the time they took.
      downMBps: (receivedBytes - messageSize) / 1e6 / Math.max(1e-6, (lastEcho - firstEcho) / 1000),
    };
  }

  window.bench = { withTimeout, opened, rtt, bulk };
}"""

# Our server, through the Selkies dialect; the video m-line is accepted but not rendered.
OURS_SETUP_JS = """async (url) => {
  const { withTimeout, opened } = window.bench;
  const pc = new RTCPeerConnection();
  window.benchPeers = [pc];
  const socket = new WebSocket(url);
  window.benchSocket = socket;
  let serverId = null;
  const input = withTimeout(30000, "input channel", (resolve) => {
    pc.ondatachannel = (event) => {
      if (event.channel.label === "input") opened(event.channel).then(resolve);
    };
  });
  socket.onopen = () => socket.send(
    `HELLO client ${JSON.stringify({ client_type: "controller", client_slot: 1 })}`);
  socket.onmessage = async (event) => {
    const frame = String(event.data);
    if (frame === "HELLO") { socket.send("SESSION server"); return; }
    if (frame.startsWith("SESSION_OK ")) { serverId = frame.slice(11).trim(); return; }
    const space = frame.indexOf(" ");
    if (space < 0 || frame.slice(0, space) !== serverId) return;
    const message = JSON.parse(frame.slice(space + 1));
    if (message.sdp && message.sdp.type === "offer") {
      await pc.setRemoteDescription(message.sdp);
      await pc.setLocalDescription(await pc.createAnswer());
      socket.send(`${serverId} ${JSON.stringify({ sdp: pc.localDescription })}`);
    } else if (message.ice) {
      await pc.addIceCandidate(message.ice);
    }
  };
  await input;
  window.benchChannel = await opened(pc.createDataChannel("echo"));
  return pc.sctp.maxMessageSize;
}"""

OFFER_JS = """async () => {
  const pc = new RTCPeerConnection();
  window.benchPeers = [pc];
  window.benchChannel = pc.createDataChannel("echo");
  await pc.setLocalDescription(await pc.createOffer());
  await window.bench.withTimeout(30000, "ICE gathering", (resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
  return pc.localDescription.sdp;
}"""

ANSWER_JS = """async (sdp) => {
  const pc = window.benchPeers[0];
  await pc.setRemoteDescription({ type: "answer", sdp });
  await window.bench.opened(window.benchChannel);
  return pc.sctp.maxMessageSize;
}"""

CHROMIUM_PAIR_JS = """async () => {
  const { opened } = window.bench;
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  window.benchPeers = [a, b];
  a.onicecandidate = (event) => event.candidate && b.addIceCandidate(event.candidate);
  b.onicecandidate = (event) => event.candidate && a.addIceCandidate(event.candidate);
  b.ondatachannel = (event) => {
    const echo = event.channel;
    echo.binaryType = "arraybuffer";
    echo.onmessage = (message) => echo.send(message.data);
  };
  const channel = a.createDataChannel("echo");
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  window.benchChannel = await opened(channel);
  return a.sctp.maxMessageSize;
}"""

TEARDOWN_JS = """() => {
  for (const pc of window.benchPeers || []) pc.close();
  if (window.benchSocket) window.benchSocket.close();
}"""


class AiortcEchoServer:
    """aiortc answering offers in its own asyncio thread; channels labelled "echo" echo."""

    def __init__(self) -> None:
        loopback_only()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.peers: list[Any] = []

    def answer(self, offer_sdp: str) -> str:
        future = asyncio.run_coroutine_threadsafe(self._answer(offer_sdp), self.loop)
        return future.result(60)

    async def _answer(self, offer_sdp: str) -> str:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection()
        self.peers.append(pc)

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "echo":
                channel.on("message", channel.send)

        await pc.setRemoteDescription(RTCSessionDescription(loopback_sdp(offer_sdp), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def close_peers(self) -> None:
        peers, self.peers = self.peers, []

        async def close_all() -> None:
            for pc in peers:
                await pc.close()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(30)

    def stop(self) -> None:
        self.close_peers()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def loopback_sdp(sdp: str) -> str:
    """The SDP with only loopback candidates (mDNS names would make aiortc query the LAN)."""
    kept = [
        line for line in sdp.splitlines()
        if not line.startswith("a=candidate:") or " 127.0.0.1 " in line
    ]
    return "\r\n".join(kept) + "\r\n"


def measure(page: Any, sizes: dict[str, Any]) -> dict[str, Any]:
    channel = page.evaluate_handle("() => window.benchChannel")
    rtt = page.evaluate("([c, n]) => window.bench.rtt(c, n)", [channel, sizes["pings"]])
    up = page.evaluate(
        "([c, size, total, win, t]) => window.bench.bulk(c, size, total, win, t)",
        [channel, 16 * 1024, sizes["bytes"], sizes["window"], JS_TIMEOUT_MS],
    )
    down = page.evaluate(
        "([c, size, total, win, t]) => window.bench.bulk(c, size, total, win, t)",
        [channel, 256 * 1024, sizes["bytes"], sizes["window"], JS_TIMEOUT_MS],
    )
    small = page.evaluate(
        "([c, size, total, win, t]) => window.bench.bulk(c, size, total, win, t)",
        [channel, 64, 64 * sizes["small_messages"], 64 * 1024, JS_TIMEOUT_MS],
    )
    return {"rtt_p50_ms": rtt["p50"], "rtt_p99_ms": rtt["p99"],
            "up_MBps": up["upMBps"], "down_MBps": down["downMBps"],
            "echoes_per_s": small["messagesPerSecond"]}


def run_one(browser: Any, peer: str, server_url: str, aiortc: AiortcEchoServer,
            sizes: dict[str, Any]) -> dict[str, Any]:
    page = browser.new_page()
    try:
        # Any page of our server's origin will do; nothing of it is used but the origin.
        page.goto(server_url + "/health")
        page.evaluate(MEASURE_JS)
        if peer == "ours":
            ws_url = server_url.replace("http://", "ws://") + "/api/webrtc/signaling"
            max_size = page.evaluate(OURS_SETUP_JS, ws_url)
        elif peer == "aiortc":
            offer = page.evaluate(OFFER_JS)
            max_size = page.evaluate(ANSWER_JS, aiortc.answer(offer))
        else:
            max_size = page.evaluate(CHROMIUM_PAIR_JS)
        result = measure(page, sizes)
        result["max_message_size"] = max_size
        page.evaluate(TEARDOWN_JS)
        return result
    finally:
        page.close()
        if peer == "aiortc":
            aiortc.close_peers()


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def table(summary: dict[str, dict[str, float]]) -> str:
    ours, aio, chrome = (summary[p] for p in PEERS)
    rows = [
        ("browser→peer MB/s (16 KiB msgs)", "up_MBps", True),
        ("peer→browser MB/s (256 KiB msgs)", "down_MBps", True),
        ("64 B echoes/s (1024 in flight)", "echoes_per_s", True),
        ("RTT p50 ms", "rtt_p50_ms", False),
        ("RTT p99 ms", "rtt_p99_ms", False),
    ]
    lines = ["| | ours | aiortc | chromium↔chromium | ours/aiortc | ours/chromium |",
             "|---|---|---|---|---|---|"]
    for name, key, higher_better in rows:
        if higher_better:
            r1, r2 = ours[key] / aio[key], ours[key] / chrome[key]
        else:
            # For times the ratio is "how many times faster", so >1 is better for ours too.
            r1, r2 = aio[key] / ours[key], chrome[key] / ours[key]
        lines.append(f"| {name} | {ours[key]:.4g} | {aio[key]:.4g} | {chrome[key]:.4g} "
                     f"| {r1:.2f}x | {r2:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path,
                        help="run our server under cProfile and write its stats here")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="comma list of peers to measure (the table needs all three)")
    args = parser.parse_args()
    sizes = ({"pings": 200, "bytes": 8 * 1024 * 1024, "window": 2 * 1024 * 1024,
              "small_messages": 2000}
             if args.quick else
             {"pings": 1000, "bytes": 32 * 1024 * 1024, "window": 2 * 1024 * 1024,
              "small_messages": 10000})
    rounds = args.rounds or (1 if args.quick else 3)

    # Low-cost video: the server always streams, and this measures its data path.
    server_env = {"SELKIES_FRAMERATE": "8", "SELKIES_MANUAL_WIDTH": "320",
                  "SELKIES_MANUAL_HEIGHT": "240"}
    python_options = [] if args.profile is None else ["-m", "cProfile", "-o", str(args.profile)]
    runs: dict[str, list[dict[str, Any]]] = {peer: [] for peer in PEERS}
    from playwright.sync_api import sync_playwright

    aiortc = AiortcEchoServer()
    started = time.monotonic()
    try:
        with (running_server(python_options=python_options, **server_env) as server,
              sync_playwright() as playwright):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for round_index in range(rounds):
                    for peer in args.peers.split(","):
                        result = run_one(browser, peer, server.url, aiortc, sizes)
                        runs[peer].append(result)
                        print(f"round {round_index + 1} {peer}: {json.dumps(result)}",
                              file=sys.stderr, flush=True)
            finally:
                browser.close()
    finally:
        aiortc.stop()

    summary = {
        peer: {key: median_of(runs[peer], key)
               for key in ("up_MBps", "down_MBps", "echoes_per_s", "rtt_p50_ms", "rtt_p99_ms")}
        for peer in PEERS if runs[peer]
    }
    if len(summary) < len(PEERS):
        print(json.dumps(summary, indent=2))
        return
    print(f"Data channels, headless Chromium to each peer, median of {rounds} round(s), "
          f"{sizes['bytes'] // (1024 * 1024)} MiB per bulk run, {sizes['pings']} pings:\n")
    print(table(summary))
    if args.json is not None:
        args.json.write_text(json.dumps({
            "benchmark": "datachannel", "quick": args.quick, "rounds": rounds, "sizes": sizes,
            "machine": platform.platform(), "python": platform.python_version(),
            "elapsed_s": time.monotonic() - started,
            "runs": runs, "summary": summary,
        }, indent=2))


if __name__ == "__main__":
    main()
