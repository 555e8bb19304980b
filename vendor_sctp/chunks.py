r"""Chunk codecs: RFC 9260 section 3.2 and 3.3, FORWARD-TSN (RFC 3758 section 3.2)
and RE-CONFIG (RFC 6525 section 3.1).

Every chunk starts with the same header (RFC 9260 section 3.2) and is padded
to a multiple of 4 bytes; Chunk Length excludes that padding:

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Chunk Type  | Chunk  Flags  |        Chunk Length           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                                                               \
    /                          Chunk Value                          /
    \                                                               \
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

DATA (section 3.3.1):

    |   Type = 0    |  Res  |I|U|B|E|            Length             |
    |                              TSN                              |
    |      Stream Identifier S      |   Stream Sequence Number n    |
    |                  Payload Protocol Identifier                  |
    \                 User Data (seq n of Stream S)                 \

INIT and INIT ACK (sections 3.3.2, 3.3.3):

    |   Type = 1/2  |  Chunk Flags  |      Chunk Length             |
    |                         Initiate Tag                          |
    |          Advertised Receiver Window Credit (a_rwnd)           |
    |  Number of Outbound Streams   |   Number of Inbound Streams   |
    |                          Initial TSN                          |
    \              Optional/Variable-Length Parameters              \

SACK (section 3.3.4):

    |   Type = 3    |  Chunk Flags  |      Chunk Length             |
    |                      Cumulative TSN Ack                       |
    |          Advertised Receiver Window Credit (a_rwnd)           |
    | Number of Gap Ack Blocks = N  |  Number of Duplicate TSNs = M |
    |    Gap Ack Block #1 Start     |     Gap Ack Block #1 End      |
    ...
    |                        Duplicate TSN 1                        |
    ...

FORWARD-TSN (RFC 3758 section 3.2):

    |   Type = 192  |  Flags = 0x00 |        Length = Variable      |
    |                      New Cumulative TSN                       |
    |         Stream-1              |       Stream Sequence-1       |
    ...

HEARTBEAT/HEARTBEAT ACK carry one Heartbeat Info parameter; ABORT and ERROR
carry error causes (T bit = bit 0 of the ABORT and SHUTDOWN COMPLETE flags);
SHUTDOWN carries the Cumulative TSN Ack; COOKIE ECHO the cookie bytes; RE-CONFIG
one or two reconfiguration parameters.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import SctpDecodeError
from .parameters import (
    Parameter,
    ParameterType,
    ReconfigParameter,
    decode_reconfig_parameter_untrusted,
    decode_tlvs_untrusted,
    encode_parameters,
    encode_tlv,
)

_CHUNK_HEADER = struct.Struct("!BBH")
_DATA_FIELDS = struct.Struct("!IHHI")
_DATA_HEADER = struct.Struct("!BBHIHHI")  # chunk header and DATA fields in one
_INIT_FIELDS = struct.Struct("!IIHHI")
_SACK_FIELDS = struct.Struct("!IIHH")

DATA_CHUNK_HEADER_SIZE = 16
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")


class ChunkType(enum.IntEnum):
    DATA = 0
    INIT = 1
    INIT_ACK = 2
    SACK = 3
    HEARTBEAT = 4
    HEARTBEAT_ACK = 5
    ABORT = 6
    SHUTDOWN = 7
    SHUTDOWN_ACK = 8
    ERROR = 9
    COOKIE_ECHO = 10
    COOKIE_ACK = 11
    SHUTDOWN_COMPLETE = 14
    RE_CONFIG = 130
    FORWARD_TSN = 192


def _frame(type_: int, flags: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return _CHUNK_HEADER.pack(type_, flags, length) + value + b"\x00" * (-length % 4)


# Not frozen, unlike the other chunks: a frozen dataclass pays for every field on
# construction, and DATA chunks are built once per packet in both directions.
@dataclass(slots=True)
class DataChunk:
    tsn: int
    stream_identifier: int
    stream_sequence_number: int
    payload_protocol_identifier: int
    user_data: bytes
    unordered: bool = False
    beginning: bool = True
    ending: bool = True
    immediate: bool = False

    def encode(self) -> bytes:
        flags = (
            (8 if self.immediate else 0)
            | (4 if self.unordered else 0)
            | (2 if self.beginning else 0)
            | (1 if self.ending else 0)
        )
        # The hot path of bulk transfer: header and payload are joined in one copy.
        length = DATA_CHUNK_HEADER_SIZE + len(self.user_data)
        header = _DATA_HEADER.pack(
            ChunkType.DATA,
            flags,
            length,
            self.tsn,
            self.stream_identifier,
            self.stream_sequence_number,
            self.payload_protocol_identifier,
        )
        return b"".join((header, self.user_data, _PADDING[length % 4]))


@dataclass(frozen=True, slots=True)
class InitChunk:
    initiate_tag: int
    advertised_receiver_window_credit: int
    number_of_outbound_streams: int
    number_of_inbound_streams: int
    initial_tsn: int
    parameters: tuple[Parameter, ...] = ()

    chunk_type = ChunkType.INIT

    def encode(self) -> bytes:
        fields = _INIT_FIELDS.pack(
            self.initiate_tag,
            self.advertised_receiver_window_credit,
            self.number_of_outbound_streams,
            self.number_of_inbound_streams,
            self.initial_tsn,
        )
        return _frame(self.chunk_type, 0, fields + encode_parameters(self.parameters))

    def find_parameter(self, type_: int) -> Parameter | None:
        for parameter in self.parameters:
            if parameter.type == type_:
                return parameter
        return None


@dataclass(frozen=True, slots=True)
class InitAckChunk(InitChunk):
    chunk_type = ChunkType.INIT_ACK

    @property
    def state_cookie(self) -> bytes | None:
        parameter = self.find_parameter(ParameterType.STATE_COOKIE)
        return None if parameter is None else parameter.value


@dataclass(frozen=True, slots=True)
class SackChunk:
    cumulative_tsn_ack: int
    advertised_receiver_window_credit: int
    # (start, end) offsets from the Cumulative TSN Ack, both inclusive.
    gap_ack_blocks: tuple[tuple[int, int], ...] = ()
    duplicate_tsns: tuple[int, ...] = ()

    def encode(self) -> bytes:
        fields = _SACK_FIELDS.pack(
            self.cumulative_tsn_ack,
            self.advertised_receiver_window_credit,
            len(self.gap_ack_blocks),
            len(self.duplicate_tsns),
        )
        blocks = b"".join(struct.pack("!HH", s, e) for s, e in self.gap_ack_blocks)
        duplicates = b"".join(struct.pack("!I", t) for t in self.duplicate_tsns)
        return _frame(ChunkType.SACK, 0, fields + blocks + duplicates)


@dataclass(frozen=True, slots=True)
class HeartbeatChunk:
    heartbeat_information: bytes

    chunk_type = ChunkType.HEARTBEAT

    def encode(self) -> bytes:
        value = encode_tlv(ParameterType.HEARTBEAT_INFO, self.heartbeat_information)
        return _frame(self.chunk_type, 0, value)


@dataclass(frozen=True, slots=True)
class HeartbeatAckChunk(HeartbeatChunk):
    chunk_type = ChunkType.HEARTBEAT_ACK


@dataclass(frozen=True, slots=True)
class AbortChunk:
    error_causes: tuple[Parameter, ...] = ()
    # T bit: the Verification Tag is the sender's own (reflected), not the receiver's.
    tag_reflected: bool = False

    def encode(self) -> bytes:
        flags = 1 if self.tag_reflected else 0
        return _frame(ChunkType.ABORT, flags, encode_parameters(self.error_causes))


@dataclass(frozen=True, slots=True)
class ErrorChunk:
    error_causes: tuple[Parameter, ...] = ()

    def encode(self) -> bytes:
        return _frame(ChunkType.ERROR, 0, encode_parameters(self.error_causes))


@dataclass(frozen=True, slots=True)
class ShutdownChunk:
    cumulative_tsn_ack: int

    def encode(self) -> bytes:
        return _frame(ChunkType.SHUTDOWN, 0, struct.pack("!I", self.cumulative_tsn_ack))


@dataclass(frozen=True, slots=True)
class ShutdownAckChunk:
    def encode(self) -> bytes:
        return _frame(ChunkType.SHUTDOWN_ACK, 0, b"")


@dataclass(frozen=True, slots=True)
class ShutdownCompleteChunk:
    tag_reflected: bool = False

    def encode(self) -> bytes:
        return _frame(ChunkType.SHUTDOWN_COMPLETE, 1 if self.tag_reflected else 0, b"")


@dataclass(frozen=True, slots=True)
class CookieEchoChunk:
    cookie: bytes

    def encode(self) -> bytes:
        return _frame(ChunkType.COOKIE_ECHO, 0, self.cookie)


@dataclass(frozen=True, slots=True)
class CookieAckChunk:
    def encode(self) -> bytes:
        return _frame(ChunkType.COOKIE_ACK, 0, b"")


@dataclass(frozen=True, slots=True)
class ForwardTsnChunk:
    new_cumulative_tsn: int
    # (Stream, Stream Sequence) of the ordered streams whose messages were skipped.
    streams: tuple[tuple[int, int], ...] = ()

    def encode(self) -> bytes:
        value = struct.pack("!I", self.new_cumulative_tsn) + b"".join(
            struct.pack("!HH", sid, ssn) for sid, ssn in self.streams
        )
        return _frame(ChunkType.FORWARD_TSN, 0, value)


@dataclass(frozen=True, slots=True)
class ReconfigChunk:
    parameters: tuple[ReconfigParameter, ...]

    def encode(self) -> bytes:
        return _frame(ChunkType.RE_CONFIG, 0, b"".join(p.encode() for p in self.parameters))


@dataclass(frozen=True, slots=True)
class UnknownChunk:
    chunk_type: int
    flags: int
    value: bytes

    def encode(self) -> bytes:
        return _frame(self.chunk_type, self.flags, self.value)

    @property
    def raw(self) -> bytes:
        return _CHUNK_HEADER.pack(self.chunk_type, self.flags, 4 + len(self.value)) + self.value


Chunk = (
    DataChunk
    | InitChunk
    | InitAckChunk
    | SackChunk
    | HeartbeatChunk
    | HeartbeatAckChunk
    | AbortChunk
    | ErrorChunk
    | ShutdownChunk
    | ShutdownAckChunk
    | ShutdownCompleteChunk
    | CookieEchoChunk
    | CookieAckChunk
    | ForwardTsnChunk
    | ReconfigChunk
    | UnknownChunk
)


def _require_length(value: bytes, exact: int | None, minimum: int, name: str) -> None:
    if exact is not None and len(value) != exact:
        raise SctpDecodeError(f"{name} chunk value has length {len(value)}, expected {exact}")
    if len(value) < minimum:
        raise SctpDecodeError(f"{name} chunk is truncated")


def _decode_heartbeat_info_untrusted(value: bytes) -> bytes:
    parameters = decode_tlvs_untrusted(value)
    for parameter in parameters:
        if parameter.type == ParameterType.HEARTBEAT_INFO:
            return parameter.value
    raise SctpDecodeError("HEARTBEAT without Heartbeat Info parameter")


def decode_chunk_untrusted(type_: int, flags: int, value: bytes) -> Chunk:
    """Decode one chunk value (header already split off by `decode_chunks_untrusted`)."""
    if type_ == ChunkType.DATA:
        _require_length(value, None, 12, "DATA")
        tsn, sid, ssn, ppid = _DATA_FIELDS.unpack_from(value)
        return DataChunk(
            tsn=tsn,
            stream_identifier=sid,
            stream_sequence_number=ssn,
            payload_protocol_identifier=ppid,
            user_data=bytes(value[12:]),
            unordered=bool(flags & 4),
            beginning=bool(flags & 2),
            ending=bool(flags & 1),
            immediate=bool(flags & 8),
        )
    if type_ in (ChunkType.INIT, ChunkType.INIT_ACK):
        _require_length(value, None, 16, "INIT")
        tag, a_rwnd, outbound, inbound, initial_tsn = _INIT_FIELDS.unpack_from(value)
        cls = InitChunk if type_ == ChunkType.INIT else InitAckChunk
        return cls(
            tag, a_rwnd, outbound, inbound, initial_tsn, tuple(decode_tlvs_untrusted(value[16:]))
        )
    if type_ == ChunkType.SACK:
        _require_length(value, None, 12, "SACK")
        cumulative, a_rwnd, n_blocks, n_duplicates = _SACK_FIELDS.unpack_from(value)
        if len(value) != 12 + 4 * n_blocks + 4 * n_duplicates:
            raise SctpDecodeError("SACK length does not match its block counts")
        blocks = tuple(struct.unpack_from("!HH", value, 12 + 4 * i) for i in range(n_blocks))
        base = 12 + 4 * n_blocks
        duplicates = tuple(
            struct.unpack_from("!I", value, base + 4 * i)[0] for i in range(n_duplicates)
        )
        return SackChunk(cumulative, a_rwnd, blocks, duplicates)
    if type_ == ChunkType.HEARTBEAT:
        return HeartbeatChunk(_decode_heartbeat_info_untrusted(value))
    if type_ == ChunkType.HEARTBEAT_ACK:
        return HeartbeatAckChunk(_decode_heartbeat_info_untrusted(value))
    if type_ == ChunkType.ABORT:
        return AbortChunk(tuple(decode_tlvs_untrusted(value)), tag_reflected=bool(flags & 1))
    if type_ == ChunkType.ERROR:
        return ErrorChunk(tuple(decode_tlvs_untrusted(value)))
    if type_ == ChunkType.SHUTDOWN:
        _require_length(value, 4, 4, "SHUTDOWN")
        return ShutdownChunk(struct.unpack("!I", value)[0])
    if type_ == ChunkType.SHUTDOWN_ACK:
        _require_length(value, 0, 0, "SHUTDOWN ACK")
        return ShutdownAckChunk()
    if type_ == ChunkType.SHUTDOWN_COMPLETE:
        _require_length(value, 0, 0, "SHUTDOWN COMPLETE")
        return ShutdownCompleteChunk(tag_reflected=bool(flags & 1))
    if type_ == ChunkType.COOKIE_ECHO:
        return CookieEchoChunk(bytes(value))
    if type_ == ChunkType.COOKIE_ACK:
        _require_length(value, 0, 0, "COOKIE ACK")
        return CookieAckChunk()
    if type_ == ChunkType.FORWARD_TSN:
        _require_length(value, None, 4, "FORWARD TSN")
        if len(value) % 4:
            raise SctpDecodeError("FORWARD TSN stream list is not a multiple of 4 bytes")
        (new_cumulative,) = struct.unpack_from("!I", value)
        streams = tuple(
            struct.unpack_from("!HH", value, offset) for offset in range(4, len(value), 4)
        )
        return ForwardTsnChunk(new_cumulative, streams)
    if type_ == ChunkType.RE_CONFIG:
        parameters = decode_tlvs_untrusted(value)
        if not parameters:
            raise SctpDecodeError("RE-CONFIG without parameters")
        return ReconfigChunk(tuple(decode_reconfig_parameter_untrusted(p) for p in parameters))
    return UnknownChunk(type_, flags, bytes(value))


def decode_chunks_untrusted(data: bytes, offset: int = 0) -> list[Chunk]:
    """Decode the chunks of `data` from `offset` on (after an SCTP common header)."""
    chunks: list[Chunk] = []
    end = len(data)
    while offset < end:
        if end - offset < 4:
            raise SctpDecodeError("truncated chunk header")
        type_, flags, length = _CHUNK_HEADER.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            raise SctpDecodeError(f"chunk type {type_} has bad length {length}")
        if type_ == ChunkType.DATA and length >= DATA_CHUNK_HEADER_SIZE:
            # DATA is most of the traffic: parsed in place, its payload copied once.
            tsn, sid, ssn, ppid = _DATA_FIELDS.unpack_from(data, offset + 4)
            chunks.append(
                DataChunk(
                    tsn, sid, ssn, ppid, data[offset + DATA_CHUNK_HEADER_SIZE : offset + length],
                    bool(flags & 4), bool(flags & 2), bool(flags & 1), bool(flags & 8),
                )
            )
        else:
            chunks.append(decode_chunk_untrusted(type_, flags, data[offset + 4 : offset + length]))
        offset += length + (-length % 4)
    return chunks
