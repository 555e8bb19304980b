"""Capture from a real PulseAudio server: a private daemon with a null sink, a tone
played into it with `pacat`, and the sink's monitor recorded through `parec`.

Needs the Debian packages pulseaudio and pulseaudio-utils (scripts/test.sh installs
them); the daemon runs as a child of the test in a temporary runtime directory.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import trio

from selkies_trio.media.audio import (
    AUDIO_SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    OpusEncoder,
    ParecSource,
    PcmChunk,
    open_audio_source,
    pulse_server_reachable,
)
from selkies_trio.runtime.audio_hub import AudioHub

from .test_audio_media import _decode_opus, _dominant_frequency, _mono

SINK = "selkies_test"
MONITOR = f"{SINK}.monitor"


@pytest.fixture(scope="module")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PulseAudio daemon of our own, shared by this module (its null sink takes a
    moment to start once); clients reach it through PULSE_SERVER."""
    tmp_path = tmp_path_factory.mktemp("pulse")
    assert shutil.which("pulseaudio"), "install pulseaudio and pulseaudio-utils (apt)"
    socket_path = tmp_path / "native"
    environment = {
        "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"
    }
    daemon = subprocess.Popen(
        [
            "pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
            "--disable-shm=yes", "--log-target=stderr", "-v",
            "-L", f"module-null-sink sink_name={SINK} rate={AUDIO_SAMPLE_RATE} channels=2",
            "-L", f"module-native-protocol-unix socket={socket_path} auth-anonymous=1",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=environment,
    )
    assert daemon.stderr is not None
    log: list[str] = []
    # The daemon says when it is ready (or exits, which ends the loop at EOF).
    for line in daemon.stderr:
        log.append(line)
        if "Daemon startup complete" in line:
            break
    else:
        daemon.wait()
        pytest.fail("pulseaudio did not start:\n" + "".join(log))
    drain = threading.Thread(target=lambda: daemon.stderr and daemon.stderr.read(), daemon=True)
    drain.start()
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("PULSE_SERVER", f"unix:{socket_path}")
            yield MONITOR
    finally:
        daemon.terminate()
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        drain.join(5)


def _play_tone(frequency: float, seconds: float) -> subprocess.Popen[bytes]:
    """`pacat` plays a sine into the null sink; the caller waits for it."""
    player = subprocess.Popen(
        ["pacat", "--playback", f"--device={SINK}", "--format=s16le",
         f"--rate={AUDIO_SAMPLE_RATE}", "--channels=2", "--raw"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    t = np.arange(int(seconds * AUDIO_SAMPLE_RATE)) / AUDIO_SAMPLE_RATE
    mono = np.round(np.sin(2 * np.pi * frequency * t) * 0.5 * 32767).astype("<i2")
    assert player.stdin is not None
    feeder = threading.Thread(
        target=lambda: (player.stdin.write(np.repeat(mono, 2).tobytes()), player.stdin.close()),
        daemon=True,
    )
    feeder.start()
    return player


def test_server_found_means_parec_on_the_monitor(pulse_server: str) -> None:
    assert pulse_server_reachable() is True
    source = open_audio_source(pulse_server)
    try:
        assert isinstance(source, ParecSource) and source.realtime
        assert len(source.read(0.0).data) == SAMPLES_PER_FRAME * 4
    finally:
        source.close()


def test_monitor_capture_hears_what_is_played_and_survives_opus(pulse_server: str) -> None:
    source = ParecSource(pulse_server)
    player = _play_tone(1000.0, 3.0)
    try:
        # The monitor is silent until pacat's audio reaches the sink; 4 s of chunks at most.
        chunks = []
        for index in range(200):
            samples = _mono(source.read(index * 0.02))
            if chunks or np.sqrt(np.mean(samples**2)) > 1000:
                chunks.append(samples)
                if len(chunks) == 50:
                    break
    finally:
        source.close()
        player.kill()
        player.wait()
    assert len(chunks) == 50, "the played tone never reached the monitor"
    heard = np.concatenate(chunks[5:45])
    assert abs(_dominant_frequency(heard) - 1000) < 10

    encoder = OpusEncoder(128_000)
    packets = []
    for index, samples in enumerate(chunks):
        stereo = np.repeat(samples.astype("<i2"), 2).tobytes()
        packets += encoder.encode(PcmChunk(stereo, index * 0.02))
    decoded = _decode_opus([p.data for p in packets])
    assert abs(_dominant_frequency(decoded[AUDIO_SAMPLE_RATE // 10 :]) - 1000) < 10


async def test_audio_hub_streams_from_pulse_paced_by_the_device(pulse_server: str) -> None:
    hub = AudioHub(lambda: open_audio_source(pulse_server), OpusEncoder, bitrate=64_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        with trio.fail_after(10):
            async with hub.subscribe() as subscription:
                first = await subscription.receive()
                started = trio.current_time()
                packets = [await subscription.receive() for _ in range(25)]
                elapsed = trio.current_time() - started
                statistics = hub.statistics()
        nursery.cancel_scope.cancel()
    assert statistics.source_name == f"pulse {pulse_server}"
    assert first.first and [p.sample_index for p in packets] == [
        (i + 1) * SAMPLES_PER_FRAME for i in range(25)
    ]
    # parec delivers in real time: 25 packets of 20 ms take about half a second.
    assert 0.3 < elapsed < 2.0
