"""STUN messages (RFC 8489) with the ICE attributes of RFC 8445 section 16.1.

RFC 8489 section 5, the message header::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |0 0|     STUN Message Type     |         Message Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         Magic Cookie                          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                                                               |
    |                     Transaction ID (96 bits)                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The message type interleaves the method (M0..M11) and the class (C0, C1)::

     0                 1
     2  3  4 5 6 7 8 9 0 1 2 3 4 5
    +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
    |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
    |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
    +--+--+-+-+-+-+-+-+-+-+-+-+-+-+

Section 14, each attribute (value padded to a multiple of 4 bytes)::

    |         Type                  |            Length             |
    |                         Value (variable)                ....

Section 14.2, XOR-MAPPED-ADDRESS (MAPPED-ADDRESS, 14.1, is the same without XOR)::

    |0 0 0 0 0 0 0 0|    Family     |         X-Port                |
    |                X-Address (Variable)
    X-Port = port ^ (magic cookie >> 16); X-Address = address ^ magic cookie
    (IPv4) or address ^ (magic cookie || transaction ID) (IPv6).

Section 14.8, ERROR-CODE::

    |           Reserved, should be 0         |Class|     Number    |
    |      Reason Phrase (variable)                                ..

MESSAGE-INTEGRITY (14.5) is HMAC-SHA1 over the message up to the attribute,
with the header length counting up to and including MESSAGE-INTEGRITY itself.
FINGERPRINT (14.7) is CRC-32 of the message before it, xor 0x5354554e, with the
length counting the FINGERPRINT attribute. Attributes after MESSAGE-INTEGRITY
other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored (14.5).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import stringprep
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field

MAGIC_COOKIE = 0x2112A442
HEADER_SIZE = 20
TRANSACTION_ID_SIZE = 12
FINGERPRINT_XOR = 0x5354554E
MAX_USERNAME_BYTES = 512

_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE_HEADER = struct.Struct("!HH")
_MAGIC_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")

Address = tuple[str, int]


class StunDecodeError(Exception):
    """Bytes from the network are not a well-formed STUN message."""


class StunLocalProtocolError(Exception):
    """The caller asked for a STUN message that cannot be encoded."""


class StunClass(enum.IntEnum):
    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS_RESPONSE = 0b10
    ERROR_RESPONSE = 0b11


class StunMethod(enum.IntEnum):
    BINDING = 0x001


class AttributeType(enum.IntEnum):
    """Attribute types from the IANA STUN registry that this module knows."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    XOR_MAPPED_ADDRESS = 0x0020
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    SOFTWARE = 0x8022
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A
    # Chrome's NETWORK-COST and GOOG-* attributes are comprehension-optional and
    # land in the generic "ignored" path; they are named here for logs only.
    GOOG_NETWORK_INFO = 0xC057


COMPREHENSION_OPTIONAL_START = 0x8000

# Comprehension-required types this module understands (RFC 8489 section 14).
_UNDERSTOOD_REQUIRED = frozenset(t for t in AttributeType if t < COMPREHENSION_OPTIONAL_START)

ERROR_REASONS = {
    300: "Try Alternate",
    400: "Bad Request",
    401: "Unauthenticated",
    420: "Unknown Attribute",
    438: "Stale Nonce",
    487: "Role Conflict",
    500: "Server Error",
}


@dataclass(frozen=True)
class StunMessage:
    """One STUN message, either parsed from the network or about to be encoded.

    Only attributes present in the message are not None. Parsed messages also
    carry the exact bytes the integrity and fingerprint checks cover.
    """

    method: int
    message_class: StunClass
    transaction_id: bytes
    username: str | None = None
    xor_mapped_address: Address | None = None
    mapped_address: Address | None = None
    error_code: int | None = None
    error_reason: str | None = None
    unknown_attributes: tuple[int, ...] = ()
    priority: int | None = None
    use_candidate: bool = False
    ice_controlling: int | None = None
    ice_controlled: int | None = None
    software: str | None = None
    realm: str | None = None
    nonce: str | None = None
    # Filled in by the parser only.
    message_integrity: bytes | None = field(default=None, compare=False)
    message_integrity_sha256: bytes | None = field(default=None, compare=False)
    fingerprint: int | None = field(default=None, compare=False)
    # Comprehension-required attribute types we do not understand (answer 420).
    unknown_required: tuple[int, ...] = field(default=(), compare=False)
    # The bytes covered by MESSAGE-INTEGRITY(-SHA256), length field already adjusted.
    _integrity_input: bytes | None = field(default=None, compare=False, repr=False)
    _integrity_sha256_input: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def is_request(self) -> bool:
        return self.message_class is StunClass.REQUEST

    @property
    def is_response(self) -> bool:
        return self.message_class in (StunClass.SUCCESS_RESPONSE, StunClass.ERROR_RESPONSE)

    def check_integrity(self, key: bytes) -> bool:
        """Whether MESSAGE-INTEGRITY (or, without it, MESSAGE-INTEGRITY-SHA256) verifies.

        A message carrying neither attribute does not verify.
        """
        if self.message_integrity is not None and self._integrity_input is not None:
            expected = hmac.new(key, self._integrity_input, hashlib.sha1).digest()
            return hmac.compare_digest(expected, self.message_integrity)
        if self.message_integrity_sha256 is not None and self._integrity_sha256_input is not None:
            digest = hmac.new(key, self._integrity_sha256_input, hashlib.sha256).digest()
            truncated = digest[: len(self.message_integrity_sha256)]
            return hmac.compare_digest(truncated, self.message_integrity_sha256)
        return False


def is_stun(data: bytes) -> bool:
    """Cheap demultiplexing test (RFC 7983 section 7: first byte 0..3) plus the magic cookie."""
    return len(data) >= HEADER_SIZE and data[0] < 4 and data[4:8] == _MAGIC_COOKIE_BYTES


def short_term_key(password: str) -> bytes:
    """RFC 8489 section 9.1.1: the key is the OpaqueString-prepared password."""
    return _prepare_password(password).encode("utf-8")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 8489 section 9.2.2: MD5(username ":" OpaqueString(realm) ":" OpaqueString(password))."""
    text = f"{username}:{_prepare_password(realm)}:{_prepare_password(password)}"
    return hashlib.md5(text.encode("utf-8")).digest()


def _prepare_password(text: str) -> str:
    """SASLprep's mapping and normalisation (RFC 4013 section 2.1-2.2).

    Passwords in ICE are ice-chars (ASCII) so this is the identity for them; the
    mapping matters for long-term credentials such as RFC 5769 section 2.4.
    """
    if text.isascii():
        return text
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    return unicodedata.normalize("NFKC", mapped)


def _message_type(method: int, message_class: int) -> int:
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 0b01) << 4)
        | ((message_class & 0b10) << 7)
    )


def _split_message_type(message_type: int) -> tuple[int, StunClass]:
    method = (
        (message_type & 0x000F) | ((message_type >> 1) & 0x0070) | ((message_type >> 2) & 0x0F80)
    )
    message_class = ((message_type >> 4) & 0b01) | ((message_type >> 7) & 0b10)
    return method, StunClass(message_class)


# -- decoding ---------------------------------------------------------------------------------


def parse_stun_untrusted(data: bytes) -> StunMessage:
    """Parse one STUN message from a datagram; raises only StunDecodeError.

    A FINGERPRINT that does not match makes the datagram "not STUN" (section 7.3).
    MESSAGE-INTEGRITY is not checked here: the key depends on the USERNAME, so
    the caller calls `check_integrity`.
    """
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise StunDecodeError(f"datagram of {len(data)} bytes is shorter than a STUN header")
    message_type, length, cookie, transaction_id = _HEADER.unpack_from(data)
    if message_type & 0xC000:
        raise StunDecodeError("the two most significant bits of a STUN message must be zero")
    if cookie != MAGIC_COOKIE:
        raise StunDecodeError(f"magic cookie {cookie:#010x} is not {MAGIC_COOKIE:#010x}")
    if length % 4:
        raise StunDecodeError(f"message length {length} is not a multiple of 4")
    if HEADER_SIZE + length != len(data):
        raise StunDecodeError(
            f"message length {length} disagrees with the {len(data)}-byte datagram"
        )
    method, message_class = _split_message_type(message_type)

    values: dict[str, object] = {}
    unknown_required: list[int] = []
    integrity: bytes | None = None
    integrity_input: bytes | None = None
    integrity_sha256: bytes | None = None
    integrity_sha256_input: bytes | None = None
    fingerprint: int | None = None

    offset = HEADER_SIZE
    while offset < len(data):
        if fingerprint is not None:
            raise StunDecodeError("FINGERPRINT must be the last attribute")
        if len(data) - offset < _ATTRIBUTE_HEADER.size:
            raise StunDecodeError("truncated attribute header")
        attribute_type, attribute_length = _ATTRIBUTE_HEADER.unpack_from(data, offset)
        value_start = offset + _ATTRIBUTE_HEADER.size
        value_end = value_start + attribute_length
        if value_end > len(data):
            raise StunDecodeError(
                f"attribute {attribute_type:#06x} of length {attribute_length} overruns the message"
            )
        value = data[value_start:value_end]
        next_offset = value_start + ((attribute_length + 3) & ~3)
        # The length the header would carry if the message ended with this attribute.
        length_through_here = next_offset - HEADER_SIZE

        if attribute_type == AttributeType.FINGERPRINT:
            if attribute_length != 4:
                raise StunDecodeError("FINGERPRINT must be 4 bytes")
            fingerprint = int.from_bytes(value, "big")
            covered = _with_length(data[:offset], length_through_here)
            if (zlib.crc32(covered) ^ FINGERPRINT_XOR) != fingerprint:
                raise StunDecodeError("FINGERPRINT does not match the message")
        elif attribute_type == AttributeType.MESSAGE_INTEGRITY_SHA256:
            if integrity_sha256 is None:
                if not 16 <= attribute_length <= 32 or attribute_length % 4:
                    raise StunDecodeError("MESSAGE-INTEGRITY-SHA256 must be 16..32 bytes")
                integrity_sha256 = value
                integrity_sha256_input = _with_length(data[:offset], length_through_here)
        elif integrity is not None or integrity_sha256 is not None:
            pass  # Section 14.5: attributes after the integrity are not covered, so ignored.
        elif attribute_type == AttributeType.MESSAGE_INTEGRITY:
            if attribute_length != 20:
                raise StunDecodeError("MESSAGE-INTEGRITY must be 20 bytes")
            integrity = value
            integrity_input = _with_length(data[:offset], length_through_here)
        else:
            _decode_attribute(attribute_type, value, transaction_id, values, unknown_required)
        offset = next_offset

    return StunMessage(
        method=method,
        message_class=message_class,
        transaction_id=transaction_id,
        message_integrity=integrity,
        message_integrity_sha256=integrity_sha256,
        fingerprint=fingerprint,
        unknown_required=tuple(unknown_required),
        _integrity_input=integrity_input,
        _integrity_sha256_input=integrity_sha256_input,
        **values,  # type: ignore[arg-type]
    )


def _with_length(prefix: bytes, length: int) -> bytes:
    return prefix[:2] + length.to_bytes(2, "big") + prefix[4:]


def _decode_attribute(
    attribute_type: int,
    value: bytes,
    transaction_id: bytes,
    values: dict[str, object],
    unknown_required: list[int],
) -> None:
    # Section 14: only the first occurrence of an attribute counts.
    if attribute_type == AttributeType.USERNAME:
        if len(value) > MAX_USERNAME_BYTES:
            raise StunDecodeError("USERNAME longer than 512 bytes")
        values.setdefault("username", _decode_text(value, "USERNAME"))
    elif attribute_type == AttributeType.XOR_MAPPED_ADDRESS:
        values.setdefault("xor_mapped_address", _decode_address(value, transaction_id))
    elif attribute_type == AttributeType.MAPPED_ADDRESS:
        values.setdefault("mapped_address", _decode_address(value, None))
    elif attribute_type == AttributeType.ERROR_CODE:
        if len(value) < 4:
            raise StunDecodeError("ERROR-CODE shorter than 4 bytes")
        error_class, number = value[2] & 0x07, value[3]
        if not 3 <= error_class <= 6 or number > 99:
            raise StunDecodeError(f"ERROR-CODE class {error_class} number {number} out of range")
        values.setdefault("error_code", error_class * 100 + number)
        values.setdefault("error_reason", value[4:].decode("utf-8", errors="replace"))
    elif attribute_type == AttributeType.UNKNOWN_ATTRIBUTES:
        if len(value) % 2:
            raise StunDecodeError("UNKNOWN-ATTRIBUTES has an odd length")
        types = struct.unpack(f"!{len(value) // 2}H", value)
        values.setdefault("unknown_attributes", tuple(types))
    elif attribute_type == AttributeType.PRIORITY:
        values.setdefault("priority", _decode_unsigned(value, 4, "PRIORITY"))
    elif attribute_type == AttributeType.USE_CANDIDATE:
        if value:
            raise StunDecodeError("USE-CANDIDATE must be empty")
        values["use_candidate"] = True
    elif attribute_type == AttributeType.ICE_CONTROLLING:
        values.setdefault("ice_controlling", _decode_unsigned(value, 8, "ICE-CONTROLLING"))
    elif attribute_type == AttributeType.ICE_CONTROLLED:
        values.setdefault("ice_controlled", _decode_unsigned(value, 8, "ICE-CONTROLLED"))
    elif attribute_type == AttributeType.SOFTWARE:
        values.setdefault("software", value.decode("utf-8", errors="replace"))
    elif attribute_type == AttributeType.REALM:
        values.setdefault("realm", _decode_text(value, "REALM"))
    elif attribute_type == AttributeType.NONCE:
        values.setdefault("nonce", _decode_text(value, "NONCE"))
    elif (
        attribute_type < COMPREHENSION_OPTIONAL_START
        and attribute_type not in _UNDERSTOOD_REQUIRED
        and attribute_type not in unknown_required
    ):
        unknown_required.append(attribute_type)
    # Anything else is comprehension-optional (NETWORK-COST, GOOG-*, ...): ignored.


def _decode_text(value: bytes, name: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StunDecodeError(f"{name} is not UTF-8") from exc


def _decode_unsigned(value: bytes, size: int, name: str) -> int:
    if len(value) != size:
        raise StunDecodeError(f"{name} must be {size} bytes, got {len(value)}")
    return int.from_bytes(value, "big")


def _decode_address(value: bytes, transaction_id: bytes | None) -> Address:
    if len(value) < 4:
        raise StunDecodeError("address attribute shorter than 4 bytes")
    family = value[1]
    port = int.from_bytes(value[2:4], "big")
    raw = value[4:]
    if family == 0x01:
        if len(raw) != 4:
            raise StunDecodeError("IPv4 address attribute must carry 4 address bytes")
    elif family == 0x02:
        if len(raw) != 16:
            raise StunDecodeError("IPv6 address attribute must carry 16 address bytes")
    else:
        raise StunDecodeError(f"unknown address family {family:#04x}")
    if transaction_id is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = _xor(raw, _MAGIC_COOKIE_BYTES + transaction_id)
    host = str(ipaddress.IPv4Address(raw) if family == 0x01 else ipaddress.IPv6Address(raw))
    return host, port


def _xor(data: bytes, mask: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, mask, strict=False))


# -- encoding ---------------------------------------------------------------------------------


def encode_stun(
    message: StunMessage, *, integrity_key: bytes | None = None, add_fingerprint: bool = True
) -> bytes:
    """Serialise a message; MESSAGE-INTEGRITY is added when a key is given, then FINGERPRINT."""
    if len(message.transaction_id) != TRANSACTION_ID_SIZE:
        raise StunLocalProtocolError("a transaction ID is 12 bytes")
    if not 0 <= message.method <= 0xFFF:
        raise StunLocalProtocolError(f"method {message.method:#x} does not fit 12 bits")
    body = bytearray()
    if message.username is not None:
        username = message.username.encode("utf-8")
        if len(username) > MAX_USERNAME_BYTES:
            raise StunLocalProtocolError("USERNAME longer than 512 bytes")
        _append_attribute(body, AttributeType.USERNAME, username)
    if message.realm is not None:
        _append_attribute(body, AttributeType.REALM, message.realm.encode("utf-8"))
    if message.nonce is not None:
        _append_attribute(body, AttributeType.NONCE, message.nonce.encode("utf-8"))
    if message.error_code is not None:
        code = message.error_code
        if not 300 <= code <= 699:
            raise StunLocalProtocolError(f"error code {code} outside 300..699")
        reason = message.error_reason or ERROR_REASONS.get(code, "")
        value = bytes((0, 0, code // 100, code % 100)) + reason.encode("utf-8")
        _append_attribute(body, AttributeType.ERROR_CODE, value)
    if message.unknown_attributes:
        value = struct.pack(f"!{len(message.unknown_attributes)}H", *message.unknown_attributes)
        _append_attribute(body, AttributeType.UNKNOWN_ATTRIBUTES, value)
    if message.xor_mapped_address is not None:
        value = _encode_address(message.xor_mapped_address, message.transaction_id)
        _append_attribute(body, AttributeType.XOR_MAPPED_ADDRESS, value)
    if message.mapped_address is not None:
        value = _encode_address(message.mapped_address, None)
        _append_attribute(body, AttributeType.MAPPED_ADDRESS, value)
    if message.priority is not None:
        _append_attribute(body, AttributeType.PRIORITY, _encode_unsigned(message.priority, 4))
    if message.use_candidate:
        _append_attribute(body, AttributeType.USE_CANDIDATE, b"")
    if message.ice_controlling is not None:
        value = _encode_unsigned(message.ice_controlling, 8)
        _append_attribute(body, AttributeType.ICE_CONTROLLING, value)
    if message.ice_controlled is not None:
        value = _encode_unsigned(message.ice_controlled, 8)
        _append_attribute(body, AttributeType.ICE_CONTROLLED, value)
    if message.software is not None:
        _append_attribute(body, AttributeType.SOFTWARE, message.software.encode("utf-8"))

    message_type = _message_type(message.method, message.message_class)

    def header(length: int) -> bytes:
        return _HEADER.pack(message_type, length, MAGIC_COOKIE, message.transaction_id)

    if integrity_key is not None:
        length = len(body) + _ATTRIBUTE_HEADER.size + 20
        mac = hmac.new(integrity_key, header(length) + bytes(body), hashlib.sha1).digest()
        _append_attribute(body, AttributeType.MESSAGE_INTEGRITY, mac)
    if add_fingerprint:
        length = len(body) + _ATTRIBUTE_HEADER.size + 4
        crc = zlib.crc32(header(length) + bytes(body)) ^ FINGERPRINT_XOR
        _append_attribute(body, AttributeType.FINGERPRINT, crc.to_bytes(4, "big"))
    return header(len(body)) + bytes(body)


def _append_attribute(body: bytearray, attribute_type: int, value: bytes) -> None:
    if len(value) > 0xFFFF:
        raise StunLocalProtocolError(f"attribute {attribute_type:#06x} value too long")
    body += _ATTRIBUTE_HEADER.pack(attribute_type, len(value))
    body += value
    body += bytes(-len(value) % 4)


def _encode_unsigned(value: int, size: int) -> bytes:
    try:
        return value.to_bytes(size, "big")
    except OverflowError as exc:
        raise StunLocalProtocolError(f"{value} does not fit {size} bytes") from exc


def _encode_address(address: Address, transaction_id: bytes | None) -> bytes:
    host, port = address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise StunLocalProtocolError(f"{host!r} is not an IP address") from exc
    if not 0 <= port <= 0xFFFF:
        raise StunLocalProtocolError(f"port {port} out of range")
    raw = ip.packed
    family = 0x01 if ip.version == 4 else 0x02
    if transaction_id is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = _xor(raw, _MAGIC_COOKIE_BYTES + transaction_id)
    return bytes((0, family)) + port.to_bytes(2, "big") + raw
