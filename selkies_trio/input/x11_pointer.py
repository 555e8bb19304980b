"""Pointer injection through XTEST: motion, the Selkies button mask, wheel pulses.

Selkies mask bits (PROTOCOL.md): 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel
down, 6 wheel left, 7 wheel right. The X core protocol numbers buttons 1 left,
2 middle, 3 right, 4/5 wheel up/down, 6/7 wheel left/right; a wheel "click" is a
press and release of 4..7. Buttons follow the edges of the mask; a wheel scrolls
`scroll_magnitude` times on each 0->1 edge of its bit.

Each client has its own mask and a button is down while any client holds it
(two mice on one desktop), so a client that leaves releases its buttons only.
"""

from __future__ import annotations

from Xlib import X
from Xlib.display import Display
from Xlib.ext import xtest

from . import events as ev

HELD_BUTTONS = {0: 1, 1: 2, 2: 3}
WHEEL_BUTTONS = {3: 4, 4: 5, 6: 6, 7: 7}
HELD_MASK = sum(1 << bit for bit in HELD_BUTTONS)
MAX_SCROLL_REPEAT = 20


class X11Pointer:
    def __init__(self, display: Display) -> None:
        self._display = display
        self._root = display.screen().root
        # client id -> its last mask; a client with mask 0 is not listed
        self._masks: dict[str, int] = {}
        self._last_seq: dict[str, int] = {}

    @property
    def button_mask(self) -> int:
        """Every client's mask combined."""
        combined = 0
        for mask in self._masks.values():
            combined |= mask
        return combined

    def _held_buttons(self) -> int:
        return self.button_mask & HELD_MASK

    def is_stale(self, client_id: str, seq: int | None) -> bool:
        """True for a position older than one already applied from this client."""
        if seq is None:
            return False
        last = self._last_seq.get(client_id)
        if last is not None and seq <= last:
            return True
        self._last_seq[client_id] = seq
        return False

    def forget_client(self, client_id: str) -> None:
        """A reconnecting client counts from zero again."""
        self._last_seq.pop(client_id, None)

    def move_to(self, x: int, y: int) -> None:
        xtest.fake_input(self._display, X.MotionNotify, 0, root=self._root, x=x, y=y)

    def move_by(self, dx: int, dy: int) -> None:
        xtest.fake_input(self._display, X.MotionNotify, 1, x=dx, y=dy)

    def apply(self, motion: ev.PointerMotion, client_id: str = "") -> bool:
        """Move and press/release per `motion`; False when dropped as stale."""
        if self.is_stale(client_id, motion.seq):
            return False
        if motion.relative:
            if motion.x or motion.y:
                self.move_by(motion.x, motion.y)
        else:
            self.move_to(motion.x, motion.y)
        self.set_mask(motion.button_mask, motion.scroll_magnitude, client_id)
        return True

    def _press_edges(self, before: int, after: int) -> None:
        for bit, button in HELD_BUTTONS.items():
            was, now = before >> bit & 1, after >> bit & 1
            if now and not was:
                xtest.fake_input(self._display, X.ButtonPress, button)
            elif was and not now:
                xtest.fake_input(self._display, X.ButtonRelease, button)

    def set_mask(self, mask: int, scroll_magnitude: int = 1, client_id: str = "") -> None:
        before = self._held_buttons()
        previous = self._masks.pop(client_id, 0)
        if mask:
            self._masks[client_id] = mask
        self._press_edges(before, self._held_buttons())
        repeat = max(1, min(scroll_magnitude, MAX_SCROLL_REPEAT))
        for bit, button in WHEEL_BUTTONS.items():
            if mask >> bit & 1 and not previous >> bit & 1:
                for _ in range(repeat):
                    xtest.fake_input(self._display, X.ButtonPress, button)
                    xtest.fake_input(self._display, X.ButtonRelease, button)

    def release_client(self, client_id: str) -> None:
        """Release the buttons only `client_id` holds."""
        before = self._held_buttons()
        self._masks.pop(client_id, None)
        self._press_edges(before, self._held_buttons())

    def release_all(self) -> None:
        """Release every held button (wheel bits carry no held state)."""
        before = self._held_buttons()
        self._masks.clear()
        self._press_edges(before, 0)
