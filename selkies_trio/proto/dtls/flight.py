"""Writing records and packing a handshake flight into datagrams, RFC 6347 section 4.2.4.

A flight is the group of messages one side sends before waiting for the other
(ClientHello; ServerHello..ServerHelloDone; Certificate..Finished; ChangeCipherSpec,
Finished). It is retransmitted whole, each time with fresh record sequence numbers,
and each message is cut into fragments so that no datagram exceeds the path MTU.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cipher import RecordProtection
from .errors import LocalProtocolError
from .handshake import HANDSHAKE_HEADER_LENGTH, HandshakeMessage, split_message
from .record import DTLS_1_2, MAX_SEQUENCE_NUMBER, RECORD_HEADER_LENGTH, ContentType, encode_record

# Below this many bytes of room it is better to start a new datagram than to fragment.
_MIN_FRAGMENT_ROOM = HANDSHAKE_HEADER_LENGTH + 32


@dataclass(frozen=True)
class OutgoingMessage:
    message: HandshakeMessage
    epoch: int


@dataclass(frozen=True)
class OutgoingChangeCipherSpec:
    epoch: int


FlightItem = OutgoingMessage | OutgoingChangeCipherSpec


class RecordWriter:
    """Per-epoch write state: the protection and the next record sequence number."""

    def __init__(self) -> None:
        self._protection: dict[int, RecordProtection | None] = {0: None}
        self._next_sequence: dict[int, int] = {0: 0}

    def add_epoch(self, epoch: int, protection: RecordProtection) -> None:
        self._protection[epoch] = protection
        self._next_sequence[epoch] = 0

    def has_epoch(self, epoch: int) -> bool:
        return epoch in self._protection

    def overhead(self, epoch: int) -> int:
        protection = self._protection[epoch]
        expansion = protection.suite.record_overhead if protection is not None else 0
        return RECORD_HEADER_LENGTH + expansion

    def seal(self, content_type: int, epoch: int, payload: bytes) -> bytes:
        return self.seal_at(content_type, epoch, payload, self._next_sequence[epoch])

    def seal_at(self, content_type: int, epoch: int, payload: bytes, sequence_number: int) -> bytes:
        """Seal with a given record sequence number (a HelloVerifyRequest takes its
        ClientHello's); later records of the epoch still number upwards from it."""
        if sequence_number > MAX_SEQUENCE_NUMBER:
            raise LocalProtocolError("record sequence numbers exhausted for this epoch")
        self._next_sequence[epoch] = max(self._next_sequence[epoch], sequence_number + 1)
        protection = self._protection[epoch]
        if protection is not None:
            payload = protection.encrypt(content_type, DTLS_1_2, epoch, sequence_number, payload)
        return encode_record(content_type, DTLS_1_2, epoch, sequence_number, payload)


def pack_flight(items: list[FlightItem], writer: RecordWriter, mtu: int) -> list[bytes]:
    """Encode a flight as datagrams of at most `mtu` bytes (one record per fragment)."""
    datagrams: list[bytes] = []
    current = bytearray()

    def flush() -> None:
        nonlocal current
        if current:
            datagrams.append(bytes(current))
            current = bytearray()

    for item in items:
        overhead = writer.overhead(item.epoch)
        if isinstance(item, OutgoingChangeCipherSpec):
            if len(current) + overhead + 1 > mtu:
                flush()
            current += writer.seal(ContentType.CHANGE_CIPHER_SPEC, item.epoch, b"\x01")
            continue
        body_length = len(item.message.body)
        offset = 0
        while True:
            budget = mtu - len(current) - overhead
            if budget < min(_MIN_FRAGMENT_ROOM, HANDSHAKE_HEADER_LENGTH + body_length - offset):
                flush()
                budget = mtu - overhead
            fragment, offset = split_message(item.message, offset, budget)
            current += writer.seal(ContentType.HANDSHAKE, item.epoch, fragment)
            if offset >= body_length:
                break
    flush()
    return datagrams
