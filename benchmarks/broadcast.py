"""Broadcast cost: one shared encoder (ours) against one encoder per viewer (aiortc style).

For 1, 10 and 50 viewers of a 1920x1080 30 fps stream it measures process CPU time
(all threads, x264's included) per second of stream for two designs, in the same
run so the ratio survives a noisy machine:

- shared: our runtime's own per-viewer path. The real `BroadcastHub` on trio with
  one libx264 encoder; each access unit packetized once (`EncodedFrame.rtp_payloads`);
  per viewer the real `_stream_video` task, `VideoSender` (RTP header with the mid
  extension, NACK history), `PeerTransport.send_rtp` (SRTP, AES-CM-128/HMAC-SHA1-80)
  and `TransportDriver.flush` through the real `UdpMux` socket to a loopback sink.
  Only the handshake is skipped: each transport is given SRTP keys and a remote
  address as a finished DTLS handshake would. Runs in real time at the frame rate.
- per-viewer: what aiortc's MediaRelay plus per-track encoding does: the same raw
  frames go to N encoders, each output packetized, protected and sent to the same
  sink for its viewer. This cannot run in real time for many 1080p viewers on a
  small machine, so it runs as fast as it can over a fixed number of frames and
  its CPU time is divided by the stream time those frames represent.

Both designs get the same pre-drawn synthetic frames (capture is common to both and
left out). Usage:

    .venv/bin/python benchmarks/broadcast.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import pylibsrtp
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selkies_trio.media.capture_synthetic import SyntheticSource
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.media.frames import RawFrame
from selkies_trio.proto.dtls.certificate import generate_certificate
from selkies_trio.proto.h264 import packetize_annex_b
from selkies_trio.proto.peer import PeerTransport
from selkies_trio.proto.srtp import SrtpProfile, SrtpSession
from selkies_trio.runtime.hub import BroadcastHub
from selkies_trio.runtime.udp_mux import UdpMux
from selkies_trio.runtime.webrtc import (
    MAX_PAYLOAD,
    TransportDriver,
    VideoSender,
    _stream_video,  # the per-viewer task of a session, as run_session starts it
)

PAYLOAD_TYPE = 102
RTP_CLOCK = 90_000


PACKETIZER_NAME = "selkies_trio.proto.h264"


class Sink:
    """A loopback UDP socket that is never read: the kernel drops what overflows it,
    so sending costs what it costs on a real network and nothing piles up."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.bind(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.socket.getsockname()

    def close(self) -> None:
        self.socket.close()


class ViewerSender:
    """Per-viewer packet work of the per-viewer design: its own SSRC, sequence numbers
    and SRTP session, and a send to the sink (as aiortc's asyncio transport does)."""

    def __init__(self, number: int, sink: Sink) -> None:
        policy = pylibsrtp.Policy(
            key=bytes((number + i) & 0xFF for i in range(30)),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        )
        self.session = pylibsrtp.Session(policy)
        self.ssrc = 0x10000000 + number
        self.sequence = number * 1000
        self.packets = 0
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setblocking(False)
        self.sink = sink.address

    def send_frame(self, payloads: list[bytes], capture_time: float) -> None:
        timestamp = int(capture_time * RTP_CLOCK) & 0xFFFFFFFF
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            header = struct.pack(
                "!BBHII",
                0x80,
                PAYLOAD_TYPE | (0x80 if i == last else 0),
                self.sequence,
                timestamp,
                self.ssrc,
            )
            self.sequence = (self.sequence + 1) & 0xFFFF
            try:
                self.socket.sendto(self.session.protect(header + payload), self.sink)
            except BlockingIOError:
                pass  # a full socket buffer drops, like a congested link
            self.packets += 1

    def close(self) -> None:
        self.socket.close()


def streaming_transport(number: int, sink: Sink) -> PeerTransport:
    """A real PeerTransport as it stands once DTLS is up: SRTP keys and a remote address."""
    generator = random.Random(number)
    certificate, key = generate_certificate(time.time(), random=generator.randbytes)
    transport = PeerTransport(certificate, key, random=generator.randbytes)
    material = bytes((number + i) & 0xFF for i in range(60))
    transport.srtp = SrtpSession.from_dtls_export(
        SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, material, is_client=False
    )
    transport.remote = sink.address
    return transport


class ReplaySource:
    """Cycles pre-drawn frames so drawing costs nothing during the measurement."""

    def __init__(self, frames: list[RawFrame]) -> None:
        self._frames = frames
        self._next = 0
        self.width, self.height = frames[0].width, frames[0].height

    def poll_damage(self) -> bool:
        return True

    def capture(self, now: float) -> RawFrame:
        frame = self._frames[self._next % len(self._frames)]
        self._next += 1
        return RawFrame(frame.data, frame.width, frame.height, frame.stride, now)

    def close(self) -> None:
        pass


@dataclass
class Measurement:
    design: str
    viewers: int
    frames: int
    stream_seconds: float
    cpu_seconds: float
    wall_seconds: float
    cpu_per_stream_second: float
    achieved_fps: float
    packets_per_viewer: float


def draw_frames(width: int, height: int, count: int) -> list[RawFrame]:
    source = SyntheticSource(width, height)
    return [source.capture(i / 30) for i in range(count)]


def measure_shared(
    frames: list[RawFrame], viewers: int, fps: int, bitrate_kbps: int, seconds: float
) -> Measurement:
    sink = Sink()

    def encoder_factory(
        width: int, height: int, rate: int, kbps: int | None, crf: int | None
    ) -> H264Encoder:
        return H264Encoder(width, height, rate, kbps, crf, preference=("libx264",))

    hub = BroadcastHub(
        lambda: ReplaySource(frames),
        encoder_factory,
        fps=fps,
        bitrate_kbps=bitrate_kbps,
        default_max_queue=16,
        keyframe_min_interval=1.0,
    )
    mux = UdpMux("127.0.0.1", 0)
    transports = [streaming_transport(n, sink) for n in range(viewers)]
    senders = [VideoSender(t, random.Random(n).randbytes) for n, t in enumerate(transports)]
    result: dict[str, float] = {}

    async def viewer(transport: PeerTransport, sender: VideoSender) -> None:
        port = mux.register(transport.local_ufrag)
        driver = TransportDriver(transport, port, on_event=lambda event: None)
        await _stream_video(hub, transport, driver, sender, [], SimpleNamespace(video_paused=False))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(mux.run)
            await nursery.start(hub.run)
            async with trio.open_nursery() as viewer_nursery:
                for transport, sender in zip(transports, senders, strict=True):
                    viewer_nursery.start_soon(viewer, transport, sender)
                # Warm-up: encoder open and the first keyframe are not steady state.
                await trio.sleep(0.5)
                frames_before = hub.statistics().frames_encoded
                packets_before = sum(s.packets for s in senders)
                cpu_before, wall_before = time.process_time(), time.perf_counter()
                await trio.sleep(seconds)
                result["cpu"] = time.process_time() - cpu_before
                result["wall"] = time.perf_counter() - wall_before
                result["frames"] = hub.statistics().frames_encoded - frames_before
                result["packets"] = sum(s.packets for s in senders) - packets_before
                viewer_nursery.cancel_scope.cancel()
            nursery.cancel_scope.cancel()

    trio.run(main)
    sink.close()
    encoded = int(result["frames"])
    stream_seconds = encoded / fps
    return Measurement(
        design="shared",
        viewers=viewers,
        frames=encoded,
        stream_seconds=stream_seconds,
        cpu_seconds=result["cpu"],
        wall_seconds=result["wall"],
        cpu_per_stream_second=result["cpu"] / stream_seconds if stream_seconds else float("inf"),
        achieved_fps=encoded / result["wall"],
        packets_per_viewer=result["packets"] / viewers,
    )


def measure_per_viewer(
    frames: list[RawFrame], viewers: int, fps: int, bitrate_kbps: int, count: int
) -> Measurement:
    width, height = frames[0].width, frames[0].height
    encoders = [
        H264Encoder(width, height, fps, bitrate_kbps, preference=("libx264",))
        for _ in range(viewers)
    ]
    sink = Sink()
    senders = [ViewerSender(n, sink) for n in range(viewers)]
    # Warm-up, as for the shared design: the keyframe and rate control's first frames.
    warm_up = 5
    for i in range(warm_up):
        for encoder in encoders:
            encoder.encode(frames[i % len(frames)], force_keyframe=i == 0)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for i in range(count):
        raw = frames[(i + warm_up) % len(frames)]
        for encoder, sender in zip(encoders, senders, strict=True):
            for access_unit in encoder.encode(raw):
                sender.send_frame(packetize_annex_b(access_unit.data, MAX_PAYLOAD), i / fps)
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    stream_seconds = count / fps
    for encoder in encoders:
        encoder.close()
    for sender in senders:
        sender.close()
    sink.close()
    return Measurement(
        design="per-viewer",
        viewers=viewers,
        frames=count,
        stream_seconds=stream_seconds,
        cpu_seconds=cpu,
        wall_seconds=wall,
        cpu_per_stream_second=cpu / stream_seconds,
        achieved_fps=count / wall,
        packets_per_viewer=sum(s.packets for s in senders) / viewers,
    )


def marginal(measurements: list[Measurement], design: str) -> float:
    """CPU seconds per stream second that one more viewer adds (first to last count)."""
    rows = sorted((m for m in measurements if m.design == design), key=lambda m: m.viewers)
    first, last = rows[0], rows[-1]
    return (last.cpu_per_stream_second - first.cpu_per_stream_second) / (
        last.viewers - first.viewers
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds at 640x360")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()

    if args.quick:
        width, height, bitrate = 640, 360, 1500
        shared_seconds, per_viewer_frames = 1.0, 10
    else:
        width, height, bitrate = 1920, 1080, 8000
        shared_seconds, per_viewer_frames = 3.0, 30
    fps = args.fps
    frames = draw_frames(width, height, 30)

    measurements: list[Measurement] = []
    print(
        f"broadcast benchmark: {width}x{height}@{fps}, libx264 CBR {bitrate} kbps, "
        f"packetizer {PACKETIZER_NAME}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'viewers':>7} {'design':>10} {'CPU s / stream s':>17} {'fps':>6} "
        f"{'pkts/viewer':>11}"
    )
    print(header)
    for viewers in args.viewers:
        for measurement in (
            measure_shared(frames, viewers, fps, bitrate, shared_seconds),
            measure_per_viewer(frames, viewers, fps, bitrate, per_viewer_frames),
        ):
            measurements.append(measurement)
            print(
                f"{measurement.viewers:>7} {measurement.design:>10} "
                f"{measurement.cpu_per_stream_second:>17.3f} {measurement.achieved_fps:>6.1f} "
                f"{measurement.packets_per_viewer:>11.1f}"
            )

    ratios = {}
    for viewers in args.viewers:
        shared = next(m for m in measurements if m.design == "shared" and m.viewers == viewers)
        per_viewer = next(
            m for m in measurements if m.design == "per-viewer" and m.viewers == viewers
        )
        ratios[viewers] = per_viewer.cpu_per_stream_second / shared.cpu_per_stream_second
        print(f"{viewers:>4} viewers: per-viewer encoding costs {ratios[viewers]:.1f}x ours")
    summary: dict[str, float] = {}
    if len(args.viewers) > 1:
        shared_marginal = marginal(measurements, "shared")
        per_viewer_marginal = marginal(measurements, "per-viewer")
        summary = {
            "marginal_cpu_per_viewer_shared": shared_marginal,
            "marginal_cpu_per_viewer_per_viewer_encoding": per_viewer_marginal,
            "marginal_ratio": shared_marginal / per_viewer_marginal,
        }
        print(
            f"one more viewer costs {shared_marginal * 1000:.1f} ms CPU per stream second "
            f"(ours) vs {per_viewer_marginal * 1000:.1f} ms (per-viewer encoding): "
            f"ratio {summary['marginal_ratio']:.3f} (target <= 0.1)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "broadcast",
                    "quick": args.quick,
                    "width": width,
                    "height": height,
                    "fps": fps,
                    "bitrate_kbps": bitrate,
                    "packetizer": PACKETIZER_NAME,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "measurements": [asdict(m) for m in measurements],
                    "ratio_per_viewer_to_shared": ratios,
                    **summary,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
