"""Signalling on /api/webrtc/signaling: the Selkies dialect and the GStreamer room dialect.

The first frame decides the dialect:

    HELLO client {"client_type": ...}   Selkies multi-user dialect (seed 000, PROTOCOL.md)
    HELLO <uid>                         GStreamer dialect: sessions and rooms (seed 002)

Every malformed or unexpected frame is answered with `ERROR <reason>` and the
socket stays usable. Each connection owns one sender task fed by a bounded queue
(see connection.py), so relaying never awaits another client.

Any send can overflow a queue and so drop its client in the middle of a loop
over a room or of a call into the server peer. Every entry point that changes
hub state is therefore an "operation": clients dropped during one are forgotten
only when it has finished, so loops see a stable room and the server peer never
hears a session end before it has heard the session start.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from .connection import (
    CLOSE_BAD_TOKEN,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_REJECTED,
    CLOSE_TOKEN_REVOKED,
    DEFAULT_QUEUE_BYTES,
    Connection,
    Transport,
)
from .server_peer import ServerPeer, SessionStart
from .tokens import Permissions, TokenStore
from .untrusted_json import JsonDecodeError, loads_untrusted

log = logging.getLogger(__name__)

MAX_HELLO_BYTES = 16 * 1024
_DISPLAY_POSITION = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass
class SignallingConfig:
    hello_timeout: float = 10.0
    max_frame_bytes: int = 256 * 1024
    send_queue: int = 256
    send_queue_bytes: int = DEFAULT_QUEUE_BYTES
    # A slot taken over again within this many seconds is a takeover storm.
    takeover_window: float = 2.0
    # Viewer slots a client may claim without a token: -1 (view only) and 2..4.
    viewer_slots: frozenset[int] = field(default_factory=lambda: frozenset({-1, 2, 3, 4}))


class SignallingError(Exception):
    """A frame the client sent is not acceptable; str() is the ERROR reason."""


def gamepad_claim(client_type: str, slot: int | None) -> int | None:
    """The gamepad slot a client holds exclusively: a viewer's 2-4 (1 is the controller's)."""
    return slot if client_type == "viewer" and slot is not None and slot > 1 else None


class SignallingHub:
    def __init__(
        self,
        server_peer: ServerPeer | None = None,
        tokens: TokenStore | None = None,
        config: SignallingConfig | None = None,
    ) -> None:
        self.config = config or SignallingConfig()
        self.tokens = tokens
        self.server_peer = server_peer
        self.clients: dict[str, Connection] = {}  # Selkies dialect, by peer id
        self.gst_peers: dict[str, Connection] = {}  # GStreamer dialect, by uid
        self.gst_sessions: dict[str, str] = {}
        self.rooms: dict[str, set[str]] = {}
        self._slot_holders: dict[int, Connection] = {}
        self._slot_taken_at: dict[int, float] = {}
        # Insertion-ordered, so "who came first" is defined when claims collide.
        self.connections: dict[Connection, None] = {}
        self._changed = trio.Event()
        self._operations = 0
        self._leaving: deque[Connection] = deque()
        if server_peer is not None:
            server_peer.attach(self)

    @property
    def secure(self) -> bool:
        return self.tokens is not None

    def slot_holder(self, slot: int) -> Connection | None:
        """The client holding gamepad slot `slot` (2-4), if any."""
        return self._slot_holders.get(slot)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds; it is re-checked after every frame and departure."""
        while not predicate():
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @contextmanager
    def _operation(self) -> Iterator[None]:
        self._operations += 1
        try:
            yield
        finally:
            self._operations -= 1
            if self._operations == 0:
                self._settle()

    def _leave(self, conn: Connection) -> None:
        """Connection.on_closing: forget `conn` now, or after the running operation."""
        self._leaving.append(conn)
        if self._operations == 0:
            self._settle()

    def _settle(self) -> None:
        # Forgetting one client can drop others (a ROOM_PEER_LEFT overflows); they
        # queue up behind it instead of being forgotten mid-loop.
        self._operations += 1
        try:
            while self._leaving:
                self._forget(self._leaving.popleft())
        finally:
            self._operations -= 1

    # ------------------------------------------------------------------ serving

    async def handle(self, transport: Transport, remote: str, token: str | None) -> None:
        """Serve one accepted WebSocket until it closes. Never raises for client errors."""
        conn = Connection(
            remote=remote,
            token=token,
            queue_size=self.config.send_queue,
            queue_bytes=self.config.send_queue_bytes,
            on_closing=self._leave,
        )
        self.connections[conn] = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(conn.run_sender, transport, nursery.cancel_scope)
                if self.tokens is not None:
                    conn.permissions = self.tokens.lookup(token) if token else None
                    if conn.permissions is None:
                        conn.close_nowait(CLOSE_BAD_TOKEN, "missing or invalid token")
                if not conn.closing:
                    await self._receive_loop(conn, transport)
                    # The client closed; our closing handshake reply is Hypercorn's job.
                    nursery.cancel_scope.cancel()
        finally:
            self._leave(conn)

    async def _receive_loop(self, conn: Connection, transport: Transport) -> None:
        with trio.move_on_after(self.config.hello_timeout):
            while conn.dialect is None and not conn.closing:
                self._dispatch(conn, await transport.receive())
        if conn.dialect is None:
            conn.close_nowait(
                CLOSE_POLICY, f"HELLO not received within {self.config.hello_timeout:g} s"
            )
            await trio.sleep_forever()  # the sender closes the socket and cancels us
        while True:
            self._dispatch(conn, await transport.receive())

    def _dispatch(self, conn: Connection, frame: str | bytes) -> None:
        if conn.closing:
            return
        try:
            with self._operation():
                self._dispatch_frame(conn, frame)
        finally:
            self._notify()

    def _dispatch_frame(self, conn: Connection, frame: str | bytes) -> None:
        try:
            if isinstance(frame, bytes):
                raise SignallingError("binary frames are not part of the signalling protocol")
            if len(frame) > self.config.max_frame_bytes or (
                len(frame.encode("utf-8", "surrogatepass")) > self.config.max_frame_bytes
            ):
                raise SignallingError(
                    f"frame exceeds the {self.config.max_frame_bytes} byte limit"
                )
            if conn.dialect is None:
                self._on_hello(conn, frame)
            elif conn.dialect == "selkies":
                self._on_selkies_frame(conn, frame)
            else:
                self._on_gst_frame(conn, frame)
        except SignallingError as error:
            log.info("signalling %s: %s", conn.label, error)
            conn.send_nowait(f"ERROR {error}")

    # ------------------------------------------------------------------ HELLO

    def _on_hello(self, conn: Connection, frame: str) -> None:
        if len(frame.encode("utf-8", "surrogatepass")) > MAX_HELLO_BYTES:
            raise SignallingError(f"HELLO exceeds {MAX_HELLO_BYTES} bytes")
        parts = frame.split(maxsplit=2)
        if not parts or parts[0] != "HELLO":
            raise SignallingError("expected HELLO first")
        if len(parts) == 3 and parts[1] == "client":
            self._selkies_hello(conn, parts[2])
        elif len(parts) == 2:
            self._gst_hello(conn, parts[1])
        else:
            raise SignallingError("expected 'HELLO client <json>' or 'HELLO <uid>'")

    def _selkies_hello(self, conn: Connection, meta_text: str) -> None:
        try:
            meta = loads_untrusted(meta_text)
        except JsonDecodeError as error:
            raise SignallingError(f"HELLO metadata is not JSON: {error}") from None
        if not isinstance(meta, dict):
            raise SignallingError("HELLO metadata must be a JSON object")
        client_type = meta.get("client_type", "controller")
        if client_type not in ("controller", "viewer"):
            raise SignallingError("client_type must be 'controller' or 'viewer'")
        slot = meta.get("client_slot", 1 if client_type == "controller" else -1)
        if slot is not None and type(slot) is not int:
            raise SignallingError("client_slot must be an integer or null")
        if meta.get("client_strict_viewer") is True:
            client_type, slot = "viewer", -1
        display_id = meta.get("display_id", "primary")
        if display_id not in ("primary", "display2"):
            raise SignallingError("display_id must be 'primary' or 'display2'")
        position = meta.get("display_position", "right")
        if not isinstance(position, str) or not _DISPLAY_POSITION.match(position):
            raise SignallingError("display_position must be a short word")

        if conn.permissions is not None:
            # Secure mode: the token decides, whatever the client claims.
            client_type, slot = conn.permissions.role, conn.permissions.slot
        elif (client_type == "viewer" and slot not in self.config.viewer_slots) or (
            client_type == "controller" and slot not in (1, None)
        ):
            conn.close_nowait(CLOSE_REJECTED, f"slot {slot} is not available, check the URL")
            return
        claim = gamepad_claim(client_type, slot)
        if claim is not None and not self._claim_slot(conn, claim):
            return

        conn.dialect = "selkies"
        conn.peer_id = f"client-{uuid.uuid4()}"
        conn.client_type = client_type
        conn.client_slot = slot
        conn.display_id = display_id
        conn.display_position = position
        self.clients[conn.peer_id] = conn
        conn.send_nowait("HELLO")
        log.info("signalling: %s joined as %s slot %s", conn.label, client_type, slot)

    def _claim_slot(self, conn: Connection, slot: int) -> bool:
        """Gamepad slots 2-4 have one holder; a newcomer takes over, but not in a storm."""
        now = trio.current_time()
        holder = self._slot_holders.get(slot)
        if holder is not None and not holder.closing:
            last = self._slot_taken_at.get(slot, -float("inf"))
            if now - last < self.config.takeover_window:
                conn.close_nowait(CLOSE_REJECTED, f"slot {slot} is changing hands too often")
                return False
            holder.close_nowait(CLOSE_REJECTED, f"slot {slot} was taken over by another client")
        self._slot_holders[slot] = conn
        self._slot_taken_at[slot] = now
        return True

    def _release_slots(self, conn: Connection) -> None:
        for slot, holder in list(self._slot_holders.items()):
            if holder is conn:
                del self._slot_holders[slot]

    # ------------------------------------------------------------------ Selkies dialect

    def _on_selkies_frame(self, conn: Connection, frame: str) -> None:
        server = self.server_peer
        if not conn.in_session:
            parts = frame.split()
            if parts[:1] != ["SESSION"] or len(parts) != 2:
                raise SignallingError("expected 'SESSION server'")
            if parts[1] != "server" and (server is None or parts[1] != server.peer_id):
                raise SignallingError("clients may only open a session with the server")
            if server is None:
                raise SignallingError("no server peer is available")
            conn.in_session = True
            conn.send_nowait(f"SESSION_OK {server.peer_id}")
            server.on_session_start(
                SessionStart(
                    client_id=conn.peer_id,
                    client_type=conn.client_type,
                    client_slot=conn.client_slot,
                    display_id=conn.display_id,
                    display_position=conn.display_position,
                    token=conn.token,
                    permissions=conn.permissions,
                )
            )
            return
        assert server is not None
        to_id, _, body = frame.partition(" ")
        if to_id != server.peer_id:
            raise SignallingError(f"unknown peer {to_id[:64]!r}: send '<server-id> <json>'")
        try:
            message = loads_untrusted(body)
        except JsonDecodeError as error:
            raise SignallingError(f"session message is not JSON: {error}") from None
        if not isinstance(message, dict) or not ({"sdp", "ice"} & message.keys()):
            raise SignallingError("session message must be a JSON object with 'sdp' or 'ice'")
        server.on_message(conn.peer_id, message)

    # MessageSink, for the server peer.
    def send(self, peer_id: str, message: dict[str, Any]) -> bool:
        conn = self.clients.get(peer_id)
        if conn is None or not conn.in_session or self.server_peer is None:
            return False
        with self._operation():
            return conn.send_nowait(f"{self.server_peer.peer_id} {json.dumps(message)}")

    def end_session(self, peer_id: str, reason: str) -> None:
        conn = self.clients.get(peer_id)
        if conn is not None:
            with self._operation():
                conn.close_nowait(CLOSE_NORMAL, reason[:120])

    # ------------------------------------------------------------------ GStreamer dialect

    def _gst_hello(self, conn: Connection, uid: str) -> None:
        if uid in self.gst_peers:
            raise SignallingError(f"peer id {uid[:64]!r} is already registered")
        if len(uid) > 256:
            raise SignallingError("peer id is longer than 256 characters")
        conn.dialect = "gst"
        conn.peer_id = uid
        self.gst_peers[uid] = conn
        conn.send_nowait("HELLO")

    def _on_gst_frame(self, conn: Connection, frame: str) -> None:
        if conn.status == "session":
            other = self.gst_peers[self.gst_sessions[conn.peer_id]]
            other.send_nowait(frame)
            return
        if conn.status is not None:
            self._on_room_frame(conn, conn.status, frame)
            return
        command, _, argument = frame.partition(" ")
        argument = argument.strip()
        if command == "SESSION":
            self._gst_session(conn, argument)
        elif command == "ROOM":
            self._gst_join_room(conn, argument)
        else:
            raise SignallingError(f"unknown command {command[:32]!r}: expected SESSION or ROOM")

    def _gst_session(self, conn: Connection, callee_id: str) -> None:
        callee = self.gst_peers.get(callee_id)
        if not callee_id or callee is None:
            raise SignallingError(f"peer {callee_id[:64]!r} not found")
        if callee is conn:
            raise SignallingError("cannot open a session with yourself")
        if callee.status is not None:
            raise SignallingError(f"peer {callee_id[:64]!r} busy")
        conn.status = callee.status = "session"
        self.gst_sessions[conn.peer_id] = callee_id
        self.gst_sessions[callee_id] = conn.peer_id
        conn.send_nowait("SESSION_OK")

    def _gst_join_room(self, conn: Connection, room_id: str) -> None:
        if not room_id or room_id == "session" or room_id.split() != [room_id]:
            raise SignallingError(f"invalid room id {room_id[:64]!r}")
        members = self.rooms.setdefault(room_id, set())
        # The seed formats "ROOM_OK {peers}": an empty room still ends with a space.
        conn.send_nowait("ROOM_OK " + " ".join(sorted(members)))
        for uid in sorted(members):
            member = self.gst_peers.get(uid)
            if member is not None:
                member.send_nowait(f"ROOM_PEER_JOINED {conn.peer_id}")
        members.add(conn.peer_id)
        conn.status = room_id

    def _on_room_frame(self, conn: Connection, room_id: str, frame: str) -> None:
        members = self.rooms[room_id]
        if frame.strip() == "ROOM_PEER_LIST":
            others = sorted(uid for uid in members if uid != conn.peer_id)
            conn.send_nowait("ROOM_PEER_LIST " + " ".join(others))
            return
        parts = frame.split(maxsplit=2)
        if parts[:1] != ["ROOM_PEER_MSG"]:
            # seeds/002's words, which its clients may match.
            raise SignallingError("invalid msg, already in room")
        if len(parts) != 3:
            raise SignallingError("expected 'ROOM_PEER_MSG <peer> <message>'")
        other_id, body = parts[1], parts[2]
        if other_id not in self.gst_peers:
            raise SignallingError(f"peer {other_id[:64]!r} not found")
        if other_id not in members:
            raise SignallingError(f"peer {other_id[:64]!r} is not in the room")
        self.gst_peers[other_id].send_nowait(f"ROOM_PEER_MSG {conn.peer_id} {body}")

    # ------------------------------------------------------------------ leaving

    def _forget(self, conn: Connection) -> None:
        """Drop every trace of a closing connection and tell whoever needs to know.

        Runs (through `_settle`) when the close is requested and again when the
        socket task ends; the second call finds nothing left to do.
        """
        if conn not in self.connections:
            return
        del self.connections[conn]
        self._release_slots(conn)
        if conn.dialect == "selkies" and self.clients.get(conn.peer_id) is conn:
            del self.clients[conn.peer_id]
            if conn.in_session and self.server_peer is not None:
                try:
                    self.server_peer.on_session_end(conn.peer_id, conn.client_type)
                except Exception:
                    log.exception("server peer failed on session end of %s", conn.label)
        elif conn.dialect == "gst" and self.gst_peers.get(conn.peer_id) is conn:
            del self.gst_peers[conn.peer_id]
            if conn.status == "session":
                other_id = self.gst_sessions.pop(conn.peer_id)
                self.gst_sessions.pop(other_id, None)
                other = self.gst_peers.get(other_id)
                if other is not None:
                    # The seed's contract: the call ends when either side leaves.
                    other.status = None
                    other.close_nowait(CLOSE_NORMAL, "session peer left")
            elif conn.status is not None:
                members = self.rooms.get(conn.status, set())
                members.discard(conn.peer_id)
                for uid in sorted(members):
                    member = self.gst_peers.get(uid)
                    if member is not None:
                        member.send_nowait(f"ROOM_PEER_LEFT {conn.peer_id}")
                if not members:
                    self.rooms.pop(conn.status, None)
        log.info("signalling: %s left", conn.label)
        conn.close_nowait(CLOSE_NORMAL, "")
        self._notify()

    # ------------------------------------------------------------------ tokens

    def apply_token_table(self, table: dict[str, Permissions]) -> tuple[int, int]:
        """Install a new token table; disconnect revoked clients, update changed ones."""
        if self.tokens is None:
            raise RuntimeError("token table applied without secure mode")
        with self._operation():
            return self._reconcile(self.tokens, table)

    def _reconcile(self, tokens: TokenStore, table: dict[str, Permissions]) -> tuple[int, int]:
        """Returns (clients disconnected, clients updated)."""
        live = [c.token for c in self.connections if c.token is not None and not c.closing]
        outcome = tokens.replace(table, live)
        disconnected = updated = 0
        changed: list[tuple[Connection, Permissions]] = []
        for conn in list(self.connections):
            if conn.token is None or conn.closing:
                continue
            if conn.token in outcome.revoked:
                conn.close_nowait(CLOSE_TOKEN_REVOKED, "token revoked")
                disconnected += 1
            elif conn.token in outcome.changed:
                changed.append((conn, outcome.changed[conn.token]))

        # Gamepad claims follow the new slots. Claims being left go first, so two
        # clients can swap slots in one table; a claim that stays is never lost to a
        # newcomer; when two clients are moved onto one slot the earlier one gets it.
        moving: list[tuple[Connection, int | None]] = []
        for conn, permissions in changed:
            new = gamepad_claim(permissions.role, permissions.slot)
            if conn.dialect == "selkies" and new != gamepad_claim(conn.client_type, conn.client_slot):
                moving.append((conn, new))
                self._release_slots(conn)
        now = trio.current_time()
        for conn, new in moving:
            if new is None:
                continue
            holder = self._slot_holders.get(new)
            if holder is not None and not holder.closing:
                conn.close_nowait(CLOSE_REJECTED, f"slot {new} is held by another client")
                disconnected += 1
                continue
            self._slot_holders[new] = conn
            self._slot_taken_at[new] = now

        for conn, permissions in changed:
            if conn.closing:
                continue
            conn.permissions = permissions
            if conn.dialect == "selkies":
                conn.client_type, conn.client_slot = permissions.role, permissions.slot
                conn.send_nowait(f"ROLE_UPDATE {json.dumps(permissions.to_json())}")
                if conn.in_session and self.server_peer is not None:
                    self.server_peer.on_permissions_changed(conn.peer_id, permissions)
            updated += 1
        return disconnected, updated
