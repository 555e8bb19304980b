"""Nothing we send exceeds max_packet_size, whatever the peer asks us to echo."""

from __future__ import annotations

from vendor_sctp.chunks import HeartbeatAckChunk, HeartbeatChunk
from vendor_sctp.packet import (
    COMMON_HEADER_SIZE,
    PacketBuilder,
    decode_packet_untrusted,
    encode_packet,
)

from .harness import Pair


def test_packet_builder_drops_a_chunk_larger_than_a_packet() -> None:
    builder = PacketBuilder(100)
    builder.add(b"a" * 40)
    builder.add(b"b" * (100 - COMMON_HEADER_SIZE + 4))
    builder.add(b"c" * 40)
    builder.flush()
    assert builder.packets == [[b"a" * 40, b"c" * 40]] and builder.oversized == 1
    builder.add(b"d" * (100 - COMMON_HEADER_SIZE))  # exactly one packet: kept
    builder.flush()
    assert builder.packets[-1] == [b"d" * (100 - COMMON_HEADER_SIZE)]


def test_heartbeat_whose_answer_cannot_fit_a_packet_is_ignored() -> None:
    pair = Pair()
    pair.connect()
    b = pair.b
    answers = []
    for info in (b"i" * 3000, b"small"):
        heartbeat = HeartbeatChunk(info).encode()
        b.receive_packet(encode_packet(5000, 5000, b._local_tag, [heartbeat]), pair.now)
        for raw in b.packets_to_send(pair.now):
            assert len(raw) <= b.config.max_packet_size
            answers += [c for c in decode_packet_untrusted(raw).chunks if isinstance(c, HeartbeatAckChunk)]
    assert [a.heartbeat_information for a in answers] == [b"small"]
