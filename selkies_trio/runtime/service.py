"""Builds the WebRTC side of the server from the settings and runs it.

    run_webrtc_service()  nursery
     ├─ UDP mux (one socket for every peer)
     ├─ broadcast hub (capture → encode once → every subscriber)
     └─ session manager (one nursery per browser)
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psutil
import trio

from ..input.config import InputConfig
from ..media.capture_synthetic import SyntheticSource
from ..media.capture_x11 import X11CaptureSource
from ..media.encoder import H264Encoder
from ..media.frames import CaptureSource
from .hub import BroadcastHub
from .input_service import InputService
from .sessions import SessionManager
from .udp_mux import UdpMux
from .webrtc import WebRtcEnvironment, client_permissions, run_session

log = logging.getLogger(__name__)


def host_addresses(configured: Sequence[str]) -> list[str]:
    """The addresses to offer as host candidates: the configured ones, else every
    non-loopback IPv4 address of the machine, else loopback."""
    if configured:
        return list(configured)
    found: list[str] = []
    for interface in psutil.net_if_addrs().values():
        for address in interface:
            if address.family.name == "AF_INET" and not address.address.startswith("127."):
                found.append(address.address)
    return found or ["127.0.0.1"]


def source_factory(display: str | None) -> Callable[[], CaptureSource]:
    """X11 capture of `display` when there is one, otherwise the synthetic pattern."""
    if display:
        log.info("video source: X11 display %s", display)
        return lambda: X11CaptureSource(display)
    log.info("video source: synthetic test pattern (no DISPLAY)")
    return lambda: SyntheticSource(1280, 720)


def input_config(settings: Any) -> InputConfig:
    return InputConfig(
        clipboard_enabled=settings.clipboard_enabled,
        clipboard_in_enabled=settings.clipboard_in_enabled,
        clipboard_out_enabled=settings.clipboard_out_enabled,
        enable_binary_clipboard=settings.enable_binary_clipboard,
        command_enabled=settings.command_enabled,
        is_manual_resolution_mode=settings.is_manual_resolution_mode,
        scaling_dpi=int(settings.scaling_dpi),
    )


def _initial_rate(settings: Any) -> tuple[int, int | None]:
    fps = int(getattr(settings, "framerate", 30) or 30)
    return fps, None


async def run_webrtc_service(
    settings: Any,
    *,
    display: str | None = None,
    source: Callable[[], CaptureSource] | None = None,
    on_channel_message: Callable[[str, str, str | bytes], None] | None = None,
    task_status: trio.TaskStatus[SessionManager] = trio.TASK_STATUS_IGNORED,
) -> None:
    addresses = host_addresses(getattr(settings, "ice_addresses", ()) or ())
    if all(a.startswith("127.") for a in addresses):
        bind_host = "127.0.0.1"
    elif all(":" in a for a in addresses):
        bind_host = "::"
    else:
        # One IPv4 socket: IPv6 host candidates would be unreachable on it.
        bind_host = "0.0.0.0"
        addresses = [a for a in addresses if ":" not in a]
    mux = UdpMux(bind_host, int(getattr(settings, "webrtc_udp_port", 0)))
    fps, _ = _initial_rate(settings)
    if display is None:
        display = os.environ.get("DISPLAY") or None
    hub = BroadcastHub(
        source or source_factory(display),
        H264Encoder,
        fps=min(fps, 60),
        crf=None,
        bitrate_kbps=4000,
    )
    input_service = InputService(display, input_config(settings))
    environment = WebRtcEnvironment(
        mux=mux, hub=hub, addresses=addresses, on_channel_message=on_channel_message,
        input=input_service, settings_payload=settings.client_payload,
    )
    manager = SessionManager(
        f"server-{uuid.uuid4()}", lambda context: run_session(context, environment)
    )
    environment.sessions = manager.contexts

    def refresh_permissions() -> None:
        everyone = manager.contexts()
        for context in everyone:
            input_service.update_client(client_permissions(context, everyone))

    manager.permissions_listener = refresh_permissions
    async with trio.open_nursery() as nursery:
        await nursery.start(mux.run)
        await nursery.start(hub.run)
        await nursery.start(input_service.run)
        await nursery.start(manager.run)
        log.info("WebRTC: host candidates %s on UDP port %d", ", ".join(addresses),
                 mux.local_address[1])
        task_status.started(manager)
