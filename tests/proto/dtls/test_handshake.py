"""Handshake fragment codec, reassembly and flight packing (RFC 6347 4.2.2-4.2.4)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.dtls.errors import DtlsDecodeError
from selkies_trio.proto.dtls.flight import (
    OutgoingChangeCipherSpec,
    OutgoingMessage,
    RecordWriter,
    pack_flight,
)
from selkies_trio.proto.dtls.handshake import (
    HandshakeFragment,
    HandshakeMessage,
    HandshakeType,
    Reassembler,
    encode_fragment,
    parse_fragments_untrusted,
)
from selkies_trio.proto.dtls.record import parse_datagram_untrusted


def test_fragment_round_trip() -> None:
    encoded = encode_fragment(1, 300, 2, 100, b"x" * 50)
    assert encoded[:12].hex() == "0100012c0002000064000032"
    assert parse_fragments_untrusted(encoded) == [HandshakeFragment(1, 300, 2, 100, b"x" * 50)]


def test_several_fragments_in_one_record() -> None:
    data = encode_fragment(14, 0, 4, 0, b"") + encode_fragment(20, 12, 5, 0, b"f" * 12)
    fragments = parse_fragments_untrusted(data)
    assert [(f.msg_type, f.message_seq) for f in fragments] == [(14, 4), (20, 5)]


GOOD = encode_fragment(2, 10, 0, 0, b"0123456789")

MALFORMED = [
    pytest.param(GOOD[:11], id="header-truncated"),
    pytest.param(GOOD[:-1], id="body-truncated"),
    pytest.param(encode_fragment(2, 10, 0, 5, b"0123456789"), id="past-message-end"),
    pytest.param(encode_fragment(2, 1 << 20, 0, 0, b""), id="message-too-long"),
    pytest.param(GOOD + b"\x01", id="trailing-byte"),
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_fragments_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DtlsDecodeError):
        parse_fragments_untrusted(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=100))
def test_fragment_parser_raises_only_decode_error(data: bytes) -> None:
    try:
        fragments = parse_fragments_untrusted(data)
    except DtlsDecodeError:
        return
    rebuilt = b"".join(
        encode_fragment(f.msg_type, f.length, f.message_seq, f.fragment_offset, f.body)
        for f in fragments
    )
    assert rebuilt == data


def _fragments(message: HandshakeMessage, size: int) -> list[HandshakeFragment]:
    body = message.body
    return [
        HandshakeFragment(
            message.msg_type, len(body), message.message_seq, offset, body[offset : offset + size]
        )
        for offset in range(0, len(body), size)
    ]


def test_reassembly_out_of_order_with_duplicates_and_overlap() -> None:
    first = HandshakeMessage(HandshakeType.CERTIFICATE, 0, bytes(range(256)) * 3)
    second = HandshakeMessage(HandshakeType.SERVER_HELLO_DONE, 1, b"")
    pieces = _fragments(first, 100) + _fragments(first, 70) + [HandshakeFragment(14, 0, 1, 0, b"")]
    random.Random(7).shuffle(pieces)
    reassembler = Reassembler()
    released: list[HandshakeMessage] = []
    for piece in pieces:
        reassembler.add(piece)
        while (message := reassembler.pop_message()) is not None:
            released.append(message)
    assert released == [first, second]
    assert not reassembler.add(HandshakeFragment(14, 0, 1, 0, b""))  # replay of an old message


def test_reassembly_waits_for_gaps_and_ignores_inconsistent_fragments() -> None:
    reassembler = Reassembler()
    reassembler.add(HandshakeFragment(11, 10, 0, 0, b"01234"))
    reassembler.add(HandshakeFragment(12, 10, 0, 5, b"56789"))  # wrong type for seq 0
    assert reassembler.pop_message() is None
    reassembler.add(HandshakeFragment(11, 10, 0, 5, b"56789"))
    assert reassembler.pop_message() == HandshakeMessage(11, 0, b"0123456789")


def test_reassembly_ignores_messages_far_ahead() -> None:
    reassembler = Reassembler()
    reassembler.add(HandshakeFragment(1, 1, 500, 0, b"x"))
    reassembler.reset(500)
    assert reassembler.pop_message() is None


@pytest.mark.parametrize("mtu", [256, 576, 1200])
def test_pack_flight_respects_mtu_and_reassembles(mtu: int) -> None:
    messages = [
        HandshakeMessage(HandshakeType.SERVER_HELLO, 1, b"h" * 90),
        HandshakeMessage(HandshakeType.CERTIFICATE, 2, bytes(range(256)) * 6),
        HandshakeMessage(HandshakeType.SERVER_HELLO_DONE, 3, b""),
    ]
    items: list[OutgoingMessage | OutgoingChangeCipherSpec] = [
        OutgoingMessage(message, 0) for message in messages
    ]
    items.append(OutgoingChangeCipherSpec(0))
    datagrams = pack_flight(items, RecordWriter(), mtu)
    assert all(len(datagram) <= mtu for datagram in datagrams)
    reassembler = Reassembler()
    reassembler.reset(1)
    sequence_numbers: list[int] = []
    change_cipher_specs = 0
    for datagram in datagrams:
        for record in parse_datagram_untrusted(datagram):
            sequence_numbers.append(record.sequence_number)
            if record.content_type == 20:
                change_cipher_specs += 1
                continue
            for fragment in parse_fragments_untrusted(record.fragment):
                reassembler.add(fragment)
    released = []
    while (message := reassembler.pop_message()) is not None:
        released.append(message)
    assert released == messages
    assert change_cipher_specs == 1
    assert sequence_numbers == list(range(len(sequence_numbers)))


def test_retransmission_uses_fresh_record_sequence_numbers() -> None:
    writer = RecordWriter()
    items: list[OutgoingMessage | OutgoingChangeCipherSpec] = [
        OutgoingMessage(HandshakeMessage(1, 0, b"hello"), 0)
    ]
    first = parse_datagram_untrusted(pack_flight(items, writer, 1200)[0])
    second = parse_datagram_untrusted(pack_flight(items, writer, 1200)[0])
    assert first[0].sequence_number == 0 and second[0].sequence_number == 1
    assert first[0].fragment == second[0].fragment
