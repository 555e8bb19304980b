"""Chunk, parameter and packet codecs: round trips, malformed inputs, fuzz."""

from __future__ import annotations

import struct

import google_crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vendor_sctp.chunks import (
    AbortChunk,
    Chunk,
    ChunkType,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
    decode_chunks_untrusted,
)
from vendor_sctp.errors import SctpDecodeError
from vendor_sctp.packet import decode_packet_untrusted, encode_packet
from vendor_sctp.parameters import (
    IncomingSsnResetRequest,
    OutgoingSsnResetRequest,
    Parameter,
    ParameterType,
    ReconfigResult,
    ReconfigurationResponse,
    decode_reconfig_parameter_untrusted,
    decode_tlvs_untrusted,
)

ALL_CHUNKS: list[Chunk] = [
    DataChunk(1, 2, 3, 51, b"hello"),
    DataChunk(0xFFFFFFFF, 65535, 65535, 0xFFFFFFFF, b"x" * 1001, unordered=True,
              beginning=False, ending=False, immediate=True),
    DataChunk(7, 0, 0, 53, b"abc", beginning=True, ending=False),
    InitChunk(0xDEADBEEF, 131072, 10, 20, 42),
    InitChunk(1, 1500, 65535, 65535, 0, (
        Parameter(ParameterType.SUPPORTED_EXTENSIONS, bytes([130, 192])),
        Parameter(ParameterType.FORWARD_TSN_SUPPORTED),
        Parameter(ParameterType.ZERO_CHECKSUM_ACCEPTABLE, b"\x00\x00\x00\x01"),
    )),
    InitAckChunk(5, 6, 7, 8, 9, (Parameter(ParameterType.STATE_COOKIE, b"c" * 33),)),
    SackChunk(100, 5000),
    SackChunk(0xFFFFFFF0, 0, ((2, 3), (5, 5), (100, 65535)), (99, 0xFFFFFFFF)),
    HeartbeatChunk(b"info-bytes"),
    HeartbeatAckChunk(b"\x01\x02\x03"),
    AbortChunk(),
    AbortChunk((Parameter(12, b"bye"), Parameter(13, b"")), tag_reflected=True),
    ErrorChunk((Parameter(6, b"\x99\x00\x00\x04"),)),
    ShutdownChunk(123456),
    ShutdownAckChunk(),
    ShutdownCompleteChunk(),
    ShutdownCompleteChunk(tag_reflected=True),
    CookieEchoChunk(b"opaque cookie"),
    CookieAckChunk(),
    ForwardTsnChunk(77),
    ForwardTsnChunk(0xFFFFFFFF, ((1, 2), (65535, 65535))),
    ReconfigChunk((OutgoingSsnResetRequest(10, 20, 30, (1, 3, 5)),)),
    ReconfigChunk((OutgoingSsnResetRequest(10, 20, 30), IncomingSsnResetRequest(11, (2,)))),
    ReconfigChunk((ReconfigurationResponse(10, ReconfigResult.SUCCESS_PERFORMED),)),
    ReconfigChunk((ReconfigurationResponse(10, ReconfigResult.IN_PROGRESS, 5, 6),)),
    ReconfigChunk((Parameter(17, b"\x00\x00\x00\x01\x00\x05\x00\x00"),)),
    UnknownChunk(0xC1, 0x5A, b"whatever"),
    UnknownChunk(0x40, 0, b""),
]


@pytest.mark.parametrize("chunk", ALL_CHUNKS, ids=lambda c: type(c).__name__)
def test_chunk_round_trip(chunk: Chunk) -> None:
    encoded = chunk.encode()
    assert len(encoded) % 4 == 0
    assert decode_chunks_untrusted(encoded) == [chunk]


def test_several_chunks_and_missing_final_padding() -> None:
    first = DataChunk(1, 1, 1, 51, b"abcde")  # 21 bytes + 3 padding
    second = DataChunk(2, 1, 2, 51, b"xy")
    encoded = first.encode() + second.encode()
    assert decode_chunks_untrusted(encoded) == [first, second]
    # A last chunk without its padding is accepted (RFC 9260 section 3.2 allows it).
    assert decode_chunks_untrusted(encoded[:-2]) == [first, second]


def test_packet_round_trip_and_checksum_layout() -> None:
    chunks: list[Chunk] = [DataChunk(9, 1, 0, 51, b"payload"), SackChunk(4, 1000, ((2, 2),), (3,))]
    packet = encode_packet(5000, 5001, 0xCAFEBABE, [c.encode() for c in chunks])
    decoded = decode_packet_untrusted(packet)
    assert decoded.source_port_number == 5000
    assert decoded.destination_port_number == 5001
    assert decoded.verification_tag == 0xCAFEBABE
    assert list(decoded.chunks) == chunks
    # RFC 9260 Appendix A: CRC32c over the packet with a zero checksum, stored little-endian.
    zeroed = packet[:8] + b"\x00" * 4 + packet[12:]
    assert struct.unpack("<I", packet[8:12])[0] == google_crc32c.value(zeroed)


def test_reconfig_parameter_decoding_of_unknown_type_keeps_it() -> None:
    raw = Parameter(18, b"\x00\x00\x00\x09\x00\x01\x00\x00")
    assert decode_reconfig_parameter_untrusted(raw) == raw


def test_tlv_padding_between_parameters() -> None:
    params = [Parameter(1, b"a"), Parameter(2, b"bcdef"), Parameter(3, b"")]
    encoded = b"".join(p.encode() for p in params)
    assert decode_tlvs_untrusted(encoded) == params


def _chunk(type_: int, value: bytes, flags: int = 0) -> bytes:
    return struct.pack("!BBH", type_, flags, 4 + len(value)) + value


MALFORMED_CHUNKS = {
    "header-3-bytes": b"\x00\x03\x00",
    "length-below-4": b"\x00\x03\x00\x02",
    "length-past-end": b"\x00\x03\x00\x20abcd",
    "data-truncated": _chunk(ChunkType.DATA, b"\x00" * 11),
    "init-truncated": _chunk(ChunkType.INIT, b"\x00" * 15),
    "init-ack-bad-param": _chunk(ChunkType.INIT_ACK, b"\x00" * 16 + b"\x00\x07\x00\x09ab"),
    "init-param-length-3": _chunk(ChunkType.INIT, b"\x00" * 16 + b"\x00\x07\x00\x03"),
    "init-param-half-header": _chunk(ChunkType.INIT, b"\x00" * 16 + b"\x00\x07"),
    "sack-truncated": _chunk(ChunkType.SACK, b"\x00" * 11),
    "sack-counts-too-big": _chunk(ChunkType.SACK, struct.pack("!IIHH", 1, 1, 2, 0) + b"\x00" * 4),
    "sack-trailing-bytes": _chunk(ChunkType.SACK, struct.pack("!IIHH", 1, 1, 0, 0) + b"\x00" * 4),
    "sack-dups-short": _chunk(ChunkType.SACK, struct.pack("!IIHH", 1, 1, 0, 1) + b"\x00" * 2),
    "heartbeat-empty": _chunk(ChunkType.HEARTBEAT, b""),
    "heartbeat-no-info": _chunk(ChunkType.HEARTBEAT, b"\x00\x05\x00\x04"),
    "heartbeat-ack-bad-tlv": _chunk(ChunkType.HEARTBEAT_ACK, b"\x00\x01\x00\x09abc"),
    "abort-bad-cause": _chunk(ChunkType.ABORT, b"\x00\x0c\x00\x01"),
    "error-cause-truncated": _chunk(ChunkType.ERROR, b"\x00\x0c"),
    "shutdown-short": _chunk(ChunkType.SHUTDOWN, b"\x00\x00\x01"),
    "shutdown-long": _chunk(ChunkType.SHUTDOWN, b"\x00" * 8),
    "shutdown-ack-with-value": _chunk(ChunkType.SHUTDOWN_ACK, b"\x00" * 4),
    "shutdown-complete-with-value": _chunk(ChunkType.SHUTDOWN_COMPLETE, b"\x00" * 4),
    "cookie-ack-with-value": _chunk(ChunkType.COOKIE_ACK, b"\x00" * 4),
    "forward-tsn-short": _chunk(ChunkType.FORWARD_TSN, b"\x00\x00\x01"),
    "forward-tsn-odd-stream-list": _chunk(ChunkType.FORWARD_TSN, b"\x00" * 6),
    "reconfig-empty": _chunk(ChunkType.RE_CONFIG, b""),
    "reconfig-outgoing-short": _chunk(ChunkType.RE_CONFIG, b"\x00\x0d\x00\x0c" + b"\x00" * 8),
    "reconfig-outgoing-odd-streams": _chunk(
        ChunkType.RE_CONFIG, b"\x00\x0d\x00\x13" + b"\x00" * 15 + b"\x00"
    ),
    "reconfig-incoming-short": _chunk(ChunkType.RE_CONFIG, b"\x00\x0e\x00\x06\x00\x00\x00\x00"),
    "reconfig-response-bad-length": _chunk(ChunkType.RE_CONFIG, b"\x00\x10\x00\x10" + b"\x00" * 12),
}


@pytest.mark.parametrize("data", MALFORMED_CHUNKS.values(), ids=MALFORMED_CHUNKS.keys())
def test_malformed_chunk_raises_decode_error(data: bytes) -> None:
    with pytest.raises(SctpDecodeError):
        decode_chunks_untrusted(data)


def _valid_packet() -> bytes:
    return encode_packet(5000, 5000, 1, [DataChunk(1, 1, 1, 51, b"abc").encode()])


MALFORMED_PACKETS = {
    "empty": b"",
    "header-only": _valid_packet()[:12],
    "truncated-chunk": _valid_packet()[:18],
    "bad-checksum": _valid_packet()[:8] + b"\x00\x00\x00\x00" + _valid_packet()[12:],
    "flipped-payload-bit": _valid_packet()[:-1] + bytes([_valid_packet()[-1] ^ 1]),
}


@pytest.mark.parametrize("data", MALFORMED_PACKETS.values(), ids=MALFORMED_PACKETS.keys())
def test_malformed_packet_raises_decode_error(data: bytes) -> None:
    with pytest.raises(SctpDecodeError):
        decode_packet_untrusted(data)


@pytest.mark.parametrize("chunk", ALL_CHUNKS, ids=lambda c: type(c).__name__)
def test_every_truncation_of_a_chunk_is_rejected(chunk: Chunk) -> None:
    encoded = chunk.encode()
    (declared_length,) = struct.unpack_from("!H", encoded, 2)
    for cut in range(1, declared_length):
        # Re-signed, so the checksum passes and the chunk parser itself meets the truncation.
        packet = encode_packet(1, 2, 3, [encoded[:cut]])
        with pytest.raises(SctpDecodeError):
            decode_packet_untrusted(packet)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_packet_parser_raises_only_decode_error(body: bytes) -> None:
    # Fix the checksum so the fuzz reaches the chunk and parameter parsers.
    packet = encode_packet(5000, 5000, 7, [body])
    try:
        decoded = decode_packet_untrusted(packet)
    except SctpDecodeError:
        return
    for chunk in decoded.chunks:
        chunk.encode()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(ChunkType)), st.integers(0, 255), st.binary(max_size=40)),
        max_size=5,
    )
)
def test_fuzz_typed_chunks_raise_only_decode_error(parts: list[tuple[int, int, bytes]]) -> None:
    body = b"".join(_chunk(t, v, f) + b"\x00" * (-len(v) % 4) for t, f, v in parts)
    try:
        decode_chunks_untrusted(body)
    except SctpDecodeError:
        pass
