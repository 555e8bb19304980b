"""Inbound TSN bookkeeping and acknowledgement (RFC 9260 sections 6.2, 6.7 and 6.8).

`ReceivedTsns` tracks the Cumulative TSN (every TSN up to it was received),
the TSNs received beyond it, and duplicates, and turns them into a SACK with
Gap Ack Blocks. `AckScheduler` decides when that SACK goes out: at once when a
gap or a duplicate is seen or on every second packet with DATA, otherwise
after the delayed-ack timeout.
"""

from __future__ import annotations

from bisect import bisect_right

from .chunks import SackChunk
from .serial import tsn_add, tsn_diff, tsn_gt, tsn_le

# Offsets in a Gap Ack Block are 16 bits: TSNs further ahead cannot be reported.
_MAX_GAP_OFFSET = 0xFFFF
_MAX_DUPLICATES_REPORTED = 32


class ReceivedTsns:
    """The Cumulative TSN and the runs of TSNs received beyond it.

    The runs are kept as they are reported: a list of [first, last] TSNs, disjoint,
    never adjacent, in serial order after the Cumulative TSN. Recording a TSN joins
    or splits at most two runs (a bisection finds them), so building a SACK costs
    one step per Gap Ack Block, not one per TSN held beyond a loss.
    """

    def __init__(self, peer_initial_tsn: int) -> None:
        self.cumulative_tsn = tsn_add(peer_initial_tsn, -1)
        self._runs: list[list[int]] = []
        self._duplicates: list[int] = []

    def _offset(self, tsn: int) -> int:
        """Serial distance after the Cumulative TSN; every TSN held is within 2^16 of it."""
        return (tsn - self.cumulative_tsn) & 0xFFFFFFFF

    def _run_start_offset(self, run: list[int]) -> int:
        return self._offset(run[0])

    @property
    def has_gaps(self) -> bool:
        return bool(self._runs)

    def highest_received(self) -> int:
        return self._runs[-1][1] if self._runs else self.cumulative_tsn

    def is_new(self, tsn: int) -> bool:
        if not tsn_gt(tsn, self.cumulative_tsn):
            return False
        offset = self._offset(tsn)
        index = bisect_right(self._runs, offset, key=self._run_start_offset)
        return index == 0 or self._offset(self._runs[index - 1][1]) < offset

    def is_reportable(self, tsn: int) -> bool:
        """A TSN too far ahead of the Cumulative TSN could not appear in a SACK."""
        return 0 < tsn_diff(tsn, self.cumulative_tsn) <= _MAX_GAP_OFFSET

    def record(self, tsn: int) -> None:
        """Note a new TSN (the caller checked `is_new` and `is_reportable`)."""
        runs = self._runs
        if not runs and tsn == tsn_add(self.cumulative_tsn, 1):
            self.cumulative_tsn = tsn  # the common case: in sequence, no gap
            return
        offset = self._offset(tsn)
        index = bisect_right(runs, offset, key=self._run_start_offset)
        before = runs[index - 1] if index > 0 else None
        after = runs[index] if index < len(runs) else None
        if before is not None and self._offset(before[1]) >= offset:
            return  # already held
        joins_before = before is not None and self._offset(before[1]) + 1 == offset
        joins_after = after is not None and offset + 1 == self._offset(after[0])
        if before is not None and after is not None and joins_before and joins_after:
            before[1] = after[1]
            del runs[index]
        elif before is not None and joins_before:
            before[1] = tsn
        elif after is not None and joins_after:
            after[0] = tsn
        else:
            runs.insert(index, [tsn, tsn])
        self._absorb()

    def record_duplicate(self, tsn: int) -> None:
        if len(self._duplicates) < _MAX_DUPLICATES_REPORTED:
            self._duplicates.append(tsn)

    def forward_to(self, new_cumulative_tsn: int) -> bool:
        """FORWARD-TSN: treat everything up to `new_cumulative_tsn` as received."""
        if tsn_le(new_cumulative_tsn, self.cumulative_tsn):
            return False
        runs = [run for run in self._runs if tsn_gt(run[1], new_cumulative_tsn)]
        if runs and tsn_le(runs[0][0], new_cumulative_tsn):
            runs[0][0] = tsn_add(new_cumulative_tsn, 1)
        self.cumulative_tsn = new_cumulative_tsn
        self._runs = runs
        self._absorb()
        return True

    def _absorb(self) -> None:
        runs = self._runs
        if runs and runs[0][0] == tsn_add(self.cumulative_tsn, 1):
            self.cumulative_tsn = runs.pop(0)[1]

    def make_sack(self, a_rwnd: int, max_gap_blocks: int) -> SackChunk:
        """Build a SACK and forget the duplicates it reports."""
        blocks = tuple(
            (self._offset(first), self._offset(last))
            for first, last in self._runs[:max_gap_blocks]
        )
        duplicates, self._duplicates = tuple(self._duplicates), []
        return SackChunk(self.cumulative_tsn, a_rwnd, blocks, duplicates)


class AckScheduler:
    """When the next SACK is due (RFC 9260 section 6.2).

    Normally on every second packet with DATA, or after `delay`. At the start of an
    association and after a quiet spell every packet is acknowledged at once ("quick
    ack", as TCP stacks do): the sender is in slow start then, and RFC 9260 7.2.1 grows
    its window by at most one MTU per SACK, so acking every other packet would grow it
    by 1.5x per round trip instead of 2x; on a 150 ms path that decides how long a
    transfer crawls.
    """

    def __init__(self, delay: float, quick_acks: int = 1000, quiet: float = 1.0) -> None:
        self.delay = delay
        self.due_at: float | None = None
        self._packets_unacked = 0
        self._quick_acks = quick_acks
        self._quick_left = quick_acks
        self._quiet = quiet
        self._last_data_at: float | None = None

    def on_packet_with_data(self, now: float, immediate: bool) -> None:
        if self._last_data_at is not None and now - self._last_data_at >= self._quiet:
            self._quick_left = self._quick_acks
        self._last_data_at = now
        self._packets_unacked += 1
        if self._quick_left > 0:
            self._quick_left -= 1
            immediate = True
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
