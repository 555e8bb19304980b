"""CLIPBOARD selection in both directions (ICCCM section 2 "Peer-to-Peer
Communication by Means of Selections", XFixes SelectSelectionInput).

Server -> client: XFixes tells us whenever another client takes CLIPBOARD; we ask
the owner for TARGETS (when binary is enabled) or straight for UTF8_STRING,
read the converted property off our own window, and hand the bytes out as
`clipboard-msg` frames.

Client -> server: we take CLIPBOARD with our window and answer SelectionRequest
for TARGETS, UTF8_STRING, TEXT, STRING and text/plain (and the stored binary mime
type when enable_binary_clipboard is on).

Payloads that do not fit one X request move with the INCR protocol (ICCCM
2.7.2) in both directions. Everything is capped by InputConfig.clipboard_max_bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.ext import xfixes
from Xlib.protocol import event as xevent
from Xlib.protocol.rq import Event
from Xlib.xobject.drawable import Window

from . import server_messages
from .config import InputConfig

log = logging.getLogger(__name__)

TEXT_MIME = "text/plain"
_PROPERTY_NAME = "SELKIES_CLIPBOARD"


@dataclass
class _IncrOutgoing:
    """A selection we serve piecewise: the requestor deletes, we write the next piece."""

    data: bytes
    target: int
    offset: int = 0


@dataclass
class _IncrIncoming:
    target: int
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    overflow: bool = False


@dataclass(frozen=True)
class ClipboardContent:
    data: bytes
    mime_type: str

    @property
    def is_text(self) -> bool:
        return self.mime_type == TEXT_MIME


class X11Clipboard:
    def __init__(self, display: Display, window: Window, config: InputConfig) -> None:
        self._display = display
        self._window = window
        self._config = config
        atom = display.intern_atom
        self._clipboard = atom("CLIPBOARD")
        self._targets = atom("TARGETS")
        self._utf8 = atom("UTF8_STRING")
        self._text = atom("TEXT")
        self._text_plain = atom("text/plain")
        self._text_plain_utf8 = atom("text/plain;charset=utf-8")
        self._incr = atom("INCR")
        self._property = atom(_PROPERTY_NAME)
        self._text_targets = {
            self._utf8,
            self._text,
            Xatom.STRING,
            self._text_plain,
            self._text_plain_utf8,
        }
        # One X request carries at most this much property data (no BIG-REQUESTS);
        # anything larger is served with INCR in pieces of this size.
        self._incr_chunk = min(256 * 1024, display.display.info.max_request_length * 4 - 64)
        self._incr_out: dict[tuple[int, int], _IncrOutgoing] = {}
        self._incr_in: _IncrIncoming | None = None
        # Matched by code: python-xlib may load its xfixes module twice, so the
        # event classes it instantiates are not always the ones we can import.
        self._owner_notify_type = (
            display.query_extension("XFIXES").first_event + xfixes.XFixesSelectionNotify
        )
        self._owned: ClipboardContent | None = None
        self._last_seen: ClipboardContent | None = None
        if config.clipboard_out:
            display.xfixes_select_selection_input(
                window, self._clipboard, xfixes.XFixesSetSelectionOwnerNotifyMask
            )
            # Whatever is on the clipboard already is news to a fresh server.
            self._owner_changed(display.get_selection_owner(self._clipboard), X.CurrentTime)

    @property
    def last_seen(self) -> ClipboardContent | None:
        """The newest clipboard content read from the desktop."""
        return self._last_seen

    def set_from_client(self, data: bytes, mime_type: str = TEXT_MIME) -> bool:
        """Own CLIPBOARD with the client's content; False when config or caps refuse it."""
        if not self._config.clipboard_in:
            return False
        if mime_type != TEXT_MIME and not self._config.enable_binary_clipboard:
            log.info("binary clipboard (%s) refused: enable_binary_clipboard is off", mime_type)
            return False
        limit = self._config.clipboard_max_bytes
        if len(data) > limit:
            log.warning("client clipboard of %d bytes refused (cap %d)", len(data), limit)
            return False
        self._owned = ClipboardContent(data, mime_type)
        self._window.set_selection_owner(self._clipboard, X.CurrentTime)
        return True

    def request(self) -> list[str]:
        """`cr`: the last desktop clipboard, as frames to send."""
        if not self._config.clipboard_out or self._last_seen is None:
            return []
        return server_messages.clipboard(self._last_seen.data, self._last_seen.mime_type)

    def handle_x_event(self, event: Event) -> list[str]:
        """Consume one X event if it concerns the clipboard; returns frames to send."""
        if (
            event.type == self._owner_notify_type
            and event.sub_code == xfixes.XFixesSetSelectionOwnerNotify
        ):
            if event.selection == self._clipboard:
                self._owner_changed(event.owner, event.selection_timestamp)
            return []
        if event.type == X.SelectionRequest:
            self._serve(event)
            return []
        if event.type == X.SelectionClear and event.atom == self._clipboard:
            self._owned = None
            return []
        if event.type == X.SelectionNotify and event.requestor == self._window:
            return self._converted(event)
        if event.type == X.PropertyNotify:
            if event.window == self._window and event.atom == self._property:
                return self._incr_piece_arrived(event)
            self._incr_piece_taken(event)
        return []

    def _owner_changed(self, owner: Window | int, timestamp: int) -> None:
        owner_id = owner if isinstance(owner, int) else owner.id
        if owner_id in (X.NONE, self._window.id) or not self._config.clipboard_out:
            return
        target = self._targets if self._config.enable_binary_clipboard else self._utf8
        self._window.convert_selection(self._clipboard, target, self._property, timestamp)

    def _converted(self, event: Event) -> list[str]:
        if event.property == X.NONE:
            if event.target == self._targets:
                # An owner that cannot list its targets may still give us text.
                self._window.convert_selection(
                    self._clipboard, self._utf8, self._property, event.time
                )
            return []
        reply = self._window.get_full_property(self._property, X.AnyPropertyType)
        self._window.delete_property(self._property)
        if reply is None:
            return []
        if reply.property_type == self._incr:
            # Deleting the INCR property (done above) asks the owner for the first piece.
            self._incr_in = _IncrIncoming(event.target)
            return []
        if event.target == self._targets:
            self._choose_target([int(atom) for atom in reply.value], event.time)
            return []
        data = bytes(reply.value) if reply.format == 8 else b""
        return self._publish(data, event.target)

    def _publish(self, data: bytes, target: int) -> list[str]:
        if len(data) > self._config.clipboard_max_bytes:
            log.warning("desktop clipboard of %d bytes not sent (cap)", len(data))
            return []
        mime = TEXT_MIME
        if target not in self._text_targets:
            mime = self._display.get_atom_name(target)
        self._last_seen = ClipboardContent(data, mime)
        return server_messages.clipboard(data, mime)

    def _incr_piece_arrived(self, event: Event) -> list[str]:
        transfer = self._incr_in
        if transfer is None or event.state != X.PropertyNewValue:
            return []
        reply = self._window.get_full_property(self._property, X.AnyPropertyType)
        # Deleting the piece is the owner's cue to write the next one.
        self._window.delete_property(self._property)
        piece = bytes(reply.value) if reply is not None and reply.format == 8 else b""
        if piece:
            transfer.size += len(piece)
            if transfer.size > self._config.clipboard_max_bytes:
                # Keep taking pieces so the owner can finish, but hold none of them.
                transfer.overflow = True
                transfer.parts.clear()
            elif not transfer.overflow:
                transfer.parts.append(piece)
            return []
        self._incr_in = None
        if transfer.overflow:
            log.warning("desktop clipboard of %d bytes not sent (cap)", transfer.size)
            return []
        return self._publish(b"".join(transfer.parts), transfer.target)

    def _choose_target(self, offered: list[int], time: int) -> None:
        if self._utf8 in offered or not self._config.enable_binary_clipboard:
            target = self._utf8
        else:
            binary = [
                atom for atom in offered if "/" in (self._display.get_atom_name(atom) or "")
            ]
            target = binary[0] if binary else self._utf8
        self._window.convert_selection(self._clipboard, target, self._property, time)

    def _serve(self, request: Event) -> None:
        requestor = request.requestor
        # ICCCM 2.2: an obsolete requestor may leave property None; use the target.
        prop = request.property or request.target
        content = self._owned
        served = False
        if content is not None and request.selection == self._clipboard:
            served = self._write_target(requestor, prop, request.target, content)
        notify = xevent.SelectionNotify(
            time=request.time,
            requestor=requestor,
            selection=request.selection,
            target=request.target,
            property=prop if served else X.NONE,
        )
        requestor.send_event(notify)

    def _write_target(
        self, requestor: Window, prop: int, target: int, content: ClipboardContent
    ) -> bool:
        if target == self._targets:
            offered = [self._targets]
            if content.is_text:
                offered += sorted(self._text_targets)
            else:
                offered.append(self._display.intern_atom(content.mime_type))
            requestor.change_property(prop, Xatom.ATOM, 32, offered)
            return True
        if content.is_text and target in self._text_targets:
            data = content.data
            if target == Xatom.STRING:
                # STRING is Latin-1 by definition (ICCCM 2.7.1).
                data = content.data.decode("utf-8", "replace").encode("latin-1", "replace")
            self._write_data(requestor, prop, target, data)
            return True
        if not content.is_text and target == self._display.intern_atom(content.mime_type):
            self._write_data(requestor, prop, target, content.data)
            return True
        return False

    def _write_data(self, requestor: Window, prop: int, target: int, data: bytes) -> None:
        if len(data) <= self._incr_chunk:
            requestor.change_property(prop, target, 8, data)
            return
        # ICCCM 2.7.2: announce INCR with a lower bound on the size, then write one
        # piece each time the requestor deletes the property, ending with an empty one.
        requestor.change_attributes(event_mask=X.PropertyChangeMask)
        requestor.change_property(prop, self._incr, 32, [len(data)])
        self._incr_out[(requestor.id, prop)] = _IncrOutgoing(data, target)

    def _incr_piece_taken(self, event: Event) -> None:
        if event.state != X.PropertyDelete:
            return
        key = (event.window.id, event.atom)
        transfer = self._incr_out.get(key)
        if transfer is None:
            return
        piece = transfer.data[transfer.offset : transfer.offset + self._incr_chunk]
        transfer.offset += len(piece)
        event.window.change_property(event.atom, transfer.target, 8, piece)
        if not piece:
            del self._incr_out[key]
            event.window.change_attributes(event_mask=X.NoEventMask)
