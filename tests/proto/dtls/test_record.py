"""Record header codec and the anti-replay window (RFC 6347 sections 4.1, 4.1.2.6)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.dtls.errors import DtlsDecodeError
from selkies_trio.proto.dtls.record import (
    ContentType,
    Record,
    ReplayWindow,
    encode_record,
    parse_datagram_untrusted,
    parse_record_header_untrusted,
)


def test_record_round_trip() -> None:
    encoded = encode_record(ContentType.HANDSHAKE, 0xFEFD, 1, 0xABCDEF012345, b"body")
    assert encoded[:13].hex() == "16fefd0001abcdef0123450004"
    record, end = parse_record_header_untrusted(encoded)
    assert record == Record(22, 0xFEFD, 1, 0xABCDEF012345, b"body")
    assert end == len(encoded)


def test_datagram_holds_several_records() -> None:
    first = encode_record(ContentType.HANDSHAKE, 0xFEFF, 0, 0, b"a" * 10)
    second = encode_record(ContentType.CHANGE_CIPHER_SPEC, 0xFEFD, 0, 1, b"\x01")
    third = encode_record(ContentType.APPLICATION_DATA, 0xFEFD, 1, 0, b"")
    records = parse_datagram_untrusted(first + second + third)
    assert [r.content_type for r in records] == [22, 20, 23]
    assert records[0].version == 0xFEFF and records[2].fragment == b""


GOOD = encode_record(ContentType.ALERT, 0xFEFD, 0, 3, b"\x02\x28")

MALFORMED = [
    pytest.param(b"", id="empty"),
    pytest.param(GOOD[:12], id="header-truncated"),
    pytest.param(GOOD[:14], id="fragment-truncated"),
    pytest.param(b"\x63" + GOOD[1:], id="unknown-content-type"),
    pytest.param(GOOD[:1] + b"\x03\x03" + GOOD[3:], id="tls-not-dtls-version"),
    pytest.param(GOOD[:11] + b"\xff\xff" + b"x" * 10, id="length-too-large"),
    pytest.param(GOOD + b"\x17", id="trailing-partial-record"),
    pytest.param(bytes([0x20]) + GOOD[1:], id="dtls13-unified-header"),
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_datagrams_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DtlsDecodeError):
        parse_datagram_untrusted(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_datagram_parser_raises_only_decode_error(data: bytes) -> None:
    try:
        records = parse_datagram_untrusted(data)
    except DtlsDecodeError:
        return
    rebuilt = b"".join(
        encode_record(r.content_type, r.version, r.epoch, r.sequence_number, r.fragment)
        for r in records
    )
    assert rebuilt == data


def test_replay_window_rejects_duplicates_and_old_records() -> None:
    window = ReplayWindow(size=64)
    assert window.is_fresh(0)
    window.mark(0)
    assert not window.is_fresh(0)
    window.mark(100)
    assert not window.is_fresh(100)
    assert not window.is_fresh(36)  # 64 behind the highest: outside the window
    assert window.is_fresh(37)
    window.mark(37)
    assert not window.is_fresh(37)
    assert window.is_fresh(99) and window.is_fresh(101)


def test_replay_window_slides_far_ahead() -> None:
    window = ReplayWindow()
    for sequence in (5, 3, 4):
        window.mark(sequence)
    window.mark(5000)
    assert not window.is_fresh(5)
    assert window.is_fresh(4999)
    window.mark(2**48 - 1)  # a jump of 2**48 must not build a 2**48-bit integer
    assert not window.is_fresh(2**48 - 1) and window.is_fresh(2**48 - 2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=60))
def test_replay_window_matches_a_set_model(sequence_numbers: list[int]) -> None:
    window = ReplayWindow(size=64)
    seen: set[int] = set()
    highest = -1
    for sequence in sequence_numbers:
        expected = sequence not in seen and sequence > highest - 64
        assert window.is_fresh(sequence) == expected
        if expected:
            window.mark(sequence)
            seen.add(sequence)
            highest = max(highest, sequence)
