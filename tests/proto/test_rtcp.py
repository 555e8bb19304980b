"""RTCP: Chrome-shaped packets built byte by byte from the RFC layouts, round trips, hostile input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.rtcp import (
    FirEntry,
    FullIntraRequest,
    GenericNack,
    Goodbye,
    PacketResult,
    PacketStatus,
    PictureLossIndication,
    ReceiverEstimatedMaxBitrate,
    ReceiverReport,
    ReportBlock,
    RtcpDecodeError,
    RtcpLocalProtocolError,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    TransportFeedback,
    UnknownRtcpPacket,
    ntp_middle_32,
    ntp_timestamp_from_unix,
    parse_rtcp_compound_untrusted,
    round_trip_time_seconds,
    serialize_rtcp_compound,
)

BROWSER_SSRC = 0x00000001
OUR_VIDEO_SSRC = 0x0BADCAFE


def header(count: int, packet_type: int, body: bytes) -> bytes:
    return bytes([0x80 | count, packet_type]) + struct.pack("!H", len(body) // 4) + body


def test_receiver_report_plus_remb_compound() -> None:
    # RR (RFC 3550 6.4.2) with one report block about our video, then REMB.
    block = struct.pack(
        "!IIIIII",
        OUR_VIDEO_SSRC,
        (12 << 24) | (0xFFFFFF & -3),  # fraction 12/256, cumulative lost -3 (duplicates)
        0x0001_0010,  # one wrap, highest sequence 16
        42,
        0x11223344,
        0x00010000,  # one second since the last SR
    )
    rr = header(1, 201, struct.pack("!I", BROWSER_SSRC) + block)
    # REMB: exponent 3, mantissa 150000 -> 1.2 Mbit/s, one SSRC.
    remb = header(
        15,
        206,
        struct.pack("!II", BROWSER_SSRC, 0)
        + b"REMB"
        + bytes([1, (3 << 2) | (150000 >> 16)])
        + struct.pack("!H", 150000 & 0xFFFF)
        + struct.pack("!I", OUR_VIDEO_SSRC),
    )
    packets = parse_rtcp_compound_untrusted(rr + remb)
    assert packets == [
        ReceiverReport(
            BROWSER_SSRC,
            (ReportBlock(OUR_VIDEO_SSRC, 12, -3, 0x10010, 42, 0x11223344, 0x10000),),
        ),
        ReceiverEstimatedMaxBitrate(BROWSER_SSRC, 1_200_000, (OUR_VIDEO_SSRC,)),
    ]
    assert serialize_rtcp_compound(packets) == rr + remb


def test_sender_report_sdes_and_bye_compound() -> None:
    ntp = ntp_timestamp_from_unix(1_700_000_000.5)
    sr = header(0, 200, struct.pack("!IQIII", OUR_VIDEO_SSRC, ntp, 90000, 10, 12000))
    cname = b"selkies"
    chunk = struct.pack("!I", OUR_VIDEO_SSRC) + bytes([1, len(cname)]) + cname + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    sdes = header(1, 202, chunk)
    reason = b"bye"
    bye = header(1, 203, struct.pack("!I", OUR_VIDEO_SSRC) + bytes([3]) + reason)
    packets = parse_rtcp_compound_untrusted(sr + sdes + bye)
    assert packets[0] == SenderReport(OUR_VIDEO_SSRC, ntp, 90000, 10, 12000)
    assert isinstance(packets[1], SourceDescription)
    assert packets[1].chunks[0].cname() == "selkies"
    assert packets[2] == Goodbye((OUR_VIDEO_SSRC,), b"bye")
    assert serialize_rtcp_compound(packets) == sr + sdes + bye
    assert ntp >> 32 == 1_700_000_000 + 2_208_988_800
    assert ntp & 0xFFFFFFFF == 1 << 31


def test_generic_nack_expands_pid_and_blp() -> None:
    # PID 65534, BLP bits 0 and 2 -> 65535 and 1 (wrapping); second FCI PID 100, BLP 0.
    fci = struct.pack("!HHHH", 65534, 0b101, 100, 0)
    data = header(1, 205, struct.pack("!II", BROWSER_SSRC, OUR_VIDEO_SSRC) + fci)
    (nack,) = parse_rtcp_compound_untrusted(data)
    assert nack == GenericNack(BROWSER_SSRC, OUR_VIDEO_SSRC, (65534, 65535, 1, 100))
    # Re-encoding packs the same losses into the same two entries.
    assert nack.to_bytes() == data


def test_pli_and_fir() -> None:
    pli = header(1, 206, struct.pack("!II", BROWSER_SSRC, OUR_VIDEO_SSRC))
    fir = header(
        4, 206, struct.pack("!II", BROWSER_SSRC, 0) + struct.pack("!IB3x", OUR_VIDEO_SSRC, 7)
    )
    packets = parse_rtcp_compound_untrusted(pli + fir)
    assert packets == [
        PictureLossIndication(BROWSER_SSRC, OUR_VIDEO_SSRC),
        FullIntraRequest(BROWSER_SSRC, (FirEntry(OUR_VIDEO_SSRC, 7),)),
    ]
    assert serialize_rtcp_compound(packets) == pli + fir


def transport_cc_example() -> bytes:
    """draft-holmer 3.1: 20 packets from base 100; run-length, 2-bit and 1-bit chunks."""
    run_length = (0 << 15) | (1 << 13) | 10  # ten "small delta" packets: 100..109
    # Two-bit vector for 110..116: small, lost, large, small, small, small, small.
    two_bit = 0xC000 | int("01" "00" "10" "01" "01" "01" "01", 2)
    # One-bit vector for 117..119: received, lost, received (rest of the 14 unused).
    one_bit = 0x8000 | int("101" + "0" * 11, 2)
    deltas = bytes([4] * 10) + bytes([1]) + struct.pack("!h", -4) + bytes([2, 2, 2, 2, 8, 255])
    body = (
        struct.pack("!II", BROWSER_SSRC, OUR_VIDEO_SSRC)
        + struct.pack("!HH", 100, 20)
        + struct.pack("!I", (258 << 8) | 5)
        + struct.pack("!HHH", run_length, two_bit, one_bit)
        + deltas
    )
    body += bytes(-len(body) % 4)
    return header(15, 205, body)


def test_transport_feedback_with_run_length_and_vector_chunks() -> None:
    (feedback,) = parse_rtcp_compound_untrusted(transport_cc_example())
    assert isinstance(feedback, TransportFeedback)
    assert feedback.base_sequence_number == 100
    assert feedback.reference_time == 258
    assert feedback.feedback_packet_count == 5
    assert len(feedback.packets) == 20
    by_sequence = {p.sequence_number: p for p in feedback.packets}
    assert all(by_sequence[s].delta_microseconds == 1000 for s in range(100, 110))
    assert by_sequence[110].delta_microseconds == 250
    assert by_sequence[111] == PacketResult(111, PacketStatus.NOT_RECEIVED, None)
    assert by_sequence[112] == PacketResult(112, PacketStatus.LARGE_OR_NEGATIVE_DELTA, -1000)
    assert by_sequence[117].delta_microseconds == 2000
    assert by_sequence[118].status == PacketStatus.NOT_RECEIVED
    assert by_sequence[119].delta_microseconds == 255 * 250
    arrivals = feedback.arrival_times_microseconds()
    assert arrivals[100] == 258 * 64_000 + 1000
    assert arrivals[112] == arrivals[110] - 1000
    assert 111 not in arrivals and 118 not in arrivals
    # Our encoder may choose other chunks, but what it writes must parse back equal.
    assert parse_rtcp_compound_untrusted(feedback.to_bytes()) == [feedback]


def test_transport_feedback_long_run_and_negative_reference() -> None:
    lost = [PacketResult((65530 + i) % 65536, PacketStatus.NOT_RECEIVED, None) for i in range(100)]
    packets = (*lost, PacketResult(94, PacketStatus.SMALL_DELTA, 750))
    feedback = TransportFeedback(1, 2, 65530, -2, 255, packets)
    data = feedback.to_bytes()
    assert len(data) == 4 + 16 + 4 + 4  # header, fixed fields, two chunks, delta + padding
    assert parse_rtcp_compound_untrusted(data) == [feedback]


def test_unknown_types_are_kept_verbatim() -> None:
    xr = header(0, 207, struct.pack("!I", BROWSER_SSRC) + bytes(8))
    app = header(3, 204, struct.pack("!I", BROWSER_SSRC) + b"name" + b"data")
    packets = parse_rtcp_compound_untrusted(xr + app)
    assert packets == [
        UnknownRtcpPacket(207, 0, struct.pack("!I", BROWSER_SSRC) + bytes(8)),
        UnknownRtcpPacket(204, 3, struct.pack("!I", BROWSER_SSRC) + b"namedata"),
    ]
    assert serialize_rtcp_compound(packets) == xr + app


def test_padding_on_last_packet() -> None:
    pli = struct.pack("!II", BROWSER_SSRC, OUR_VIDEO_SSRC)
    padded = bytes([0xA1, 206, 0, 3]) + pli + b"\x00\x00\x00\x04"
    assert parse_rtcp_compound_untrusted(padded) == [
        PictureLossIndication(BROWSER_SSRC, OUR_VIDEO_SSRC)
    ]


def test_round_trip_time_from_report_block() -> None:
    sent = ntp_timestamp_from_unix(1000.0)
    arrival = ntp_middle_32(ntp_timestamp_from_unix(1000.75))
    block = ReportBlock(1, 0, 0, 0, 0, ntp_middle_32(sent), 0x8000)  # DLSR 0.5 s
    assert round_trip_time_seconds(block, arrival) == pytest.approx(0.25, abs=1e-4)
    assert round_trip_time_seconds(ReportBlock(1, 0, 0, 0, 0, 0, 0), arrival) is None


PLI_BODY = struct.pack("!II", 1, 2)
MALFORMED = {
    "empty": b"",
    "three bytes": b"\x80\xc9\x00",
    "version 1": bytes([0x41, 206, 0, 2]) + PLI_BODY,
    "length past end": bytes([0x81, 206, 0, 3]) + PLI_BODY,
    "trailing garbage": header(1, 206, PLI_BODY) + b"\x80",
    "SR too short": header(0, 200, bytes(20)),
    "SR report count lies": header(1, 200, bytes(24)),
    "RR report count lies": header(2, 201, bytes(28)),
    "RR without SSRC": header(0, 201, b""),
    "SDES chunk cut": header(1, 202, b""),
    "SDES no null item": header(1, 202, struct.pack("!I", 1) + bytes([1, 2]) + b"ab"),
    "SDES item overruns": header(1, 202, struct.pack("!I", 1) + bytes([1, 9, 0, 0])),
    "SDES item header cut": header(1, 202, struct.pack("!I", 1) + bytes([1, 1, 65, 1])),
    "BYE count lies": header(2, 203, struct.pack("!I", 1)),
    "BYE reason overruns": header(1, 203, struct.pack("!I", 1) + bytes([9, 65, 65, 65])),
    "NACK without FCI": header(1, 205, PLI_BODY),
    "PLI without SSRCs": header(1, 206, b""),
    "FIR partial entry": header(4, 206, PLI_BODY + bytes(4)),
    "REMB cut": header(15, 206, PLI_BODY + b"REMB"),
    "REMB ssrc count lies": header(15, 206, PLI_BODY + b"REMB" + bytes([3, 0, 0, 0]) + bytes(4)),
    "TCC header cut": header(15, 205, PLI_BODY + bytes(4)),
    "TCC chunks missing": header(15, 205, PLI_BODY + struct.pack("!HHI", 0, 5, 0)),
    "TCC deltas missing": header(15, 205, PLI_BODY + struct.pack("!HHIH", 0, 5, 0, 0x2005) + bytes(2)),
    "TCC large delta cut": header(15, 205, PLI_BODY + struct.pack("!HHIH", 0, 2, 0, 0x4002) + bytes(2)),
    "TCC reserved symbol": header(15, 205, PLI_BODY + struct.pack("!HHIH", 0, 1, 0, 0x6001) + bytes(2)),
    "padding not last": bytes([0xA1, 206, 0, 2]) + PLI_BODY + header(1, 206, PLI_BODY),
    "padding count zero": bytes([0xA1, 206, 0, 3]) + PLI_BODY + bytes(4),
    "padding count too big": bytes([0xA1, 206, 0, 2]) + struct.pack("!II", 1, 0xFF),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_packets_raise_decode_error(data: bytes) -> None:
    with pytest.raises(RtcpDecodeError):
        parse_rtcp_compound_untrusted(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_raises_only_decode_error(data: bytes) -> None:
    try:
        parse_rtcp_compound_untrusted(data)
    except RtcpDecodeError:
        pass


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([200, 201, 202, 203, 205, 206]),
    st.integers(0, 31),
    st.binary(max_size=60),
    st.booleans(),
)
def test_fuzz_plausible_headers(packet_type: int, count: int, body: bytes, padded: bool) -> None:
    body += bytes(-len(body) % 4)
    first = 0x80 | count | (0x20 if padded else 0)
    data = bytes([first, packet_type]) + struct.pack("!H", len(body) // 4) + body
    try:
        parse_rtcp_compound_untrusted(data)
    except RtcpDecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=8), st.integers(0, 200))
def test_fuzz_mutated_transport_feedback(noise: bytes, position: int) -> None:
    data = bytearray(transport_cc_example())
    data[position % len(data)] ^= noise[0] or 1
    try:
        parse_rtcp_compound_untrusted(bytes(data))
    except RtcpDecodeError:
        pass


ssrc = st.integers(0, 2**32 - 1)
report_blocks = st.lists(
    st.builds(
        ReportBlock,
        ssrc,
        st.integers(0, 255),
        st.integers(-(2**23), 2**23 - 1),
        ssrc,
        ssrc,
        ssrc,
        ssrc,
    ),
    max_size=3,
).map(tuple)


def _results(base: int, statuses: list[PacketStatus], ticks: list[int]) -> tuple[PacketResult, ...]:
    results = []
    for index, status in enumerate(statuses):
        tick = ticks[index % len(ticks)]
        if status == PacketStatus.NOT_RECEIVED:
            delta = None
        elif status == PacketStatus.SMALL_DELTA:
            delta = (tick % 256) * 250
        else:
            delta = tick * 250
        results.append(PacketResult((base + index) % 65536, status, delta))
    return tuple(results)


transport_feedbacks = st.builds(
    lambda base, statuses, ticks, reference, count: TransportFeedback(
        5, 6, base, reference, count, _results(base, statuses, ticks)
    ),
    st.integers(0, 65535),
    st.lists(st.sampled_from(list(PacketStatus)), min_size=1, max_size=60),
    st.lists(st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=5),
    st.integers(-(2**23), 2**23 - 1),
    st.integers(0, 255),
)

rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(SenderReport, ssrc, st.integers(0, 2**64 - 1), ssrc, ssrc, ssrc, report_blocks),
    st.builds(ReceiverReport, ssrc, report_blocks),
    st.builds(
        SourceDescription,
        st.lists(
            st.builds(
                SdesChunk,
                ssrc,
                st.lists(st.builds(SdesItem, st.integers(1, 8), st.binary(max_size=20)), max_size=3).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Goodbye, st.lists(ssrc, max_size=3).map(tuple), st.none() | st.binary(max_size=30)),
    st.builds(PictureLossIndication, ssrc, ssrc),
    st.builds(
        FullIntraRequest,
        ssrc,
        st.lists(st.builds(FirEntry, ssrc, st.integers(0, 255)), max_size=3).map(tuple),
    ),
    st.builds(
        ReceiverEstimatedMaxBitrate,
        ssrc,
        st.integers(0, 2**18 - 1),  # exactly representable without rounding
        st.lists(ssrc, max_size=3).map(tuple),
    ),
    transport_feedbacks,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_round_trip(packets: list[RtcpPacket]) -> None:
    assert parse_rtcp_compound_untrusted(serialize_rtcp_compound(packets)) == packets


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 65535), min_size=1, max_size=40))
def test_nack_round_trip_keeps_the_set_of_losses(lost: set[int]) -> None:
    data = GenericNack(1, 2, tuple(sorted(lost))).to_bytes()
    (parsed,) = parse_rtcp_compound_untrusted(data)
    assert isinstance(parsed, GenericNack)
    assert set(parsed.lost) == lost


def test_remb_rounds_large_bitrates_down() -> None:
    (parsed,) = parse_rtcp_compound_untrusted(ReceiverEstimatedMaxBitrate(1, 10_000_001, ()).to_bytes())
    assert isinstance(parsed, ReceiverEstimatedMaxBitrate)
    assert 10_000_001 - 64 < parsed.bitrate <= 10_000_001


@pytest.mark.parametrize(
    "packet",
    [
        GenericNack(1, 2, ()),
        GenericNack(1, 2, (70000,)),
        ReceiverReport(2**32),
        SenderReport(1, 2**64, 0, 0, 0),
        FullIntraRequest(1, (FirEntry(1, 256),)),
        Goodbye((1,), bytes(256)),
        TransportFeedback(1, 2, 0, 0, 0, ()),
        TransportFeedback(1, 2, 0, 0, 0, (PacketResult(1, PacketStatus.SMALL_DELTA, 250),)),
        TransportFeedback(1, 2, 0, 0, 0, (PacketResult(0, PacketStatus.SMALL_DELTA, 100),)),
        TransportFeedback(1, 2, 0, 0, 0, (PacketResult(0, PacketStatus.SMALL_DELTA, -250),)),
        TransportFeedback(1, 2, 0, 0, 0, (PacketResult(0, PacketStatus.NOT_RECEIVED, 250),)),
        TransportFeedback(1, 2, 0, 0, 0, (PacketResult(0, PacketStatus.SMALL_DELTA, None),)),
        ReceiverEstimatedMaxBitrate(1, -1, ()),
    ],
)
def test_impossible_packets_are_local_errors(packet: RtcpPacket) -> None:
    with pytest.raises(RtcpLocalProtocolError):
        packet.to_bytes()


# Cross-check with aiortc's RTCP implementation, written independently of ours.


def test_aiortc_reads_our_compound() -> None:
    from aiortc import rtp as aiortc_rtp

    block = ReportBlock(OUR_VIDEO_SSRC, 25, -2, 70000, 33, 0x01020304, 0x0005)
    ours = [
        SenderReport(OUR_VIDEO_SSRC, ntp_timestamp_from_unix(1_000_000.25), 9000, 3, 3000, (block,)),
        SourceDescription((SdesChunk(OUR_VIDEO_SSRC, (SdesItem(1, b"cname-x"),)),)),
        GenericNack(BROWSER_SSRC, OUR_VIDEO_SSRC, (10, 12, 40)),
        PictureLossIndication(BROWSER_SSRC, OUR_VIDEO_SSRC),
        Goodbye((OUR_VIDEO_SSRC,)),
    ]
    sr, sdes, nack, pli, bye = aiortc_rtp.RtcpPacket.parse(serialize_rtcp_compound(ours))
    assert isinstance(sr, aiortc_rtp.RtcpSrPacket)
    assert sr.ssrc == OUR_VIDEO_SSRC
    assert sr.sender_info.ntp_timestamp == ours[0].ntp_timestamp  # type: ignore[union-attr]
    assert (sr.sender_info.rtp_timestamp, sr.sender_info.octet_count) == (9000, 3000)
    report = sr.reports[0]
    assert (report.fraction_lost, report.packets_lost, report.highest_sequence) == (25, -2, 70000)
    assert (report.lsr, report.dlsr) == (0x01020304, 5)
    assert isinstance(sdes, aiortc_rtp.RtcpSdesPacket)
    assert sdes.chunks[0].items == [(1, b"cname-x")]
    assert isinstance(nack, aiortc_rtp.RtcpRtpfbPacket)
    assert (nack.fmt, nack.media_ssrc, sorted(nack.lost)) == (1, OUR_VIDEO_SSRC, [10, 12, 40])
    assert isinstance(pli, aiortc_rtp.RtcpPsfbPacket) and pli.fmt == 1
    assert isinstance(bye, aiortc_rtp.RtcpByePacket) and bye.sources == [OUR_VIDEO_SSRC]


def test_we_read_aiortcs_packets() -> None:
    from aiortc import rtp as aiortc_rtp

    theirs = [
        aiortc_rtp.RtcpRrPacket(
            ssrc=BROWSER_SSRC,
            reports=[aiortc_rtp.RtcpReceiverInfo(OUR_VIDEO_SSRC, 3, -5, 123, 4, 5, 6)],
        ),
        aiortc_rtp.RtcpRtpfbPacket(fmt=1, ssrc=BROWSER_SSRC, media_ssrc=OUR_VIDEO_SSRC, lost=[1, 2, 5, 40]),
        aiortc_rtp.RtcpPsfbPacket(fmt=1, ssrc=BROWSER_SSRC, media_ssrc=OUR_VIDEO_SSRC),
    ]
    data = b"".join(bytes(packet) for packet in theirs)
    rr, nack, pli = parse_rtcp_compound_untrusted(data)
    assert rr == ReceiverReport(BROWSER_SSRC, (ReportBlock(OUR_VIDEO_SSRC, 3, -5, 123, 4, 5, 6),))
    assert isinstance(nack, GenericNack) and set(nack.lost) == {1, 2, 5, 40}
    assert pli == PictureLossIndication(BROWSER_SSRC, OUR_VIDEO_SSRC)
