"""Keyboard injection through XTEST, by keysym.

The browser names keys by keysym; XTEST presses keycodes. A keysym present in the
core keyboard map (X11 protocol, section 12 "Keyboards": column 0 unshifted,
column 1 shifted) is typed on its keycode. A keysym absent from the map (any
Unicode character the layout lacks) gets a spare keycode temporarily remapped to
it with ChangeKeyboardMapping; remapped codes are recycled least recently used
first and restored to NoSymbol on close, so the map never fills up.

Recycling races with other clients: each one re-reads the map when it handles
the MappingNotify, so a code remapped twice before a client got to the first
key event would decode that event with the newer keysym. A remapped code is
therefore only recycled once `recycle_grace` seconds have passed since its last
use (the server is synced and we wait out the rest when needed).

Every held key is tracked by the keycode it was pressed on, so a release reaches
the same key even if the map changed in between, and by the clients holding it:
like the same key on two physical keyboards, it goes up when the last of them
lets go, so a client that disconnects releases what it held and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from Xlib import X
from Xlib.display import Display
from Xlib.ext import xtest

from . import keysyms

log = logging.getLogger(__name__)


@dataclass
class HeldKey:
    keycode: int
    # client id -> when that client last pressed or heartbeat-refreshed the key
    holders: dict[str, float]


class X11Keyboard:
    def __init__(
        self,
        display: Display,
        *,
        recycle_grace: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._display = display
        self._recycle_grace = recycle_grace
        self._clock = clock
        self._sleep = sleep
        # keycode -> clock() of its last press through a remapping
        self._last_used: dict[int, float] = {}
        self._min_keycode: int = display.display.info.min_keycode
        self._max_keycode: int = display.display.info.max_keycode
        self._keymap: dict[int, list[int]] = {}
        self._width = 2
        # keysym -> keycode it is temporarily mapped to, least recently used first
        self._remapped: OrderedDict[int, int] = OrderedDict()
        self._spare: list[int] = []
        self._held: dict[int, HeldKey] = {}
        # Clients that send `kh` heartbeats; only their keys can go stale.
        self._heartbeat_clients: set[str] = set()
        self.reload_keymap()

    def reload_keymap(self) -> None:
        """Re-read the core map (after a MappingNotify, maybe caused by another client).

        Remappings another client overwrote are forgotten, and only codes that are
        empty now count as spare, so we never clobber someone else's layout change.
        """
        count = self._max_keycode - self._min_keycode + 1
        rows = self._display.get_keyboard_mapping(self._min_keycode, count)
        self._width = max(2, len(rows[0]) if rows else 2)
        self._keymap = {self._min_keycode + i: list(row) for i, row in enumerate(rows)}
        for keysym, code in list(self._remapped.items()):
            if self._keymap.get(code, [0])[0] != keysym:
                del self._remapped[keysym]
        in_use = set(self._remapped.values())
        self._spare = [
            code for code, syms in self._keymap.items() if not any(syms) and code not in in_use
        ]
        # Keycodes above 248 are unreachable from some clients' XKB keymaps; use them last.
        self._spare.sort(key=lambda code: (code > 248, code))

    @property
    def held_keysyms(self) -> frozenset[int]:
        return frozenset(self._held)

    @property
    def shift_held(self) -> bool:
        return any(keysyms.is_shift(keysym) for keysym in self._held)

    def _remembered(self, keysym: int) -> int | None:
        remapped = self._remapped.get(keysym)
        if remapped is not None:
            self._remapped.move_to_end(keysym)
            self._last_used[remapped] = self._clock()
        return remapped

    def _in_column(self, keysym: int, column: int, *, base_required: bool = False) -> int | None:
        for code, syms in self._keymap.items():
            if len(syms) > column and syms[column] == keysym and (syms[0] or not base_required):
                return code
        return None

    def _lookup_key(self, keysym: int, shifted: bool) -> int | None:
        """The key a physical keyboard would press for `keysym`, without remapping.

        A key event names a key, not a character: a keysym in column 0 is pressed
        on its own keycode whatever the shift state, and the server turns it into
        the shifted symbol while Shift is down (Shift+Tab is ISO_Left_Tab, as on a
        real keyboard). With Shift down, a real key whose shifted symbol is the
        keysym comes first, so Shift+`<` is the `,<` key and not the `<>` key.
        Keys with nothing in column 0 are XKB's virtual modifier keys (Alt_L is
        also on one), a last resort. Only a keysym no key produces needs a remap.
        """
        if keysym == keysyms.NO_SYMBOL:
            return None
        code = self._remembered(keysym)
        if code is None and shifted:
            code = self._in_column(keysym, 1, base_required=True)
        if code is None:
            code = self._in_column(keysym, 0)
        if code is None and shifted:
            code = self._in_column(keysym, 1)
        return code

    def _lookup_exact(self, keysym: int, shifted: bool) -> int | None:
        """A keycode typing exactly `keysym` in the given shift state, without remapping.

        For text, where the character matters and not the key: with Shift down, a
        column-0 keysym only counts if Shift leaves it alone (no column 1).
        """
        if keysym == keysyms.NO_SYMBOL:
            return None
        remapped = self._remembered(keysym)
        if remapped is not None:
            return remapped
        for code, syms in self._keymap.items():
            unshifted = syms[0] if syms else 0
            shifted_sym = syms[1] if len(syms) > 1 else 0
            if shifted and shifted_sym == keysym:
                return code
            if unshifted == keysym and (not shifted or shifted_sym == keysyms.NO_SYMBOL):
                return code
        return None

    def _remap(self, keysym: int) -> int | None:
        """Point a spare keycode at `keysym` (both shift columns, so Shift is irrelevant).

        None when no keycode can be had: the map has no empty code at all, or every
        remapped code is held down right now.
        """
        if self._spare:
            code = self._spare.pop(0)
        else:
            held_codes = {held.keycode for held in self._held.values()}
            victim = next(
                (sym for sym, code in self._remapped.items() if code not in held_codes), None
            )
            if victim is None:
                log.warning("cannot type keysym 0x%x: no free keycode to remap", keysym)
                return None
            code = self._remapped.pop(victim)
            wait = self._last_used.get(code, -1e9) + self._recycle_grace - self._clock()
            if wait > 0:
                self._display.sync()
                self._sleep(wait)
        row = [keysym, keysym] + [keysyms.NO_SYMBOL] * (self._width - 2)
        self._display.change_keyboard_mapping(code, [row])
        self._keymap[code] = row
        self._remapped[keysym] = code
        self._last_used[code] = self._clock()
        return code

    def _keycode_for(self, keysym: int, shifted: bool) -> int | None:
        code = self._lookup_key(keysym, shifted)
        return code if code is not None else self._remap(keysym)

    def _fake(self, event_type: int, keycode: int) -> None:
        xtest.fake_input(self._display, event_type, keycode)

    def press(self, keysym: int, now: float, client: str = "") -> None:
        held = self._held.get(keysym)
        # A repeated keydown (browser autorepeat), or the same key from a second
        # client, presses the same code again.
        code = held.keycode if held else self._keycode_for(keysym, self.shift_held)
        if code is None:
            return
        self._fake(X.KeyPress, code)
        if held is None:
            held = self._held[keysym] = HeldKey(code, {})
        held.holders[client] = now

    def release(self, keysym: int, client: str | None = "") -> None:
        """`client` lets go of the key; it goes up once no client holds it.

        client=None releases it whoever holds it.
        """
        held = self._held.get(keysym)
        if held is None:
            return
        if client is not None:
            if client not in held.holders:
                return
            del held.holders[client]
        if held.holders and client is not None:
            return
        del self._held[keysym]
        self._fake(X.KeyRelease, held.keycode)

    def release_all(self, client: str | None = None) -> None:
        """Release the keys `client` holds (those others hold too stay down); None: all."""
        for keysym in reversed(list(self._held)):
            if client is None or client in self._held[keysym].holders:
                self.release(keysym, client)

    def forget_client(self, client: str) -> None:
        """The client is gone: what it held goes up, unless another client holds it."""
        self.release_all(client)
        self._heartbeat_clients.discard(client)

    def type_text(self, text: str) -> None:
        """Type `text` as one unit: press and release each character in order."""
        for char in text:
            keysym = keysyms.keysym_for_char(char)
            if keysym == keysyms.NO_SYMBOL:
                continue
            shift_held = self.shift_held
            code = self._lookup_exact(keysym, shift_held)
            wrap_shift = None
            if code is None and not shift_held:
                code = self._lookup_exact(keysym, True)
                if code is not None:
                    wrap_shift = self._keycode_for(keysyms.XK_SHIFT_L, False)
            if code is None:
                code = self._remap(keysym)
            if code is None:
                continue
            if wrap_shift is not None:
                self._fake(X.KeyPress, wrap_shift)
            self._fake(X.KeyPress, code)
            self._fake(X.KeyRelease, code)
            if wrap_shift is not None:
                self._fake(X.KeyRelease, wrap_shift)

    def heartbeat(self, held: tuple[int, ...], now: float, client: str = "") -> None:
        """The client says these keys are still down: refresh them."""
        self._heartbeat_clients.add(client)
        for keysym in held:
            key = self._held.get(keysym)
            if key is not None and client in key.holders:
                key.holders[client] = now

    def _stale_holds(self, now: float, timeout: float) -> list[tuple[int, str]]:
        return [
            (keysym, client)
            for keysym, key in self._held.items()
            for client, refreshed_at in key.holders.items()
            if client in self._heartbeat_clients and now - refreshed_at >= timeout
        ]

    def release_stale(self, now: float, timeout: float) -> list[int]:
        """Let go of keys the heartbeat stopped mentioning; returns the keysyms now up.

        Only for clients that have sent heartbeats at all: an older client never
        does, and a key it holds for a long time (a game) is not stuck.
        """
        released = []
        for keysym, client in self._stale_holds(now, timeout):
            log.info("releasing key 0x%x for %s: no heartbeat for %.1f s", keysym, client, timeout)
            self.release(keysym, client)
            if keysym not in self._held:
                released.append(keysym)
        return released

    def next_stale_at(self, timeout: float) -> float | None:
        """When `release_stale` would next have something to do (same clock as `now`)."""
        times = [
            refreshed_at + timeout
            for key in self._held.values()
            for client, refreshed_at in key.holders.items()
            if client in self._heartbeat_clients
        ]
        return min(times, default=None)

    def restore_keymap(self) -> None:
        """Give the remapped keycodes back to NoSymbol."""
        held_codes = {held.keycode for held in self._held.values()}
        for keysym, code in list(self._remapped.items()):
            if code in held_codes:
                continue
            self._display.change_keyboard_mapping(code, [[keysyms.NO_SYMBOL] * self._width])
            self._keymap[code] = [keysyms.NO_SYMBOL] * self._width
            del self._remapped[keysym]
            self._spare.append(code)
