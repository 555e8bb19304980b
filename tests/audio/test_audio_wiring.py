"""How audio and statistics are wired into sessions and the service: the offer's audio
m-line, the per-peer Opus RTP stream, the settings, `/metrics` and the `stats` payload."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest
import trio

from selkies_trio.app.http import render_metrics
from selkies_trio.app.signalling import SignallingHub
from selkies_trio.media.audio import SAMPLES_PER_FRAME, EncodedAudio, OpusEncoder, ToneSource
from selkies_trio.media.capture_synthetic import SyntheticSource
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.proto.dtls.certificate import generate_certificate
from selkies_trio.proto.peer import PeerStatistics, PeerTransport
from selkies_trio.proto.rtcp import SenderReport, parse_rtcp_compound_untrusted
from selkies_trio.proto.rtp import SDES_MID_URI, decode_mid_untrusted, parse_rtp_untrusted
from selkies_trio.proto.sdp import parse_sdp_untrusted
from selkies_trio.proto.sdp_negotiation import DEFAULT_EXTENSION_IDS
from selkies_trio.runtime.audio_hub import AudioHub
from selkies_trio.runtime.hub import BroadcastHub
from selkies_trio.runtime.service import MediaStatistics, audio_hub_from_settings
from selkies_trio.runtime.udp_mux import UdpMux
from selkies_trio.runtime.webrtc import (
    AudioSender,
    PeerMedia,
    VideoSender,
    WebRtcEnvironment,
    _build_offer,
)
from tests.app.server import make_settings


def _counter(seed: int = 7):
    state = {"n": seed}

    def random(size: int) -> bytes:
        state["n"] += 1
        return (state["n"].to_bytes(4, "big") * (size // 4 + 1))[:size]

    return random


@pytest.fixture(scope="module")
def credentials():
    return generate_certificate(time.time())


def _offer(credentials, audio_ssrc: int | None):
    certificate, key = credentials
    transport = PeerTransport(certificate, key, random=_counter())
    text = _build_offer(transport, [], 1234, _counter(), audio_ssrc)
    return parse_sdp_untrusted(text)


def test_offer_bundles_video_audio_and_data_in_that_order(credentials) -> None:
    offer = _offer(credentials, 5678)
    assert [(m.kind, m.mid) for m in offer.media] == [
        ("video", "0"), ("audio", "1"), ("application", "2")
    ]
    assert [(g.semantics, g.mids) for g in offer.groups] == [("BUNDLE", ["0", "1", "2"])]
    audio = offer.media[1]
    assert audio.direction == "sendonly"
    assert [(c.payload_type, c.name, c.clock_rate, c.channels) for c in audio.codecs] == [
        (111, "opus", 48_000, 2)
    ]
    assert {s.ssrc for s in audio.ssrcs} == {5678}
    assert audio.extension_id(SDES_MID_URI) == DEFAULT_EXTENSION_IDS[SDES_MID_URI]
    assert {s.ssrc for s in offer.media[0].ssrcs} == {1234}


def test_offer_without_audio_keeps_the_data_channel_on_mid_1(credentials) -> None:
    offer = _offer(credentials, None)
    assert [(m.kind, m.mid) for m in offer.media] == [("video", "0"), ("application", "1")]
    assert [g.mids for g in offer.groups] == [["0", "1"]]


@dataclass
class RecordingTransport:
    """Stands in for a connected PeerTransport: keeps what would go to SRTP."""

    rtp: list[bytes] = field(default_factory=list)
    ready: bool = True
    stats: PeerStatistics = field(default_factory=PeerStatistics)

    def send_rtp(self, packet: bytes) -> None:
        self.rtp.append(packet)
        self.stats.rtp_sent += 1
        self.stats.rtp_bytes_sent += len(packet) + 10  # what an SRTP tag would add


def _opus(index: int, first: bool = False) -> EncodedAudio:
    return EncodedAudio(bytes([index]) * 50, index * SAMPLES_PER_FRAME, SAMPLES_PER_FRAME,
                        index * 0.02, first=first)


def test_audio_sender_writes_rfc7587_rtp_with_its_own_ssrc_and_mid() -> None:
    transport = RecordingTransport()
    random = _counter()
    video = VideoSender(transport, random)  # type: ignore[arg-type]
    sender = AudioSender(transport, random)  # type: ignore[arg-type]
    assert sender.ssrc != video.ssrc
    # Joins a running stream at packet 40: no `first` flag, yet its first packet is marked.
    for index in (40, 41, 42):
        sender.send_packet(_opus(index), now=index * 0.02)
    packets = [parse_rtp_untrusted(data) for data in transport.rtp]
    assert [p.payload_type for p in packets] == [111, 111, 111]
    assert [p.marker for p in packets] == [True, False, False]
    assert {p.ssrc for p in packets} == {sender.ssrc}
    assert [p.sequence_number - packets[0].sequence_number for p in packets] == [0, 1, 2]
    assert [(p.timestamp - packets[0].timestamp) % 2**32 for p in packets] == [0, 960, 1920]
    assert packets[0].timestamp == (40 * 960 + sender.timestamp_offset) % 2**32
    assert [p.payload for p in packets] == [bytes([i]) * 50 for i in (40, 41, 42)]
    mid = packets[0].get_extension(DEFAULT_EXTENSION_IDS[SDES_MID_URI])
    assert mid is not None and decode_mid_untrusted(mid) == "1"
    assert (sender.packets, sender.octets) == (3, 150)
    # A restarted stream (new encoder) is marked again.
    sender.send_packet(_opus(0, first=True), now=1.0)
    assert parse_rtp_untrusted(transport.rtp[-1]).marker is True
    report = parse_rtcp_compound_untrusted(sender.sender_report(now=1.5, wall=1e9))
    assert isinstance(report[0], SenderReport)
    assert report[0].ssrc == sender.ssrc and report[0].packet_count == 4


async def test_audio_settings_are_honoured() -> None:
    assert audio_hub_from_settings(make_settings("--audio-enabled", "false")) is None
    hub = audio_hub_from_settings(make_settings(env={"SELKIES_AUDIO_BITRATE": "64000"}))
    assert hub is not None and hub.statistics().bitrate == 64_000
    default = audio_hub_from_settings(make_settings())
    assert default is not None and default.statistics().bitrate == 320_000


def _value(text: str, line_start: str) -> float:
    match = re.search(rf"^{re.escape(line_start)} (\S+)$", text, re.MULTILINE)
    assert match, f"{line_start} missing from:\n{text}"
    return float(match.group(1))


async def test_metrics_and_stats_show_one_encoder_for_two_viewers(credentials) -> None:
    video_hub = BroadcastHub(lambda: SyntheticSource(160, 96), H264Encoder, fps=30,
                             bitrate_kbps=500)
    audio_hub = AudioHub(ToneSource, OpusEncoder, bitrate=64_000)
    certificate, key = credentials
    environment = WebRtcEnvironment(mux=UdpMux("127.0.0.1", 0), hub=video_hub, addresses=(),
                                    certificate=certificate, private_key=key,
                                    audio_hub=audio_hub)
    statistics = MediaStatistics(environment)
    transport = RecordingTransport()
    random = _counter()
    media = PeerMedia(transport, VideoSender(transport, random),  # type: ignore[arg-type]
                      AudioSender(transport, random),  # type: ignore[arg-type]
                      channels=None)  # type: ignore[arg-type]
    environment.peers['client "1"'] = media
    async with trio.open_nursery() as nursery:
        await nursery.start(video_hub.run)
        await nursery.start(audio_hub.run)
        with trio.fail_after(20):
            async with video_hub.subscribe(name="first") as one, video_hub.subscribe(
                name="second"
            ) as two, audio_hub.subscribe(name="ears") as ears:
                for _ in range(10):
                    await one.receive()
                    await two.receive()
                assert media.audio is not None
                for _ in range(5):
                    media.audio.send_packet(await ears.receive(), trio.current_time())
                media.video.send_frame([b"x" * 100, b"y" * 20], 1.0)
                text = statistics.render_metrics()
                payload = statistics.stats_payload()
        nursery.cancel_scope.cancel()

    assert _value(text, "selkies_video_encoders_opened_total") == 1
    assert _value(text, "selkies_video_subscribers") == 2
    assert _value(text, "selkies_video_frames_encoded_total") >= 10
    assert _value(text, "selkies_video_encoded_fps") > 0
    assert _value(text, "selkies_video_bitrate_kbps") > 0
    assert _value(text, "selkies_video_encode_milliseconds") > 0
    assert _value(text, 'selkies_video_subscriber_dropped_frames_total{subscriber="first"}') == 0
    delivered = 'selkies_video_subscriber_delivered_frames_total{subscriber="second"}'
    assert _value(text, delivered) >= 10
    # The client id `client "1"` is escaped as Prometheus label values must be.
    video_labels = '{client="client \\"1\\"",kind="video"}'
    audio_labels = video_labels.replace("video", "audio")
    assert _value(text, "selkies_peer_rtp_packets_total" + video_labels) == 2
    assert _value(text, "selkies_peer_rtp_payload_bytes_total" + video_labels) == 120
    assert _value(text, "selkies_peer_rtp_packets_total" + audio_labels) == 5
    srtp_bytes = sum(len(packet) + 10 for packet in transport.rtp)
    assert _value(text, 'selkies_peer_srtp_bytes_total{client="client \\"1\\""}') == srtp_bytes
    assert _value(text, "selkies_audio_enabled") == 1
    assert _value(text, "selkies_audio_encoders_opened_total") == 1
    assert _value(text, "selkies_audio_packets_encoded_total") >= 5
    assert _value(text, "selkies_audio_bitrate_kbps") > 0
    assert _value(text, 'selkies_audio_subscriber_dropped_packets_total{subscriber="ears"}') == 0
    assert all(line.startswith("#") or " " in line for line in text.splitlines())

    assert payload["viewers"] == 2
    assert payload["encoder"] == "libx264"
    assert payload["resolution"] == "160x96"
    assert payload["encoder_fps"] > 0 and payload["video_bitrate_kbps"] > 0
    assert payload["encode_ms"] > 0 and payload["memory_bytes"] > 1_000_000
    assert payload["cpu_percent"] >= 0 and payload["video_queue_drops"] == 0
    assert payload["audio_source"] == "tone 440 Hz" and payload["audio_bitrate_kbps"] > 0


def test_metrics_without_audio_say_so(credentials) -> None:
    certificate, key = credentials
    environment = WebRtcEnvironment(
        mux=UdpMux("127.0.0.1", 0),
        hub=BroadcastHub(lambda: SyntheticSource(160, 96), H264Encoder),
        addresses=(), certificate=certificate, private_key=key,
    )

    async def render() -> tuple[str, dict[str, object]]:
        statistics = MediaStatistics(environment)
        return statistics.render_metrics(), statistics.stats_payload()

    text, payload = trio.run(render)
    assert _value(text, "selkies_audio_enabled") == 0
    assert "selkies_audio_packets_encoded_total" not in text
    assert _value(text, "selkies_video_encoders_opened_total") == 0
    assert "audio_bitrate_kbps" not in payload and payload["viewers"] == 0


def test_render_metrics_appends_the_media_provider() -> None:
    hub = SignallingHub()
    text = render_metrics(hub, lambda: "selkies_media_example 3")
    assert text.endswith("\nselkies_media_example 3\n")
    assert "selkies_process_resident_memory_bytes" in text
    assert render_metrics(hub) == render_metrics(hub, lambda: "")
