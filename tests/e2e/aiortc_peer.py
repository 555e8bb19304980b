"""aiortc as an independent WebRTC peer for our tests and benchmarks (asyncio).

- `loopback_only()` keeps aioice on 127.0.0.1 (it skips loopback by default, and
  test traffic must stay on loopback).
- `WebSocketClient` is a small text-only WebSocket client on asyncio streams and
  wsproto (the `websockets` package is not installed here).
- `selkies_session()` speaks the Selkies signalling dialect up to `SESSION_OK`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aioice.ice
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


def loopback_only() -> None:
    def addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    aioice.ice.get_host_addresses = addresses


class WebSocketClosed(Exception):
    pass


class WebSocketClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 connection: WSConnection) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = connection
        self._texts: list[str] = []
        self._partial = ""

    @classmethod
    async def connect(cls, url: str) -> WebSocketClient:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        connection = WSConnection(ConnectionType.CLIENT)
        client = cls(reader, writer, connection)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        writer.write(connection.send(Request(host=parts.netloc, target=target)))
        await writer.drain()
        while True:
            for event in await client._events():
                if isinstance(event, AcceptConnection):
                    return client
                if isinstance(event, RejectConnection):
                    raise WebSocketClosed(f"rejected with status {event.status_code}")

    async def _events(self) -> list[Any]:
        data = await self._reader.read(65536)
        self._ws.receive_data(data or None)
        return list(self._ws.events())

    async def send(self, text: str) -> None:
        self._writer.write(self._ws.send(Message(data=text)))
        await self._writer.drain()

    async def receive(self) -> str:
        while not self._texts:
            for event in await self._events():
                if isinstance(event, TextMessage):
                    self._partial += event.data
                    if event.message_finished:
                        self._texts.append(self._partial)
                        self._partial = ""
                elif isinstance(event, Ping):
                    self._writer.write(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    raise WebSocketClosed(f"closed with code {event.code}")
        return self._texts.pop(0)

    async def close(self) -> None:
        try:
            self._writer.write(self._ws.send(CloseConnection(code=1000)))
            await self._writer.drain()
        except Exception:  # the server may already be gone; closing is best effort
            pass
        self._writer.close()


async def selkies_session(http_url: str, client_type: str = "controller",
                          slot: int = 1) -> tuple[WebSocketClient, str]:
    """Open the signalling socket and a session with the server; returns its peer id."""
    ws_url = http_url.replace("http://", "ws://", 1).rstrip("/") + "/api/webrtc/signaling"
    socket = await WebSocketClient.connect(ws_url)
    meta = {"client_type": client_type, "client_slot": slot, "client_strict_viewer": False}
    await socket.send(f"HELLO client {json.dumps(meta)}")
    reply = await socket.receive()
    if reply != "HELLO":
        raise WebSocketClosed(f"expected HELLO, got {reply!r}")
    await socket.send("SESSION server")
    while True:
        reply = await socket.receive()
        if reply.startswith("SESSION_OK "):
            return socket, reply.split(" ", 1)[1].strip()
        if reply.startswith("ERROR "):
            raise WebSocketClosed(reply)


def parse_peer_frame(frame: str, peer_id: str) -> dict[str, Any] | None:
    """The JSON of a `<peer-id> <json>` frame from `peer_id`, else None."""
    sender, _, body = frame.partition(" ")
    if sender != peer_id:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
