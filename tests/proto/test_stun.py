"""STUN messages: RFC 5769 vectors, encode/parse round trips, aioice cross-checks, bad input."""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib

import aioice.stun
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.stun import (
    FINGERPRINT_XOR,
    MAGIC_COOKIE,
    StunClass,
    StunDecodeError,
    StunLocalProtocolError,
    StunMessage,
    StunMethod,
    encode_stun,
    is_stun,
    long_term_key,
    parse_stun_untrusted,
    short_term_key,
)

# RFC 5769 section 2: every vector is signed with this short-term password.
RFC5769_PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"
RFC5769_TRANSACTION_ID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

SAMPLE_REQUEST = bytes.fromhex(  # RFC 5769 section 2.1
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)
SAMPLE_IPV4_RESPONSE = bytes.fromhex(  # RFC 5769 section 2.2
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
SAMPLE_IPV6_RESPONSE = bytes.fromhex(  # RFC 5769 section 2.3
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)
SAMPLE_LONG_TERM_REQUEST = bytes.fromhex(  # RFC 5769 section 2.4
    "000100602112a44278ad3433c6ad72c029da412e"
    "00060012e3839ee38388e383aae38383e382afe382b90000"
    "0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b"
    "6578616d706c652e6f726700"
    "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666"
)


def test_rfc5769_sample_request() -> None:
    message = parse_stun_untrusted(SAMPLE_REQUEST)
    assert message.method == StunMethod.BINDING
    assert message.message_class is StunClass.REQUEST
    assert message.transaction_id == RFC5769_TRANSACTION_ID
    assert message.software == "STUN test client"
    assert message.priority == 0x6E0001FF
    assert message.ice_controlled == 0x932FF9B151263B36
    assert message.ice_controlling is None
    assert message.username == "evtj:h6vY"
    assert message.fingerprint == 0xE57A3BCF
    assert message.unknown_required == ()
    assert message.check_integrity(short_term_key(RFC5769_PASSWORD))
    assert not message.check_integrity(short_term_key(RFC5769_PASSWORD + "x"))


def test_rfc5769_ipv4_response() -> None:
    message = parse_stun_untrusted(SAMPLE_IPV4_RESPONSE)
    assert message.message_class is StunClass.SUCCESS_RESPONSE
    assert message.software == "test vector"
    assert message.xor_mapped_address == ("192.0.2.1", 32853)
    assert message.check_integrity(short_term_key(RFC5769_PASSWORD))


def test_rfc5769_ipv6_response() -> None:
    message = parse_stun_untrusted(SAMPLE_IPV6_RESPONSE)
    assert message.message_class is StunClass.SUCCESS_RESPONSE
    assert message.xor_mapped_address == ("2001:db8:1234:5678:11:2233:4455:6677", 32853)
    assert message.check_integrity(short_term_key(RFC5769_PASSWORD))


def test_rfc5769_long_term_credentials() -> None:
    message = parse_stun_untrusted(SAMPLE_LONG_TERM_REQUEST)
    assert message.username == "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
    assert message.realm == "example.org"
    assert message.nonce == "f//499k954d6OL34oL9FSTvy64sA"
    assert message.fingerprint is None
    # The password before SASLprep: a soft hyphen vanishes, U+00AA and U+2168 normalise.
    key = long_term_key(message.username, message.realm, "The\u00adM\u00aatr\u2168")
    assert key == long_term_key(message.username, "example.org", "TheMatrIX")
    assert message.check_integrity(key)
    assert not message.check_integrity(long_term_key(message.username, "example.org", "TheMatrix"))


@pytest.mark.parametrize(
    "vector", [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE], ids=["req", "v4", "v6"]
)
def test_any_flipped_bit_is_caught(vector: bytes) -> None:
    key = short_term_key(RFC5769_PASSWORD)
    for index in range(len(vector)):
        tampered = bytearray(vector)
        tampered[index] ^= 0x10
        try:
            message = parse_stun_untrusted(bytes(tampered))
        except StunDecodeError:
            continue
        # FINGERPRINT covers everything before it, so only a flip in its own attribute
        # header can survive (as an ignored optional attribute), leaving integrity intact.
        assert index >= len(vector) - 8, f"flip at {index} parsed"
        assert message.check_integrity(key)


def test_any_flipped_bit_breaks_long_term_integrity() -> None:
    key = long_term_key("\u30de\u30c8\u30ea\u30c3\u30af\u30b9", "example.org", "TheMatrIX")
    assert parse_stun_untrusted(SAMPLE_LONG_TERM_REQUEST).check_integrity(key)
    for index in range(len(SAMPLE_LONG_TERM_REQUEST)):
        tampered = bytearray(SAMPLE_LONG_TERM_REQUEST)
        tampered[index] ^= 0x01
        try:
            message = parse_stun_untrusted(bytes(tampered))
        except StunDecodeError:
            continue
        assert not message.check_integrity(key), f"flip at {index} still verifies"


def test_encode_reproduces_the_sample_request_integrity() -> None:
    message = StunMessage(
        method=StunMethod.BINDING,
        message_class=StunClass.REQUEST,
        transaction_id=RFC5769_TRANSACTION_ID,
        username="evtj:h6vY",
        priority=0x6E0001FF,
        ice_controlled=0x932FF9B151263B36,
        software="STUN test client",
    )
    data = encode_stun(message, integrity_key=short_term_key(RFC5769_PASSWORD))
    parsed = parse_stun_untrusted(data)
    assert parsed == message
    assert parsed.check_integrity(short_term_key(RFC5769_PASSWORD))
    # Same attributes, same values as the vector; only order and padding bytes differ.
    assert len(data) == len(SAMPLE_REQUEST)


def _request(**fields: object) -> StunMessage:
    return StunMessage(
        method=StunMethod.BINDING,
        message_class=StunClass.REQUEST,
        transaction_id=bytes(range(12)),
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "message",
    [
        _request(),
        _request(
            username="a" * 4 + ":" + "b" * 8,
            priority=1 << 30,
            use_candidate=True,
            ice_controlling=(1 << 64) - 1,
        ),
        _request(username="\u00e9t\u00e9:x", ice_controlled=0),
        StunMessage(
            method=StunMethod.BINDING,
            message_class=StunClass.SUCCESS_RESPONSE,
            transaction_id=b"\xff" * 12,
            xor_mapped_address=("2001:db8::1:2", 65535),
            mapped_address=("10.0.0.1", 1),
        ),
        StunMessage(
            method=StunMethod.BINDING,
            message_class=StunClass.ERROR_RESPONSE,
            transaction_id=b"\x01" * 12,
            error_code=420,
            error_reason="Unknown Attribute",
            unknown_attributes=(0x0002, 0x7FFF, 0x0003),
        ),
        StunMessage(
            method=0x0B1,
            message_class=StunClass.INDICATION,
            transaction_id=b"\x02" * 12,
            realm="example.org",
            nonce="n" * 5,
            software="x" * 3,
        ),
    ],
)
@pytest.mark.parametrize("key", [None, b"secret"])
def test_round_trip(message: StunMessage, key: bytes | None) -> None:
    data = encode_stun(message, integrity_key=key)
    assert is_stun(data)
    assert len(data) % 4 == 0
    parsed = parse_stun_untrusted(data)
    assert parsed == message
    assert parsed.fingerprint is not None
    assert parsed.check_integrity(b"secret") is (key is not None)


def test_aioice_reads_what_we_write() -> None:
    message = _request(
        username="ufrag:other", priority=123456, use_candidate=True, ice_controlling=42
    )
    data = encode_stun(message, integrity_key=b"password")
    theirs = aioice.stun.parse_message(data)  # Also checks FINGERPRINT.
    assert theirs.message_method == aioice.stun.Method.BINDING
    assert theirs.message_class == aioice.stun.Class.REQUEST
    assert theirs.transaction_id == message.transaction_id
    assert theirs.attributes["USERNAME"] == "ufrag:other"
    assert theirs.attributes["PRIORITY"] == 123456
    assert theirs.attributes["ICE-CONTROLLING"] == 42
    assert "USE-CANDIDATE" in theirs.attributes
    assert theirs.check_message_integrity(b"password")
    assert not theirs.check_message_integrity(b"other")


def test_we_read_what_aioice_writes() -> None:
    success = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING,
        message_class=aioice.stun.Class.RESPONSE,
        transaction_id=b"abcdefghijkl",
    )
    success.attributes["XOR-MAPPED-ADDRESS"] = ("2001:db8::7", 4444)
    success.add_message_integrity(b"pw")
    success.add_fingerprint()
    ours = parse_stun_untrusted(bytes(success))
    assert ours.message_class is StunClass.SUCCESS_RESPONSE
    assert ours.transaction_id == b"abcdefghijkl"
    assert ours.xor_mapped_address == ("2001:db8::7", 4444)
    assert ours.check_integrity(b"pw")

    error = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING,
        message_class=aioice.stun.Class.ERROR,
        transaction_id=b"abcdefghijkl",
    )
    error.attributes["ERROR-CODE"] = (487, "Role Conflict")
    error.add_fingerprint()
    ours = parse_stun_untrusted(bytes(error))
    assert ours.message_class is StunClass.ERROR_RESPONSE
    assert (ours.error_code, ours.error_reason) == (487, "Role Conflict")
    assert not ours.check_integrity(b"pw")


def _attribute(attribute_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attribute_type, len(value)) + value + bytes(-len(value) % 4)


def _message(body: bytes, message_type: int = 0x0001, length: int | None = None) -> bytes:
    length = len(body) if length is None else length
    return struct.pack("!HHI", message_type, length, MAGIC_COOKIE) + bytes(12) + body


def _with_fingerprint(body: bytes, crc_delta: int = 0) -> bytes:
    covered = _message(body, length=len(body) + 8)
    crc = (zlib.crc32(covered) ^ FINGERPRINT_XOR) + crc_delta
    return _message(body + _attribute(0x8028, (crc & 0xFFFFFFFF).to_bytes(4, "big")))


MALFORMED = {
    "empty": b"",
    "short header": _message(b"")[:19],
    "top bits set": _message(b"", message_type=0xC001),
    "bad cookie": b"\x00\x01\x00\x00\x21\x12\xa4\x43" + bytes(12),
    "length not multiple of 4": _message(b"\x00\x06\x00", length=3),
    "length beyond datagram": _message(b"", length=8),
    "length short of datagram": _message(_attribute(0x0006, b"user"), length=0),
    "attribute overruns": _message(b"\x00\x06\x00\x09abcd"),
    "username not utf-8": _message(_attribute(0x0006, b"\xff\xfe")),
    "username too long": _message(_attribute(0x0006, b"u" * 600)),
    "xor address family 3": _message(_attribute(0x0020, b"\x00\x03\x00\x01" + bytes(4))),
    "xor address short": _message(_attribute(0x0020, b"\x00\x01")),
    "xor ipv4 with 16 bytes": _message(_attribute(0x0020, b"\x00\x01\x00\x01" + bytes(16))),
    "mapped ipv6 with 4 bytes": _message(_attribute(0x0001, b"\x00\x02\x00\x01" + bytes(4))),
    "priority 3 bytes": _message(_attribute(0x0024, b"\x00\x00\x01")),
    "ice-controlling 4 bytes": _message(_attribute(0x802A, bytes(4))),
    "ice-controlled 9 bytes": _message(_attribute(0x8029, bytes(9))),
    "use-candidate with value": _message(_attribute(0x0025, b"\x01")),
    "error code short": _message(_attribute(0x0009, b"\x00\x00\x04")),
    "error class 7": _message(_attribute(0x0009, b"\x00\x00\x07\x00")),
    "error number 100": _message(_attribute(0x0009, b"\x00\x00\x04\x64")),
    "unknown-attributes odd": _message(_attribute(0x000A, b"\x00\x01\x00")),
    "integrity 19 bytes": _message(_attribute(0x0008, bytes(19))),
    "integrity-sha256 8 bytes": _message(_attribute(0x001C, bytes(8))),
    "fingerprint 2 bytes": _message(_attribute(0x8028, bytes(2))),
    "fingerprint wrong": _with_fingerprint(_attribute(0x0006, b"abcd"), crc_delta=1),
    "attribute after fingerprint": _with_fingerprint(b"") + _attribute(0x0006, b"x"),
    "realm not utf-8": _message(_attribute(0x0014, b"\xc3")),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_raises_decode_error(data: bytes) -> None:
    with pytest.raises(StunDecodeError):
        parse_stun_untrusted(data)


def test_attribute_after_fingerprint_breaks_length() -> None:
    # The table entry above also has a header length that no longer matches; this one fixes
    # the length so only the ordering rule is exercised.
    data = _with_fingerprint(b"") + _attribute(0x0006, b"abcd")
    data = data[:2] + (len(data) - 20).to_bytes(2, "big") + data[4:]
    with pytest.raises(StunDecodeError, match="last attribute"):
        parse_stun_untrusted(data)


def test_valid_fingerprint_is_accepted() -> None:
    parsed = parse_stun_untrusted(_with_fingerprint(_attribute(0x0006, b"abcd")))
    assert parsed.username == "abcd"


def test_unknown_attributes_sorted_by_comprehension() -> None:
    body = (
        _attribute(0x7FFF, b"x")  # comprehension-required, unknown: report
        + _attribute(0xC057, b"\x00\x01\x00\x0a")  # GOOG-NETWORK-INFO: ignore
        + _attribute(0xC060, b"cost")  # NETWORK-COST-like optional: ignore
        + _attribute(0x0002, b"")  # RESPONSE-ADDRESS (obsolete): required, unknown
        + _attribute(0x7FFF, b"again")
        + _attribute(0x0006, b"user")
    )
    parsed = parse_stun_untrusted(_message(body))
    assert parsed.unknown_required == (0x7FFF, 0x0002)
    assert parsed.username == "user"


def test_attributes_after_integrity_are_ignored_but_sha256_and_fingerprint_count() -> None:
    key = b"key"
    head = _attribute(0x0006, b"user")
    covered = _message(head, length=len(head) + 24)
    mac = hmac.new(key, covered, hashlib.sha1).digest()
    body = head + _attribute(0x0008, mac) + _attribute(0x0024, bytes(4)) + _attribute(0x7FFE, b"")
    parsed = parse_stun_untrusted(_message(body))
    assert parsed.check_integrity(key)
    assert parsed.priority is None  # Not covered by the integrity, so not believed.
    assert parsed.unknown_required == ()


def test_message_integrity_sha256_is_tolerated_and_checked() -> None:
    key = b"key"
    head = _attribute(0x0006, b"user")
    covered = _message(head, length=len(head) + 4 + 32)
    mac = hmac.new(key, covered, hashlib.sha256).digest()
    parsed = parse_stun_untrusted(_message(head + _attribute(0x001C, mac)))
    assert parsed.message_integrity is None
    assert parsed.message_integrity_sha256 == mac
    assert parsed.check_integrity(key)
    assert not parsed.check_integrity(b"other")
    # Truncated to 16 bytes is allowed by RFC 8489 section 14.6.
    covered = _message(head, length=len(head) + 4 + 16)
    short = hmac.new(key, covered, hashlib.sha256).digest()[:16]
    assert parse_stun_untrusted(_message(head + _attribute(0x001C, short))).check_integrity(key)


def test_message_without_integrity_never_verifies() -> None:
    assert not parse_stun_untrusted(encode_stun(_request(username="a:b"))).check_integrity(b"")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (SAMPLE_REQUEST, True),
        (SAMPLE_IPV4_RESPONSE, True),
        (SAMPLE_REQUEST[:19], False),
        (b"\x16\xfe\xfd" + bytes(30), False),  # DTLS record
        (b"\x80\x60" + bytes(30), False),  # RTP
        (b"\x04" + SAMPLE_REQUEST[1:], False),  # first byte out of 0..3
        (SAMPLE_REQUEST[:4] + b"\x00\x00\x00\x00" + SAMPLE_REQUEST[8:], False),  # no cookie
    ],
)
def test_is_stun(data: bytes, expected: bool) -> None:
    assert is_stun(data) is expected


@pytest.mark.parametrize(
    "message",
    [
        StunMessage(method=1, message_class=StunClass.REQUEST, transaction_id=b"short"),
        StunMessage(method=0x1000, message_class=StunClass.REQUEST, transaction_id=bytes(12)),
        _request(priority=1 << 32),
        _request(ice_controlling=-1),
        _request(username="u" * 513),
        _request(xor_mapped_address=("not-an-ip", 1)),
        _request(mapped_address=("1.2.3.4", 70000)),
        StunMessage(
            method=1,
            message_class=StunClass.ERROR_RESPONSE,
            transaction_id=bytes(12),
            error_code=200,
        ),
    ],
)
def test_unencodable_messages_raise_local_error(message: StunMessage) -> None:
    with pytest.raises(StunLocalProtocolError):
        encode_stun(message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        parse_stun_untrusted(data)
    except StunDecodeError:
        pass


@settings(max_examples=400, deadline=None)
@given(
    vector=st.sampled_from(
        [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE, SAMPLE_LONG_TERM_REQUEST]
    ),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 200),
)
def test_fuzz_mutated_vectors(vector: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(vector)
    for index, value in edits:
        if index < len(data):
            data[index] = value
    try:
        message = parse_stun_untrusted(bytes(data[: max(cut, 20)]))
    except StunDecodeError:
        return
    message.check_integrity(short_term_key(RFC5769_PASSWORD))
