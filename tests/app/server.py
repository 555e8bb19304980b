"""Run the real server in-process on loopback for app tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from selkies_trio.app.serve import Running, serve
from selkies_trio.app.server_peer import CannedOfferServerPeer
from selkies_trio.settings import load_settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_settings(*argv: str, env: dict[str, str] | None = None) -> Any:
    args = ["--addr", "127.0.0.1", "--port", str(free_port()),
            "--control-port", str(free_port()), *argv]
    return load_settings(args, env or {})


@asynccontextmanager
async def running_server(
    *argv: str, env: dict[str, str] | None = None, **hub_config: Any
) -> AsyncIterator[tuple[Running, CannedOfferServerPeer]]:
    settings = make_settings(*argv, env=env)
    peer = CannedOfferServerPeer("server-test")
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(
            partial(serve, settings, server_peer=peer, handle_signals=False)
        )
        for key, value in hub_config.items():
            setattr(running.hub.config, key, value)
        try:
            yield running, peer
        finally:
            running.stop.set()


def ws_url(running: Running, query: str = "") -> str:
    base = running.urls[0].replace("http://", "ws://")
    return f"{base}/api/webrtc/signaling{query}"
