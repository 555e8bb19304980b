"""Client requests that change the one shared stream: framerate, bitrate, CRF, keyframes.

There is one encoder for every viewer, so only a controller may change it, and
only within what the server's settings allow (a locked setting cannot move; a
range clamps). A viewer's SETTINGS concern its own view and leave the stream
alone. Every change is answered with the Selkies `system` action naming the
value now in force, so each client's UI shows what really happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..input import events as ev
from ..input import server_messages
from ..input.permissions import ClientPermissions, check
from ..input.protocol import InputProtocolError, parse_client_message_untrusted
from .hub import BroadcastHub

log = logging.getLogger(__name__)

# Verbs handled here rather than by the X11 input layer.
MEDIA_VERBS = frozenset({"_arg_fps", "vb", "REQUEST_KEYFRAME", "SETTINGS"})

# Outside any configured range the encoder's own limits still apply.
BITRATE_LIMITS_KBPS = (100, 100_000)


def is_media_message(message: str | bytes) -> bool:
    if not isinstance(message, str):
        return False
    return message.split(",", 1)[0] in MEDIA_VERBS


@dataclass
class StreamState:
    fps: int
    bitrate_kbps: int | None
    crf: int | None


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


class MediaControl:
    def __init__(self, hub: BroadcastHub, settings: Any, state: StreamState) -> None:
        self.hub = hub
        self.settings = settings
        self.state = state

    def handle(self, message: str, client: ClientPermissions) -> list[str]:
        """Apply one media verb from `client`; returns frames for that client."""
        try:
            event = parse_client_message_untrusted(message)
        except InputProtocolError as error:
            log.info("media message from %s refused: %s", client.client_id, error)
            return []
        verdict = check(event, client, command_enabled=False)
        if not verdict.allowed:
            log.info("media message from %s refused: %s", client.client_id, verdict.reason)
            return []
        if isinstance(event, ev.KeyframeRequest):
            self.hub.request_keyframe(f"{client.client_id} asked for a keyframe")
            return []
        if verdict.own_view_only:
            # A viewer's settings change its own page only; the shared stream stays.
            return []
        if isinstance(event, ev.SetFramerate):
            return self._set_fps(event.fps)
        if isinstance(event, ev.SetVideoBitrate):
            return self._set_bitrate(event.kbps)
        if isinstance(event, ev.SettingsUpdate):
            return self._apply_settings(event.values)
        return []

    def _set_fps(self, fps: int) -> list[str]:
        bounds = self.settings.range("framerate")
        if self.settings.is_locked("framerate") or bounds is None:
            fps = self.state.fps
        else:
            fps = _clamp(fps, bounds)
        if fps != self.state.fps:
            self.hub.reconfigure(fps=fps)
            self.state.fps = fps
        return [server_messages.system(f"framerate,{fps}")]

    def _set_bitrate(self, kbps: int) -> list[str]:
        kbps = _clamp(kbps, BITRATE_LIMITS_KBPS)
        if kbps != self.state.bitrate_kbps:
            self.hub.reconfigure(bitrate_kbps=kbps)
            self.state.bitrate_kbps, self.state.crf = kbps, None
        return [server_messages.system(f"video_bitrate,{kbps}")]

    def _set_crf(self, crf: int) -> list[str]:
        bounds = self.settings.range("h264_crf")
        if self.settings.is_locked("h264_crf") or bounds is None:
            return []
        crf = _clamp(crf, bounds)
        if crf != self.state.crf:
            self.hub.reconfigure(crf=crf)
            self.state.crf, self.state.bitrate_kbps = crf, None
        return [server_messages.system(f"video_crf,{crf}")]

    def _apply_settings(self, values: dict[str, Any]) -> list[str]:
        frames: list[str] = []
        for key, handler in (
            ("framerate", self._set_fps),
            ("video_bitrate", self._set_bitrate),
            ("video_crf", self._set_crf),
        ):
            value = values.get(key)
            if type(value) is int:
                frames += handler(value)
            elif value is not None:
                log.info("SETTINGS %s=%r ignored: not an integer", key, value)
        return frames
