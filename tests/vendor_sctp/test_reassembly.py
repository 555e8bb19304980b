"""Reassembly: head-of-line freedom for unordered messages, per-stream ordering,
FORWARD-TSN pruning and the memory bound."""

from __future__ import annotations

from vendor_sctp.chunks import DataChunk
from vendor_sctp.events import MessageReceived
from vendor_sctp.reassembly import Reassembly, _OrderedStream


def fragment(
    tsn: int,
    data: bytes,
    *,
    stream: int = 1,
    ssn: int = 0,
    unordered: bool = False,
    first: bool = True,
    last: bool = True,
) -> DataChunk:
    return DataChunk(tsn, stream, ssn, 53, data, unordered, first, last)


def test_regression_unordered_message_delivered_despite_earlier_loss() -> None:
    """TSN 10 = first fragment of A, 11 lost, 12-13 = all of B: B is delivered at once."""
    reassembly = Reassembly(max_buffered_bytes=10_000)
    assert reassembly.add(fragment(10, b"A1", unordered=True, last=False)) == []
    assert reassembly.add(fragment(12, b"B1", unordered=True, last=False)) == []
    delivered = reassembly.add(fragment(13, b"B2", unordered=True, first=False))
    assert delivered == [MessageReceived(1, 53, b"B1B2", ordered=False)]
    assert reassembly.buffered_bytes == 2  # only A's first fragment is held
    # A later FORWARD-TSN abandoning A (through TSN 11) frees A's fragment, on a
    # FORWARD-TSN that lists no stream at all, as Chrome sends for unordered data.
    assert reassembly.forward(11, ()) == []
    assert reassembly.buffered_bytes == 0


def test_unordered_message_on_another_stream_is_not_blocked() -> None:
    reassembly = Reassembly(10_000)
    reassembly.add(fragment(1, b"a", stream=1, unordered=True, last=False))
    delivered = reassembly.add(fragment(3, b"z", stream=2, unordered=True))
    assert delivered == [MessageReceived(2, 53, b"z", ordered=False)]


def test_ordered_delivery_blocks_only_its_own_stream() -> None:
    reassembly = Reassembly(10_000)
    # Stream 1: SSN 0 is missing (TSN 1 lost), SSN 1 arrives.
    assert reassembly.add(fragment(2, b"s1-second", stream=1, ssn=1)) == []
    # Stream 2 is independent.
    assert reassembly.add(fragment(3, b"s2-first", stream=2, ssn=0)) == [
        MessageReceived(2, 53, b"s2-first", ordered=True)
    ]
    assert reassembly.add(fragment(1, b"s1-first", stream=1, ssn=0)) == [
        MessageReceived(1, 53, b"s1-first", ordered=True),
        MessageReceived(1, 53, b"s1-second", ordered=True),
    ]
    assert reassembly.buffered_bytes == 0


def test_fragments_reassemble_in_any_arrival_order() -> None:
    reassembly = Reassembly(10_000)
    parts = [b"aa", b"bb", b"cc", b"dd"]
    order = [2, 0, 3, 1]
    results = []
    for index in order:
        results += reassembly.add(
            fragment(100 + index, parts[index], first=index == 0, last=index == 3)
        )
    assert results == [MessageReceived(1, 53, b"aabbccdd", ordered=True)]


def test_fragments_of_neighbouring_messages_are_not_merged() -> None:
    reassembly = Reassembly(10_000)
    # Message X = TSN 5 (first) and 6 (last); message Y = TSN 7 (first) and 8 (last).
    reassembly.add(fragment(6, b"x2", unordered=True, first=False))
    reassembly.add(fragment(7, b"y1", unordered=True, last=False))
    assert reassembly.add(fragment(8, b"y2", unordered=True, first=False)) == [
        MessageReceived(1, 53, b"y1y2", ordered=False)
    ]
    assert reassembly.add(fragment(5, b"x1", unordered=True, last=False)) == [
        MessageReceived(1, 53, b"x1x2", ordered=False)
    ]


def test_forward_tsn_skips_abandoned_ordered_message() -> None:
    reassembly = Reassembly(10_000)
    reassembly.add(fragment(10, b"first-half", ssn=0, last=False))  # SSN 0, rest abandoned
    assert reassembly.add(fragment(12, b"next", ssn=1)) == []
    delivered = reassembly.forward(11, ((1, 0),))
    assert delivered == [MessageReceived(1, 53, b"next", ordered=True)]
    assert reassembly.buffered_bytes == 0


def test_forward_tsn_delivers_stranded_complete_ordered_messages_in_order() -> None:
    # Across the SSN wrap: 0xFFFE and 0 were abandoned, 0xFFFF and 1 arrived whole
    # (and were acknowledged), 3 waits for 2. The FORWARD-TSN skips through SSN 1.
    reassembly = Reassembly(10_000)
    reassembly._streams[1] = _OrderedStream(next_ssn=0xFFFE)
    assert reassembly.add(fragment(21, b"ssn1", ssn=1)) == []
    assert reassembly.add(fragment(20, b"ssnFFFF", ssn=0xFFFF)) == []
    assert reassembly.add(fragment(24, b"ssn3", ssn=3)) == []
    delivered = reassembly.forward(22, ((1, 1),))
    assert [m.data for m in delivered] == [b"ssnFFFF", b"ssn1"]
    assert reassembly.buffered_bytes == 4  # SSN 3 still waits for SSN 2
    assert [m.data for m in reassembly.add(fragment(23, b"ssn2", ssn=2))] == [b"ssn2", b"ssn3"]
    assert reassembly.buffered_bytes == 0


def test_fragments_across_tsn_wrap() -> None:
    reassembly = Reassembly(10_000)
    reassembly.add(fragment(0xFFFFFFFF, b"he", unordered=True, last=False))
    assert reassembly.add(fragment(0, b"llo", unordered=True, first=False)) == [
        MessageReceived(1, 53, b"hello", ordered=False)
    ]


def test_memory_bound_refuses_chunks_except_the_next_in_sequence() -> None:
    reassembly = Reassembly(max_buffered_bytes=10)
    assert reassembly.can_accept(fragment(5, b"x" * 10, last=False), cumulative_tsn=3)
    reassembly.add(fragment(5, b"x" * 10, unordered=True, last=False))
    assert reassembly.window == 0
    # Beyond the bound: refused, so it is not acked and the sender retransmits later.
    assert not reassembly.can_accept(fragment(6, b"y", unordered=True), cumulative_tsn=3)
    # The chunk right after the cumulative TSN is the only one that can unblock: accepted.
    assert reassembly.can_accept(fragment(4, b"z", unordered=True), cumulative_tsn=3)
    # FORWARD-TSN frees the impossible fragment and with it the window.
    reassembly.forward(5, ())
    assert reassembly.window == 10


def test_stream_reset_restarts_ssn() -> None:
    reassembly = Reassembly(10_000)
    reassembly.add(fragment(1, b"a", ssn=0))
    reassembly.add(fragment(2, b"b", ssn=1))
    reassembly.reset_streams((1,))
    assert reassembly.add(fragment(3, b"c", ssn=0)) == [MessageReceived(1, 53, b"c", ordered=True)]


def test_ordered_delivery_across_ssn_wrap() -> None:
    reassembly = Reassembly(10_000)
    # Skip the stream forward to SSN 65534 in steps smaller than half the SSN space.
    for skipped_up_to in (20000, 40000, 60000, 65533):
        reassembly.forward(0, ((1, skipped_up_to),))
    delivered = []
    for tsn, ssn in ((3, 0), (2, 65535), (4, 1), (1, 65534)):
        delivered += reassembly.add(fragment(tsn, b"%d" % ssn, ssn=ssn))
    assert [m.data for m in delivered] == [b"65534", b"65535", b"0", b"1"]
