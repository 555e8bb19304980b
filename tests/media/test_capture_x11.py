"""X11 capture under a real Xvfb: pixels drawn by another client, SHM and GetImage paths,
the DAMAGE-based static-screen detection, and encoding what was captured."""

from __future__ import annotations

from collections.abc import Iterator

import av
import pytest
from Xlib import X
from Xlib import display as xdisplay

from selkies_trio.media.capture import open_capture_source
from selkies_trio.media.capture_synthetic import SyntheticSource
from selkies_trio.media.capture_x11 import (
    DamageTracker,
    ShmScreenGrabber,
    X11CaptureSource,
    XlibScreenGrabber,
)
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.media.frames import CaptureError, RawFrame


class Painter:
    """An independent X client that draws solid rectangles on the root window."""

    def __init__(self, display_name: str) -> None:
        self.display = xdisplay.Display(display_name)
        self.root = self.display.screen().root

    def fill(self, x: int, y: int, width: int, height: int, rgb: int) -> None:
        gc = self.root.create_gc(foreground=rgb, subwindow_mode=X.IncludeInferiors)
        self.root.fill_rectangle(gc, x, y, width, height)
        gc.free()
        # Round trip: the server has drawn before this returns.
        self.display.sync()

    def close(self) -> None:
        self.display.close()


@pytest.fixture
def painter(xvfb_display: str) -> Iterator[Painter]:
    p = Painter(xvfb_display)
    yield p
    p.close()


def pixel_rgb(frame: RawFrame, x: int, y: int) -> int:
    offset = y * frame.stride + x * 4
    blue, green, red = frame.data[offset : offset + 3]
    return (red << 16) | (green << 8) | blue


@pytest.mark.parametrize("use_shm", [True, False], ids=["shm", "getimage"])
def test_pixels_drawn_by_another_client_appear_in_the_capture(
    xvfb_display: str, painter: Painter, use_shm: bool
) -> None:
    source = X11CaptureSource(xvfb_display, use_shm=use_shm)
    try:
        assert source.uses_shm is use_shm
        assert (source.width, source.height) == (1280, 720)
        painter.fill(100, 50, 40, 30, 0x3366CC)
        painter.fill(1200, 700, 80, 20, 0xF0E010)
        frame = source.capture(42.0)
        assert (frame.width, frame.height, frame.capture_time) == (1280, 720, 42.0)
        assert frame.stride >= 1280 * 4
        for x, y in [(100, 50), (139, 79), (120, 60)]:
            assert pixel_rgb(frame, x, y) == 0x3366CC
        assert pixel_rgb(frame, 1279, 719) == 0xF0E010
        # Just outside the rectangles the background is untouched.
        assert pixel_rgb(frame, 99, 50) != 0x3366CC
        assert pixel_rgb(frame, 140, 79) != 0x3366CC
    finally:
        source.close()


def test_shm_and_getimage_capture_identical_pixels(xvfb_display: str, painter: Painter) -> None:
    for i, colour in enumerate([0xFF0000, 0x00FF00, 0x0000FF, 0x808080]):
        painter.fill(300 + 50 * i, 300, 50, 50, colour)
    shm = ShmScreenGrabber(xvfb_display)
    core = XlibScreenGrabber(xvfb_display)
    try:
        a, b = shm.grab(1.0), core.grab(1.0)
        row = 1280 * 4
        assert [a.data[y * a.stride : y * a.stride + row] for y in range(0, 720, 7)] == [
            b.data[y * b.stride : y * b.stride + row] for y in range(0, 720, 7)
        ]
    finally:
        shm.close()
        core.close()


def test_shm_grabber_reuses_its_segment_frame_after_frame(
    xvfb_display: str, painter: Painter
) -> None:
    grabber = ShmScreenGrabber(xvfb_display)
    try:
        frames = []
        for colour in (0x112233, 0x445566, 0x778899):
            painter.fill(0, 0, 16, 16, colour)
            frames.append(grabber.grab(0.0))
        # Each frame is an immutable copy: later grabs do not rewrite earlier frames.
        assert [pixel_rgb(f, 5, 5) for f in frames] == [0x112233, 0x445566, 0x778899]
    finally:
        grabber.close()
    with pytest.raises(CaptureError):
        grabber.grab(0.0)


def test_damage_reports_nothing_while_static_and_reports_each_change(
    xvfb_display: str, painter: Painter
) -> None:
    tracker = DamageTracker(xvfb_display)
    try:
        painter.fill(0, 0, 4, 4, 0x010203)
        assert tracker.poll() is True
        assert tracker.poll() is False
        assert tracker.poll() is False
        painter.fill(500, 500, 1, 1, 0xFFFFFF)
        assert tracker.poll() is True
        assert tracker.poll() is False
    finally:
        tracker.close()


def test_source_reports_damage_first_then_only_on_change(
    xvfb_display: str, painter: Painter
) -> None:
    source = X11CaptureSource(xvfb_display)
    try:
        assert source.uses_damage
        assert source.poll_damage() is True  # the first frame is always wanted
        source.capture(0.0)
        assert [source.poll_damage() for _ in range(5)] == [False] * 5
        painter.fill(10, 10, 10, 10, 0xABCDEF)
        assert source.poll_damage() is True
        assert pixel_rgb(source.capture(1.0), 15, 15) == 0xABCDEF
        assert source.poll_damage() is False
    finally:
        source.close()


def test_source_without_damage_always_captures(xvfb_display: str) -> None:
    source = X11CaptureSource(xvfb_display, use_damage=False)
    try:
        assert not source.uses_damage
        assert [source.poll_damage() for _ in range(3)] == [True] * 3
    finally:
        source.close()


def test_captured_screen_encodes_and_decodes_at_the_right_size(
    xvfb_display: str, painter: Painter
) -> None:
    painter.fill(0, 0, 1280, 720, 0x202020)
    painter.fill(600, 300, 100, 100, 0xFFFFFF)
    source = X11CaptureSource(xvfb_display)
    encoder = H264Encoder(
        source.width, source.height, 30, bitrate_kbps=2000, preference=("libx264",)
    )
    decoder = av.CodecContext.create("h264", "r")
    try:
        pictures = []
        for i in range(3):
            for encoded in encoder.encode(source.capture(i / 30)):
                pictures.extend(decoder.decode(av.Packet(encoded.data)))
        pictures.extend(decoder.decode(None))
        assert len(pictures) == 3
        assert {(p.width, p.height) for p in pictures} == {(1280, 720)}
        gray = pictures[-1].reformat(format="gray")
        luma = memoryview(gray.planes[0])
        line = gray.planes[0].line_size
        assert luma[350 * line + 650] > 200  # inside the white square
        assert luma[100 * line + 100] < 60  # the dark background
    finally:
        source.close()
        encoder.close()


def test_unreachable_display_is_a_capture_error() -> None:
    with pytest.raises(CaptureError):
        X11CaptureSource(":4999")


def test_drawing_inside_a_client_window_counts_as_damage(
    xvfb_display: str, painter: Painter
) -> None:
    screen = painter.display.screen()
    window = painter.root.create_window(
        50, 50, 200, 100, 0, screen.root_depth, background_pixel=0x000000
    )
    window.map()
    painter.display.sync()
    source = X11CaptureSource(xvfb_display)
    try:
        assert source.poll_damage() is True
        source.capture(0.0)
        assert source.poll_damage() is False
        gc = window.create_gc(foreground=0x00FF00)
        window.fill_rectangle(gc, 10, 10, 30, 30)
        painter.display.sync()
        assert source.poll_damage() is True
        assert pixel_rgb(source.capture(1.0), 65, 65) == 0x00FF00
        window.unmap()
        painter.display.sync()
        assert source.poll_damage() is True  # exposing what was under it changes pixels
    finally:
        source.close()
        window.destroy()
        painter.display.sync()


def test_default_source_is_the_display_when_it_opens(xvfb_display: str) -> None:
    source = open_capture_source(xvfb_display)
    try:
        assert isinstance(source, X11CaptureSource)
    finally:
        source.close()


def test_default_source_without_a_display_is_synthetic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    source = open_capture_source(synthetic_size=(320, 180))
    assert isinstance(source, SyntheticSource)
    assert (source.width, source.height) == (320, 180)
    unreachable = open_capture_source(":4998", synthetic_size=(320, 180))
    assert isinstance(unreachable, SyntheticSource)
