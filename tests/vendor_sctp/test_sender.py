"""Sender rules of RFC 9260 section 7.2.4 and 6.1, driven directly with SACKs."""

from __future__ import annotations

import pytest

from vendor_sctp.association import AssociationConfig
from vendor_sctp.chunks import DATA_CHUNK_HEADER_SIZE, DataChunk, SackChunk
from vendor_sctp.congestion import CongestionController, RtoEstimator
from vendor_sctp.packet import decode_packet_untrusted
from vendor_sctp.rack import Rack
from vendor_sctp.sender import ChunkState, OutboundMessage, Sender
from vendor_sctp.serial import tsn_add

from .harness import Pair, Tap, data_tsn_dropper
from .link import ImpairedLink

FIRST_TSN = 1000
MTU = 1200
ROOM = MTU - 12


def make_sender(messages: int, cwnd: int) -> Sender:
    sender = Sender(
        initial_tsn=FIRST_TSN,
        max_fragment_size=ROOM - DATA_CHUNK_HEADER_SIZE,
        peer_receiver_window=10_000_000,
        congestion=CongestionController(MTU, 10_000_000),
        rto=RtoEstimator(),
        partial_reliability=True,
        max_burst=1000,
    )
    sender.congestion.cwnd = cwnd
    for index in range(messages):
        sender.enqueue(OutboundMessage(1, 53, bytes([index % 256]) * 1100, False, None, None))
    return sender


def send_all(sender: Sender, now: float) -> list[int]:
    sender.start_burst()
    sent = []
    while (chunk := sender.next_chunk(now, ROOM)) is not None:
        sent.append(chunk.tsn)
    return sent


def sack(sender: Sender, cumulative_offset: int, blocks: tuple[tuple[int, int], ...], now: float) -> None:
    sender.handle_sack(SackChunk(tsn_add(FIRST_TSN, cumulative_offset), 10_000_000, blocks), now)
    sender.check_invariants()


def test_only_one_packet_of_fast_retransmissions_ignores_cwnd() -> None:
    sender = make_sender(60, cwnd=60_000)
    assert len(send_all(sender, 0.0)) == 55
    # TSNs 0-2 are lost; the SACKs report 3-19 (three steps), 20-54 stay in flight.
    for end in (17, 18, 19):
        sack(sender, -1, ((4, end + 1),), 0.1)
    assert sender.congestion.in_fast_recovery
    assert sender.flight_size > sender.congestion.cwnd
    resent = send_all(sender, 0.1)
    assert resent == [FIRST_TSN], "one packet's worth goes at once, the rest waits for cwnd"


def test_only_sacks_for_data_sent_after_a_retransmission_strike_it_again() -> None:
    sender = make_sender(40, cwnd=100_000)
    send_all(sender, 0.0)  # TSNs 0-39 at t=0
    for end in (3, 4, 5):
        sack(sender, -1, ((2, end),), 0.1)
    assert send_all(sender, 0.1) == [FIRST_TSN]
    assert sender.congestion.cwnd == 50_000
    # SACKs for data sent before the retransmission keep reporting TSN 0 missing:
    # they say nothing about the retransmission and must not trigger another.
    for end in range(6, 30):
        sack(sender, -1, ((2, end),), 0.2)
    assert send_all(sender, 0.2) == [] and sender.loss_detection_at is None
    chunk = sender._chunks[FIRST_TSN]
    assert chunk.state is ChunkState.IN_FLIGHT and chunk.transmissions == 2
    # Data sent after the retransmission is acknowledged while TSN 0 still is not, a
    # round trip (0.15 s here) after the retransmission: it was lost, and goes again
    # at once, without T3.
    sender.enqueue(OutboundMessage(1, 53, b"n" * 1100, False, None, None))
    assert send_all(sender, 0.3) == [FIRST_TSN + 40]
    sack(sender, -1, ((2, 41),), 0.45)
    assert send_all(sender, 0.45) == [FIRST_TSN]
    assert chunk.transmissions == 3 and sender.t3_expires_at is not None
    # Losing a retransmission is a congestion event of its own: the window halves
    # again (it is not the same recovery going on).
    assert sender.congestion.cwnd == 25_000


def test_rack_declares_a_chunk_lost_one_round_trip_and_a_reordering_window_late() -> None:
    sender = make_sender(3, cwnd=100_000)
    sender.start_burst()
    assert sender.next_chunk(0.0, ROOM) is not None  # TSN 0 at t=0
    assert sender.next_chunk(0.01, ROOM) is not None  # TSN 1 at t=0.01
    assert sender.next_chunk(0.02, ROOM) is not None  # TSN 2 at t=0.02
    # TSN 2 is acknowledged at 0.12 (RTT 0.1), TSNs 0 and 1 are not. One miss each is
    # far from three, but TSN 0 has had 0.12 s and TSN 1 0.11 s, each more than the
    # RTT plus the reordering window (a quarter of the minimum RTT: 0.025 s) only at
    # 0.125 and 0.135 s: the timer is armed for the first.
    sack(sender, -1, ((3, 3),), 0.12)
    assert send_all(sender, 0.12) == []
    assert sender.loss_detection_at == pytest.approx(0.125)
    sender.handle_loss_detection_timer(0.125)
    assert send_all(sender, 0.125) == [FIRST_TSN]
    assert sender.loss_detection_at == pytest.approx(0.135)
    sender.handle_loss_detection_timer(0.135)
    assert send_all(sender, 0.135) == [FIRST_TSN + 1]
    assert sender.congestion.in_fast_recovery
    sender.check_invariants()
    # The peer reporting a duplicate TSN (a retransmission it did not need) widens
    # the window by another quarter of the minimum RTT.
    sender.handle_sack(SackChunk(FIRST_TSN, 10_000_000, ((2, 2),), (FIRST_TSN,)), 0.2)
    assert sender.rack.reordering_window(sender.rto.srtt) == pytest.approx(0.05)


def test_in_fast_recovery_a_cumulative_advance_strikes_every_missing_tsn() -> None:
    sender = make_sender(10, cwnd=100_000)
    send_all(sender, 0.0)
    # TSNs 0 and 5 are lost. Three SACKs make 0 a fast retransmit (and start recovery).
    for blocks in (((2, 2),), ((2, 3),), ((2, 5),)):
        sack(sender, -1, blocks, 0.1)
    assert send_all(sender, 0.1) == [FIRST_TSN]
    sack(sender, -1, ((2, 5), (7, 7)), 0.1)  # TSN 6: first miss for TSN 5
    # TSN 0 arrives: the cumulative ack moves to 4 and nothing new is gap-acked; in fast
    # recovery this SACK still counts a miss for TSN 5 (the second).
    sack(sender, 4, ((2, 2),), 0.2)
    sack(sender, 4, ((2, 3),), 0.2)  # the third
    assert sender._chunks[FIRST_TSN + 5].state is ChunkState.TO_RETRANSMIT


class NeverLate(Rack):
    def loss_deadline(self, sent_at: float, srtt: float | None) -> float | None:
        return None


def test_gap_acked_bytes_grow_the_window_in_congestion_avoidance() -> None:
    sender = make_sender(60, cwnd=15_000)
    sender.congestion.ssthresh = 10_000
    # Data sent a round trip after TSN 0 is acknowledged, so RACK would call TSN 0
    # lost; only the window growth rule is under test here.
    sender.rack = NeverLate()
    sent = send_all(sender, 0.0)
    cwnd = sender.congestion.cwnd
    # TSN 0 stays missing, so the cumulative ack never moves; the gap blocks keep
    # acknowledging everything else: more than a window's worth in two SACKs (a third
    # would start a fast retransmit).
    for _ in range(2):
        sack(sender, -1, ((2, len(sent)),), 0.1)
        sent += send_all(sender, 0.1)
    assert sender.congestion.cwnd == cwnd + MTU


def test_max_burst_limits_one_round_of_sending() -> None:
    pair = Pair(
        config_a=AssociationConfig(max_burst=4),
        link_ab=ImpairedLink(delay=0.01), link_ba=ImpairedLink(delay=0.01),
    )
    pair.connect()
    assert pair.a._sender is not None
    pair.a._sender.congestion.cwnd = 1_000_000  # e.g. a wide window left over from before
    for index in range(20):
        pair.a.send(1, 53, bytes([index]) * 1100, now=pair.now)
    packets = pair.a.packets_to_send(pair.now)
    with_data = [
        p for p in packets
        if any(isinstance(c, DataChunk) for c in decode_packet_untrusted(p).chunks)
    ]
    assert len(with_data) == 4
    for packet in packets:
        pair.link_ab.send(packet, pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 20, 5)


def test_lost_fast_retransmission_is_repaired_without_waiting_for_t3() -> None:
    config = AssociationConfig(rto_initial=1.0, rto_min=1.0)
    pair = Pair(config_a=config, link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    pair.connect()
    assert pair.a._sender is not None
    lost_tsn = pair.a._sender.next_tsn + 3
    tap = Tap(lambda: pair.now, drop_if=data_tsn_dropper(lost_tsn, times=2))
    pair.link_ab.drop = tap
    for index in range(80):
        pair.a.send(1, 53, bytes([index]) * 1100, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 80, 20)
    sends = [t for t, c in tap.sent_chunks(DataChunk) if c.tsn == lost_tsn]
    assert len(sends) == 3
    assert sends[1] - sends[0] < 0.3, "the first retransmission is a fast one"
    # The data sent after it is acknowledged around it: about one round trip (40 ms)
    # later the second goes, far sooner than the 1 s RTO.
    assert sends[2] - sends[1] < 0.3, "the second is a fast one too"
    assert pair.a._sender.congestion.cwnd > MTU, "no T3-rtx collapsed the window"


def test_forward_tsn_listing_too_many_streams_is_split_to_fit_a_packet() -> None:
    sender = make_sender(0, cwnd=1_000_000)
    for stream in range(400):  # one abandoned ordered message on each of 400 streams
        sender.enqueue(OutboundMessage(stream, 53, b"m" * 100, True, 0, None))
    assert len(send_all(sender, 0.0)) == 400
    sender.handle_t3_expiry(1.0)  # max_retransmits=0: every message is abandoned
    first = sender.forward_tsn_chunk(ROOM)
    assert len(first.encode()) <= ROOM
    assert len(first.streams) == (ROOM - 8) // 4
    assert first.new_cumulative_tsn == tsn_add(FIRST_TSN, len(first.streams) - 1)
    # The peer acknowledges that much; the next SACK brings the rest.
    sack(sender, len(first.streams) - 1, (), 1.1)
    assert sender.forward_tsn_due
    second = sender.forward_tsn_chunk(ROOM)
    assert second.new_cumulative_tsn == tsn_add(FIRST_TSN, 399)
    assert [sid for sid, _ in second.streams] == list(range(len(first.streams), 400))


def test_max_burst_lets_acks_refill_a_window_limited_flight() -> None:
    sender = make_sender(100, cwnd=20 * 1100)
    sender.max_burst = 4
    rounds = []
    for _ in range(6):
        sent = send_all(sender, 0.0)
        sender.end_burst()
        rounds.append(len(sent))
    assert rounds == [4, 4, 4, 4, 4, 0], "after idle, at most Max.Burst packets more per round"
    # Many SACKs handled in one batch acknowledge the whole flight: one round refills it.
    sack(sender, 19, (), 0.1)
    assert len(send_all(sender, 0.1)) >= 20
