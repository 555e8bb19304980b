r"""Variable-length parameters and error causes (RFC 9260 sections 3.2.1 and 3.3.10),
and the stream reconfiguration parameters of RFC 6525 section 4.

Every optional/variable-length parameter and every error cause has the same
Type-Length-Value layout, padded with zero bytes to a multiple of 4:

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |        Parameter Type         |       Parameter Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                                                               \
    /                        Parameter Value                        /
    \                                                               \
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Parameter Length counts the 4-byte header and the value, not the padding.

RFC 6525 section 4.1, Outgoing SSN Reset Request Parameter (type 13):

    |     Parameter Type = 13       | Parameter Length = 16 + 2 * N |
    |           Re-configuration Request Sequence Number            |
    |           Re-configuration Response Sequence Number           |
    |                Sender's Last Assigned TSN                     |
    |  Stream Number 1 (optional)   |    Stream Number 2 (optional) |
    ...

Section 4.2, Incoming SSN Reset Request Parameter (type 14):

    |     Parameter Type = 14       |  Parameter Length = 8 + 2 * N |
    |          Re-configuration Request Sequence Number             |
    |  Stream Number 1 (optional)   |    Stream Number 2 (optional) |

Section 4.4, Re-configuration Response Parameter (type 16):

    |     Parameter Type = 16       |      Parameter Length         |
    |         Re-configuration Response Sequence Number             |
    |                            Result                             |
    |                   Sender's Next TSN (optional)                |
    |                  Receiver's Next TSN (optional)               |
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import SctpDecodeError

_TLV_HEADER = struct.Struct("!HH")


class ParameterType(enum.IntEnum):
    HEARTBEAT_INFO = 1
    IPV4_ADDRESS = 5
    IPV6_ADDRESS = 6
    STATE_COOKIE = 7
    UNRECOGNIZED_PARAMETER = 8
    COOKIE_PRESERVATIVE = 9
    HOST_NAME_ADDRESS = 11
    SUPPORTED_ADDRESS_TYPES = 12
    OUTGOING_SSN_RESET_REQUEST = 13
    INCOMING_SSN_RESET_REQUEST = 14
    SSN_TSN_RESET_REQUEST = 15
    RECONFIGURATION_RESPONSE = 16
    ADD_OUTGOING_STREAMS_REQUEST = 17
    ADD_INCOMING_STREAMS_REQUEST = 18
    ZERO_CHECKSUM_ACCEPTABLE = 0x8001
    SUPPORTED_EXTENSIONS = 0x8008
    FORWARD_TSN_SUPPORTED = 0xC000


class ErrorCauseCode(enum.IntEnum):
    INVALID_STREAM_IDENTIFIER = 1
    MISSING_MANDATORY_PARAMETER = 2
    STALE_COOKIE = 3
    OUT_OF_RESOURCE = 4
    UNRECOGNIZED_CHUNK_TYPE = 6
    INVALID_MANDATORY_PARAMETER = 7
    UNRECOGNIZED_PARAMETERS = 8
    NO_USER_DATA = 9
    COOKIE_RECEIVED_WHILE_SHUTTING_DOWN = 10
    PROTOCOL_VIOLATION = 13
    USER_INITIATED_ABORT = 12


class ReconfigResult(enum.IntEnum):
    """RFC 6525 section 4.4, the Result field of a Re-configuration Response."""

    SUCCESS_NOTHING_TO_DO = 0
    SUCCESS_PERFORMED = 1
    DENIED = 2
    ERROR_WRONG_SSN = 3
    ERROR_REQUEST_ALREADY_IN_PROGRESS = 4
    ERROR_BAD_SEQUENCE_NUMBER = 5
    IN_PROGRESS = 6


@dataclass(frozen=True, slots=True)
class Parameter:
    """A TLV whose value is kept as raw bytes (also used for error causes)."""

    type: int
    value: bytes = b""

    def encode(self) -> bytes:
        return encode_tlv(self.type, self.value)


@dataclass(frozen=True, slots=True)
class OutgoingSsnResetRequest:
    request_sequence_number: int
    response_sequence_number: int
    senders_last_assigned_tsn: int
    stream_numbers: tuple[int, ...] = ()

    def encode(self) -> bytes:
        value = struct.pack(
            "!III",
            self.request_sequence_number,
            self.response_sequence_number,
            self.senders_last_assigned_tsn,
        ) + b"".join(struct.pack("!H", s) for s in self.stream_numbers)
        return encode_tlv(ParameterType.OUTGOING_SSN_RESET_REQUEST, value)


@dataclass(frozen=True, slots=True)
class IncomingSsnResetRequest:
    request_sequence_number: int
    stream_numbers: tuple[int, ...] = ()

    def encode(self) -> bytes:
        value = struct.pack("!I", self.request_sequence_number) + b"".join(
            struct.pack("!H", s) for s in self.stream_numbers
        )
        return encode_tlv(ParameterType.INCOMING_SSN_RESET_REQUEST, value)


@dataclass(frozen=True, slots=True)
class ReconfigurationResponse:
    response_sequence_number: int
    result: int
    senders_next_tsn: int | None = None
    receivers_next_tsn: int | None = None

    def encode(self) -> bytes:
        value = struct.pack("!II", self.response_sequence_number, self.result)
        if self.senders_next_tsn is not None:
            value += struct.pack("!II", self.senders_next_tsn, self.receivers_next_tsn or 0)
        return encode_tlv(ParameterType.RECONFIGURATION_RESPONSE, value)


ReconfigParameter = (
    OutgoingSsnResetRequest | IncomingSsnResetRequest | ReconfigurationResponse | Parameter
)


def encode_tlv(type_: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return _TLV_HEADER.pack(type_, length) + value + b"\x00" * (-length % 4)


def decode_tlvs_untrusted(data: bytes) -> list[Parameter]:
    """Split a run of padded TLVs; the last one may omit its padding."""
    parameters: list[Parameter] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise SctpDecodeError("truncated parameter header")
        type_, length = _TLV_HEADER.unpack_from(data, offset)
        if length < 4 or offset + length > len(data):
            raise SctpDecodeError(f"parameter {type_} has bad length {length}")
        parameters.append(Parameter(type_, bytes(data[offset + 4 : offset + length])))
        offset += length + (-length % 4)
    return parameters


def encode_parameters(parameters: tuple[Parameter, ...] | list[Parameter]) -> bytes:
    return b"".join(p.encode() for p in parameters)


def _stream_numbers_untrusted(data: bytes) -> tuple[int, ...]:
    if len(data) % 2:
        raise SctpDecodeError("odd length of stream number list")
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def decode_reconfig_parameter_untrusted(parameter: Parameter) -> ReconfigParameter:
    """Interpret one RE-CONFIG parameter; unknown types are returned unchanged."""
    value = parameter.value
    if parameter.type == ParameterType.OUTGOING_SSN_RESET_REQUEST:
        if len(value) < 12:
            raise SctpDecodeError("truncated Outgoing SSN Reset Request")
        request_seq, response_seq, last_tsn = struct.unpack_from("!III", value)
        return OutgoingSsnResetRequest(
            request_seq, response_seq, last_tsn, _stream_numbers_untrusted(value[12:])
        )
    if parameter.type == ParameterType.INCOMING_SSN_RESET_REQUEST:
        if len(value) < 4:
            raise SctpDecodeError("truncated Incoming SSN Reset Request")
        (request_seq,) = struct.unpack_from("!I", value)
        return IncomingSsnResetRequest(request_seq, _stream_numbers_untrusted(value[4:]))
    if parameter.type == ParameterType.RECONFIGURATION_RESPONSE:
        if len(value) == 8:
            response_seq, result = struct.unpack("!II", value)
            return ReconfigurationResponse(response_seq, result)
        if len(value) == 16:
            response_seq, result, senders_next, receivers_next = struct.unpack("!IIII", value)
            return ReconfigurationResponse(response_seq, result, senders_next, receivers_next)
        raise SctpDecodeError(f"Re-configuration Response of bad length {len(value)}")
    return parameter


def describe_error_causes(causes: tuple[Parameter, ...]) -> str:
    if not causes:
        return "no cause given"
    return ", ".join(
        f"cause {c.type}" + (f" {c.value.decode(errors='replace')!r}" if c.type == ErrorCauseCode.USER_INITIATED_ABORT else "")
        for c in causes
    )
