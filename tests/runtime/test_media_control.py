"""Stream changes from clients: only controllers, only within the settings' ranges,
announced to every client."""

from __future__ import annotations

import json
from typing import Any

from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.runtime.media_control import MediaControl, StreamState
from selkies_trio.settings import load_settings


class FakeHub:
    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.keyframes: list[str] = []

    def reconfigure(self, **change: Any) -> None:
        self.changes.append(change)

    def request_keyframe(self, reason: str) -> None:
        self.keyframes.append(reason)


def control(*argv: str, resize_stream: bool = False) -> tuple[MediaControl, FakeHub, list[str]]:
    hub = FakeHub()
    announced: list[str] = []
    settings = load_settings(list(argv), {})
    media = MediaControl(hub, settings, StreamState(fps=30, bitrate_kbps=4000, crf=None),
                         announce=announced.append, resize_stream=resize_stream)
    return media, hub, announced


def actions(frames: list[str]) -> list[str]:
    decoded = [json.loads(frame) for frame in frames]
    assert all(message["type"] == "system" for message in decoded)
    return [message["data"]["action"] for message in decoded]


CONTROLLER = ClientPermissions.controller("c")
VIEWER = ClientPermissions.viewer("v")


def test_controller_changes_are_clamped_into_ranges_and_announced() -> None:
    media, hub, announced = control("--framerate", "10-50", "--h264-crf", "20-30",
                                    "--video-bitrate", "1000-3000")
    media.handle("_arg_fps,240", CONTROLLER)
    assert hub.changes == [{"fps": 50}]
    media.handle("vb,2500", CONTROLLER)
    media.handle("vb,9000", CONTROLLER)
    media.handle("SETTINGS," + json.dumps({"video_crf": 5, "framerate": 12}), CONTROLLER)
    assert hub.changes == [{"fps": 50}, {"bitrate_kbps": 2500}, {"bitrate_kbps": 3000},
                           {"fps": 12}, {"crf": 20}]
    assert actions(announced) == ["framerate,50", "video_bitrate,2500", "video_bitrate,3000",
                                  "framerate,12", "video_crf,20"]
    assert media.state.crf == 20 and media.state.bitrate_kbps is None
    # Clients that join later are told the values now in force.
    payload = media.settings_payload()
    assert payload["framerate"]["value"] == 12 and payload["h264_crf"]["value"] == 20
    assert payload["framerate"]["min"] == 10 and payload["framerate"]["max"] == 50


def test_an_unchanged_value_is_neither_applied_nor_announced() -> None:
    media, hub, announced = control()
    media.handle("_arg_fps,30", CONTROLLER)
    media.handle("vb,4000", CONTROLLER)
    assert hub.changes == [] and announced == []


def test_locked_settings_and_viewers_leave_the_stream_alone() -> None:
    media, hub, announced = control("--framerate", "30", "--video-bitrate", "2000",
                                    resize_stream=True)
    media.handle("_arg_fps,60", CONTROLLER)
    media.handle("vb,9000", CONTROLLER)
    media.handle("vb,9000", VIEWER)
    media.handle("SETTINGS," + json.dumps({"video_crf": 30}), VIEWER)
    media.handle("r,640x480", VIEWER)
    assert hub.changes == [] and announced == []
    # Anyone may ask for a keyframe; the hub coalesces them.
    media.handle("REQUEST_KEYFRAME", VIEWER)
    assert len(hub.keyframes) == 1


def test_without_a_display_a_resize_scales_the_stream() -> None:
    media, hub, announced = control(resize_stream=True)
    assert media.handles("r,641x481")
    media.handle("r,641x481", CONTROLLER)
    assert hub.changes == [{"size": (640, 480)}]
    assert actions(announced) == ["resolution,640x480"]
    media.handle("r,640x480", CONTROLLER)
    assert len(hub.changes) == 1
    with_display, _, _ = control()
    assert not with_display.handles("r,640x480")


def test_manual_resolution_mode_fixes_the_stream_size() -> None:
    media, hub, announced = control("--manual-width", "800", "--manual-height", "600",
                                    resize_stream=True)
    media.handle("r,1920x1080", CONTROLLER)
    assert hub.changes == [] and announced == []


def test_malformed_media_messages_are_dropped() -> None:
    media, hub, announced = control()
    for bad in ("_arg_fps,fast", "vb,", "SETTINGS,{", "SETTINGS,[]",
                "SETTINGS," + json.dumps({"framerate": "60"})):
        media.handle(bad, CONTROLLER)
    assert hub.changes == [] and announced == []
    assert media.handles("vb,1") and media.handles("REQUEST_KEYFRAME")
    assert not media.handles("m,1,2,0,0") and not media.handles(b"vb,1")
    assert not media.handles("r,640x480")
