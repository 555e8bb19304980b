"""Audio sources and the Opus encoder: the tone, parec through real child processes,
and libopus output decoded back with PyAV."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from selkies_trio.media.audio import (
    AUDIO_SAMPLE_RATE,
    FRAME_BYTES,
    SAMPLES_PER_FRAME,
    AudioError,
    OpusEncoder,
    ParecSource,
    PcmChunk,
    ToneSource,
    open_audio_source,
    parec_command,
    pulse_server_reachable,
)


def _mono(chunk: PcmChunk) -> np.ndarray:
    stereo = np.frombuffer(chunk.data, dtype="<i2").reshape(-1, 2)
    assert np.array_equal(stereo[:, 0], stereo[:, 1])
    return stereo[:, 0].astype(np.float64)


def _zero_crossing_frequency(samples: np.ndarray) -> float:
    signs = np.signbit(samples)
    crossings = np.count_nonzero(signs[1:] != signs[:-1])
    return crossings / 2 / (len(samples) / AUDIO_SAMPLE_RATE)


def _dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / AUDIO_SAMPLE_RATE)[np.argmax(spectrum)])


def test_tone_chunks_are_20ms_of_stereo_s16_stamped_with_now() -> None:
    source = ToneSource()
    chunk = source.read(12.5)
    assert len(chunk.data) == FRAME_BYTES == SAMPLES_PER_FRAME * 4
    assert chunk.capture_time == 12.5
    assert source.realtime is False


def test_tone_is_440_hz_with_an_880_hz_marker_once_a_second() -> None:
    source = ToneSource(amplitude=0.5)
    chunks = [_mono(source.read(i * 0.02)) for i in range(100)]
    # Frames 0 and 50 are the markers; the rest is the 440 Hz tone.
    tone = np.concatenate(chunks[1:50])
    assert abs(_zero_crossing_frequency(tone) - 440) < 5
    assert abs(_dominant_frequency(tone) - 440) < 5
    assert abs(_zero_crossing_frequency(chunks[50]) - 880) < 60
    assert np.max(np.abs(tone)) == pytest.approx(0.5 * 32767, rel=0.01)


def test_tone_phase_is_continuous_across_chunks() -> None:
    source = ToneSource(marker_every=1_000)
    source.read(0.0)  # the marker
    first, second = _mono(source.read(0.02)), _mono(source.read(0.04))
    # No jump at the boundary larger than the sine's steepest step between two samples.
    steepest = 0.25 * 32767 * 2 * np.pi * 440 / AUDIO_SAMPLE_RATE
    assert abs(second[0] - first[-1]) <= steepest * 1.05
    joined = np.concatenate([first, second])
    assert np.max(np.abs(np.diff(joined))) <= steepest * 1.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frequency": 0}, "frequency"),
        ({"frequency": 30_000}, "frequency"),
        ({"amplitude": 1.5}, "amplitude"),
        ({"marker_every": 0}, "marker_every"),
    ],
)
def test_tone_rejects_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ToneSource(**kwargs)


@pytest.mark.parametrize("size", [0, 1, FRAME_BYTES - 1, FRAME_BYTES + 2])
def test_pcm_chunk_must_be_one_frame(size: int) -> None:
    with pytest.raises(ValueError):
        PcmChunk(b"\0" * size, 0.0)


def _decode_opus(packets: list[bytes]) -> np.ndarray:
    decoder = av.CodecContext.create("libopus", "r")
    assert isinstance(decoder, av.AudioCodecContext)
    decoder.sample_rate = AUDIO_SAMPLE_RATE
    decoder.layout = "stereo"
    decoded: list[np.ndarray] = []
    for data in packets:
        for frame in decoder.decode(av.Packet(data)):
            array = frame.to_ndarray()
            # Planar float (2, n) or packed (1, 2n): keep the left channel either way.
            left = array[0] if frame.format.is_planar else array.reshape(-1, 2)[:, 0]
            decoded.append(left.astype(np.float64))
    return np.concatenate(decoded)


def test_opus_round_trip_keeps_the_tone_frequency() -> None:
    source = ToneSource(marker_every=1_000)
    encoder = OpusEncoder(128_000)
    encoded = []
    for index in range(50):
        encoded += encoder.encode(source.read(index * 0.02))
    encoder.close()
    assert len(encoded) == 50
    assert [p.sample_index for p in encoded] == [i * SAMPLES_PER_FRAME for i in range(50)]
    assert all(p.samples == SAMPLES_PER_FRAME for p in encoded)
    assert [p.first for p in encoded] == [True] + [False] * 49
    assert [p.capture_time for p in encoded[:3]] == [0.0, 0.02, 0.04]
    samples = _decode_opus([p.data for p in encoded])
    assert len(samples) == 50 * SAMPLES_PER_FRAME
    steady = samples[AUDIO_SAMPLE_RATE // 10 :]
    assert abs(_dominant_frequency(steady) - 440) < 5
    assert abs(_zero_crossing_frequency(steady) - 440) < 10
    assert np.sqrt(np.mean(steady**2)) > 0.1  # float samples: the tone is audible


def test_opus_bitrate_is_honoured() -> None:
    sizes = {}
    for bitrate in (16_000, 256_000):
        source, encoder = ToneSource(), OpusEncoder(bitrate)
        packets = [p for i in range(25) for p in encoder.encode(source.read(i * 0.02))]
        sizes[bitrate] = sum(len(p.data) for p in packets) / len(packets)
    # 20 ms at 16 kbit/s is 40 bytes; at 256 kbit/s up to 640.
    assert sizes[16_000] < 80
    assert sizes[256_000] > 3 * sizes[16_000]


@pytest.mark.parametrize("bitrate", [5_999, 510_001, 0])
def test_opus_rejects_bitrates_libopus_cannot_do(bitrate: int) -> None:
    with pytest.raises(ValueError, match="bitrate"):
        OpusEncoder(bitrate)
    with pytest.raises(ValueError, match="bitrate"):
        OpusEncoder(64_000).set_bitrate(bitrate)


def test_opus_bitrate_changes_live_and_the_stream_goes_on() -> None:
    source, encoder = ToneSource(marker_every=1_000), OpusEncoder(256_000)
    before = [p for i in range(25) for p in encoder.encode(source.read(i * 0.02))]
    encoder.set_bitrate(16_000)
    after = [p for i in range(25, 50) for p in encoder.encode(source.read(i * 0.02))]
    encoder.close()
    assert encoder.bitrate == 16_000
    mean = {name: sum(len(p.data) for p in packets) / len(packets)
            for name, packets in (("before", before), ("after", after))}
    assert mean["after"] < 80 and mean["before"] > 3 * mean["after"]
    # One timeline across the change: the receiver's RTP clock just goes on.
    packets = before + after
    assert [p.sample_index for p in packets] == [i * SAMPLES_PER_FRAME for i in range(50)]
    assert [p.first for p in packets] == [True] + [False] * 49
    samples = _decode_opus([p.data for p in packets])
    assert len(samples) == 50 * SAMPLES_PER_FRAME
    assert abs(_dominant_frequency(samples[-AUDIO_SAMPLE_RATE // 5 :]) - 440) < 5


def test_closed_opus_encoder_refuses_to_encode() -> None:
    encoder = OpusEncoder(64_000)
    encoder.close()
    with pytest.raises(AudioError):
        encoder.encode(ToneSource().read(0.0))


def test_parec_command_asks_for_raw_48k_stereo_s16() -> None:
    command = parec_command("sink.monitor")
    assert command[0] == "parec"
    assert "--device=sink.monitor" in command
    assert {"--format=s16le", "--rate=48000", "--channels=2", "--raw"} <= set(command)


def _python_child(script: str):
    import subprocess

    def spawn(command: list[str]) -> subprocess.Popen[bytes]:
        assert command[1] == "--device=monitor-under-test"
        return subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    return spawn


def test_parec_source_assembles_whole_frames_from_a_trickling_pipe() -> None:
    # The child writes 2.5 frames in odd-sized, flushed pieces, then exits.
    script = (
        "import sys\n"
        f"data = bytes(i % 251 for i in range({FRAME_BYTES * 5 // 2}))\n"
        "for start in range(0, len(data), 1001):\n"
        "    sys.stdout.buffer.write(data[start:start + 1001]); sys.stdout.buffer.flush()\n"
        "sys.stderr.write('device went away')\n"
    )
    source = ParecSource("monitor-under-test", spawn=_python_child(script))
    assert source.realtime is True
    expected = bytes(i % 251 for i in range(FRAME_BYTES * 5 // 2))
    try:
        assert source.read(1.0) == PcmChunk(expected[:FRAME_BYTES], 1.0)
        assert source.read(1.02).data == expected[FRAME_BYTES : 2 * FRAME_BYTES]
        with pytest.raises(AudioError, match="parec ended"):
            source.read(1.04)
    finally:
        source.close()


def test_parec_source_reports_a_missing_executable() -> None:
    with pytest.raises(AudioError, match="cannot start"):
        ParecSource("x", executable="/nonexistent/parec")


def test_parec_source_close_stops_a_running_child() -> None:
    script = "import time\nwhile True: time.sleep(1)"
    source = ParecSource("monitor-under-test", spawn=_python_child(script))
    process = source._process
    source.close()
    assert process.poll() is not None


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_no_parec_means_the_tone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    source = open_audio_source("output.monitor")
    assert isinstance(source, ToneSource)


def test_no_answering_server_means_the_tone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tmp_path, "parec", "exit 1")
    _script(tmp_path, "pactl", "echo 'Connection failure: Connection refused' >&2; exit 1")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pulse_server_reachable() is False
    assert isinstance(open_audio_source("output.monitor"), ToneSource)


def test_an_answering_server_means_parec_on_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `parec` that checks its device argument and streams silence.
    _script(tmp_path, "pactl", "echo 'Server Name: pulseaudio'")
    _script(
        tmp_path,
        "parec",
        '[ "$1" = "--device=output.monitor" ] || exit 3\n'
        f"exec head -c {FRAME_BYTES * 3} /dev/zero",
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert pulse_server_reachable() is True
    source = open_audio_source("output.monitor")
    try:
        assert isinstance(source, ParecSource)
        assert source.read(0.0).data == b"\0" * FRAME_BYTES
    finally:
        source.close()
