"""An X test client that records what XInput injects, and fixtures around it.

The recorder is an ordinary X client on its own connection: a full-screen window
with keyboard focus that collects KeyPress/KeyRelease/ButtonPress/ButtonRelease/
MotionNotify and follows MappingNotify, so it decodes each key with the keyboard
map that was current when the key was pressed, like a real toolkit.

Waiting is bounded: `pump_until` drains both connections and selects on their
file descriptors until a predicate holds or a deadline passes, never sleeping.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.protocol.rq import Event

from selkies_trio.input import keysyms
from selkies_trio.input.config import InputConfig
from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.input.x11_input import XInput

WAIT_SECONDS = 5.0
CONTROLLER = ClientPermissions.controller("ctl")


@dataclass
class KeyRecord:
    pressed: bool
    keycode: int
    state: int
    keysym: int
    char: str | None


class XRecorder:
    def __init__(self, display_name: str) -> None:
        self.display = Display(display_name)
        screen = self.display.screen()
        self.root = screen.root
        self.window = self.root.create_window(
            0, 0, screen.width_in_pixels, screen.height_in_pixels, 0, screen.root_depth,
            X.InputOutput, X.CopyFromParent,
            override_redirect=True,
            event_mask=X.KeyPressMask | X.KeyReleaseMask | X.ButtonPressMask
            | X.ButtonReleaseMask | X.PointerMotionMask | X.StructureNotifyMask
            | X.PropertyChangeMask,
        )
        self.keys: list[KeyRecord] = []
        self.buttons: list[tuple[bool, int]] = []
        self.motions: list[tuple[int, int]] = []
        self.other: list[Event] = []
        self._reload_keymap()
        self.window.map()
        self.display.sync()
        self.pump_until(lambda: any(e.type == X.MapNotify for e in self.other))
        self.window.set_input_focus(X.RevertToParent, X.CurrentTime)
        self.display.sync()

    def _reload_keymap(self) -> None:
        info = self.display.display.info
        rows = self.display.get_keyboard_mapping(
            info.min_keycode, info.max_keycode - info.min_keycode + 1
        )
        self.keymap = {info.min_keycode + i: list(row) for i, row in enumerate(rows)}

    def keysym_of(self, keycode: int, state: int) -> int:
        """Core-protocol keysym selection (X11 protocol section 5, "Keyboards")."""
        row = self.keymap.get(keycode, [0, 0])
        first, second = row[0], row[1] if len(row) > 1 else 0
        if not state & X.ShiftMask:
            return first
        if second:
            return second
        char = keysyms.char_for_keysym(first)
        return ord(char.upper()) if char and len(char.upper()) == 1 else first

    def _record(self, event: Event) -> None:
        if event.type == X.MappingNotify:
            self._reload_keymap()
        elif event.type in (X.KeyPress, X.KeyRelease):
            keysym = self.keysym_of(event.detail, event.state)
            self.keys.append(
                KeyRecord(event.type == X.KeyPress, event.detail, event.state, keysym,
                          keysyms.char_for_keysym(keysym))
            )
        elif event.type in (X.ButtonPress, X.ButtonRelease):
            self.buttons.append((event.type == X.ButtonPress, event.detail))
        elif event.type == X.MotionNotify:
            self.motions.append((event.root_x, event.root_y))
        else:
            self.other.append(event)

    def drain(self) -> None:
        while self.display.pending_events():
            self._record(self.display.next_event())

    def pump_until(
        self,
        predicate: Callable[[], bool],
        xinput: XInput | None = None,
        frames: list[str] | None = None,
        timeout: float = WAIT_SECONDS,
    ) -> bool:
        """Drain both connections until `predicate()`; frames from xinput.poll() collect."""
        deadline = time.monotonic() + timeout
        while True:
            self.display.flush()
            self.drain()
            if xinput is not None:
                polled = xinput.poll()
                if frames is not None:
                    frames.extend(polled)
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            fds = [self.display.fileno()] + ([xinput.fileno()] if xinput else [])
            select.select(fds, [], [], min(remaining, 0.2))

    def sync_with(self, xinput: XInput) -> None:
        """Make sure everything xinput sent has reached the server and us."""
        xinput.display.sync()
        self.display.sync()
        self.drain()

    def typed_text(self) -> str:
        return "".join(k.char for k in self.keys if k.pressed and k.char is not None)

    def query_pointer(self) -> tuple[int, int]:
        reply = self.root.query_pointer()
        return reply.root_x, reply.root_y

    def read_property_text(self, window_property: int) -> bytes:
        prop = self.window.get_full_property(window_property, X.AnyPropertyType)
        return bytes(prop.value) if prop is not None else b""

    def root_resources(self) -> str:
        prop = self.root.get_full_property(Xatom.RESOURCE_MANAGER, X.AnyPropertyType)
        return prop.value.decode() if prop is not None else ""

    def clear(self) -> None:
        self.drain()
        self.keys.clear()
        self.buttons.clear()
        self.motions.clear()
        self.other.clear()

    def close(self) -> None:
        self.window.destroy()
        self.display.close()


@pytest.fixture
def xinput_factory(xvfb_display: str) -> Iterator[Callable[..., XInput]]:
    made: list[XInput] = []

    def make(config: InputConfig | None = None) -> XInput:
        instance = XInput(xvfb_display, config)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()


@pytest.fixture
def xinput(xinput_factory: Callable[..., XInput]) -> XInput:
    return xinput_factory()


@pytest.fixture
def recorder(xvfb_display: str) -> Iterator[XRecorder]:
    client = XRecorder(xvfb_display)
    yield client
    client.close()
