"""SDP: captured Chromium descriptions, our offers and answers, and Chromium accepting them."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.rtp import ABS_SEND_TIME_URI, SDES_MID_URI, TRANSPORT_WIDE_CC_URI
from selkies_trio.proto.sdp import (
    Fingerprint,
    SdpParseError,
    SessionDescription,
    parse_sdp_untrusted,
)
from selkies_trio.proto.sdp_negotiation import (
    LocalTrack,
    LocalTransport,
    MediaSection,
    SdpLocalProtocolError,
    build_answer,
    build_offer,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM_OFFER = (FIXTURES / "chromium_offer.sdp").read_bytes().decode()
CHROMIUM_ANSWER = (FIXTURES / "chromium_answer.sdp").read_bytes().decode()
OUR_OFFER = (FIXTURES / "our_offer.sdp").read_bytes().decode()


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_sdp_fixtures", FIXTURES / "generate_sdp_fixtures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def our_transport(setup: str = "actpass") -> LocalTransport:
    return LocalTransport(
        ice_ufrag="ufrg",
        ice_pwd="p" * 24,
        fingerprint=Fingerprint.from_digest("sha-256", hashlib.sha256(b"cert").digest()),
        setup=setup,
        candidates=("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host generation 0",),
    )


VIDEO_TRACK = LocalTrack(0x11111111, "selkies-cname", "selkies", "video")
AUDIO_TRACK = LocalTrack(0x22222222, "selkies-cname", "selkies", "audio")


def test_parse_chromium_offer() -> None:
    offer = parse_sdp_untrusted(CHROMIUM_OFFER)
    assert offer.bundle_mids() == ["0", "1", "2"]
    assert offer.extmap_allow_mixed
    assert [m.kind for m in offer.media] == ["video", "audio", "application"]
    video, audio, application = offer.media
    for media in offer.media:
        credentials = offer.ice_credentials(media)
        assert credentials is not None and len(credentials[0]) >= 4 and len(credentials[1]) >= 22
        (fingerprint,) = offer.fingerprints_for(media)
        assert fingerprint.algorithm == "sha-256"
        assert len(fingerprint.digest()) == 32
        assert offer.setup_for(media) == "actpass"
        assert media.ice_options == ["trickle"]
    assert video.mid == "0" and video.direction == "recvonly"
    assert video.rtcp_mux and video.rtcp_rsize
    assert video.protocol == "UDP/TLS/RTP/SAVPF"
    assert [str(c.payload_type) for c in video.codecs] == video.formats
    h264 = video.codecs_named("H264")
    assert len(h264) >= 2
    constrained = [
        c
        for c in h264
        if c.parameters.get("profile-level-id") == "42e01f"
        and c.parameters.get("packetization-mode") == "1"
    ]
    assert len(constrained) == 1
    assert {"nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"} <= set(
        constrained[0].feedback
    )
    assert video.extension_id(TRANSPORT_WIDE_CC_URI) is not None
    assert video.extension_id(ABS_SEND_TIME_URI) is not None
    assert video.extension_id(SDES_MID_URI) is not None
    (opus,) = audio.codecs_named("opus")
    assert (opus.clock_rate, opus.channels) == (48000, 2)
    assert opus.parameters["useinbandfec"] == "1"
    # Static payload types carry an rtpmap in Chromium's offer too.
    assert audio.codec(0) is not None and audio.codec(0).name == "PCMU"  # type: ignore[union-attr]
    assert application.protocol == "UDP/DTLS/SCTP"
    assert application.formats == ["webrtc-datachannel"]
    assert application.sctp_port == 5000
    assert application.max_message_size == 262144


def test_parse_chromium_answer_to_our_offer() -> None:
    answer = parse_sdp_untrusted(CHROMIUM_ANSWER)
    assert answer.bundle_mids() == ["0", "1", "2"]
    video, audio, application = answer.media
    assert answer.setup_for(video) in ("active", "passive")
    assert video.direction == "recvonly" and audio.direction == "recvonly"
    (codec,) = video.codecs
    assert codec.payload_type == 102
    assert codec.parameters["profile-level-id"] == "42e01f"
    assert codec.parameters["packetization-mode"] == "1"
    assert "transport-cc" in codec.feedback and "nack pli" in codec.feedback
    assert video.extension_id(TRANSPORT_WIDE_CC_URI) == 3
    assert audio.codecs[0].name == "opus"
    assert application.sctp_port == 5000


@pytest.mark.parametrize("text", [CHROMIUM_OFFER, CHROMIUM_ANSWER, OUR_OFFER])
def test_serialization_round_trip(text: str) -> None:
    parsed = parse_sdp_untrusted(text)
    again = parse_sdp_untrusted(parsed.to_sdp())
    assert again == parsed
    assert again.to_sdp() == parsed.to_sdp()
    # Every line of the original survives (attribute order may differ).
    assert sorted(parsed.to_sdp().split("\r\n")) == sorted(text.replace("\r\n", "\n").split("\n"))


def test_unknown_lines_and_attributes_are_kept() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\ni=session info\r\nt=0 0\r\na=custom:1\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\ni=media info\r\nb=AS:500\r\na=flag\r\n"
        "a=rtcp-fb:* nack\r\na=fmtp:96\r\n"
    )
    parsed = parse_sdp_untrusted(text)
    assert parsed.media[0].other_lines == ["i=media info"]
    assert parsed.media[0].bandwidths == ["AS:500"]
    assert ("flag", None) in parsed.media[0].other_attributes
    assert ("rtcp-fb", "* nack") in parsed.media[0].other_attributes
    assert parse_sdp_untrusted(parsed.to_sdp()) == parsed
    assert sorted(parsed.to_sdp().split("\r\n")) == sorted(text.split("\r\n"))


def test_our_offer_fixture_matches_the_builder() -> None:
    assert load_generator().fixed_offer_sdp() == OUR_OFFER


def test_build_offer_contents() -> None:
    offer = build_offer(
        our_transport(),
        [
            MediaSection("video", "0", track=VIDEO_TRACK),
            MediaSection("audio", "1", track=AUDIO_TRACK),
            MediaSection("application", "2"),
        ],
        random=lambda n: bytes(range(1, n + 1)),
    )
    text = offer.to_sdp()
    assert offer.origin.session_id == str(int.from_bytes(bytes(range(1, 9)), "big"))
    for line in [
        "a=group:BUNDLE 0 1 2",
        "m=video 9 UDP/TLS/RTP/SAVPF 102",
        "a=rtpmap:102 H264/90000",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtcp-fb:102 nack",
        "a=rtcp-fb:102 nack pli",
        "a=rtcp-fb:102 ccm fir",
        "a=rtcp-fb:102 goog-remb",
        "a=rtcp-fb:102 transport-cc",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
        "a=setup:actpass",
        "a=ice-options:trickle",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        f"a=extmap:2 {ABS_SEND_TIME_URI}",
        f"a=extmap:3 {TRANSPORT_WIDE_CC_URI}",
        f"a=extmap:1 {SDES_MID_URI}",
        "a=msid:selkies video",
        "a=ssrc:286331153 cname:selkies-cname",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host generation 0",
        "a=sendonly",
    ]:
        assert line + "\r\n" in text, line
    assert text.count("a=fingerprint:sha-256 ") == 3


def test_build_answer_to_chromium_offer() -> None:
    offer = parse_sdp_untrusted(CHROMIUM_OFFER)
    answer = build_answer(
        offer,
        our_transport("passive"),
        {"video": VIDEO_TRACK, "audio": AUDIO_TRACK},
        session_id="77",
    )
    assert answer.bundle_mids() == ["0", "1", "2"]
    video, audio, application = answer.media
    (codec,) = video.codecs
    offered = offer.media[0].codec(codec.payload_type)
    assert offered is not None and offered.parameters["profile-level-id"] == "42e01f"
    assert offered.parameters["packetization-mode"] == "1"
    assert set(codec.feedback) == {"nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"}
    # The offerer's extension identifiers are kept; the ones we do not use are dropped.
    assert video.extension_id(TRANSPORT_WIDE_CC_URI) == offer.media[0].extension_id(
        TRANSPORT_WIDE_CC_URI
    )
    assert video.extension_id("urn:3gpp:video-orientation") is None
    assert video.direction == "sendonly" and audio.direction == "sendonly"
    assert audio.codecs[0].name == "opus" and audio.codecs[0].payload_type == 111
    assert application.sctp_port == 5000
    assert all(answer.setup_for(m) == "passive" for m in answer.media)
    assert parse_sdp_untrusted(answer.to_sdp()) == answer


def test_answer_rejects_what_it_cannot_serve() -> None:
    offer = parse_sdp_untrusted(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a b c\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:a\r\na=rtpmap:96 VP8/90000\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:b\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n"
        "m=text 9 RTP/AVP 98\r\na=mid:c\r\n"
    )
    answer = build_answer(offer, our_transport("active"), {}, session_id="1")
    video, audio, text = answer.media
    assert video.port == 0 and video.mid == "a"
    assert text.port == 0
    assert audio.port == 9 and audio.direction == "recvonly"
    assert answer.bundle_mids() == ["b"]


def test_local_errors() -> None:
    with pytest.raises(SdpLocalProtocolError):
        build_offer(our_transport("active"), [MediaSection("video", "0")])
    with pytest.raises(SdpLocalProtocolError):
        build_offer(our_transport(), [MediaSection("video", "0"), MediaSection("audio", "0")])
    with pytest.raises(SdpLocalProtocolError):
        build_answer(parse_sdp_untrusted(CHROMIUM_OFFER), our_transport("actpass"))


def test_session_level_transport_attributes() -> None:
    session = parse_sdp_untrusted(
        "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\na=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\n"
        "a=fingerprint:sha-256 AA:BB\na=setup:passive\nm=audio 9 UDP/TLS/RTP/SAVPF 0\na=mid:x\n"
    )
    (media,) = session.media
    assert session.ice_credentials(media) == ("abcd", "0123456789012345678901")
    assert session.fingerprints_for(media) == [Fingerprint("sha-256", "AA:BB")]
    assert session.setup_for(media) == "passive"
    assert session.media_by_mid("x") is media and session.media_by_mid("y") is None


HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
MALFORMED = {
    "empty": "",
    "no version": "o=- 1 1 IN IP4 0.0.0.0\r\n",
    "version 1": "v=1\r\n",
    "not type=value": HEAD + "garbage\r\n",
    "digit type": HEAD + "1=x\r\n",
    "origin short": "v=0\r\no=- 1 1 IN IP4\r\n",
    "origin id text": "v=0\r\no=- x 1 IN IP4 0.0.0.0\r\n",
    "media short": HEAD + "m=video 9\r\n",
    "media port text": HEAD + "m=video nine UDP/TLS/RTP/SAVPF 96\r\n",
    "media port big": HEAD + "m=video 70000 UDP/TLS/RTP/SAVPF 96\r\n",
    "rtpmap no rate": HEAD + "m=video 9 P 96\r\na=rtpmap:96 VP8\r\n",
    "rtpmap pt 200": HEAD + "m=video 9 P 96\r\na=rtpmap:200 VP8/90000\r\n",
    "rtpmap rate text": HEAD + "m=video 9 P 96\r\na=rtpmap:96 VP8/fast\r\n",
    "rtpmap four fields": HEAD + "m=video 9 P 96\r\na=rtpmap:96 VP8/1/2/3\r\n",
    "fmtp pt text": HEAD + "m=video 9 P 96\r\na=fmtp:x apt=1\r\n",
    "rtcp-fb pt negative": HEAD + "m=video 9 P 96\r\na=rtcp-fb:-1 nack\r\n",
    "fingerprint no value": HEAD + "a=fingerprint:sha-256\r\n",
    "fingerprint bad hex": HEAD + "m=video 9 P 96\r\na=fingerprint:sha-256 ZZ:00\r\n",
    "fingerprint odd pair": HEAD + "a=fingerprint:sha-256 ABC:00\r\n",
    "setup bogus": HEAD + "a=setup:both\r\n",
    "media setup bogus": HEAD + "m=video 9 P 96\r\na=setup\r\n",
    "extmap id zero": HEAD + "m=video 9 P 96\r\na=extmap:0 urn:x\r\n",
    "extmap no uri": HEAD + "m=video 9 P 96\r\na=extmap:1\r\n",
    "ssrc text": HEAD + "m=video 9 P 96\r\na=ssrc:abc cname:x\r\n",
    "ssrc too big": HEAD + "m=video 9 P 96\r\na=ssrc:4294967296 cname:x\r\n",
    "ssrc-group empty": HEAD + "m=video 9 P 96\r\na=ssrc-group:\r\n",
    "ssrc-group text": HEAD + "m=video 9 P 96\r\na=ssrc-group:FID a b\r\n",
    "sctp-port text": HEAD + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sctp-port:x\r\n",
    "max-message-size unicode digits": HEAD + "m=application 9 P w\r\na=max-message-size:\u0663\r\n",
    "group empty": HEAD + "a=group:\r\n",
    "five thousand digit port": HEAD + "m=video " + "9" * 5000 + " P 96\r\n",
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_descriptions_raise_parse_error(text: str) -> None:
    with pytest.raises(SdpParseError):
        parse_sdp_untrusted(text)


def test_non_text_is_a_parse_error() -> None:
    with pytest.raises(SdpParseError):
        parse_sdp_untrusted(b"v=0\r\n")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_raises_only_parse_error(text: str) -> None:
    try:
        parse_sdp_untrusted(text)
    except SdpParseError:
        pass


attribute_names = st.sampled_from(
    [
        "rtpmap", "fmtp", "rtcp-fb", "extmap", "mid", "msid", "ssrc", "ssrc-group", "sctp-port",
        "max-message-size", "fingerprint", "setup", "candidate", "group", "ice-ufrag", "sendonly",
        "rtcp", "ice-options",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.sampled_from("aaaaabcix"),
            attribute_names,
            st.text(alphabet="0123456789 :/=;abAB-*", max_size=20),
        ),
        max_size=8,
    )
)
def test_fuzz_attribute_values_raise_only_parse_error(
    lines: list[tuple[bool, str, str, str]],
) -> None:
    text = HEAD
    for in_media, kind, name, value in lines:
        if in_media:
            text += "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        text += f"{kind}={name}:{value}\r\n"
    try:
        parsed = parse_sdp_untrusted(text)
    except SdpParseError:
        return
    assert isinstance(parsed, SessionDescription)
    assert parse_sdp_untrusted(parsed.to_sdp()) == parsed


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(CHROMIUM_OFFER) - 1), st.integers(1, 40), st.text(max_size=5))
def test_fuzz_mutated_chromium_offer(position: int, length: int, insert: str) -> None:
    text = CHROMIUM_OFFER[:position] + insert + CHROMIUM_OFFER[position + length :]
    try:
        parse_sdp_untrusted(text)
    except SdpParseError:
        pass


# One Chromium launch: it must accept our offer, and our answer to its own offer.

CHROMIUM_CHECK_SCRIPT = """async (ourOffer) => {
  const results = {};
  const a = new RTCPeerConnection();
  await a.setRemoteDescription({type: "offer", sdp: ourOffer});
  const answer = await a.createAnswer();
  await a.setLocalDescription(answer);
  results.answerToOurOffer = answer.sdp;
  results.transceivers = a.getTransceivers().map(t => [t.mid, t.currentDirection]);
  a.close();

  const b = new RTCPeerConnection();
  b.addTransceiver("video", {direction: "recvonly"});
  b.addTransceiver("audio", {direction: "recvonly"});
  b.createDataChannel("input");
  const offer = await b.createOffer();
  await b.setLocalDescription(offer);
  results.browserOffer = offer.sdp;
  await b.setRemoteDescription({type: "answer", sdp: await window.answerFor(offer.sdp)});
  results.signalingState = b.signalingState;
  results.receivers = b.getTransceivers().map(t => [t.mid, t.currentDirection]);
  b.close();
  return results;
}"""


def test_chromium_accepts_our_offer_and_our_answer() -> None:
    from playwright.sync_api import sync_playwright

    generator = load_generator()
    offer_text = build_offer(
        our_transport(),
        [
            MediaSection("video", "0", track=VIDEO_TRACK),
            MediaSection("audio", "1", track=AUDIO_TRACK),
            MediaSection("application", "2"),
        ],
        session_id="9",
    ).to_sdp()

    def answer_for(browser_offer: str) -> str:
        return build_answer(
            parse_sdp_untrusted(browser_offer),
            our_transport("passive"),
            {"video": VIDEO_TRACK, "audio": AUDIO_TRACK},
            session_id="10",
        ).to_sdp()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=generator.CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto("about:blank")
            page.expose_function("answerFor", answer_for)
            results = page.evaluate(CHROMIUM_CHECK_SCRIPT, offer_text)
        finally:
            browser.close()
    answer = parse_sdp_untrusted(results["answerToOurOffer"])
    assert answer.media[0].codecs[0].payload_type == 102
    assert answer.media[0].direction == "recvonly"
    assert answer.media[2].sctp_port == 5000
    assert results["transceivers"][:2] == [["0", "recvonly"], ["1", "recvonly"]]
    assert results["signalingState"] == "stable"
    assert results["receivers"] == [["0", "recvonly"], ["1", "recvonly"]]
