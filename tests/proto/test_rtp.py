"""RTP header and RFC 8285 header extensions: byte layouts, round trips, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.rtp import (
    ABS_SEND_TIME_URI,
    SDES_MID_URI,
    TRANSPORT_WIDE_CC_URI,
    HeaderExtension,
    RtpDecodeError,
    RtpLocalProtocolError,
    RtpPacket,
    decode_abs_send_time_untrusted,
    decode_mid_untrusted,
    decode_transport_sequence_number_untrusted,
    encode_abs_send_time,
    encode_mid,
    encode_transport_sequence_number,
    is_sequence_newer,
    parse_rtp_untrusted,
    sequence_add,
    sequence_distance,
)

# A Chrome-shaped video packet built field by field from RFC 3550 5.1 / RFC 8285 4.2:
# V=2 P=0 X=1 CC=0, M=1 PT=102, seq 0x1234, ts 0xdeadbeef, SSRC 0x01020304,
# one-byte extensions: id 2 abs-send-time (3 bytes), id 3 transport-cc (2 bytes),
# id 1 mid "0" (1 byte), then three padding bytes to the 32-bit boundary (3 words).
CHROME_SHAPED = (
    bytes([0x90, 0x80 | 102])
    + bytes.fromhex("1234 deadbeef 01020304")
    + bytes.fromhex("bede 0003")
    + bytes([0x22]) + bytes.fromhex("123456")
    + bytes([0x31]) + bytes.fromhex("0102")
    + bytes([0x10]) + b"0"
    + b"\x00\x00\x00"
    + b"payload"
)


def test_parse_byte_by_byte_packet() -> None:
    packet = parse_rtp_untrusted(CHROME_SHAPED)
    assert packet.payload_type == 102
    assert packet.marker
    assert packet.sequence_number == 0x1234
    assert packet.timestamp == 0xDEADBEEF
    assert packet.ssrc == 0x01020304
    assert packet.payload == b"payload"
    assert packet.get_extension(2) == bytes.fromhex("123456")
    assert decode_transport_sequence_number_untrusted(packet.get_extension(3) or b"") == 0x0102
    assert decode_mid_untrusted(packet.get_extension(1) or b"") == "0"
    assert packet.get_extension(4) is None
    # Serializing gives the very same bytes (same element order, same padding).
    assert packet.to_bytes() == CHROME_SHAPED


def test_two_byte_form_when_an_element_needs_it() -> None:
    packet = RtpPacket(
        96, 1, 2, 3, b"x", extensions=(HeaderExtension(1, b""), HeaderExtension(20, b"ab"))
    )
    data = packet.to_bytes()
    assert data[0] & 0x10
    assert data[12:14] == b"\x10\x00"
    assert parse_rtp_untrusted(data) == packet


def test_csrc_padding_and_opaque_extension_round_trip() -> None:
    packet = RtpPacket(
        0,
        65535,
        0xFFFFFFFF,
        7,
        b"abc",
        csrc=(1, 2, 3),
        padding_size=5,
        opaque_extension_profile=0x1234,
        opaque_extension_data=b"12345678",
    )
    data = packet.to_bytes()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[-1] == 5
    assert parse_rtp_untrusted(data) == packet


def test_one_byte_id_15_stops_processing() -> None:
    data = (
        bytes([0x90, 96]) + bytes(10) + bytes.fromhex("bede 0001") + bytes([0x10, 0x41, 0xF0, 0x55])
    )
    assert parse_rtp_untrusted(data).extensions == (HeaderExtension(1, b"A"),)


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0),
        RtpPacket(0, 65536, 0, 0),
        RtpPacket(0, 0, 1 << 32, 0),
        RtpPacket(0, 0, 0, -1),
        RtpPacket(0, 0, 0, 0, csrc=tuple(range(16))),
        RtpPacket(0, 0, 0, 0, extensions=(HeaderExtension(0, b"a"),)),
        RtpPacket(0, 0, 0, 0, extensions=(HeaderExtension(1, bytes(256)),)),
        RtpPacket(0, 0, 0, 0, opaque_extension_profile=1, opaque_extension_data=b"abc"),
        RtpPacket(0, 0, 0, 0, padding_size=256),
    ],
)
def test_impossible_packets_are_local_errors(packet: RtpPacket) -> None:
    with pytest.raises(RtpLocalProtocolError):
        packet.to_bytes()


HEADER = bytes([0x80, 96]) + bytes(10)

MALFORMED = {
    "empty": b"",
    "eleven bytes": HEADER[:11],
    "version 1": bytes([0x40, 96]) + bytes(10),
    "version 0 (STUN-like)": bytes(20),
    "csrc list cut": bytes([0x82, 96]) + bytes(10) + bytes(4),
    "extension header cut": bytes([0x90, 96]) + bytes(10) + b"\xbe\xde",
    "extension longer than packet": bytes([0x90, 96]) + bytes(10) + bytes.fromhex("bede 0002") + bytes(4),
    "one-byte element overruns": bytes([0x90, 96]) + bytes(10) + bytes.fromhex("bede 0001 13aabb00"),
    "two-byte element overruns": bytes([0x90, 96]) + bytes(10) + bytes.fromhex("1000 0001 0105aabb"),
    "two-byte header cut": bytes([0x90, 96]) + bytes(10) + bytes.fromhex("1000 0001 000000 07"),
    "padding without octets": bytes([0xA0, 96]) + bytes(10),
    "padding count zero": bytes([0xA0, 96]) + bytes(10) + b"ab\x00",
    "padding count too large": bytes([0xA0, 96]) + bytes(10) + b"ab\x09",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_packets_raise_decode_error(data: bytes) -> None:
    with pytest.raises(RtpDecodeError):
        parse_rtp_untrusted(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_raises_only_decode_error(data: bytes) -> None:
    try:
        parse_rtp_untrusted(data)
    except RtpDecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=1, max_size=40),
    st.integers(0, 15),
    st.booleans(),
)
def test_fuzz_mutated_valid_packet(noise: bytes, position: int, truncate: bool) -> None:
    data = bytearray(CHROME_SHAPED)
    data[position % len(data)] ^= noise[0] or 1
    candidate = bytes(data[: len(data) - len(noise)] if truncate else data + noise)
    try:
        parse_rtp_untrusted(candidate)
    except RtpDecodeError:
        pass


extension_strategy = st.lists(
    st.builds(HeaderExtension, st.integers(1, 255), st.binary(max_size=20)), max_size=5
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 127),
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=50),
    st.booleans(),
    st.lists(st.integers(0, 2**32 - 1), max_size=15),
    extension_strategy,
    st.integers(0, 255),
)
def test_round_trip(
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool,
    csrc: list[int],
    extensions: list[HeaderExtension],
    padding_size: int,
) -> None:
    packet = RtpPacket(
        payload_type,
        sequence_number,
        timestamp,
        ssrc,
        payload,
        marker,
        tuple(csrc),
        tuple(extensions),
        padding_size,
    )
    assert parse_rtp_untrusted(packet.to_bytes()) == packet


def test_abs_send_time_is_6_18_fixed_point_and_wraps_at_64_seconds() -> None:
    assert encode_abs_send_time(1.5) == (3 << 17).to_bytes(3, "big")
    assert decode_abs_send_time_untrusted(encode_abs_send_time(65.25)) == pytest.approx(1.25)
    with pytest.raises(RtpDecodeError):
        decode_abs_send_time_untrusted(b"\x00\x01")


def test_transport_sequence_number_and_mid_helpers() -> None:
    assert encode_transport_sequence_number(0xABCD) == b"\xab\xcd"
    with pytest.raises(RtpLocalProtocolError):
        encode_transport_sequence_number(65536)
    with pytest.raises(RtpDecodeError):
        decode_transport_sequence_number_untrusted(b"\x01")
    assert encode_mid("video") == b"video"
    assert decode_mid_untrusted(b"1\x00") == "1"
    for bad in (b"", b"\x00", b"\xff"):
        with pytest.raises(RtpDecodeError):
            decode_mid_untrusted(bad)
    with pytest.raises(RtpLocalProtocolError):
        encode_mid("")


def test_sequence_arithmetic_wraps() -> None:
    assert sequence_add(65535, 1) == 0
    assert sequence_distance(65530, 5) == 11
    assert sequence_distance(5, 65530) == -11
    assert is_sequence_newer(2, 65534)
    assert not is_sequence_newer(65534, 2)


# Cross-check with aiortc's RTP implementation, written independently of ours.


def aiortc_extension_map() -> object:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri=SDES_MID_URI),
                RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
                RTCRtpHeaderExtensionParameters(id=3, uri=TRANSPORT_WIDE_CC_URI),
            ]
        )
    )
    return extensions_map


def test_aiortc_reads_our_packet_and_we_read_aiortcs() -> None:
    from aiortc.rtp import RtpPacket as AiortcRtpPacket

    extensions_map = aiortc_extension_map()
    ours = RtpPacket(
        102,
        4321,
        123456,
        0xCAFEBABE,
        b"h264 payload",
        marker=True,
        extensions=(
            HeaderExtension(1, encode_mid("0")),
            HeaderExtension(2, encode_abs_send_time(12.5)),
            HeaderExtension(3, encode_transport_sequence_number(777)),
        ),
    )
    theirs = AiortcRtpPacket.parse(ours.to_bytes(), extensions_map)  # type: ignore[arg-type]
    assert (theirs.payload_type, theirs.marker, theirs.sequence_number) == (102, 1, 4321)
    assert (theirs.timestamp, theirs.ssrc, theirs.payload) == (123456, 0xCAFEBABE, b"h264 payload")
    assert theirs.extensions.mid == "0"
    assert theirs.extensions.abs_send_time == int(12.5 * (1 << 18))
    assert theirs.extensions.transport_sequence_number == 777

    theirs.extensions.transport_sequence_number = 65535
    theirs.padding_size = 3
    parsed = parse_rtp_untrusted(theirs.serialize(extensions_map))  # type: ignore[arg-type]
    assert parsed.payload == b"h264 payload" and parsed.padding_size == 3
    assert decode_transport_sequence_number_untrusted(parsed.get_extension(3) or b"") == 65535
    assert decode_mid_untrusted(parsed.get_extension(1) or b"") == "0"
    assert decode_abs_send_time_untrusted(parsed.get_extension(2) or b"") == 12.5
