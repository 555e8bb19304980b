"""A real Chromium ClientHello (DTLS 1.3 offered, ML-KEM key share, two records) as fixture.

The capture holds Chromium's first ClientHello and its second one carrying our cookie,
each split over two datagrams, plus the cookie secret of the server that answered.
"""

from __future__ import annotations

import json
from pathlib import Path

from selkies_trio.proto.dtls import messages as m
from selkies_trio.proto.dtls.connection import ConnectionState, DtlsConnection
from selkies_trio.proto.dtls.extensions import ExtensionType, parse_use_srtp_untrusted
from selkies_trio.proto.dtls.handshake import (
    HandshakeFragment,
    HandshakeType,
    Reassembler,
    parse_fragments_untrusted,
)
from selkies_trio.proto.dtls.record import parse_datagram_untrusted

from .conftest import Identity, seeded_random

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "chromium_client_hello.json").read_text()
)
DATAGRAMS = [bytes.fromhex(d) for d in FIXTURE["datagrams"]]
COOKIE_SECRET = bytes.fromhex(FIXTURE["cookie_secret"])


def _fragments(datagrams: list[bytes]) -> list[HandshakeFragment]:
    return [
        fragment
        for datagram in datagrams
        for record in parse_datagram_untrusted(datagram)
        for fragment in parse_fragments_untrusted(record.fragment)
    ]


def _chromium_hello(datagrams: list[bytes]) -> m.ClientHello:
    reassembler = Reassembler()
    fragments = _fragments(datagrams)
    reassembler.reset(fragments[0].message_seq)
    for fragment in fragments:
        reassembler.add(fragment)
    message = reassembler.pop_message()
    assert message is not None and message.msg_type == HandshakeType.CLIENT_HELLO
    return m.parse_client_hello_untrusted(message.body)


def test_fixture_is_a_dtls13_offer_spanning_two_records() -> None:
    assert all(len(parse_datagram_untrusted(d)) == 1 for d in DATAGRAMS)
    hello = _chromium_hello(DATAGRAMS[:2])
    assert hello.client_version == 0xFEFD
    extensions = dict(hello.extensions)
    assert extensions[ExtensionType.SUPPORTED_VERSIONS][1:3] == b"\xfe\xfc"  # DTLS 1.3 first
    profiles, _mki = parse_use_srtp_untrusted(extensions[ExtensionType.USE_SRTP])
    assert 0x0007 in profiles and 0x0001 in profiles


def test_our_server_answers_chromium_with_dtls12(server_identity: Identity) -> None:
    server = DtlsConnection(
        "server",
        server_identity.certificate,
        server_identity.private_key,
        "00:" * 31 + "00",  # the fingerprint check comes later than this capture reaches
        random=seeded_random(5),
        cookie_secret=COOKIE_SECRET,
    )
    # The second half of the first hello arrives first: reassembly must not care.
    for datagram in (DATAGRAMS[1], DATAGRAMS[0]):
        server.receive_datagram_untrusted(datagram, 0.0)
    [verify_request] = _fragments(server.datagrams_to_send(0.0))
    assert verify_request.msg_type == HandshakeType.HELLO_VERIFY_REQUEST
    cookie = m.parse_hello_verify_request_untrusted(verify_request.body).cookie
    # Our stateless cookie is a MAC of the hello, so it is the one Chromium echoed back.
    assert cookie == _chromium_hello(DATAGRAMS[2:4]).cookie

    for datagram in DATAGRAMS[2:4]:
        server.receive_datagram_untrusted(datagram, 0.0)
    flight = _fragments(server.datagrams_to_send(0.0))
    assert [f.msg_type for f in flight] == [
        HandshakeType.SERVER_HELLO,
        HandshakeType.CERTIFICATE,
        HandshakeType.SERVER_KEY_EXCHANGE,
        HandshakeType.CERTIFICATE_REQUEST,
        HandshakeType.SERVER_HELLO_DONE,
    ]
    server_hello = m.parse_server_hello_untrusted(flight[0].body)
    assert server_hello.server_version == 0xFEFD
    assert server_hello.cipher_suite == 0xC02B
    assert ExtensionType.SUPPORTED_VERSIONS not in dict(server_hello.extensions)
    assert server.srtp_profile == 0x0007
    assert server.state is ConnectionState.HANDSHAKING
    assert server.dropped_records == 0
