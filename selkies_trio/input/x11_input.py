"""The X11 side of remote input: one object the runtime drives from a worker thread.

python-xlib blocks, so everything here is plain synchronous methods; the runtime
calls them from one thread at a time (a single `trio.to_thread` worker with a
CapacityLimiter of 1), calls `poll()` when `fileno()` becomes readable, after
every batch of `handle()` calls (python-xlib may have queued events while it
waited for a reply, and those no longer make the socket readable) and at
`next_deadline()` (held-key sweep), and calls `forget_client()` when a client
goes away, which releases the keys, buttons and gamepads it held.

Frames returned by `handle` are for the client that sent the event; frames
returned by `poll_split` are cursor changes for every client and clipboard
changes for the clients allowed the clipboard. Events that belong to the runtime
(media, telemetry, the stream's settings) are ignored here; of `SETTINGS` only
`scaling_dpi` is the desktop's.
"""

from __future__ import annotations

import logging
import time

from Xlib import X
from Xlib.display import Display
from Xlib.error import XError

from . import events as ev
from . import permissions, server_messages
from .clipboard_transfer import ClipboardAssembler
from .commands import CommandRunner
from .config import InputConfig
from .gamepad import GamepadRouter
from .protocol import InputProtocolError, parse_client_message_untrusted
from .x11_clipboard import X11Clipboard
from .x11_cursor import X11Cursor
from .x11_display import X11DisplayControl, dpi_for_scale
from .x11_keyboard import X11Keyboard
from .x11_pointer import X11Pointer

log = logging.getLogger(__name__)


class XInput:
    def __init__(
        self,
        display_name: str | None = None,
        config: InputConfig | None = None,
        *,
        gamepads: GamepadRouter | None = None,
        commands: CommandRunner | None = None,
    ) -> None:
        """`gamepads` and `commands`, when given, belong to the caller, so that pads
        and started programs can outlive this X connection; otherwise `close`
        ends them."""
        self.config = config or InputConfig()
        self.display = Display(display_name)
        for extension in ("XTEST", "XFIXES"):
            if not self.display.has_extension(extension):
                self.display.close()
                raise RuntimeError(f"X server {display_name} lacks the {extension} extension")
        # XFixes answers nothing but QueryVersion until a client has announced its version.
        self.display.xfixes_query_version()
        root = self.display.screen().root
        # An unmapped 1x1 window owns CLIPBOARD and receives converted selections.
        self._window = root.create_window(
            -10, -10, 1, 1, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask
        )
        self.keyboard = X11Keyboard(self.display)
        self.pointer = X11Pointer(self.display)
        self.clipboard = X11Clipboard(self.display, self._window, self.config)
        self.cursor = X11Cursor(self.display)
        self.screen = X11DisplayControl(self.display)
        self._owns_gamepads = gamepads is None
        self.gamepads = gamepads or GamepadRouter()
        self._owns_commands = commands is None
        self._commands = commands or CommandRunner(display_name)
        self._assemblers: dict[str, ClipboardAssembler] = {}
        self._closed = False
        self._said_gamepads_disabled = False
        self.display.flush()

    def fileno(self) -> int:
        return int(self.display.fileno())

    def handle_message(
        self, message: str | bytes, client: permissions.ClientPermissions, now: float | None = None
    ) -> list[str]:
        """Parse and handle one client frame; malformed frames are logged and dropped."""
        try:
            event = parse_client_message_untrusted(message)
        except InputProtocolError as exc:
            log.info("dropped frame from %s: %s", client.client_id, exc)
            return []
        return self.handle(event, client, now)

    def handle(
        self, event: ev.InputEvent, client: permissions.ClientPermissions, now: float | None = None
    ) -> list[str]:
        """Apply one event if `client` may send it; returns frames for that client."""
        verdict = permissions.check(event, client, command_enabled=self.config.command_enabled)
        if not verdict.allowed:
            log.info("refused %s from %s: %s", type(event).__name__, client.client_id, verdict.reason)
            return []
        if verdict.own_view_only:
            # A viewer's SETTINGS are for its own page; the shared desktop stays as it is.
            return []
        now = time.monotonic() if now is None else now
        try:
            return self._apply(event, client, now)
        except XError as exc:
            # A window that vanished mid-request and the like: this event is lost,
            # the connection and every other client's input are not. An OSError is
            # not caught: here it means the X socket failed, and the runtime must
            # reconnect (virtual gamepads, which write to devices, contain their own).
            log.warning("X error applying %s from %s: %s", type(event).__name__, client.client_id, exc)
            return []
        finally:
            self.display.flush()

    def _apply(
        self, event: ev.InputEvent, client: permissions.ClientPermissions, now: float
    ) -> list[str]:
        match event:
            case ev.PointerMotion():
                self.pointer.apply(event, client.client_id)
            case ev.KeyDown(keysym):
                self.keyboard.press(keysym, now, client.client_id)
            case ev.KeyUp(keysym):
                self.keyboard.release(keysym, client.client_id)
            case ev.ReleaseAllKeys():
                self.keyboard.release_all(client.client_id)
            case ev.HeldKeysHeartbeat(keysyms):
                self.keyboard.heartbeat(keysyms, now, client.client_id)
            case ev.ComposedText(text):
                self.keyboard.type_text(text)
            case ev.ClipboardText(text):
                self.clipboard.set_from_client(text.encode("utf-8"))
            case ev.ClipboardBinary(mime_type, data):
                self.clipboard.set_from_client(data, mime_type)
            case ev.ClipboardMultipartStart() | ev.ClipboardMultipartData() | ev.ClipboardMultipartEnd():
                return self._multipart(event, client)
            case ev.ClipboardRequest():
                return self.clipboard.request()
            case ev.Resize(width, height):
                return self._resize(width, height)
            case ev.Scale(scale):
                self._scale(scale)
            case ev.SettingsUpdate(values) if "scaling_dpi" in values:
                self._settings_dpi(values["scaling_dpi"])
            case ev.GamepadConnect() | ev.GamepadDisconnect() | ev.GamepadButton() | ev.GamepadAxis() | ev.GamepadHeartbeat():
                if not self.config.gamepad_enabled:
                    if not self._said_gamepads_disabled:
                        log.info("js messages ignored: gamepads are disabled "
                                 "(SELKIES_GAMEPAD_ENABLED is false)")
                        self._said_gamepads_disabled = True
                    return []
                pad = permissions.gamepad_pad_index(event, client)
                if pad is not None:
                    self.gamepads.handle(event, pad, client.client_id)
            case ev.RunCommand(command):
                ok, text = self._commands.run(command, client.client_id)
                action = f"command_done,{text}" if ok else f"command_error,{text}"
                return [server_messages.system(action)]
            case _:
                pass
        return []

    def _multipart(
        self,
        event: ev.ClipboardMultipartStart | ev.ClipboardMultipartData | ev.ClipboardMultipartEnd,
        client: permissions.ClientPermissions,
    ) -> list[str]:
        assembler = self._assemblers.setdefault(
            client.client_id, ClipboardAssembler(self.config.clipboard_max_bytes)
        )
        try:
            complete = assembler.receive(event)
        except InputProtocolError as exc:
            log.info("clipboard upload from %s dropped: %s", client.client_id, exc)
            return []
        if isinstance(complete, ev.ClipboardText):
            self.clipboard.set_from_client(complete.text.encode("utf-8"))
        elif isinstance(complete, ev.ClipboardBinary):
            self.clipboard.set_from_client(complete.data, complete.mime_type)
        return []

    def _resize(self, width: int, height: int) -> list[str]:
        if self.config.is_manual_resolution_mode:
            log.info("resize to %dx%d ignored: manual resolution mode", width, height)
            return []
        result = self.screen.resize(width, height)
        if result is None:
            return []
        log.info("X screen resized to %dx%d (asked for %dx%d)",
                 result.width, result.height, width, height)
        return [server_messages.system(f"resolution,{result.width}x{result.height}")]

    def _scale(self, scale: float) -> None:
        """`s,<ratio>`: Xft.dpi follows the page's device-pixel ratio, unless the
        operator locked SELKIES_SCALING_DPI. The page sends `s,` with every resize, so
        obeying it would undo the locked value as soon as a controller connects."""
        if self.config.scaling_dpi_locked:
            log.debug("s,%g ignored: scaling_dpi is locked to %d", scale, self.config.scaling_dpi)
            return
        self.screen.set_dpi(dpi_for_scale(scale))

    def _settings_dpi(self, dpi: object) -> None:
        """`SETTINGS` `scaling_dpi`: like `s,`, refused while the setting is locked; and
        only one of the DPIs the setting offers. (The stream's keys of `SETTINGS` are
        the runtime's media control.)"""
        if type(dpi) is not int:
            log.info("SETTINGS scaling_dpi=%r ignored: not an integer", dpi)
            return
        if self.config.scaling_dpi_locked:
            if dpi != self.config.scaling_dpi:
                log.info("SETTINGS scaling_dpi=%d refused: SELKIES_SCALING_DPI is locked to %d",
                         dpi, self.config.scaling_dpi)
            return
        allowed = self.config.scaling_dpi_allowed
        if allowed and dpi not in allowed:
            log.info("SETTINGS scaling_dpi=%d refused: SELKIES_SCALING_DPI allows %s",
                     dpi, ", ".join(map(str, allowed)))
            return
        self.screen.set_dpi(dpi)

    def apply_initial_dpi(self) -> None:
        """Publish the configured scaling_dpi (SELKIES_SCALING_DPI) as Xft.dpi."""
        self.screen.set_dpi(self.config.scaling_dpi)

    def apply_manual_resolution(self) -> None:
        """In manual resolution mode the screen has the manual size, whatever clients ask."""
        if self.config.is_manual_resolution_mode:
            self.screen.resize(*self.config.manual_size)

    def poll(self, now: float | None = None) -> list[str]:
        """Process pending X events and housekeeping; returns every frame they produced."""
        everyone, clipboard = self.poll_split(now)
        return everyone + clipboard

    def poll_split(self, now: float | None = None) -> tuple[list[str], list[str]]:
        """Like `poll`: (frames for every client, clipboard frames).

        Clipboard frames are only for clients `permissions.may_use_clipboard`.
        """
        now = time.monotonic() if now is None else now
        self.keyboard.release_stale(now, self.config.held_key_timeout)
        self._commands.reap()
        everyone: list[str] = []
        clipboard: list[str] = []
        # Last, and until pending_events() (which flushes and reads what the socket
        # has) finds nothing: an event python-xlib reads while it waits for a reply
        # or flushes sits in its queue and no longer makes the socket readable, so
        # it would wait for the next unrelated wake-up.
        while self.display.pending_events():
            event = self.display.next_event()
            if event.type == X.MappingNotify and event.request == X.MappingKeyboard:
                self.keyboard.reload_keymap()
                continue
            try:
                clipboard += self.clipboard.handle_x_event(event)
                everyone += self.cursor.handle_x_event(event)
            except XError as exc:
                log.warning("X error handling %s: %s", type(event).__name__, exc)
        return everyone, clipboard

    def next_deadline(self) -> float | None:
        """When `poll` next has housekeeping to do without any X event (time.monotonic)."""
        return self.keyboard.next_stale_at(self.config.held_key_timeout)

    def release_all(self) -> None:
        """Release every key and button, whoever holds them."""
        self.keyboard.release_all()
        self.pointer.release_all()
        self.display.flush()

    def forget_client(self, client_id: str) -> None:
        """The client disconnected: release the keys, buttons and gamepads it held
        (not those another client holds too) and drop its state (sequence numbers,
        half-done uploads)."""
        self._assemblers.pop(client_id, None)
        self.gamepads.forget_client(client_id)
        self.keyboard.forget_client(client_id)
        self.pointer.release_client(client_id)
        self.pointer.forget_client(client_id)
        self.display.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._owns_gamepads:
                self.gamepads.close()
            if self._owns_commands:
                self._commands.stop()
            self.release_all()
            self.keyboard.restore_keymap()
            self.display.sync()
        finally:
            self.display.close()
