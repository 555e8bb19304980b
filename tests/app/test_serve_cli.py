"""`python -m selkies_trio serve` as a real subprocess: start-up, /health, SIGTERM, bad settings."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from .server import free_port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELKIES_")}
    env.update(extra)
    return env


def test_serve_starts_answers_health_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "selkies_trio", "serve", "--addr", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 30
        # Wait on the log line that announces the URL, not on a sleep.
        for line in proc.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                url = match.group(1)
                break
            assert time.monotonic() < deadline, "no listening line within 30 s"
        assert url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert response.status == 200
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 2.0
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
