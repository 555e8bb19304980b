"""runtime/webrtc.py: where a data-channel message from a session goes, with whose rights.

The session is a stand-in (no transport is needed to dispatch a message): a
registered `PeerMedia` with recording channels, a fake video hub, a fake input
service and a real `MediaControl` over fake hubs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from selkies_trio.input.permissions import ClientPermissions, Verdict
from selkies_trio.runtime import webrtc
from selkies_trio.runtime.media_control import MediaControl, StreamState
from selkies_trio.runtime.webrtc import PeerMedia, WebRtcEnvironment, _on_channel_message
from selkies_trio.settings import load_settings


class FakeHub:
    """The video hub, or the audio hub: records what is asked of it."""

    def __init__(self) -> None:
        self.keyframes: list[str] = []
        self.changes: list[dict[str, Any]] = []
        self.bitrates: list[int] = []

    def request_keyframe(self, reason: str) -> None:
        self.keyframes.append(reason)

    def reconfigure(self, **change: Any) -> None:
        self.changes.append(change)

    def set_bitrate(self, bitrate: int) -> None:
        self.bitrates.append(bitrate)


class RecordingChannels:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_nowait(self, label: str, frame: str) -> None:
        self.sent.append((label, frame))


class FakeInput:
    def __init__(self) -> None:
        self.submitted: list[tuple[str, str | bytes]] = []

    def submit_nowait(self, client_id: str, message: str | bytes) -> bool:
        self.submitted.append((client_id, message))
        return True


class Context:
    def __init__(self, client_id: str) -> None:
        self.client_id = client_id


class Session:
    """One browser as the dispatcher sees it."""

    def __init__(self, env: WebRtcEnvironment, permissions: ClientPermissions) -> None:
        self.context = Context(permissions.client_id)
        self.channels = RecordingChannels()
        self.peer = PeerMedia(None, None, None, self.channels,  # type: ignore[arg-type]
                              permissions=permissions)
        self.env = env
        env.peers[permissions.client_id] = self.peer

    def send(self, message: str) -> None:
        _on_channel_message(self.context, self.env, self.channels,  # type: ignore[arg-type]
                            "input", message)


def environment(*settings: str) -> tuple[WebRtcEnvironment, FakeHub, FakeHub, FakeInput]:
    video, audio, input_service = FakeHub(), FakeHub(), FakeInput()
    env = WebRtcEnvironment(mux=None, hub=video, addresses=(),  # type: ignore[arg-type]
                            certificate=object(), private_key=object(),  # type: ignore[arg-type]
                            input=input_service)  # type: ignore[arg-type]
    env.media_control = MediaControl(
        video, load_settings(list(settings), {}),
        StreamState(fps=30, bitrate_kbps=4000, crf=None), announce=env.announce, audio=audio,
    )
    return env, video, audio, input_service


def test_a_viewer_pauses_and_resumes_its_own_audio_and_video_only() -> None:
    env, video, _, _ = environment()
    viewer = Session(env, ClientPermissions.viewer("shared"))
    controller = Session(env, ClientPermissions.controller("ctl"))
    viewer.send("STOP_AUDIO")
    viewer.send("STOP_VIDEO")
    assert (viewer.peer.audio_paused, viewer.peer.video_paused) == (True, True)
    assert (controller.peer.audio_paused, controller.peer.video_paused) == (False, False)
    viewer.send("START_AUDIO")
    viewer.send("START_VIDEO")
    assert (viewer.peer.audio_paused, viewer.peer.video_paused) == (False, False)
    assert video.keyframes == ["a client resumed video"]


def test_media_toggles_go_through_the_permission_table(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    asked: list[tuple[Any, str]] = []

    def refuse_everything(event: Any, client: ClientPermissions, **_: Any) -> Verdict:
        asked.append((event, client.client_id))
        return Verdict(False, "refused by the table")

    monkeypatch.setattr(webrtc, "check", refuse_everything)
    env, _, _, _ = environment()
    viewer = Session(env, ClientPermissions.viewer("shared"))
    with caplog.at_level(logging.INFO, logger="selkies_trio.runtime.webrtc"):
        for verb in ("STOP_AUDIO", "STOP_VIDEO"):
            viewer.send(verb)
    assert [(event.kind, event.enabled) for event, _ in asked] == [("audio", False),
                                                                   ("video", False)]
    assert not viewer.peer.audio_paused and not viewer.peer.video_paused
    assert any("refused STOP audio from shared: refused by the table" in r.getMessage()
               for r in caplog.records)


def test_settings_reach_the_stream_and_the_desktop() -> None:
    env, video, _, input_service = environment()
    controller = Session(env, ClientPermissions.controller("ctl"))
    message = "SETTINGS," + json.dumps({"framerate": 24, "scaling_dpi": 120})
    controller.send(message)
    assert video.changes == [{"fps": 24}]
    # scaling_dpi is the X input layer's, applied there like `s,`.
    assert input_service.submitted == [("ctl", message)]
    # The other stream verbs stay with the media control.
    controller.send("vb,2000")
    assert len(input_service.submitted) == 1


def test_audio_bitrate_from_a_controller_reaches_the_audio_hub_within_the_setting() -> None:
    env, _, audio, input_service = environment("--audio-bitrate", "128000,64000,32000")
    controller = Session(env, ClientPermissions.controller("ctl"))
    viewer = Session(env, ClientPermissions.viewer("shared"))
    controller.send("ab,100000")
    viewer.send("ab,32000")
    controller.send("SETTINGS," + json.dumps({"audio_bitrate": 128000}))
    assert audio.bitrates == [64000, 128000]
    announced = [json.loads(frame)["data"]["action"] for label, frame in viewer.channels.sent]
    assert announced == ["audio_bitrate,64000", "audio_bitrate,128000"]
    assert env.media_control is not None
    assert env.media_control.settings_payload()["audio_bitrate"]["value"] == 128000
    assert not any(message.startswith("ab,") for _, message in input_service.submitted)
