"""Chromium decodes our video over our own ICE, DTLS 1.2 and SRTP."""

from __future__ import annotations

from .conftest import ARTIFACTS

FRAMES_DECODED = """async () => {
  const pc = window.selkiesClient && window.selkiesClient.pc;
  if (!pc) return 0;
  const stats = await pc.getStats();
  let frames = 0;
  stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0; });
  return frames;
}"""

# Resolves on the video element's own frame callbacks (an event, not a poll).
WAIT_PRESENTED = """(count) => new Promise((resolve, reject) => {
  const video = document.getElementById("stream");
  const timer = setTimeout(() => reject(new Error("timed out waiting for frames")), 60000);
  const onFrame = (now, metadata) => {
    if (metadata.presentedFrames >= count) { clearTimeout(timer); resolve(metadata.presentedFrames); }
    else video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
})"""

TRANSPORT = """async () => {
  const stats = await window.selkiesClient.pc.getStats();
  let found = null;
  stats.forEach((s) => { if (s.type === "transport") found = s; });
  return found && {
    dtlsState: found.dtlsState, tlsVersion: found.tlsVersion, dtlsCipher: found.dtlsCipher,
    srtpCipher: found.srtpCipher, dtlsRole: found.dtlsRole,
  };
}"""


def test_chromium_decodes_60_frames_with_dtls12_and_srtp(server, browser) -> None:
    page = browser.new_page()
    page.on("console", lambda message: server.log.append(f"[console] {message.text}\n"))
    page.goto(server.url + "/")
    try:
        page.evaluate(WAIT_PRESENTED, 60)
    except Exception as error:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "webrtc_video_failure.png"))
        raise AssertionError(
            "no 60 decoded frames; server log:\n" + "".join(server.log)
        ) from error
    assert page.evaluate(FRAMES_DECODED) >= 60
    transport = page.evaluate(TRANSPORT)
    assert transport["dtlsState"] == "connected"
    assert transport["tlsVersion"] == "FEFD"  # DTLS 1.2
    assert transport["dtlsCipher"] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    # Chrome names the profile as RFC 5764 does.
    assert transport["srtpCipher"] in ("SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webrtc_video.png"))


WAIT_SETTINGS = """() => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no server_settings within 30 s")), 30000);
  const check = () => {
    const client = window.selkiesClient;
    if (client.serverSettings && client.lastLatency !== undefined) {
      clearTimeout(timer);
      resolve({ settings: client.serverSettings, latency: client.lastLatency });
    } else {
      client.onUpdate = check;
    }
  };
  check();
})"""


def test_input_channel_brings_settings_and_latency(server, browser) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    result = page.evaluate(WAIT_SETTINGS)
    assert result["settings"]["framerate"]["value"] == 60
    assert "master_token" not in result["settings"]
    assert 0 <= result["latency"] < 5000
    labels = page.evaluate("() => [...window.selkiesClient.channels.keys()].sort()")
    assert labels == ["input", "pointer"]
    ordered = page.evaluate(
        "() => [...window.selkiesClient.channels.values()].map(c => [c.label, c.ordered, c.maxRetransmits])"
    )
    assert sorted(ordered) == [["input", True, None], ["pointer", False, 0]]
