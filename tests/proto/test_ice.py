"""ICE: candidates, two agents over a simulated network on a virtual clock, and aioice interop."""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import aioice
import aioice.ice
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.ice import IceAgent, IceLocalProtocolError, IceTimings
from selkies_trio.proto.ice_candidate import (
    Candidate,
    CandidateType,
    IceCandidateDecodeError,
    candidate_priority,
    pair_priority,
    parse_candidate_untrusted,
)
from selkies_trio.proto.ice_checklist import PairState
from selkies_trio.proto.ice_events import (
    CandidatePairSelected,
    ConsentExpired,
    EndOfLocalCandidates,
    IceConnectionState,
    IceConnectionStateChanged,
    IceEvent,
    IceRoleChanged,
    LocalCandidate,
)
from selkies_trio.proto.ice_gatherer import GatheredCandidate
from selkies_trio.proto.stun import (
    MAGIC_COOKIE,
    StunClass,
    StunMessage,
    StunMethod,
    encode_stun,
    is_stun,
    parse_stun_untrusted,
    short_term_key,
)

Address = tuple[str, int]
A_ADDR = ("127.0.0.1", 40001)
B_ADDR = ("127.0.0.1", 40002)

# -- candidates -------------------------------------------------------------------------------


def test_parse_browser_candidate() -> None:
    line = (
        "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 "
        "rport 46154 generation 0 ufrag EsAw network-id 1 network-cost 10"
    )
    candidate = parse_candidate_untrusted("a=" + line)
    assert candidate == Candidate(
        foundation="842163049",
        component=1,
        transport="udp",
        priority=1677729535,
        host="203.0.113.7",
        port=46154,
        type=CandidateType.SERVER_REFLEXIVE,
        related_address="10.0.0.2",
        related_port=46154,
        extensions=(
            ("generation", "0"),
            ("ufrag", "EsAw"),
            ("network-id", "1"),
            ("network-cost", "10"),
        ),
    )
    assert candidate.to_sdp() == line
    assert parse_candidate_untrusted(candidate.to_sdp()) == candidate


def test_parse_mdns_and_ipv6_candidates() -> None:
    mdns = parse_candidate_untrusted(
        "candidate:1 1 UDP 2122262783 6b1b1c1e-6e4f-4a8b-9a3a-1c2d3e4f5a6b.local 52000 typ host"
    )
    assert mdns.host.endswith(".local")
    assert mdns.transport == "udp"
    v6 = parse_candidate_untrusted("1 1 udp 2122262783 2001:DB8:0:0::1 9 typ host tcptype active")
    assert v6.host == "2001:db8::1"
    assert v6.extensions == (("tcptype", "active"),)


MALFORMED_CANDIDATES = {
    "empty": "",
    "too few fields": "candidate:1 1 udp 2122262783 1.2.3.4 9 typ",
    "foundation with bad char": "candidate:a-b 1 udp 1 1.2.3.4 9 typ host",
    "foundation too long": "candidate:" + "a" * 33 + " 1 udp 1 1.2.3.4 9 typ host",
    "component zero": "candidate:1 0 udp 1 1.2.3.4 9 typ host",
    "component not a number": "candidate:1 x udp 1 1.2.3.4 9 typ host",
    "priority zero": "candidate:1 1 udp 0 1.2.3.4 9 typ host",
    "priority too big": "candidate:1 1 udp 4294967296 1.2.3.4 9 typ host",
    "negative port": "candidate:1 1 udp 1 1.2.3.4 -9 typ host",
    "port too big": "candidate:1 1 udp 1 1.2.3.4 65536 typ host",
    "missing typ": "candidate:1 1 udp 1 1.2.3.4 9 type host",
    "unknown type": "candidate:1 1 udp 1 1.2.3.4 9 typ magic",
    "bad rport": "candidate:1 1 udp 1 1.2.3.4 9 typ srflx raddr 1.1.1.1 rport x",
    "unicode digits": "candidate:1 \u0661 udp 1 1.2.3.4 9 typ host",
}


@pytest.mark.parametrize("line", MALFORMED_CANDIDATES.values(), ids=MALFORMED_CANDIDATES.keys())
def test_malformed_candidate_lines(line: str) -> None:
    with pytest.raises(IceCandidateDecodeError):
        parse_candidate_untrusted(line)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_candidate_parser(text: str) -> None:
    try:
        parse_candidate_untrusted(text)
    except IceCandidateDecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "candidate:1",
                "1",
                "udp",
                "UDP",
                "2122262783",
                "1.2.3.4",
                "::1",
                "x.local",
                "9",
                "typ",
                "host",
                "srflx",
                "raddr",
                "rport",
                "generation",
                "0",
                "-1",
                "99999999999",
            ]
        ),
        max_size=14,
    )
)
def test_fuzz_candidate_parser_with_tokens(tokens: list[str]) -> None:
    try:
        parsed = parse_candidate_untrusted(" ".join(tokens))
    except IceCandidateDecodeError:
        return
    assert parse_candidate_untrusted(parsed.to_sdp()) == parsed


def test_priorities() -> None:
    # RFC 8445 section 5.1.2.1 with the recommended preferences.
    assert candidate_priority(CandidateType.HOST, 65535, 1) == 2130706431
    assert candidate_priority(CandidateType.PEER_REFLEXIVE, 65535, 1) == 1862270975
    assert candidate_priority(CandidateType.RELAYED, 0, 1) == 255
    # Section 6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0).
    assert pair_priority(10, 20) == (10 << 32) + 40
    assert pair_priority(20, 10) == (10 << 32) + 40 + 1
    assert pair_priority(7, 7) == (7 << 32) + 14


# -- a simulated network on a virtual clock --------------------------------------------------


@dataclass(order=True)
class _Flight:
    arrives_at: float
    sequence: int
    source: Address = field(compare=False)
    destination: Address = field(compare=False)
    data: bytes = field(compare=False)


@dataclass
class SimulatedNetwork:
    latency: float = 0.01
    loss: float = 0.0
    seed: int = 1
    now: float = 0.0
    agents: dict[Address, IceAgent] = field(default_factory=dict)
    events: dict[Address, list[tuple[float, IceEvent]]] = field(default_factory=dict)
    sent: list[tuple[float, Address, Address, bytes]] = field(default_factory=list)
    silenced: set[Address] = field(default_factory=set)
    _in_flight: list[_Flight] = field(default_factory=list)
    _sequence: int = 0
    _steps: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def attach(self, agent: IceAgent, address: Address) -> None:
        self.agents[address] = agent
        self.events[address] = []

    def _collect(self) -> None:
        for address, agent in self.agents.items():
            for data, destination in agent.datagrams_to_send(self.now):
                self.sent.append((self.now, address, destination, data))
                if address in self.silenced or destination in self.silenced:
                    continue
                if self._rng.random() < self.loss:
                    continue
                self._sequence += 1
                heapq.heappush(
                    self._in_flight,
                    _Flight(self.now + self.latency, self._sequence, address, destination, data),
                )
            while (event := agent.next_event()) is not None:
                self.events[address].append((self.now, event))

    def step(self, horizon: float) -> bool:
        """Advance to the next delivery or timer, but not beyond `horizon`."""
        self._steps += 1
        assert self._steps < 200_000, "the agents never go quiet (busy timer loop?)"
        self._collect()
        deadlines = [t for agent in self.agents.values() if (t := agent.get_timer()) is not None]
        if self._in_flight:
            deadlines.append(self._in_flight[0].arrives_at)
        if not deadlines or min(deadlines) > horizon:
            self.now = max(self.now, horizon)
            return False
        self.now = max(self.now, min(deadlines))
        while self._in_flight and self._in_flight[0].arrives_at <= self.now:
            flight = heapq.heappop(self._in_flight)
            receiver = self.agents.get(flight.destination)
            if receiver is not None:
                receiver.receive_datagram(flight.data, flight.source, self.now)
        for agent in self.agents.values():
            timer = agent.get_timer()
            if timer is not None and timer <= self.now:
                agent.handle_timer(self.now)
        self._collect()
        return True

    def run_until(self, predicate: Callable[[], bool], limit: float) -> None:
        deadline = self.now + limit
        while not predicate() and self.step(deadline):
            pass

    def run_for(self, duration: float) -> None:
        self.run_until(lambda: False, duration)

    def of_type(self, address: Address, kind: type) -> list[tuple[float, IceEvent]]:
        return [(t, e) for t, e in self.events[address] if isinstance(e, kind)]

    def states(self, address: Address) -> list[IceConnectionState]:
        events = self.events[address]
        return [e.state for _, e in events if isinstance(e, IceConnectionStateChanged)]


def _agent(
    controlling: bool,
    seed: int,
    address: Address,
    *,
    aggressive_nomination: bool = False,
    tie_breaker: int | None = None,
    timings: IceTimings | None = None,
) -> IceAgent:
    agent = IceAgent(
        controlling,
        random=random.Random(seed).randbytes,
        aggressive_nomination=aggressive_nomination,
        tie_breaker=tie_breaker,
        timings=timings,
    )
    agent.add_host_address(*address)
    agent.finish_gathering()
    return agent


def _give_credentials(to: IceAgent, of: IceAgent) -> None:
    to.set_remote_credentials(of.local_ufrag, of.local_pwd)


def _give_candidates(to: IceAgent, of: IceAgent) -> None:
    for line in of.local_candidates():
        assert to.add_remote_candidate(line)
    to.add_remote_candidate(None)


def _connected(network: SimulatedNetwork, *addresses: Address) -> Callable[[], bool]:
    return lambda: all(network.agents[a].selected_pair is not None for a in addresses)


def _assert_same_pair(a: IceAgent, b: IceAgent) -> None:
    assert a.selected_pair == (A_ADDR, B_ADDR)
    assert b.selected_pair == (B_ADDR, A_ADDR)


@pytest.mark.parametrize("aggressive", [False, True], ids=["regular", "aggressive"])
@pytest.mark.parametrize(
    "order", ["credentials-first", "candidates-first", "answerer-late", "offerer-late"]
)
def test_two_agents_connect(order: str, aggressive: bool) -> None:
    network = SimulatedNetwork()
    a = _agent(True, 1, A_ADDR, aggressive_nomination=aggressive)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    if order == "credentials-first":
        _give_credentials(a, b)
        _give_credentials(b, a)
        _give_candidates(a, b)
        _give_candidates(b, a)
    elif order == "candidates-first":
        _give_candidates(a, b)
        _give_candidates(b, a)
        _give_credentials(a, b)
        _give_credentials(b, a)
    elif order == "answerer-late":
        # The offerer (a) learns the answer a while after the answerer started checking.
        _give_credentials(b, a)
        _give_candidates(b, a)
        network.run_for(0.4)
        _give_credentials(a, b)
        _give_candidates(a, b)
    else:
        _give_credentials(a, b)
        _give_candidates(a, b)
        network.run_for(0.4)
        _give_credentials(b, a)
        _give_candidates(b, a)
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=5.0)
    _assert_same_pair(a, b)
    for address in (A_ADDR, B_ADDR):
        assert network.states(address)[-1] is IceConnectionState.COMPLETED
        assert IceConnectionState.CONNECTED in network.states(address)
        selected = network.of_type(address, CandidatePairSelected)
        assert len(selected) == 1
    assert network.now < 2.0
    # Both ends keep agreeing as consent checks run.
    network.run_for(20.0)
    _assert_same_pair(a, b)
    assert a.state is IceConnectionState.COMPLETED and b.state is IceConnectionState.COMPLETED


def test_trickled_candidates_and_end_of_candidates_are_events() -> None:
    agent = IceAgent(True, random=random.Random(3).randbytes)
    line = agent.add_host_address("127.0.0.1", 5000)
    second = agent.add_host_address("::1", 5000)
    agent.finish_gathering()
    events = []
    while (event := agent.next_event()) is not None:
        events.append(event)
    assert events == [LocalCandidate(line), LocalCandidate(second), EndOfLocalCandidates()]
    assert agent.local_candidates() == [line, second]
    first, other = parse_candidate_untrusted(line), parse_candidate_untrusted(second)
    assert first.type is CandidateType.HOST and first.address == ("127.0.0.1", 5000)
    assert first.priority > other.priority
    assert first.foundation != other.foundation
    with pytest.raises(IceLocalProtocolError):
        agent.add_host_address("127.0.0.2", 5000)  # after finish_gathering


@pytest.mark.parametrize(
    ("ip", "port"),
    [
        ("0.0.0.0", 5000),
        ("::", 5000),
        ("224.0.0.1", 5000),
        ("localhost", 5000),
        ("127.0.0.1", 0),
        ("127.0.0.1", 65536),
    ],
)
def test_bad_host_addresses_are_caller_errors(ip: str, port: int) -> None:
    agent = IceAgent(True, random=random.Random(3).randbytes)
    with pytest.raises(IceLocalProtocolError):
        agent.add_host_address(ip, port)
    agent.add_host_address("127.0.0.1", 5000)
    with pytest.raises(IceLocalProtocolError):
        agent.add_host_address("127.0.0.1", 5000)  # twice


def test_credentials_come_from_the_injected_random_source() -> None:
    one = IceAgent(True, random=random.Random(9).randbytes)
    two = IceAgent(True, random=random.Random(9).randbytes)
    three = IceAgent(True, random=random.Random(10).randbytes)
    assert (one.local_ufrag, one.local_pwd, one.tie_breaker) == (
        two.local_ufrag,
        two.local_pwd,
        two.tie_breaker,
    )
    assert one.local_ufrag != three.local_ufrag
    assert len(one.local_ufrag) >= 4 and len(one.local_pwd) >= 22
    assert one.matches_username(f"{one.local_ufrag}:peer")
    assert not one.matches_username(f"{three.local_ufrag}:peer")
    assert not one.matches_username("")


def test_peer_reflexive_discovery_from_incoming_check() -> None:
    """The controlled side only sees an mDNS name for the other: it learns it from checks."""
    network = SimulatedNetwork()
    a = _agent(True, 1, A_ADDR)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    _give_credentials(a, b)
    _give_credentials(b, a)
    _give_candidates(a, b)
    hidden = (
        "candidate:1 1 udp 2122260223 0c1d5d8e-1f6b-4c3e-9a51-2c8b9d1e2f3a.local 40001 typ host"
    )
    assert b.add_remote_candidate(hidden) is False
    b.add_remote_candidate(None)
    assert b.pairs == []
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=5.0)
    _assert_same_pair(a, b)
    (pair,) = b.pairs
    assert pair.remote.type is CandidateType.PEER_REFLEXIVE
    assert pair.remote.address == A_ADDR
    # The learned priority is the one a's checks carried (RFC 8445 section 7.1.1).
    assert pair.remote.priority == candidate_priority(CandidateType.PEER_REFLEXIVE, 65535, 1)


def test_peer_reflexive_when_controlling_side_hears_first() -> None:
    network = SimulatedNetwork()
    a = _agent(True, 1, A_ADDR)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    _give_credentials(a, b)
    _give_credentials(b, a)
    _give_candidates(b, a)  # a never learns b's candidates
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=5.0)
    _assert_same_pair(a, b)
    assert a.pairs[0].remote.type is CandidateType.PEER_REFLEXIVE


@pytest.mark.parametrize("controlling", [True, False], ids=["both-controlling", "both-controlled"])
def test_role_conflict_is_resolved(controlling: bool) -> None:
    network = SimulatedNetwork()
    a = _agent(controlling, 1, A_ADDR, tie_breaker=1000)
    b = _agent(controlling, 2, B_ADDR, tie_breaker=2000)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    _give_credentials(a, b)
    _give_credentials(b, a)
    _give_candidates(a, b)
    _give_candidates(b, a)
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=5.0)
    _assert_same_pair(a, b)
    # The larger tie-breaker ends up controlling (RFC 8445 section 7.3.1.1).
    assert b.controlling and not a.controlling
    switched = network.of_type(A_ADDR, IceRoleChanged) + network.of_type(B_ADDR, IceRoleChanged)
    assert len(switched) == 1
    # Someone had to be told 487.
    codes = [_error_code(data) for _, _, _, data in network.sent]
    assert 487 in codes


def _error_code(data: bytes) -> int | None:
    message = parse_stun_untrusted(data)
    return message.error_code


def test_consent_checks_keep_the_connection_alive_then_expire() -> None:
    network = SimulatedNetwork()
    a = _agent(True, 1, A_ADDR)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    _give_credentials(a, b)
    _give_credentials(b, a)
    _give_candidates(a, b)
    _give_candidates(b, a)
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=5.0)
    connected_at = network.now
    network.run_for(60.0)
    assert a.state is IceConnectionState.COMPLETED
    consent_times = [
        t
        for t, source, _, data in network.sent
        if source == A_ADDR and t > connected_at + 1.0 and parse_stun_untrusted(data).is_request
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(consent_times)]
    assert len(consent_times) >= 9
    assert all(4.0 - 1e-9 <= gap <= 6.0 + 1e-9 for gap in gaps), gaps

    silent_at = network.now
    network.silenced.add(B_ADDR)
    network.run_until(lambda: a.state is IceConnectionState.FAILED, limit=60.0)
    assert a.state is IceConnectionState.FAILED
    ((expired_at, expired),) = network.of_type(A_ADDR, ConsentExpired)
    assert expired == ConsentExpired(B_ADDR)
    assert silent_at < expired_at <= silent_at + 30.0
    assert a.get_timer() is None
    assert network.states(A_ADDR)[-1] is IceConnectionState.FAILED


def _check_from_attacker(agent: IceAgent, password: str, **fields: object) -> StunMessage:
    request = StunMessage(
        method=StunMethod.BINDING,
        message_class=StunClass.REQUEST,
        transaction_id=bytes(range(12)),
        **fields,  # type: ignore[arg-type]
    )
    key = short_term_key(password) if password else None
    agent.receive_datagram(encode_stun(request, integrity_key=key), ("127.0.0.1", 6666), 1.0)
    ((data, destination),) = agent.datagrams_to_send(1.0)
    assert destination == ("127.0.0.1", 6666)
    return parse_stun_untrusted(data)


def test_incoming_checks_are_authenticated() -> None:
    agent = _agent(False, 5, A_ADDR)
    agent.set_remote_credentials("peer", "peerpasswordpeerpassword")
    username = f"{agent.local_ufrag}:peer"
    bad_integrity = _check_from_attacker(
        agent,
        "wrong-password-wrong-pwd",
        username=username,
        priority=1,
        ice_controlling=5,
        use_candidate=True,
    )
    assert bad_integrity.error_code == 401
    assert bad_integrity.message_integrity is None
    no_integrity = _check_from_attacker(agent, "", username=username, priority=1)
    assert no_integrity.error_code == 400
    wrong_user = _check_from_attacker(agent, agent.local_pwd, username="other:peer", priority=1)
    assert wrong_user.error_code == 401
    wrong_remote_ufrag = _check_from_attacker(
        agent, agent.local_pwd, username=f"{agent.local_ufrag}:eve", priority=1
    )
    assert wrong_remote_ufrag.error_code == 401
    assert agent.pairs == []
    assert agent.selected_pair is None

    # The same check with the right password is answered and learned.
    good = _check_from_attacker(
        agent, agent.local_pwd, username=username, priority=77, ice_controlling=5
    )
    assert good.message_class is StunClass.SUCCESS_RESPONSE
    assert good.xor_mapped_address == ("127.0.0.1", 6666)
    assert good.check_integrity(short_term_key(agent.local_pwd))
    (pair,) = agent.pairs
    assert pair.remote.priority == 77 and pair.state is PairState.WAITING


def _attribute(attribute_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attribute_type, len(value)) + value + bytes(-len(value) % 4)


def test_unknown_required_attribute_gets_420() -> None:
    agent = _agent(False, 5, A_ADDR)
    # encode_stun only writes attributes it models, so this request is put together by hand.
    body = _attribute(0x0006, f"{agent.local_ufrag}:peer".encode()) + _attribute(0x7ABC, b"abcd")
    header = struct.pack("!HHI", 0x0001, len(body) + 24, MAGIC_COOKIE) + bytes(12)
    mac = hmac.new(short_term_key(agent.local_pwd), header + body, hashlib.sha1).digest()
    agent.receive_datagram(header + body + _attribute(0x0008, mac), ("127.0.0.1", 7777), 0.0)
    ((answer, destination),) = agent.datagrams_to_send(0.0)
    assert destination == ("127.0.0.1", 7777)
    message = parse_stun_untrusted(answer)
    assert message.error_code == 420
    assert message.unknown_attributes == (0x7ABC,)
    assert message.check_integrity(short_term_key(agent.local_pwd))
    assert agent.pairs == []


def test_bad_integrity_never_selects_a_pair() -> None:
    """The controlling side signs with a wrong password: every check of its is refused."""
    network = SimulatedNetwork()
    a = _agent(True, 1, A_ADDR)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    a.set_remote_credentials(b.local_ufrag, "not-the-password-of-b-at-all")
    _give_credentials(b, a)
    _give_candidates(a, b)
    _give_candidates(b, a)
    network.run_for(10.0)
    refusals = [
        data for _, source, _, data in network.sent if source == B_ADDR and _error_code(data) == 401
    ]
    assert refusals
    assert a.selected_pair is None and b.selected_pair is None
    assert not network.of_type(A_ADDR, CandidatePairSelected)
    assert not network.of_type(B_ADDR, CandidatePairSelected)
    # b's own checks (correctly signed) work; only the badly signed direction is refused,
    # and the unsigned 401s never count as answers for a (RFC 8489 section 9.1.4).
    assert b.pairs[0].state is PairState.SUCCEEDED
    assert a.pairs[0].state is not PairState.SUCCEEDED
    assert not any(pair.nominated for pair in a.pairs + b.pairs)


def test_checks_time_out_then_the_agent_fails() -> None:
    network = SimulatedNetwork()
    a = _agent(True, 1, A_ADDR)
    network.attach(a, A_ADDR)
    a.set_remote_credentials("nobody", "nobody-has-this-password")
    a.add_remote_candidate("candidate:1 1 udp 2122260223 127.0.0.1 40009 typ host")
    a.add_remote_candidate(None)
    network.run_until(lambda: a.state is IceConnectionState.FAILED, limit=60.0)
    assert a.state is IceConnectionState.FAILED
    # Seven transmissions, RTO doubling from 0.5 s and capped at 3 s, before giving up.
    checks = [t for t, _, _, _ in network.sent]
    assert len(checks) == IceTimings().max_transmissions
    assert [round(b - a, 3) for a, b in itertools.pairwise(checks)] == [0.5, 1, 2, 3, 3, 3]
    assert 15.0 <= network.now <= 16.0
    assert a.pairs[0].state is PairState.FAILED


def test_no_candidates_fails_after_connection_timeout() -> None:
    network = SimulatedNetwork()
    a = _agent(False, 1, A_ADDR, timings=IceTimings(connection_timeout=12.0))
    network.attach(a, A_ADDR)
    a.set_remote_credentials("nobody", "nobody-has-this-password")
    network.run_until(lambda: a.state is IceConnectionState.FAILED, limit=60.0)
    assert network.now == pytest.approx(12.0)
    assert network.states(A_ADDR) == [IceConnectionState.CHECKING, IceConnectionState.FAILED]


@pytest.mark.parametrize("seed", range(8))
def test_lossy_link_still_connects(seed: int) -> None:
    network = SimulatedNetwork(loss=0.3, seed=seed, latency=0.03)
    a = _agent(True, 1, A_ADDR)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    _give_credentials(a, b)
    _give_credentials(b, a)
    _give_candidates(a, b)
    _give_candidates(b, a)
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=20.0)
    _assert_same_pair(a, b)


def test_close_stops_everything() -> None:
    a = _agent(True, 1, A_ADDR)
    a.set_remote_credentials("peer", "peerpasswordpeerpassword")
    a.add_remote_candidate("candidate:1 1 udp 2122260223 127.0.0.1 40009 typ host")
    a.handle_timer(0.0)
    assert a.datagrams_to_send(0.0)
    a.close()
    assert a.state is IceConnectionState.CLOSED
    assert a.get_timer() is None
    a.handle_timer(10.0)
    assert a.datagrams_to_send(10.0) == []
    with pytest.raises(IceLocalProtocolError):
        a.add_remote_candidate(None)


def test_ignored_remote_candidates() -> None:
    a = _agent(True, 1, A_ADDR)
    assert not a.add_remote_candidate("candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype passive")
    assert not a.add_remote_candidate("candidate:1 2 udp 1 127.0.0.1 9 typ host")
    assert not a.add_remote_candidate("candidate:1 1 udp 1 stun.example.org 9 typ host")
    assert a.pairs == []
    # Kept, though without an IPv6 host candidate it pairs with nothing.
    assert a.add_remote_candidate("candidate:1 1 udp 1 ::1 9 typ host")
    assert a.pairs == []
    assert a.add_remote_candidate("candidate:1 1 udp 1 127.0.0.1 9 typ host")
    assert not a.add_remote_candidate("candidate:2 1 udp 5 127.0.0.1 9 typ host")  # duplicate
    assert len(a.pairs) == 1
    with pytest.raises(IceCandidateDecodeError):
        a.add_remote_candidate("candidate:garbage")


@dataclass
class _ReflexiveGatherer:
    """A gatherer that 'learns' one server-reflexive address after a STUN round trip."""

    base: Address
    mapped: Address
    server: Address = ("127.0.0.1", 3478)
    asked: bool = False
    answered: bool = False
    delivered: bool = False

    @property
    def done(self) -> bool:
        return self.delivered

    def get_timer(self) -> float | None:
        return None if self.asked else 0.0

    def handle_timer(self, now: float) -> None:
        self.asked = True

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> bool:
        if addr != self.server or not is_stun(data):
            return False
        self.answered = parse_stun_untrusted(data).xor_mapped_address == self.mapped
        return True

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        if self.asked and not self.answered and not self.delivered:
            request = StunMessage(
                method=StunMethod.BINDING, message_class=StunClass.REQUEST, transaction_id=b"g" * 12
            )
            return [(encode_stun(request), self.server)]
        return []

    def next_candidate(self) -> GatheredCandidate | None:
        if self.answered and not self.delivered:
            self.delivered = True
            return GatheredCandidate(CandidateType.SERVER_REFLEXIVE, self.mapped, self.base)
        return None


def test_gatherer_seam_adds_server_reflexive_candidates() -> None:
    agent = IceAgent(True, random=random.Random(4).randbytes)
    agent.add_host_address(*A_ADDR)
    gatherer = _ReflexiveGatherer(base=A_ADDR, mapped=("198.51.100.9", 61000))
    agent.add_gatherer(gatherer)
    agent.finish_gathering()
    agent.handle_timer(0.0)
    ((request, server),) = agent.datagrams_to_send(0.0)
    assert server == gatherer.server
    answer = StunMessage(
        method=StunMethod.BINDING,
        message_class=StunClass.SUCCESS_RESPONSE,
        transaction_id=parse_stun_untrusted(request).transaction_id,
        xor_mapped_address=gatherer.mapped,
    )
    agent.receive_datagram(encode_stun(answer), server, 0.1)
    events = []
    while (event := agent.next_event()) is not None:
        events.append(event)
    assert isinstance(events[0], LocalCandidate)
    assert isinstance(events[1], LocalCandidate)
    assert events[2] == EndOfLocalCandidates()
    srflx = parse_candidate_untrusted(events[1].candidate)
    assert srflx.type is CandidateType.SERVER_REFLEXIVE
    assert srflx.address == ("198.51.100.9", 61000)
    assert (srflx.related_address, srflx.related_port) == A_ADDR
    # Reflexive candidates are checked from their base: no extra pairs appear.
    agent.add_remote_candidate("candidate:1 1 udp 2122260223 127.0.0.1 40002 typ host")
    assert len(agent.pairs) == 1


# -- interop with aioice over real UDP on 127.0.0.1 -------------------------------------------


class _OurEndpoint(asyncio.DatagramProtocol):
    """The few lines a runtime needs around an IceAgent, here on asyncio."""

    def __init__(self, agent: IceAgent) -> None:
        self.agent = agent
        self.loop = asyncio.get_running_loop()
        self.wakeup = asyncio.Event()
        self.application_data: list[tuple[bytes, Address]] = []
        self.events: list[IceEvent] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if is_stun(data):
            self.agent.receive_datagram(data, (addr[0], addr[1]), self.loop.time())
        else:
            self.application_data.append((data, (addr[0], addr[1])))
        self.wakeup.set()

    def flush(self) -> None:
        assert self.transport is not None
        for data, destination in self.agent.datagrams_to_send(self.loop.time()):
            self.transport.sendto(data, destination)
        while (event := self.agent.next_event()) is not None:
            self.events.append(event)

    async def drive(self) -> None:
        while True:
            self.flush()
            deadline = self.agent.get_timer()
            self.wakeup.clear()
            timeout = None if deadline is None else max(0.0, deadline - self.loop.time())
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except TimeoutError:
                pass
            if deadline is not None and self.loop.time() >= deadline:
                self.agent.handle_timer(self.loop.time())


async def _interop(we_control: bool, they_control: bool) -> None:
    loop = asyncio.get_running_loop()
    theirs = aioice.Connection(ice_controlling=they_control, components=1, use_ipv6=False)
    await theirs.gather_candidates()
    transport, endpoint = await loop.create_datagram_endpoint(
        lambda: _OurEndpoint(IceAgent(we_control)), local_addr=("127.0.0.1", 0)
    )
    ours = endpoint.agent
    driver = asyncio.ensure_future(endpoint.drive())
    try:
        our_addr = transport.get_extra_info("sockname")[:2]
        ours.add_host_address(*our_addr)
        ours.finish_gathering()
        ours.set_remote_credentials(theirs.local_username, theirs.local_password)
        for candidate in theirs.local_candidates:
            ours.add_remote_candidate("candidate:" + candidate.to_sdp())
        ours.add_remote_candidate(None)
        theirs.remote_username, theirs.remote_password = ours.local_ufrag, ours.local_pwd
        for line in ours.local_candidates():
            await theirs.add_remote_candidate(aioice.Candidate.from_sdp(line.split(":", 1)[1]))
        await theirs.add_remote_candidate(None)
        endpoint.wakeup.set()

        await asyncio.wait_for(theirs.connect(), timeout=10.0)
        while ours.selected_pair is None:
            await asyncio.wait_for(endpoint.wakeup.wait(), timeout=10.0)
            endpoint.wakeup.clear()
        their_pair = theirs._nominated[1]  # aioice keeps its selected pair per component.
        assert ours.selected_pair == (tuple(our_addr), their_pair.local_addr)
        assert their_pair.remote_addr == tuple(our_addr)
        assert ours.controlling is not theirs.ice_controlling
        if we_control != they_control:
            assert ours.controlling is we_control
        # When we control, aioice saw our USE-CANDIDATE; otherwise we obeyed its.
        assert their_pair.remote_nominated is ours.controlling

        # Application data flows both ways over the selected pair.
        await theirs.send(b"from aioice")
        while not endpoint.application_data:
            await asyncio.wait_for(endpoint.wakeup.wait(), timeout=5.0)
            endpoint.wakeup.clear()
        assert endpoint.application_data[0] == (b"from aioice", their_pair.local_addr)
        transport.sendto(b"from us", ours.selected_pair[1])
        assert await asyncio.wait_for(theirs.recv(), timeout=5.0) == b"from us"
        assert any(isinstance(e, CandidatePairSelected) for e in endpoint.events)
        assert ours.state in (IceConnectionState.CONNECTED, IceConnectionState.COMPLETED)
    finally:
        driver.cancel()
        await asyncio.gather(driver, return_exceptions=True)
        await theirs.close()
        transport.close()


@pytest.mark.parametrize(
    ("we_control", "they_control"),
    [(True, False), (False, True), (True, True), (False, False)],
    ids=["we-control", "aioice-controls", "both-controlling", "both-controlled"],
)
def test_interop_with_aioice(
    we_control: bool, they_control: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aioice skips loopback when gathering; the tests keep all traffic on 127.0.0.1.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    asyncio.run(asyncio.wait_for(_interop(we_control, they_control), timeout=30.0))


def _checks_sent(agent: IceAgent, now: float) -> list[tuple[StunMessage, Address]]:
    agent.handle_timer(now)
    return [(parse_stun_untrusted(data), addr) for data, addr in agent.datagrams_to_send(now)]


def test_checks_are_paced_by_ta_in_priority_order() -> None:
    agent = _agent(True, 1, A_ADDR, timings=IceTimings(check_interval=0.05))
    agent.set_remote_credentials("peer", "peerpasswordpeerpassword")
    for index, port in enumerate((5001, 5002, 5003)):
        line = f"candidate:{index} 1 udp {1000 + index} 127.0.0.1 {port} typ host"
        agent.add_remote_candidate(line)
    assert _checks_sent(agent, 0.0)[0][1] == ("127.0.0.1", 5003)  # highest priority first
    assert _checks_sent(agent, 0.03) == []  # Ta has not passed
    assert agent.get_timer() == pytest.approx(0.05)
    ((second, destination),) = _checks_sent(agent, 0.05)
    assert destination == ("127.0.0.1", 5002)
    assert second.username == f"peer:{agent.local_ufrag}"
    assert second.ice_controlling == agent.tie_breaker and second.ice_controlled is None
    assert second.priority == candidate_priority(CandidateType.PEER_REFLEXIVE, 65535, 1)
    assert second.check_integrity(short_term_key("peerpasswordpeerpassword"))
    assert agent.owns_transaction(second.transaction_id)
    assert not agent.owns_transaction(bytes(12))
    assert _checks_sent(agent, 0.1)[0][1] == ("127.0.0.1", 5001)
    assert [pair.state for pair in agent.pairs] == [PairState.IN_PROGRESS] * 3


def _answer(request: StunMessage, password: str, mapped: Address) -> bytes:
    response = StunMessage(
        method=StunMethod.BINDING,
        message_class=StunClass.SUCCESS_RESPONSE,
        transaction_id=request.transaction_id,
        xor_mapped_address=mapped,
    )
    return encode_stun(response, integrity_key=short_term_key(password))


def test_responses_are_authenticated_and_must_be_symmetric() -> None:
    password = "peerpasswordpeerpassword"
    agent = _agent(False, 1, A_ADDR)
    agent.set_remote_credentials("peer", password)
    agent.add_remote_candidate("candidate:1 1 udp 99 127.0.0.1 5001 typ host")
    agent.add_remote_candidate("candidate:2 1 udp 98 127.0.0.1 5002 typ host")
    first, _ = _checks_sent(agent, 0.0)[0]
    second, _ = _checks_sent(agent, 0.05)[0]
    # A forged answer (wrong password) is dropped; the check stays in progress.
    agent.receive_datagram(
        _answer(first, "forged-forged-forged-pw", A_ADDR), ("127.0.0.1", 5001), 0.1
    )
    assert agent.pairs[0].state is PairState.IN_PROGRESS
    # An answer from another address than the one checked fails the pair (7.2.5.2.1).
    agent.receive_datagram(_answer(second, password, A_ADDR), ("127.0.0.1", 5009), 0.1)
    assert agent.pairs[1].state is PairState.FAILED
    agent.receive_datagram(_answer(first, password, A_ADDR), ("127.0.0.1", 5001), 0.1)
    assert agent.pairs[0].state is PairState.SUCCEEDED
    # Controlled: valid is not selected until the peer nominates.
    assert agent.selected_pair is None


def test_incoming_check_cancels_and_retriggers_an_in_progress_check() -> None:
    password = "peerpasswordpeerpassword"
    agent = _agent(True, 1, A_ADDR)
    agent.set_remote_credentials("peer", password)
    agent.add_remote_candidate("candidate:1 1 udp 99 127.0.0.1 5001 typ host")
    ((first, _),) = _checks_sent(agent, 0.0)
    incoming = StunMessage(
        method=StunMethod.BINDING,
        message_class=StunClass.REQUEST,
        transaction_id=b"i" * 12,
        username=f"{agent.local_ufrag}:peer",
        priority=99,
        ice_controlled=1,
    )
    data = encode_stun(incoming, integrity_key=short_term_key(agent.local_pwd))
    agent.receive_datagram(data, ("127.0.0.1", 5001), 0.2)
    ((answer, _),) = agent.datagrams_to_send(0.2)
    assert parse_stun_untrusted(answer).message_class is StunClass.SUCCESS_RESPONSE
    assert agent.pairs[0].state is PairState.WAITING
    ((triggered, _),) = _checks_sent(agent, 0.2)
    assert triggered.transaction_id != first.transaction_id
    # The cancelled transaction is not retransmitted at its RTO (0.5 s)...
    sent_later = [message.transaction_id for message, _ in _checks_sent(agent, 0.5)]
    assert first.transaction_id not in sent_later
    # ...but a late answer to it still makes the pair valid.
    agent.receive_datagram(_answer(first, password, A_ADDR), ("127.0.0.1", 5001), 0.6)
    assert agent.pairs[0].state is PairState.SUCCEEDED


def test_regular_nomination_waits_for_better_pairs_then_settles() -> None:
    network = SimulatedNetwork()
    timings = IceTimings(nomination_delay=0.25)
    a = _agent(True, 1, A_ADDR, timings=timings)
    b = _agent(False, 2, B_ADDR)
    network.attach(a, A_ADDR)
    network.attach(b, B_ADDR)
    _give_credentials(a, b)
    _give_credentials(b, a)
    # A better-ranked candidate of b that nobody answers on, checked first.
    assert a.add_remote_candidate("candidate:9 1 udp 2130706431 127.0.0.1 40077 typ host")
    for line in b.local_candidates():
        a.add_remote_candidate(line.replace("2130706431", "2130706000"))
    a.add_remote_candidate(None)
    _give_candidates(b, a)
    network.run_until(_connected(network, A_ADDR, B_ADDR), limit=5.0)
    _assert_same_pair(a, b)
    ((selected_at, _),) = network.of_type(A_ADDR, CandidatePairSelected)
    first_success = min(
        t
        for t, source, _, data in network.sent
        if source == B_ADDR
        and parse_stun_untrusted(data).message_class is StunClass.SUCCESS_RESPONSE
    )
    # It waited for the dead, better pair for nomination_delay, then nominated the live one.
    assert selected_at >= first_success + 0.25
    assert selected_at < first_success + 0.25 + 0.2
    nominations = [
        destination
        for _, source, destination, data in network.sent
        if source == A_ADDR and parse_stun_untrusted(data).use_candidate
    ]
    assert set(nominations) == {B_ADDR}


def test_ipv6_agents_connect() -> None:
    a_addr, b_addr = ("::1", 40001), ("::1", 40002)
    network = SimulatedNetwork()
    a = _agent(True, 1, a_addr)
    b = _agent(False, 2, b_addr)
    network.attach(a, a_addr)
    network.attach(b, b_addr)
    _give_credentials(a, b)
    _give_credentials(b, a)
    _give_candidates(a, b)
    _give_candidates(b, a)
    network.run_until(_connected(network, a_addr, b_addr), limit=5.0)
    assert a.selected_pair == (a_addr, b_addr)
    assert b.selected_pair == (b_addr, a_addr)
    answers = [
        parse_stun_untrusted(data) for _, source, _, data in network.sent if source == b_addr
    ]
    mapped = {
        m.xor_mapped_address for m in answers if m.message_class is StunClass.SUCCESS_RESPONSE
    }
    assert mapped == {a_addr}
