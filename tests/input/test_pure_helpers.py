"""Pure helpers: keysyms, PNG, server messages, clipboard reassembly, gamepads, commands."""

from __future__ import annotations

import base64
import io
import json
import logging
import struct
import zlib
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.input import events as ev
from selkies_trio.input import keysyms, png, server_messages
from selkies_trio.input.clipboard_transfer import ClipboardAssembler
from selkies_trio.input.commands import CommandRunner
from selkies_trio.input.gamepad import (
    ABS_HAT0Y,
    ABS_X,
    ABS_Z,
    BTN_SOUTH,
    BTN_WEST,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    GamepadEncoder,
    GamepadRouter,
    InputEvent,
    input_event_bytes,
)
from selkies_trio.input.protocol import InputProtocolError, LocalProtocolError

# --- keysyms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "char,keysym",
    [("a", 0x61), ("~", 0x7E), ("é", 0xE9), ("\xa0", 0xA0), ("ж", 0x01000436),
     ("€", 0x010020AC), ("→", 0x01002192), ("\n", 0xFF0D), ("\t", 0xFF09), ("😀", 0x0101F600)],
)
def test_keysym_for_char(char: str, keysym: int) -> None:
    assert keysyms.keysym_for_char(char) == keysym
    expected = "\n" if char == "\n" else char
    assert keysyms.char_for_keysym(keysym) == expected


def test_untypeable_controls_and_non_characters() -> None:
    assert keysyms.keysym_for_char("\x01") == keysyms.NO_SYMBOL
    assert keysyms.char_for_keysym(keysyms.XK_SHIFT_L) is None
    assert keysyms.char_for_keysym(0x0100D800) is None
    with pytest.raises(ValueError):
        keysyms.keysym_for_char("ab")


@settings(max_examples=300, deadline=None)
@given(st.characters(min_codepoint=0x20, exclude_categories=("Cs",)))
def test_keysym_round_trip(char: str) -> None:
    keysym = keysyms.keysym_for_char(char)
    if keysym != keysyms.NO_SYMBOL:
        assert keysyms.char_for_keysym(keysym) == ("\x7f" if char == "\x7f" else char)


# --- PNG -----------------------------------------------------------------------


def decode_with_ffmpeg(data: bytes) -> tuple[int, int, bytes]:
    container = av.open(io.BytesIO(data), format="png_pipe")
    try:
        frame = next(container.decode(video=0)).reformat(format="rgba")
        plane = frame.planes[0]
        raw = bytes(plane)
        return frame.width, frame.height, b"".join(
            raw[y * plane.line_size : y * plane.line_size + frame.width * 4]
            for y in range(frame.height)
        )
    finally:
        container.close()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_png_decodes_to_the_same_pixels_in_ffmpeg(width: int, height: int, data: st.DataObject) -> None:
    rgba = data.draw(st.binary(min_size=width * height * 4, max_size=width * height * 4))
    assert decode_with_ffmpeg(png.encode_rgba(width, height, rgba)) == (width, height, rgba)


def test_png_chunks_carry_valid_crcs() -> None:
    encoded = png.encode_rgba(2, 1, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    assert encoded.startswith(png.PNG_SIGNATURE)
    offset = len(png.PNG_SIGNATURE)
    kinds = []
    while offset < len(encoded):
        (length,) = struct.unpack_from(">I", encoded, offset)
        kind = encoded[offset + 4 : offset + 8]
        body = encoded[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack_from(">I", encoded, offset + 8 + length)
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        offset += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_png_rejects_wrong_sizes() -> None:
    with pytest.raises(ValueError):
        png.encode_rgba(2, 2, b"\x00" * 15)
    with pytest.raises(ValueError):
        png.encode_rgba(0, 2, b"")


def test_premultiplied_argb_is_unpremultiplied() -> None:
    opaque_red, half_white, clear = 0xFFFF0000, 0x80808080, 0x00000000
    assert png.argb_premultiplied_to_rgba([opaque_red, half_white, clear]) == bytes(
        [255, 0, 0, 255, 255, 255, 255, 128, 0, 0, 0, 0]
    )


# --- server messages -----------------------------------------------------------


def test_cursor_message_shape() -> None:
    frame = json.loads(server_messages.cursor(b"PNG", 16, 24, 3, 4, 99))
    assert frame == {
        "type": "cursor",
        "data": {"curdata": base64.b64encode(b"PNG").decode(), "width": 16, "height": 24,
                 "hotx": 3, "hoty": 4, "handle": 99},
    }
    with pytest.raises(LocalProtocolError):
        server_messages.cursor(b"", 0, 1, 0, 0, 1)


def test_small_clipboard_is_one_message() -> None:
    (frame,) = server_messages.clipboard("hé".encode())
    message = json.loads(frame)
    assert message["type"] == "clipboard-msg"
    assert base64.b64decode(message["data"]["content"]).decode() == "hé"
    assert message["data"]["mime_type"] == "text/plain"
    assert message["data"]["is_binary_data"] is False
    assert message["data"]["total_size"] == 3


def test_large_clipboard_is_chunked_and_reassembles() -> None:
    payload = bytes(range(256)) * 40
    frames = [json.loads(f) for f in server_messages.clipboard(payload, "image/png", 1000)]
    assert [f["type"] for f in frames] == (
        ["clipboard-msg-start"] + ["clipboard-msg-data"] * 11 + ["clipboard-msg-end"]
    )
    assert frames[0]["data"] == {"mime_type": "image/png", "is_binary_data": True, "total_size": 10240}
    joined = b"".join(base64.b64decode(f["data"]["content"]) for f in frames[1:-1])
    assert joined == payload


def test_system_ping_and_settings_messages() -> None:
    assert json.loads(server_messages.system("resolution,800x600")) == {
        "type": "system", "data": {"action": "resolution,800x600"}}
    assert json.loads(server_messages.ping(12.5)) == {"type": "ping", "data": {"start_time": 12.5}}
    assert json.loads(server_messages.latency_measurement(3.0))["data"] == {"latency_ms": 3.0}
    assert json.loads(server_messages.server_settings({"a": {"value": 1}}))["type"] == (
        "server_settings")
    assert json.loads(server_messages.stats({"fps": 1}))["data"] == {"fps": 1}


# --- clipboard reassembly --------------------------------------------------------


def test_multipart_text_and_binary() -> None:
    assembler = ClipboardAssembler(100)
    assert assembler.receive(ev.ClipboardMultipartStart("a", 5, None)) is None
    assert assembler.receive(ev.ClipboardMultipartData("a", "hé".encode(), False)) is None
    assert assembler.receive(ev.ClipboardMultipartData("a", b"ll", False)) is None
    assert assembler.receive(ev.ClipboardMultipartEnd("a", False)) == ev.ClipboardText("héll")
    assembler.receive(ev.ClipboardMultipartStart("b", 2, "image/png"))
    assembler.receive(ev.ClipboardMultipartData("b", b"\x00\x01", True))
    assert assembler.receive(ev.ClipboardMultipartEnd("b", True)) == ev.ClipboardBinary(
        "image/png", b"\x00\x01")


@pytest.mark.parametrize(
    "frames",
    [
        [ev.ClipboardMultipartStart("a", 1000, None)],  # over the cap
        [ev.ClipboardMultipartData("a", b"x", False)],  # no start
        [ev.ClipboardMultipartStart("a", 3, None), ev.ClipboardMultipartData("b", b"x", False)],
        [ev.ClipboardMultipartStart("a", 1, None), ev.ClipboardMultipartData("a", b"xy", False)],
        [ev.ClipboardMultipartStart("a", 3, None), ev.ClipboardMultipartEnd("a", False)],
        [ev.ClipboardMultipartStart("a", 1, None), ev.ClipboardMultipartData("a", b"x", True)],
        [ev.ClipboardMultipartStart("a", 1, None), ev.ClipboardMultipartData("a", b"\xff", False),
         ev.ClipboardMultipartEnd("a", False)],
    ],
)
def test_multipart_errors(frames: list[ev.ClipboardMultipartStart]) -> None:
    assembler = ClipboardAssembler(100)
    with pytest.raises(InputProtocolError):
        for frame in frames:
            assembler.receive(frame)


# --- gamepads ----------------------------------------------------------------------


def test_encoder_maps_the_standard_layout() -> None:
    encoder = GamepadEncoder()
    syn = (EV_SYN, 0, 0)
    assert encoder.encode(ev.GamepadButton(0, 0, 1.0)) == [(EV_KEY, BTN_SOUTH, 1), syn]
    assert encoder.encode(ev.GamepadButton(0, 2, 0.0)) == [(EV_KEY, BTN_WEST, 0), syn]
    assert encoder.encode(ev.GamepadButton(0, 6, 0.5)) == [(EV_ABS, ABS_Z, 128), syn]
    assert encoder.encode(ev.GamepadAxis(0, 0, -1.0)) == [(EV_ABS, ABS_X, -32768), syn]
    assert encoder.encode(ev.GamepadAxis(0, 0, 1.0)) == [(EV_ABS, ABS_X, 32767), syn]
    # d-pad up then down held together cancel out; releasing up leaves down.
    assert encoder.encode(ev.GamepadButton(0, 12, 1.0)) == [(EV_ABS, ABS_HAT0Y, -1), syn]
    assert encoder.encode(ev.GamepadButton(0, 13, 1.0)) == [(EV_ABS, ABS_HAT0Y, 0), syn]
    assert encoder.encode(ev.GamepadButton(0, 12, 0.0)) == [(EV_ABS, ABS_HAT0Y, 1), syn]
    assert encoder.encode(ev.GamepadButton(0, 40, 1.0)) == []
    assert len(input_event_bytes(EV_KEY, BTN_SOUTH, 1)) == struct.calcsize("llHHi")


class RecordingPad:
    def __init__(self) -> None:
        self.emitted: list[list[InputEvent]] = []
        self.closed = False

    def emit(self, events: list[InputEvent]) -> None:
        self.emitted.append(events)

    def close(self) -> None:
        self.closed = True


def test_router_creates_routes_and_closes_pads() -> None:
    pads: dict[int, RecordingPad] = {}

    def factory(index: int, name: str) -> RecordingPad:
        pads[index] = RecordingPad()
        return pads[index]

    router = GamepadRouter(factory, unavailable_reason=lambda: None)
    router.handle(ev.GamepadConnect(0, "pad", 4, 17), 1)
    router.handle(ev.GamepadButton(0, 0, 1.0), 1)
    router.handle(ev.GamepadButton(0, 0, 1.0), 2)  # no pad in slot 3: dropped
    assert router.connected == {1}
    assert pads[1].emitted == [[(EV_KEY, BTN_SOUTH, 1), (EV_SYN, 0, 0)]]
    router.handle(ev.GamepadDisconnect(0), 1)
    assert pads[1].closed and router.connected == frozenset()


def test_router_logs_once_when_uinput_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    created: list[int] = []
    router = GamepadRouter(
        lambda index, name: created.append(index) or RecordingPad(),  # type: ignore[func-returns-value]
        unavailable_reason=lambda: "/dev/uinput does not exist",
    )
    with caplog.at_level(logging.WARNING):
        for slot in range(3):
            router.handle(ev.GamepadConnect(0, "pad", 4, 17), slot)
            router.handle(ev.GamepadButton(0, 0, 1.0), slot)
    assert created == []
    messages = [r.getMessage() for r in caplog.records if "gamepads unavailable" in r.getMessage()]
    assert messages == ["gamepads unavailable: /dev/uinput does not exist"]


# --- commands ---------------------------------------------------------------------------


def test_command_runs_without_a_shell(tmp_path: Path) -> None:
    runner = CommandRunner()
    ok, text = runner.run(f"touch '{tmp_path}/x;y' {tmp_path}/$(id)", "c")
    assert ok and text.startswith("touch")
    for child in runner._children:
        child.wait(10)
    runner.reap()
    # `;` and `$(...)` were argument characters, not shell syntax.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["$(id)", "x;y"]


def test_command_errors_are_reported() -> None:
    runner = CommandRunner()
    assert runner.run("definitely-not-a-program-xyz", "c")[0] is False
    assert runner.run("echo 'unterminated", "c")[0] is False


def test_websocket_mode_frames() -> None:
    kind, _, body = server_messages.websocket_cursor(b"P", 2, 3, 0, 1, 5).partition(",")
    assert kind == "cursor"
    assert json.loads(body) == {"curdata": "UA==", "width": 2, "height": 3, "hotx": 0,
                                "hoty": 1, "handle": 5}
    assert server_messages.websocket_clipboard("hé") == "clipboard," + base64.b64encode(
        "hé".encode()).decode()
    assert server_messages.websocket_system("mk_access,1") == 'system,{"action":"mk_access,1"}'
