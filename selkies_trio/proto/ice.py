"""A sans-IO full ICE agent (RFC 8445) with trickle (RFC 8838) and consent freshness (RFC 7675).

One data stream, one component (BUNDLE + rtcp-mux), UDP only. The runtime owns
the single UDP socket that every local candidate shares; it feeds datagrams in
with `receive_datagram`, sends what `datagrams_to_send` returns, re-arms
`get_timer()` and calls `handle_timer`, and drains `next_event()`.

Connectivity checks (section 7.2.4) leave one per Ta from the triggered-check
queue first, then the ordinary check list. Incoming checks (7.3) are answered at
once, teach us peer-reflexive candidates (7.3.1.3) — the only way to reach a
browser that hides its address behind an mDNS `.local` name, which we never
resolve — and queue triggered checks (7.3.1.4). The controlling agent nominates
(8.1.1) either regularly (after checks settle, a repeated check with
USE-CANDIDATE) or aggressively (USE-CANDIDATE on every check); the controlled
agent selects the highest-priority pair the peer nominated (7.3.1.5). Role
conflicts are settled by tie-breaker (7.3.1.1, 487 Role Conflict). Once a pair is
selected only triggered checks run; a nomination whose check goes unanswered is
retried on the pair that was just valid.

Once a pair is selected, consent checks go out every 4-6 s and the connection
fails when none has been answered for 30 s (RFC 7675 section 5.1).

Simplifications: a success response's XOR-MAPPED-ADDRESS does not create a local
peer-reflexive candidate (every candidate shares one socket, so the pair we
checked is the pair we use); ICE restarts are not supported.
"""

from __future__ import annotations

import ipaddress
import os
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .ice_candidate import (
    Address,
    Candidate,
    CandidateType,
    IceCandidateDecodeError,
    address_family,
    candidate_priority,
    is_ip_address,
    is_mdns_hostname,
    normalize_host,
    parse_candidate_untrusted,
    random_ice_string,
)
from .ice_checklist import CandidatePair, CheckList, PairState
from .ice_consent import ConsentFreshness
from .ice_events import (
    CandidatePairSelected,
    ConsentExpired,
    EndOfLocalCandidates,
    IceConnectionState,
    IceConnectionStateChanged,
    IceEvent,
    IceRoleChanged,
    LocalCandidate,
)
from .ice_gatherer import CandidateGatherer
from .ice_transactions import CheckTransaction, Transactions
from .stun import (
    StunClass,
    StunDecodeError,
    StunMessage,
    StunMethod,
    encode_stun,
    is_stun,
    parse_stun_untrusted,
    short_term_key,
)

__all__ = [
    "IceAgent",
    "IceCandidateDecodeError",
    "IceLocalProtocolError",
    "IceTimings",
]

COMPONENT_RTP = 1
LOCAL_UFRAG_LENGTH = 8
LOCAL_PWD_LENGTH = 24
_TERMINAL_STATES = (IceConnectionState.FAILED, IceConnectionState.CLOSED)


class IceLocalProtocolError(Exception):
    """The caller used the agent wrongly (bad address, ICE restart, use after close...)."""


@dataclass(frozen=True)
class IceTimings:
    """Every duration the agent uses, in seconds; tests shrink or stretch them."""

    # Ta, the pacing between two checks (RFC 8445 section 14.2 suggests 50 ms and allows
    # other values). We have one or two pairs per peer, and at 50 ms the nomination that
    # follows the first successful check waited a whole Ta: 20 ms keeps connecting fast.
    check_interval: float = 0.02
    # Retransmission of a check: RTO doubling from initial_rto up to max_rto.
    initial_rto: float = 0.5
    max_rto: float = 3.0
    max_transmissions: int = 7
    # Regular nomination: how long the controlling agent waits for better pairs.
    nomination_delay: float = 0.25
    # No pair selected this long after checks start: failed.
    connection_timeout: float = 30.0
    # RFC 7675: consent checks every consent_interval * U(0.8, 1.2), expiry after consent_timeout.
    consent_interval: float = 5.0
    consent_timeout: float = 30.0


@dataclass
class _LocalCandidate:
    candidate: Candidate
    base: Address


class IceAgent:
    def __init__(
        self,
        controlling: bool,
        *,
        tie_breaker: int | None = None,
        local_ufrag: str | None = None,
        local_pwd: str | None = None,
        aggressive_nomination: bool = False,
        timings: IceTimings | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._random = random
        self.controlling = controlling
        self.tie_breaker = (
            tie_breaker if tie_breaker is not None else int.from_bytes(random(8), "big")
        )
        self.local_ufrag = local_ufrag or random_ice_string(random, LOCAL_UFRAG_LENGTH)
        self.local_pwd = local_pwd or random_ice_string(random, LOCAL_PWD_LENGTH)
        self.aggressive_nomination = aggressive_nomination
        self.timings = timings or IceTimings()
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self._local_key = short_term_key(self.local_pwd)
        self._remote_key: bytes | None = None

        self._state = IceConnectionState.NEW
        self._events: deque[IceEvent] = deque()
        self._outgoing: list[tuple[bytes, Address]] = []
        self._local: list[_LocalCandidate] = []
        self._remote: list[Candidate] = []
        self._checklist = CheckList()
        self._triggered: deque[tuple[CandidatePair, bool]] = deque()
        self._transactions = Transactions(
            self.timings.initial_rto, self.timings.max_rto, self.timings.max_transmissions
        )
        self._gatherers: list[CandidateGatherer] = []
        self._local_gathering_finished = False
        self._end_of_local_candidates_sent = False
        self._remote_end_of_candidates = False
        self._prflx_count = 0

        self._started_at: float | None = None
        self._next_check_at = 0.0
        self._nominate_at: float | None = None
        self._nominating: CandidatePair | None = None
        self._selected: CandidatePair | None = None
        self._consent: ConsentFreshness | None = None

    # -- public state ---------------------------------------------------------------------

    @property
    def state(self) -> IceConnectionState:
        return self._state

    @property
    def selected_pair(self) -> tuple[Address, Address] | None:
        """(local base, remote address) of the selected pair, once there is one."""
        if self._selected is None:
            return None
        return (self._selected.local_base, self._selected.remote_address)

    @property
    def pairs(self) -> list[CandidatePair]:
        """The check list, highest priority first (for stats and tests)."""
        return list(self._checklist)

    def matches_username(self, username: str) -> bool:
        """Whether a STUN USERNAME (`<our ufrag>:<their ufrag>`) is addressed to this agent."""
        return username.partition(":")[0] == self.local_ufrag

    def owns_transaction(self, transaction_id: bytes) -> bool:
        """Whether a STUN response with this transaction ID answers one of our checks.

        Responses carry no USERNAME, so a socket shared by many agents routes them
        by the 5-tuple or, before that is known, by asking each agent this.
        """
        return transaction_id in self._transactions

    def local_candidates(self) -> list[str]:
        return [local.candidate.to_sdp() for local in self._local]

    def next_event(self) -> IceEvent | None:
        return self._events.popleft() if self._events else None

    # -- local candidates -----------------------------------------------------------------

    def add_host_address(self, ip: str, port: int) -> str:
        """Add a host candidate on the shared socket; returns its SDP line (also an event)."""
        self._require_open()
        try:
            host = normalize_host(ip)
        except ValueError as exc:
            raise IceLocalProtocolError(f"{ip!r} is not an IP address") from exc
        parsed = ipaddress.ip_address(host)
        if parsed.is_unspecified or parsed.is_multicast:
            raise IceLocalProtocolError(f"{host} cannot be a candidate address; bind a real one")
        if not 0 < port <= 0xFFFF:
            raise IceLocalProtocolError(f"port {port} out of range")
        if self._local_gathering_finished:
            raise IceLocalProtocolError("gathering already finished")
        if any(local.base == (host, port) for local in self._local):
            raise IceLocalProtocolError(f"{host}:{port} is already a host candidate")
        hosts = sum(1 for local in self._local if local.candidate.type is CandidateType.HOST)
        local_preference = max(65535 - hosts, 0)
        candidate = Candidate(
            foundation=self._foundation(CandidateType.HOST, host),
            component=COMPONENT_RTP,
            transport="udp",
            priority=candidate_priority(CandidateType.HOST, local_preference, COMPONENT_RTP),
            host=host,
            port=port,
            type=CandidateType.HOST,
        )
        self._add_local(candidate, (host, port))
        for remote in self._remote:
            self._pair(self._local[-1], remote)
        return candidate.to_sdp()

    def add_gatherer(self, gatherer: CandidateGatherer) -> None:
        """Attach a server-reflexive (or, later, relay) gatherer sharing our socket."""
        self._require_open()
        if self._local_gathering_finished:
            raise IceLocalProtocolError("gathering already finished")
        self._gatherers.append(gatherer)

    def finish_gathering(self) -> None:
        """No more host addresses; end-of-candidates follows once every gatherer is done."""
        self._local_gathering_finished = True
        self._maybe_end_local_candidates()

    def _add_local(self, candidate: Candidate, base: Address) -> None:
        self._local.append(_LocalCandidate(candidate, base))
        self._events.append(LocalCandidate(candidate.to_sdp()))

    def _foundation(self, candidate_type: CandidateType, base_host: str) -> str:
        # RFC 8445 section 5.1.1.3: same type, base IP and transport share a foundation.
        return str(zlib.crc32(f"{candidate_type} {base_host} udp".encode()))

    def _collect_gathered(self) -> None:
        for gatherer in self._gatherers:
            while (gathered := gatherer.next_candidate()) is not None:
                if gathered.type is not CandidateType.SERVER_REFLEXIVE:
                    raise IceLocalProtocolError(
                        f"{gathered.type} candidates need a TURN transport, not implemented yet"
                    )
                base = next((lc for lc in self._local if lc.base == gathered.base), None)
                if base is None:
                    continue  # The gatherer answered for an address we never added.
                host = normalize_host(gathered.address[0])
                candidate = Candidate(
                    foundation=self._foundation(gathered.type, base.base[0]),
                    component=COMPONENT_RTP,
                    transport="udp",
                    priority=candidate_priority(
                        gathered.type, (base.candidate.priority >> 8) & 0xFFFF, COMPONENT_RTP
                    ),
                    host=host,
                    port=gathered.address[1],
                    type=gathered.type,
                    related_address=base.base[0],
                    related_port=base.base[1],
                )
                # Checks go from the base, which the host candidate already pairs (6.1.2.4).
                self._add_local(candidate, base.base)
        self._maybe_end_local_candidates()

    def _maybe_end_local_candidates(self) -> None:
        if (
            self._local_gathering_finished
            and not self._end_of_local_candidates_sent
            and all(gatherer.done for gatherer in self._gatherers)
        ):
            self._end_of_local_candidates_sent = True
            self._events.append(EndOfLocalCandidates())
            self._maybe_complete()

    # -- remote side ----------------------------------------------------------------------

    def set_remote_credentials(self, ufrag: str, pwd: str) -> None:
        self._require_open()
        if not ufrag or not pwd:
            raise IceLocalProtocolError("remote ice-ufrag and ice-pwd must not be empty")
        if self.remote_ufrag is not None and (ufrag, pwd) != (self.remote_ufrag, self.remote_pwd):
            raise IceLocalProtocolError("ICE restart (new remote credentials) is not supported")
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        self._remote_key = short_term_key(pwd)
        self._set_state(IceConnectionState.CHECKING)

    def add_remote_candidate(self, candidate: str | None) -> bool:
        """Add a trickled remote candidate line; None (or "") means end-of-candidates.

        Returns whether the candidate was used. mDNS `.local` names, TCP and other
        components are ignored: the peer's checks reveal it as peer-reflexive.
        Raises IceCandidateDecodeError for a malformed line.
        """
        self._require_open()
        if candidate is None or not candidate.strip():
            self._remote_end_of_candidates = True
            self._maybe_complete()
            return False
        parsed = parse_candidate_untrusted(candidate)
        if (
            parsed.transport != "udp"
            or parsed.component != COMPONENT_RTP
            or is_mdns_hostname(parsed.host)
            or not is_ip_address(parsed.host)
            or parsed.port == 0
        ):
            return False
        for index, known in enumerate(self._remote):
            if known.address == parsed.address:
                if known.type is not CandidateType.PEER_REFLEXIVE:
                    return False
                # RFC 8838 section 11.2: the signalled candidate replaces the learned one.
                self._remote[index] = parsed
                for pair in self._checklist:
                    if pair.remote is known:
                        pair.remote = parsed
                self._checklist.recompute_priorities(self.controlling)
                return True
        self._remote.append(parsed)
        for local in self._local:
            self._pair(local, parsed)
        return True

    def _pair(self, local: _LocalCandidate, remote: Candidate) -> CandidatePair | None:
        if local.candidate.type is not CandidateType.HOST:
            return None
        if address_family(local.base[0]) != address_family(remote.host):
            return None
        return self._checklist.add(local.candidate, local.base, remote, self.controlling)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        if self._state is IceConnectionState.CLOSED:
            return
        self._transactions.clear()
        self._triggered.clear()
        self._set_state(IceConnectionState.CLOSED)

    def _require_open(self) -> None:
        if self._state in _TERMINAL_STATES:
            raise IceLocalProtocolError(f"the ICE agent is {self._state}")

    def _set_state(self, state: IceConnectionState) -> None:
        if state is not self._state:
            self._state = state
            self._events.append(IceConnectionStateChanged(state))

    def _fail(self) -> None:
        self._transactions.clear()
        self._triggered.clear()
        self._set_state(IceConnectionState.FAILED)

    def _maybe_complete(self) -> None:
        if (
            self._state is IceConnectionState.CONNECTED
            and self._remote_end_of_candidates
            and self._end_of_local_candidates_sent
        ):
            self._set_state(IceConnectionState.COMPLETED)

    # -- sans-IO face ---------------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        datagrams, self._outgoing = self._outgoing, []
        for gatherer in self._gatherers:
            datagrams.extend(gatherer.datagrams_to_send(now))
        return datagrams

    def get_timer(self) -> float | None:
        if self._state in _TERMINAL_STATES:
            return None
        deadlines = self._transactions.deadlines()
        deadlines += [t for g in self._gatherers if (t := g.get_timer()) is not None]
        if self._remote_key is not None:
            if self._started_at is None:
                return 0.0
            if self._has_check_to_send():
                deadlines.append(self._next_check_at)
            if self._selected is None:
                deadlines.append(self._started_at + self.timings.connection_timeout)
        if self._nominate_at is not None:
            deadlines.append(self._nominate_at)
        if self._consent is not None:
            deadlines += self._consent.deadlines()
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        if self._state in _TERMINAL_STATES:
            return
        self._start(now)
        for gatherer in self._gatherers:
            timer = gatherer.get_timer()
            if timer is not None and timer <= now:
                gatherer.handle_timer(now)
        self._collect_gathered()
        self._retransmit(now)
        self._maybe_nominate(now)
        if now >= self._next_check_at and self._has_check_to_send():
            self._send_next_check(now)
        self._check_consent(now)
        self._check_failure(now)

    def receive_datagram(
        self, data: bytes, addr: tuple[str, int], now: float, local_addr: Address | None = None
    ) -> None:
        """Feed one datagram from `addr`. Non-STUN and malformed datagrams are ignored.

        `local_addr` is the socket address it arrived on; with one socket per agent
        it may be omitted and the first host candidate of the same family is used.
        """
        if self._state in _TERMINAL_STATES or not is_stun(data):
            return
        try:
            message = parse_stun_untrusted(data)
            remote = (normalize_host(addr[0]), int(addr[1]))
        except (StunDecodeError, ValueError):
            return
        self._start(now)
        if message.method != StunMethod.BINDING:
            self._offer_to_gatherers(data, remote, now)
        elif message.is_request:
            self._handle_request(message, remote, local_addr, now)
        elif message.is_response:
            if message.transaction_id in self._transactions:
                self._handle_response(message, remote, now)
            else:
                self._offer_to_gatherers(data, remote, now)
        self._check_failure(now)

    def _offer_to_gatherers(self, data: bytes, addr: Address, now: float) -> None:
        for gatherer in self._gatherers:
            if gatherer.receive_datagram(data, addr, now):
                self._collect_gathered()
                return

    def _start(self, now: float) -> None:
        if self._started_at is None and self._remote_key is not None:
            self._started_at = now

    # -- incoming checks (RFC 8445 section 7.3) -----------------------------------------

    def _handle_request(
        self, request: StunMessage, remote: Address, local_addr: Address | None, now: float
    ) -> None:
        if request.username is None or request.message_integrity is None:
            self._respond_error(request, remote, 400, signed=False)
            return
        local_ufrag, _, remote_ufrag = request.username.partition(":")
        if (
            local_ufrag != self.local_ufrag
            or (self.remote_ufrag is not None and remote_ufrag != self.remote_ufrag)
            or not request.check_integrity(self._local_key)
        ):
            self._respond_error(request, remote, 401, signed=False)
            return
        if request.unknown_required:
            self._respond_error(request, remote, 420, signed=True)
            return
        if not self._settle_role_conflict(request):
            self._respond_error(request, remote, 487, signed=True)
            return

        response = StunMessage(
            method=StunMethod.BINDING,
            message_class=StunClass.SUCCESS_RESPONSE,
            transaction_id=request.transaction_id,
            xor_mapped_address=remote,
        )
        self._outgoing.append((encode_stun(response, integrity_key=self._local_key), remote))

        local = self._local_for(remote, local_addr)
        if local is None:
            return
        remote_candidate = self._remote_candidate_for(remote, request.priority)
        pair = self._checklist.find(local.base, remote) or self._pair(local, remote_candidate)
        if pair is None:
            return
        if pair.state is PairState.IN_PROGRESS:
            self._transactions.cancel_checks_of(pair, now)
        if pair.state is not PairState.SUCCEEDED:
            pair.state = PairState.WAITING
            self._enqueue_triggered(pair, nominate=self._nominates_every_check())
        if request.use_candidate and not self.controlling:
            if pair.state is PairState.SUCCEEDED:
                self._nominate(pair, now)
            else:
                pair.nominate_on_success = True

    def _settle_role_conflict(self, request: StunMessage) -> bool:
        """RFC 8445 section 7.3.1.1; False means answer 487 and keep our role."""
        if self.controlling and request.ice_controlling is not None:
            if self.tie_breaker >= request.ice_controlling:
                return False
            self._switch_role(controlling=False)
        elif not self.controlling and request.ice_controlled is not None:
            if self.tie_breaker >= request.ice_controlled:
                self._switch_role(controlling=True)
            else:
                return False
        return True

    def _switch_role(self, controlling: bool) -> None:
        self.controlling = controlling
        self._checklist.recompute_priorities(controlling)
        # A new controlling agent nominates among the pairs already valid.
        self._nominate_at = 0.0 if controlling else None
        self._nominating = None
        self._events.append(IceRoleChanged(controlling))

    def _respond_error(
        self, request: StunMessage, remote: Address, code: int, signed: bool
    ) -> None:
        response = StunMessage(
            method=StunMethod.BINDING,
            message_class=StunClass.ERROR_RESPONSE,
            transaction_id=request.transaction_id,
            error_code=code,
            unknown_attributes=request.unknown_required if code == 420 else (),
        )
        key = self._local_key if signed else None
        self._outgoing.append((encode_stun(response, integrity_key=key), remote))

    def _local_for(self, remote: Address, local_addr: Address | None) -> _LocalCandidate | None:
        hosts = [lc for lc in self._local if lc.candidate.type is CandidateType.HOST]
        if local_addr is not None:
            wanted = (normalize_host(local_addr[0]), int(local_addr[1]))
            for local in hosts:
                if local.base == wanted:
                    return local
        family = address_family(remote[0])
        return next((lc for lc in hosts if address_family(lc.base[0]) == family), None)

    def _remote_candidate_for(self, remote: Address, priority: int | None) -> Candidate:
        for known in self._remote:
            if known.address == remote:
                return known
        # RFC 8445 section 7.3.1.3: a peer-reflexive candidate with the check's PRIORITY.
        self._prflx_count += 1
        learned = Candidate(
            foundation=f"prflx{self._prflx_count}",
            component=COMPONENT_RTP,
            transport="udp",
            priority=priority or candidate_priority(CandidateType.PEER_REFLEXIVE, 65535, 1),
            host=remote[0],
            port=remote[1],
            type=CandidateType.PEER_REFLEXIVE,
        )
        self._remote.append(learned)
        return learned

    # -- outgoing checks (RFC 8445 section 7.2) -----------------------------------------

    def _nominates_every_check(self) -> bool:
        return self.controlling and self.aggressive_nomination

    def _enqueue_triggered(self, pair: CandidatePair, nominate: bool) -> None:
        for index, (queued, queued_nominate) in enumerate(self._triggered):
            if queued is pair:
                # One check per pair; it nominates if either request asked for that.
                self._triggered[index] = (pair, nominate or queued_nominate)
                return
        self._triggered.append((pair, nominate))

    def _has_check_to_send(self) -> bool:
        if self._remote_key is None:
            return False
        if self._triggered:
            return True
        return self._selected is None and any(
            pair.state in (PairState.WAITING, PairState.FROZEN) for pair in self._checklist
        )

    def _send_next_check(self, now: float) -> None:
        while self._triggered:
            pair, nominate = self._triggered.popleft()
            nominate = nominate and self.controlling  # The role may have changed since.
            if pair.state is PairState.WAITING or (nominate and pair.state is PairState.SUCCEEDED):
                self._send_check(pair, now, nominate)
                return
        if self._selected is None:
            ordinary = self._checklist.next_waiting()
            if ordinary is not None:
                self._send_check(ordinary, now, self._nominates_every_check())

    def _send_check(self, pair: CandidatePair, now: float, nominate: bool) -> None:
        assert self.remote_ufrag is not None and self._remote_key is not None
        transaction_id = self._random(12)
        request = self._binding_request(transaction_id, pair, nominate)
        self._transactions.start(
            transaction_id,
            pair,
            request,
            nominating=nominate,
            controlling=self.controlling,
            now=now,
        )
        if pair.state is not PairState.SUCCEEDED:
            pair.state = PairState.IN_PROGRESS
        self._outgoing.append((request, pair.remote_address))
        self._next_check_at = now + self.timings.check_interval

    def _binding_request(self, transaction_id: bytes, pair: CandidatePair, nominate: bool) -> bytes:
        assert self._remote_key is not None
        local_preference = (pair.local.priority >> 8) & 0xFFFF
        message = StunMessage(
            method=StunMethod.BINDING,
            message_class=StunClass.REQUEST,
            transaction_id=transaction_id,
            username=f"{self.remote_ufrag}:{self.local_ufrag}",
            # RFC 8445 section 7.1.1: the priority a peer-reflexive candidate of ours would have.
            priority=candidate_priority(
                CandidateType.PEER_REFLEXIVE, local_preference, pair.local.component
            ),
            use_candidate=nominate,
            ice_controlling=self.tie_breaker if self.controlling else None,
            ice_controlled=None if self.controlling else self.tie_breaker,
        )
        return encode_stun(message, integrity_key=self._remote_key)

    def _retransmit(self, now: float) -> None:
        resend, timed_out = self._transactions.advance(now)
        self._outgoing += resend
        for transaction in timed_out:
            self._check_timed_out(transaction)

    def _check_timed_out(self, transaction: CheckTransaction) -> None:
        pair = transaction.pair
        if transaction.nominating and pair.state is PairState.SUCCEEDED:
            # The pair worked moments ago: a lost nomination is retried rather than
            # failing the pair; the connection timeout bounds the retries.
            if pair is self._nominating:
                self._nominating = None
                self._nominate_at = 0.0
            return
        self._check_failed(pair)

    # -- responses (RFC 8445 section 7.2.5) ---------------------------------------------

    def _handle_response(self, response: StunMessage, remote: Address, now: float) -> None:
        assert self._remote_key is not None
        if not response.check_integrity(self._remote_key):
            return  # Section 7.2.5.1: silently discard; the check keeps retransmitting.
        transaction = self._transactions.pop(response.transaction_id)
        if transaction is None:
            return
        pair = transaction.pair
        if transaction.is_consent:
            if response.message_class is StunClass.SUCCESS_RESPONSE:
                self._refresh_consent(pair, now)
            return
        if remote != pair.remote_address:
            self._check_failed(pair)  # Section 7.2.5.2.1: non-symmetric addresses.
            return
        if response.message_class is StunClass.ERROR_RESPONSE:
            if response.error_code == 487:
                # Section 7.2.5.1: switch to the role the peer wants, then check again.
                if transaction.sent_as_controlling == self.controlling:
                    self._switch_role(controlling=not self.controlling)
                pair.state = PairState.WAITING
                self._enqueue_triggered(pair, nominate=self._nominates_every_check())
            else:
                self._check_failed(pair)
            return

        pair.state = PairState.SUCCEEDED
        self._checklist.unfreeze_foundation(pair.foundation)
        self._refresh_consent(pair, now)
        if self.controlling and transaction.nominating:
            self._nominating = None
            self._nominate(pair, now)
        elif not self.controlling and pair.nominate_on_success:
            self._nominate(pair, now)
        elif self.controlling and self._nominate_at is None and self._selected is None:
            self._nominate_at = now + self.timings.nomination_delay
            self._maybe_nominate(now)

    def _check_failed(self, pair: CandidatePair) -> None:
        if pair is self._nominating:
            # Nominate the next best valid pair at the next timer.
            self._nominating = None
            self._nominate_at = 0.0
        if pair is not self._selected:
            pair.state = PairState.FAILED
            self._checklist.unfreeze_foundation(pair.foundation)

    # -- nomination and selection (RFC 8445 section 8) ----------------------------------

    def _maybe_nominate(self, now: float) -> None:
        """Regular nomination: the best valid pair, once nothing better is pending or we waited."""
        if self._nominate_at is None or self._nominating is not None:
            return
        if not self.controlling or self.aggressive_nomination or self._selected is not None:
            self._nominate_at = None
            return
        best = self._checklist.best_valid()
        if best is None:
            self._nominate_at = None  # Re-armed when a check next succeeds.
            return
        if now < self._nominate_at and self._checklist.pending_above(best.priority):
            return
        self._nominate_at = None
        self._nominating = best
        self._enqueue_triggered(best, nominate=True)

    def _nominate(self, pair: CandidatePair, now: float) -> None:
        pair.nominated = True
        pair.nominate_on_success = False
        selected = self._selected
        if selected is not None and (selected is pair or selected.priority >= pair.priority):
            return
        self._selected = pair
        self._nominate_at = None
        self._events.append(CandidatePairSelected(pair.local_base, pair.remote_address))
        if self._consent is None:
            self._consent = ConsentFreshness(
                now, self.timings.consent_interval, self.timings.consent_timeout, self._random
            )
        if self._state is IceConnectionState.CHECKING or self._state is IceConnectionState.NEW:
            self._set_state(IceConnectionState.CONNECTED)
        self._maybe_complete()

    # -- consent freshness (RFC 7675) ---------------------------------------------------

    def _refresh_consent(self, pair: CandidatePair, now: float) -> None:
        if pair is self._selected and self._consent is not None:
            self._consent.refreshed(now)

    def _check_consent(self, now: float) -> None:
        pair, consent = self._selected, self._consent
        if pair is None or consent is None:
            return
        if consent.expired(now):
            self._events.append(ConsentExpired(pair.remote_address))
            self._fail()
            return
        if consent.check_due(now):
            transaction_id = self._random(12)
            request = self._binding_request(transaction_id, pair, nominate=False)
            self._transactions.start(
                transaction_id,
                pair,
                request,
                nominating=False,
                controlling=self.controlling,
                now=now,
                consent_wait=self.timings.consent_timeout,
            )
            self._outgoing.append((request, pair.remote_address))

    def _check_failure(self, now: float) -> None:
        if self._selected is not None or self._state in _TERMINAL_STATES:
            return
        timed_out = (
            self._started_at is not None
            and now >= self._started_at + self.timings.connection_timeout
        )
        exhausted = (
            self._remote_end_of_candidates
            and self._checklist.all_failed()
            and not self._triggered
            and not self._transactions
        )
        if timed_out or exhausted:
            self._fail()
