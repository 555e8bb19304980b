"""CLIPBOARD both ways between XInput and an independent python-xlib client."""

from __future__ import annotations

import base64
import json
import select
import time
from collections.abc import Callable
from typing import Any

from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.protocol import event as xevent

from selkies_trio.input import events as ev
from selkies_trio.input.config import InputConfig
from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.input.x11_input import XInput

CONTROLLER = ClientPermissions.controller("ctl")
WAIT = 5.0


class ClipboardPeer:
    """Another X client: owns CLIPBOARD with given targets, or reads CLIPBOARD."""

    def __init__(self, display_name: str) -> None:
        self.display = Display(display_name)
        self.window = self.display.screen().root.create_window(
            0, 0, 1, 1, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask
        )
        self.clipboard = self.display.intern_atom("CLIPBOARD")
        self.prop = self.display.intern_atom("PEER_CLIP")
        self.incr = self.display.intern_atom("INCR")
        self.offered: dict[int, tuple[int, bytes]] = {}
        self.replies: list[Any] = []
        self.incr_chunk = 100_000
        # (requestor id, property) -> (type, remaining data) being served with INCR
        self.serving: dict[tuple[int, int], tuple[Any, int, bytes]] = {}
        # target of an INCR transfer we are receiving, and its pieces so far
        self.receiving: tuple[int, list[bytes]] | None = None
        self.display.sync()

    def own(self, offered: dict[str, bytes]) -> None:
        self.offered = {
            self.display.intern_atom(name): (
                Xatom.STRING if name == "STRING" else self.display.intern_atom(name),
                data,
            )
            for name, data in offered.items()
        }
        self.window.set_selection_owner(self.clipboard, X.CurrentTime)
        self.display.sync()

    def convert(self, target: str) -> None:
        self.window.convert_selection(
            self.clipboard, self.display.intern_atom(target), self.prop, X.CurrentTime
        )
        self.display.flush()

    def _serve(self, request: Any) -> None:
        targets = self.display.intern_atom("TARGETS")
        prop = request.property
        if request.target == targets:
            request.requestor.change_property(prop, Xatom.ATOM, 32, [targets, *self.offered])
        elif request.target in self.offered:
            kind, data = self.offered[request.target]
            if len(data) > self.incr_chunk:
                request.requestor.change_attributes(event_mask=X.PropertyChangeMask)
                request.requestor.change_property(prop, self.incr, 32, [len(data)])
                self.serving[(request.requestor.id, prop)] = (request.requestor, kind, data)
            else:
                request.requestor.change_property(prop, kind, 8, data)
        else:
            prop = X.NONE
        request.requestor.send_event(
            xevent.SelectionNotify(
                time=request.time, requestor=request.requestor, selection=request.selection,
                target=request.target, property=prop,
            )
        )

    def drain(self) -> None:
        while self.display.pending_events():
            event = self.display.next_event()
            if event.type == X.SelectionRequest:
                self._serve(event)
            elif event.type == X.SelectionNotify:
                value = None
                if event.property != X.NONE:
                    reply = self.window.get_full_property(event.property, X.AnyPropertyType)
                    if reply is not None and reply.property_type == self.incr:
                        self.window.delete_property(event.property)
                        self.receiving = (event.target, [])
                        continue
                    value = reply
                self.replies.append((event.target, value))
            elif event.type == X.PropertyNotify:
                self._property_changed(event)
        self.display.flush()

    def _property_changed(self, event: Any) -> None:
        if (
            event.window == self.window and event.atom == self.prop
            and event.state == X.PropertyNewValue and self.receiving is not None
        ):
            reply = self.window.get_full_property(self.prop, X.AnyPropertyType)
            self.window.delete_property(self.prop)
            target, parts = self.receiving
            if reply.value:
                parts.append(bytes(reply.value))
            else:
                self.receiving = None
                self.replies.append((target, b"".join(parts)))
        elif event.state == X.PropertyDelete and (event.window.id, event.atom) in self.serving:
            requestor, kind, data = self.serving[(event.window.id, event.atom)]
            piece, rest = data[: self.incr_chunk], data[self.incr_chunk :]
            requestor.change_property(event.atom, kind, 8, piece)
            if piece:
                self.serving[(event.window.id, event.atom)] = (requestor, kind, rest)
            else:
                del self.serving[(event.window.id, event.atom)]

    def pump_until(
        self, predicate: Callable[[], bool], xinput: XInput, frames: list[str] | None = None
    ) -> bool:
        deadline = time.monotonic() + WAIT
        while True:
            self.drain()
            polled = xinput.poll()
            if frames is not None:
                frames.extend(polled)
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([self.display.fileno(), xinput.fileno()], [], [], min(remaining, 0.2))

    def close(self) -> None:
        self.display.close()


def clipboard_payloads(frames: list[str]) -> list[tuple[bytes, str]]:
    out = []
    for frame in frames:
        message = json.loads(frame)
        if message["type"] == "clipboard-msg":
            data = message["data"]
            out.append((base64.b64decode(data["content"]), data["mime_type"]))
    return out


def read_back(peer: ClipboardPeer, xinput: XInput, target: str) -> Any:
    peer.replies.clear()
    peer.convert(target)
    assert peer.pump_until(lambda: bool(peer.replies), xinput)
    return peer.replies[0][1]


def test_client_to_server_text_is_served_in_every_text_target(
    xinput: XInput, xvfb_display: str
) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        text = "héllo, жизнь → ✓"
        xinput.handle_message("cw," + base64.b64encode(text.encode()).decode(), CONTROLLER)
        for target in ("UTF8_STRING", "text/plain;charset=utf-8", "TEXT"):
            reply = read_back(peer, xinput, target)
            assert bytes(reply.value).decode("utf-8") == text
        latin = read_back(peer, xinput, "STRING")
        assert bytes(latin.value) == text.encode("latin-1", "replace")
        targets = read_back(peer, xinput, "TARGETS")
        names = {peer.display.get_atom_name(a) for a in targets.value}
        assert {"TARGETS", "UTF8_STRING", "STRING", "TEXT"} <= names
        # Binary targets are not offered for text.
        assert read_back(peer, xinput, "image/png") is None
    finally:
        peer.close()


def test_multipart_upload_is_reassembled(xinput: XInput, xvfb_display: str) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        text = ("multipart " * 500).encode()
        xinput.handle_message(f"cws,t1,{len(text)}", CONTROLLER)
        for start in range(0, len(text), 1000):
            chunk = base64.b64encode(text[start : start + 1000]).decode()
            xinput.handle_message(f"cwd,t1,{chunk}", CONTROLLER)
        xinput.handle_message("cwe,t1", CONTROLLER)
        assert bytes(read_back(peer, xinput, "UTF8_STRING").value) == text
    finally:
        peer.close()


def test_server_to_client_when_another_client_takes_the_clipboard(
    xinput: XInput, xvfb_display: str
) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        frames: list[str] = []
        peer.own({"UTF8_STRING": "from the desktop ✓".encode()})
        assert peer.pump_until(lambda: bool(clipboard_payloads(frames)), xinput, frames)
        assert clipboard_payloads(frames) == [("from the desktop ✓".encode(), "text/plain")]
        # `cr` answers with the same content.
        reply = xinput.handle(ev.ClipboardRequest(), CONTROLLER)
        assert clipboard_payloads(reply) == [("from the desktop ✓".encode(), "text/plain")]
        # A second change is a second message.
        peer.own({"UTF8_STRING": b"second"})
        assert peer.pump_until(lambda: len(clipboard_payloads(frames)) == 2, xinput, frames)
        assert clipboard_payloads(frames)[1] == (b"second", "text/plain")
    finally:
        peer.close()


def test_our_own_ownership_is_not_echoed_back(xinput: XInput, xvfb_display: str) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        frames: list[str] = []
        xinput.handle(ev.ClipboardText("from the browser"), CONTROLLER)
        peer.replies.clear()
        peer.convert("UTF8_STRING")
        assert peer.pump_until(lambda: bool(peer.replies), xinput, frames)
        assert bytes(peer.replies[0][1].value) == b"from the browser"
        assert clipboard_payloads(frames) == []
    finally:
        peer.close()


def test_binary_clipboard_needs_enable_binary(xinput_factory: Any, xvfb_display: str) -> None:
    png_bytes = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    peer = ClipboardPeer(xvfb_display)
    try:
        plain = xinput_factory(InputConfig())
        plain.handle(ev.ClipboardBinary("image/png", png_bytes), CONTROLLER)
        assert read_back(peer, plain, "image/png") is None
        plain.close()

        binary = xinput_factory(InputConfig(enable_binary_clipboard=True))
        binary.handle(ev.ClipboardBinary("image/png", png_bytes), CONTROLLER)
        assert bytes(read_back(peer, binary, "image/png").value) == png_bytes
        targets = read_back(peer, binary, "TARGETS")
        assert "image/png" in {peer.display.get_atom_name(a) for a in targets.value}

        frames: list[str] = []
        peer.own({"image/png": png_bytes})
        assert peer.pump_until(lambda: bool(clipboard_payloads(frames)), binary, frames)
        assert clipboard_payloads(frames) == [(png_bytes, "image/png")]
    finally:
        peer.close()


def test_clipboard_switches_are_honoured(xinput_factory: Any, xvfb_display: str) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        no_in = xinput_factory(InputConfig(clipboard_in_enabled=False))
        no_in.handle(ev.ClipboardText("must not arrive"), CONTROLLER)
        no_in.display.sync()
        owner = peer.display.get_selection_owner(peer.clipboard)
        assert owner == X.NONE or owner.id != no_in._window.id
        no_in.close()

        off = xinput_factory(InputConfig(clipboard_enabled=False, clipboard_out_enabled=True))
        frames: list[str] = []
        peer.own({"UTF8_STRING": b"secret"})
        # Pump a full round trip through the server before concluding nothing came.
        peer.replies.clear()
        peer.convert("UTF8_STRING")
        assert peer.pump_until(lambda: bool(peer.replies), off, frames)
        assert clipboard_payloads(frames) == []
        assert off.handle(ev.ClipboardRequest(), CONTROLLER) == []
    finally:
        peer.close()


def test_client_clipboard_over_the_cap_is_refused(xinput_factory: Any, xvfb_display: str) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        small = xinput_factory(InputConfig(clipboard_max_bytes=10))
        small.handle(ev.ClipboardText("0123456789-too-long"), CONTROLLER)
        assert read_back(peer, small, "UTF8_STRING") is None
    finally:
        peer.close()


def test_clipboard_present_at_start_is_sent(xinput_factory: Any, xvfb_display: str) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        peer.own({"UTF8_STRING": b"already there"})
        fresh = xinput_factory(InputConfig())
        frames: list[str] = []
        assert peer.pump_until(lambda: bool(clipboard_payloads(frames)), fresh, frames)
        assert clipboard_payloads(frames) == [(b"already there", "text/plain")]
    finally:
        peer.close()


def test_large_clipboards_move_with_incr_both_ways(xinput: XInput, xvfb_display: str) -> None:
    peer = ClipboardPeer(xvfb_display)
    try:
        big = ("0123456789abcdefghij ж\n" * 40_000).encode()
        assert len(big) > 600_000
        # client -> server: XInput serves it to the peer piecewise
        xinput.handle(ev.ClipboardText(big.decode()), CONTROLLER)
        assert read_back(peer, xinput, "UTF8_STRING") == big
        # server -> client: the peer owns it and serves it piecewise to XInput
        frames: list[str] = []
        peer.own({"UTF8_STRING": big[::-1]})
        assert peer.pump_until(
            lambda: any(json.loads(f)["type"] == "clipboard-msg-end" for f in frames),
            xinput, frames,
        )
        chunks = [json.loads(f)["data"] for f in frames if json.loads(f)["type"] == "clipboard-msg-data"]
        assert b"".join(base64.b64decode(c["content"]) for c in chunks) == big[::-1]
    finally:
        peer.close()
