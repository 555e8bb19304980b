"""Partial reliability (RFC 3758) on a pair of associations: SSNs of abandoned
messages, and FORWARD-TSN repair after a lost FORWARD-TSN."""

from __future__ import annotations

from vendor_sctp.association import AssociationConfig
from vendor_sctp.chunks import DataChunk, ForwardTsnChunk
from vendor_sctp.packet import Packet
from vendor_sctp.serial import tsn_gt

from .harness import Pair, Tap
from .link import ImpairedLink


def test_ordered_messages_expiring_in_the_queue_leave_no_ssn_gap() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.05), link_ba=ImpairedLink(delay=0.05))
    pair.connect()
    before = [b"before-%d:" % i + bytes(1000) for i in range(6)]
    after = [b"after-%d:" % i + bytes(1000) for i in range(6)]
    for data in before:
        pair.a.send(1, 53, data, now=pair.now)
    # Queued behind a full congestion window, these expire long before a SACK opens it.
    for index in range(60):
        pair.a.send(1, 53, b"short-%d:" % index + bytes(700), now=pair.now, lifetime=0.02)
    for data in after:
        pair.a.send(1, 53, data, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) >= len(before) + len(after), 30)
    pair.run_for(1)
    delivered = [m.data for m in pair.messages_b()]
    assert delivered == before + after, "the reliable messages after the expired ones arrive"


def test_lost_forward_tsn_is_repaired_by_the_next_sack_not_by_t3() -> None:
    config = AssociationConfig(rto_initial=1.0, rto_min=1.0)  # T3 could not fire within 1 s
    pair = Pair(config_a=config, link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    pair.connect()
    assert pair.a._sender is not None
    lost_tsn = pair.a._sender.next_tsn + 3
    dropped_forward_tsns = [0]

    def drop_if(index: int, packet: Packet) -> bool:
        if any(isinstance(c, DataChunk) and c.tsn == lost_tsn for c in packet.chunks):
            return True
        if not dropped_forward_tsns[0] and any(isinstance(c, ForwardTsnChunk) for c in packet.chunks):
            dropped_forward_tsns[0] += 1
            return True
        return False

    tap = Tap(lambda: pair.now, drop_if=drop_if)
    pair.link_ab.drop = tap
    for index in range(40):
        pair.a.send(1, 53, bytes([index]) * 1000, now=pair.now, ordered=False, max_retransmits=0)
    assert pair.b._received is not None
    received = pair.b._received
    assert pair.run_until(lambda: tsn_gt(received.cumulative_tsn, lost_tsn), 0.9)
    forward_tsns = [t for t, _ in tap.sent_chunks(ForwardTsnChunk)]
    assert dropped_forward_tsns[0] == 1 and len(forward_tsns) >= 2
    assert forward_tsns[1] - forward_tsns[0] < 0.2, "re-sent after the next SACK, within an RTT"
    lost = {c.tsn for _, p, dropped in tap.seen if dropped for c in p.chunks if isinstance(c, DataChunk)}
    pair.run_for(1)
    assert len(pair.messages_b()) == 40 - len(lost), "every message not lost once arrived"


def test_forward_tsn_keeps_received_fragments_beyond_its_new_cumulative_tsn() -> None:
    """X (TSN t, max_retransmits=0) is lost; M = t+1 (first fragment, arrives) and t+2
    (lost once). The FORWARD-TSN to t moves the cumulative TSN over t+1 too, but t+1 is
    live data of a reliable message: M must still be delivered once t+2 comes back."""
    pair = Pair(link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    pair.connect()
    assert pair.a._sender is not None
    first = pair.a._sender.next_tsn
    lost = {first: 1, first + 2: 1}

    def drop_if(index: int, packet: Packet) -> bool:
        for chunk in packet.chunks:
            if isinstance(chunk, DataChunk) and lost.get(chunk.tsn):
                lost[chunk.tsn] -= 1
                return True
        return False

    pair.link_ab.drop = Tap(lambda: pair.now, drop_if=drop_if)
    pair.a.send(1, 53, b"x" * 100, now=pair.now, ordered=False, max_retransmits=0)
    message = bytes(range(256)) * 8  # two fragments
    pair.a.send(2, 53, message, now=pair.now, ordered=False)
    assert pair.run_until(lambda: any(m.stream_id == 2 for m in pair.messages_b()), 10)
    assert [m.data for m in pair.messages_b()] == [message]
    assert pair.b._reassembly.buffered_bytes == 0
