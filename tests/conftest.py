"""Fixtures shared by every test package: a real Xvfb display."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def running_xvfb(width: int = 1280, height: int = 720, depth: int = 24) -> Iterator[str]:
    """Start a private Xvfb and yield its DISPLAY name (":N").

    Xvfb picks a free display number itself and writes it to -displayfd once it
    accepts connections, so there is no polling and no race with other servers.
    """
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed; scripts/test.sh installs it (apt package xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            "Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{depth}",
            "-nolisten", "tcp", "-noreset", "+extension", "RANDR",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError(f"Xvfb exited with {proc.wait(5)} before reporting a display")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def xvfb_display() -> Iterator[str]:
    """A fresh 1280x720x24 Xvfb per test module; yields the display name."""
    with running_xvfb() as display:
        yield display
