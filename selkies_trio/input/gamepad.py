"""Virtual gamepads: browser Gamepad API events -> Linux uinput devices.

The browser reports the W3C "standard gamepad" layout (buttons 0..16, axes 0..3);
`GamepadEncoder` (pure) turns its events into Linux input events
(linux/input-event-codes.h), `UinputGamepad` writes them to a device created on
/dev/uinput (linux/uinput.h, legacy uinput_user_dev setup). `GamepadRouter`
keeps one pad per slot and, where /dev/uinput cannot be opened, logs once why
gamepads are unavailable and drops their events. A pad whose device fails a write
(or its destruction) is that pad's problem alone: the router contains the OSError,
so it never reaches the X input layer, where an OSError means the X connection died.

    struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; }
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from collections.abc import Callable
from typing import Protocol

from . import events as ev

log = logging.getLogger(__name__)

EV_SYN, EV_KEY, EV_ABS = 0x00, 0x01, 0x03
SYN_REPORT = 0
ABS_X, ABS_Y, ABS_Z, ABS_RX, ABS_RY, ABS_RZ = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
ABS_HAT0X, ABS_HAT0Y = 0x10, 0x11
BTN_SOUTH, BTN_EAST, BTN_NORTH, BTN_WEST = 0x130, 0x131, 0x133, 0x134
BTN_TL, BTN_TR, BTN_SELECT, BTN_START, BTN_MODE = 0x136, 0x137, 0x13A, 0x13B, 0x13C
BTN_THUMBL, BTN_THUMBR = 0x13D, 0x13E

# Standard-gamepad button index -> key code; 6/7 are analogue triggers and
# 12..15 the d-pad, which Linux pads report as axes.
BUTTON_KEYS = {
    0: BTN_SOUTH, 1: BTN_EAST, 2: BTN_WEST, 3: BTN_NORTH, 4: BTN_TL, 5: BTN_TR,
    8: BTN_SELECT, 9: BTN_START, 10: BTN_THUMBL, 11: BTN_THUMBR, 16: BTN_MODE,
}
TRIGGER_AXES = {6: ABS_Z, 7: ABS_RZ}
DPAD = {12: (ABS_HAT0Y, -1), 13: (ABS_HAT0Y, 1), 14: (ABS_HAT0X, -1), 15: (ABS_HAT0X, 1)}
STICK_AXES = {0: ABS_X, 1: ABS_Y, 2: ABS_RX, 3: ABS_RY}
STICK_RANGE = (-32768, 32767)
TRIGGER_RANGE = (0, 255)
HAT_RANGE = (-1, 1)

InputEvent = tuple[int, int, int]


def input_event_bytes(event_type: int, code: int, value: int) -> bytes:
    """One struct input_event; a zero timestamp lets the kernel stamp it."""
    return struct.pack("llHHi", 0, 0, event_type, code, value)


class GamepadEncoder:
    """Stateful (the d-pad is two buttons per hat axis) mapping of one pad's events."""

    def __init__(self) -> None:
        self._dpad_pressed: set[int] = set()

    def encode(self, event: ev.GamepadButton | ev.GamepadAxis) -> list[InputEvent]:
        out: list[InputEvent] = []
        if isinstance(event, ev.GamepadAxis):
            code = STICK_AXES.get(event.axis)
            if code is not None:
                low, high = STICK_RANGE
                out.append((EV_ABS, code, round(low + (event.value + 1) / 2 * (high - low))))
        elif event.button in BUTTON_KEYS:
            out.append((EV_KEY, BUTTON_KEYS[event.button], 1 if event.value >= 0.5 else 0))
        elif event.button in TRIGGER_AXES:
            out.append((EV_ABS, TRIGGER_AXES[event.button], round(event.value * TRIGGER_RANGE[1])))
        elif event.button in DPAD:
            axis, _ = DPAD[event.button]
            if event.value >= 0.5:
                self._dpad_pressed.add(event.button)
            else:
                self._dpad_pressed.discard(event.button)
            position = sum(d for b, (a, d) in DPAD.items() if a == axis and b in self._dpad_pressed)
            out.append((EV_ABS, axis, position))
        if out:
            out.append((EV_SYN, SYN_REPORT, 0))
        return out


class VirtualPad(Protocol):
    def emit(self, events: list[InputEvent]) -> None: ...

    def close(self) -> None: ...


# ioctl numbers of linux/uinput.h: _IOW('U', 100..103, int) and _IO('U', 1..2)
UI_SET_EVBIT, UI_SET_KEYBIT, UI_SET_ABSBIT = 0x40045564, 0x40045565, 0x40045567
UI_DEV_CREATE, UI_DEV_DESTROY = 0x5501, 0x5502
ABS_CNT = 64
BUS_VIRTUAL = 0x06


class UinputGamepad:
    def __init__(self, name: str, path: str = "/dev/uinput") -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            fcntl.ioctl(self._fd, UI_SET_EVBIT, EV_KEY)
            fcntl.ioctl(self._fd, UI_SET_EVBIT, EV_ABS)
            for key in BUTTON_KEYS.values():
                fcntl.ioctl(self._fd, UI_SET_KEYBIT, key)
            ranges: dict[int, tuple[int, int]] = {code: STICK_RANGE for code in STICK_AXES.values()}
            ranges.update({code: TRIGGER_RANGE for code in TRIGGER_AXES.values()})
            ranges.update({ABS_HAT0X: HAT_RANGE, ABS_HAT0Y: HAT_RANGE})
            for code in ranges:
                fcntl.ioctl(self._fd, UI_SET_ABSBIT, code)
            absmax = [0] * ABS_CNT
            absmin = [0] * ABS_CNT
            for code, (low, high) in ranges.items():
                absmin[code], absmax[code] = low, high
            setup = struct.pack("80sHHHHI", name.encode()[:79], BUS_VIRTUAL, 0x045E, 0x028E, 1, 0)
            setup += struct.pack(f"{ABS_CNT}i", *absmax) + struct.pack(f"{ABS_CNT}i", *absmin)
            setup += bytes(ABS_CNT * 4 * 2)
            os.write(self._fd, setup)
            fcntl.ioctl(self._fd, UI_DEV_CREATE)
        except OSError:
            os.close(self._fd)
            raise

    def emit(self, events: list[InputEvent]) -> None:
        os.write(self._fd, b"".join(input_event_bytes(*event) for event in events))

    def close(self) -> None:
        try:
            fcntl.ioctl(self._fd, UI_DEV_DESTROY)
        finally:
            os.close(self._fd)


def uinput_unavailable_reason(path: str = "/dev/uinput") -> str | None:
    """Why virtual gamepads cannot be created here, or None if they can."""
    if not os.path.exists(path):
        return f"{path} does not exist (load the uinput module or pass the device in)"
    if not os.access(path, os.W_OK):
        return f"{path} is not writable by uid {os.getuid()}"
    return None


PadFactory = Callable[[int, str], VirtualPad]
MAX_PADS = 4


class GamepadRouter:
    """One virtual pad per slot; events arrive already mapped to a pad index.

    A pad belongs to the clients that connected it (a controller's first pad and
    player 1's are the same pad); it is destroyed when the last of them
    disconnects it or leaves, so no device outlives its players.
    """

    def __init__(
        self,
        factory: PadFactory | None = None,
        unavailable_reason: Callable[[], str | None] = uinput_unavailable_reason,
    ) -> None:
        self._factory: PadFactory = factory or (lambda index, name: UinputGamepad(name))
        self._reason = unavailable_reason
        # Pads with a working device; `_users` also lists pads whose device failed
        # (`_failed`), which stay claimed, without a device, until their players leave.
        self._pads: dict[int, tuple[VirtualPad, GamepadEncoder]] = {}
        self._users: dict[int, set[str]] = {}
        self._failed: set[int] = set()
        self._logged_unavailable = False
        # Devices taken down because a write failed, and the events meant for them since.
        self.write_failures = 0
        self.events_dropped = 0

    @property
    def connected(self) -> frozenset[int]:
        return frozenset(self._pads)

    def _available(self) -> bool:
        reason = self._reason()
        if reason is None:
            return True
        if not self._logged_unavailable:
            log.warning("gamepads unavailable: %s", reason)
            self._logged_unavailable = True
        return False

    def handle(self, event: ev.GamepadEvent, pad_index: int, client_id: str = "") -> None:
        if not 0 <= pad_index < MAX_PADS:
            return
        if isinstance(event, ev.GamepadConnect):
            # A pad whose device failed gets a new one when a player connects it again.
            if pad_index in self._pads:
                self._users[pad_index].add(client_id)
                return
            if not self._available():
                return
            try:
                pad = self._factory(pad_index, f"Selkies Controller {pad_index + 1}")
            except OSError as exc:
                log.warning("gamepad %d not created: %s", pad_index + 1, exc)
                return
            self._pads[pad_index] = (pad, GamepadEncoder())
            self._failed.discard(pad_index)
            self._users.setdefault(pad_index, set()).add(client_id)
        elif isinstance(event, ev.GamepadDisconnect):
            self._leave(pad_index, client_id)
        elif isinstance(event, ev.GamepadButton | ev.GamepadAxis):
            if pad_index in self._failed:
                self.events_dropped += 1
                return
            entry = self._pads.get(pad_index)
            if entry is not None:
                pad, encoder = entry
                events = encoder.encode(event)
                if events:
                    try:
                        pad.emit(events)
                    except OSError as exc:
                        self._take_down(pad_index, exc)

    def _take_down(self, pad_index: int, error: OSError) -> None:
        """The pad's device refused a write (gone, revoked, full): destroy it, so that
        no button stays held on it, and drop its events until it is connected again.
        Said once: later events never reach the device, so they cannot fail again."""
        self.write_failures += 1
        self._failed.add(pad_index)
        pad, _ = self._pads.pop(pad_index)
        log.warning("gamepad %d unavailable: writing to its device failed: %s; its input is "
                    "dropped until it is connected again", pad_index + 1, error)
        _close_pad(pad, pad_index)

    def _leave(self, pad_index: int, client_id: str) -> None:
        users = self._users.get(pad_index)
        if users is None:
            return
        users.discard(client_id)
        if users:
            return
        del self._users[pad_index]
        self._failed.discard(pad_index)
        entry = self._pads.pop(pad_index, None)
        if entry is not None:
            _close_pad(entry[0], pad_index)

    def forget_client(self, client_id: str) -> None:
        """The client is gone: destroy the pads nobody else connected."""
        for pad_index in [i for i, users in self._users.items() if client_id in users]:
            self._leave(pad_index, client_id)

    def close(self) -> None:
        for pad_index, (pad, _) in self._pads.items():
            _close_pad(pad, pad_index)
        self._pads.clear()
        self._users.clear()
        self._failed.clear()


def _close_pad(pad: VirtualPad, pad_index: int) -> None:
    try:
        pad.close()
    except OSError as exc:
        # The device is gone either way; the other pads and the caller carry on.
        log.warning("gamepad %d: destroying its device failed: %s", pad_index + 1, exc)
