"""The H.264 encoder: PyAV (FFmpeg) with libx264, or NVENC when it actually opens.

Output is what WebRTC browsers decode without negotiation trouble: Constrained
Baseline profile (profile_idc 66, constraint_set1), no B-frames, Annex B byte stream
with SPS and PPS repeated in front of every IDR picture, so a viewer that joins or
recovers on any keyframe can decode it alone. Forced keyframes are IDR pictures
(`forced-idr`), not mere I pictures, because a decoder cannot start on a non-IDR I.

Encoder choice: the names in `preference` are tried in order and the first that
opens wins; one log line says which one runs and why the others did not.
`h264_nvenc` needs an NVIDIA driver; opening it without one fails at once and we
fall back to `libx264`. VAAPI (`h264_vaapi`) is not offered: it needs a hardware
frames context that only a PyAV built against the system FFmpeg (not the wheel's
bundled one) can create, e.g. `pip install av --no-binary av` on a machine with
libva-dev and FFmpeg development headers.

Rate control: CBR (`bitrate_kbps`: bit_rate = maxrate, VBV buffer of
`vbv_buffer_ms`) or constant quality (`crf`). Colour conversion and scaling from
the capture's BGRX to yuv420p at the encoder's size is swscale's job
(`VideoFrame.reformat`).

The object is synchronous and not thread-safe: the runtime calls it from one worker
thread at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import av
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from .frames import EncodedFrame, EncoderError, RawFrame, raw_to_video_frame

logger = logging.getLogger(__name__)

DEFAULT_PREFERENCE: tuple[str, ...] = ("h264_nvenc", "libx264")
DEFAULT_BITRATE_KBPS = 8000
# Ranges of the SELKIES_* settings (seeds/001): framerate 8-120, CRF 5-50.
FPS_RANGE = (1, 240)
CRF_RANGE = (0, 51)
BITRATE_KBPS_RANGE = (50, 500_000)


# The Selkies `encoder` setting names GStreamer elements; these are the FFmpeg
# encoders to try for each, best first. libx264 is always the last resort.
_SETTING_PREFERENCES: dict[str, tuple[str, ...]] = {
    "x264enc": ("libx264",),
    "nvh264enc": ("h264_nvenc", "libx264"),
    # Opens only with a PyAV built against a system FFmpeg that has VAAPI (see above).
    "vah264enc": ("h264_vaapi", "libx264"),
    "openh264enc": ("libopenh264", "libx264"),
}


def encoder_preference(setting: str | None) -> tuple[str, ...]:
    """FFmpeg encoders to try for a Selkies `encoder` setting; None or "auto" means
    hardware first (`DEFAULT_PREFERENCE`)."""
    if setting is None or setting == "auto":
        return DEFAULT_PREFERENCE
    try:
        return _SETTING_PREFERENCES[setting]
    except KeyError:
        raise ValueError(
            f"encoder {setting!r} is not an H.264 encoder this engine runs; "
            f"known: auto, {', '.join(_SETTING_PREFERENCES)}"
        ) from None


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    width: int
    height: int
    fps: int = 30
    bitrate_kbps: int | None = DEFAULT_BITRATE_KBPS
    crf: int | None = None
    # Seconds between periodic keyframes; None: only on request (WebRTC asks via PLI).
    keyframe_interval: float | None = None
    vbv_buffer_ms: int = 1000

    def validated(self) -> EncoderSettings:
        width = self.width - self.width % 2
        height = self.height - self.height % 2
        if width < 2 or height < 2:
            raise ValueError(f"encoder size must be at least 2x2, got {self.width}x{self.height}")
        if not FPS_RANGE[0] <= self.fps <= FPS_RANGE[1]:
            raise ValueError(f"fps {self.fps} outside {FPS_RANGE}")
        if (self.bitrate_kbps is None) == (self.crf is None):
            raise ValueError("give exactly one of bitrate_kbps (CBR) and crf (constant quality)")
        if self.crf is not None and not CRF_RANGE[0] <= self.crf <= CRF_RANGE[1]:
            raise ValueError(f"crf {self.crf} outside {CRF_RANGE}")
        if self.bitrate_kbps is not None and not (
            BITRATE_KBPS_RANGE[0] <= self.bitrate_kbps <= BITRATE_KBPS_RANGE[1]
        ):
            raise ValueError(f"bitrate {self.bitrate_kbps} kbps outside {BITRATE_KBPS_RANGE}")
        return replace(self, width=width, height=height)


def _gop_size(settings: EncoderSettings) -> int:
    if settings.keyframe_interval is None:
        # FFmpeg caps gop_size at int range; x264 treats this as "no periodic IDR".
        return 2**31 - 1
    return max(1, round(settings.keyframe_interval * settings.fps))


def _codec_options(name: str, settings: EncoderSettings) -> dict[str, str]:
    options: dict[str, str] = {"forced-idr": "1"}
    if settings.bitrate_kbps is not None:
        bitrate = f"{settings.bitrate_kbps}k"
        buffer = max(1, settings.bitrate_kbps * settings.vbv_buffer_ms // 1000)
        options.update({"maxrate": bitrate, "bufsize": f"{buffer}k"})
    if name == "libx264":
        options.update({"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"})
        # repeat-headers: SPS/PPS in band before every IDR, not once in extradata.
        x264_params = ["repeat-headers=1", "bframes=0"]
        if settings.keyframe_interval is None:
            x264_params.append("keyint=infinite")
        options["x264-params"] = ":".join(x264_params)
        if settings.crf is not None:
            options["crf"] = str(settings.crf)
    elif name == "h264_nvenc":
        options.update({"preset": "p1", "tune": "ull", "zerolatency": "1", "profile": "baseline"})
        options["rc"] = "cbr" if settings.bitrate_kbps is not None else "vbr"
        if settings.crf is not None:
            options["cq"] = str(settings.crf)
    return options


def open_codec_context(name: str, settings: EncoderSettings) -> VideoCodecContext:
    """Open encoder `name` with `settings`; raises av.FFmpegError (or ValueError) if it cannot."""
    context = CodecContext.create(name, "w")
    if not isinstance(context, VideoCodecContext):
        raise ValueError(f"{name} is not a video encoder")
    context.width = settings.width
    context.height = settings.height
    context.pix_fmt = "yuv420p"
    context.time_base = Fraction(1, settings.fps)
    context.framerate = Fraction(settings.fps, 1)
    context.gop_size = _gop_size(settings)
    context.max_b_frames = 0
    if settings.bitrate_kbps is not None:
        context.bit_rate = settings.bitrate_kbps * 1000
    context.options = _codec_options(name, settings)
    context.open()
    return context


class H264Encoder:
    """One H.264 encoder; `encode` turns a `RawFrame` into Annex B access units."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: int = 30,
        bitrate_kbps: int | None = None,
        crf: int | None = None,
        *,
        keyframe_interval: float | None = None,
        vbv_buffer_ms: int = 1000,
        preference: Sequence[str] = DEFAULT_PREFERENCE,
    ) -> None:
        """CBR at `bitrate_kbps`, or constant quality at `crf`; neither means CBR at
        `DEFAULT_BITRATE_KBPS`."""
        if bitrate_kbps is None and crf is None:
            bitrate_kbps = DEFAULT_BITRATE_KBPS
        self._preference = tuple(preference)
        if not self._preference:
            raise ValueError("encoder preference list is empty")
        self._settings = EncoderSettings(
            width, height, fps, bitrate_kbps, crf, keyframe_interval, vbv_buffer_ms
        ).validated()
        context, self._name = self._open_first(self._settings, previous=None)
        self._context: VideoCodecContext | None = context
        self._next_pts = 0
        self._frames_encoded = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def settings(self) -> EncoderSettings:
        return self._settings

    @property
    def width(self) -> int:
        return self._settings.width

    @property
    def height(self) -> int:
        return self._settings.height

    @property
    def fps(self) -> int:
        return self._settings.fps

    @property
    def frames_encoded(self) -> int:
        return self._frames_encoded

    def _open_first(
        self, settings: EncoderSettings, *, previous: str | None
    ) -> tuple[VideoCodecContext, str]:
        failures: list[str] = []
        # Once an encoder has opened, reopen that one first rather than retrying the
        # ones that already failed.
        order = self._preference
        if previous is not None:
            order = (previous, *(name for name in order if name != previous))
        for name in order:
            try:
                context = open_codec_context(name, settings)
            except (av.FFmpegError, ValueError) as error:
                failures.append(f"{name}: {error}")
                continue
            if name != previous:
                why = "; ".join(failures) if failures else "first choice"
                logger.info(
                    "video encoder %s %dx%d@%d (%s); not used: %s",
                    name,
                    settings.width,
                    settings.height,
                    settings.fps,
                    f"CRF {settings.crf}"
                    if settings.crf is not None
                    else f"CBR {settings.bitrate_kbps} kbps",
                    why,
                )
            else:
                logger.debug("video encoder %s reopened with %s", name, settings)
            return context, name
        raise EncoderError("no H.264 encoder could be opened: " + "; ".join(failures))

    def encode(self, frame: RawFrame, force_keyframe: bool = False) -> list[EncodedFrame]:
        """Encode one capture (scaled to the encoder's size if it differs).

        Returns the access units the encoder emits for it: with zerolatency and no
        B-frames that is exactly one, but callers must not rely on it.
        """
        if self._context is None:
            raise EncoderError("encode on a closed encoder")
        picture = raw_to_video_frame(frame).reformat(
            width=self._settings.width, height=self._settings.height, format="yuv420p"
        )
        picture.pts = self._next_pts
        self._next_pts += 1
        if force_keyframe:
            picture.pict_type = PictureType.I
        try:
            packets = self._context.encode(picture)
        except av.FFmpegError as error:
            raise EncoderError(f"{self._name} failed to encode: {error}") from error
        self._frames_encoded += 1
        return [
            EncodedFrame(
                data=bytes(packet),
                keyframe=packet.is_keyframe,
                pts=packet.pts if packet.pts is not None else picture.pts,
                width=self._settings.width,
                height=self._settings.height,
                capture_time=frame.capture_time,
                encoder_name=self._name,
            )
            for packet in packets
        ]

    def reconfigure(
        self,
        *,
        fps: int | None = None,
        bitrate_kbps: int | None = None,
        crf: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> bool:
        """Apply new settings; returns True if the encoder was reopened (the next
        frame is then an IDR with SPS/PPS). `bitrate_kbps` selects CBR, `crf`
        constant quality; giving both is an error.

        Every change reopens the encoder: FFmpeg can retune libx264's bitrate in
        place but not its VBV ceiling or CRF, so half-applied changes would be worse.
        """
        if bitrate_kbps is not None and crf is not None:
            raise ValueError("give bitrate_kbps or crf, not both")
        settings = self._settings
        if fps is not None:
            settings = replace(settings, fps=fps)
        if bitrate_kbps is not None:
            settings = replace(settings, bitrate_kbps=bitrate_kbps, crf=None)
        if crf is not None:
            settings = replace(settings, crf=crf, bitrate_kbps=None)
        if size is not None:
            settings = replace(settings, width=size[0], height=size[1])
        settings = settings.validated()
        if settings == self._settings:
            return False
        context, name = self._open_first(settings, previous=self._name)
        self._context, self._name, self._settings = context, name, settings
        self._next_pts = 0
        return True

    def close(self) -> None:
        # A live stream has no use for the frames still inside the encoder, so no
        # drain: dropping the context frees FFmpeg's state.
        self._context = None


__all__ = [
    "DEFAULT_PREFERENCE",
    "EncoderSettings",
    "H264Encoder",
    "encoder_preference",
    "open_codec_context",
]
