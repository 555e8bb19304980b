"""XInput as the runtime uses it: frames in, permissions enforced, frames out."""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from selkies_trio.input import events as ev
from selkies_trio.input.config import InputConfig
from selkies_trio.input.gamepad import BTN_SOUTH, EV_KEY, EV_SYN, GamepadRouter, InputEvent
from selkies_trio.input.permissions import ClientPermissions, Role
from selkies_trio.input.x11_input import XInput

CONTROLLER = ClientPermissions.controller("ctl")


class RecordingPad:
    def __init__(self) -> None:
        self.emitted: list[list[InputEvent]] = []

    def emit(self, events: list[InputEvent]) -> None:
        self.emitted.append(events)

    def close(self) -> None:
        pass


class UnpluggedPad(RecordingPad):
    """A virtual gamepad whose device refuses every write and its destruction, as a
    uinput device does once it is gone (ENODEV). uinput is not available in the test
    sandbox, so this fake stands in for `UinputGamepad`."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def emit(self, events: list[InputEvent]) -> None:
        raise OSError(errno.ENODEV, "No such device")

    def close(self) -> None:
        self.closed = True
        raise OSError(errno.ENODEV, "No such device")


def test_a_gamepad_write_failure_takes_down_that_pad_only(
    xvfb_display: str, caplog: pytest.LogCaptureFixture
) -> None:
    made: list[tuple[int, RecordingPad]] = []

    def factory(index: int, name: str) -> RecordingPad:
        # The first device made for pad 0 is unplugged; every other one works.
        broken = index == 0 and not any(i == 0 for i, _ in made)
        made.append((index, UnpluggedPad() if broken else RecordingPad()))
        return made[-1][1]

    router = GamepadRouter(factory, unavailable_reason=lambda: None)
    xinput = XInput(xvfb_display, gamepads=router)
    player2 = ClientPermissions.viewer("p2", slot=2)
    try:
        with caplog.at_level(logging.WARNING, logger="selkies_trio.input"):
            xinput.handle_message("js,c,0,cGFk,4,17", CONTROLLER)
            xinput.handle_message("js,c,0,cGFk,4,17", player2)
            for _ in range(3):
                assert xinput.handle_message("js,b,0,0,1", CONTROLLER) == []
            xinput.handle_message("js,b,0,0,1", player2)
            # The controller's keyboard and the other player's pad are untouched.
            xinput.handle_message("kd,97", CONTROLLER)
            assert xinput.keyboard.held_keysyms == {97}
        broken, working = made[0][1], made[1][1]
        assert isinstance(broken, UnpluggedPad) and broken.closed
        assert working.emitted == [[(EV_KEY, BTN_SOUTH, 1), (EV_SYN, 0, 0)]]
        assert router.connected == {1}
        assert (router.write_failures, router.events_dropped) == (1, 2)
        failures = [r.getMessage() for r in caplog.records if "gamepad 1" in r.getMessage()]
        assert len(failures) == 2, failures  # the write, then the destroy
        assert "writing to its device failed" in failures[0]
        # Connecting the pad again makes a fresh device.
        xinput.handle_message("js,c,0,cGFk,4,17", CONTROLLER)
        xinput.handle_message("js,b,0,0,0", CONTROLLER)
        index, fresh = made[-1]
        assert index == 0 and fresh.emitted == [[(EV_KEY, BTN_SOUTH, 0), (EV_SYN, 0, 0)]]
        assert router.connected == {0, 1}
    finally:
        xinput.release_all()
        xinput.close()
        router.close()


def test_malformed_frames_are_dropped_and_logged(
    xinput: XInput, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert xinput.handle_message("m,not,a,number,0", CONTROLLER) == []
        assert xinput.handle_message(b"\xff\xff", CONTROLLER) == []
        assert xinput.handle_message("bogus", CONTROLLER) == []
    assert sum("dropped frame" in r.getMessage() for r in caplog.records) == 3


def test_viewer_keyboard_is_refused_and_logged(
    xinput: XInput, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        xinput.handle_message("kd,97", ClientPermissions.viewer("v"))
    assert xinput.keyboard.held_keysyms == frozenset()
    assert any("refused KeyDown from v" in r.getMessage() for r in caplog.records)


def test_mk_control_holder_is_the_only_keyboard(xinput: XInput) -> None:
    holder = ClientPermissions("h", Role.VIEWER, None, mk_control=True, mk_control_claimed=True)
    locked_out = ClientPermissions("c", Role.CONTROLLER, 1, mk_control=False, mk_control_claimed=True)
    xinput.handle_message("kd,98", locked_out)
    assert xinput.keyboard.held_keysyms == frozenset()
    xinput.handle_message("kd,97", holder)
    assert xinput.keyboard.held_keysyms == {97}
    xinput.release_all()


def test_gamepads_route_to_the_senders_slot(xvfb_display: str) -> None:
    pads: dict[int, RecordingPad] = {}

    def factory(index: int, name: str) -> RecordingPad:
        pads[index] = RecordingPad()
        return pads[index]

    router = GamepadRouter(factory, unavailable_reason=lambda: None)
    xinput = XInput(xvfb_display, gamepads=router)
    try:
        player3 = ClientPermissions.viewer("p3", slot=3)
        xinput.handle_message("js,c,0,cGFk,4,17", player3)
        xinput.handle_message("js,b,0,0,1", player3)
        xinput.handle_message("js,c,0,cGFk,4,17", ClientPermissions.viewer("nobody"))
        assert set(pads) == {2}
        assert pads[2].emitted == [[(EV_KEY, BTN_SOUTH, 1), (EV_SYN, 0, 0)]]
    finally:
        xinput.close()


def test_command_needs_permission_and_reports_back(
    xinput_factory: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    enabled = xinput_factory(InputConfig(command_enabled=True))
    assert enabled.handle_message(f"cmd,touch {marker}", ClientPermissions.viewer("v")) == []
    (reply,) = enabled.handle_message(f"cmd,touch {marker}", CONTROLLER)
    assert json.loads(reply) == {"type": "system", "data": {"action": f"command_done,touch {marker}"}}
    (failure,) = enabled.handle_message("cmd,no-such-program-xyz", CONTROLLER)
    assert json.loads(failure)["data"]["action"].startswith("command_error,")
    disabled = xinput_factory(InputConfig(command_enabled=False))
    assert disabled.handle_message(f"cmd,touch {tmp_path}/never", CONTROLLER) == []
    for child in enabled._commands._children:
        child.wait(10)
    assert marker.exists()
    assert not (tmp_path / "never").exists()


def test_poll_releases_keys_whose_heartbeat_stopped(xinput: XInput, recorder: Any) -> None:
    timeout = xinput.config.held_key_timeout
    xinput.handle(ev.KeyDown(ord("s")), CONTROLLER, now=10.0)
    xinput.handle(ev.HeldKeysHeartbeat((ord("s"),)), CONTROLLER, now=10.5)
    xinput.poll(now=10.5 + timeout / 2)
    assert xinput.keyboard.held_keysyms == {ord("s")}
    xinput.poll(now=10.5 + timeout * 2)
    assert xinput.keyboard.held_keysyms == frozenset()
    assert recorder.pump_until(lambda: any(not k.pressed for k in recorder.keys))
    assert not any(recorder.display.query_keymap())


def test_gamepad_messages_are_ignored_when_gamepads_are_disabled(
    xvfb_display: str, caplog: pytest.LogCaptureFixture
) -> None:
    created: list[int] = []

    def factory(index: int, name: str) -> RecordingPad:
        created.append(index)
        return RecordingPad()

    router = GamepadRouter(factory, unavailable_reason=lambda: None)
    xinput = XInput(xvfb_display, InputConfig(gamepad_enabled=False), gamepads=router)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                xinput.handle_message("js,c,0,cGFk,4,17", CONTROLLER)
                xinput.handle_message("js,b,0,0,1", CONTROLLER)
        assert created == []
        assert router.connected == frozenset()
        # Said once, not once per message.
        assert sum("gamepads are disabled" in r.getMessage() for r in caplog.records) == 1
    finally:
        xinput.close()
