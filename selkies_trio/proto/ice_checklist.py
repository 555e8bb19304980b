"""The ICE check list: candidate pairs, their states and their order (RFC 8445 section 6.1.2).

One data stream with one component (BUNDLE and rtcp-mux), so the check list is
a single list of pairs. Pair states follow section 6.1.2.6::

    Frozen -> Waiting -> In-Progress -> Succeeded
                                    \\-> Failed

A pair's foundation is the local and remote foundations together; frozen pairs
are released when a pair of the same foundation completes (section 7.2.5.3.3),
and trickle ICE adds pairs while checks run (RFC 8838 section 10).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from .ice_candidate import Address, Candidate, pair_priority

MAX_PAIRS = 100  # RFC 8445 section 6.1.2.5 suggests limiting the check list to 100 pairs.


class PairState(enum.Enum):
    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(eq=False)
class CandidatePair:
    local: Candidate
    # Where checks for this pair leave from: the local candidate's base (RFC 8445 section 5.1.1.3).
    local_base: Address
    remote: Candidate
    priority: int
    state: PairState = PairState.FROZEN
    # Our side considers this pair nominated (USE-CANDIDATE sent and answered, or received).
    nominated: bool = False
    # The controlling peer sent USE-CANDIDATE before this pair was valid (section 7.3.1.5).
    nominate_on_success: bool = False

    @property
    def foundation(self) -> tuple[str, str]:
        return (self.local.foundation, self.remote.foundation)

    @property
    def remote_address(self) -> Address:
        return self.remote.address

    def recompute_priority(self, controlling: bool) -> None:
        if controlling:
            self.priority = pair_priority(self.local.priority, self.remote.priority)
        else:
            self.priority = pair_priority(self.remote.priority, self.local.priority)


class CheckList:
    """Pairs ordered by priority, at most one per (local base, remote address)."""

    def __init__(self) -> None:
        self._pairs: list[CandidatePair] = []

    def __iter__(self) -> Iterator[CandidatePair]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def find(self, local_base: Address, remote: Address) -> CandidatePair | None:
        for pair in self._pairs:
            if pair.local_base == local_base and pair.remote_address == remote:
                return pair
        return None

    def add(
        self, local: Candidate, local_base: Address, remote: Candidate, controlling: bool
    ) -> CandidatePair | None:
        """Add a pair unless it is redundant (same base and remote) or the list is full."""
        if self.find(local_base, remote.address) is not None or len(self._pairs) >= MAX_PAIRS:
            return None
        pair = CandidatePair(local=local, local_base=local_base, remote=remote, priority=0)
        pair.recompute_priority(controlling)
        # RFC 8838 section 10: a new pair waits unless its foundation is already being checked.
        busy = any(
            other.foundation == pair.foundation
            and other.state in (PairState.WAITING, PairState.IN_PROGRESS)
            for other in self._pairs
        )
        pair.state = PairState.FROZEN if busy else PairState.WAITING
        self._pairs.append(pair)
        self._sort()
        return pair

    def recompute_priorities(self, controlling: bool) -> None:
        for pair in self._pairs:
            pair.recompute_priority(controlling)
        self._sort()

    def _sort(self) -> None:
        self._pairs.sort(key=lambda pair: pair.priority, reverse=True)

    def next_waiting(self) -> CandidatePair | None:
        """The highest-priority Waiting pair; if none, unfreeze the best Frozen one (6.1.4.2)."""
        for pair in self._pairs:
            if pair.state is PairState.WAITING:
                return pair
        for pair in self._pairs:
            if pair.state is PairState.FROZEN:
                pair.state = PairState.WAITING
                return pair
        return None

    def has_pending(self) -> bool:
        return any(
            pair.state in (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS)
            for pair in self._pairs
        )

    def all_failed(self) -> bool:
        return bool(self._pairs) and all(pair.state is PairState.FAILED for pair in self._pairs)

    def unfreeze_foundation(self, foundation: tuple[str, str]) -> None:
        for pair in self._pairs:
            if pair.state is PairState.FROZEN and pair.foundation == foundation:
                pair.state = PairState.WAITING

    def best_valid(self) -> CandidatePair | None:
        for pair in self._pairs:
            if pair.state is PairState.SUCCEEDED:
                return pair
        return None

    def pending_above(self, priority: int) -> bool:
        """Whether a pair that could still succeed outranks `priority`."""
        return any(
            pair.priority > priority
            and pair.state in (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS)
            for pair in self._pairs
        )
