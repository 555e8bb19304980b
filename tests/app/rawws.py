"""A bare WebSocket client (wsproto over a trio TCP stream) for close-handshake tests.

trio-websocket reports a close it started itself as code 1000 whether or not the
server ever answered; here every frame the server sends is seen as it arrives.
"""

from __future__ import annotations

from collections import deque
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, Ping, Pong, Request

EOF = "EOF"  # what next_event() returns once the server has closed TCP


class RawWebSocket:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.protocol = WSConnection(ConnectionType.CLIENT)
        self._pending: deque[Event] = deque()
        self._eof = False

    @classmethod
    async def connect(cls, url: str) -> RawWebSocket:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        client = cls(stream)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        await client.send(Request(host=parts.netloc, target=target))
        event = await client.next_event()
        assert isinstance(event, AcceptConnection), event
        return client

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.protocol.send(event))

    async def next_event(self) -> Event | str:
        """The next frame other than a ping or pong (pings are answered here)."""
        while True:
            while not self._pending:
                if self._eof:
                    return EOF
                data = await self.stream.receive_some(65536)
                if not data:
                    # Not fed to wsproto, which would turn it into a close frame (1006)
                    # that the server never sent.
                    self._eof = True
                    continue
                self.protocol.receive_data(data)
                self._pending.extend(self.protocol.events())
            event = self._pending.popleft()
            if isinstance(event, Ping):
                await self.send(event.response())
            elif not isinstance(event, Pong):
                return event

    async def aclose(self) -> None:
        await self.stream.aclose()
