"""Parser of the Selkies client verbs (PROTOCOL.md, "Client -> server input").

Every text frame the browser sends on the `input` (or `pointer`) data channel is
`<verb>[,<field>...]`. `parse_client_message_untrusted` maps one frame to one
event of `events.py` or raises `InputProtocolError`; nothing else escapes, so the
dispatcher can log and drop a bad frame without tearing down the peer.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from typing import Any

from . import events as ev

# A frame bigger than this is refused before any work is done on it; clipboard
# payloads larger than a few MiB must use the multipart verbs.
MAX_MESSAGE_CHARS = 16 * 1024 * 1024
MAX_JSON_CHARS = 64 * 1024
MAX_RESOLUTION = 16384
MAX_SCALE = 8.0
# X keysyms are 29-bit values (X11 protocol, appendix A).
MAX_KEYSYM = 0x1FFFFFFF
MAX_GAMEPAD_INDEX = 15

_INTEGER = re.compile(r"-?[0-9]{1,12}")
_DECIMAL = re.compile(r"-?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})(?:[eE][-+]?[0-9]{1,3})?")
_TRANSFER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")


class InputProtocolError(Exception):
    """A client frame is malformed, truncated, out of range or an unknown verb."""


class LocalProtocolError(Exception):
    """The server itself asked for something the protocol cannot express."""


def _fields(rest: str, count: int, verb: str) -> list[str]:
    parts = rest.split(",") if rest else []
    if len(parts) != count:
        raise InputProtocolError(f"{verb}: expected {count} fields, got {len(parts)}")
    return parts


def _int(text: str, name: str, low: int, high: int) -> int:
    if not _INTEGER.fullmatch(text):
        raise InputProtocolError(f"{name}: not an integer: {text[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise InputProtocolError(f"{name}: {value} outside {low}..{high}")
    return value


def _float(text: str, name: str, low: float, high: float) -> float:
    if not _DECIMAL.fullmatch(text):
        raise InputProtocolError(f"{name}: not a number: {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value) or not low <= value <= high:
        raise InputProtocolError(f"{name}: {text[:40]!r} outside {low}..{high}")
    return value


def _b64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputProtocolError(f"{name}: invalid base64") from exc


def _utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputProtocolError(f"{name}: invalid UTF-8") from exc


def _json_object(text: str, name: str) -> dict[str, Any]:
    if len(text) > MAX_JSON_CHARS:
        raise InputProtocolError(f"{name}: JSON longer than {MAX_JSON_CHARS} characters")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputProtocolError(f"{name}: invalid JSON") from exc
    if not isinstance(value, dict):
        raise InputProtocolError(f"{name}: JSON is not an object")
    return value


def _transfer_id(text: str) -> str:
    if not _TRANSFER_ID.fullmatch(text):
        raise InputProtocolError(f"clipboard transfer id invalid: {text[:40]!r}")
    return text


def _mime(text: str) -> str:
    if not _MIME_TYPE.fullmatch(text):
        raise InputProtocolError(f"mime type invalid: {text[:40]!r}")
    return text


def _pointer(rest: str, relative: bool) -> ev.PointerMotion:
    verb = "m2" if relative else "m"
    parts = rest.split(",") if rest else []
    if len(parts) not in (4, 5):
        raise InputProtocolError(f"{verb}: expected 4 or 5 fields, got {len(parts)}")
    low = -MAX_RESOLUTION if relative else 0
    x = _int(parts[0], f"{verb} x", low, MAX_RESOLUTION)
    y = _int(parts[1], f"{verb} y", low, MAX_RESOLUTION)
    mask = _int(parts[2], f"{verb} mask", 0, 0xFF)
    scroll = _int(parts[3], f"{verb} scroll", 0, 1000)
    seq = _int(parts[4], f"{verb} seq", 0, 2**53) if len(parts) == 5 else None
    return ev.PointerMotion(relative, x, y, mask, scroll, seq)


def _keysym(rest: str, verb: str) -> int:
    return _int(_fields(rest, 1, verb)[0], f"{verb} keysym", 0, MAX_KEYSYM)


def _held_keys(rest: str) -> ev.HeldKeysHeartbeat:
    if not rest:
        return ev.HeldKeysHeartbeat(())
    parts = rest.split(",")
    if len(parts) > 256:
        raise InputProtocolError("kh: too many keys")
    return ev.HeldKeysHeartbeat(tuple(_int(p, "kh keysym", 0, MAX_KEYSYM) for p in parts))


def _composed(rest: str) -> ev.ComposedText:
    phase, comma, text = rest.partition(",")
    if phase != "end" or not comma:
        raise InputProtocolError(f"co: only 'co,end,<text>' is typed, got phase {phase[:20]!r}")
    return ev.ComposedText(text)


def _clipboard_text(rest: str) -> ev.ClipboardText:
    if not rest:
        # `cw,` + btoa(""): the browser clipboard was emptied.
        return ev.ClipboardText("")
    return ev.ClipboardText(_utf8(_b64(_fields(rest, 1, "cw")[0], "cw"), "cw"))


def _clipboard_binary(rest: str) -> ev.ClipboardBinary:
    mime, data = _fields(rest, 2, "cb")
    return ev.ClipboardBinary(_mime(mime), _b64(data, "cb"))


def _text_start(rest: str) -> ev.ClipboardMultipartStart:
    transfer_id, size = _fields(rest, 2, "cws")
    return ev.ClipboardMultipartStart(
        _transfer_id(transfer_id), _int(size, "cws size", 0, 2**40), None
    )


def _binary_start(rest: str) -> ev.ClipboardMultipartStart:
    transfer_id, mime, size = _fields(rest, 3, "cbs")
    return ev.ClipboardMultipartStart(
        _transfer_id(transfer_id), _int(size, "cbs size", 0, 2**40), _mime(mime)
    )


def _chunk(rest: str, binary: bool) -> ev.ClipboardMultipartData:
    verb = "cbd" if binary else "cwd"
    transfer_id, data = _fields(rest, 2, verb)
    return ev.ClipboardMultipartData(_transfer_id(transfer_id), _b64(data, verb), binary)


def _end(rest: str, binary: bool) -> ev.ClipboardMultipartEnd:
    transfer_id = _fields(rest, 1, "cbe" if binary else "cwe")[0]
    return ev.ClipboardMultipartEnd(_transfer_id(transfer_id), binary)


def _resize(rest: str) -> ev.Resize:
    size = _fields(rest, 1, "r")[0]
    width, x, height = size.partition("x")
    if not x:
        raise InputProtocolError(f"r: expected <W>x<H>, got {size[:40]!r}")
    return ev.Resize(
        _int(width, "r width", 1, MAX_RESOLUTION), _int(height, "r height", 1, MAX_RESOLUTION)
    )


def _gamepad(rest: str) -> ev.GamepadEvent:
    kind, _, args = rest.partition(",")
    parts = args.split(",") if args else []
    if not parts:
        raise InputProtocolError(f"js,{kind[:10]}: missing gamepad index")
    index = _int(parts[0], "js index", 0, MAX_GAMEPAD_INDEX)
    if kind == "c":
        if len(parts) != 4:
            raise InputProtocolError(f"js,c: expected 4 fields, got {len(parts)}")
        name = _utf8(_b64(parts[1], "js,c name"), "js,c name")
        return ev.GamepadConnect(
            index, name, _int(parts[2], "js,c axes", 0, 64), _int(parts[3], "js,c buttons", 0, 64)
        )
    if kind == "d" or kind == "h":
        if len(parts) != 1:
            raise InputProtocolError(f"js,{kind}: expected 1 field, got {len(parts)}")
        return ev.GamepadDisconnect(index) if kind == "d" else ev.GamepadHeartbeat(index)
    if kind == "b" or kind == "a":
        if len(parts) != 3:
            raise InputProtocolError(f"js,{kind}: expected 3 fields, got {len(parts)}")
        number = _int(parts[1], f"js,{kind} number", 0, 63)
        if kind == "b":
            return ev.GamepadButton(index, number, _float(parts[2], "js,b value", 0.0, 1.0))
        return ev.GamepadAxis(index, number, _float(parts[2], "js,a value", -1.0, 1.0))
    raise InputProtocolError(f"js: unknown kind {kind[:10]!r}")


def _command(rest: str) -> ev.RunCommand:
    if not rest.strip():
        raise InputProtocolError("cmd: empty command")
    return ev.RunCommand(rest)


def _no_fields(event: ev.InputEvent, verb: str) -> Callable[[str], ev.InputEvent]:
    def parse(rest: str) -> ev.InputEvent:
        if rest:
            raise InputProtocolError(f"{verb}: takes no fields")
        return event

    return parse


def _single_number(
    verb: str, build: Callable[[float], ev.InputEvent], low: float, high: float
) -> Callable[[str], ev.InputEvent]:
    def parse(rest: str) -> ev.InputEvent:
        return build(_float(_fields(rest, 1, verb)[0], verb, low, high))

    return parse


def _single_int(
    verb: str, build: Callable[[int], ev.InputEvent], low: int, high: int
) -> Callable[[str], ev.InputEvent]:
    def parse(rest: str) -> ev.InputEvent:
        return build(_int(_fields(rest, 1, verb)[0], verb, low, high))

    return parse


def _pointer_lock(rest: str) -> ev.PointerLock:
    return ev.PointerLock(_int(_fields(rest, 1, "p")[0], "p", 0, 1) == 1)


_PARSERS: dict[str, Callable[[str], ev.InputEvent]] = {
    "m": lambda rest: _pointer(rest, relative=False),
    "m2": lambda rest: _pointer(rest, relative=True),
    "p": _pointer_lock,
    "kd": lambda rest: ev.KeyDown(_keysym(rest, "kd")),
    "ku": lambda rest: ev.KeyUp(_keysym(rest, "ku")),
    "kr": _no_fields(ev.ReleaseAllKeys(), "kr"),
    "kh": _held_keys,
    "co": _composed,
    "cw": _clipboard_text,
    "cb": _clipboard_binary,
    "cws": _text_start,
    "cwd": lambda rest: _chunk(rest, binary=False),
    "cwe": lambda rest: _end(rest, binary=False),
    "cbs": _binary_start,
    "cbd": lambda rest: _chunk(rest, binary=True),
    "cbe": lambda rest: _end(rest, binary=True),
    "cr": _no_fields(ev.ClipboardRequest(), "cr"),
    "r": _resize,
    "s": _single_number("s", ev.Scale, 0.1, MAX_SCALE),
    "_arg_fps": _single_int("_arg_fps", ev.SetFramerate, 1, 1000),
    "vb": _single_int("vb", ev.SetVideoBitrate, 1, 10_000_000),
    "ab": _single_int("ab", ev.SetAudioBitrate, 1, 10_000_000),
    "REQUEST_KEYFRAME": _no_fields(ev.KeyframeRequest(), "REQUEST_KEYFRAME"),
    "START_VIDEO": _no_fields(ev.MediaToggle("video", True), "START_VIDEO"),
    "STOP_VIDEO": _no_fields(ev.MediaToggle("video", False), "STOP_VIDEO"),
    "START_AUDIO": _no_fields(ev.MediaToggle("audio", True), "START_AUDIO"),
    "STOP_AUDIO": _no_fields(ev.MediaToggle("audio", False), "STOP_AUDIO"),
    "SETTINGS": lambda rest: ev.SettingsUpdate(_json_object(rest, "SETTINGS")),
    "js": _gamepad,
    "cmd": _command,
    "pong": _single_number("pong", ev.Pong, 0.0, 1e15),
    "_f": _single_number("_f", ev.ClientFps, 0.0, 1000.0),
    "_l": _single_number("_l", ev.ClientLatency, 0.0, 1e7),
    "_stats_video": lambda rest: ev.ClientStats("video", _json_object(rest, "_stats_video")),
    "_stats_audio": lambda rest: ev.ClientStats("audio", _json_object(rest, "_stats_audio")),
}

KNOWN_VERBS: frozenset[str] = frozenset(_PARSERS)


def verb_of(message: str) -> str:
    """The verb of a client frame (text before the first comma); no validation."""
    return message.partition(",")[0]


def parse_client_message_untrusted(message: str | bytes) -> ev.InputEvent:
    """Parse one client frame into its event; raises only `InputProtocolError`."""
    if isinstance(message, bytes | bytearray | memoryview):
        if len(message) > MAX_MESSAGE_CHARS:
            raise InputProtocolError("frame too large")
        try:
            message = bytes(message).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputProtocolError("frame is not UTF-8") from exc
    if not isinstance(message, str):
        raise InputProtocolError(f"frame of type {type(message).__name__}")
    if len(message) > MAX_MESSAGE_CHARS:
        raise InputProtocolError("frame too large")
    verb, _, rest = message.partition(",")
    parser = _PARSERS.get(verb)
    if parser is None:
        raise InputProtocolError(f"unknown verb {verb[:40]!r}")
    return parser(rest)
