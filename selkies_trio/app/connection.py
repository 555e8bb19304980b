"""One signalling WebSocket: a bounded outbound queue drained by a single sender task.

Everything that wants to talk to a client calls `send_nowait`, from any task and
without awaiting, so a client that stops reading can never stall the sender of
the message. Order is kept because exactly one task writes to the socket. When
the queue overflows, by frame count or by bytes, the client is dropped: it is
not keeping up, and holding more for it would only grow memory. The byte bound
matters because frames can be large: 256 relayed 256 KiB frames would be 64 MiB
held for one stuck client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from .tokens import Permissions

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY = 1008
CLOSE_REJECTED = 4000
CLOSE_BAD_TOKEN = 4001
CLOSE_TOKEN_REVOKED = 4002

# Time allowed to hand a close frame to a client that may not be reading.
CLOSE_SEND_TIMEOUT = 2.0

DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024


def _wire_size(text: str) -> int:
    # isascii() is O(1) in CPython, so the common case costs no copy.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Transport(Protocol):
    """What the hub needs from a WebSocket (Quart's websocket object fits)."""

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


@dataclass(eq=False)
class Connection:
    """State of one signalling client, whatever its dialect."""

    remote: str
    token: str | None = None
    permissions: Permissions | None = None
    # What may wait for a slow client, in frames and in UTF-8 bytes; beyond either
    # it is dropped.
    queue_size: int = 256
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    # Filled in by HELLO.
    dialect: str | None = None
    peer_id: str = ""
    client_type: str = ""
    client_slot: int | None = None
    display_id: str = "primary"
    display_position: str = "right"
    # GStreamer dialect: None, "session" or the room id.
    status: str | None = None
    in_session: bool = False
    close_code: int | None = None
    close_reason: str = ""
    # Called once when a close is requested, so the hub forgets the client at once:
    # Hypercorn shields socket writes, and a client that stops reading can hold its
    # socket task until its TCP connection dies.
    on_closing: Callable[[Connection], None] | None = None

    def __post_init__(self) -> None:
        self._send_channel, self._receive_channel = trio.open_memory_channel[str](self.queue_size)
        self._closing = trio.Event()
        # Bytes queued and not yet written, the frame being written included.
        self.queued_bytes = 0

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def send_nowait(self, text: str) -> bool:
        """Queue a frame; drop the client if it is not keeping up."""
        if self._closing.is_set():
            return False
        size = _wire_size(text)
        if self.queued_bytes + size <= self.queue_bytes:
            try:
                self._send_channel.send_nowait(text)
            except trio.WouldBlock:
                pass
            else:
                self.queued_bytes += size
                return True
        log.warning("signalling client %s is not reading; dropping it", self.label)
        self.close_nowait(CLOSE_POLICY, "client is not reading its messages")
        return False

    def close_nowait(self, code: int, reason: str) -> None:
        """Ask the connection to close; frames already queued are still sent first."""
        if self._closing.is_set():
            return
        self.close_code = code
        self.close_reason = reason
        self._closing.set()
        if self.on_closing is not None:
            self.on_closing(self)

    @property
    def label(self) -> str:
        return f"{self.peer_id or '(no HELLO yet)'}@{self.remote}"

    async def run_sender(self, transport: Transport, done: trio.CancelScope) -> None:
        """Drain the queue into the socket; on close, flush what is queued, then close."""
        drained = trio.Event()

        async def drain() -> None:
            try:
                async for text in self._receive_channel:
                    await transport.send(text)
                    self.queued_bytes -= _wire_size(text)
            except Exception as error:  # the socket went away under us
                log.debug("sending to %s failed: %r", self.label, error)
                self.close_nowait(CLOSE_NORMAL, "")
            finally:
                drained.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            await self._closing.wait()
            # Queued frames go out first (an ERROR before the close, say), but a client
            # that does not read gets only a bounded wait.
            self._send_channel.close()
            with trio.move_on_after(CLOSE_SEND_TIMEOUT):
                await drained.wait()
            nursery.cancel_scope.cancel()
        with trio.move_on_after(CLOSE_SEND_TIMEOUT) as scope:
            scope.shield = True
            try:
                await transport.close(self.close_code or CLOSE_NORMAL, self.close_reason)
            except Exception as error:  # the peer may already be gone
                log.debug("closing %s: %r", self.label, error)
        # Not shielded: the client's answer arrives as a cancellation of this handler.
        with trio.move_on_after(CLOSE_SEND_TIMEOUT):
            await self._wait_for_close_reply(transport)
        done.cancel()

    async def _wait_for_close_reply(self, transport: Transport) -> None:
        # Returning closes the TCP connection. If the client's frames are still
        # unread in the kernel then, the close sends a RST, and a browser that gets
        # the RST before it has read our close frame reports 1006 instead of our
        # code (a bad token looked like a network drop and was retried). So the
        # socket stays open until the client answers our close frame, which makes
        # the server cancel this handler, or until the timeout; frames that arrive
        # meanwhile are read and discarded.
        try:
            while True:
                await transport.receive()
        except Exception as error:
            log.debug("after closing %s: %r", self.label, error)
