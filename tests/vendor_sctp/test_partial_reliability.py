"""Partial reliability (RFC 3758) on a pair of associations: SSNs of abandoned
messages, and FORWARD-TSN repair after a lost FORWARD-TSN."""

from __future__ import annotations

from .harness import Pair
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
