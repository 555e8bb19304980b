"""Two DtlsConnections in memory on a virtual clock: the whole handshake and its failures."""

from __future__ import annotations

from typing import Any

import pytest

from selkies_trio.proto.dtls import messages as m
from selkies_trio.proto.dtls import prf
from selkies_trio.proto.dtls.alerts import AlertDescription
from selkies_trio.proto.dtls.cipher import (
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
)
from selkies_trio.proto.dtls.connection import ConnectionState, DtlsConnection
from selkies_trio.proto.dtls.errors import LocalProtocolError
from selkies_trio.proto.dtls.events import (
    AlertReceived,
    ApplicationData,
    ConnectionClosed,
    DtlsError,
    HandshakeComplete,
)
from selkies_trio.proto.dtls.extensions import NamedGroup, SrtpProfile
from selkies_trio.proto.dtls.handshake import (
    HandshakeType,
    encode_fragment,
    parse_fragments_untrusted,
)
from selkies_trio.proto.dtls.record import ContentType, encode_record, parse_datagram_untrusted

from .conftest import Identity, seeded_random
from .link import Impairment, Link


def make_pair(
    client_identity: Identity,
    server_identity: Identity,
    *,
    client_expects: str | None = None,
    server_expects: str | None = None,
    seed: int = 0,
    impairment: Impairment | None = None,
    **options: Any,
) -> Link:
    client = DtlsConnection(
        "client",
        client_identity.certificate,
        client_identity.private_key,
        client_expects or server_identity.fingerprint,
        random=seeded_random(seed * 2 + 100),
        **options,
    )
    server = DtlsConnection(
        "server",
        server_identity.certificate,
        server_identity.private_key,
        server_expects or client_identity.fingerprint,
        random=seeded_random(seed * 2 + 101),
        **options,
    )
    return Link(client, server, impairment or Impairment(), seed=seed)


def of_type(events: list[Any], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


@pytest.mark.parametrize("group", [NamedGroup.X25519, NamedGroup.SECP256R1])
@pytest.mark.parametrize(
    "profile", [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, SrtpProfile.SRTP_AEAD_AES_128_GCM]
)
@pytest.mark.parametrize(
    "suite",
    [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
)
def test_handshake_data_and_srtp_keys(
    client_identity: Identity, server_identity: Identity, group: int, profile: int, suite: int
) -> None:
    link = make_pair(
        client_identity,
        server_identity,
        groups=(group,),
        srtp_profiles=(profile,),
        cipher_suites=(suite,),
    )
    link.start()
    link.run()
    for name, peer in (("client", server_identity), ("server", client_identity)):
        complete = of_type(link.events[name], HandshakeComplete)
        assert complete == [HandshakeComplete(profile, suite, peer.fingerprint)]
        assert link.endpoint(name).key_exchange_group == group
    client, server = link.client, link.server
    client.send_application_data(b"from client")
    server.send_application_data(b"from server")
    link.deliver_all()
    assert of_type(link.events["server"], ApplicationData) == [ApplicationData(b"from client")]
    assert of_type(link.events["client"], ApplicationData) == [ApplicationData(b"from server")]

    exported = client.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    assert exported == server.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    client_keys, server_keys = client.srtp_keying_material(), server.srtp_keying_material()
    assert client_keys.local_key == server_keys.remote_key
    assert client_keys.local_salt == server_keys.remote_salt
    assert client_keys.remote_key == server_keys.local_key
    key_length, salt_length = (
        (16, 14) if profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80 else (16, 12)
    )
    assert len(client_keys.local_key) == key_length and len(client_keys.local_salt) == salt_length
    # RFC 5764 4.2: client_write_key || server_write_key || client_salt || server_salt.
    assert exported[:key_length] == client_keys.local_key
    assert exported[2 * key_length : 2 * key_length + salt_length] == client_keys.local_salt


def test_first_server_reply_is_a_stateless_hello_verify_request(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(client_identity, server_identity)
    link.start()
    [hello] = link.client.datagrams_to_send(0.0)
    link.server.receive_datagram_untrusted(hello, 0.0)
    [reply] = link.server.datagrams_to_send(0.0)
    [record] = parse_datagram_untrusted(reply)
    [fragment] = parse_fragments_untrusted(record.fragment)
    assert fragment.msg_type == HandshakeType.HELLO_VERIFY_REQUEST
    assert link.server.get_timer() is None  # nothing to retransmit: no state kept
    # RFC 6347 4.2.1: the record sequence number is the ClientHello's.
    [client_record] = parse_datagram_untrusted(hello)
    assert record.sequence_number == client_record.sequence_number
    # The client resends its ClientHello (with higher record numbers); the third copy
    # reaches the server and gets the HelloVerifyRequest again, numbered like it.
    for resend_at in (5.0, 15.0, 35.0):
        link.client.handle_timer(resend_at)
        [again] = link.client.datagrams_to_send(resend_at)
    [client_record] = parse_datagram_untrusted(again)
    assert client_record.sequence_number == 3
    link.server.receive_datagram_untrusted(again, 35.0)
    [reply] = link.server.datagrams_to_send(35.0)
    assert parse_datagram_untrusted(reply)[0].sequence_number == client_record.sequence_number


def _split_handshake_records(datagram: bytes) -> list[bytes]:
    """Re-cut every handshake message of a datagram in two records, each in its own datagram."""
    out: list[bytes] = []
    for number, record in enumerate(parse_datagram_untrusted(datagram)):
        for fragment in parse_fragments_untrusted(record.fragment):
            half = len(fragment.body) // 2
            for offset, body in ((half, fragment.body[half:]), (0, fragment.body[:half])):
                piece = encode_fragment(
                    fragment.msg_type, fragment.length, fragment.message_seq, offset, body
                )
                out.append(
                    encode_record(
                        record.content_type,
                        record.version,
                        0,
                        50 + 2 * number + offset % 2 + len(out),
                        piece,
                    )
                )
    return out


def test_client_hello_split_over_two_records_in_reverse_order(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(client_identity, server_identity)
    link.start()
    for _ in range(2):  # the first ClientHello, then the one carrying the cookie
        for datagram in link.client.datagrams_to_send(0.0):
            for piece in _split_handshake_records(datagram):
                link.server.receive_datagram_untrusted(piece, 0.0)
        for datagram in link.server.datagrams_to_send(0.0):
            link.client.receive_datagram_untrusted(datagram, 0.0)
    link.run()
    assert link.client.state is ConnectionState.ESTABLISHED
    assert link.server.state is ConnectionState.ESTABLISHED


@pytest.mark.parametrize("seed", range(6))
def test_lossy_link_completes_through_retransmission(
    client_identity: Identity, server_identity: Identity, seed: int
) -> None:
    impairment = Impairment(loss=0.3, duplicate=0.2, reorder=0.5, delay=0.02)
    link = make_pair(client_identity, server_identity, seed=seed, impairment=impairment, mtu=300)
    link.start()
    link.run(duration=300.0)
    assert link.client.state is ConnectionState.ESTABLISHED, link.events
    assert link.server.state is ConnectionState.ESTABLISHED, link.events
    assert all(len(datagram) <= 300 for _t, datagram in link.sent["client"] + link.sent["server"])
    link.client.send_application_data(b"ping")
    link.impairment = Impairment()
    link.deliver_all()
    assert ApplicationData(b"ping") in link.events["server"]


def test_retransmission_backs_off_and_gives_up(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(
        client_identity, server_identity, impairment=Impairment(loss=1.0), handshake_timeout=200.0
    )
    link.start()
    link.run(duration=500.0)
    times = [t for t, _ in link.sent["client"]]
    hello_times = times[:-1]  # the last datagram is the fatal alert sent when giving up
    assert hello_times == [0, 1, 3, 7, 15, 31, 63, 123, 183]
    assert link.client.state is ConnectionState.CLOSED
    assert of_type(link.events["client"], ConnectionClosed) == [
        ConnectionClosed("handshake timed out")
    ]
    assert link.client.get_timer() is None


@pytest.mark.parametrize("liar", ["client", "server"])
def test_fingerprint_mismatch_is_fatal_on_both_sides(
    client_identity: Identity, server_identity: Identity, stranger_identity: Identity, liar: str
) -> None:
    wrong = {f"{'server' if liar == 'client' else 'client'}_expects": stranger_identity.fingerprint}
    link = make_pair(client_identity, server_identity, **wrong)
    link.start()
    link.run()
    checker = "server" if liar == "client" else "client"
    errors = of_type(link.events[checker], DtlsError)
    assert [e.description for e in errors] == [AlertDescription.BAD_CERTIFICATE]
    assert "fingerprint" in errors[0].reason
    assert AlertReceived(2, AlertDescription.BAD_CERTIFICATE) in link.events[liar]
    for name in ("client", "server"):
        assert link.endpoint(name).state is ConnectionState.CLOSED
        assert not of_type(link.events[name], HandshakeComplete)
        assert len(of_type(link.events[name], ConnectionClosed)) == 1


def _established(client_identity: Identity, server_identity: Identity) -> Link:
    link = make_pair(client_identity, server_identity)
    link.start()
    link.run()
    assert link.client.state is link.server.state is ConnectionState.ESTABLISHED
    return link


def test_close_notify_closes_both_sides(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = _established(client_identity, server_identity)
    link.client.close()
    link.deliver_all()
    assert AlertReceived(1, AlertDescription.CLOSE_NOTIFY) in link.events["server"]
    assert of_type(link.events["server"], ConnectionClosed) == [
        ConnectionClosed("peer sent close_notify")
    ]
    # The server answers with its own close_notify (RFC 5246 7.2.1), one record.
    _, reply = link.sent["server"][-1]
    [record] = parse_datagram_untrusted(reply)
    assert record.content_type == ContentType.ALERT and record.epoch == 1
    assert link.server.state is ConnectionState.CLOSED
    assert of_type(link.events["client"], ConnectionClosed) == [ConnectionClosed("closed locally")]
    with pytest.raises(LocalProtocolError):
        link.client.send_application_data(b"late")


def test_replayed_and_tampered_records_are_dropped(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = _established(client_identity, server_identity)
    link.client.send_application_data(b"once")
    [datagram] = link.client.datagrams_to_send(link.now)
    tampered = bytearray(datagram)
    tampered[-1] ^= 0x80
    dropped = link.server.dropped_records
    for data in (datagram, datagram, bytes(tampered), b"\x17\xfe\xfd", b""):
        link.server.receive_datagram_untrusted(data, link.now)
    link.deliver_all()
    assert of_type(link.events["server"], ApplicationData) == [ApplicationData(b"once")]
    assert link.server.dropped_records == dropped + 4
    assert link.server.state is ConnectionState.ESTABLISHED


def test_renegotiation_is_refused(client_identity: Identity, server_identity: Identity) -> None:
    link = _established(client_identity, server_identity)
    # A new ClientHello inside the encrypted epoch asks for a renegotiation.
    body = m.ClientHello(0xFEFD, b"r" * 32, b"", b"", [0xC02B], b"\x00").encode()
    # Client flight 5 ended with Finished at message_seq 5, so 6 is a new message.
    fragment = encode_fragment(HandshakeType.CLIENT_HELLO, len(body), 6, 0, body)
    # The test borrows the client's epoch-1 record writer to forge a valid encrypted record.
    record = link.client._writer.seal(ContentType.HANDSHAKE, 1, fragment)
    link.server.receive_datagram_untrusted(record, link.now)
    link.deliver_all()
    assert AlertReceived(1, AlertDescription.NO_RENEGOTIATION) in link.events["client"]
    assert link.server.state is ConnectionState.ESTABLISHED
    assert link.client.state is ConnectionState.ESTABLISHED


def test_unexpected_message_is_fatal(client_identity: Identity, server_identity: Identity) -> None:
    link = make_pair(client_identity, server_identity)
    link.start()
    # ClientHello, HelloVerifyRequest, ClientHello with cookie; the server sends flight 4.
    for sender, receiver in ((link.client, link.server), (link.server, link.client)) * 2:
        for datagram in sender.datagrams_to_send(0.0):
            receiver.receive_datagram_untrusted(datagram, 0.0)
    # A Finished where the client's Certificate should come.
    fragment = encode_fragment(HandshakeType.FINISHED, 12, 2, 0, b"v" * 12)
    link.server.receive_datagram_untrusted(encode_record(22, 0xFEFD, 0, 99, fragment), link.now)
    link.deliver_all()
    assert link.server.state is ConnectionState.CLOSED
    [error] = of_type(link.events["server"], DtlsError)
    assert error.description == AlertDescription.UNEXPECTED_MESSAGE
    assert AlertReceived(2, AlertDescription.UNEXPECTED_MESSAGE) in link.events["client"]
    assert link.client.state is ConnectionState.CLOSED


def test_misuse_raises_local_protocol_error(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(client_identity, server_identity)
    with pytest.raises(LocalProtocolError):
        link.client.send_application_data(b"too early")
    with pytest.raises(LocalProtocolError):
        link.client.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    link.start()
    with pytest.raises(LocalProtocolError):
        link.client.start(0.0)
    with pytest.raises(LocalProtocolError):
        DtlsConnection(
            "client", client_identity.certificate, client_identity.private_key, "", mtu=100
        )
    link.run()
    with pytest.raises(LocalProtocolError):
        link.client.send_application_data(b"x" * 16385)


def _chrome_like_client_hello(cookie: bytes) -> bytes:
    """A DTLS 1.3-capable browser's hello: 1.2 in client_version, 1.3 and 1.2 offered."""
    extensions = [
        (43, bytes.fromhex("04fefcfefd")),  # supported_versions: DTLS 1.3, DTLS 1.2
        (51, bytes.fromhex("0024001d0020") + b"k" * 32),  # key_share for 1.3, ignored
        (23, b""),
        (0xFF01, b"\x00"),
        (10, bytes.fromhex("0006001d00170018")),
        (11, b"\x01\x00"),
        (13, bytes.fromhex("000604030804 0401".replace(" ", ""))),
        (14, bytes.fromhex("0008 0007 0008 0001 0002 00".replace(" ", ""))),
    ]
    hello = m.ClientHello(
        0xFEFD, b"R" * 32, b"", cookie, [0x1301, 0xC02B, 0xC02F, 0xCCA9], b"\x00", extensions
    )
    return hello.encode()


def test_dtls13_capable_client_is_answered_with_dtls12(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(client_identity, server_identity)
    server = link.server

    def send_split_hello(cookie: bytes, message_seq: int) -> list[Any]:
        body = _chrome_like_client_hello(cookie)
        half = len(body) // 2
        # The hello spans two records, which arrive in reverse order.
        for number, (offset, part) in enumerate(((half, body[half:]), (0, body[:half]))):
            fragment = encode_fragment(
                HandshakeType.CLIENT_HELLO, len(body), message_seq, offset, part
            )
            server.receive_datagram_untrusted(
                encode_record(22, 0xFEFF, 0, 2 * message_seq + number, fragment), 0.0
            )
        replies = []
        for datagram in server.datagrams_to_send(0.0):
            for record in parse_datagram_untrusted(datagram):
                replies.extend(parse_fragments_untrusted(record.fragment))
        return replies

    [verify_request] = send_split_hello(b"", 0)
    assert verify_request.msg_type == HandshakeType.HELLO_VERIFY_REQUEST
    cookie = m.parse_hello_verify_request_untrusted(verify_request.body).cookie
    flight = send_split_hello(cookie, 1)
    server_hello_fragment = flight[0]
    assert server_hello_fragment.msg_type == HandshakeType.SERVER_HELLO
    assert server_hello_fragment.message_seq == 1
    server_hello = m.parse_server_hello_untrusted(server_hello_fragment.body)
    assert server_hello.server_version == 0xFEFD
    assert server_hello.cipher_suite == TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    answered = dict(server_hello.extensions)
    assert 43 not in answered and 51 not in answered
    assert answered[14] == bytes.fromhex("0002000700")
    assert answered[23] == b""
    types = [fragment.msg_type for fragment in flight]
    assert types == [
        HandshakeType.SERVER_HELLO,
        HandshakeType.CERTIFICATE,
        HandshakeType.SERVER_KEY_EXCHANGE,
        HandshakeType.CERTIFICATE_REQUEST,
        HandshakeType.SERVER_HELLO_DONE,
    ]
    request = m.parse_certificate_request_untrusted(flight[3].body)
    assert request.certificate_types == b"\x40"  # ecdsa_sign
    assert request.supported_signature_algorithms == [0x0403]


def _bounce(sender: DtlsConnection, receiver: DtlsConnection, now: float) -> list[bytes]:
    datagrams = sender.datagrams_to_send(now)
    for datagram in datagrams:
        receiver.receive_datagram_untrusted(datagram, now)
    return datagrams


def test_lost_final_flight_is_resent_when_the_client_retransmits(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(client_identity, server_identity)
    client, server = link.client, link.server
    link.start()
    for _ in range(2):  # through the cookie exchange and flight 4
        _bounce(client, server, 0.0)
        _bounce(server, client, 0.0)
    _bounce(client, server, 0.0)  # flight 5: the server completes
    assert server.state is ConnectionState.ESTABLISHED
    assert server.get_timer() is None  # the last flight waits to be asked for, not timed
    server.datagrams_to_send(0.0)  # flight 6 is lost
    assert client.get_timer() == 1.0
    client.handle_timer(1.0)
    assert _bounce(client, server, 1.0)  # flight 5 again
    assert _bounce(server, client, 1.0)  # flight 6 again, triggered by the duplicate
    assert client.state is ConnectionState.ESTABLISHED
    assert client.get_timer() is None


def test_finished_before_change_cipher_spec_is_held_back(
    client_identity: Identity, server_identity: Identity
) -> None:
    link = make_pair(client_identity, server_identity)
    client, server = link.client, link.server
    link.start()
    for _ in range(2):
        _bounce(client, server, 0.0)
        _bounce(server, client, 0.0)
    _bounce(client, server, 0.0)
    records = [
        record
        for datagram in server.datagrams_to_send(0.0)
        for record in parse_datagram_untrusted(datagram)
    ]
    assert [(r.content_type, r.epoch) for r in records] == [(20, 0), (22, 1)]
    finished, change_cipher_spec = records[1], records[0]
    for record in (finished, change_cipher_spec):
        client.receive_datagram_untrusted(
            encode_record(
                record.content_type,
                record.version,
                record.epoch,
                record.sequence_number,
                record.fragment,
            ),
            0.0,
        )
    assert client.state is ConnectionState.ESTABLISHED
    assert client.dropped_records == 0


def test_wrong_finished_verify_data_is_fatal(
    client_identity: Identity, server_identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = make_pair(client_identity, server_identity)
    client, server = link.client, link.server
    link.start()
    _bounce(client, server, 0.0)
    _bounce(server, client, 0.0)
    _bounce(client, server, 0.0)
    # The client computes its Finished while handling flight 4: make it wrong there only.
    real = prf.finished_verify_data
    monkeypatch.setattr(prf, "finished_verify_data", lambda *args: bytes(12))
    _bounce(server, client, 0.0)
    monkeypatch.setattr(prf, "finished_verify_data", real)
    _bounce(client, server, 0.0)
    _bounce(server, client, 0.0)
    link.deliver_all()
    [error] = of_type(link.events["server"], DtlsError)
    assert error.description == AlertDescription.DECRYPT_ERROR
    assert AlertReceived(2, AlertDescription.DECRYPT_ERROR) in link.events["client"]
    assert server.state is client.state is ConnectionState.CLOSED
