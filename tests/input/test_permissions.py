"""The permission table: each role/verb pair allowed or refused (seeds/001, PROTOCOL.md)."""

from __future__ import annotations

import pytest

from selkies_trio.input import events as ev
from selkies_trio.input.permissions import (
    ClientPermissions,
    Role,
    check,
    gamepad_pad_index,
)
from selkies_trio.input.protocol import parse_client_message_untrusted

CONTROLLER = ClientPermissions("c", Role.CONTROLLER, slot=1)
VIEWER = ClientPermissions("v", Role.VIEWER, slot=None)
PLAYER2 = ClientPermissions("p2", Role.VIEWER, slot=2)
# mk_control claimed by someone else / by this client
CONTROLLER_LOCKED_OUT = ClientPermissions("c", Role.CONTROLLER, 1, False, True)
VIEWER_WITH_MK = ClientPermissions("v", Role.VIEWER, None, True, True)

CLIENTS = {
    "controller": CONTROLLER,
    "viewer": VIEWER,
    "player2": PLAYER2,
    "controller-locked-out": CONTROLLER_LOCKED_OUT,
    "viewer-with-mk": VIEWER_WITH_MK,
}

# frame -> the clients allowed to send it (command_enabled on)
M, V, P2, CL, VM = "controller", "viewer", "player2", "controller-locked-out", "viewer-with-mk"
ALL = {M, V, P2, CL, VM}
CONTROLLERS = {M, CL}
MOUSE_KEYBOARD = {M, VM}
TABLE = {
    "m,1,1,0,0": MOUSE_KEYBOARD,
    "m2,1,1,0,0": MOUSE_KEYBOARD,
    "p,1": MOUSE_KEYBOARD,
    "kd,65": MOUSE_KEYBOARD,
    "ku,65": MOUSE_KEYBOARD,
    "kr": MOUSE_KEYBOARD,
    "kh,65": MOUSE_KEYBOARD,
    "co,end,x": MOUSE_KEYBOARD,
    "cw,eA==": CONTROLLERS,
    "cb,image/png,eA==": CONTROLLERS,
    "cws,1,1": CONTROLLERS,
    "cwd,1,eA==": CONTROLLERS,
    "cwe,1": CONTROLLERS,
    "cbs,1,image/png,1": CONTROLLERS,
    "cbd,1,eA==": CONTROLLERS,
    "cbe,1": CONTROLLERS,
    "cr": CONTROLLERS,
    "r,800x600": CONTROLLERS,
    "s,2": CONTROLLERS,
    "_arg_fps,30": CONTROLLERS,
    "vb,1000": CONTROLLERS,
    "ab,64000": CONTROLLERS,
    "cmd,true": CONTROLLERS,
    "REQUEST_KEYFRAME": ALL,
    "START_VIDEO": ALL,
    "STOP_VIDEO": ALL,
    # Ours: like the video pair, they pause or resume only the sender's own audio.
    "START_AUDIO": ALL,
    "STOP_AUDIO": ALL,
    "SETTINGS,{}": ALL,
    "pong,1": ALL,
    "_f,30": ALL,
    "_l,5": ALL,
    "_stats_video,{}": ALL,
    "_stats_audio,{}": ALL,
    # gamepads: controllers by browser index, viewers only with a slot
    "js,c,0,eA==,4,17": {M, CL, P2},
    "js,b,1,0,1": {M, CL, P2},
    "js,a,0,0,0.5": {M, CL, P2},
    "js,d,0": {M, CL, P2},
    "js,h,0": {M, CL, P2},
}


@pytest.mark.parametrize("client_name", sorted(CLIENTS))
@pytest.mark.parametrize("frame", sorted(TABLE))
def test_permission_table(frame: str, client_name: str) -> None:
    event = parse_client_message_untrusted(frame)
    verdict = check(event, CLIENTS[client_name], command_enabled=True)
    assert verdict.allowed == (client_name in TABLE[frame]), verdict.reason
    if not verdict.allowed:
        assert verdict.reason


def test_table_covers_every_event_type() -> None:
    types = {type(parse_client_message_untrusted(frame)) for frame in TABLE}
    all_types = {t for t in vars(ev).values() if isinstance(t, type) and t.__module__ == ev.__name__}
    assert all_types - types == set()


def test_commands_need_command_enabled_even_for_controllers() -> None:
    verdict = check(ev.RunCommand("true"), CONTROLLER, command_enabled=False)
    assert not verdict.allowed
    assert "command_enabled" in verdict.reason


def test_viewer_settings_apply_to_their_own_view_only() -> None:
    assert check(ev.SettingsUpdate({}), VIEWER, command_enabled=True).own_view_only
    assert not check(ev.SettingsUpdate({}), CONTROLLER, command_enabled=True).own_view_only


def test_gamepad_routing() -> None:
    # A viewer with slot 2 drives pad 1 whatever index its browser reports.
    assert gamepad_pad_index(ev.GamepadButton(0, 0, 1.0), PLAYER2) == 1
    assert gamepad_pad_index(ev.GamepadButton(3, 0, 1.0), PLAYER2) == 1
    # A controller drives the pad its browser numbered.
    assert gamepad_pad_index(ev.GamepadButton(2, 0, 1.0), CONTROLLER) == 2
    assert gamepad_pad_index(ev.GamepadButton(7, 0, 1.0), CONTROLLER) is None
    assert gamepad_pad_index(ev.GamepadButton(0, 0, 1.0), VIEWER) is None
    strict = ClientPermissions.viewer("s", slot=-1)
    assert strict.slot is None
    assert gamepad_pad_index(ev.GamepadButton(0, 0, 1.0), strict) is None


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_receiving_the_desktop_clipboard_matches_sending_it(name: str) -> None:
    # Whoever may not write the clipboard may not read it either (a #shared viewer).
    from selkies_trio.input.permissions import may_use_clipboard

    assert may_use_clipboard(CLIENTS[name]) == (name in CONTROLLERS)
