"""Hello extensions used by WebRTC's DTLS 1.2.

RFC 5246 section 7.4.1.4:

      struct {
          ExtensionType extension_type;
          opaque extension_data<0..2^16-1>;
      } Extension;

Extensions handled here: supported_groups (10) and ec_point_formats (11) from
RFC 8422 section 5.1, signature_algorithms (13) from RFC 5246 section 7.4.1.4.1,
use_srtp (14) from RFC 5764 section 4.1.1, extended_master_secret (23) from RFC 7627
section 5.1 and renegotiation_info (0xff01) from RFC 5746 section 3.2. Anything else
(supported_versions from DTLS 1.3 clients, server_name, key_share...) is carried opaque.

      uint8 SRTPProtectionProfile[2];
      struct {
         SRTPProtectionProfiles SRTPProtectionProfiles;   // <2..2^16-1>
         opaque srtp_mki<0..255>;
      } UseSRTPData;
"""

from __future__ import annotations

from enum import IntEnum

from .errors import DtlsDecodeError
from .wire import Reader, encode_uint16_list, uint, uint16_list_untrusted, vector


class ExtensionType(IntEnum):
    SERVER_NAME = 0
    SUPPORTED_GROUPS = 10
    EC_POINT_FORMATS = 11
    SIGNATURE_ALGORITHMS = 13
    USE_SRTP = 14
    EXTENDED_MASTER_SECRET = 23
    SUPPORTED_VERSIONS = 43
    RENEGOTIATION_INFO = 0xFF01


class NamedGroup(IntEnum):
    SECP256R1 = 23
    X25519 = 29


class SignatureScheme(IntEnum):
    ECDSA_SECP256R1_SHA256 = 0x0403


class SrtpProfile(IntEnum):
    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AEAD_AES_128_GCM = 0x0007


EC_POINT_FORMAT_UNCOMPRESSED = 0

Extensions = list[tuple[int, bytes]]


def parse_extensions_untrusted(reader: Reader) -> Extensions:
    """The optional extensions block at the end of a hello message."""
    if reader.at_end():
        return []
    block = Reader(reader.read_vector(2), "extensions")
    extensions: Extensions = []
    seen: set[int] = set()
    while not block.at_end():
        extension_type = block.read_uint(2)
        data = block.read_vector(2)
        if extension_type in seen:
            raise DtlsDecodeError(f"duplicate extension {extension_type}")
        seen.add(extension_type)
        extensions.append((extension_type, data))
    return extensions


def encode_extensions(extensions: Extensions) -> bytes:
    body = b"".join(uint(kind, 2) + vector(data, 2) for kind, data in extensions)
    return vector(body, 2)


def find_extension(extensions: Extensions, extension_type: int) -> bytes | None:
    for kind, data in extensions:
        if kind == extension_type:
            return data
    return None


def _uint16_vector_untrusted(data: bytes, what: str) -> list[int]:
    reader = Reader(data, what)
    values = uint16_list_untrusted(reader.read_vector(2, minimum=2), what)
    reader.expect_end()
    return values


def parse_supported_groups_untrusted(data: bytes) -> list[int]:
    return _uint16_vector_untrusted(data, "supported_groups")


def encode_supported_groups(groups: list[int] | tuple[int, ...]) -> bytes:
    return vector(encode_uint16_list(groups), 2)


def parse_signature_algorithms_untrusted(data: bytes) -> list[int]:
    return _uint16_vector_untrusted(data, "signature_algorithms")


def encode_signature_algorithms(schemes: list[int] | tuple[int, ...]) -> bytes:
    return vector(encode_uint16_list(schemes), 2)


def parse_ec_point_formats_untrusted(data: bytes) -> list[int]:
    reader = Reader(data, "ec_point_formats")
    formats = list(reader.read_vector(1, minimum=1))
    reader.expect_end()
    return formats


def encode_ec_point_formats() -> bytes:
    return vector(bytes((EC_POINT_FORMAT_UNCOMPRESSED,)), 1)


def parse_use_srtp_untrusted(data: bytes) -> tuple[list[int], bytes]:
    """The profiles and the MKI of a use_srtp extension."""
    reader = Reader(data, "use_srtp")
    profiles = uint16_list_untrusted(reader.read_vector(2, minimum=2), "use_srtp")
    mki = reader.read_vector(1)
    reader.expect_end()
    return profiles, mki


def encode_use_srtp(profiles: list[int] | tuple[int, ...], mki: bytes = b"") -> bytes:
    return vector(encode_uint16_list(profiles), 2) + vector(mki, 1)


def parse_renegotiation_info_untrusted(data: bytes) -> bytes:
    reader = Reader(data, "renegotiation_info")
    renegotiated_connection = reader.read_vector(1)
    reader.expect_end()
    return renegotiated_connection


def encode_renegotiation_info() -> bytes:
    # Initial handshakes only: renegotiation is refused, so the field is always empty.
    return vector(b"", 1)
