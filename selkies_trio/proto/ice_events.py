"""Events an IceAgent hands to its driver through `next_event()`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

Address = tuple[str, int]


class IceConnectionState(enum.StrEnum):
    """The W3C RTCIceConnectionState values the agent moves through."""

    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    COMPLETED = "completed"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class LocalCandidate:
    """A new local candidate to trickle to the peer (`candidate:... typ host`)."""

    candidate: str


@dataclass(frozen=True)
class EndOfLocalCandidates:
    """Gathering is complete: signal end-of-candidates (an empty candidate) to the peer."""


@dataclass(frozen=True)
class IceConnectionStateChanged:
    state: IceConnectionState


@dataclass(frozen=True)
class CandidatePairSelected:
    """Media goes from `local` (our socket address) to `remote` from now on."""

    local: Address
    remote: Address


@dataclass(frozen=True)
class IceRoleChanged:
    """A role conflict (RFC 8445 section 7.3.1.1) switched our role."""

    controlling: bool


@dataclass(frozen=True)
class ConsentExpired:
    """RFC 7675: the peer at `remote` stopped answering consent checks; the connection failed."""

    remote: Address


IceEvent = (
    LocalCandidate
    | EndOfLocalCandidates
    | IceConnectionStateChanged
    | CandidatePairSelected
    | IceRoleChanged
    | ConsentExpired
)
