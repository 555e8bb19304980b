"""Cursor messages, RandR resize and Xft.dpi against a real Xvfb."""

from __future__ import annotations

import base64
import io
import json
import logging
import select
import time
from typing import Any

import av
import pytest
from Xlib import X, Xatom
from Xlib.display import Display

from selkies_trio.input import events as ev
from selkies_trio.input.config import InputConfig
from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.input.x11_input import XInput
from tests.conftest import running_xvfb

CONTROLLER = ClientPermissions.controller("ctl")


def decode_png_rgba(data: bytes) -> tuple[int, int, bytes]:
    """Decode with FFmpeg (through PyAV): an implementation independent of ours."""
    container = av.open(io.BytesIO(data), format="png_pipe")
    try:
        frame = next(container.decode(video=0)).reformat(format="rgba")
        plane = frame.planes[0]
        raw = bytes(plane)
        rows = [raw[y * plane.line_size : y * plane.line_size + frame.width * 4]
                for y in range(frame.height)]
        return frame.width, frame.height, b"".join(rows)
    finally:
        container.close()


def poll_until(xinput: XInput, frames: list[str], predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        frames.extend(xinput.poll())
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        select.select([xinput.fileno()], [], [], min(remaining, 0.2))


def cursor_frames(frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(f)["data"] for f in frames if json.loads(f)["type"] == "cursor"]


class CursorWindow:
    """A mapped window at (100,100) 200x200 whose cursor is a 16x16 square with a hole."""

    def __init__(self, display_name: str) -> None:
        self.display = Display(display_name)
        screen = self.display.screen()
        source = screen.root.create_pixmap(16, 16, 1)
        mask = screen.root.create_pixmap(16, 16, 1)
        gc_on = source.create_gc(foreground=1, background=0)
        gc_off = source.create_gc(foreground=0, background=0)
        source.fill_rectangle(gc_off, 0, 0, 16, 16)
        source.fill_rectangle(gc_on, 2, 2, 12, 12)
        mask.fill_rectangle(gc_on, 0, 0, 16, 16)
        mask.fill_rectangle(gc_off, 6, 6, 4, 4)
        self.cursor = source.create_cursor(mask, (0, 0, 0), (65535, 65535, 65535), 3, 5)
        self.window = screen.root.create_window(
            100, 100, 200, 200, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            override_redirect=True, cursor=self.cursor,
        )
        self.window.map()
        self.display.sync()

    def close(self) -> None:
        self.window.destroy()
        self.display.close()


def test_entering_a_window_with_another_cursor_emits_exactly_one_message(
    xinput: XInput, xvfb_display: str
) -> None:
    target = CursorWindow(xvfb_display)
    try:
        frames: list[str] = []
        xinput.handle_message("m,10,10,0,0", CONTROLLER)
        poll_until(xinput, frames, lambda: False, timeout=0.0)
        xinput.display.sync()
        frames.clear()
        xinput.handle_message("m,150,150,0,0", CONTROLLER)
        assert poll_until(xinput, frames, lambda: len(cursor_frames(frames)) >= 1)
        # Moving within the window: still exactly one. XTEST events are processed
        # before the server answers the next request, so once the round trip of
        # sync() is back, any cursor notify it caused is in the event queue and
        # poll() drains it; nothing can arrive later.
        xinput.handle_message("m,160,170,0,0", CONTROLLER)
        xinput.display.sync()
        frames.extend(xinput.poll())
        messages = cursor_frames(frames)
        assert len(messages) == 1
        cursor = messages[0]
        assert (cursor["width"], cursor["height"], cursor["hotx"], cursor["hoty"]) == (16, 16, 3, 5)
        width, height, rgba = decode_png_rgba(base64.b64decode(cursor["curdata"]))
        assert (width, height) == (16, 16)

        def pixel(x: int, y: int) -> bytes:
            return rgba[(y * 16 + x) * 4 : (y * 16 + x) * 4 + 4]

        assert pixel(0, 0) == b"\xff\xff\xff\xff"  # background colour, opaque
        assert pixel(4, 4) == b"\x00\x00\x00\xff"  # foreground colour, opaque
        assert pixel(7, 7)[3] == 0  # the hole in the mask is transparent
        assert xinput.cursor.current_message is not None

        # Leaving and coming back: the root cursor, then ours again from the cache
        # with the same handle.
        frames.clear()
        xinput.handle_message("m,10,10,0,0", CONTROLLER)
        assert poll_until(xinput, frames, lambda: len(cursor_frames(frames)) >= 1)
        xinput.handle_message("m,150,150,0,0", CONTROLLER)
        assert poll_until(xinput, frames, lambda: len(cursor_frames(frames)) >= 2)
        assert cursor_frames(frames)[1]["handle"] == cursor["handle"]
        assert cursor_frames(frames)[0]["handle"] != cursor["handle"]
    finally:
        target.close()


def test_resize_to_an_existing_mode_and_to_a_new_one(xinput: XInput, xvfb_display: str) -> None:
    observer = Display(xvfb_display)
    try:
        root = observer.screen().root
        replies = xinput.handle_message("r,1000x600", CONTROLLER)
        assert [json.loads(r)["data"] for r in replies] == [{"action": "resolution,1000x600"}]
        geometry = root.get_geometry()
        assert (geometry.width, geometry.height) == (1000, 600)
        # The mode was created: RandR now lists it on the output.
        resources = root.xrandr_get_screen_resources()
        assert (1000, 600) in {(m.width, m.height) for m in resources.modes}
        # Back to the original size, a mode that already existed.
        assert xinput.screen.resize(1280, 720) is not None
        assert (root.get_geometry().width, root.get_geometry().height) == (1280, 720)
        # Xvfb's framebuffer cannot grow beyond its start-up size: refused, no change.
        assert xinput.handle_message("r,1920x1080", CONTROLLER) == []
        assert (root.get_geometry().width, root.get_geometry().height) == (1280, 720)
    finally:
        observer.close()


def test_resize_is_ignored_in_manual_resolution_mode_and_for_viewers(
    xinput_factory: Any, xvfb_display: str
) -> None:
    manual = xinput_factory(InputConfig(is_manual_resolution_mode=True))
    assert manual.handle(ev.Resize(800, 600), CONTROLLER) == []
    assert manual.screen.size == (1280, 720)
    normal = xinput_factory(InputConfig())
    assert normal.handle(ev.Resize(800, 600), ClientPermissions.viewer("v")) == []
    assert normal.screen.size == (1280, 720)


def test_scale_sets_xft_dpi_and_keeps_other_resources(xinput: XInput, xvfb_display: str) -> None:
    observer = Display(xvfb_display)
    try:
        root = observer.screen().root
        root.change_property(
            Xatom.RESOURCE_MANAGER, Xatom.STRING, 8, b"Xcursor.size:\t24\nXft.dpi:\t96\n"
        )
        observer.sync()
        xinput.handle_message("s,1.5", CONTROLLER)
        value = root.get_full_property(Xatom.RESOURCE_MANAGER, X.AnyPropertyType).value
        lines = value.decode().splitlines()
        assert "Xft.dpi:\t144" in lines
        assert "Xcursor.size:\t24" in lines
        assert sum(1 for line in lines if line.startswith("Xft.dpi")) == 1
        dpi_input = XInput(xvfb_display, InputConfig(scaling_dpi=120))
        try:
            dpi_input.apply_initial_dpi()
            value = root.get_full_property(Xatom.RESOURCE_MANAGER, X.AnyPropertyType).value
            assert "Xft.dpi:\t120" in value.decode().splitlines()
        finally:
            dpi_input.close()
    finally:
        observer.close()


def xft_dpi(observer: Display) -> str:
    value = observer.screen().root.get_full_property(Xatom.RESOURCE_MANAGER,
                                                     X.AnyPropertyType).value
    return next(line for line in value.decode().splitlines() if line.startswith("Xft.dpi"))


def test_scale_leaves_a_locked_scaling_dpi_alone(
    xvfb_display: str, caplog: pytest.LogCaptureFixture
) -> None:
    observer = Display(xvfb_display)
    locked = XInput(xvfb_display, InputConfig(scaling_dpi=120, scaling_dpi_locked=True))
    try:
        locked.apply_initial_dpi()
        with caplog.at_level(logging.DEBUG, logger="selkies_trio.input"):
            # What the page sends with every resize.
            assert locked.handle_message("s,2", CONTROLLER) == []
        assert xft_dpi(observer) == "Xft.dpi:\t120"
        assert any("s,2 ignored: scaling_dpi is locked to 120" in r.getMessage()
                   for r in caplog.records if r.levelno == logging.DEBUG)
    finally:
        locked.close()
        observer.close()


def test_settings_scaling_dpi_takes_only_the_offered_dpis_and_respects_the_lock(
    xvfb_display: str, caplog: pytest.LogCaptureFixture
) -> None:
    observer = Display(xvfb_display)
    offered = XInput(xvfb_display, InputConfig(scaling_dpi_allowed=(96, 120, 144)))
    locked = XInput(xvfb_display, InputConfig(scaling_dpi=96, scaling_dpi_locked=True,
                                              scaling_dpi_allowed=(96,)))
    try:
        assert offered.handle_message('SETTINGS,{"scaling_dpi": 120}', CONTROLLER) == []
        assert xft_dpi(observer) == "Xft.dpi:\t120"
        with caplog.at_level(logging.INFO, logger="selkies_trio.input"):
            for refused in ('{"scaling_dpi": 100}', '{"scaling_dpi": "144"}',
                            '{"scaling_dpi": true}'):
                offered.handle_message("SETTINGS," + refused, CONTROLLER)
            # The shared desktop is not a viewer's to change.
            offered.handle_message('SETTINGS,{"scaling_dpi": 144}',
                                   ClientPermissions.viewer("v"))
            locked.handle_message('SETTINGS,{"scaling_dpi": 144}', CONTROLLER)
            # The other keys are the stream's; nothing happens to Xft.dpi.
            offered.handle_message('SETTINGS,{"framerate": 30}', CONTROLLER)
        assert xft_dpi(observer) == "Xft.dpi:\t120"
        messages = [r.getMessage() for r in caplog.records]
        assert any("scaling_dpi=100 refused: SELKIES_SCALING_DPI allows 96, 120, 144" in m
                   for m in messages)
        assert sum("not an integer" in m for m in messages) == 2
        assert any("scaling_dpi=144 refused: SELKIES_SCALING_DPI is locked to 96" in m
                   for m in messages)
    finally:
        offered.close()
        locked.close()
        observer.close()


def test_manual_resolution_mode_sizes_the_screen_at_start_and_holds_it(xvfb_display: str) -> None:
    observer = Display(xvfb_display)
    manual = XInput(xvfb_display, InputConfig(is_manual_resolution_mode=True,
                                              manual_size=(800, 600)))
    try:
        root = observer.screen().root
        before = root.get_geometry()
        manual.apply_manual_resolution()
        observer.sync()
        geometry = root.get_geometry()
        assert (geometry.width, geometry.height) == (800, 600) != (before.width, before.height)
        assert manual._resize(1024, 700) == []
        geometry = root.get_geometry()
        assert (geometry.width, geometry.height) == (800, 600)
    finally:
        manual.screen.resize(before.width, before.height)
        manual.close()
        observer.close()


def test_resize_that_grows_one_side_and_shrinks_the_other(xinput: XInput, xvfb_display: str) -> None:
    observer = Display(xvfb_display)
    try:
        root = observer.screen().root

        def size() -> tuple[int, int]:
            geometry = root.get_geometry()
            return geometry.width, geometry.height

        # Narrower and taller, then wider and shorter: in each step one side grows
        # while the other shrinks, so neither "screen first" nor "CRTC first" fits.
        for width, height in ((1000, 600), (900, 700), (1000, 600), (1200, 500), (1280, 720)):
            replies = xinput.handle_message(f"r,{width}x{height}", CONTROLLER)
            assert [json.loads(r)["data"] for r in replies] == [
                {"action": f"resolution,{width}x{height}"}
            ], (width, height)
            assert size() == (width, height)
    finally:
        observer.close()



def test_modes_we_created_are_deleted_once_unused() -> None:
    # A private server, so that modes other tests left behind do not count.
    with running_xvfb() as display:
        xinput = XInput(display)
        observer = Display(display)
        try:
            check_modes_are_deleted_once_unused(xinput, observer)
        finally:
            observer.close()
            xinput.close()


def check_modes_are_deleted_once_unused(xinput: XInput, observer: Display) -> None:
    root = observer.screen().root

    def modes() -> set[tuple[int, int, str]]:
        resources = root.xrandr_get_screen_resources()
        names = resources.mode_names
        listed, offset = set(), 0
        for mode in resources.modes:
            listed.add((mode.width, mode.height, names[offset : offset + mode.name_length]))
            offset += mode.name_length
        return listed

    at_start = modes()
    assert (1280, 720) in {(w, h) for w, h, _ in at_start}
    for width, height in ((1000, 600), (900, 700), (1000, 600), (800, 500)):
        assert xinput.screen.resize(width, height) is not None
        created = modes() - at_start
        # Only the mode in use is left of those we made.
        assert {(w, h) for w, h, _ in created} == {(width, height)}
    # Back to a mode the server had: ours are all gone, the server's all kept.
    assert xinput.screen.resize(1280, 720) is not None
    assert modes() == at_start
