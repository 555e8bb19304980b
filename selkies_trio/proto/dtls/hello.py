"""Hello negotiation: what a client offers and what a server picks (RFC 5246 section 7.4.1).

The client always offers the extended master secret (RFC 7627), an empty
renegotiation_info (RFC 5746), the groups and point format of RFC 8422, the
ecdsa_secp256r1_sha256 signature scheme, and use_srtp (RFC 5764). The extended master
secret is required in both directions: WebRTC peers all support it, and without it the
exported SRTP keys would not be bound to this handshake (RFC 7627 section 1).

A DTLS 1.3 client (Chrome) lists DTLS 1.3 and 1.2 in supported_versions while its
client_version says 1.2; a 1.2-only server ignores that extension and answers 1.2
(RFC 8446 section 4.2.1 describes exactly this fallback).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from . import extensions as ext
from .alerts import AlertDescription
from .cipher import TLS_EMPTY_RENEGOTIATION_INFO_SCSV
from .errors import DtlsDecodeError, RemoteProtocolError
from .messages import COMPRESSION_NULL, ClientHello, ServerHello
from .record import DTLS_1_2
from .wire import encode_uint16_list

COOKIE_LENGTH = 20


@dataclass(frozen=True)
class ClientHelloPolicy:
    """What this endpoint supports, in order of preference."""

    cipher_suites: tuple[int, ...]
    groups: tuple[int, ...]
    srtp_profiles: tuple[int, ...]


@dataclass(frozen=True)
class NegotiatedHello:
    version: int
    cipher_suite: int
    group: int
    srtp_profile: int | None
    server_extensions: ext.Extensions


def build_client_hello(policy: ClientHelloPolicy, random: bytes, cookie: bytes) -> ClientHello:
    extensions: ext.Extensions = [
        (ext.ExtensionType.EXTENDED_MASTER_SECRET, b""),
        (ext.ExtensionType.RENEGOTIATION_INFO, ext.encode_renegotiation_info()),
        (ext.ExtensionType.SUPPORTED_GROUPS, ext.encode_supported_groups(policy.groups)),
        (ext.ExtensionType.EC_POINT_FORMATS, ext.encode_ec_point_formats()),
        (
            ext.ExtensionType.SIGNATURE_ALGORITHMS,
            ext.encode_signature_algorithms([ext.SignatureScheme.ECDSA_SECP256R1_SHA256]),
        ),
    ]
    if policy.srtp_profiles:
        extensions.append((ext.ExtensionType.USE_SRTP, ext.encode_use_srtp(policy.srtp_profiles)))
    return ClientHello(
        DTLS_1_2,
        random,
        b"",
        cookie,
        list(policy.cipher_suites),
        bytes((COMPRESSION_NULL,)),
        extensions,
    )


def hello_cookie(secret: bytes, hello: ClientHello) -> bytes:
    """The stateless HelloVerifyRequest cookie (RFC 6347 4.2.1): a MAC of the hello.

    It covers the fields a client must repeat unchanged in its second ClientHello, so
    the server can recognise that hello without remembering the first one.
    """
    material = hello.random + hello.session_id + encode_uint16_list(hello.cipher_suites)
    return hmac.digest(secret, material, "sha256")[:COOKIE_LENGTH]


def _first_common(ours: tuple[int, ...], theirs: list[int]) -> int | None:
    return next((value for value in ours if value in theirs), None)


def negotiate_client_hello(policy: ClientHelloPolicy, hello: ClientHello) -> NegotiatedHello:
    """Pick the parameters for a ServerHello; raise RemoteProtocolError if none fit."""
    # DTLS version numbers count down: 0xfefd (1.2) is newer than 0xfeff (1.0).
    if hello.client_version > DTLS_1_2:
        raise RemoteProtocolError(
            "client does not support DTLS 1.2", AlertDescription.PROTOCOL_VERSION
        )
    if COMPRESSION_NULL not in hello.compression_methods:
        raise RemoteProtocolError(
            "client does not offer null compression", AlertDescription.ILLEGAL_PARAMETER
        )
    suite = _first_common(policy.cipher_suites, hello.cipher_suites)
    if suite is None:
        raise RemoteProtocolError("no common cipher suite")

    offered = dict(hello.extensions)
    groups_data = offered.get(ext.ExtensionType.SUPPORTED_GROUPS)
    # Without the extension a client supports any curve (RFC 8422 section 4); take ours.
    client_groups = (
        ext.parse_supported_groups_untrusted(groups_data)
        if groups_data is not None
        else list(policy.groups)
    )
    group = _first_common(policy.groups, client_groups)
    if group is None:
        raise RemoteProtocolError("no common ECDHE group")
    formats_data = offered.get(ext.ExtensionType.EC_POINT_FORMATS)
    if formats_data is not None and (
        ext.EC_POINT_FORMAT_UNCOMPRESSED not in ext.parse_ec_point_formats_untrusted(formats_data)
    ):
        raise RemoteProtocolError(
            "client lacks the uncompressed point format", AlertDescription.ILLEGAL_PARAMETER
        )
    schemes_data = offered.get(ext.ExtensionType.SIGNATURE_ALGORITHMS)
    if schemes_data is not None:
        schemes = ext.parse_signature_algorithms_untrusted(schemes_data)
        if ext.SignatureScheme.ECDSA_SECP256R1_SHA256 not in schemes:
            raise RemoteProtocolError("client cannot verify ecdsa_secp256r1_sha256")
    if ext.ExtensionType.EXTENDED_MASTER_SECRET not in offered:
        raise RemoteProtocolError("client did not offer extended_master_secret")

    server_extensions: ext.Extensions = [(ext.ExtensionType.EXTENDED_MASTER_SECRET, b"")]
    renegotiation = offered.get(ext.ExtensionType.RENEGOTIATION_INFO)
    if renegotiation is not None and ext.parse_renegotiation_info_untrusted(renegotiation):
        raise RemoteProtocolError("renegotiation is not supported")
    if renegotiation is not None or TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites:
        server_extensions.append(
            (ext.ExtensionType.RENEGOTIATION_INFO, ext.encode_renegotiation_info())
        )
    if formats_data is not None:
        server_extensions.append(
            (ext.ExtensionType.EC_POINT_FORMATS, ext.encode_ec_point_formats())
        )

    srtp_profile: int | None = None
    srtp_data = offered.get(ext.ExtensionType.USE_SRTP)
    if srtp_data is not None and policy.srtp_profiles:
        client_profiles, _mki = ext.parse_use_srtp_untrusted(srtp_data)
        srtp_profile = _first_common(policy.srtp_profiles, client_profiles)
        if srtp_profile is not None:
            server_extensions.append(
                (ext.ExtensionType.USE_SRTP, ext.encode_use_srtp([srtp_profile]))
            )
    return NegotiatedHello(
        DTLS_1_2,
        suite,
        int(group),
        None if srtp_profile is None else int(srtp_profile),
        server_extensions,
    )


_SOLICITED_BY_US = {
    ext.ExtensionType.EXTENDED_MASTER_SECRET,
    ext.ExtensionType.RENEGOTIATION_INFO,
    ext.ExtensionType.EC_POINT_FORMATS,
    ext.ExtensionType.USE_SRTP,
    # Some servers echo these although RFC 8422 says they should not; harmless.
    ext.ExtensionType.SUPPORTED_GROUPS,
    ext.ExtensionType.SIGNATURE_ALGORITHMS,
}


def check_server_hello(policy: ClientHelloPolicy, hello: ServerHello) -> NegotiatedHello:
    """Validate the server's choices against what we offered."""
    if hello.server_version != DTLS_1_2:
        raise RemoteProtocolError(
            f"server chose version {hello.server_version:#06x}", AlertDescription.PROTOCOL_VERSION
        )
    if hello.cipher_suite not in policy.cipher_suites:
        raise RemoteProtocolError(
            "server chose a cipher suite we did not offer", AlertDescription.ILLEGAL_PARAMETER
        )
    if hello.compression_method != COMPRESSION_NULL:
        raise RemoteProtocolError("server chose compression", AlertDescription.ILLEGAL_PARAMETER)
    answered = dict(hello.extensions)
    for kind in answered:
        if kind not in _SOLICITED_BY_US:
            raise RemoteProtocolError(
                f"unsolicited extension {kind}", AlertDescription.UNSUPPORTED_EXTENSION
            )
    if ext.ExtensionType.EXTENDED_MASTER_SECRET not in answered:
        raise RemoteProtocolError("server did not negotiate extended_master_secret")
    if answered.get(ext.ExtensionType.EXTENDED_MASTER_SECRET):
        raise DtlsDecodeError("extended_master_secret extension must be empty")
    renegotiation = answered.get(ext.ExtensionType.RENEGOTIATION_INFO)
    if renegotiation is not None and ext.parse_renegotiation_info_untrusted(renegotiation):
        raise RemoteProtocolError("non-empty renegotiation_info in an initial handshake")
    srtp_profile: int | None = None
    srtp_data = answered.get(ext.ExtensionType.USE_SRTP)
    if srtp_data is not None:
        profiles, mki = ext.parse_use_srtp_untrusted(srtp_data)
        if len(profiles) != 1 or profiles[0] not in policy.srtp_profiles or mki:
            raise RemoteProtocolError(
                "server chose an SRTP profile we did not offer", AlertDescription.ILLEGAL_PARAMETER
            )
        srtp_profile = profiles[0]
    # The group is learned from ServerKeyExchange; record the first offered until then.
    return NegotiatedHello(DTLS_1_2, hello.cipher_suite, policy.groups[0], srtp_profile, [])
