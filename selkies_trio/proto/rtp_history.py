"""Recently sent RTP packets of one SSRC, for answering generic NACKs (RFC 4585 section 6.2.1).

A NACK names lost packets by their 16-bit RTP sequence number (RFC 3550 section 5.1),
which wraps. The history is a ring of ``capacity`` slots indexed by sequence number
modulo the capacity; each slot remembers the full sequence number it holds, so a
request for a number that was overwritten, or never sent, finds nothing.

NACKs come from the network, so answering them is bounded: a sequence number
asked for twice in one NACK is sent once, and a packet resent less than
``resend_interval`` ago is not resent again (a receiver repeating its NACK
before the first retransmission could arrive gains nothing, and a hostile one
cannot turn one small NACK into thousands of SRTP protections).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SEQUENCE_MODULO = 1 << 16


class RtpHistoryLocalProtocolError(ValueError):
    """The history was configured or fed impossibly."""


@dataclass(slots=True)
class StoredPacket:
    sequence_number: int
    packet: bytes
    sent_at: float
    resent_at: float | None = None


class RtpPacketHistory:
    def __init__(
        self, capacity: int = 1024, max_age: float = 2.0, resend_interval: float = 0.05
    ) -> None:
        if capacity < 1 or SEQUENCE_MODULO % capacity:
            # A power of two keeps slot = sequence % capacity continuous across the wrap.
            raise RtpHistoryLocalProtocolError("capacity must be a power of two up to 65536")
        self._slots: list[StoredPacket | None] = [None] * capacity
        self._capacity = capacity
        self._max_age = max_age
        self._resend_interval = resend_interval

    @property
    def capacity(self) -> int:
        return self._capacity

    def store(self, sequence_number: int, packet: bytes, now: float) -> None:
        """Remember an RTP packet (unprotected, so it can be re-protected) as sent at ``now``."""
        if not 0 <= sequence_number < SEQUENCE_MODULO:
            raise RtpHistoryLocalProtocolError(f"sequence number {sequence_number} is not 16 bits")
        self._slots[sequence_number % self._capacity] = StoredPacket(
            sequence_number, bytes(packet), now
        )

    def _lookup(self, sequence_number: int, now: float) -> StoredPacket | None:
        stored = self._slots[sequence_number % self._capacity]
        if stored is None or stored.sequence_number != sequence_number:
            return None
        if now - stored.sent_at > self._max_age:
            # The receiver's jitter buffer has given up on it; resending wastes bandwidth.
            return None
        return stored

    def get(self, sequence_number: int, now: float) -> bytes | None:
        """The packet sent with this sequence number, unless forgotten or too old to help."""
        stored = self._lookup(sequence_number, now)
        return None if stored is None else stored.packet

    def retransmissions(self, sequence_numbers: Iterable[int], now: float) -> list[bytes]:
        """Packets to resend for one NACK, in the order asked, skipping the unavailable,
        the repeated and the recently resent; those returned count as resent at `now`."""
        packets: list[bytes] = []
        for sequence in dict.fromkeys(s % SEQUENCE_MODULO for s in sequence_numbers):
            stored = self._lookup(sequence, now)
            if stored is None:
                continue
            if stored.resent_at is not None and now - stored.resent_at < self._resend_interval:
                continue
            stored.resent_at = now
            packets.append(stored.packet)
        return packets

    def clear(self) -> None:
        self._slots = [None] * self._capacity
