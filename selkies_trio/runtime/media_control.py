"""Client requests that change the one shared stream: framerate, bitrate, CRF, size,
audio bitrate, keyframes.

There is one encoder for every viewer, so only a controller may change it, and
only within what the server's settings allow (a locked setting cannot move; a
range clamps, a list of values picks the highest not above the request). A
viewer's SETTINGS concern its own view and leave the stream alone. A change that
takes effect is announced to every client with a `system` action naming the value
now in force (`framerate,N`, `video_bitrate,N`, `video_crf,N`, `resolution,WxH`, and
ours `audio_bitrate,N`), so every UI shows what really happened; the live values
also go into the `server_settings` of clients that join later.

Of the other SETTINGS keys, `scaling_dpi` is the desktop's (the X input layer
applies it, like `s,`); `encoder` and the manual resolution keys are fixed when
the server starts, and a request to change them is refused with the reason logged.

`r,<W>x<H>` normally resizes the X screen (the input layer's job; the capture
follows). With no X display to resize (the synthetic source) the stream itself
is scaled to the requested size instead, unless manual resolution mode fixes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..input import events as ev
from ..input import server_messages
from ..input.permissions import ClientPermissions, Role, check
from ..input.protocol import InputProtocolError, parse_client_message_untrusted
from ..media.audio import OPUS_BITRATE_RANGE
from ..media.encoder import BITRATE_KBPS_RANGE, CRF_RANGE, FPS_RANGE
from ..settings import Settings

log = logging.getLogger(__name__)

# Verbs handled here rather than by the X11 input layer (`r` only without a display).
MEDIA_VERBS = frozenset({"_arg_fps", "vb", "ab", "REQUEST_KEYFRAME", "SETTINGS"})
_MANUAL_RESOLUTION_AT_START = (
    "manual resolution is set when the server starts (SELKIES_IS_MANUAL_RESOLUTION_MODE, "
    "SELKIES_MANUAL_WIDTH, SELKIES_MANUAL_HEIGHT); while it runs the screen follows the "
    "controller's window"
)
# SETTINGS keys the server cannot change while it runs, and the reason a change is refused.
FIXED_AT_START = {
    "encoder": "the video encoder is chosen when the server starts (SELKIES_ENCODER) and "
               "is not switched while it runs",
    "is_manual_resolution_mode": _MANUAL_RESOLUTION_AT_START,
    "manual_width": _MANUAL_RESOLUTION_AT_START,
    "manual_height": _MANUAL_RESOLUTION_AT_START,
}
# The largest stream we scale to on request; the encoder needs even sides.
MAX_STREAM_SIZE = (7680, 4320)


class StreamHub(Protocol):
    def reconfigure(self, *, fps: int | None = None, bitrate_kbps: int | None = None,
                    crf: int | None = None, size: tuple[int, int] | None = None) -> None: ...

    def request_keyframe(self, reason: str) -> None: ...


class AudioBitrate(Protocol):
    """The audio hub as far as a bitrate change goes."""

    def set_bitrate(self, bitrate: int) -> None: ...


@dataclass
class StreamState:
    fps: int
    bitrate_kbps: int | None
    crf: int | None
    size: tuple[int, int] | None = None


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


def _intersect(setting: tuple[int, int] | None, limits: tuple[int, int]) -> tuple[int, int]:
    if setting is None:
        return limits
    return max(setting[0], limits[0]), min(setting[1], limits[1])


def _highest_allowed_up_to(value: int, allowed: tuple[int, ...]) -> int:
    """The largest allowed value not above `value`, else the smallest allowed: a
    client asking for a lower bitrate never gets more than it asked for, unless
    nothing offered is that low."""
    below = [item for item in allowed if item <= value]
    return max(below) if below else min(allowed)


class MediaControl:
    def __init__(
        self,
        hub: StreamHub,
        settings: Settings,
        state: StreamState,
        *,
        announce: Callable[[str], None] | None = None,
        resize_stream: bool = False,
        audio: AudioBitrate | None = None,
    ) -> None:
        """`announce(frame)` sends a frame to every client; `resize_stream` makes
        `r,WxH` scale the stream (there is no X screen to resize); `audio` is the
        audio hub, None when audio is disabled."""
        self.hub = hub
        self.settings = settings
        self.state = state
        self.audio = audio
        self._announce = announce or (lambda frame: None)
        self._resize_stream = resize_stream

    def handles(self, message: str | bytes) -> bool:
        if not isinstance(message, str):
            return False
        verb = message.split(",", 1)[0]
        return verb in MEDIA_VERBS or (self._resize_stream and verb == "r")

    def settings_payload(self) -> dict[str, dict[str, Any]]:
        """The `server_settings` data with the live stream values. The settings this
        server cannot change while it runs (`FIXED_AT_START`) are marked locked, so
        pages offer no control that would only be refused; `/api/settings` still
        shows them as configured."""
        payload = self.settings.client_payload()
        for name in FIXED_AT_START:
            entry = payload.get(name)
            if entry is not None:
                payload[name] = {**entry, "locked": True}
        return payload

    def handle(self, message: str, client: ClientPermissions) -> None:
        """Apply one media verb from `client`; changes are announced to everyone."""
        try:
            event = parse_client_message_untrusted(message)
        except InputProtocolError as error:
            log.info("media message from %s refused: %s", client.client_id, error)
            return
        verdict = check(event, client, command_enabled=False)
        if not verdict.allowed:
            log.info("media message from %s refused: %s", client.client_id, verdict.reason)
            return
        if isinstance(event, ev.KeyframeRequest):
            self.hub.request_keyframe(f"{client.client_id} asked for a keyframe")
            return
        if verdict.own_view_only or client.role is not Role.CONTROLLER:
            # A viewer's settings change its own page only; the shared stream stays.
            return
        if isinstance(event, ev.SetFramerate):
            self._set_fps(event.fps)
        elif isinstance(event, ev.SetVideoBitrate):
            self._set_bitrate(event.kbps)
        elif isinstance(event, ev.SetAudioBitrate):
            self._set_audio_bitrate(event.bps)
        elif isinstance(event, ev.Resize):
            self._set_size(event.width, event.height)
        elif isinstance(event, ev.SettingsUpdate):
            self._apply_settings(event.values)

    def _live(self, name: str, value: int) -> None:
        self.settings = self.settings.with_overrides(**{name: value})

    def _bounded(self, name: str, value: int, limits: tuple[int, int]) -> int | None:
        """`value` clamped into the setting's range, or None when the setting is locked."""
        if self.settings.is_locked(name):
            return None
        return _clamp(value, _intersect(self.settings.range(name), limits))

    def _set_fps(self, fps: int) -> None:
        bounded = self._bounded("framerate", fps, FPS_RANGE)
        if bounded is None or bounded == self.state.fps:
            return
        self.hub.reconfigure(fps=bounded)
        self.state.fps = bounded
        self._live("framerate", bounded)
        self._announce(server_messages.system(f"framerate,{bounded}"))

    def _set_bitrate(self, kbps: int) -> None:
        bounded = self._bounded("video_bitrate", kbps, BITRATE_KBPS_RANGE)
        if bounded is None or (bounded == self.state.bitrate_kbps and self.state.crf is None):
            return
        self.hub.reconfigure(bitrate_kbps=bounded)
        self.state.bitrate_kbps, self.state.crf = bounded, None
        self._live("video_bitrate", bounded)
        self._announce(server_messages.system(f"video_bitrate,{bounded}"))

    def _set_crf(self, crf: int) -> None:
        bounded = self._bounded("h264_crf", crf, CRF_RANGE)
        if bounded is None or bounded == self.state.crf:
            return
        self.hub.reconfigure(crf=bounded)
        self.state.crf, self.state.bitrate_kbps = bounded, None
        self._live("h264_crf", bounded)
        self._announce(server_messages.system(f"video_crf,{bounded}"))

    def _set_audio_bitrate(self, bps: int) -> None:
        if self.audio is None:
            log.info("audio bitrate %d refused: audio is disabled", bps)
            return
        if self.settings.is_locked("audio_bitrate"):
            log.debug("audio bitrate %d ignored: SELKIES_AUDIO_BITRATE is locked to %d",
                      bps, self.settings.audio_bitrate)
            return
        allowed = self.settings.allowed("audio_bitrate")
        if allowed:
            bounded = _highest_allowed_up_to(bps, allowed)
        else:
            bounded = _clamp(bps, OPUS_BITRATE_RANGE)
        if bounded == self.settings.audio_bitrate:
            return
        self.audio.set_bitrate(bounded)
        self._live("audio_bitrate", bounded)
        self._announce(server_messages.system(f"audio_bitrate,{bounded}"))

    def _set_size(self, width: int, height: int) -> None:
        if self.settings.is_manual_resolution_mode:
            log.info("resize to %dx%d refused: manual resolution mode", width, height)
            return
        # Even sides within what an encoder can take; the page scales the rest.
        width = _clamp(width - width % 2, (2, MAX_STREAM_SIZE[0]))
        height = _clamp(height - height % 2, (2, MAX_STREAM_SIZE[1]))
        if (width, height) == self.state.size:
            return
        self.hub.reconfigure(size=(width, height))
        self.state.size = (width, height)
        self._announce(server_messages.system(f"resolution,{width}x{height}"))

    def _apply_settings(self, values: dict[str, Any]) -> None:
        for key, handler in (
            ("framerate", self._set_fps),
            ("video_bitrate", self._set_bitrate),
            ("video_crf", self._set_crf),
            ("h264_crf", self._set_crf),
            ("audio_bitrate", self._set_audio_bitrate),
        ):
            value = values.get(key)
            if type(value) is int:
                handler(value)
            elif value is not None:
                log.info("SETTINGS %s=%.80r ignored: not an integer", key, value)
        for key, reason in FIXED_AT_START.items():
            # Pages send their whole settings: the value in force is no request.
            if key in values and values[key] != self.settings.value(key):
                log.info("SETTINGS %s=%.80r refused: %s", key, values[key], reason)
