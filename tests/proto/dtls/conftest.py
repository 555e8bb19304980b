"""Shared fixtures for the DTLS tests: deterministic certificates and connection pairs."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from selkies_trio.proto.dtls.certificate import certificate_fingerprint, generate_certificate

NOW = 1_750_000_000.0


@dataclass(frozen=True)
class Identity:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    fingerprint: str


def seeded_random(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def make_identity(seed: int) -> Identity:
    certificate, key = generate_certificate(NOW, random=seeded_random(seed))
    return Identity(certificate, key, certificate_fingerprint(certificate))


@pytest.fixture(scope="session")
def client_identity() -> Identity:
    return make_identity(1)


@pytest.fixture(scope="session")
def server_identity() -> Identity:
    return make_identity(2)


@pytest.fixture(scope="session")
def stranger_identity() -> Identity:
    return make_identity(3)
