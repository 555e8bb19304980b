"""Stream changes from clients: only controllers, only within the settings' ranges."""

from __future__ import annotations

import json
from typing import Any

from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.runtime.media_control import MediaControl, StreamState, is_media_message
from selkies_trio.settings import load_settings


class FakeHub:
    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.keyframes: list[str] = []

    def reconfigure(self, **change: Any) -> None:
        self.changes.append(change)

    def request_keyframe(self, reason: str) -> None:
        self.keyframes.append(reason)


def control(*argv: str) -> tuple[MediaControl, FakeHub]:
    hub = FakeHub()
    settings = load_settings(list(argv), {})
    return MediaControl(hub, settings, StreamState(fps=30, bitrate_kbps=4000, crf=None)), hub  # type: ignore[arg-type]


CONTROLLER = ClientPermissions.controller("c")
VIEWER = ClientPermissions.viewer("v")


def test_controller_changes_are_clamped_into_ranges_and_answered() -> None:
    media, hub = control("--framerate", "10-50", "--h264-crf", "20-30")
    [reply] = media.handle("_arg_fps,240", CONTROLLER)
    assert json.loads(reply) == {"type": "system", "data": {"action": "framerate,50"}}
    assert hub.changes == [{"fps": 50}]
    media.handle("vb,2500", CONTROLLER)
    media.handle("SETTINGS," + json.dumps({"video_crf": 5, "framerate": 12}), CONTROLLER)
    assert hub.changes == [{"fps": 50}, {"bitrate_kbps": 2500}, {"fps": 12}, {"crf": 20}]
    assert media.state.crf == 20 and media.state.bitrate_kbps is None


def test_locked_framerate_and_viewers_leave_the_stream_alone() -> None:
    media, hub = control("--framerate", "30")
    media.handle("_arg_fps,60", CONTROLLER)
    media.handle("vb,9000", VIEWER)
    media.handle("SETTINGS," + json.dumps({"video_bitrate": 100}), VIEWER)
    assert hub.changes == []
    # Anyone may ask for a keyframe; the hub coalesces them.
    media.handle("REQUEST_KEYFRAME", VIEWER)
    assert len(hub.keyframes) == 1


def test_malformed_media_messages_are_dropped() -> None:
    media, hub = control()
    for bad in ("_arg_fps,fast", "vb,", "SETTINGS,{", "SETTINGS,[]",
                "SETTINGS," + json.dumps({"framerate": "60"})):
        assert media.handle(bad, CONTROLLER) == []
    assert hub.changes == []
    assert is_media_message("vb,1") and is_media_message("REQUEST_KEYFRAME")
    assert not is_media_message("m,1,2,0,0") and not is_media_message(b"vb,1")
