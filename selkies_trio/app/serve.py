"""The root of the task tree: Hypercorn with the app, the control plane, and shutdown.

    serve()  root nursery
     ├─ Hypercorn (HTTP, signalling WebSocket)
     ├─ control plane (secure mode only, control_port)
     └─ signal watcher (SIGINT/SIGTERM → graceful stop, then a hard deadline)
"""

from __future__ import annotations

import logging
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from ..runtime.service import run_webrtc_service
from .control import create_control_app
from .http import create_app
from .server_peer import LoggingServerPeer, ServerPeer
from .signalling import SignallingConfig, SignallingHub
from .tokens import TokenStore

log = logging.getLogger("selkies_trio")

# Seconds between a stop request and the hard cancel of whatever is still running.
SHUTDOWN_GRACE = 1.0


@dataclass(frozen=True)
class Running:
    urls: list[str]
    control_urls: list[str]
    hub: SignallingHub
    stop: trio.Event


def _hypercorn_config(bind: str, settings: Any) -> Config:
    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = SHUTDOWN_GRACE
    config.websocket_ping_interval = 20.0
    # A hard bound on what one frame may make us buffer; the hub refuses smaller ones politely.
    config.websocket_max_message_size = 1024 * 1024
    cert, key = getattr(settings, "tls_cert", ""), getattr(settings, "tls_key", "")
    if cert and key:
        config.certfile = cert
        config.keyfile = key
    return config


def _viewer_slots(settings: Any) -> frozenset[int]:
    if not getattr(settings, "enable_sharing", True):
        return frozenset()
    slots = set()
    if getattr(settings, "enable_shared", True):
        slots.add(-1)
    for n in (2, 3, 4):
        if getattr(settings, f"enable_player{n}", True):
            slots.add(n)
    return frozenset(slots)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    settings: Any,
    *,
    server_peer: ServerPeer | None = None,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the server until SIGINT/SIGTERM (or `Running.stop` is set)."""
    tokens = TokenStore() if settings.master_token else None
    stop = trio.Event()
    stopped_by_hypercorn = trio.Event()
    addr = getattr(settings, "addr", "0.0.0.0")
    media_scope = trio.CancelScope()
    # The media service publishes its `/metrics` renderer here once it runs.
    metrics_renderers: list[Callable[[], str]] = []

    async with trio.open_nursery() as nursery:
        if server_peer is None:
            if settings.mode == "webrtc":
                server_peer = await nursery.start(
                    _run_media, settings, media_scope, metrics_renderers.append
                )
            else:
                log.warning("websockets streaming mode is not built yet: signalling runs, "
                            "but no media is sent (use --mode webrtc)")
                server_peer = LoggingServerPeer(f"server-{uuid.uuid4()}")
        hub = SignallingHub(
            server_peer, tokens, SignallingConfig(viewer_slots=_viewer_slots(settings))
        )
        urls = await nursery.start(
            partial(
                hypercorn_serve,
                create_app(
                    settings, hub, lambda: "".join(render() for render in metrics_renderers)
                ),
                _hypercorn_config(_bind(addr, settings.port), settings),
                shutdown_trigger=stopped_by_hypercorn.wait,
            )
        )
        control_urls: list[str] = []
        if tokens is not None:
            control_urls = await nursery.start(
                partial(
                    hypercorn_serve,
                    create_control_app(settings.master_token, hub),
                    _hypercorn_config(_bind(addr, settings.control_port), None),
                    shutdown_trigger=stopped_by_hypercorn.wait,
                )
            )
            log.info("secure mode: control plane on %s", " ".join(control_urls))
        log.info("selkies-trio %s listening on %s", getattr(settings, "mode", "webrtc"), " ".join(urls))
        watcher = trio.CancelScope()
        if handle_signals:
            nursery.start_soon(_watch_signals, stop, watcher)
        task_status.started(Running(urls, control_urls, hub, stop))

        await stop.wait()
        log.info("shutting down")
        watcher.cancel()
        media_scope.cancel()
        for conn in list(hub.connections):
            conn.close_nowait(1001, "server shutting down")
        stopped_by_hypercorn.set()
        # Hypercorn waits SHUTDOWN_GRACE for open connections; anything left after
        # that is cancelled so the process always exits promptly.
        nursery.cancel_scope.deadline = trio.current_time() + SHUTDOWN_GRACE + 0.5


async def _watch_signals(stop: trio.Event, scope: trio.CancelScope) -> None:
    with scope, trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            stop.set()
            return


async def _run_media(
    settings: Any,
    scope: trio.CancelScope,
    publish_metrics: Callable[[Callable[[], str]], None],
    *,
    task_status: trio.TaskStatus[ServerPeer] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await run_webrtc_service(
            settings, publish_metrics=publish_metrics, task_status=task_status
        )
