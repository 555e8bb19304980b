"""The client-verb parser: every verb, malformed inputs, and a fuzz."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.input import events as ev
from selkies_trio.input.protocol import (
    KNOWN_VERBS,
    MAX_MESSAGE_CHARS,
    InputProtocolError,
    parse_client_message_untrusted,
)


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


VALID = [
    ("m,10,20,1,0", ev.PointerMotion(False, 10, 20, 1, 0, None)),
    ("m,0,0,0,0,77", ev.PointerMotion(False, 0, 0, 0, 0, 77)),
    ("m2,-5,7,0,2", ev.PointerMotion(True, -5, 7, 0, 2, None)),
    ("m2,3,-4,8,1,9", ev.PointerMotion(True, 3, -4, 8, 1, 9)),
    ("p,1", ev.PointerLock(True)),
    ("p,0", ev.PointerLock(False)),
    ("kd,65", ev.KeyDown(65)),
    ("ku,65507", ev.KeyUp(65507)),
    ("kd,16778294", ev.KeyDown(0x01000436)),
    ("kr", ev.ReleaseAllKeys()),
    ("kh", ev.HeldKeysHeartbeat(())),
    ("kh,65,66", ev.HeldKeysHeartbeat((65, 66))),
    ("co,end,hé, world", ev.ComposedText("hé, world")),
    ("co,end,", ev.ComposedText("")),
    ("cw," + b64("жизнь"), ev.ClipboardText("жизнь")),
    ("cw,", ev.ClipboardText("")),
    ("cb,image/png," + b64(b"\x89PNG"), ev.ClipboardBinary("image/png", b"\x89PNG")),
    ("cws,abc-1,12", ev.ClipboardMultipartStart("abc-1", 12, None)),
    ("cwd,abc-1," + b64("hi"), ev.ClipboardMultipartData("abc-1", b"hi", False)),
    ("cwe,abc-1", ev.ClipboardMultipartEnd("abc-1", False)),
    ("cbs,7,image/png,100", ev.ClipboardMultipartStart("7", 100, "image/png")),
    ("cbd,7," + b64(b"\x00\x01"), ev.ClipboardMultipartData("7", b"\x00\x01", True)),
    ("cbe,7", ev.ClipboardMultipartEnd("7", True)),
    ("cr", ev.ClipboardRequest()),
    ("r,1920x1080", ev.Resize(1920, 1080)),
    ("s,1.5", ev.Scale(1.5)),
    ("s,2", ev.Scale(2.0)),
    ("_arg_fps,60", ev.SetFramerate(60)),
    ("vb,8000", ev.SetVideoBitrate(8000)),
    ("ab,128000", ev.SetAudioBitrate(128000)),
    ("REQUEST_KEYFRAME", ev.KeyframeRequest()),
    ("START_VIDEO", ev.MediaToggle("video", True)),
    ("STOP_VIDEO", ev.MediaToggle("video", False)),
    ("START_AUDIO", ev.MediaToggle("audio", True)),
    ("STOP_AUDIO", ev.MediaToggle("audio", False)),
    ('SETTINGS,{"framerate":30,"encoder":"x264enc"}',
     ev.SettingsUpdate({"framerate": 30, "encoder": "x264enc"})),
    ("js,c,0," + b64("Xbox Wireless Controller") + ",4,17",
     ev.GamepadConnect(0, "Xbox Wireless Controller", 4, 17)),
    ("js,d,1", ev.GamepadDisconnect(1)),
    ("js,b,0,3,1", ev.GamepadButton(0, 3, 1.0)),
    ("js,b,0,7,0.25", ev.GamepadButton(0, 7, 0.25)),
    ("js,a,2,1,-0.5", ev.GamepadAxis(2, 1, -0.5)),
    ("js,h,3", ev.GamepadHeartbeat(3)),
    ("cmd,xterm -e 'echo hi'", ev.RunCommand("xterm -e 'echo hi'")),
    ("pong,1712345678.5", ev.Pong(1712345678.5)),
    ("_f,59.9", ev.ClientFps(59.9)),
    ("_l,12", ev.ClientLatency(12.0)),
    ('_stats_video,{"fps":60}', ev.ClientStats("video", {"fps": 60})),
    ('_stats_audio,{"bitrate":1}', ev.ClientStats("audio", {"bitrate": 1})),
]


@pytest.mark.parametrize("message,expected", VALID, ids=[m[:24] for m, _ in VALID])
def test_every_verb_parses(message: str, expected: ev.InputEvent) -> None:
    assert parse_client_message_untrusted(message) == expected
    assert parse_client_message_untrusted(message.encode()) == expected


def test_the_table_covers_every_known_verb() -> None:
    covered = {message.partition(",")[0] for message, _ in VALID}
    assert covered == KNOWN_VERBS


MALFORMED = [
    "",
    "nope",
    "M,1,2,0,0",
    "m",
    "m,",
    "m,1,2,0",
    "m,1,2,0,0,1,2",
    "m,-1,2,0,0",
    "m,1,2,256,0",
    "m,a,2,0,0",
    "m,1.5,2,0,0",
    "m, 1,2,0,0",
    "m,1,2,0,-1",
    "m,99999999,2,0,0",
    "m2,1,2,0",
    "p",
    "p,2",
    "kd",
    "kd,",
    "kd,-1",
    "kd,0x41",
    "kd,65,66",
    "kd,9999999999",
    "ku,abc",
    "kr,1",
    "kh,65,,66",
    "kh,x",
    "co",
    "co,start,abc",
    "co,end",
    "cw,***",
    "cw,QQ",
    "cw," + b64(b"\xff\xfe"),
    "cw,a,b",
    "cb,image/png",
    "cb,notamime," + b64("x"),
    "cb,image/png,***",
    "cws,id",
    "cws,id,-3",
    "cws,bad id,3",
    "cws,,3",
    "cwd,id",
    "cwd,id,%%%",
    "cwe",
    "cbs,id,3",
    "cbs,id,image/png,x",
    "cbd,id,***",
    "cbe,",
    "cr,1",
    "r",
    "r,1920",
    "r,1920x",
    "r,x1080",
    "r,0x1080",
    "r,1920x1080x3",
    "r,99999x99999",
    "s",
    "s,",
    "s,abc",
    "s,nan",
    "s,inf",
    "s,0",
    "s,-1",
    "s,100",
    "s,1e999",
    "_arg_fps,0",
    "_arg_fps,60.5",
    "vb,-5",
    "ab,",
    "REQUEST_KEYFRAME,1",
    "START_VIDEO,now",
    "SETTINGS",
    "SETTINGS,",
    "SETTINGS,[1,2]",
    "SETTINGS,{bad json}",
    "SETTINGS," + "[" * 100000,
    "js",
    "js,c",
    "js,c,0",
    "js,c,0,***,4,17",
    "js,c,0," + b64(b"\xff") + ",4,17",
    "js,c,0," + b64("pad") + ",4",
    "js,d",
    "js,d,x",
    "js,d,99",
    "js,d,0,1",
    "js,b,0,1",
    "js,b,0,1,2",
    "js,b,0,99,1",
    "js,a,0,1,-2",
    "js,a,0,1,nan",
    "js,z,0",
    "js,h",
    "cmd",
    "cmd,",
    "cmd,   ",
    "pong",
    "pong,abc",
    "pong,-1",
    "_f,x",
    "_l,",
    "_stats_video,not json",
    "_stats_audio,3",
]


@pytest.mark.parametrize("message", MALFORMED)
def test_malformed_frames_raise_the_typed_error(message: str) -> None:
    with pytest.raises(InputProtocolError):
        parse_client_message_untrusted(message)


@pytest.mark.parametrize(
    "frame", [b"\xff\xfekd,65", b"m,1,2,\x80,0", bytearray(b"kd,\xc3"), 42, None, ["kd", "65"]]
)
def test_undecodable_or_odd_frames_raise_the_typed_error(frame: object) -> None:
    with pytest.raises(InputProtocolError):
        parse_client_message_untrusted(frame)  # type: ignore[arg-type]


def test_oversized_frame_is_refused_before_parsing() -> None:
    with pytest.raises(InputProtocolError, match="too large"):
        parse_client_message_untrusted("cw," + "A" * MAX_MESSAGE_CHARS)


def test_composed_text_keeps_commas_and_everything_after_end() -> None:
    assert parse_client_message_untrusted("co,end,a,b,,c") == ev.ComposedText("a,b,,c")


def _only_typed_errors(message: str | bytes) -> None:
    try:
        event = parse_client_message_untrusted(message)
    except InputProtocolError:
        return
    assert type(event).__module__ == ev.__name__


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(message: str) -> None:
    _only_typed_errors(message)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([*sorted(KNOWN_VERBS), "js,c", "js,b", "js,a", "js,d", "co,end"]),
    st.lists(
        st.one_of(
            st.integers(-(2**40), 2**40).map(str),
            st.floats(allow_nan=True, allow_infinity=True).map(str),
            st.text(max_size=12),
            st.sampled_from(["", "x", "1x1", "image/png", "{}", "[]", "QUJD", "=="]),
        ),
        max_size=7,
    ),
)
def test_fuzz_known_verbs_with_random_fields(verb: str, fields: list[str]) -> None:
    _only_typed_errors(",".join([verb, *fields]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_raw_bytes(frame: bytes) -> None:
    _only_typed_errors(frame)
