"""End-to-end fixtures: our server as a subprocess and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.app.server import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)


def _server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELKIES_")}
    env.pop("DISPLAY", None)
    env.update({
        "SELKIES_ADDR": "127.0.0.1",
        "SELKIES_ICE_ADDRESSES": "127.0.0.1",
        "SELKIES_WEBRTC_UDP_PORT": "0",
        "SELKIES_PORT": str(free_port()),
        # A given DISPLAY is captured; otherwise the synthetic pattern, whose pixels
        # carry a frame counter the tests read (the private-Xvfb default has its own test).
        "SELKIES_VIDEO_SOURCE": "display" if "DISPLAY" in extra else "synthetic",
    })
    env.update(extra)
    return env


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    """`python -m selkies_trio serve` on loopback with the synthetic source."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "selkies_trio", "serve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_server_env(),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        lines.append(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            url = match.group(1)
            break
        if time.monotonic() > deadline:
            break
    if url is None:
        proc.kill()
        pytest.fail("server did not start:\n" + "".join(lines))
    running = ServerProcess(url, proc, lines)
    # Keep draining the log so the server never blocks on a full pipe.
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
