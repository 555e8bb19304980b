"""Live control of the one shared stream from the browser, through the real server:
a controller's framerate, bitrate and size changes reach the encoder and every
client; a viewer's are refused. The synthetic source has no X screen, so a
resize scales the stream (the X11 case is in test_client_desktop.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import ServerProcess
from .test_client_desktop import WAIT_FRAMES, artifact, start_server, stop_server, wait_client

CONNECTED = ("client.connectionState === 'connected' && client.remoteSize"
             " && client.channels.get('input')?.readyState === 'open' && client.serverSettings")
SEND = "(text) => window.selkiesClient.channels.get('input').send(text)"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    running, reader = start_server(SELKIES_AUDIO_ENABLED="false", SELKIES_FRAMERATE="10-60",
                                   SELKIES_VIDEO_BITRATE="500-6000")
    try:
        yield running
    finally:
        stop_server(running, reader)


def metric(server: ServerProcess, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def processed(page: Any) -> None:
    """Returns once the server has handled everything this page sent on `input` so far:
    the channel is ordered, and the answer to a `pong` comes after all of it."""
    page.evaluate("() => { window.selkiesClient.lastLatency = undefined; }")
    page.evaluate(SEND, "pong,1")
    wait_client(page, "client.lastLatency !== undefined")


def test_controller_changes_reach_the_encoder_and_every_client(server, browser) -> None:
    controller = browser.new_page()
    viewer = browser.new_page()
    try:
        controller.goto(server.url + "/")
        viewer.goto(server.url + "/#shared")
        for page in (controller, viewer):
            wait_client(page, CONNECTED)

        # A viewer cannot change the shared stream.
        viewer.evaluate(SEND, "_arg_fps,12")
        viewer.evaluate(SEND, "vb,700")
        viewer.evaluate(SEND, 'SETTINGS,{"framerate":13}')
        processed(viewer)
        assert metric(server, "selkies_video_target_fps") == 60
        # 8000 kbps, the default, clamped into the configured range.
        assert metric(server, "selkies_video_target_bitrate_kbps") == 6000

        controller.evaluate(SEND, 'SETTINGS,{"framerate":15}')
        controller.evaluate(SEND, "vb,9000")  # clamped into 500-6000: no change
        controller.evaluate(SEND, "vb,2500")
        processed(controller)
        assert metric(server, "selkies_video_target_fps") == 15
        assert metric(server, "selkies_video_target_bitrate_kbps") == 2500
        # Every client's sidebar shows the values now in force.
        for page in (controller, viewer):
            wait_client(page, "client.serverSettings.framerate.value === 15"
                              " && client.serverSettings.video_bitrate.value === 2500")
        assert controller.locator("[data-setting='framerate'] output").text_content() == "15"

        # A new client is told the live values when it connects.
        late = browser.new_page()
        late.goto(server.url + "/")
        wait_client(late, CONNECTED)
        assert late.evaluate("() => window.selkiesClient.serverSettings.framerate.value") == 15
        late.close()

        # Resizing the stream reopens the encoder on the same connection and both
        # viewers decode the new size (it starts with a keyframe).
        opened = metric(server, "selkies_video_encoders_opened_total")
        controller.evaluate(SEND, "r,640x480")
        for page in (controller, viewer):
            wait_client(page, "client.remoteSize.width === 640 && client.remoteSize.height === 480")
            page.evaluate(WAIT_FRAMES, 3)
            assert page.evaluate("() => window.selkiesClient.attempts") == 0
        assert metric(server, "selkies_video_encoders_opened_total") == opened
        artifact(controller, "live_control_resized")
    finally:
        controller.close()
        viewer.close()


VIDEO_PACKETS = """async () => {
  const stats = await window.selkiesClient.pc.getStats();
  let packets = 0;
  stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") packets = s.packetsReceived; });
  return packets;
}"""


def test_a_paused_client_gets_no_video_until_it_resumes(server, browser) -> None:
    paused = browser.new_page()
    watching = browser.new_page()
    try:
        for page in (paused, watching):
            page.goto(server.url + "/")
            wait_client(page, CONNECTED)
            page.evaluate(WAIT_FRAMES, 2)
        paused.evaluate(SEND, "STOP_VIDEO")
        processed(paused)
        before = paused.evaluate(VIDEO_PACKETS), watching.evaluate(VIDEO_PACKETS)
        # The other client is the clock: ten frames go by for it.
        watching.evaluate(WAIT_FRAMES, 10)
        after = paused.evaluate(VIDEO_PACKETS), watching.evaluate(VIDEO_PACKETS)
        assert after[1] - before[1] >= 10
        assert after[0] - before[0] <= 3  # at most one frame already on its way
        paused.evaluate(SEND, "START_VIDEO")
        paused.evaluate(WAIT_FRAMES, 3)
    finally:
        paused.close()
        watching.close()
