"""Stream changes from clients: only controllers, only within the settings' ranges,
announced to every client."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

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


class FakeAudioHub:
    def __init__(self) -> None:
        self.bitrates: list[int] = []

    def set_bitrate(self, bitrate: int) -> None:
        self.bitrates.append(bitrate)


def control(*argv: str, resize_stream: bool = False, audio: FakeAudioHub | None = None
            ) -> tuple[MediaControl, FakeHub, list[str]]:
    hub = FakeHub()
    announced: list[str] = []
    settings = load_settings(list(argv), {})
    media = MediaControl(hub, settings, StreamState(fps=30, bitrate_kbps=4000, crf=None),
                         announce=announced.append, resize_stream=resize_stream, audio=audio)
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
    # What cannot change while the server runs is offered to nobody.
    assert media.settings.client_payload()["encoder"]["locked"] is False
    for fixed in ("encoder", "is_manual_resolution_mode", "manual_width", "manual_height"):
        assert payload[fixed]["locked"] is True


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


def test_audio_bitrate_takes_the_highest_offered_value_not_above_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    audio = FakeAudioHub()
    media, _, announced = control("--audio-bitrate", "128000,64000,32000", audio=audio)
    for request in (100_000, 20_000, 500_000, 128_000):
        media.handle(f"ab,{request}", CONTROLLER)
    media.handle("ab,64000", VIEWER)
    # Nothing offered is as low as 20000: the lowest offered; the last asks for what runs.
    assert audio.bitrates == [64_000, 32_000, 128_000]
    assert actions(announced) == ["audio_bitrate,64000", "audio_bitrate,32000",
                                  "audio_bitrate,128000"]
    locked = FakeAudioHub()
    media, _, announced = control("--audio-bitrate", "64000", audio=locked)
    media.handle("ab,32000", CONTROLLER)
    assert locked.bitrates == [] and announced == []
    without_audio, _, announced = control()
    with caplog.at_level(logging.INFO, logger="selkies_trio.runtime.media_control"):
        without_audio.handle("ab,64000", CONTROLLER)
    assert announced == []
    assert any("audio bitrate 64000 refused: audio is disabled" in r.getMessage()
               for r in caplog.records)


def test_encoder_and_manual_resolution_changes_are_refused_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    media, hub, announced = control(resize_stream=True)
    change = {"encoder": "openh264enc", "is_manual_resolution_mode": True,
              "manual_width": 1280, "manual_height": 720, "scaling_dpi": 120}
    in_force = {"encoder": "x264enc", "is_manual_resolution_mode": False,
                "manual_width": 0, "manual_height": 0}
    with caplog.at_level(logging.INFO, logger="selkies_trio.runtime.media_control"):
        media.handle("SETTINGS," + json.dumps(change), CONTROLLER)
        refusals = [r.getMessage() for r in caplog.records]
        caplog.clear()
        # A page repeating the values in force asks for nothing; a viewer's are its own.
        media.handle("SETTINGS," + json.dumps(in_force), CONTROLLER)
        media.handle("SETTINGS," + json.dumps(change), VIEWER)
        assert caplog.records == []
    assert hub.changes == [] and announced == []
    assert len(refusals) == 4, refusals
    assert "SETTINGS encoder='openh264enc' refused: the video encoder is chosen when the " \
           "server starts (SELKIES_ENCODER)" in refusals[0]
    for message, key in zip(refusals[1:], ("is_manual_resolution_mode", "manual_width",
                                           "manual_height"), strict=True):
        assert message.startswith(f"SETTINGS {key}=")
        assert "refused: manual resolution is set when the server starts" in message
