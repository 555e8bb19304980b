"""SCTP packet: common header and CRC32c checksum (RFC 9260 sections 3 and 3.1,
Appendix A for the checksum).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Source Port Number        |     Destination Port Number   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                      Verification Tag                         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           Checksum                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           Chunk #1                            |
    ...

The CRC32c is computed over the whole packet with the Checksum field zeroed.
Appendix A transmits the CRC's bytes least significant first, so the 32-bit
value lands in the header in little-endian order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import google_crc32c

from .chunks import Chunk, decode_chunks_untrusted
from .errors import SctpDecodeError

COMMON_HEADER_SIZE = 12
_COMMON_HEADER = struct.Struct("!HHI")
_ZERO_CHECKSUM = b"\x00\x00\x00\x00"


@dataclass(slots=True)
class Packet:
    source_port_number: int
    destination_port_number: int
    verification_tag: int
    chunks: tuple[Chunk, ...]


_CHECKSUM = struct.Struct("<I")


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def encode_packet(
    source_port_number: int,
    destination_port_number: int,
    verification_tag: int,
    encoded_chunks: Iterable[bytes],
) -> bytes:
    header = _COMMON_HEADER.pack(source_port_number, destination_port_number, verification_tag)
    chunks = list(encoded_chunks)
    # The CRC runs over the pieces in turn, so the packet is assembled in one copy.
    checksum = google_crc32c.value(header + _ZERO_CHECKSUM)
    for chunk in chunks:
        checksum = google_crc32c.extend(checksum, chunk)
    return b"".join((header, _CHECKSUM.pack(checksum), *chunks))


def decode_packet_untrusted(data: bytes) -> Packet:
    """Check the checksum and decode the common header and all chunks."""
    if len(data) < COMMON_HEADER_SIZE + 4:
        raise SctpDecodeError("packet shorter than a common header and one chunk header")
    data = bytes(data)
    (checksum,) = _CHECKSUM.unpack_from(data, 8)
    computed = google_crc32c.value(data[:8] + _ZERO_CHECKSUM)
    if google_crc32c.extend(computed, data[COMMON_HEADER_SIZE:]) != checksum:
        raise SctpDecodeError("CRC32c checksum mismatch")
    source, destination, tag = _COMMON_HEADER.unpack_from(data)
    chunks = decode_chunks_untrusted(data, COMMON_HEADER_SIZE)
    return Packet(source, destination, tag, tuple(chunks))


class PacketBuilder:
    """Bundles encoded chunks into packets of at most `max_size` bytes (RFC 9260 section 6.10).

    A chunk too large for even an empty packet is dropped and counted in `oversized`:
    callers size their chunks to fit, and a packet over `max_size` would not fit in
    its DTLS record (RFC 8261), so it could never be delivered anyway."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.packets: list[list[bytes]] = []
        self.current: list[bytes] = []
        self.size = COMMON_HEADER_SIZE
        self.oversized = 0

    @property
    def room(self) -> int:
        return self.max_size - self.size

    def add(self, encoded: bytes) -> None:
        if len(encoded) > self.max_size - COMMON_HEADER_SIZE:
            self.oversized += 1
            return
        if len(encoded) > self.room and self.current:
            self.flush()
        self.current.append(encoded)
        self.size += len(encoded)

    def flush(self) -> None:
        if self.current:
            self.packets.append(self.current)
        self.current = []
        self.size = COMMON_HEADER_SIZE
