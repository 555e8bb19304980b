"""The DTLS 1.2 record layer, RFC 6347 section 4.1.

      struct {
           ContentType type;
           ProtocolVersion version;
           uint16 epoch;                                    // New field
           uint48 sequence_number;                          // New field
           uint16 length;
           opaque fragment[DTLSPlaintext.length];
         } DTLSPlaintext;

       0                   1                   2                   3
       0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |     type      |            version            |     epoch     :
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      :     epoch     |               sequence_number                 :
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      :                sequence_number                |    length     :
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      :    length     |   fragment ...
      +-+-+-+-+-+-+-+-+

Several records may share one datagram (section 4.1.1). The anti-replay window of
section 4.1.2.6 is a sliding bitmap over the sequence numbers of one epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .errors import DtlsDecodeError

RECORD_HEADER_LENGTH = 13
MAX_SEQUENCE_NUMBER = (1 << 48) - 1
MAX_PLAINTEXT_LENGTH = 1 << 14
# Protected records may exceed the plaintext limit by the expansion (RFC 5246 6.2.3).
MAX_FRAGMENT_LENGTH = MAX_PLAINTEXT_LENGTH + 2048

DTLS_1_0 = 0xFEFF
DTLS_1_2 = 0xFEFD


class ContentType(IntEnum):
    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23


@dataclass(frozen=True)
class Record:
    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes


def parse_record_header_untrusted(data: bytes, offset: int = 0) -> tuple[Record, int]:
    """Decode one record starting at `offset`; return it and the offset after it."""
    if len(data) - offset < RECORD_HEADER_LENGTH:
        raise DtlsDecodeError("record header truncated")
    content_type = data[offset]
    if content_type not in ContentType._value2member_map_:
        raise DtlsDecodeError(f"unknown record content type {content_type}")
    version = int.from_bytes(data[offset + 1 : offset + 3], "big")
    # 0xFE is the DTLS major version; 1.0 appears on ClientHello records for compatibility.
    if version >> 8 != 0xFE:
        raise DtlsDecodeError(f"not a DTLS record version: {version:#06x}")
    epoch = int.from_bytes(data[offset + 3 : offset + 5], "big")
    sequence_number = int.from_bytes(data[offset + 5 : offset + 11], "big")
    length = int.from_bytes(data[offset + 11 : offset + 13], "big")
    if length > MAX_FRAGMENT_LENGTH:
        raise DtlsDecodeError("record too long")
    end = offset + RECORD_HEADER_LENGTH + length
    if end > len(data):
        raise DtlsDecodeError("record fragment truncated")
    fragment = bytes(data[offset + RECORD_HEADER_LENGTH : end])
    return Record(content_type, version, epoch, sequence_number, fragment), end


def parse_datagram_untrusted(data: bytes) -> list[Record]:
    """All records of a datagram. A malformed record makes the rest unreadable."""
    if not data:
        raise DtlsDecodeError("empty datagram")
    records: list[Record] = []
    offset = 0
    while offset < len(data):
        record, offset = parse_record_header_untrusted(data, offset)
        records.append(record)
    return records


def encode_record(
    content_type: int, version: int, epoch: int, sequence_number: int, fragment: bytes
) -> bytes:
    return (
        bytes((content_type,))
        + version.to_bytes(2, "big")
        + epoch.to_bytes(2, "big")
        + sequence_number.to_bytes(6, "big")
        + len(fragment).to_bytes(2, "big")
        + fragment
    )


class ReplayWindow:
    """RFC 6347 section 4.1.2.6: reject duplicates and records older than the window."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._highest = -1
        self._bitmap = 0  # bit i set: sequence number (highest - i) was received

    def is_fresh(self, sequence_number: int) -> bool:
        if sequence_number > self._highest:
            return True
        age = self._highest - sequence_number
        if age >= self.size:
            return False
        return not (self._bitmap >> age) & 1

    def mark(self, sequence_number: int) -> None:
        """Record a sequence number, only once its record has been authenticated."""
        if sequence_number > self._highest:
            shift = sequence_number - self._highest
            if shift >= self.size:
                self._bitmap = 1
            else:
                self._bitmap = ((self._bitmap << shift) | 1) & ((1 << self.size) - 1)
            self._highest = sequence_number
        else:
            age = self._highest - sequence_number
            if age < self.size:
                self._bitmap |= 1 << age
