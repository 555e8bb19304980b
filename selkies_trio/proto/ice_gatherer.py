"""The seam for candidates that need a server: STUN server-reflexive and TURN relayed.

Host candidates come from configured addresses (`IceAgent.add_host_address`). A
gatherer is a sans-IO object the agent drives alongside its own checks: it
shares the agent's socket (its datagrams go out through `datagrams_to_send`, and
STUN responses the agent does not recognise are offered to it) and yields
`GatheredCandidate`s as it learns them. Server-reflexive candidates are paired
through their base (RFC 8445 section 6.1.2.4), so they need nothing more from
the agent. Relayed candidates need a TURN client to wrap and unwrap traffic;
that arrives with the TURN issue, and the agent refuses them until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .ice_candidate import Address, CandidateType


@dataclass(frozen=True)
class GatheredCandidate:
    type: CandidateType
    address: Address
    # The host candidate address the server saw us from (related address in SDP).
    base: Address


class CandidateGatherer(Protocol):
    @property
    def done(self) -> bool:
        """No more candidates will come (success, failure or timeout)."""
        ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> bool:
        """Offer a datagram; True if it belonged to this gatherer."""
        ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...

    def next_candidate(self) -> GatheredCandidate | None: ...
