"""Typed client-to-server input events, one frozen dataclass per verb of PROTOCOL.md.

`protocol.parse_client_message_untrusted` turns a text frame of the `input` data
channel (or a websockets-mode text frame) into exactly one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PointerMotion:
    """`m,<x>,<y>,<mask>,<scroll>[,<seq>]` (absolute) or `m2,...` (relative, pointer lock)."""

    relative: bool
    x: int
    y: int
    button_mask: int
    scroll_magnitude: int
    seq: int | None = None


@dataclass(frozen=True)
class PointerLock:
    """`p,<0|1>`: the client hid/locked its pointer (1) or released it (0)."""

    locked: bool


@dataclass(frozen=True)
class KeyDown:
    keysym: int


@dataclass(frozen=True)
class KeyUp:
    keysym: int


@dataclass(frozen=True)
class ReleaseAllKeys:
    """`kr`: the client lost focus; nothing may stay held."""


@dataclass(frozen=True)
class HeldKeysHeartbeat:
    """`kh,<keysym>,...`: the keys the client still holds right now."""

    keysyms: tuple[int, ...]


@dataclass(frozen=True)
class ComposedText:
    """`co,end,<text>`: IME/composed text, typed as one unit."""

    text: str


@dataclass(frozen=True)
class ClipboardText:
    """`cw,<base64 utf-8>`."""

    text: str


@dataclass(frozen=True)
class ClipboardBinary:
    """`cb,<mime>,<base64>`."""

    mime_type: str
    data: bytes


@dataclass(frozen=True)
class ClipboardMultipartStart:
    """`cws,<id>,<size>` (text, mime_type None) or `cbs,<id>,<mime>,<size>` (binary)."""

    transfer_id: str
    total_size: int
    mime_type: str | None


@dataclass(frozen=True)
class ClipboardMultipartData:
    """`cwd,<id>,<b64 chunk>` or `cbd,<id>,<b64 chunk>`."""

    transfer_id: str
    chunk: bytes
    binary: bool


@dataclass(frozen=True)
class ClipboardMultipartEnd:
    """`cwe,<id>` or `cbe,<id>`."""

    transfer_id: str
    binary: bool


@dataclass(frozen=True)
class ClipboardRequest:
    """`cr`: the client asks for the server clipboard."""


@dataclass(frozen=True)
class Resize:
    """`r,<W>x<H>`."""

    width: int
    height: int


@dataclass(frozen=True)
class Scale:
    """`s,<scale>`: the client's device-pixel ratio."""

    scale: float


@dataclass(frozen=True)
class SetFramerate:
    """`_arg_fps,<fps>`."""

    fps: int


@dataclass(frozen=True)
class SetVideoBitrate:
    """`vb,<kbps>`."""

    kbps: int


@dataclass(frozen=True)
class SetAudioBitrate:
    """`ab,<bps>`."""

    bps: int


@dataclass(frozen=True)
class KeyframeRequest:
    """`REQUEST_KEYFRAME`."""


@dataclass(frozen=True)
class MediaToggle:
    """`START_VIDEO` / `STOP_VIDEO` / `START_AUDIO` / `STOP_AUDIO`."""

    kind: Literal["video", "audio"]
    enabled: bool


@dataclass(frozen=True)
class SettingsUpdate:
    """`SETTINGS,<json object>`; values are whatever JSON the client sent."""

    values: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class GamepadConnect:
    """`js,c,<idx>,<b64 name>,<axes>,<buttons>`."""

    index: int
    name: str
    num_axes: int
    num_buttons: int


@dataclass(frozen=True)
class GamepadDisconnect:
    """`js,d,<idx>`."""

    index: int


@dataclass(frozen=True)
class GamepadButton:
    """`js,b,<idx>,<btn>,<value>`; value 0..1 (analogue triggers report fractions)."""

    index: int
    button: int
    value: float


@dataclass(frozen=True)
class GamepadAxis:
    """`js,a,<idx>,<axis>,<value>`; value -1..1."""

    index: int
    axis: int
    value: float


@dataclass(frozen=True)
class GamepadHeartbeat:
    """`js,h,<idx>`."""

    index: int


@dataclass(frozen=True)
class RunCommand:
    """`cmd,<command>`: a command line, later split with shlex and run without a shell."""

    command: str


@dataclass(frozen=True)
class Pong:
    """`pong,<ts>`: answer to a server `ping`, echoing its start_time."""

    start_time: float


@dataclass(frozen=True)
class ClientFps:
    """`_f,<fps>`: frames per second the client renders."""

    fps: float


@dataclass(frozen=True)
class ClientLatency:
    """`_l,<ms>`: latency the client measured."""

    latency_ms: float


@dataclass(frozen=True)
class ClientStats:
    """`_stats_video,<json>` / `_stats_audio,<json>`."""

    kind: Literal["video", "audio"]
    values: dict[str, Any] = field(hash=False)


InputEvent = (
    PointerMotion
    | PointerLock
    | KeyDown
    | KeyUp
    | ReleaseAllKeys
    | HeldKeysHeartbeat
    | ComposedText
    | ClipboardText
    | ClipboardBinary
    | ClipboardMultipartStart
    | ClipboardMultipartData
    | ClipboardMultipartEnd
    | ClipboardRequest
    | Resize
    | Scale
    | SetFramerate
    | SetVideoBitrate
    | SetAudioBitrate
    | KeyframeRequest
    | MediaToggle
    | SettingsUpdate
    | GamepadConnect
    | GamepadDisconnect
    | GamepadButton
    | GamepadAxis
    | GamepadHeartbeat
    | RunCommand
    | Pong
    | ClientFps
    | ClientLatency
    | ClientStats
)

GamepadEvent = GamepadConnect | GamepadDisconnect | GamepadButton | GamepadAxis | GamepadHeartbeat
