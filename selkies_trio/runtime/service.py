"""Builds the WebRTC side of the server from the settings and runs it.

    run_webrtc_service()  nursery
     ├─ UDP mux (one socket for every peer)
     ├─ broadcast hub (capture → encode once → every subscriber)
     ├─ audio hub (monitor or tone → Opus once → every subscriber), if audio is enabled
     └─ session manager (one nursery per browser)

`MediaStatistics` turns the hubs' and peers' figures into the dashboard's `stats`
message and the `/metrics` lines.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import psutil
import trio

from ..input.config import InputConfig
from ..media.audio import OpusEncoder, open_audio_source
from ..media.capture import DEFAULT_SYNTHETIC_SIZE
from ..media.capture_synthetic import SyntheticSource
from ..media.capture_x11 import X11CaptureSource
from ..media.encoder import DEFAULT_PREFERENCE, H264Encoder, encoder_preference
from ..media.frames import CaptureSource
from ..settings import Settings
from . import xvfb
from .audio_hub import AudioHub
from .hub import BroadcastHub
from .input_service import InputService
from .media_control import MediaControl, StreamState
from .sessions import SessionManager
from .udp_mux import UdpMux
from .webrtc import RtpSender, WebRtcEnvironment, run_session

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


@dataclass(frozen=True)
class VideoPlan:
    """What the settings say the video stream starts as."""

    fps: int
    bitrate_kbps: int | None
    crf: int | None
    # Manual resolution mode fixes the stream size; None follows the source.
    size: tuple[int, int] | None
    encoders: tuple[str, ...]


def video_plan(settings: Settings) -> VideoPlan:
    """Constant bitrate at `video_bitrate` unless the operator gave `h264_crf`; the
    encoder list from `encoder` (left at its default: NVENC when it opens, else x264)."""
    crf: int | None = None
    bitrate: int | None = int(settings.video_bitrate)
    if settings.source("h264_crf") != "default":
        crf, bitrate = int(settings.h264_crf), None
    if settings.source("encoder") == "default":
        encoders = DEFAULT_PREFERENCE
    else:
        try:
            encoders = encoder_preference(settings.encoder)
        except ValueError:
            log.warning("encoder %s is not an H.264 encoder for WebRTC; using %s",
                        settings.encoder, " or ".join(DEFAULT_PREFERENCE))
            encoders = DEFAULT_PREFERENCE
    size = None
    if settings.is_manual_resolution_mode:
        size = (int(settings.manual_width), int(settings.manual_height))
    return VideoPlan(int(settings.framerate), bitrate, crf, size, encoders)


def capture_factory(display: str | None, synthetic_size: tuple[int, int]
                    ) -> Callable[[], CaptureSource]:
    """X11 capture of `display` when there is one, otherwise the synthetic pattern."""
    if display:
        return lambda: X11CaptureSource(display)
    return lambda: SyntheticSource(*synthetic_size)


async def open_video_source(
    settings: Settings, size: tuple[int, int] | None, *,
    task_status: trio.TaskStatus[tuple[str | None, str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Decide what is streamed (`video_source`) and keep a private Xvfb running if
    that is it. Reports (display or None, a description for the log and the page)."""
    choice = settings.video_source
    display = os.environ.get("DISPLAY") or None
    if choice == "display" or (choice == "auto" and display):
        if not display:
            raise ServiceError("SELKIES_VIDEO_SOURCE=display but DISPLAY is not set")
        task_status.started((display, f"X11 display {display}"))
        return
    if choice in ("auto", "xvfb"):
        width, height = size or xvfb.DEFAULT_SIZE
        async with trio.open_nursery() as nursery:
            private = await nursery.start(
                partial(xvfb.run_private_display, width=width, height=height)
            )
            if private is not None:
                task_status.started((private, f"private Xvfb {private} with a scratchpad"))
                return
        if choice == "xvfb":
            raise ServiceError("SELKIES_VIDEO_SOURCE=xvfb but Xvfb could not be started")
    task_status.started((None, "synthetic test pattern"))


class ServiceError(Exception):
    """The WebRTC service cannot start as configured; str() says why."""


def input_config(settings: Settings) -> InputConfig:
    return InputConfig(
        clipboard_enabled=settings.clipboard_enabled,
        clipboard_in_enabled=settings.clipboard_in_enabled,
        clipboard_out_enabled=settings.clipboard_out_enabled,
        enable_binary_clipboard=settings.enable_binary_clipboard,
        command_enabled=settings.command_enabled,
        gamepad_enabled=settings.gamepad_enabled,
        is_manual_resolution_mode=settings.is_manual_resolution_mode,
        manual_size=(int(settings.manual_width) or 1024, int(settings.manual_height) or 768),
        scaling_dpi=int(settings.scaling_dpi),
        scaling_dpi_locked=settings.is_locked("scaling_dpi"),
        scaling_dpi_allowed=tuple(int(dpi) for dpi in settings.allowed("scaling_dpi") or ()),
    )


def audio_hub_from_settings(settings: Any) -> AudioHub | None:
    """The audio hub for `SELKIES_AUDIO_*`, or None when audio is disabled."""
    if not bool(getattr(settings, "audio_enabled", True)):
        log.info("audio disabled (SELKIES_AUDIO_ENABLED=false)")
        return None
    device = str(getattr(settings, "audio_device_name", "") or "output.monitor")
    bitrate = int(getattr(settings, "audio_bitrate", 128_000) or 128_000)
    return AudioHub(lambda: open_audio_source(device), OpusEncoder, bitrate=bitrate)


class MediaStatistics:
    """Figures of the hubs and the peers for the dashboard and `/metrics`."""

    # The CPU figure is sampled at most this often, whatever the number of viewers:
    # psutil measures CPU between two calls, so calls too close together say little.
    CPU_SAMPLE_INTERVAL = 1.0

    def __init__(self, environment: WebRtcEnvironment) -> None:
        self.environment = environment
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)
        self._cpu_percent = 0.0
        self._cpu_sampled_at = -float("inf")

    def _cpu(self) -> float:
        now = trio.current_time()
        if now - self._cpu_sampled_at >= self.CPU_SAMPLE_INTERVAL:
            self._cpu_percent = self._process.cpu_percent(None)
            self._cpu_sampled_at = now
        return self._cpu_percent

    def stats_payload(self) -> dict[str, Any]:
        """The `data` of the `stats` message on `input`."""
        video = self.environment.hub.statistics()
        payload: dict[str, Any] = {
            "cpu_percent": round(self._cpu(), 1),
            "memory_bytes": self._process.memory_info().rss,
            "encoder": video.encoder_name,
            "resolution": f"{video.width}x{video.height}",
            "encoder_fps": round(video.encoded_fps, 1),
            "video_bitrate_kbps": round(video.encoded_bitrate_kbps, 1),
            "encode_ms": round(video.mean_encode_ms, 2),
            "viewers": len(video.subscribers),
            "video_queue_drops": sum(s.dropped for s in video.subscribers),
        }
        audio_hub = self.environment.audio_hub
        if audio_hub is not None:
            audio = audio_hub.statistics()
            payload["audio_source"] = audio.source_name
            payload["audio_bitrate_kbps"] = round(audio.encoded_bitrate_kbps, 1)
            payload["audio_queue_drops"] = sum(s.dropped for s in audio.subscribers)
        return payload

    def render_metrics(self) -> str:
        """Prometheus text lines for the media engine and the peers."""
        video = self.environment.hub.statistics()
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str,
                   samples: list[tuple[str, float | int]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {value}")

        metric("selkies_video_encoders_opened_total", "counter",
               "Video encoders opened (one per streaming period, shared by all viewers).",
               [("", video.streams_started)])
        metric("selkies_video_streaming", "gauge", "1 while the video encoder runs.",
               [("", int(video.streaming))])
        metric("selkies_video_subscribers", "gauge", "Viewers subscribed to the video hub.",
               [("", len(video.subscribers))])
        metric("selkies_video_target_fps", "gauge", "Frame rate the stream is set to.",
               [("", video.target_fps)])
        metric("selkies_video_target_bitrate_kbps", "gauge",
               "Constant bitrate the stream is set to (0 in constant-quality mode).",
               [("", video.bitrate_kbps or 0)])
        metric("selkies_video_crf", "gauge", "CRF in constant-quality mode (0 otherwise).",
               [("", video.crf or 0)])
        metric("selkies_video_frames_encoded_total", "counter", "Video frames encoded.",
               [("", video.frames_encoded)])
        metric("selkies_video_keyframes_total", "counter", "Video keyframes encoded.",
               [("", video.keyframes)])
        metric("selkies_video_encoded_fps", "gauge", "Frames encoded per second, recently.",
               [("", round(video.encoded_fps, 2))])
        metric("selkies_video_bitrate_kbps", "gauge", "Encoded video bitrate, recently.",
               [("", round(video.encoded_bitrate_kbps, 1))])
        metric("selkies_video_encode_milliseconds", "gauge", "Mean encode time per frame.",
               [("", round(video.mean_encode_ms, 3))])
        metric("selkies_video_subscriber_dropped_frames_total", "counter",
               "Frames a viewer lost because its queue was full.",
               [(_labels(subscriber=s.name), s.dropped) for s in video.subscribers])
        metric("selkies_video_subscriber_delivered_frames_total", "counter",
               "Frames handed to a viewer.",
               [(_labels(subscriber=s.name), s.delivered) for s in video.subscribers])
        peers = sorted(self.environment.peers.items())
        rtp_packets: list[tuple[str, float | int]] = []
        rtp_bytes: list[tuple[str, float | int]] = []
        for client_id, media in peers:
            senders: list[tuple[str, RtpSender]] = [("video", media.video)]
            if media.audio is not None:
                senders.append(("audio", media.audio))
            for kind, sender in senders:
                labels = _labels(client=client_id, kind=kind)
                rtp_packets.append((labels, sender.packets))
                rtp_bytes.append((labels, sender.octets))
        metric("selkies_peer_rtp_packets_total", "counter", "RTP packets sent to a peer.",
               rtp_packets)
        metric("selkies_peer_rtp_payload_bytes_total", "counter",
               "RTP payload bytes sent to a peer.", rtp_bytes)
        metric("selkies_peer_srtp_bytes_total", "counter",
               "Protected RTP bytes (headers, payloads, SRTP tags) sent to a peer.",
               [(_labels(client=client_id), media.transport.stats.rtp_bytes_sent)
                for client_id, media in peers])
        mux = self.environment.mux.statistics()
        for name, value, help_text in (
            ("received", mux.received, "Datagrams received on the WebRTC UDP socket."),
            ("unroutable", mux.unroutable, "Datagrams that matched no peer."),
            ("inbox_full", mux.inbox_full,
             "Datagrams dropped because their peer's inbox was full."),
            ("sent", mux.sent, "Datagrams sent on the WebRTC UDP socket."),
            ("send_errors", mux.send_errors, "Datagrams the socket refused to send."),
        ):
            metric(f"selkies_udp_{name}_total", "counter", help_text, [("", value)])
        audio_hub = self.environment.audio_hub
        metric("selkies_audio_enabled", "gauge", "1 if sessions are offered Opus audio.",
               [("", int(audio_hub is not None))])
        if audio_hub is not None:
            audio = audio_hub.statistics()
            metric("selkies_audio_encoders_opened_total", "counter",
                   "Opus encoders opened (shared by all listeners).",
                   [("", audio.streams_started)])
            metric("selkies_audio_streaming", "gauge", "1 while audio capture runs.",
                   [("", int(audio.streaming))])
            metric("selkies_audio_packets_encoded_total", "counter", "Opus packets encoded.",
                   [("", audio.packets_encoded)])
            metric("selkies_audio_bitrate_kbps", "gauge", "Encoded audio bitrate, recently.",
                   [("", round(audio.encoded_bitrate_kbps, 1))])
            metric("selkies_audio_encode_milliseconds", "gauge",
                   "Mean Opus encode time per 20 ms frame.",
                   [("", round(audio.mean_encode_ms, 3))])
            metric("selkies_audio_subscriber_dropped_packets_total", "counter",
                   "Opus packets a listener lost because its queue was full.",
                   [(_labels(subscriber=s.name), s.dropped) for s in audio.subscribers])
        return "\n".join(lines) + "\n"


def _label_value(value: str) -> str:
    # Prometheus text format: backslash, double quote and newline are escaped.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_label_value(value)}"' for key, value in labels.items()) + "}"


async def run_webrtc_service(
    settings: Settings,
    *,
    on_channel_message: Callable[[str, str, str | bytes], None] | None = None,
    publish_metrics: Callable[[Callable[[], str]], None] | None = None,
    task_status: trio.TaskStatus[SessionManager] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run everything WebRTC needs; reports the session manager (the signalling hub's
    server peer) once it accepts sessions. Raises ServiceError for a video source
    that cannot be had as configured."""
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
    plan = video_plan(settings)
    async with trio.open_nursery() as nursery:
        display, source_description = await nursery.start(
            open_video_source, settings, plan.size
        )
        log.info("video source: %s", source_description)
        hub = BroadcastHub(
            capture_factory(display, plan.size or DEFAULT_SYNTHETIC_SIZE),
            partial(H264Encoder, preference=plan.encoders),
            fps=plan.fps,
            crf=plan.crf,
            bitrate_kbps=plan.bitrate_kbps,
            size=plan.size,
        )
        input_service = InputService(display, input_config(settings))
        audio_hub = audio_hub_from_settings(settings)
        environment = WebRtcEnvironment(
            mux=mux, hub=hub, addresses=addresses, on_channel_message=on_channel_message,
            input=input_service, audio_hub=audio_hub, video_source=source_description,
        )
        media_control = MediaControl(
            hub, settings, StreamState(plan.fps, plan.bitrate_kbps, plan.crf, plan.size),
            announce=environment.announce, resize_stream=display is None, audio=audio_hub,
        )
        environment.media_control = media_control
        environment.settings_payload = media_control.settings_payload
        statistics = MediaStatistics(environment)
        environment.stats_payload = statistics.stats_payload
        if publish_metrics is not None:
            publish_metrics(statistics.render_metrics)
        manager = SessionManager(
            f"server-{uuid.uuid4()}", lambda context: run_session(context, environment)
        )
        environment.sessions = manager.contexts
        manager.permissions_listener = environment.refresh_permissions
        await nursery.start(mux.run)
        await nursery.start(hub.run)
        if audio_hub is not None:
            await nursery.start(audio_hub.run)
        await nursery.start(input_service.run)
        await nursery.start(manager.run)
        log.info("WebRTC: host candidates %s on UDP port %d", ", ".join(addresses),
                 mux.local_address[1])
        task_status.started(manager)
