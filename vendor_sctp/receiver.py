"""Inbound TSN bookkeeping and acknowledgement (RFC 9260 sections 6.2, 6.7 and 6.8).

`ReceivedTsns` tracks the Cumulative TSN (every TSN up to it was received),
the TSNs received beyond it, and duplicates, and turns them into a SACK with
Gap Ack Blocks. `AckScheduler` decides when that SACK goes out: at once when a
gap or a duplicate is seen or on every second packet with DATA, otherwise
after the delayed-ack timeout.
"""

from __future__ import annotations

from .chunks import SackChunk
from .serial import tsn_add, tsn_diff, tsn_gt, tsn_le, tsn_sort_key

# Offsets in a Gap Ack Block are 16 bits: TSNs further ahead cannot be reported.
_MAX_GAP_OFFSET = 0xFFFF
_MAX_DUPLICATES_REPORTED = 32


class ReceivedTsns:
    def __init__(self, peer_initial_tsn: int) -> None:
        self.cumulative_tsn = tsn_add(peer_initial_tsn, -1)
        self._beyond: set[int] = set()
        self._duplicates: list[int] = []

    @property
    def has_gaps(self) -> bool:
        return bool(self._beyond)

    def highest_received(self) -> int:
        if not self._beyond:
            return self.cumulative_tsn
        return max(self._beyond, key=tsn_sort_key(self.cumulative_tsn))

    def is_new(self, tsn: int) -> bool:
        return tsn_gt(tsn, self.cumulative_tsn) and tsn not in self._beyond

    def is_reportable(self, tsn: int) -> bool:
        """A TSN too far ahead of the Cumulative TSN could not appear in a SACK."""
        return 0 < tsn_diff(tsn, self.cumulative_tsn) <= _MAX_GAP_OFFSET

    def record(self, tsn: int) -> None:
        if not self._beyond and tsn == tsn_add(self.cumulative_tsn, 1):
            self.cumulative_tsn = tsn  # the common case: in sequence, no gap
            return
        self._beyond.add(tsn)
        self._absorb()

    def record_duplicate(self, tsn: int) -> None:
        if len(self._duplicates) < _MAX_DUPLICATES_REPORTED:
            self._duplicates.append(tsn)

    def forward_to(self, new_cumulative_tsn: int) -> bool:
        """FORWARD-TSN: treat everything up to `new_cumulative_tsn` as received."""
        if tsn_le(new_cumulative_tsn, self.cumulative_tsn):
            return False
        self.cumulative_tsn = new_cumulative_tsn
        self._beyond = {t for t in self._beyond if tsn_gt(t, new_cumulative_tsn)}
        self._absorb()
        return True

    def _absorb(self) -> None:
        following = tsn_add(self.cumulative_tsn, 1)
        while following in self._beyond:
            self._beyond.remove(following)
            self.cumulative_tsn = following
            following = tsn_add(following, 1)

    def make_sack(self, a_rwnd: int, max_gap_blocks: int) -> SackChunk:
        """Build a SACK and forget the duplicates it reports."""
        blocks: list[tuple[int, int]] = []
        key = tsn_sort_key(self.cumulative_tsn)
        for offset in sorted(key(t) for t in self._beyond):
            if blocks and blocks[-1][1] + 1 == offset:
                blocks[-1] = (blocks[-1][0], offset)
            elif len(blocks) < max_gap_blocks:
                blocks.append((offset, offset))
            else:
                break
        duplicates, self._duplicates = tuple(self._duplicates), []
        return SackChunk(self.cumulative_tsn, a_rwnd, tuple(blocks), duplicates)


class AckScheduler:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.due_at: float | None = None
        self._packets_unacked = 0

    def on_packet_with_data(self, now: float, immediate: bool) -> None:
        self._packets_unacked += 1
        if immediate or self._packets_unacked >= 2:
            self.due_at = now
        elif self.due_at is None:
            self.due_at = now + self.delay

    def request_immediate(self, now: float) -> None:
        self.due_at = now

    def is_due(self, now: float) -> bool:
        return self.due_at is not None and self.due_at <= now

    def on_sack_sent(self) -> None:
        self.due_at = None
        self._packets_unacked = 0
