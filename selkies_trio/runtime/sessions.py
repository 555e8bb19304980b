"""The session manager: the in-process server peer, one nursery per browser session.

Signalling calls arrive synchronously (see app/server_peer.py); they are turned
into messages on bounded channels and handled inside the manager's task tree:

    SessionManager.run()  nursery
     └─ one task per session  →  its own nursery (transport, media senders, ...)

A session that fails is logged with its client id and ended alone; nothing
escapes to the manager or the root.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

log = logging.getLogger(__name__)

# Signalling messages queued for one session before it is considered stuck.
SESSION_INBOX = 64


class Signalling(Protocol):
    def send(self, peer_id: str, message: dict[str, Any]) -> bool: ...

    def end_session(self, peer_id: str, reason: str) -> None: ...


@dataclass
class SessionContext:
    """What a session's runner gets: who it is, its signalling in and out."""

    client_id: str
    client_type: str
    info: Any
    messages: trio.MemoryReceiveChannel[dict[str, Any]]
    send_signal: Callable[[dict[str, Any]], bool]
    permissions: Any = None
    permission_changes: list[Any] = field(default_factory=list)


SessionRunner = Callable[[SessionContext], Awaitable[None]]


@dataclass
class _Session:
    context: SessionContext
    inbox: trio.MemorySendChannel[dict[str, Any]]
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


class SessionManager:
    """Implements the ServerPeer interface of the signalling hub."""

    def __init__(self, peer_id: str, runner: SessionRunner, max_sessions: int = 64) -> None:
        self.peer_id = peer_id
        self._runner = runner
        self._max_sessions = max_sessions
        self._sessions: dict[str, _Session] = {}
        self._start_send, self._start_receive = trio.open_memory_channel[_Session](max_sessions)
        self._signalling: Signalling | None = None
        # Told after any session's permissions change (the runtime re-derives input rights).
        self.permissions_listener: Callable[[], None] | None = None

    @property
    def session_ids(self) -> list[str]:
        return list(self._sessions)

    def contexts(self) -> list[SessionContext]:
        return [entry.context for entry in self._sessions.values()]

    # ServerPeer interface (synchronous, never blocks) --------------------

    def attach(self, signalling: Signalling) -> None:
        self._signalling = signalling

    def on_session_start(self, session: Any) -> None:
        if len(self._sessions) >= self._max_sessions:
            log.warning("refusing session %s: %d sessions already", session.client_id,
                        len(self._sessions))
            self._end(session.client_id, "server is full")
            return
        inbox_send, inbox_receive = trio.open_memory_channel[dict[str, Any]](SESSION_INBOX)
        client_id = session.client_id
        context = SessionContext(
            client_id=client_id,
            client_type=session.client_type,
            info=session,
            messages=inbox_receive,
            send_signal=lambda message: self._send(client_id, message),
            permissions=session.permissions,
        )
        entry = _Session(context, inbox_send)
        self._sessions[client_id] = entry
        try:
            self._start_send.send_nowait(entry)
        except trio.WouldBlock:
            del self._sessions[client_id]
            self._end(client_id, "server is busy")

    def on_message(self, client_id: str, message: dict[str, Any]) -> None:
        entry = self._sessions.get(client_id)
        if entry is None:
            return
        try:
            entry.inbox.send_nowait(message)
        except (trio.WouldBlock, trio.ClosedResourceError):
            log.warning("session %s is not consuming signalling; ending it", client_id)
            self._end(client_id, "signalling backlog")

    def on_session_end(self, client_id: str, client_type: str) -> None:
        entry = self._sessions.pop(client_id, None)
        if entry is not None:
            entry.scope.cancel()
            entry.inbox.close()

    def on_permissions_changed(self, client_id: str, permissions: Any) -> None:
        entry = self._sessions.get(client_id)
        if entry is not None:
            entry.context.permissions = permissions
            entry.context.permission_changes.append(permissions)
            if self.permissions_listener is not None:
                self.permissions_listener()

    # Task tree ------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for entry in self._start_receive:
                nursery.start_soon(self._run_session, entry)

    async def _run_session(self, entry: _Session) -> None:
        client_id = entry.context.client_id
        reason = "session ended"
        try:
            with entry.scope:
                await self._runner(entry.context)
        except Exception as error:
            reason = f"session failed: {type(error).__name__}"
            log.exception("session %s failed", client_id)
        finally:
            still_current = self._sessions.get(client_id) is entry
            if still_current:
                del self._sessions[client_id]
                self._end(client_id, reason)

    def _send(self, client_id: str, message: dict[str, Any]) -> bool:
        return self._signalling is not None and self._signalling.send(client_id, message)

    def _end(self, client_id: str, reason: str) -> None:
        if self._signalling is not None:
            self._signalling.end_session(client_id, reason)
