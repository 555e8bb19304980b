"""Inbound TSN tracking, SACK construction and the delayed-ack policy."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vendor_sctp.receiver import AckScheduler, ReceivedTsns


def test_in_order_tsns_advance_the_cumulative_ack() -> None:
    received = ReceivedTsns(peer_initial_tsn=100)
    assert received.cumulative_tsn == 99
    for tsn in (100, 101, 102):
        assert received.is_new(tsn)
        received.record(tsn)
    assert received.cumulative_tsn == 102
    assert not received.has_gaps
    assert received.make_sack(5000, 10).gap_ack_blocks == ()


def test_gap_blocks_and_duplicates() -> None:
    received = ReceivedTsns(peer_initial_tsn=1)
    for tsn in (1, 3, 4, 6, 9, 10):
        received.record(tsn)
    received.record_duplicate(4)
    received.record_duplicate(1)
    sack = received.make_sack(777, 10)
    assert sack.cumulative_tsn_ack == 1
    assert sack.advertised_receiver_window_credit == 777
    assert sack.gap_ack_blocks == ((2, 3), (5, 5), (8, 9))
    assert sack.duplicate_tsns == (4, 1)
    # Duplicates are reported once.
    assert received.make_sack(777, 10).duplicate_tsns == ()
    assert received.highest_received() == 10
    assert not received.is_new(3) and not received.is_new(1) and received.is_new(2)


def test_gap_block_count_is_limited() -> None:
    received = ReceivedTsns(peer_initial_tsn=0)
    for tsn in range(2, 40, 2):
        received.record(tsn)
    assert len(received.make_sack(0, 3).gap_ack_blocks) == 3


def test_sack_across_tsn_wrap() -> None:
    received = ReceivedTsns(peer_initial_tsn=0xFFFFFFFE)
    for tsn in (0xFFFFFFFE, 0, 1):  # 0xFFFFFFFF missing
        received.record(tsn)
    sack = received.make_sack(100, 10)
    assert sack.cumulative_tsn_ack == 0xFFFFFFFE
    assert sack.gap_ack_blocks == ((2, 3),)
    received.record(0xFFFFFFFF)
    assert received.cumulative_tsn == 1


def test_forward_tsn_moves_past_missing_tsns() -> None:
    received = ReceivedTsns(peer_initial_tsn=10)
    received.record(10)
    received.record(13)
    received.record(15)
    assert received.forward_to(12)
    assert received.cumulative_tsn == 13  # 13 was already here: absorbed
    assert received.make_sack(1, 10).gap_ack_blocks == ((2, 2),)
    assert not received.forward_to(11)  # stale FORWARD-TSN


def test_reportable_window() -> None:
    received = ReceivedTsns(peer_initial_tsn=0)
    assert received.is_reportable(0)
    assert received.is_reportable(0xFFFE)
    assert not received.is_reportable(0x10000)


def test_ack_scheduler_quick_acks_at_first_and_after_a_quiet_spell() -> None:
    acks = AckScheduler(delay=0.2, quick_acks=2, quiet=1.0)
    for now in (0.0, 0.01):
        acks.on_packet_with_data(now=now, immediate=False)
        assert acks.is_due(now)
        acks.on_sack_sent()
    acks.on_packet_with_data(now=0.02, immediate=False)
    assert acks.due_at == 0.22  # quick acks used up: delayed again
    acks.on_sack_sent()
    acks.on_packet_with_data(now=5.0, immediate=False)
    assert acks.is_due(5.0)  # after a quiet second, quick again


def test_ack_scheduler_delays_then_acks_every_second_packet() -> None:
    acks = AckScheduler(delay=0.2, quick_acks=0)
    acks.on_packet_with_data(now=1.0, immediate=False)
    assert acks.due_at == 1.2 and not acks.is_due(1.1) and acks.is_due(1.2)
    acks.on_packet_with_data(now=1.1, immediate=False)
    assert acks.is_due(1.1)
    acks.on_sack_sent()
    assert acks.due_at is None
    acks.on_packet_with_data(now=2.0, immediate=True)
    assert acks.is_due(2.0)


class SetModel:
    """The obvious model: a set of TSNs beyond the Cumulative TSN."""

    def __init__(self, initial: int) -> None:
        self.cumulative = (initial - 1) & 0xFFFFFFFF
        self.beyond: set[int] = set()

    def offset(self, tsn: int) -> int:
        return (tsn - self.cumulative) & 0xFFFFFFFF

    def absorb(self) -> None:
        while (self.cumulative + 1) & 0xFFFFFFFF in self.beyond:
            self.cumulative = (self.cumulative + 1) & 0xFFFFFFFF
            self.beyond.remove(self.cumulative)

    def record(self, tsn: int) -> None:
        self.beyond.add(tsn)
        self.absorb()

    def forward(self, new: int) -> None:
        distance = self.offset(new)
        self.beyond = {t for t in self.beyond if self.offset(t) > distance}
        self.cumulative = new
        self.absorb()

    def blocks(self) -> tuple[tuple[int, int], ...]:
        blocks: list[tuple[int, int]] = []
        for offset in sorted(self.offset(t) for t in self.beyond):
            if blocks and blocks[-1][1] + 1 == offset:
                blocks[-1] = (blocks[-1][0], offset)
            else:
                blocks.append((offset, offset))
        return tuple(blocks)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 0xFFFFFFFF),
    st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=120),
)
def test_runs_match_a_set_of_tsns(initial: int, steps: list[tuple[bool, int]]) -> None:
    """Whatever arrives, in whatever order (and FORWARD-TSNs), the SACK is the one a
    plain set of received TSNs gives, including across the 2^32 wrap."""
    received, model = ReceivedTsns(initial), SetModel(initial)
    for is_forward, ahead in steps:
        tsn = (model.cumulative + 1 + ahead) & 0xFFFFFFFF
        if is_forward:
            assert received.forward_to(tsn)
            model.forward(tsn)
        else:
            new = tsn not in model.beyond
            assert received.is_new(tsn) == new
            if new:
                received.record(tsn)
                model.record(tsn)
        assert received.cumulative_tsn == model.cumulative
        assert received.make_sack(0, 1000).gap_ack_blocks == model.blocks()
        assert received.has_gaps == bool(model.beyond)
