"""End-to-end fixtures: our server as a subprocess and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import subprocess
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
    from .selkies_server import running_server

    with running_server() as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module; tests open their own pages or contexts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
