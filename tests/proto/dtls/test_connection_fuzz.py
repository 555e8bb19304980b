"""Hostile bytes into `receive_datagram_untrusted`: it must never raise.

Connections are deterministic for a seeded random source, so a reference handshake is
recorded once and replayed into fresh connections, then corrupted at every stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.dtls.connection import ConnectionState, DtlsConnection
from selkies_trio.proto.dtls.events import DtlsError, HandshakeComplete
from selkies_trio.proto.dtls.handshake import encode_fragment
from selkies_trio.proto.dtls.record import encode_record

from .conftest import make_identity, seeded_random

CLIENT = make_identity(11)
SERVER = make_identity(12)


def _client() -> DtlsConnection:
    return DtlsConnection(
        "client",
        CLIENT.certificate,
        CLIENT.private_key,
        SERVER.fingerprint,
        random=seeded_random(1),
    )


def _server() -> DtlsConnection:
    return DtlsConnection(
        "server",
        SERVER.certificate,
        SERVER.private_key,
        CLIENT.fingerprint,
        random=seeded_random(2),
        cookie_secret=b"s" * 32,
    )


@dataclass
class Transcript:
    """The datagrams of one reference handshake, flight by flight."""

    flights: list[tuple[str, list[bytes]]]


def _record_reference() -> Transcript:
    client, server = _client(), _server()
    client.start(0.0)
    flights: list[tuple[str, list[bytes]]] = []
    for _ in range(4):
        for name, sender, receiver in (("client", client, server), ("server", server, client)):
            datagrams = sender.datagrams_to_send(0.0)
            if datagrams:
                flights.append((name, datagrams))
            for datagram in datagrams:
                receiver.receive_datagram_untrusted(datagram, 0.0)
    assert client.state is server.state is ConnectionState.ESTABLISHED
    return Transcript(flights)


REFERENCE = _record_reference()


def _replay_until(stage: int) -> tuple[DtlsConnection, DtlsConnection]:
    """Fresh connections fed the first `stage` flights of the reference handshake."""
    client, server = _client(), _server()
    client.start(0.0)
    client.datagrams_to_send(0.0)
    for name, datagrams in REFERENCE.flights[:stage]:
        receiver = server if name == "client" else client
        for datagram in datagrams:
            receiver.receive_datagram_untrusted(datagram, 0.0)
        receiver.datagrams_to_send(0.0)
    return client, server


def _drain(connection: DtlsConnection) -> list[object]:
    events = []
    while (event := connection.next_event()) is not None:
        events.append(event)
    return events


def test_reference_replays_deterministically() -> None:
    client, server = _replay_until(len(REFERENCE.flights))
    assert client.state is server.state is ConnectionState.ESTABLISHED
    assert any(isinstance(e, HandshakeComplete) for e in _drain(server))


def _records() -> st.SearchStrategy[bytes]:
    fragment = st.builds(
        encode_fragment,
        st.sampled_from([0, 1, 2, 3, 11, 12, 13, 14, 15, 16, 20, 99]),
        st.integers(0, 300),
        st.integers(0, 8),
        st.integers(0, 300),
        st.binary(max_size=120),
    )
    payload = st.one_of(st.binary(max_size=80), fragment, st.just(b"\x01"), st.just(b"\x02\x28"))
    return st.builds(
        encode_record,
        st.sampled_from([20, 21, 22, 23]),
        st.sampled_from([0xFEFD, 0xFEFF]),
        st.integers(0, 2),
        st.integers(0, 70),
        payload,
    )


DATAGRAMS = st.one_of(
    st.binary(max_size=300), st.lists(_records(), min_size=1, max_size=4).map(b"".join)
)


@settings(max_examples=300, deadline=None)
@given(datagrams=st.lists(DATAGRAMS, min_size=1, max_size=4))
def test_fresh_server_survives_garbage(datagrams: list[bytes]) -> None:
    server = _server()
    for datagram in datagrams:
        server.receive_datagram_untrusted(datagram, 0.0)
    server.datagrams_to_send(0.0)
    server.get_timer()
    events = _drain(server)
    assert not any(isinstance(e, HandshakeComplete) for e in events)


@settings(max_examples=300, deadline=None)
@given(
    stage=st.integers(1, len(REFERENCE.flights) - 1),
    datagrams=st.lists(DATAGRAMS, min_size=1, max_size=3),
)
def test_mid_handshake_endpoints_survive_garbage(stage: int, datagrams: list[bytes]) -> None:
    client, server = _replay_until(stage)
    receiver = server if REFERENCE.flights[stage][0] == "client" else client
    for datagram in datagrams:
        receiver.receive_datagram_untrusted(datagram, 0.0)
    receiver.handle_timer(0.5)
    receiver.datagrams_to_send(0.5)
    _drain(receiver)


@settings(max_examples=300, deadline=None)
@given(
    stage=st.integers(0, len(REFERENCE.flights) - 1),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=3),
)
def test_corrupted_genuine_flights_never_raise(stage: int, flips: list[tuple[int, int]]) -> None:
    client, server = _replay_until(stage)
    sender_name, datagrams = REFERENCE.flights[stage]
    receiver = server if sender_name == "client" else client
    for index, datagram in enumerate(datagrams):
        data = bytearray(datagram)
        if index == 0:
            for position, mask in flips:
                data[position % len(data)] ^= mask
        receiver.receive_datagram_untrusted(bytes(data), 0.0)
    events = _drain(receiver)
    if receiver.state is ConnectionState.CLOSED:
        # Only a fatal alert of our own or the peer's ends the connection.
        assert events, "closed without telling anyone"
    errors = [e for e in events if isinstance(e, DtlsError)]
    assert len(errors) <= 1
