"""The in-process server peer of the Selkies signalling dialect.

Seed 000 ran the WebRTC side as a separate WebSocket client of the signalling
server. Here it lives in the same process, so the hub calls it directly and it
answers through `SignallingHub.send`. Every callback is synchronous and must not
block: the WebRTC runtime hands the work to the peer's own task group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from .tokens import Permissions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionStart:
    """A browser asked for a session with the server (`SESSION server`)."""

    client_id: str
    client_type: str
    client_slot: int | None
    display_id: str
    display_position: str
    token: str | None
    permissions: Permissions | None


class MessageSink(Protocol):
    def send(self, peer_id: str, message: dict[str, Any]) -> bool: ...

    def end_session(self, peer_id: str, reason: str) -> None: ...


class ServerPeer(Protocol):
    peer_id: str

    def attach(self, signalling: MessageSink) -> None: ...

    def on_session_start(self, session: SessionStart) -> None: ...

    def on_message(self, client_id: str, message: dict[str, Any]) -> None: ...

    def on_session_end(self, client_id: str, client_type: str) -> None: ...

    def on_permissions_changed(self, client_id: str, permissions: Permissions) -> None: ...


class LoggingServerPeer:
    """Used by `serve` until a media transport is wired in: logs and negotiates nothing."""

    def __init__(self, peer_id: str) -> None:
        self.peer_id = peer_id
        self.sessions: dict[str, SessionStart] = {}

    def attach(self, signalling: MessageSink) -> None:
        self._signalling = signalling

    def on_session_start(self, session: SessionStart) -> None:
        self.sessions[session.client_id] = session
        log.info("session start: %s (%s)", session.client_id, session.client_type)

    def on_message(self, client_id: str, message: dict[str, Any]) -> None:
        log.debug("message from %s: %s", client_id, sorted(message))

    def on_session_end(self, client_id: str, client_type: str) -> None:
        self.sessions.pop(client_id, None)
        log.info("session end: %s (%s)", client_id, client_type)

    def on_permissions_changed(self, client_id: str, permissions: Permissions) -> None:
        log.info("permissions of %s are now %s", client_id, permissions)


CANNED_OFFER_SDP = (
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 102\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=sendonly\r\n"
    "a=rtpmap:102 H264/90000\r\n"
)


@dataclass
class CannedOfferServerPeer:
    """Test double: answers every session with the same offer and records the rest."""

    peer_id: str
    started: list[SessionStart] = field(default_factory=list)
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ended: list[tuple[str, str]] = field(default_factory=list)
    permission_changes: list[tuple[str, Permissions]] = field(default_factory=list)

    def attach(self, signalling: MessageSink) -> None:
        self.signalling = signalling

    def on_session_start(self, session: SessionStart) -> None:
        self.started.append(session)
        self.signalling.send(
            session.client_id, {"sdp": {"type": "offer", "sdp": CANNED_OFFER_SDP}}
        )

    def on_message(self, client_id: str, message: dict[str, Any]) -> None:
        self.messages.append((client_id, message))

    def on_session_end(self, client_id: str, client_type: str) -> None:
        self.ended.append((client_id, client_type))

    def on_permissions_changed(self, client_id: str, permissions: Permissions) -> None:
        self.permission_changes.append((client_id, permissions))
