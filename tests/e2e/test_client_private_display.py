"""runtime/xvfb.py: the private Xvfb (and scratchpad) `serve` starts when there is no DISPLAY."""

from __future__ import annotations

import select
import time
from functools import partial

import pytest
import trio
from Xlib import X
from Xlib.display import Display
from Xlib.error import DisplayError

from selkies_trio.runtime import xvfb


def _wait_for_scratchpad(display: Display, timeout: float) -> str:
    """The WM_NAME of the first viewable top-level window, waiting for MapNotify events."""
    root = display.screen().root
    root.change_attributes(event_mask=X.SubstructureNotifyMask)
    display.sync()
    deadline = time.monotonic() + timeout
    while True:
        for child in root.query_tree().children:
            if child.get_attributes().map_state == X.IsViewable:
                return child.get_wm_name() or ""
        while display.pending_events():
            display.next_event()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("the scratchpad window never mapped")
        select.select([display.fileno()], [], [], remaining)


async def test_private_display_runs_xvfb_and_the_scratchpad_then_stops_both() -> None:
    async with xvfb.private_display(800, 600) as name:
        assert name is not None and name.startswith(":")
        client = Display(name)
        try:
            screen = client.screen()
            assert (screen.width_in_pixels, screen.height_in_pixels) == (800, 600)
            assert client.has_extension("RANDR")
            title = await trio.to_thread.run_sync(_wait_for_scratchpad, client, 20.0)
            assert title == "selkies-trio scratchpad"
        finally:
            client.close()
    with pytest.raises(DisplayError):
        Display(name).close()


async def test_without_xvfb_installed_it_reports_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xvfb.shutil, "which", lambda name: None)
    async with xvfb.private_display() as name:
        assert name is None


async def test_no_application_maps_nothing_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="selkies_trio.runtime.xvfb")
    async with trio.open_nursery() as nursery:
        name = await nursery.start(partial(xvfb.run_private_display, application=None))
        assert name is not None
        client = Display(name)
        try:
            assert client.screen().root.query_tree().children == []
        finally:
            client.close()
        nursery.cancel_scope.cancel()
    assert any(f"private Xvfb on {name}" in r.getMessage() and "showing nothing" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(DisplayError):
        Display(name).close()


def test_commands() -> None:
    assert xvfb.xvfb_command(7, 640, 480)[:6] == [
        "Xvfb", "-displayfd", "7", "-screen", "0", "640x480x24",
    ]
    assert xvfb.scratchpad_command(":3")[-2:] == ["scratchpad", ":3"]
    assert xvfb.main(["bogus"]) == 2


def _serve_and_open(browser, **env: str):  # type: ignore[no-untyped-def]
    """`serve` with the given environment; the page once it decodes video."""
    from .test_client_desktop import WAIT_FRAMES, start_server, stop_server, wait_client

    server, reader = start_server(**env)
    try:
        page = browser.new_page()
        page.goto(server.url + "/")
        wait_client(page, "client.connectionState === 'connected' && client.source")
        page.evaluate(WAIT_FRAMES, 3)
        source = page.evaluate("() => window.selkiesClient.source")
        shown = page.locator("#source").text_content()
        page.close()
    finally:
        stop_server(server, reader)
    return source, shown, "".join(server.log)


def test_serve_without_display_streams_a_private_xvfb_and_says_so(browser) -> None:  # type: ignore[no-untyped-def]
    source, shown, log = _serve_and_open(
        browser, SELKIES_VIDEO_SOURCE="auto", SELKIES_AUDIO_ENABLED="false")
    assert source.startswith("private Xvfb :") and source in (shown or "")
    assert "started a private Xvfb on :" in log and "showing the scratchpad" in log
    assert f"video source: {source}" in log
    # The Xvfb went away with the server.
    display = source.split()[2]
    with pytest.raises(DisplayError):
        Display(display).close()


def test_serve_without_display_or_xvfb_streams_the_synthetic_pattern(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The server runs as sys.executable (an absolute path); its PATH holds no Xvfb.
    source, shown, log = _serve_and_open(
        browser, SELKIES_VIDEO_SOURCE="auto", SELKIES_AUDIO_ENABLED="false", PATH=str(tmp_path))
    assert source == "synthetic test pattern" and source in (shown or "")
    assert "no DISPLAY and no Xvfb installed" in log
