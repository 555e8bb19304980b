"""Page load to first decoded frame in Chromium: our server against an aiortc server.

Both servers stream the same synthetic pattern (`SyntheticSource`, 1280x720, 30 fps)
as H.264 to the same headless Chromium:

- ours: `python -m selkies_trio serve` (synthetic source, SELKIES_FRAMERATE=30); the
  page signals in the Selkies dialect over `/api/webrtc/signaling` and our server
  makes the offer.
- aiortc: an aiortc peer in this process whose video track draws the same pattern
  into PyAV frames (aiortc encodes with libx264 through PyAV); the page makes the
  offer (H.264 preferred) and gets aiortc's answer through an exposed function.

Both pages are minimal and identical apart from signalling; each is fulfilled by
Playwright on the target's origin. The time is `performance.now()` (zero at
navigation start) in the first `requestVideoFrameCallback`, i.e. the first frame
decoded and presented. Runs alternate between the servers; medians and the ratio.

    .venv/bin/python benchmarks/first_frame.py [--runs N] [--quick] [--json PATH]
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

import av  # noqa: E402
import numpy  # noqa: E402

from selkies_trio.media.capture_synthetic import SyntheticSource  # noqa: E402
from tests.e2e.aiortc_peer import loopback_only  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.selkies_server import running_server  # noqa: E402

WIDTH, HEIGHT, FPS = 1280, 720, 30
PAGE_PATH = "/first-frame-bench.html"
AIORTC_ORIGIN = "http://127.0.0.1:9"  # never contacted: Playwright fulfils the page
# A fulfilled page counts as "public", and Chromium's local-network-access checks would
# then block its WebSocket to our loopback server.
BROWSER_ARGS = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]

PAGE_HEAD = """<!doctype html><meta charset="utf-8"><title>first frame</title>
<video id="v" autoplay muted playsinline></video>
<script>
const video = document.getElementById("v");
window.firstFrame = new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("no frame within 60 s")), 60000);
  video.requestVideoFrameCallback(() => resolve({
    firstFrameMs: performance.now(), connectedMs: window.connectedMs ?? null,
  }));
});
const pc = new RTCPeerConnection();
window.pc = pc;
pc.addEventListener("connectionstatechange", () => {
  if (pc.connectionState === "connected") window.connectedMs = performance.now();
});
// Our server may also send audio; only the video track goes to the element.
pc.ontrack = (event) => {
  if (event.track.kind === "video") video.srcObject = new MediaStream([event.track]);
};
"""

OURS_PAGE = PAGE_HEAD + """
const socket = new WebSocket(`ws://${location.host}/api/webrtc/signaling`);
let serverId = null;
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
</script>"""

AIORTC_PAGE = PAGE_HEAD + """
(async () => {
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  const h264 = RTCRtpReceiver.getCapabilities("video").codecs
    .filter((codec) => codec.mimeType === "video/H264");
  transceiver.setCodecPreferences(h264);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
  const answer = await window.aiortcAnswer(pc.localDescription.sdp);
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
})();
</script>"""


def synthetic_track() -> Any:
    from aiortc import VideoStreamTrack

    class SyntheticTrack(VideoStreamTrack):
        """The pattern our server streams, as PyAV frames for aiortc's encoder."""

        def __init__(self) -> None:
            super().__init__()
            self.source = SyntheticSource(WIDTH, HEIGHT)

        async def recv(self) -> av.VideoFrame:
            pts, time_base = await self.next_timestamp()
            raw = self.source.capture(time.time())
            rows = numpy.frombuffer(raw.data, numpy.uint8).reshape(raw.height, raw.stride)
            pixels = rows[:, : raw.width * 4].reshape(raw.height, raw.width, 4)
            frame = av.VideoFrame.from_ndarray(pixels, format="bgra")
            frame.pts = pts
            frame.time_base = time_base
            return frame

    return SyntheticTrack()


class AiortcVideoServer:
    """aiortc answering offers in its own asyncio thread, sending the synthetic track."""

    def __init__(self) -> None:
        loopback_only()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.peers: list[Any] = []

    def answer(self, offer_sdp: str) -> str:
        return asyncio.run_coroutine_threadsafe(self._answer(offer_sdp), self.loop).result(60)

    async def _answer(self, offer_sdp: str) -> str:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection()
        self.peers.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(loopback_sdp(offer_sdp), "offer"))
        pc.addTrack(synthetic_track())
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


def one_run(browser: Any, origin: str, html: str, aiortc: AiortcVideoServer | None) -> Any:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.route(origin + PAGE_PATH, lambda route: route.fulfill(
            status=200, content_type="text/html", body=html))
        if aiortc is not None:
            page.expose_function("aiortcAnswer", aiortc.answer)
        page.goto(origin + PAGE_PATH)
        result = page.evaluate("() => window.firstFrame")
        result["codec"] = page.evaluate("""async () => {
          const stats = await window.pc.getStats();
          let codecId = null;
          stats.forEach((s) => {
            if (s.type === "inbound-rtp" && s.kind === "video") codecId = s.codecId;
          });
          return codecId && stats.get(codecId) ? stats.get(codecId).mimeType : null;
        }""")
        page.evaluate("() => window.pc.close()")
        return result
    finally:
        context.close()
        if aiortc is not None:
            aiortc.close_peers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 10)

    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict[str, float]]] = {"ours": [], "aiortc": []}
    aiortc = AiortcVideoServer()
    try:
        with (running_server(SELKIES_FRAMERATE=str(FPS)) as server,
              sync_playwright() as playwright):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            try:
                for index in range(runs):
                    for name in ("ours", "aiortc"):
                        if name == "ours":
                            result = one_run(browser, server.url, OURS_PAGE, None)
                        else:
                            result = one_run(browser, AIORTC_ORIGIN, AIORTC_PAGE, aiortc)
                        results[name].append(result)
                        print(f"run {index + 1} {name}: {json.dumps(result)}", file=sys.stderr,
                              flush=True)
            finally:
                browser.close()
    finally:
        aiortc.stop()

    def median(name: str, key: str) -> float:
        values = [r[key] for r in results[name] if r.get(key) is not None]
        return float(statistics.median(values)) if values else float("nan")

    ours_first, aiortc_first = median("ours", "firstFrameMs"), median("aiortc", "firstFrameMs")
    ours_conn, aiortc_conn = median("ours", "connectedMs"), median("aiortc", "connectedMs")
    print(f"Page load to first decoded frame, {WIDTH}x{HEIGHT}@{FPS} synthetic pattern, "
          f"median of {runs} interleaved runs each:\n")
    print("| | ours | aiortc | ours/aiortc |")
    print("|---|---|---|---|")
    print(f"| first frame ms | {ours_first:.0f} | {aiortc_first:.0f} "
          f"| {ours_first / aiortc_first:.2f}x |")
    print(f"| connected ms | {ours_conn:.0f} | {aiortc_conn:.0f} "
          f"| {ours_conn / aiortc_conn:.2f}x |")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "benchmark": "first_frame", "runs": runs, "size": [WIDTH, HEIGHT], "fps": FPS,
            "machine": platform.platform(), "python": platform.python_version(),
            "results": results,
            "median_ms": {"ours": ours_first, "aiortc": aiortc_first},
            "ratio": ours_first / aiortc_first,
        }, indent=2))


if __name__ == "__main__":
    main()
