"""Glass-to-glass and input-to-pixel latency in Chromium, ours beside aiortc.

Glass-to-glass: the synthetic source (`selkies_trio.media.capture_synthetic`) draws
its frame counter and capture time (wall-clock milliseconds mod 2**32) as 64
black/white blocks in the top-left corner of every frame. Chromium (Debian's,
headless, via Playwright) decodes the stream; on every `requestVideoFrameCallback`
the page copies the stamp row of the decoded frame to a canvas, reads the blocks
back with the same rule as `read_embedded_stamp` (mean luma of each block's
centre >= 128 is a 1) and subtracts the capture time from the frame's expected
display time (`performance.timeOrigin + expectedDisplayTime`; same machine, same
wall clock). 1280x720 at 30 fps, loopback only.

- ours: our server in-process (signalling, ICE, DTLS 1.2, SRTP, one shared x264
  encoder at 4 Mbit/s), the page is our web client (`web/`), which asks the
  receiver for no playout delay.
- aiortc: an aiortc RTCPeerConnection sending the same synthetic frames as H.264
  (aiortc's own libx264 encoder and pacing) to a bare page with the same receiver
  settings; the offer and answer are handed over through Playwright.

Input-to-pixel (ours only: aiortc has no remote-input path): a private Xvfb, an X
application that paints a white square where it is clicked, our server capturing
that display. Playwright clicks the page; the latency runs from the page's
`mousedown` event to the first decoded frame that shows the square.

    .venv/bin/python benchmarks/latency.py [--seconds 20] [--clicks 30] [--json PATH]
                                           [--skip-aiortc] [--skip-input]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import select
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selkies_trio.app.serve import Running, serve
from selkies_trio.media.capture_synthetic import SyntheticSource
from selkies_trio.media.capture_x11 import X11CaptureSource
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.media.frames import CaptureSource, raw_to_video_frame
from selkies_trio.runtime.hub import BroadcastHub
from selkies_trio.runtime.input_service import InputService
from selkies_trio.runtime.service import input_config
from selkies_trio.runtime.sessions import SessionManager
from selkies_trio.runtime.udp_mux import UdpMux
from selkies_trio.runtime.webrtc import WebRtcEnvironment, run_session
from selkies_trio.runtime.xvfb import run_private_display
from selkies_trio.settings import load_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
WIDTH, HEIGHT, FPS = 1280, 720, 30
BITRATE_KBPS = 4000
WARMUP_FRAMES = 30
# A reading further off than this is a misread stamp, not a latency.
PLAUSIBLE_MS = 10_000

# Reads the stamp from each newly presented frame; resolves with [counter, latency ms].
READ_STAMPS = """([video, samples, timeoutMs]) => new Promise((resolve) => {
  video = typeof video === "string" ? document.querySelector(video) : video;
  const BLOCK = 8, BITS = 64, SPAN = BLOCK * BITS;
  const canvas = document.createElement("canvas");
  canvas.width = SPAN; canvas.height = BLOCK;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const out = [];
  let lastCounter = -1;
  const timer = setTimeout(() => resolve(out), timeoutMs);
  const onFrame = (now, metadata) => {
    if (video.videoWidth >= SPAN) {
      context.drawImage(video, 0, 0, SPAN, BLOCK, 0, 0, SPAN, BLOCK);
      const pixels = context.getImageData(0, 0, SPAN, BLOCK).data;
      let counter = 0, stamp = 0;
      for (let bit = 0; bit < BITS; bit += 1) {
        let total = 0;
        for (let dy = BLOCK / 4; dy < BLOCK - BLOCK / 4; dy += 1) {
          for (let dx = BLOCK / 4; dx < BLOCK - BLOCK / 4; dx += 1) {
            const i = (dy * SPAN + bit * BLOCK + dx) * 4;
            total += 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
          }
        }
        const one = total / ((BLOCK / 2) * (BLOCK / 2)) >= 128 ? 1 : 0;
        if (bit < 32) counter = counter * 2 + one; else stamp = stamp * 2 + one;
      }
      const shown = Math.round(performance.timeOrigin + metadata.expectedDisplayTime) % 4294967296;
      if (counter !== lastCounter) {
        out.push([counter, (shown - stamp + 4294967296) % 4294967296]);
        lastCounter = counter;
      }
    }
    if (out.length >= samples) { clearTimeout(timer); resolve(out); }
    else video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
})"""

# The aiortc side's page: answer an offer with the same receiver settings as ours.
ANSWER = """async (offer) => {
  document.body.innerHTML = '<video id="v" autoplay muted playsinline></video>';
  const video = document.getElementById("v");
  const pc = new RTCPeerConnection();
  window.benchPc = pc;
  pc.addEventListener("track", (event) => {
    if ("jitterBufferTarget" in event.receiver) event.receiver.jitterBufferTarget = 0;
    event.receiver.playoutDelayHint = 0;
    video.srcObject = new MediaStream([event.track]);
  });
  await pc.setRemoteDescription({ type: "offer", sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise((resolve) => pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    }));
  }
  return pc.localDescription.sdp;
}"""

# Chromium's own account of the receive side: mean jitter-buffer delay and decode
# time per frame over the session (webrtc-stats inbound-rtp).
RECEIVER_STATS = """async (which) => {
  const pc = which === "ours" ? window.selkiesClient.pc : window.benchPc;
  const report = await pc.getStats();
  let video = null;
  report.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") video = s; });
  if (!video) return {};
  return {
    jitter_buffer_ms: 1000 * video.jitterBufferDelay / Math.max(1, video.jitterBufferEmittedCount),
    decode_ms: 1000 * video.totalDecodeTime / Math.max(1, video.framesDecoded),
    frames_dropped: video.framesDropped || 0,
    bytes: video.bytesReceived,
  };
}"""

WAIT_CONNECTED = """(check) => new Promise((resolve, reject) => {
  const client = window.selkiesClient;
  const test = new Function("client", `return (${check});`);
  const timer = setTimeout(() => reject(new Error("not connected: " + client.status)), 60000);
  const probe = () => { if (test(client)) { clearTimeout(timer); resolve(true); } };
  client.onUpdate = probe;
  probe();
})"""

# Arms a measurement: the next mousedown on the video starts the clock, the first
# presented frame with a white pixel at remote (x, y) stops it.
ARM_CLICK = """([x, y]) => {
  const video = document.getElementById("stream");
  const canvas = document.createElement("canvas");
  canvas.width = 1; canvas.height = 1;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  window.clickLatency = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the click never showed")), 20000);
    video.addEventListener("mousedown", (event) => {
      const pressed = performance.timeOrigin + event.timeStamp;
      const onFrame = (now, metadata) => {
        context.drawImage(video, x, y, 1, 1, 0, 0, 1, 1);
        const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
        if (r > 200 && g > 200 && b > 200) {
          clearTimeout(timer);
          resolve(performance.timeOrigin + metadata.expectedDisplayTime - pressed);
        } else {
          video.requestVideoFrameCallback(onFrame);
        }
      };
      video.requestVideoFrameCallback(onFrame);
    }, { once: true, capture: true });
  });
}"""

PAGE_POINT = """([x, y]) => {
  const video = document.getElementById("stream");
  const rect = video.getBoundingClientRect();
  const scale = Math.min(rect.width / video.videoWidth, rect.height / video.videoHeight);
  const left = rect.left + (rect.width - video.videoWidth * scale) / 2;
  const top = rect.top + (rect.height - video.videoHeight * scale) / 2;
  return [left + (x + 0.5) * scale, top + (y + 0.5) * scale];
}"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summarise(latencies: list[float]) -> dict[str, float]:
    good = [v for v in latencies if 0 <= v < PLAUSIBLE_MS]
    if not good:
        return {"samples": 0}
    return {
        "samples": len(good),
        "p50_ms": round(percentile(good, 0.5), 1),
        "p95_ms": round(percentile(good, 0.95), 1),
        "mean_ms": round(statistics.fmean(good), 1),
        "misread": len(latencies) - len(good),
    }


# ---- our server, in-process, with wall-clock capture stamps -------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _run_ours(
    source: Callable[[], CaptureSource], display: str | None, started: Callable[[Running], None]
) -> None:
    settings = load_settings(["--addr", "127.0.0.1", "--port", str(_free_port()),
                              "--control-port", str(_free_port())], {})
    mux = UdpMux("127.0.0.1", 0)
    hub = BroadcastHub(source, H264Encoder, fps=FPS, bitrate_kbps=BITRATE_KBPS,
                       timestamp_clock=time.time)
    input_service = InputService(display, input_config(settings))
    environment = WebRtcEnvironment(
        mux=mux, hub=hub, addresses=["127.0.0.1"], input=input_service,
        settings_payload=settings.client_payload,
    )
    manager = SessionManager(f"server-{uuid.uuid4()}",
                             lambda context: run_session(context, environment))
    environment.sessions = manager.contexts
    async with trio.open_nursery() as nursery:
        await nursery.start(mux.run)
        await nursery.start(hub.run)
        await nursery.start(input_service.run)
        await nursery.start(manager.run)
        running: Running = await nursery.start(
            partial(serve, settings, server_peer=manager, handle_signals=False)
        )
        started(running)
        await running.stop.wait()
        nursery.cancel_scope.cancel()


class OurServer:
    """Our server on a trio loop in a thread; `with OurServer(...) as url:`."""

    def __init__(self, source: Callable[[], CaptureSource], display: str | None = None) -> None:
        self._source = source
        self._display = display
        self._ready = threading.Event()
        self._running: Running | None = None
        self._token: Any = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            await _run_ours(self._source, self._display, self._started)

        try:
            trio.run(main)
        finally:
            self._ready.set()

    def _started(self, running: Running) -> None:
        self._running = running
        self._ready.set()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(60) or self._running is None:
            raise RuntimeError("our server did not start")
        url: str = self._running.urls[0]
        return url.replace("0.0.0.0", "127.0.0.1")

    def __exit__(self, *exc: object) -> None:
        if self._running is not None:
            trio.from_thread.run_sync(self._running.stop.set, trio_token=self._token)
        self._thread.join(15)


def glass_to_glass_ours(browser: Any, seconds: float) -> dict[str, float]:
    with OurServer(lambda: SyntheticSource(WIDTH, HEIGHT)) as url:
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(url + "/")
        page.evaluate(WAIT_CONNECTED, "client.connectionState === 'connected'")
        page.evaluate(READ_STAMPS, ["#stream", WARMUP_FRAMES, 30000])
        samples = page.evaluate(READ_STAMPS, ["#stream", int(seconds * FPS), seconds * 2000])
        receiver = page.evaluate(RECEIVER_STATS, "ours")
        page.close()
    return summarise([float(latency) for _counter, latency in samples]) | _rounded(receiver)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 1) for key, value in values.items()}


# ---- aiortc streaming the same source -----------------------------------------------------


def glass_to_glass_aiortc(browser: Any, seconds: float) -> dict[str, float]:
    import aioice.ice
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack

    # aioice leaves loopback out of its host candidates; this benchmark stays on loopback.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

    class SyntheticTrack(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.source = SyntheticSource(WIDTH, HEIGHT)
            self.started: float | None = None
            self.count = 0

        async def recv(self) -> Any:
            if self.started is None:
                self.started = time.time()
            # Real-time pacing at FPS, like a capture device.
            wait = self.started + self.count / FPS - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            frame = raw_to_video_frame(self.source.capture(time.time()))
            frame.pts = self.count * (90_000 // FPS)
            frame.time_base = Fraction(1, 90_000)
            self.count += 1
            return frame

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    async def make_offer() -> tuple[Any, str]:
        pc = RTCPeerConnection()
        transceiver = pc.addTransceiver(SyntheticTrack(), direction="sendonly")
        codecs = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType == "video/H264"])
        await pc.setLocalDescription(await pc.createOffer())
        return pc, pc.localDescription.sdp

    try:
        pc, offer = run(make_offer())
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        answer = page.evaluate(ANSWER, offer)
        run(pc.setRemoteDescription(RTCSessionDescription(answer, "answer")))
        page.evaluate(READ_STAMPS, ["#v", WARMUP_FRAMES, 60000])
        samples = page.evaluate(READ_STAMPS, ["#v", int(seconds * FPS), seconds * 2000])
        receiver = page.evaluate(RECEIVER_STATS, "aiortc")
        page.close()
        run(pc.close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    return summarise([float(latency) for _counter, latency in samples]) | _rounded(receiver)


# ---- input to pixel on a private Xvfb -------------------------------------------------------


class Painter:
    """An X client that paints a white square wherever it is clicked."""

    def __init__(self, display_name: str) -> None:
        from Xlib import X
        from Xlib.display import Display

        self.display = Display(display_name)
        screen = self.display.screen()
        self.window = screen.root.create_window(
            0, 0, screen.width_in_pixels, screen.height_in_pixels, 0, screen.root_depth,
            X.InputOutput, X.CopyFromParent, background_pixel=screen.black_pixel,
            override_redirect=True, event_mask=X.ButtonPressMask,
        )
        self.gc = self.window.create_gc(foreground=screen.white_pixel)
        self.window.map()
        self.display.sync()
        self.stop_read, self.stop_write = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from Xlib import X

        while True:
            while self.display.pending_events():
                event = self.display.next_event()
                if event.type == X.ButtonPress:
                    self.window.fill_rectangle(self.gc, event.event_x - 20, event.event_y - 20,
                                               40, 40)
            self.display.flush()
            readable, _, _ = select.select([self.display.fileno(), self.stop_read], [], [])
            if self.stop_read in readable:
                self.display.close()
                return

    def close(self) -> None:
        os.write(self.stop_write, b"x")
        self.thread.join(5)


def input_to_pixel_ours(browser: Any, clicks: int) -> dict[str, float]:
    display_ready = threading.Event()
    stop = threading.Event()
    found: list[str | None] = []

    def keep_display() -> None:
        async def main() -> None:
            async with trio.open_nursery() as nursery:
                name = await nursery.start(partial(run_private_display, width=WIDTH,
                                                   height=HEIGHT, application=None))
                found.append(name)
                display_ready.set()
                await trio.to_thread.run_sync(stop.wait)
                nursery.cancel_scope.cancel()

        trio.run(main)

    keeper = threading.Thread(target=keep_display, daemon=True)
    keeper.start()
    display_ready.wait(30)
    display = found[0] if found else None
    if display is None:
        stop.set()
        return {"samples": 0}
    painter = Painter(display)
    latencies: list[float] = []
    try:
        with OurServer(lambda: X11CaptureSource(display), display) as url:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(url + "/")
            # Full-width stage and no resize: the remote screen stays 1280x720.
            page.evaluate("() => document.body.classList.add('sidebar-collapsed')")
            page.evaluate(WAIT_CONNECTED, "client.connectionState === 'connected' && client.remoteSize")
            width, height = page.evaluate("() => [document.getElementById('stream').videoWidth,"
                                          " document.getElementById('stream').videoHeight]")
            columns = max(1, (width - 60) // 60)
            for index in range(clicks):
                row, column = divmod(index, columns)
                x, y = 30 + column * 60, 30 + (row % max(1, (height - 60) // 60)) * 60
                page.evaluate(ARM_CLICK, [x, y])
                page.mouse.click(*page.evaluate(PAGE_POINT, [x, y]))
                latencies.append(float(page.evaluate("() => window.clickLatency")))
            page.close()
    finally:
        painter.close()
        stop.set()
        keeper.join(15)
    return summarise(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="stream time measured per side")
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-aiortc", action="store_true")
    parser.add_argument("--skip-input", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "stream": f"{WIDTH}x{HEIGHT}@{FPS}",
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            results["glass_to_glass_ours"] = glass_to_glass_ours(browser, args.seconds)
            if not args.skip_aiortc:
                results["glass_to_glass_aiortc"] = glass_to_glass_aiortc(browser, args.seconds)
            if not args.skip_input:
                results["input_to_pixel_ours"] = input_to_pixel_ours(browser, args.clicks)
        finally:
            browser.close()

    print(f"\nLatency in Chromium, {results['stream']} (ms)\n")
    print("| measurement | samples | p50 | p95 | mean | jitter buffer | decode |")
    print("|---|---|---|---|---|---|---|")
    for key, name in (("glass_to_glass_ours", "glass-to-glass, ours"),
                      ("glass_to_glass_aiortc", "glass-to-glass, aiortc"),
                      ("input_to_pixel_ours", "input-to-pixel, ours (Xvfb)")):
        row = results.get(key)
        if row is None:
            continue
        print(f"| {name} | {row.get('samples', 0)} | {row.get('p50_ms', '-')} | "
              f"{row.get('p95_ms', '-')} | {row.get('mean_ms', '-')} | "
              f"{row.get('jitter_buffer_ms', '-')} | {row.get('decode_ms', '-')} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
