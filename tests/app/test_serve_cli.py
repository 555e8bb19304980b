"""`python -m selkies_trio serve` as a real subprocess: start-up, /health, SIGTERM and
SIGINT, bad settings."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import IO

import psutil
import pytest

from .server import free_port


def _env(**extra: str) -> dict[str, str]:
    # No SELKIES_* from the caller, and no DISPLAY: the server must not stream, or
    # inject input into, the desktop of whoever runs the tests.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SELKIES_") and k != "DISPLAY"
    }
    env.update(extra)
    return env


def _lines(stream: IO[str]) -> queue.Queue[str | None]:
    """Read the child's output on a thread, so waits have deadlines and the pipe
    never fills up while the test is busy elsewhere."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_starts_answers_health_and_stops_on_signal(signum: signal.Signals) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "selkies_trio", "serve", "--addr", "127.0.0.1",
         "--port", str(port), "--webrtc-udp-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        lines = _lines(proc.stdout)
        url = None
        deadline = time.monotonic() + 30
        # Wait on the log line that announces the URL, not on a sleep.
        while url is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no listening line within 30 s:\n" + "".join(output)) from None
            assert line is not None, "serve exited early:\n" + "".join(output)
            output.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                url = match.group(1)
        assert url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert response.status == 200
        children = psutil.Process(proc.pid).children(recursive=True)

        started = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
        # Whatever it started (a private Xvfb, say) went with it.
        _gone, alive = psutil.wait_procs(children, timeout=2)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_help_lists_settings_with_env_names() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "selkies_trio", "serve", "--help"],
        capture_output=True, text=True, timeout=60, env=_env(),
    )
    assert result.returncode == 0
    assert "--framerate" in result.stdout and "SELKIES_FRAMERATE" in result.stdout


BAD = [
    (["--framerate", "8-x"], {}, "SELKIES_FRAMERATE"),
    ([], {"SELKIES_PORT": "seventy"}, "SELKIES_PORT"),
    ([], {"SELKIES_AUDIO_ENABLED": "maybe"}, "SELKIES_AUDIO_ENABLED"),
    ([], {"SELKIES_ENCODER": "x264enc,bogus"}, "SELKIES_ENCODER"),
]


def test_bad_settings_exit_2_with_one_line() -> None:
    for argv, env, name in BAD:
        result = subprocess.run(
            [sys.executable, "-m", "selkies_trio", "serve", *argv],
            capture_output=True, text=True, timeout=60, env=_env(**env),
        )
        assert result.returncode == 2, (argv, env, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], result.stderr
