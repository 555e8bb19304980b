"""NACK history: lookups across the 16-bit wrap, overwrite, age limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.rtcp import GenericNack, parse_rtcp_compound_untrusted
from selkies_trio.proto.rtp import RtpPacket, parse_rtp_untrusted, sequence_add
from selkies_trio.proto.rtp_history import RtpHistoryLocalProtocolError, RtpPacketHistory


def packet(sequence_number: int) -> bytes:
    return RtpPacket(102, sequence_number, 0, 7, sequence_number.to_bytes(2, "big")).to_bytes()


def test_nack_across_the_wrap_finds_the_sent_packets() -> None:
    history = RtpPacketHistory(capacity=64)
    for offset in range(40):
        sequence_number = sequence_add(65520, offset)
        history.store(sequence_number, packet(sequence_number), now=offset * 0.01)
    (nack,) = parse_rtcp_compound_untrusted(GenericNack(1, 7, (65530, 65535, 0, 3)).to_bytes())
    assert isinstance(nack, GenericNack)
    resent = history.retransmissions(nack.lost, now=0.5)
    assert [parse_rtp_untrusted(p).sequence_number for p in resent] == [65530, 65535, 0, 3]


def test_overwritten_unknown_and_old_packets_are_not_resent() -> None:
    history = RtpPacketHistory(capacity=16, max_age=1.0)
    for sequence_number in range(40):
        history.store(sequence_number, packet(sequence_number), now=float(sequence_number))
    assert history.get(39, now=39.5) == packet(39)
    assert history.get(20, now=39.5) is None  # overwritten by 36
    assert history.get(41, now=39.5) is None  # never sent
    assert history.get(38, now=38.9) == packet(38)
    assert history.get(38, now=39.5) is None  # older than max_age
    history.clear()
    assert history.get(39, now=39.5) is None


def test_a_nack_cannot_multiply_retransmissions() -> None:
    history = RtpPacketHistory(capacity=64, resend_interval=0.05)
    for sequence_number in range(10):
        history.store(sequence_number, packet(sequence_number), now=0.0)
    # Repeats within one NACK are answered once.
    assert len(history.retransmissions([3, 3, 3, 4, 3], now=0.1)) == 2
    # Asked again before the interval: nothing; after it: resent once more.
    assert history.retransmissions([3, 4], now=0.12) == []
    assert len(history.retransmissions([3, 4, 5], now=0.16)) == 3


@pytest.mark.parametrize("capacity", [0, 3, 1000, 1 << 17])
def test_capacity_must_be_a_power_of_two(capacity: int) -> None:
    with pytest.raises(RtpHistoryLocalProtocolError):
        RtpPacketHistory(capacity=capacity)


def test_bad_sequence_number_is_local_error() -> None:
    with pytest.raises(RtpHistoryLocalProtocolError):
        RtpPacketHistory().store(65536, b"", 0.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 65535), st.integers(1, 300), st.integers(0, 299))
def test_the_last_capacity_packets_are_always_found(start: int, count: int, back: int) -> None:
    history = RtpPacketHistory(capacity=128, max_age=10.0)
    sent = [sequence_add(start, i) for i in range(count)]
    for sequence_number in sent:
        history.store(sequence_number, packet(sequence_number), now=0.0)
    wanted = sent[-1 - back % count]
    expected = packet(wanted) if back % count < 128 else None
    assert history.get(wanted, now=0.0) == expected
