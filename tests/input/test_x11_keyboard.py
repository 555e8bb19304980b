"""Keyboard injection into a real Xvfb, observed by an independent X client."""

from __future__ import annotations

from typing import Any

from Xlib import X

from selkies_trio.input import events as ev
from selkies_trio.input import keysyms
from selkies_trio.input.config import InputConfig
from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.input.x11_input import XInput
from selkies_trio.input.x11_keyboard import X11Keyboard

CONTROLLER = ClientPermissions.controller("ctl")


def type_keysyms(xinput: XInput, text: str) -> None:
    for char in text:
        keysym = keysyms.keysym_for_char(char)
        xinput.handle(ev.KeyDown(keysym), CONTROLLER, now=0.0)
        xinput.handle(ev.KeyUp(keysym), CONTROLLER, now=0.0)


def wait_for_chars(recorder: Any, count: int) -> str:
    assert recorder.pump_until(
        lambda: sum(1 for k in recorder.keys if k.pressed and k.char) >= count
    ), f"only got {recorder.typed_text()!r}"
    return str(recorder.typed_text())


def test_ascii_keysyms_arrive_exactly(xinput: XInput, recorder: Any) -> None:
    text = "hello world 123"
    type_keysyms(xinput, text)
    assert wait_for_chars(recorder, len(text)) == text
    presses = [k for k in recorder.keys if k.pressed]
    releases = [k for k in recorder.keys if not k.pressed]
    assert len(presses) == len(releases) == len(text)


def test_characters_missing_from_the_keymap_are_typed_by_remapping(
    xinput: XInput, recorder: Any
) -> None:
    before = dict(recorder.keymap)
    unicode_keysyms = {keysyms.keysym_for_char(c) for c in "ж€→é"}
    assert not any(
        sym in unicode_keysyms for row in before.values() for sym in row
    ), "these characters must be absent from the Xvfb map for the test to mean anything"
    text = "ж€→éжЖ"
    type_keysyms(xinput, text)
    assert wait_for_chars(recorder, len(text)) == text


def test_composed_text_is_typed_as_one_unit_with_shift_where_needed(
    xinput: XInput, recorder: Any
) -> None:
    text = "Hi, Ünïcödé → ✓ ok! A:B"
    xinput.handle(ev.ComposedText(text), CONTROLLER)
    assert wait_for_chars(recorder, len(text)) == text
    upper_h = next(k for k in recorder.keys if k.pressed and k.char == "H")
    assert upper_h.state & X.ShiftMask


def test_more_distinct_unmapped_characters_than_spare_keycodes(
    xinput: XInput, recorder: Any
) -> None:
    # Xvfb's map has ~19 empty keycodes: 56 distinct Cyrillic/Greek letters force
    # the LRU to recycle them, and each must still type the right character. The
    # client reads its events as they come (in chunks here), as a toolkit would.
    text = "".join(chr(c) for c in range(0x0430, 0x0450)) + "".join(
        chr(c) for c in range(0x03B1, 0x03C9) if c != 0x03C2
    )
    assert len(set(text)) > 40
    for start in range(0, len(text), 8):
        xinput.handle(ev.ComposedText(text[start : start + 8]), CONTROLLER)
        wait_for_chars(recorder, min(start + 8, len(text)))
    assert recorder.typed_text() == text


def test_shift_modifier_from_the_client(xinput: XInput, recorder: Any) -> None:
    xinput.handle(ev.KeyDown(keysyms.XK_SHIFT_L), CONTROLLER, now=0.0)
    xinput.handle(ev.KeyDown(ord("A")), CONTROLLER, now=0.0)
    xinput.handle(ev.KeyUp(ord("A")), CONTROLLER, now=0.0)
    xinput.handle(ev.KeyUp(keysyms.XK_SHIFT_L), CONTROLLER, now=0.0)
    assert wait_for_chars(recorder, 1) == "A"
    a_press = next(k for k in recorder.keys if k.pressed and k.char == "A")
    assert a_press.state & X.ShiftMask
    # The 'A' went to the ordinary 'a' key (column 1), not to a remapped spare code.
    assert recorder.keymap[a_press.keycode][0] == ord("a")


def test_release_all_leaves_no_key_down(xinput: XInput, recorder: Any) -> None:
    for keysym in (keysyms.XK_SHIFT_L, 0xFFE3, ord("x"), keysyms.keysym_for_char("ж")):
        xinput.handle(ev.KeyDown(keysym), CONTROLLER, now=0.0)
    assert len(xinput.keyboard.held_keysyms) == 4
    xinput.handle(ev.ReleaseAllKeys(), CONTROLLER)
    assert xinput.keyboard.held_keysyms == frozenset()
    assert recorder.pump_until(lambda: sum(1 for k in recorder.keys if not k.pressed) >= 4)
    pressed = {k.keycode for k in recorder.keys if k.pressed}
    released = {k.keycode for k in recorder.keys if not k.pressed}
    assert pressed == released
    # The server agrees: no key is down.
    assert not any(recorder.display.query_keymap())


def test_release_all_on_disconnect_also_releases_buttons(xinput: XInput, recorder: Any) -> None:
    xinput.handle(ev.KeyDown(ord("q")), CONTROLLER, now=0.0)
    xinput.handle(ev.PointerMotion(False, 50, 60, 0b101, 0), CONTROLLER)
    xinput.release_all()
    assert recorder.pump_until(lambda: len(recorder.buttons) >= 4)
    assert sorted(recorder.buttons) == [(False, 1), (False, 3), (True, 1), (True, 3)]
    assert not any(recorder.display.query_keymap())
    assert recorder.root.query_pointer().mask & (X.Button1Mask | X.Button3Mask) == 0


def test_heartbeat_keeps_keys_and_silence_releases_them(xinput: XInput, recorder: Any) -> None:
    timeout = xinput.config.held_key_timeout
    xinput.handle(ev.KeyDown(ord("w")), CONTROLLER, now=100.0)
    xinput.handle(ev.KeyDown(ord("d")), CONTROLLER, now=100.0)
    # Without heartbeats ever seen, a long hold is legitimate (an old client).
    assert xinput.keyboard.release_stale(100.0 + 10 * timeout, timeout) == []
    xinput.handle(ev.HeldKeysHeartbeat((ord("w"), ord("d"))), CONTROLLER, now=101.0)
    xinput.handle(ev.HeldKeysHeartbeat((ord("w"),)), CONTROLLER, now=101.0 + timeout)
    released = xinput.keyboard.release_stale(101.0 + timeout + 0.5, timeout)
    assert released == [ord("d")]
    assert xinput.keyboard.held_keysyms == {ord("w")}
    xinput.release_all()


def test_remapped_keycodes_are_restored_on_close(xinput_factory: Any, recorder: Any) -> None:
    own = xinput_factory(InputConfig())
    own.handle(ev.ComposedText("ф"), CONTROLLER)
    assert wait_for_chars(recorder, 1) == "ф"
    own.close()
    recorder.display.sync()
    recorder.pump_until(lambda: False, timeout=0.0)
    info = recorder.display.display.info
    rows = recorder.display.get_keyboard_mapping(
        info.min_keycode, info.max_keycode - info.min_keycode + 1
    )
    assert not any(keysyms.keysym_for_char("ф") in row for row in rows)


def test_layout_changes_by_other_clients_are_respected(xinput: XInput, recorder: Any) -> None:
    taken = xinput.keyboard._spare[0]
    width = len(recorder.keymap[taken])
    theirs = [keysyms.keysym_for_char("ß"), keysyms.keysym_for_char("ẞ")] + [0] * (width - 2)
    recorder.display.change_keyboard_mapping(taken, [theirs])
    recorder.display.sync()
    assert recorder.pump_until(lambda: taken not in xinput.keyboard._spare, xinput=xinput)
    xinput.handle(ev.ComposedText("ѣ"), CONTROLLER)
    assert wait_for_chars(recorder, 1) == "ѣ"
    recorder.sync_with(xinput)
    info = recorder.display.display.info
    row = recorder.display.get_keyboard_mapping(taken, 1)[0]
    assert list(row[:2]) == theirs[:2], "our remapping overwrote another client's key"
    assert info.min_keycode <= taken


def test_burst_of_unmapped_characters_waits_before_recycling(
    xinput: XInput, recorder: Any
) -> None:
    # One frame with more distinct unmapped characters than there are spare keycodes.
    # Recycling waits out the grace period; here that wait is "until the recorder
    # has read everything so far", the deterministic version of a toolkit that
    # keeps up within the grace period.
    waits: list[float] = []

    def let_clients_catch_up(seconds: float) -> None:
        waits.append(seconds)
        recorder.display.sync()
        recorder.drain()

    xinput.keyboard = X11Keyboard(xinput.display, sleep=let_clients_catch_up)
    text = "".join(chr(c) for c in range(0x0410, 0x0450))
    xinput.handle(ev.ComposedText(text), CONTROLLER)
    assert wait_for_chars(recorder, len(text)) == text
    assert waits and all(0 < w <= 0.1 for w in waits)
    xinput.keyboard.restore_keymap()


XK_ISO_LEFT_TAB = 0xFE20
# Keys a browser names, many of which have a different symbol under Shift in
# Xvfb's map (Tab/ISO_Left_Tab, Alt_L/Meta_L, Pause/Break, Print/Sys_Req,
# KP_Home/KP_7) and some of which have the same one (BackSpace, F1).
NAMED_KEYS = (
    keysyms.XK_TAB, 0xFFE9, 0xFF13, 0xFF61, 0xFF95, keysyms.XK_BACKSPACE, 0xFFBE,
    keysyms.XK_ESCAPE, keysyms.XK_RETURN, 0xFF51, 0xFF50, keysyms.XK_DELETE, 0xFFE3,
)


def test_shift_tab_is_the_real_tab_key_and_gives_iso_left_tab(
    xinput: XInput, recorder: Any
) -> None:
    xinput.handle(ev.KeyDown(keysyms.XK_SHIFT_L), CONTROLLER, now=0.0)
    xinput.handle(ev.KeyDown(keysyms.XK_TAB), CONTROLLER, now=0.0)
    xinput.handle(ev.KeyUp(keysyms.XK_TAB), CONTROLLER, now=0.0)
    xinput.handle(ev.KeyUp(keysyms.XK_SHIFT_L), CONTROLLER, now=0.0)
    assert recorder.pump_until(lambda: sum(1 for k in recorder.keys if k.pressed) >= 2)
    tab = [k for k in recorder.keys if k.pressed][1]
    assert tab.state & X.ShiftMask
    assert recorder.keymap[tab.keycode][:2] == [keysyms.XK_TAB, XK_ISO_LEFT_TAB]
    assert tab.keysym == XK_ISO_LEFT_TAB


def test_named_keys_use_their_own_keycodes_with_or_without_shift(
    xinput: XInput, recorder: Any
) -> None:
    spare = list(xinput.keyboard._spare)
    keymap = dict(recorder.keymap)
    for shifted in (False, True):
        recorder.clear()
        if shifted:
            xinput.handle(ev.KeyDown(keysyms.XK_SHIFT_L), CONTROLLER, now=0.0)
        for keysym in NAMED_KEYS:
            xinput.handle(ev.KeyDown(keysym), CONTROLLER, now=0.0)
            xinput.handle(ev.KeyUp(keysym), CONTROLLER, now=0.0)
        xinput.handle(ev.ReleaseAllKeys(), CONTROLLER)
        expected = len(NAMED_KEYS) + shifted
        assert recorder.pump_until(
            lambda n=expected: sum(1 for k in recorder.keys if k.pressed) >= n
        )
        recorder.sync_with(xinput)
        pressed = [k for k in recorder.keys if k.pressed][shifted:]
        assert [keymap[k.keycode][0] for k in pressed] == list(NAMED_KEYS), shifted
    assert xinput.keyboard._spare == spare
    assert recorder.keymap == keymap
    assert not any(recorder.display.query_keymap())
