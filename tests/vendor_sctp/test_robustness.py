"""Whatever a peer sends, an established association never raises and keeps its
bookkeeping consistent (hypothesis-driven chunk sequences with valid tag and CRC)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from vendor_sctp.chunks import (
    AbortChunk,
    ChunkType,
    DataChunk,
    ForwardTsnChunk,
    HeartbeatChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownChunk,
)
from vendor_sctp.packet import encode_packet
from vendor_sctp.parameters import (
    IncomingSsnResetRequest,
    OutgoingSsnResetRequest,
    ReconfigurationResponse,
)

from .harness import Pair

OFFSET = st.integers(-70000, 70000)
STREAM = st.integers(0, 70)


def _raw_chunk(type_: int, flags: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("!BBH", type_, flags, length) + value + b"\x00" * (-length % 4)


def chunk_strategy(base: int) -> st.SearchStrategy[bytes]:
    def tsn(offset: int) -> int:
        return (base + offset) % 2**32

    data = st.builds(
        lambda o, s, n, b, e, u, size: DataChunk(
            tsn(o), s, n, 51, b"d" * size, unordered=u, beginning=b, ending=e
        ).encode(),
        st.integers(-5, 40), STREAM, st.integers(0, 65535), st.booleans(), st.booleans(),
        st.booleans(), st.integers(0, 1500),
    )
    sack = st.builds(
        lambda o, w, blocks, dups: SackChunk(tsn(o), w, tuple(blocks), tuple(dups)).encode(),
        OFFSET, st.integers(0, 2**32 - 1),
        st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 65535)), max_size=6),
        st.lists(st.integers(0, 2**32 - 1), max_size=4),
    )
    forward = st.builds(
        lambda o, streams: ForwardTsnChunk(tsn(o), tuple(streams)).encode(),
        OFFSET, st.lists(st.tuples(STREAM, st.integers(0, 65535)), max_size=4),
    )
    reconfig_parameter = st.one_of(
        st.builds(OutgoingSsnResetRequest, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                  st.builds(tsn, OFFSET), st.lists(STREAM, max_size=3).map(tuple)),
        st.builds(IncomingSsnResetRequest, st.integers(0, 2**32 - 1),
                  st.lists(STREAM, max_size=3).map(tuple)),
        st.builds(ReconfigurationResponse, st.integers(0, 2**32 - 1), st.integers(0, 9)),
    )
    reconfig = st.lists(reconfig_parameter, min_size=1, max_size=2).map(
        lambda ps: ReconfigChunk(tuple(ps)).encode()
    )
    others = st.sampled_from(
        [
            HeartbeatChunk(b"hb").encode(),
            ShutdownChunk(base).encode(),
            AbortChunk().encode(),
            _raw_chunk(ChunkType.COOKIE_ACK, 0, b""),
            _raw_chunk(ChunkType.SHUTDOWN_ACK, 0, b""),
            _raw_chunk(ChunkType.SHUTDOWN_COMPLETE, 0, b""),
            _raw_chunk(ChunkType.INIT_ACK, 0, b"\x00\x00\x00\x01" * 4),
            _raw_chunk(ChunkType.COOKIE_ECHO, 0, b"forged cookie"),
        ]
    )
    raw = st.builds(_raw_chunk, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=24))
    return st.one_of(data, data, sack, forward, reconfig, others, raw)


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_any_chunk_sequence_from_the_peer_is_survived(draw: st.DataObject) -> None:
    pair = Pair()
    pair.connect()
    for index in range(5):
        pair.b.send(index, 51, b"x" * (index * 700 + 1), now=pair.now)
    pair.pump()
    b = pair.b
    assert b._received is not None
    base = b._received.cumulative_tsn + 1
    packets = draw.draw(st.lists(st.lists(chunk_strategy(base), min_size=1, max_size=4), max_size=6))
    now = pair.now
    for chunks in packets:
        b.receive_packet(encode_packet(5000, 5000, b._local_tag, chunks), now)
        now += 0.05
        timer = b.get_timer()
        if timer is not None and timer <= now:
            b.handle_timer(now)
        for packet in b.packets_to_send(now):
            assert len(packet) <= b.config.max_packet_size
        while b.next_event() is not None:
            pass
        if b._sender is not None:
            b._sender.check_invariants()
        assert b._reassembly.buffered_bytes >= 0
    b.handle_timer(now + 100)
    b.packets_to_send(now + 100)
