"""Frames that flow through the media engine: raw captures in, encoded access units out.

A `RawFrame` is one screen capture in a packed 32-bit pixel format (BGRX from X11,
the same layout from the synthetic source). An `EncodedFrame` is one H.264 access
unit in Annex B byte-stream form (ITU-T H.264 Annex B: NAL units separated by start
codes), shared by every subscriber of the broadcast hub: it is produced once and
never copied per viewer.

Timestamps are plain floats handed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from av.video.frame import VideoFrame

# FFmpeg's name for 32-bit little-endian B, G, R, padding: what X11 ZPixmap gives at depth 24.
BGRX = "bgr0"
BYTES_PER_PIXEL = 4


class MediaError(Exception):
    """Base class of media-engine failures (capture or encoder)."""


class CaptureError(MediaError):
    """A capture source cannot deliver frames (display gone, extension missing...)."""


class EncoderError(MediaError):
    """No encoder could be opened or an encode call failed."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One captured picture.

    `data` holds `height` rows of `stride` bytes; only the first `width * 4` bytes of
    each row are pixels (X11 pads rows to its scanline unit).
    """

    data: bytes
    width: int
    height: int
    stride: int
    capture_time: float
    pixel_format: str = BGRX

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")
        if self.stride < self.width * BYTES_PER_PIXEL:
            raise ValueError(f"stride {self.stride} is shorter than a row of {self.width} pixels")
        if len(self.data) < self.stride * (self.height - 1) + self.width * BYTES_PER_PIXEL:
            raise ValueError("pixel buffer is shorter than stride * height")


def raw_to_video_frame(frame: RawFrame) -> VideoFrame:
    """Wrap a capture in a PyAV frame (one memcpy per row at most; none per pixel)."""
    video = VideoFrame(frame.width, frame.height, frame.pixel_format)
    plane = video.planes[0]
    target = memoryview(plane)
    line_size = plane.line_size
    row_bytes = frame.width * BYTES_PER_PIXEL
    if line_size == frame.stride and len(frame.data) >= line_size * frame.height:
        target[:] = memoryview(frame.data)[: line_size * frame.height]
        return video
    source = memoryview(frame.data)
    for y in range(frame.height):
        start = y * frame.stride
        target[y * line_size : y * line_size + row_bytes] = source[start : start + row_bytes]
    return video


Packetizer = Callable[[bytes, int], list[bytes]]


@dataclass(eq=False, slots=True)
class EncodedFrame:
    """One H.264 access unit (Annex B) shared by every subscriber.

    `pts` counts in `1 / fps` units of the encoder that produced it. `index` is the
    hub's running frame number. The RTP payloads are computed once per MTU on first
    use (`rtp_payloads`) and then shared by every peer, which only adds its own RTP
    header and SRTP.
    """

    data: bytes
    keyframe: bool
    pts: int
    width: int
    height: int
    capture_time: float
    index: int = 0
    encoder_name: str = ""
    _payload_cache: dict[int, list[bytes]] = field(default_factory=dict, repr=False)
    _payload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def rtp_payloads(self, mtu: int, packetize: Packetizer) -> list[bytes]:
        """The RTP payloads of this frame for `mtu`, computed by `packetize` at most once.

        `packetize(annexb, mtu)` is the RTP payload format's splitter (RFC 6184 for
        H.264); the runtime passes it in so this layer does not depend on it.
        """
        cached = self._payload_cache.get(mtu)
        if cached is not None:
            return cached
        # Peers may run in threads one day; the lock keeps "packetize once" true then.
        with self._payload_lock:
            cached = self._payload_cache.get(mtu)
            if cached is None:
                cached = packetize(self.data, mtu)
                self._payload_cache[mtu] = cached
            return cached

    def cached_payload_sizes(self) -> tuple[int, ...]:
        """The MTUs for which payloads are already cached (for tests and statistics)."""
        return tuple(self._payload_cache)


class CaptureSource(Protocol):
    """What the broadcast hub needs from a screen source. Calls are synchronous and
    made from one worker thread at a time."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def poll_damage(self) -> bool:
        """True if the picture may have changed since the previous `capture` (never blocks)."""
        ...

    def capture(self, now: float) -> RawFrame: ...

    def close(self) -> None: ...


class VideoEncoder(Protocol):
    """What the broadcast hub needs from an encoder (see `encoder.H264Encoder`)."""

    @property
    def name(self) -> str: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def encode(self, frame: RawFrame, force_keyframe: bool = False) -> list[EncodedFrame]: ...

    def reconfigure(
        self,
        *,
        fps: int | None = None,
        bitrate_kbps: int | None = None,
        crf: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> bool:
        """Apply the given changes; True if the encoder reopened (next frame is an IDR)."""
        ...

    def close(self) -> None: ...
