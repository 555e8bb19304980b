"""Handshake message bodies and hello extensions: round trips, malformed tables, fuzz."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.dtls import extensions as ext
from selkies_trio.proto.dtls import messages as m
from selkies_trio.proto.dtls.errors import DtlsDecodeError, RemoteProtocolError
from selkies_trio.proto.dtls.hello import (
    ClientHelloPolicy,
    build_client_hello,
    check_server_hello,
    negotiate_client_hello,
)

POLICY = ClientHelloPolicy(
    cipher_suites=(0xC02B, 0xCCA9), groups=(29, 23), srtp_profiles=(0x0007, 0x0001)
)

CLIENT_HELLO = build_client_hello(POLICY, bytes(range(32)), b"cookie")
SERVER_HELLO = m.ServerHello(
    0xFEFD,
    b"r" * 32,
    b"",
    0xC02B,
    0,
    [
        (ext.ExtensionType.EXTENDED_MASTER_SECRET, b""),
        (ext.ExtensionType.USE_SRTP, ext.encode_use_srtp([1])),
    ],
)

ROUND_TRIPS: list[tuple[Any, Callable[[bytes], Any]]] = [
    (CLIENT_HELLO, m.parse_client_hello_untrusted),
    (SERVER_HELLO, m.parse_server_hello_untrusted),
    (m.HelloVerifyRequest(0xFEFF, b"c" * 20), m.parse_hello_verify_request_untrusted),
    (m.Certificate([b"der-one", b"der-two"]), m.parse_certificate_untrusted),
    (m.Certificate([]), m.parse_certificate_untrusted),
    (m.ServerKeyExchange(29, b"p" * 32, 0x0403, b"s" * 70), m.parse_server_key_exchange_untrusted),
    (m.CertificateRequest(b"\x40", [0x0403, 0x0804]), m.parse_certificate_request_untrusted),
    (m.ClientKeyExchange(b"\x04" + b"q" * 64), m.parse_client_key_exchange_untrusted),
    (m.CertificateVerify(0x0403, b"sig"), m.parse_certificate_verify_untrusted),
    (m.Finished(b"v" * 12), m.parse_finished_untrusted),
]


@pytest.mark.parametrize(("message", "parse"), ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_message_round_trip(message: Any, parse: Callable[[bytes], Any]) -> None:
    assert parse(message.encode()) == message


def test_client_hello_wire_layout() -> None:
    body = CLIENT_HELLO.encode()
    assert body[:2] == b"\xfe\xfd"
    assert body[2:34] == bytes(range(32))
    assert body[34] == 0  # empty session_id
    assert body[35:42] == b"\x06cookie"
    assert body[42:48] == bytes.fromhex("0004c02bcca9")


MALFORMED: list[tuple[Callable[[bytes], Any], bytes]] = [
    (m.parse_client_hello_untrusted, b""),
    (m.parse_client_hello_untrusted, CLIENT_HELLO.encode()[:40]),
    (m.parse_client_hello_untrusted, CLIENT_HELLO.encode() + b"\x00"),
    (m.parse_client_hello_untrusted, b"\xfe\xfd" + b"r" * 32 + b"\x21" + b"s" * 33),
    (m.parse_client_hello_untrusted, b"\xfe\xfd" + b"r" * 32 + b"\x00\x00\x00\x01\xc0"),
    (m.parse_client_hello_untrusted, b"\xfe\xfd" + b"r" * 32 + b"\x00\x00\x00\x00\x00"),
    (m.parse_server_hello_untrusted, SERVER_HELLO.encode()[:-3]),
    (m.parse_hello_verify_request_untrusted, b"\xfe\xff\x05abc"),
    (m.parse_certificate_untrusted, b"\x00\x00\x03\x00\x00\x00"),
    (m.parse_certificate_untrusted, b"\x00\x00\x05\x00\x00\x09abc"),
    (m.parse_server_key_exchange_untrusted, b"\x01\x00\x1d\x01x\x04\x03\x00\x00"),
    (m.parse_server_key_exchange_untrusted, b"\x03\x00\x1d\x00\x04\x03\x00\x00"),
    (m.parse_certificate_request_untrusted, b"\x00\x00\x02\x04\x03\x00\x00"),
    (m.parse_certificate_request_untrusted, b"\x01\x40\x00\x01\x04\x00\x00"),
    (m.parse_server_hello_done_untrusted, b"\x00"),
    (m.parse_client_key_exchange_untrusted, b"\x00"),
    (m.parse_client_key_exchange_untrusted, b"\x05abc"),
    (m.parse_certificate_verify_untrusted, b"\x04\x03\x00\x05ab"),
    (m.parse_finished_untrusted, b"v" * 11),
    (ext.parse_use_srtp_untrusted, b"\x00\x01\x00"),
    (ext.parse_use_srtp_untrusted, b"\x00\x02\x00\x01"),
    (ext.parse_use_srtp_untrusted, b"\x00\x02\x00\x01\x00\x00"),
    (ext.parse_supported_groups_untrusted, b"\x00\x00"),
    (ext.parse_supported_groups_untrusted, b"\x00\x03\x00\x1d\x00"),
    (ext.parse_signature_algorithms_untrusted, b"\x00\x02\x04"),
    (ext.parse_ec_point_formats_untrusted, b"\x00"),
    (ext.parse_renegotiation_info_untrusted, b"\x02\x00"),
]


@pytest.mark.parametrize(("parse", "data"), MALFORMED)
def test_malformed_bodies_raise_decode_error(parse: Callable[[bytes], Any], data: bytes) -> None:
    with pytest.raises(DtlsDecodeError):
        parse(data)


def test_duplicate_extensions_are_rejected() -> None:
    hello = m.ClientHello(0xFEFD, b"r" * 32, b"", b"", [0xC02B], b"\x00", [(23, b""), (23, b"")])
    with pytest.raises(DtlsDecodeError):
        m.parse_client_hello_untrusted(hello.encode())


PARSERS = [parse for _message, parse in ROUND_TRIPS] + [
    m.parse_server_hello_done_untrusted,
    ext.parse_use_srtp_untrusted,
    ext.parse_supported_groups_untrusted,
    ext.parse_signature_algorithms_untrusted,
    ext.parse_ec_point_formats_untrusted,
    ext.parse_renegotiation_info_untrusted,
]


@settings(max_examples=400, deadline=None)
@given(index=st.integers(0, len(PARSERS) - 1), data=st.binary(max_size=120))
def test_body_parsers_raise_only_decode_error(index: int, data: bytes) -> None:
    try:
        PARSERS[index](data)
    except DtlsDecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 200), value=st.integers(0, 255))
def test_corrupted_client_hello_fails_cleanly(position: int, value: int) -> None:
    body = bytearray(CLIENT_HELLO.encode())
    body[position % len(body)] = value
    try:
        hello = m.parse_client_hello_untrusted(bytes(body))
        negotiate_client_hello(POLICY, hello)
    except RemoteProtocolError:
        pass


def _chrome_like_hello(**changes: Any) -> m.ClientHello:
    """What a DTLS 1.3-capable Chrome sends: 1.2 in client_version, 1.3 in supported_versions."""
    extensions = [
        (ext.ExtensionType.SUPPORTED_VERSIONS, bytes.fromhex("04fefcfefd")),
        (51, b"\x00\x24\x00\x1d\x00\x20" + b"k" * 32),  # key_share, ignored by a 1.2 server
        (ext.ExtensionType.EXTENDED_MASTER_SECRET, b""),
        (ext.ExtensionType.RENEGOTIATION_INFO, b"\x00"),
        (ext.ExtensionType.SUPPORTED_GROUPS, ext.encode_supported_groups([29, 23, 24])),
        (ext.ExtensionType.EC_POINT_FORMATS, b"\x01\x00"),
        (ext.ExtensionType.SIGNATURE_ALGORITHMS, ext.encode_signature_algorithms([0x0403, 0x0804])),
        (ext.ExtensionType.USE_SRTP, ext.encode_use_srtp([0x0007, 0x0008, 0x0001, 0x0002])),
    ]
    fields: dict[str, Any] = {
        "client_version": 0xFEFD,
        "random": b"r" * 32,
        "session_id": b"",
        "cookie": b"",
        "cipher_suites": [0x1301, 0xC02B, 0xC02F, 0xCCA9, 0x00FF],
        "compression_methods": b"\x00",
        "extensions": extensions,
    }
    fields.update(changes)
    return m.ClientHello(**fields)


def test_server_answers_dtls13_capable_client_with_dtls12() -> None:
    negotiated = negotiate_client_hello(POLICY, _chrome_like_hello())
    assert negotiated.version == 0xFEFD
    assert negotiated.cipher_suite == 0xC02B
    assert negotiated.group == 29
    assert negotiated.srtp_profile == 0x0007
    answered = dict(negotiated.server_extensions)
    assert ext.ExtensionType.SUPPORTED_VERSIONS not in answered
    assert ext.ExtensionType.EXTENDED_MASTER_SECRET in answered
    assert answered[ext.ExtensionType.USE_SRTP] == ext.encode_use_srtp([7])


@pytest.mark.parametrize(
    "changes",
    [
        {"client_version": 0xFEFF},
        {"cipher_suites": [0x1301, 0xC02F]},
        {"compression_methods": b"\x01"},
        {"extensions": [(ext.ExtensionType.SUPPORTED_GROUPS, ext.encode_supported_groups([24]))]},
        {"extensions": [(ext.ExtensionType.USE_SRTP, ext.encode_use_srtp([1]))]},  # no EMS
        {
            "extensions": [
                (ext.ExtensionType.EXTENDED_MASTER_SECRET, b""),
                (ext.ExtensionType.RENEGOTIATION_INFO, b"\x0c" + b"v" * 12),
            ]
        },
    ],
    ids=[
        "dtls10-only",
        "no-common-suite",
        "no-null-compression",
        "no-common-group",
        "no-ems",
        "renegotiation",
    ],
)
def test_server_refuses_unacceptable_hellos(changes: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError):
        negotiate_client_hello(POLICY, _chrome_like_hello(**changes))


def test_client_checks_server_hello_choices() -> None:
    negotiated = check_server_hello(POLICY, SERVER_HELLO)
    assert negotiated.srtp_profile == 1 and negotiated.cipher_suite == 0xC02B
    ems = (ext.ExtensionType.EXTENDED_MASTER_SECRET, b"")
    bad = [
        m.ServerHello(0xFEFF, b"r" * 32, b"", 0xC02B, 0, [ems]),
        m.ServerHello(0xFEFD, b"r" * 32, b"", 0xC02F, 0, [ems]),
        m.ServerHello(0xFEFD, b"r" * 32, b"", 0xC02B, 0, []),
        m.ServerHello(0xFEFD, b"r" * 32, b"", 0xC02B, 0, [ems, (43, b"\xfe\xfc")]),
        m.ServerHello(0xFEFD, b"r" * 32, b"", 0xC02B, 0, [ems, (14, ext.encode_use_srtp([2]))]),
    ]
    for hello in bad:
        with pytest.raises(RemoteProtocolError):
            check_server_hello(POLICY, hello)
