"""runtime/webrtc.py: a peer's video sender answers NACK and PLI/FIR for its own SSRC only."""

from __future__ import annotations

import random

import trio
import trio.testing

from selkies_trio.proto.rtcp import (
    FirEntry,
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    ReceiverReport,
    SenderReport,
    ntp_timestamp_from_unix,
    parse_rtcp_compound_untrusted,
)
from selkies_trio.proto.rtp import parse_rtp_untrusted
from selkies_trio.runtime.webrtc import VideoSender


class RecordingTransport:
    """Stands in for PeerTransport: records the (unprotected) RTP it is given."""

    ready = True

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        self.sent.append(packet)


def _sender() -> tuple[VideoSender, RecordingTransport]:
    transport = RecordingTransport()
    generator = random.Random(3)
    sender = VideoSender(transport, lambda n: generator.randbytes(n))  # type: ignore[arg-type]
    return sender, transport


async def test_nack_resends_the_named_packets_byte_for_byte() -> None:
    sender, transport = _sender()
    sender.send_frame([b"a" * 100, b"b" * 100, b"c" * 100], capture_time=1.0)
    first = [parse_rtp_untrusted(p).sequence_number for p in transport.sent]
    assert [parse_rtp_untrusted(p).marker for p in transport.sent] == [False, False, True]
    originals = list(transport.sent)
    asked: list[str] = []

    sender.handle_feedback(GenericNack(1, sender.ssrc, (first[2], first[0])), asked.append)
    assert transport.sent[3:] == [originals[2], originals[0]]
    # A NACK about someone else's SSRC resends nothing.
    sender.handle_feedback(GenericNack(1, sender.ssrc ^ 1, (first[1],)), asked.append)
    assert len(transport.sent) == 5 and asked == []


async def test_pli_and_fir_for_our_ssrc_ask_for_a_keyframe() -> None:
    sender, _ = _sender()
    asked: list[str] = []
    sender.handle_feedback(PictureLossIndication(1, sender.ssrc), asked.append)
    sender.handle_feedback(FullIntraRequest(1, (FirEntry(sender.ssrc, 1),)), asked.append)
    sender.handle_feedback(PictureLossIndication(1, sender.ssrc + 1), asked.append)
    sender.handle_feedback(FullIntraRequest(1, (FirEntry(sender.ssrc + 1, 1),)), asked.append)
    sender.handle_feedback(ReceiverReport(1, ()), asked.append)
    assert len(asked) == 2 and sender.keyframe_requests == 2


async def test_sender_report_pairs_wall_time_with_the_rtp_time_of_that_instant(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # RFC 3550 6.4.1: the SR's RTP timestamp is that of a sample taken when the SR is
    # made, not the last packet's; on a static screen the two are seconds apart.
    sender, _ = _sender()
    sender.send_frame([b"a" * 100], capture_time=1.0)
    sent_at = trio.current_time()
    frame_timestamp = sender.rtp_timestamp(1.0)
    report = parse_rtcp_compound_untrusted(sender.sender_report(sent_at + 2.5, 1_000_000.0))
    assert report == [SenderReport(sender.ssrc, ntp_timestamp_from_unix(1_000_000.0),
                                   (frame_timestamp + int(2.5 * 90000)) % 2**32, 1, 100)]
