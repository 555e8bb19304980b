"""Which client may send which verb (seeds/001 token permissions, PROTOCOL.md).

- A controller may send everything, except that while some client holds
  `mk_control` only that client drives mouse and keyboard.
- A viewer may send `SETTINGS` (applied to its own view only), `START_VIDEO`,
  `STOP_VIDEO`, `START_AUDIO`, `STOP_AUDIO`, `REQUEST_KEYFRAME` and `js` for its
  own gamepad slot; mouse and keyboard only when it holds `mk_control`. The audio
  pair is ours (PROTOCOL.md lists only the video pair): like the video pair it
  pauses or resumes the sender's own stream and nobody else's.
- `cmd` needs command_enabled and the controller role.
- The clipboard, both ways, is for controllers only: a viewer may neither
  change the desktop clipboard nor read it (a `#shared` link shows the screen,
  not what the desktop user copied). `mk_control` is about mouse and keyboard
  and grants no clipboard.
- Telemetry answers (`pong`, `_f`, `_l`, `_stats_*`) change nothing on the desktop
  and are accepted from everyone, so viewers' latency figures work.

Pure: no X, no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import events as ev

MAX_SLOT = 4


class Role(enum.Enum):
    CONTROLLER = "controller"
    VIEWER = "viewer"


@dataclass(frozen=True)
class ClientPermissions:
    """One client's rights as the session manager knows them right now.

    slot: gamepad slot 1..4, or None (no slot; a strict viewer's -1 maps here).
    mk_control: this client holds exclusive mouse and keyboard.
    mk_control_claimed: some active client (maybe this one) holds mk_control.
    """

    client_id: str
    role: Role
    slot: int | None = None
    mk_control: bool = False
    mk_control_claimed: bool = False

    @classmethod
    def controller(cls, client_id: str = "controller", slot: int | None = 1) -> ClientPermissions:
        return cls(client_id, Role.CONTROLLER, slot)

    @classmethod
    def viewer(cls, client_id: str = "viewer", slot: int | None = None) -> ClientPermissions:
        return cls(client_id, Role.VIEWER, slot if slot is not None and slot > 0 else None)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    # SETTINGS from a viewer may change that viewer's own view, never the shared stream.
    own_view_only: bool = False


MOUSE_KEYBOARD = (
    ev.PointerMotion,
    ev.PointerLock,
    ev.KeyDown,
    ev.KeyUp,
    ev.ReleaseAllKeys,
    ev.HeldKeysHeartbeat,
    ev.ComposedText,
)
VIEWER_VIEWING = (ev.KeyframeRequest,)
TELEMETRY = (ev.Pong, ev.ClientFps, ev.ClientLatency, ev.ClientStats)
GAMEPAD = (
    ev.GamepadConnect,
    ev.GamepadDisconnect,
    ev.GamepadButton,
    ev.GamepadAxis,
    ev.GamepadHeartbeat,
)

CLIPBOARD = (
    ev.ClipboardText,
    ev.ClipboardBinary,
    ev.ClipboardMultipartStart,
    ev.ClipboardMultipartData,
    ev.ClipboardMultipartEnd,
    ev.ClipboardRequest,
)

ALLOWED = Verdict(True)


def may_use_clipboard(client: ClientPermissions) -> bool:
    """May send clipboard verbs and receive the desktop clipboard."""
    return client.role is Role.CONTROLLER


def may_use_mouse_keyboard(client: ClientPermissions) -> bool:
    if client.mk_control_claimed:
        return client.mk_control
    return client.role is Role.CONTROLLER


def gamepad_pad_index(event: ev.GamepadEvent, client: ClientPermissions) -> int | None:
    """The virtual pad (0-based) this client's gamepad event drives, or None if refused.

    A controller drives the pad its browser numbered (`event.index`), so one
    controller can bring several pads; a viewer with a slot drives exactly that
    slot's pad, whatever index its browser used; a viewer without a slot none.
    """
    if client.role is Role.CONTROLLER:
        return event.index if 0 <= event.index < MAX_SLOT else None
    if client.slot is not None and 1 <= client.slot <= MAX_SLOT:
        return client.slot - 1
    return None


def check(event: ev.InputEvent, client: ClientPermissions, *, command_enabled: bool) -> Verdict:
    """May `client` send `event`? Refusals carry a reason for the log."""
    if isinstance(event, MOUSE_KEYBOARD):
        if may_use_mouse_keyboard(client):
            return ALLOWED
        if client.mk_control_claimed:
            return Verdict(False, "another client holds exclusive mouse and keyboard")
        return Verdict(False, "viewers may not send mouse or keyboard input")
    if isinstance(event, TELEMETRY + VIEWER_VIEWING):
        return ALLOWED
    if isinstance(event, CLIPBOARD):
        if may_use_clipboard(client):
            return ALLOWED
        return Verdict(False, "viewers may not use the clipboard")
    if isinstance(event, GAMEPAD):
        if gamepad_pad_index(event, client) is None:
            return Verdict(False, "no gamepad slot for this client")
        return ALLOWED
    if isinstance(event, ev.SettingsUpdate):
        return Verdict(True, own_view_only=client.role is not Role.CONTROLLER)
    if isinstance(event, ev.MediaToggle):
        # Video and (ours) audio alike: only the sender's own stream pauses.
        return ALLOWED
    if isinstance(event, ev.RunCommand):
        if not command_enabled:
            return Verdict(False, "commands are disabled (command_enabled is false)")
        if client.role is not Role.CONTROLLER:
            return Verdict(False, "only controllers may run commands")
        return ALLOWED
    if client.role is Role.CONTROLLER:
        return ALLOWED
    return Verdict(False, f"viewers may not send {type(event).__name__}")
