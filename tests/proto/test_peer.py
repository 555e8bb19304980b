"""proto/peer.py: what a browser's description and candidates can and cannot do to a
PeerTransport. The answer is Chromium's, captured (fixtures/chromium_answer.sdp)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from selkies_trio.proto.dtls.certificate import generate_certificate
from selkies_trio.proto.peer import PeerTransport, RemoteDescriptionError
from selkies_trio.proto.sdp import parse_sdp_untrusted

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NOW = 1_700_000_000.0


def _random(seed: int = 7):  # type: ignore[no-untyped-def]
    generator = random.Random(seed)
    return lambda n: generator.randbytes(n)


@pytest.fixture(scope="module")
def credentials():  # type: ignore[no-untyped-def]
    return generate_certificate(NOW, random=_random(1))


def _transport(credentials) -> PeerTransport:  # type: ignore[no-untyped-def]
    certificate, key = credentials
    transport = PeerTransport(certificate, key, random=_random())
    transport.add_host_address("127.0.0.1", 40000)
    transport.finish_gathering()
    return transport


def _answer(extra_candidates: list[str] | None = None):  # type: ignore[no-untyped-def]
    answer = parse_sdp_untrusted((FIXTURES / "chromium_answer.sdp").read_text())
    if extra_candidates:
        answer.media[0].candidates.extend(extra_candidates)
    return answer


def test_an_answer_sets_the_dtls_role_and_a_second_one_is_refused(credentials) -> None:  # type: ignore[no-untyped-def]
    transport = _transport(credentials)
    assert not transport.has_remote_description
    transport.set_remote_description(_answer(), 0.0)
    assert transport.has_remote_description and transport.dtls_role == "server"
    dtls = transport.dtls
    with pytest.raises(RemoteDescriptionError, match="already applied"):
        transport.set_remote_description(_answer(), 1.0)
    # The running DTLS connection was not replaced.
    assert transport.dtls is dtls and not transport.closed


def test_malformed_candidates_are_counted_and_skipped(credentials) -> None:  # type: ignore[no-untyped-def]
    transport = _transport(credentials)
    good = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"
    transport.set_remote_description(
        _answer(["candidate:broken", good, "candidate:1 1 udp notanumber 1.2.3.4 5 typ host"]),
        0.0,
    )
    assert transport.stats.bad_remote_candidates == 2
    assert [pair.remote.address for pair in transport.ice.pairs] == [("127.0.0.1", 50000)]
    # Trickled: a bad line is ignored, a good one is used, the transport stays open.
    assert transport.add_remote_candidate("candidate:x 1 udp") is False
    assert transport.add_remote_candidate(
        "candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host"
    ) is True
    assert transport.stats.bad_remote_candidates == 3
    assert not transport.closed


def test_signalling_after_close_is_harmless(credentials) -> None:  # type: ignore[no-untyped-def]
    transport = _transport(credentials)
    transport.close("test")
    assert transport.add_remote_candidate(
        "candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host"
    ) is False
    assert transport.add_remote_candidate(None) is False
    with pytest.raises(RemoteDescriptionError, match="closed"):
        transport.set_remote_description(_answer(), 0.0)
