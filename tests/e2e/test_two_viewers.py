"""Two Chromium pages watch one stream: both decode, the server runs one video encoder,
and Opus audio arrives over the same bundled transport."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator

import pytest

from .conftest import ARTIFACTS, ServerProcess
from .selkies_server import running_server
from .test_webrtc_video import WAIT_PRESENTED, WAIT_SETTINGS

# Resolves on the server's `stats` message (an event, every 2 s) once the audio
# inbound-rtp shows more than `previous` packets and decoded samples.
WAIT_AUDIO_PACKETS_ABOVE = """(previous) => new Promise((resolve, reject) => {
  const client = window.selkiesClient;
  const timer = setTimeout(() => reject(new Error("no new audio packets within 20 s")), 20000);
  client.onServerStats = async (serverStats) => {
    const stats = await client.pc.getStats();
    let audio = null;
    stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "audio") audio = s; });
    if (audio && audio.packetsReceived > previous && audio.totalSamplesReceived > 0) {
      client.onServerStats = null;
      clearTimeout(timer);
      resolve({ packetsReceived: audio.packetsReceived,
                totalSamplesReceived: audio.totalSamplesReceived,
                codecId: audio.codecId || "", serverStats });
    }
  };
})"""

CODEC = """async (codecId) => {
  const stats = await window.selkiesClient.pc.getStats();
  const codec = stats.get(codecId);
  return codec ? { mimeType: codec.mimeType, clockRate: codec.clockRate } : null;
}"""


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics:\n{text}"
    return float(match.group(1))


def test_two_viewers_share_one_encoder_and_hear_audio(server, browser) -> None:
    pages = []
    for _ in range(2):
        page = browser.new_page()
        page.on("console", lambda message: server.log.append(f"[console] {message.text}\n"))
        page.goto(server.url + "/")
        pages.append(page)
    try:
        for page in pages:
            assert page.evaluate(WAIT_PRESENTED, 60) >= 60
    except Exception as error:
        ARTIFACTS.mkdir(exist_ok=True)
        for number, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"two_viewers_failure_{number}.png"))
        raise AssertionError("a viewer decoded no 60 frames:\n" + "".join(server.log)) from error

    for page in pages:
        sdp = page.evaluate("() => window.selkiesClient.pc.remoteDescription.sdp")
        assert re.findall(r"^m=(\w+)", sdp, re.MULTILINE) == ["video", "audio", "application"]
        assert "a=rtpmap:111 opus/48000/2" in sdp

    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert _metric(metrics, "selkies_video_encoders_opened_total") == 1
    assert _metric(metrics, "selkies_video_subscribers") == 2
    assert _metric(metrics, "selkies_audio_enabled") == 1
    assert _metric(metrics, "selkies_audio_encoders_opened_total") == 1
    assert len(re.findall(r'^selkies_peer_rtp_packets_total\{.*kind="audio"\} [1-9]',
                          metrics, re.MULTILINE)) == 2

    for page in pages:
        audio = page.evaluate(WAIT_AUDIO_PACKETS_ABOVE, 0)
        assert audio["totalSamplesReceived"] > 0
        codec = page.evaluate(CODEC, audio["codecId"])
        assert codec == {"mimeType": "audio/opus", "clockRate": 48000}
        server_stats = audio["serverStats"]
        assert server_stats["viewers"] == 2
        assert server_stats["encoder_fps"] > 0 and server_stats["video_bitrate_kbps"] > 0
        assert server_stats["encode_ms"] > 0 and server_stats["memory_bytes"] > 0
        assert server_stats["cpu_percent"] >= 0
        later = page.evaluate(WAIT_AUDIO_PACKETS_ABOVE, audio["packetsReceived"])
        assert later["packetsReceived"] > audio["packetsReceived"]


@pytest.fixture
def server_without_audio() -> Iterator[ServerProcess]:
    """The `server` fixture's server with SELKIES_AUDIO_ENABLED=false."""
    with running_server(SELKIES_AUDIO_ENABLED="false") as running:
        yield running


def test_audio_disabled_offers_no_audio_and_keeps_video_and_data(
    server_without_audio, browser
) -> None:
    page = browser.new_page()
    page.goto(server_without_audio.url + "/")
    assert page.evaluate(WAIT_PRESENTED, 30) >= 30
    assert page.evaluate(WAIT_SETTINGS)["settings"]["audio_enabled"]["value"] is False
    sdp = page.evaluate("() => window.selkiesClient.pc.remoteDescription.sdp")
    assert "m=audio" not in sdp
    assert re.findall(r"^m=(\w+)", sdp, re.MULTILINE) == ["video", "application"]
    kinds = page.evaluate("() => window.selkiesClient.pc.getReceivers().map(r => r.track.kind)")
    assert kinds == ["video"]
    with urllib.request.urlopen(server_without_audio.url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert _metric(metrics, "selkies_audio_enabled") == 0
    assert "selkies_audio_packets_encoded_total" not in metrics
