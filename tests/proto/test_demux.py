"""RFC 7983 first-byte demultiplexing, with RFC 5761 RTP/RTCP separation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.demux import DatagramKind, classify_datagram
from selkies_trio.proto.rtcp import (
    GenericNack,
    PacketResult,
    PacketStatus,
    PictureLossIndication,
    ReceiverReport,
    RtcpPacket,
    SenderReport,
    TransportFeedback,
)
from selkies_trio.proto.rtp import RtpPacket
from selkies_trio.proto.srtp import SrtpProfile, SrtpSession

STUN_BINDING_REQUEST = bytes.fromhex("0001 0000 2112a442") + bytes(12)
STUN_SUCCESS = bytes.fromhex("0101 0000 2112a442") + bytes(12)
DTLS_CLIENT_HELLO_RECORD = bytes.fromhex("16 fefd 0000 000000000000 0010") + bytes(16)
DTLS_APPLICATION_DATA = bytes.fromhex("17 fefd 0001 000000000001 0004") + bytes(4)
DTLS_ALERT = bytes.fromhex("15 fefd") + bytes(11)


def test_well_known_datagrams() -> None:
    assert classify_datagram(STUN_BINDING_REQUEST) is DatagramKind.STUN
    assert classify_datagram(STUN_SUCCESS) is DatagramKind.STUN
    assert classify_datagram(DTLS_CLIENT_HELLO_RECORD) is DatagramKind.DTLS
    assert classify_datagram(DTLS_APPLICATION_DATA) is DatagramKind.DTLS
    assert classify_datagram(DTLS_ALERT) is DatagramKind.DTLS
    assert classify_datagram(bytes([0x40, 0x00, 0x00, 0x04])) is DatagramKind.TURN_CHANNEL
    assert classify_datagram(bytes([0x10, 0x00])) is DatagramKind.ZRTP


# RFC 5761 4: payload types 64-95 are not used with rtcp-mux, so none is listed.
@pytest.mark.parametrize("payload_type", [0, 8, 63, 96, 102, 111, 127])
@pytest.mark.parametrize("marker", [False, True])
def test_rtp_with_any_dynamic_payload_type_is_rtp(payload_type: int, marker: bool) -> None:
    data = RtpPacket(payload_type, 1, 2, 3, b"x", marker=marker).to_bytes()
    assert classify_datagram(data) is DatagramKind.RTP


@pytest.mark.parametrize(
    "packet",
    [
        SenderReport(1, 0, 0, 0, 0),
        ReceiverReport(1),
        PictureLossIndication(1, 2),
        GenericNack(1, 2, (5,)),
        TransportFeedback(1, 2, 0, 0, 0, (PacketResult(0, PacketStatus.SMALL_DELTA, 250),)),
    ],
)
def test_rtcp_packets_are_rtcp_even_when_protected(packet: RtcpPacket) -> None:
    data = packet.to_bytes()
    assert classify_datagram(data) is DatagramKind.RTCP
    profile = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    session = SrtpSession.from_keying_material(profile, bytes(16), bytes(14), bytes(16), bytes(14))
    assert classify_datagram(session.protect_rtcp(data)) is DatagramKind.RTCP
    rtp = RtpPacket(102, 1, 2, 3, b"payload").to_bytes()
    assert classify_datagram(session.protect(rtp)) is DatagramKind.RTP


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", DatagramKind.UNKNOWN),
        (b"\x80", DatagramKind.UNKNOWN),
        (bytes([4]), DatagramKind.UNKNOWN),
        (bytes([15]), DatagramKind.UNKNOWN),
        (bytes([3]), DatagramKind.STUN),
        (bytes([19]), DatagramKind.ZRTP),
        (bytes([20]), DatagramKind.DTLS),
        (bytes([63]), DatagramKind.DTLS),
        (bytes([79]), DatagramKind.TURN_CHANNEL),
        (bytes([80]), DatagramKind.UNKNOWN),
        (bytes([127, 0]), DatagramKind.UNKNOWN),
        (bytes([191, 223]), DatagramKind.RTCP),
        (bytes([191, 224]), DatagramKind.RTP),
        (bytes([128, 191]), DatagramKind.RTP),
        (bytes([192, 200]), DatagramKind.UNKNOWN),
        (bytes([255, 200]), DatagramKind.UNKNOWN),
    ],
)
def test_range_boundaries(data: bytes, kind: DatagramKind) -> None:
    assert classify_datagram(data) is kind


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=8))
def test_fuzz_never_raises_and_follows_the_first_byte(data: bytes) -> None:
    kind = classify_datagram(data)
    if data and data[0] <= 3:
        assert kind is DatagramKind.STUN
    if data and 20 <= data[0] <= 63:
        assert kind is DatagramKind.DTLS
    if kind in (DatagramKind.RTP, DatagramKind.RTCP):
        assert 128 <= data[0] <= 191
