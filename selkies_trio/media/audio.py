"""Desktop audio: capture 20 ms of 48 kHz stereo PCM, encode it to one Opus packet.

Sources deliver signed 16-bit little-endian interleaved stereo PCM in chunks of exactly
one Opus frame (20 ms = 960 samples per channel):

- `ParecSource` records a PulseAudio (or PipeWire-pulse) monitor with `parec`; its
  `read` blocks until the audio exists, so the audio device paces the stream.
- `ToneSource` synthesises a sine (440 Hz) with a marker (one frame at 880 Hz every
  second) when no audio server is present; it never blocks, so the caller paces it.

`OpusEncoder` wraps PyAV's libopus: one PCM chunk in, one Opus packet out, ready to be
an RTP payload as it stands (RFC 7587 section 4.2). Nothing here reads a clock: the
caller passes `now` and the encoder counts samples.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Protocol

import av
import numpy as np

from .frames import MediaError

logger = logging.getLogger(__name__)

AUDIO_SAMPLE_RATE = 48_000
AUDIO_CHANNELS = 2
FRAME_DURATION = 0.020
SAMPLES_PER_FRAME = round(AUDIO_SAMPLE_RATE * FRAME_DURATION)
BYTES_PER_SAMPLE = 2
FRAME_BYTES = SAMPLES_PER_FRAME * AUDIO_CHANNELS * BYTES_PER_SAMPLE
# What libopus accepts (bit/s); the settings allow the same range.
OPUS_BITRATE_RANGE = (6_000, 510_000)


class AudioError(MediaError):
    """An audio source or the Opus encoder failed."""


@dataclass(frozen=True, slots=True)
class PcmChunk:
    """One frame of s16le interleaved stereo PCM, captured at `capture_time`."""

    data: bytes
    capture_time: float

    def __post_init__(self) -> None:
        if len(self.data) != FRAME_BYTES:
            raise ValueError(f"a PCM chunk is {FRAME_BYTES} bytes, got {len(self.data)}")


@dataclass(frozen=True, slots=True)
class EncodedAudio:
    """One Opus packet shared by every subscriber.

    `sample_index` is the stream position of its first sample (48 kHz units), from
    which each peer derives its RTP timestamp; `first` marks the first packet after
    the stream (re)started, where RFC 7587 section 4.2 wants the RTP marker bit.
    """

    data: bytes
    sample_index: int
    samples: int
    capture_time: float
    first: bool = False


class AudioSource(Protocol):
    """What the audio hub needs from a source; calls come from one worker thread."""

    @property
    def name(self) -> str: ...

    @property
    def realtime(self) -> bool:
        """True if `read` blocks until the audio exists (the device paces the stream)."""
        ...

    def read(self, now: float) -> PcmChunk: ...

    def close(self) -> None: ...


class ToneSource:
    """A sine tone with a once-a-second marker, phase-continuous across chunks."""

    realtime = False

    def __init__(
        self,
        frequency: float = 440.0,
        *,
        amplitude: float = 0.25,
        marker_frequency: float = 880.0,
        marker_every: int = 50,
    ) -> None:
        if not 0 < frequency < AUDIO_SAMPLE_RATE / 2:
            raise ValueError(f"frequency {frequency} Hz outside (0, Nyquist)")
        if not 0 <= amplitude <= 1:
            raise ValueError("amplitude is a fraction of full scale in [0, 1]")
        if marker_every < 1:
            raise ValueError("marker_every must be at least 1")
        self.frequency = frequency
        self.amplitude = amplitude
        self.marker_frequency = marker_frequency
        self.marker_every = marker_every
        self.name = f"tone {frequency:g} Hz"
        self.chunks_read = 0
        self._phase = 0.0

    def read(self, now: float) -> PcmChunk:
        is_marker = self.chunks_read % self.marker_every == 0
        frequency = self.marker_frequency if is_marker else self.frequency
        step = 2 * math.pi * frequency / AUDIO_SAMPLE_RATE
        phases = self._phase + step * np.arange(SAMPLES_PER_FRAME, dtype=np.float64)
        # Carrying the phase over avoids a click at every chunk boundary.
        self._phase = (self._phase + step * SAMPLES_PER_FRAME) % (2 * math.pi)
        mono = np.round(np.sin(phases) * self.amplitude * 32767).astype("<i2")
        stereo = np.repeat(mono, AUDIO_CHANNELS)
        self.chunks_read += 1
        return PcmChunk(stereo.tobytes(), now)

    def close(self) -> None:
        pass


Spawn = Callable[[list[str]], "subprocess.Popen[bytes]"]


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def parec_command(device: str, executable: str = "parec") -> list[str]:
    """Raw s16le 48 kHz stereo from `device` with a small buffer (low latency)."""
    return [
        executable,
        f"--device={device}",
        "--format=s16le",
        f"--rate={AUDIO_SAMPLE_RATE}",
        f"--channels={AUDIO_CHANNELS}",
        "--raw",
        f"--latency-msec={round(FRAME_DURATION * 1000)}",
    ]


class ParecSource:
    """PulseAudio monitor capture through a `parec` child process."""

    realtime = True

    def __init__(self, device: str, *, executable: str = "parec", spawn: Spawn = _spawn) -> None:
        self.device = device
        self.name = f"pulse {device}"
        try:
            self._process = spawn(parec_command(device, executable))
        except OSError as error:
            raise AudioError(f"cannot start {executable}: {error}") from error
        if self._process.stdout is None:
            raise AudioError("parec has no stdout pipe")
        self._stdout: IO[bytes] = self._process.stdout

    def read(self, now: float) -> PcmChunk:
        data = bytearray()
        while len(data) < FRAME_BYTES:
            piece = self._stdout.read(FRAME_BYTES - len(data))
            if not piece:
                raise AudioError(f"parec ended ({self._describe_exit()})")
            data += piece
        return PcmChunk(bytes(data), now)

    def _describe_exit(self) -> str:
        code = self._process.poll()
        stderr = self._process.stderr.read().decode(errors="replace").strip() if (
            code is not None and self._process.stderr is not None
        ) else ""
        return f"exit status {code}: {stderr}" if stderr else f"exit status {code}"

    def close(self) -> None:
        # Closing our end first: a parec blocked writing into a full pipe would not
        # get to its SIGTERM handler, but a broken pipe ends it at once.
        self._stdout.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()


def pulse_server_reachable(executable: str = "pactl") -> bool:
    """True if a PulseAudio-compatible server answers `pactl info` within 2 s."""
    if shutil.which(executable) is None:
        return False
    try:
        completed = subprocess.run(
            [executable, "info"], capture_output=True, timeout=2, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def open_audio_source(device: str) -> AudioSource:
    """`parec` on `device` when an audio server answers, else the tone; one log line
    says which and why."""
    if shutil.which("parec") is None:
        logger.info("audio source: 440 Hz tone (parec is not installed)")
        return ToneSource()
    if not pulse_server_reachable():
        logger.info("audio source: 440 Hz tone (no PulseAudio server answers)")
        return ToneSource()
    logger.info("audio source: PulseAudio device %s via parec", device)
    return ParecSource(device)


def check_opus_bitrate(bitrate: int) -> None:
    """Raise ValueError unless libopus can encode at `bitrate` (bits per second)."""
    if not OPUS_BITRATE_RANGE[0] <= bitrate <= OPUS_BITRATE_RANGE[1]:
        raise ValueError(f"Opus bitrate {bitrate} outside {OPUS_BITRATE_RANGE}")


def _open_libopus(bitrate: int) -> av.AudioCodecContext:
    try:
        context = av.CodecContext.create("libopus", "w")
        assert isinstance(context, av.AudioCodecContext)
        context.sample_rate = AUDIO_SAMPLE_RATE
        context.layout = "stereo"
        context.format = "s16"
        context.bit_rate = bitrate
        context.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
        # "lowdelay" skips the speech analysis that costs latency; desktop audio is
        # mostly not speech anyway.
        context.options = {
            "application": "lowdelay",
            "frame_duration": str(round(FRAME_DURATION * 1000)),
        }
        context.open()
    except (av.FFmpegError, ValueError) as error:
        raise AudioError(f"cannot open libopus: {error}") from error
    return context


class OpusEncoder:
    """libopus through PyAV: 48 kHz stereo, 20 ms frames, constant target bitrate."""

    name = "libopus"

    def __init__(self, bitrate: int) -> None:
        check_opus_bitrate(bitrate)
        self.bitrate = bitrate
        self._next_sample = 0
        self._first = True
        self._closed = False
        self._context = _open_libopus(bitrate)

    def set_bitrate(self, bitrate: int) -> None:
        """Encode from the next chunk on at `bitrate`. FFmpeg's libopus wrapper reads
        the bitrate only when the codec opens, so a new codec takes over; our sample
        count goes on, so the RTP timeline continues and nothing is marked `first`
        (each Opus packet decodes alone, so the receiver needs no restart)."""
        check_opus_bitrate(bitrate)
        if bitrate == self.bitrate:
            return
        self._context = _open_libopus(bitrate)
        self.bitrate = bitrate

    def encode(self, chunk: PcmChunk) -> list[EncodedAudio]:
        if self._closed:
            raise AudioError("the Opus encoder is closed")
        samples = np.frombuffer(chunk.data, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = self._next_sample
        try:
            packets = self._context.encode(frame)
        except av.FFmpegError as error:
            raise AudioError(f"libopus failed: {error}") from error
        encoded: list[EncodedAudio] = []
        for packet in packets:
            encoded.append(
                EncodedAudio(
                    bytes(packet),
                    self._next_sample,
                    SAMPLES_PER_FRAME,
                    chunk.capture_time,
                    first=self._first,
                )
            )
            self._first = False
            # Our own sample count, not libopus's pts: that one is shifted by the
            # encoder's pre-skip, while RTP timestamps only need to advance by 960.
            self._next_sample += SAMPLES_PER_FRAME
        return encoded

    def close(self) -> None:
        self._closed = True


__all__ = [
    "AUDIO_CHANNELS",
    "AUDIO_SAMPLE_RATE",
    "FRAME_BYTES",
    "FRAME_DURATION",
    "OPUS_BITRATE_RANGE",
    "SAMPLES_PER_FRAME",
    "AudioError",
    "AudioSource",
    "EncodedAudio",
    "OpusEncoder",
    "ParecSource",
    "PcmChunk",
    "ToneSource",
    "open_audio_source",
    "parec_command",
    "pulse_server_reachable",
]
