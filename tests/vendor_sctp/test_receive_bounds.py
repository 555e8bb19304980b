"""What a peer can make us hold: the receive window, the in-sequence exception
capped at one max_message_size, undelivered messages, and oversized messages."""

from __future__ import annotations

from vendor_sctp.association import Association, AssociationConfig
from vendor_sctp.chunks import AbortChunk, DataChunk, SackChunk
from vendor_sctp.events import AssociationClosed, Event, MessageReceived
from vendor_sctp.packet import decode_packet_untrusted, encode_packet
from vendor_sctp.parameters import ErrorCauseCode

from .harness import Pair


def connected(config: AssociationConfig) -> tuple[Association, int]:
    pair = Pair(config_b=config)
    pair.connect()
    assert pair.b._received is not None
    while pair.b.next_event() is not None:
        pass
    return pair.b, pair.b._received.cumulative_tsn


def inject(b: Association, *chunks: DataChunk) -> list[SackChunk | AbortChunk]:
    b.receive_packet(encode_packet(5000, 5000, b._local_tag, [c.encode() for c in chunks]), 0.0)
    b._acks.request_immediate(0.0)
    return [
        c for raw in b.packets_to_send(0.0)
        for c in decode_packet_untrusted(raw).chunks if isinstance(c, SackChunk | AbortChunk)
    ]


def closed(b: Association) -> list[AssociationClosed]:
    events: list[Event] = []
    while (event := b.next_event()) is not None:
        events.append(event)
    return [e for e in events if isinstance(e, AssociationClosed)]


def test_endless_fragments_of_one_message_abort_at_max_message_size() -> None:
    b, base = connected(AssociationConfig(receive_window=3000, max_message_size=5000))
    peak = 0
    replies: list[SackChunk | AbortChunk] = []
    for index in range(1, 100):
        # Always the next TSN, always "more to come": the in-sequence exception's worst case.
        chunk = DataChunk(base + index, 1, 0, 53, b"f" * 1000, beginning=index == 1, ending=False)
        replies += inject(b, chunk)
        peak = max(peak, b._reassembly.buffered_bytes)
        if b.closed:
            break
    assert b.closed and index == 6, "the sixth kilobyte is over max_message_size"
    assert peak <= 3000 + 5000
    abort = next(r for r in replies if isinstance(r, AbortChunk))
    assert abort.error_causes[0].type == ErrorCauseCode.PROTOCOL_VIOLATION
    [event] = closed(b)
    assert "over the 5000 allowed" in event.reason and not event.by_peer


def test_a_single_chunk_over_max_message_size_aborts() -> None:
    b, base = connected(AssociationConfig(max_message_size=500))
    inject(b, DataChunk(base + 1, 1, 0, 53, b"x" * 501))
    assert b.closed and "over the 500 allowed" in closed(b)[0].reason


def test_messages_the_application_has_not_taken_count_against_the_window() -> None:
    b, base = connected(AssociationConfig(receive_window=3000, max_message_size=2000))
    accepted = 0
    for index in range(1, 30):
        sacks = inject(b, DataChunk(base + index, 1, 0, 53, b"m" * 1000, unordered=True))
        sack = sacks[-1]
        assert isinstance(sack, SackChunk)
        accepted = sack.cumulative_tsn_ack - base
    # Nobody called next_event: the window closed, and only the in-sequence ceiling
    # (window + one max_message_size) let anything past it.
    assert accepted == 5 and sack.advertised_receiver_window_credit == 0
    taken = []
    while (event := b.next_event()) is not None:
        assert isinstance(event, MessageReceived)
        taken.append(event)
    assert len(taken) == 5
    sack = inject(b, DataChunk(base + 6, 1, 0, 53, b"m" * 1000, unordered=True))[-1]
    assert isinstance(sack, SackChunk)
    assert sack.cumulative_tsn_ack == base + 6 and sack.advertised_receiver_window_credit == 2000


def test_the_application_taking_messages_sends_a_window_update() -> None:
    b, base = connected(AssociationConfig(receive_window=40_000, max_message_size=2000))
    for index in range(1, 41):
        inject(b, DataChunk(base + index, 1, 0, 53, b"m" * 1000, unordered=True))
    assert b.packets_to_send(0.0) == []
    # The peer was told a_rwnd 0; it would learn of room only from a zero-window
    # probe. Taking messages out opens the window: once by a quarter of it (10 kB)
    # or eight packets (9.6 kB), a SACK says so without waiting for new DATA.
    updates = []
    for taken in range(1, 41):
        assert isinstance(b.next_event(), MessageReceived)
        timer = b.get_timer()
        if timer is not None and timer <= 0.0:
            sacks = [c for raw in b.packets_to_send(0.0)
                     for c in decode_packet_untrusted(raw).chunks if isinstance(c, SackChunk)]
            updates.append((taken, [s.advertised_receiver_window_credit for s in sacks]))
    assert updates == [(10, [10_000]), (20, [20_000]), (30, [30_000]), (40, [40_000])]
