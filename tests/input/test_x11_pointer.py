"""Pointer injection into a real Xvfb: positions via QueryPointer, buttons and wheel
via the events an independent X client receives."""

from __future__ import annotations

from typing import Any

import pytest
from Xlib import X

from selkies_trio.input import events as ev
from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.input.x11_input import XInput

CONTROLLER = ClientPermissions.controller("ctl")


def send(xinput: XInput, message: str) -> None:
    xinput.handle_message(message, CONTROLLER)


@pytest.mark.parametrize("x,y", [(0, 0), (17, 33), (640, 360), (1279, 719)])
def test_absolute_motion_lands_on_exact_coordinates(
    xinput: XInput, recorder: Any, x: int, y: int
) -> None:
    send(xinput, f"m,{x},{y},0,0")
    recorder.sync_with(xinput)
    assert recorder.query_pointer() == (x, y)


def test_relative_motion_moves_by_exact_deltas(xinput: XInput, recorder: Any) -> None:
    send(xinput, "m,400,300,0,0")
    for dx, dy in [(1, 0), (0, -2), (3, 3), (-25, 40), (120, -90)]:
        before = recorder.query_pointer()
        send(xinput, f"m2,{dx},{dy},0,0")
        recorder.sync_with(xinput)
        assert recorder.query_pointer() == (before[0] + dx, before[1] + dy)


def test_buttons_follow_mask_edges(xinput: XInput, recorder: Any) -> None:
    recorder.clear()
    for mask in (0b001, 0b011, 0b111, 0b110, 0b000, 0b000):
        send(xinput, f"m,100,100,{mask},0")
    assert recorder.pump_until(lambda: len(recorder.buttons) >= 6)
    recorder.sync_with(xinput)
    assert recorder.buttons == [
        (True, 1), (True, 2), (True, 3), (False, 1), (False, 2), (False, 3),
    ]
    assert recorder.root.query_pointer().mask & (X.Button1Mask | X.Button2Mask | X.Button3Mask) == 0


@pytest.mark.parametrize(
    "bit,button", [(3, 4), (4, 5), (6, 6), (7, 7)], ids=["up", "down", "left", "right"]
)
def test_wheel_scrolls_on_each_rising_edge_with_magnitude(
    xinput: XInput, recorder: Any, bit: int, button: int
) -> None:
    recorder.clear()
    wheel = 1 << bit
    send(xinput, f"m,200,200,{wheel},3")  # rising edge: 3 clicks
    send(xinput, f"m,200,200,{wheel},3")  # bit still set: nothing
    send(xinput, "m,200,200,0,0")  # falling edge: nothing
    send(xinput, f"m,200,200,{wheel},1")  # rising again: 1 click
    send(xinput, "m,200,200,0,0")
    assert recorder.pump_until(lambda: len(recorder.buttons) >= 8)
    recorder.sync_with(xinput)
    assert recorder.buttons == [(True, button), (False, button)] * 4


def test_stale_sequence_numbers_are_dropped(xinput: XInput, recorder: Any) -> None:
    send(xinput, "m,10,10,0,0,100")
    send(xinput, "m,20,20,0,0,102")
    send(xinput, "m,15,15,0,0,101")  # arrived late on the unordered channel
    recorder.sync_with(xinput)
    assert recorder.query_pointer() == (20, 20)
    # A client that reconnects starts counting again from a small number.
    xinput.forget_client(CONTROLLER.client_id)
    send(xinput, "m,30,30,0,0,1")
    recorder.sync_with(xinput)
    assert recorder.query_pointer() == (30, 30)
    # Another client's sequence numbers are its own.
    xinput.handle(ev.PointerMotion(False, 40, 40, 0, 0, 5), ClientPermissions.controller("b"))
    recorder.sync_with(xinput)
    assert recorder.query_pointer() == (40, 40)


def test_motion_is_reported_to_clients(xinput: XInput, recorder: Any) -> None:
    recorder.clear()
    send(xinput, "m,300,301,0,0")
    send(xinput, "m,302,303,0,0")
    assert recorder.pump_until(lambda: (302, 303) in recorder.motions)
    assert (300, 301) in recorder.motions


def test_viewer_pointer_is_refused(xinput: XInput, recorder: Any) -> None:
    send(xinput, "m,5,5,0,0")
    xinput.handle_message("m,600,500,1,0", ClientPermissions.viewer("v"))
    recorder.sync_with(xinput)
    assert recorder.query_pointer() == (5, 5)
    assert xinput.pointer.button_mask == 0
