"""RTP fixed header and header extensions (RFC 3550 section 5.1, RFC 8285).

RFC 3550 section 5.1, the RTP fixed header::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           synchronization source (SSRC) identifier            |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |            contributing source (CSRC) identifiers             |
    |                             ....                              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

RFC 3550 section 5.3.1, the header extension (present when X=1)::

    |      defined by profile       |           length              |
    |                        header extension                       |

RFC 8285 section 4.2 (one-byte form, profile 0xBEDE) and 4.3 (two-byte form,
profile 0x100 followed by 4 "appbits")::

    one-byte element:  | ID (4) | L (4) | data (L+1 bytes) ...
    two-byte element:  |  ID (8)  |  length (8)  | data (length bytes) ...

The extension helpers at the end encode the three extensions WebRTC negotiates:
abs-send-time (webrtc.org), transport-wide sequence numbers
(draft-holmer-rmcat-transport-wide-cc-extensions-01 section 2) and sdes:mid
(RFC 8843 section 15).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
RTP_FIXED_HEADER_SIZE = 12
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000
TWO_BYTE_PROFILE_MASK = 0xFFF0

ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
TRANSPORT_WIDE_CC_URI = (
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)
SDES_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"

SEQUENCE_MODULO = 1 << 16
TIMESTAMP_MODULO = 1 << 32

_FIXED_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")


class RtpDecodeError(Exception):
    """Bytes from the network are not a well-formed RTP packet."""


class RtpLocalProtocolError(ValueError):
    """The caller asked to build an RTP packet that cannot be expressed on the wire."""


@dataclass(frozen=True, slots=True)
class HeaderExtension:
    """One RFC 8285 extension element: the negotiated local identifier and its data."""

    id: int
    value: bytes


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extensions: tuple[HeaderExtension, ...] = ()
    padding_size: int = 0
    # A header extension under a profile other than RFC 8285's is kept opaque so
    # that forwarding such a packet does not lose it.
    opaque_extension_profile: int | None = None
    opaque_extension_data: bytes = field(default=b"")

    def get_extension(self, extension_id: int) -> bytes | None:
        for extension in self.extensions:
            if extension.id == extension_id:
                return extension.value
        return None

    def to_bytes(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise RtpLocalProtocolError(f"payload type {self.payload_type} is not 7 bits")
        if not 0 <= self.sequence_number < SEQUENCE_MODULO:
            raise RtpLocalProtocolError(f"sequence number {self.sequence_number} is not 16 bits")
        if not 0 <= self.timestamp < TIMESTAMP_MODULO:
            raise RtpLocalProtocolError(f"timestamp {self.timestamp} is not 32 bits")
        if not 0 <= self.ssrc < TIMESTAMP_MODULO:
            raise RtpLocalProtocolError(f"SSRC {self.ssrc} is not 32 bits")
        if len(self.csrc) > 15:
            raise RtpLocalProtocolError("at most 15 CSRCs fit in the CC field")
        if not 0 <= self.padding_size <= 255:
            raise RtpLocalProtocolError("padding size must fit in one octet")
        extension_block = self._extension_block()
        first_byte = (
            (RTP_VERSION << 6)
            | (0x20 if self.padding_size else 0)
            | (0x10 if extension_block is not None else 0)
            | len(self.csrc)
        )
        parts = [
            _FIXED_HEADER.pack(
                first_byte,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        ]
        for source in self.csrc:
            if not 0 <= source < TIMESTAMP_MODULO:
                raise RtpLocalProtocolError(f"CSRC {source} is not 32 bits")
            parts.append(source.to_bytes(4, "big"))
        if extension_block is not None:
            parts.append(extension_block)
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes([self.padding_size]))
        return b"".join(parts)

    def _extension_block(self) -> bytes | None:
        if self.opaque_extension_profile is not None:
            if self.extensions:
                raise RtpLocalProtocolError("opaque and RFC 8285 extensions cannot be mixed")
            data = self.opaque_extension_data
            if len(data) % 4:
                raise RtpLocalProtocolError("an opaque extension must be whole 32-bit words")
            return _EXTENSION_HEADER.pack(self.opaque_extension_profile, len(data) // 4) + data
        if not self.extensions:
            return None
        if all(1 <= e.id <= 14 and 1 <= len(e.value) <= 16 for e in self.extensions):
            profile = ONE_BYTE_PROFILE
            body = b"".join(
                bytes([(e.id << 4) | (len(e.value) - 1)]) + e.value for e in self.extensions
            )
        else:
            profile = TWO_BYTE_PROFILE
            for e in self.extensions:
                if not 1 <= e.id <= 255 or len(e.value) > 255:
                    raise RtpLocalProtocolError(
                        f"extension id {e.id} with {len(e.value)} bytes fits neither form"
                    )
            body = b"".join(bytes([e.id, len(e.value)]) + e.value for e in self.extensions)
        body += bytes(-len(body) % 4)
        if len(body) // 4 > 0xFFFF:
            raise RtpLocalProtocolError("header extensions exceed the 16-bit length field")
        return _EXTENSION_HEADER.pack(profile, len(body) // 4) + body


def parse_rtp_untrusted(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raises only RtpDecodeError."""
    if len(data) < RTP_FIXED_HEADER_SIZE:
        raise RtpDecodeError(f"{len(data)} bytes is shorter than the RTP fixed header")
    first_byte, second_byte, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
    if first_byte >> 6 != RTP_VERSION:
        raise RtpDecodeError(f"RTP version {first_byte >> 6} is not 2")
    has_padding = bool(first_byte & 0x20)
    has_extension = bool(first_byte & 0x10)
    csrc_count = first_byte & 0x0F
    offset = RTP_FIXED_HEADER_SIZE
    if len(data) < offset + 4 * csrc_count:
        raise RtpDecodeError("packet ends inside the CSRC list")
    csrc = tuple(
        int.from_bytes(data[offset + 4 * i : offset + 4 * i + 4], "big") for i in range(csrc_count)
    )
    offset += 4 * csrc_count
    extensions: tuple[HeaderExtension, ...] = ()
    opaque_profile: int | None = None
    opaque_data = b""
    if has_extension:
        if len(data) < offset + 4:
            raise RtpDecodeError("packet ends inside the header extension header")
        profile, length_words = _EXTENSION_HEADER.unpack_from(data, offset)
        offset += 4
        end = offset + 4 * length_words
        if len(data) < end:
            raise RtpDecodeError("header extension runs past the end of the packet")
        block = bytes(data[offset:end])
        offset = end
        if profile == ONE_BYTE_PROFILE:
            extensions = _parse_one_byte_elements(block)
        elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
            extensions = _parse_two_byte_elements(block)
        else:
            opaque_profile, opaque_data = profile, block
    end_of_payload = len(data)
    padding_size = 0
    if has_padding:
        if end_of_payload <= offset:
            raise RtpDecodeError("padding bit set but no padding octets follow the header")
        padding_size = data[-1]
        if padding_size == 0 or padding_size > end_of_payload - offset:
            raise RtpDecodeError(f"padding count {padding_size} is impossible")
        end_of_payload -= padding_size
    return RtpPacket(
        payload_type=second_byte & 0x7F,
        sequence_number=sequence_number,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end_of_payload]),
        marker=bool(second_byte & 0x80),
        csrc=csrc,
        extensions=extensions,
        padding_size=padding_size,
        opaque_extension_profile=opaque_profile,
        opaque_extension_data=opaque_data,
    )


def _parse_one_byte_elements(block: bytes) -> tuple[HeaderExtension, ...]:
    elements: list[HeaderExtension] = []
    position = 0
    while position < len(block):
        header = block[position]
        if header == 0:  # padding between or after elements (RFC 8285 section 4.2)
            position += 1
            continue
        element_id, length = header >> 4, (header & 0x0F) + 1
        if element_id == 15:
            # RFC 8285 section 4.2: ID 15 is reserved and ends processing of the block.
            break
        position += 1
        if position + length > len(block):
            raise RtpDecodeError(f"one-byte extension {element_id} runs past its block")
        elements.append(HeaderExtension(element_id, block[position : position + length]))
        position += length
    return tuple(elements)


def _parse_two_byte_elements(block: bytes) -> tuple[HeaderExtension, ...]:
    elements: list[HeaderExtension] = []
    position = 0
    while position < len(block):
        element_id = block[position]
        if element_id == 0:
            position += 1
            continue
        if position + 2 > len(block):
            raise RtpDecodeError("two-byte extension header cut short")
        length = block[position + 1]
        position += 2
        if position + length > len(block):
            raise RtpDecodeError(f"two-byte extension {element_id} runs past its block")
        elements.append(HeaderExtension(element_id, block[position : position + length]))
        position += length
    return tuple(elements)


# 16-bit sequence number arithmetic (RFC 3550 appendix A.1 treats the space as circular).


def sequence_add(sequence_number: int, delta: int) -> int:
    return (sequence_number + delta) % SEQUENCE_MODULO


def sequence_distance(from_sequence: int, to_sequence: int) -> int:
    """Signed distance from one sequence number to another, in [-32768, 32767]."""
    difference = (to_sequence - from_sequence) % SEQUENCE_MODULO
    return difference - SEQUENCE_MODULO if difference >= SEQUENCE_MODULO // 2 else difference


def is_sequence_newer(candidate: int, reference: int) -> bool:
    return sequence_distance(reference, candidate) > 0


# Extension payloads.


def encode_abs_send_time(now: float) -> bytes:
    """abs-send-time: 24-bit unsigned 6.18 fixed-point seconds, wrapping every 64 s."""
    return (int(now * (1 << 18)) & 0xFFFFFF).to_bytes(3, "big")


def decode_abs_send_time_untrusted(value: bytes) -> float:
    if len(value) != 3:
        raise RtpDecodeError(f"abs-send-time is 3 bytes, not {len(value)}")
    return int.from_bytes(value, "big") / (1 << 18)


def encode_transport_sequence_number(transport_sequence_number: int) -> bytes:
    if not 0 <= transport_sequence_number < SEQUENCE_MODULO:
        raise RtpLocalProtocolError("transport-wide sequence number is 16 bits")
    return transport_sequence_number.to_bytes(2, "big")


def decode_transport_sequence_number_untrusted(value: bytes) -> int:
    if len(value) != 2:
        raise RtpDecodeError(f"transport-wide sequence number is 2 bytes, not {len(value)}")
    return int.from_bytes(value, "big")


def encode_mid(mid: str) -> bytes:
    encoded = mid.encode("ascii")
    if not 1 <= len(encoded) <= 255:
        raise RtpLocalProtocolError("a MID is 1 to 255 ASCII characters")
    return encoded


def decode_mid_untrusted(value: bytes) -> str:
    # RFC 8843 section 15: the value may be zero-padded by some senders.
    stripped = value.rstrip(b"\x00")
    if not stripped:
        raise RtpDecodeError("empty MID")
    try:
        return stripped.decode("ascii")
    except UnicodeDecodeError as error:
        raise RtpDecodeError("MID is not ASCII") from error
