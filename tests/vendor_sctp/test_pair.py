"""Two associations in memory through a seeded impaired link on a virtual clock."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from vendor_sctp.association import AssociationConfig, State
from vendor_sctp.chunks import (
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    SackChunk,
)
from vendor_sctp.events import (
    AssociationClosed,
    AssociationEstablished,
    Event,
    MessageReceived,
)
from vendor_sctp.packet import Packet
from vendor_sctp.parameters import ErrorCauseCode

from .harness import Pair, Tap, data_tsn_dropper, impaired_pair, scripted_random
from .link import ImpairedLink


def payload(stream: int, index: int) -> bytes:
    size = 1 + (index * 7919 + stream * 131) % 4000  # up to 4 fragments
    return f"{stream}:{index}:".encode() + bytes([index % 251]) * size


def test_handshake_then_messages_both_ways() -> None:
    pair = Pair()
    pair.connect()
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    pair.a.send(0, 51, b"ping", now=pair.now)
    pair.b.send(1, 53, b"\x00pong", now=pair.now, ordered=False)
    assert pair.run_until(lambda: bool(pair.messages_b() and pair.messages_a()), 5)
    assert pair.messages_b() == [MessageReceived(0, 51, b"ping", ordered=True)]
    assert pair.messages_a() == [MessageReceived(1, 53, b"\x00pong", ordered=False)]


HANDSHAKE_PACKETS = [
    ("a->b", 0, InitChunk),
    ("b->a", 0, InitAckChunk),
    ("a->b", 1, CookieEchoChunk),
    ("b->a", 1, CookieAckChunk),
]


@pytest.mark.parametrize(("direction", "index", "kind"), HANDSHAKE_PACKETS,
                         ids=[k.__name__ for _, _, k in HANDSHAKE_PACKETS])
def test_handshake_survives_loss_of_any_single_handshake_packet(
    direction: str, index: int, kind: type
) -> None:
    pair = Pair()
    link = pair.link_ab if direction == "a->b" else pair.link_ba
    tap = Tap(lambda: pair.now, drop_if=lambda i, p: i == index)
    link.drop = tap
    pair.connect(timeout=10)
    lost = [p for _, p, dropped in tap.seen if dropped]
    assert len(lost) == 1 and isinstance(lost[0].chunks[0], kind)
    pair.a.send(2, 51, b"after", now=pair.now)
    pair.b.send(2, 51, b"reply", now=pair.now)
    assert pair.run_until(lambda: bool(pair.messages_b() and pair.messages_a()), 10)


def test_simultaneous_connect_init_collision() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.05), link_ba=ImpairedLink(delay=0.05))
    pair.connect(both=True)
    pair.a.send(0, 51, b"x", now=pair.now)
    pair.b.send(0, 51, b"y", now=pair.now)
    assert pair.run_until(lambda: bool(pair.messages_b() and pair.messages_a()), 5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reliable_messages_arrive_exactly_once_and_ordered_ones_in_order(seed: int) -> None:
    pair = impaired_pair(seed)
    pair.connect()
    sent: dict[tuple[int, bool], list[bytes]] = defaultdict(list)
    total = 0
    for index in range(150):
        for stream, ordered in ((1, True), (2, True), (3, False)):
            data = payload(stream, index)
            pair.a.send(stream, 51, data, now=pair.now, ordered=ordered)
            sent[(stream, ordered)].append(data)
            total += 1
    assert pair.run_until(lambda: len(pair.messages_b()) >= total, 600)
    pair.run_for(5)  # late duplicates must not produce extra deliveries
    got: dict[tuple[int, bool], list[bytes]] = defaultdict(list)
    for message in pair.messages_b():
        got[(message.stream_id, message.ordered)].append(message.data)
    assert got[(1, True)] == sent[(1, True)]
    assert got[(2, True)] == sent[(2, True)]
    assert sorted(got[(3, False)]) == sorted(sent[(3, False)])
    assert len(pair.messages_b()) == total
    assert pair.link_ab.stats.dropped > 0 and pair.link_ab.stats.duplicated > 0


@pytest.mark.parametrize("seed", [4, 5])
def test_partially_reliable_messages_are_whole_or_absent(seed: int) -> None:
    pair = impaired_pair(seed, loss=0.2)
    pair.connect()
    sent: set[bytes] = set()
    for index in range(200):
        data = payload(7, index)
        sent.add(data)
        if index % 2:
            pair.a.send(7, 53, data, now=pair.now, ordered=False, max_retransmits=0)
        else:
            pair.a.send(8, 53, data, now=pair.now, ordered=True, lifetime=0.3)
    pair.a.send(9, 51, b"reliable marker", now=pair.now)
    assert pair.run_until(
        lambda: any(m.stream_id == 9 for m in pair.messages_b()), 120
    )
    pair.run_for(20)  # let FORWARD-TSNs and their SACKs settle
    received = [m.data for m in pair.messages_b() if m.stream_id in (7, 8)]
    assert received, "some partially reliable messages should get through"
    assert len(received) < 200, "with 20% loss and no retransmission some must be abandoned"
    assert len(received) == len(set(received)), "no duplicates"
    assert all(data in sent for data in received), "never a partial or corrupt message"
    ordered = [m.data for m in pair.messages_b() if m.stream_id == 8]
    assert ordered == sorted(ordered, key=lambda d: int(d.split(b":")[1]))
    assert pair.b._reassembly.buffered_bytes == 0, "abandoned fragments were freed"
    assert pair.a._sender is not None and not pair.a._sender.has_outstanding()
    assert pair.link_ab.stats.dropped > 0


def test_regression_head_of_line_free_unordered_delivery() -> None:
    """TSN n = first fragment of A, n+1 lost, n+2..n+3 = all of B: B arrives at once;
    a FORWARD-TSN abandoning A later frees A's fragment at the receiver."""
    pair = Pair(link_ab=ImpairedLink(delay=0.01), link_ba=ImpairedLink(delay=0.01))
    pair.connect()
    assert pair.a._sender is not None
    first_tsn = pair.a._sender.next_tsn

    def lose_second_fragment_of_a(index: int, packet: Packet) -> bool:
        return any(isinstance(c, DataChunk) and c.tsn == first_tsn + 1 for c in packet.chunks)

    tap = Tap(lambda: pair.now, drop_if=lose_second_fragment_of_a)
    pair.link_ab.drop = tap
    deliveries: list[tuple[float, Event]] = []
    pair.on_event = lambda side, event: deliveries.append((pair.now, event)) if side is pair.b else None
    message_a = b"A" * 2000  # two fragments: TSN n, n+1
    message_b = b"B" * 2000  # two fragments: TSN n+2, n+3
    sent_at = pair.now
    pair.a.send(5, 53, message_a, now=pair.now, ordered=False, max_retransmits=0)
    pair.a.send(5, 53, message_b, now=pair.now, ordered=False)
    assert pair.run_until(lambda: len(pair.messages_b()) == 1, 1)
    when, event = next((t, e) for t, e in deliveries if isinstance(e, MessageReceived))
    assert event == MessageReceived(5, 53, message_b, ordered=False)
    assert when - sent_at < 0.05, "B must not wait for any retransmission"
    assert pair.b._reassembly.buffered_bytes == 1172, "A's first fragment is held"
    assert pair.run_until(lambda: pair.b._reassembly.buffered_bytes == 0, 10)
    assert [c.new_cumulative_tsn for _, c in tap.chunks(ForwardTsnChunk)] == [first_tsn + 1]
    assert pair.messages_b() == [MessageReceived(5, 53, message_b, ordered=False)]


def test_ordered_stream_blocks_only_itself() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.01), link_ba=ImpairedLink(delay=0.01))
    pair.connect()
    assert pair.a._sender is not None
    lost_tsn = pair.a._sender.next_tsn
    pair.link_ab.drop = Tap(
        lambda: pair.now,
        drop_if=data_tsn_dropper(lost_tsn),
    )
    # 800 bytes each: one message per packet, so only stream 1's first message is lost.
    pair.a.send(1, 51, b"1" * 800, now=pair.now)
    pair.a.send(1, 51, b"2" * 800, now=pair.now)
    pair.a.send(2, 51, b"3" * 800, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 1, 0.1)
    assert pair.messages_b()[0].data == b"3" * 800
    assert pair.run_until(lambda: len(pair.messages_b()) == 3, 5)
    assert [m.data for m in pair.messages_b()[1:]] == [b"1" * 800, b"2" * 800]


def test_tsn_wraparound_near_2_pow_32() -> None:
    near_wrap = 2**32 - 40
    pair = impaired_pair(9)
    pair.a = type(pair.a)(secret=b"s" * 32, random=scripted_random([0x1111, near_wrap], 1))
    pair.b = type(pair.b)(secret=b"t" * 32, random=scripted_random([0x2222, near_wrap - 5], 2))
    pair.connect()
    sent = []
    for index in range(120):
        data = payload(1, index)
        sent.append(data)
        pair.a.send(1, 51, data, now=pair.now)
        pair.b.send(1, 51, data, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 120 and len(pair.messages_a()) == 120, 600)
    assert [m.data for m in pair.messages_b()] == sent
    assert [m.data for m in pair.messages_a()] == sent
    assert pair.a._sender is not None and pair.a._sender.next_tsn < 1000, "TSNs wrapped"


def test_receive_window_bounds_reassembly_memory() -> None:
    window = 6000
    config = AssociationConfig(receive_window=window, max_message_size=5000)
    pair = Pair(
        link_ab=ImpairedLink(seed=21, loss=0.15, reorder=0.2, delay=0.02),
        link_ba=ImpairedLink(seed=22, loss=0.05, delay=0.02),
        config_b=config,
    )
    pair.connect()
    for index in range(60):
        pair.a.send(index % 3, 53, payload(1, index)[:5000], now=pair.now, ordered=index % 2 == 0)
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, pair.b._reassembly.buffered_bytes)
        return len(pair.messages_b()) == 60

    assert pair.run_until(done, 600)
    # Bound: the window, plus at most one message being assembled in sequence.
    assert 0 < peak <= window + 5000


def test_sacks_report_a_shrinking_window() -> None:
    config = AssociationConfig(receive_window=4000)
    pair = Pair(config_b=config, link_ab=ImpairedLink(delay=0.01), link_ba=ImpairedLink(delay=0.01))
    tap = Tap(lambda: pair.now)
    pair.link_ba.drop = tap
    pair.connect()
    pair.link_ab.drop = lambda i, data: i == 2  # INIT, COOKIE ECHO, then the first DATA
    for index in range(4):
        pair.a.send(1, 53, bytes([index]) * 1000, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 4, 10)
    pair.run_for(1)  # the delayed SACK after the gap closed
    windows = [c.advertised_receiver_window_credit for _, c in tap.chunks(SackChunk)]
    assert min(windows) < 4000, "held out-of-order data shrinks a_rwnd"
    assert windows[-1] == 4000
    assert any(c.gap_ack_blocks for _, c in tap.chunks(SackChunk))


def test_fast_retransmit_before_the_timer() -> None:
    config = AssociationConfig(rto_min=0.5)  # a T3 retransmission could not come sooner
    pair = Pair(config_a=config, link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    pair.connect()
    assert pair.a._sender is not None
    lost_tsn = pair.a._sender.next_tsn + 3
    tap = Tap(lambda: pair.now, drop_if=data_tsn_dropper(lost_tsn))
    pair.link_ab.drop = tap
    congestion = pair.a._sender.congestion
    recoveries: list[int] = []  # cwnd when each fast recovery began
    timeouts: list[float] = []
    enter, collapse = congestion.enter_fast_recovery, congestion.on_retransmission_timeout

    def recording_enter(highest_outstanding_tsn: int) -> bool:
        recoveries.append(congestion.cwnd)
        return enter(highest_outstanding_tsn)

    def recording_collapse() -> None:
        timeouts.append(pair.now)
        collapse()

    congestion.enter_fast_recovery = recording_enter  # type: ignore[method-assign]
    congestion.on_retransmission_timeout = recording_collapse  # type: ignore[method-assign]
    for index in range(30):
        pair.a.send(1, 53, bytes([index]) * 1100, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 30, 10)
    sends = [(t, c) for t, c in tap.sent_chunks(DataChunk) if c.tsn == lost_tsn]
    assert len(sends) == 2
    gap = sends[1][0] - sends[0][0]
    assert gap < 0.2, "retransmitted on three miss indications, not on T3"
    assert len(recoveries) == 1 and not timeouts, "one fast recovery, no T3 expiry"
    assert congestion.ssthresh == max(recoveries[0] // 2, 4 * 1200), "the window was halved"


def test_retransmission_timer_backs_off_then_association_fails() -> None:
    config = AssociationConfig(rto_initial=1.0, rto_min=1.0, rto_max=8.0, association_max_retransmits=5)
    pair = Pair(config_a=config, link_ab=ImpairedLink(delay=0.01), link_ba=ImpairedLink(delay=0.01))
    pair.connect()
    tap = Tap(lambda: pair.now, drop_if=lambda i, p: True)
    pair.link_ab.drop = tap
    pair.a.send(1, 51, b"into the void", now=pair.now)
    assert pair.run_until(
        lambda: any(isinstance(e, AssociationClosed) for e in pair.events_a), 300
    )
    times = [t for t, _ in tap.sent_chunks(DataChunk)]
    intervals = [round(later - earlier, 3) for earlier, later in itertools.pairwise(times)]
    assert intervals == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at rto_max
    closed = next(e for e in pair.events_a if isinstance(e, AssociationClosed))
    assert not closed.by_peer and not closed.graceful
    assert pair.a.closed and pair.a.get_timer() is None


def test_heartbeat_sent_and_answered_on_idle_association() -> None:
    config = AssociationConfig(heartbeat_interval=5.0)
    pair = Pair(config_a=config, config_b=config)
    tap_ab, tap_ba = Tap(lambda: pair.now), Tap(lambda: pair.now)
    pair.link_ab.drop, pair.link_ba.drop = tap_ab, tap_ba
    pair.connect()
    pair.run_for(30)
    assert len(tap_ab.chunks(HeartbeatChunk)) >= 3
    assert len(tap_ba.chunks(HeartbeatAckChunk)) >= 3
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    assert pair.a._rto.srtt is not None


def test_graceful_shutdown_delivers_queued_data_first() -> None:
    pair = impaired_pair(12)
    pair.connect()
    for index in range(40):
        pair.a.send(1, 51, payload(1, index), now=pair.now)
    pair.a.shutdown(pair.now)
    assert pair.run_until(
        lambda: any(isinstance(e, AssociationClosed) for e in pair.events_a)
        and any(isinstance(e, AssociationClosed) for e in pair.events_b),
        300,
    )
    assert [m.data for m in pair.messages_b()] == [payload(1, i) for i in range(40)]
    for events in (pair.events_a, pair.events_b):
        closed = [e for e in events if isinstance(e, AssociationClosed)]
        assert len(closed) == 1 and closed[0].graceful


def test_abort_reaches_the_peer_with_its_reason() -> None:
    pair = Pair()
    pair.connect()
    pair.a.abort(pair.now, "going away")
    assert pair.run_until(lambda: any(isinstance(e, AssociationClosed) for e in pair.events_b), 1)
    closed = next(e for e in pair.events_b if isinstance(e, AssociationClosed))
    assert closed.by_peer and not closed.graceful and "going away" in closed.reason
    assert pair.a.closed and pair.b.closed


def test_simultaneous_shutdown() -> None:
    pair = Pair()
    pair.connect()
    pair.a.send(1, 51, b"last words", now=pair.now)
    pair.a.shutdown(pair.now)
    pair.b.shutdown(pair.now)
    assert pair.run_until(lambda: pair.a.closed and pair.b.closed, 30)
    assert pair.messages_b() == [MessageReceived(1, 51, b"last words", True)]
    for events in (pair.events_a, pair.events_b):
        assert [e.graceful for e in events if isinstance(e, AssociationClosed)] == [True]


def test_handshake_gives_up_after_max_init_retransmits() -> None:
    config = AssociationConfig(max_init_retransmits=3, rto_initial=1.0)
    pair = Pair(config_a=config)
    tap = Tap(lambda: pair.now, drop_if=lambda i, p: True)
    pair.link_ab.drop = tap
    pair.a.connect(pair.now)
    assert pair.run_until(lambda: pair.a.closed, 100)
    inits = [t for t, _ in tap.sent_chunks(InitChunk)]
    assert [round(t, 3) for t in inits] == [0.0, 1.0, 3.0, 7.0]  # T1 doubles
    closed = next(e for e in pair.events_a if isinstance(e, AssociationClosed))
    assert "handshake" in closed.reason


def test_lifetime_expires_queued_messages_without_spending_tsns() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.05), link_ba=ImpairedLink(delay=0.05))
    pair.connect()
    assert pair.a._sender is not None
    first_tsn = pair.a._sender.next_tsn
    for index in range(50):
        pair.a.send(1, 53, bytes([index]) * 1000, now=pair.now, ordered=False, lifetime=0.02)
    pair.a.send(2, 51, b"reliable", now=pair.now)
    assert pair.run_until(lambda: any(m.stream_id == 2 for m in pair.messages_b()), 5)
    pair.run_for(2)
    delivered = [m for m in pair.messages_b() if m.stream_id == 1]
    assert 0 < len(delivered) < 50, "the first flight went out, the rest expired in the queue"
    spent = pair.a._sender.next_tsn - first_tsn
    assert spent == len(delivered) + 1, "expired messages never got a TSN"
    assert pair.a.buffered_amount(1) == 0


def test_without_partial_reliability_every_message_is_reliable() -> None:
    config = AssociationConfig(partial_reliability=False)
    pair = impaired_pair(17, loss=0.2)
    pair.a = type(pair.a)(config, secret=b"x" * 32, random=scripted_random([], 5))
    pair.connect()
    established = next(e for e in pair.events_a if isinstance(e, AssociationEstablished))
    assert established.partial_reliability is False
    for index in range(40):
        pair.a.send(1, 53, payload(1, index), now=pair.now, ordered=False, max_retransmits=0)
    assert pair.run_until(lambda: len(pair.messages_b()) == 40, 300)


def test_peer_learns_of_a_lost_abort_from_the_out_of_the_blue_reply() -> None:
    pair = Pair()
    pair.connect()
    pair.link_ab.drop = lambda index, data: True  # the ABORT is lost
    pair.a.abort(pair.now, "gone")
    pair.run_for(0.1)
    pair.link_ab.drop = None
    assert not pair.b.closed
    pair.b.send(1, 51, b"anyone there?", now=pair.now)
    assert pair.run_until(lambda: pair.b.closed, 5)
    closed = next(e for e in pair.events_b if isinstance(e, AssociationClosed))
    assert closed.by_peer and not closed.graceful


def test_stale_cookie_makes_the_client_start_over() -> None:
    pair = Pair(config_b=AssociationConfig(cookie_lifetime=2.0))
    tap = Tap(lambda: pair.now, drop_if=lambda index, packet: index in (1, 2))
    pair.link_ab.drop = tap
    tap_ba = Tap(lambda: pair.now)
    pair.link_ba.drop = tap_ba
    pair.connect(timeout=30)
    # INIT, two lost COOKIE ECHOs, a stale third one, then a new INIT and a fresh cookie.
    kinds = [type(p.chunks[0]).__name__ for _, p, _ in tap.seen[:6]]
    assert kinds == ["InitChunk", "CookieEchoChunk", "CookieEchoChunk", "CookieEchoChunk",
                     "InitChunk", "CookieEchoChunk"]
    errors = [c for _, c in tap_ba.chunks(ErrorChunk)]
    assert [cause.type for e in errors for cause in e.error_causes] == [ErrorCauseCode.STALE_COOKIE]
