"""Certificate generation, SDP fingerprints and ECDSA signatures."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from selkies_trio.proto.dtls.certificate import (
    certificate_fingerprint,
    certificate_pem,
    ecdsa_public_key_of,
    fingerprint_der,
    generate_certificate,
    load_certificate_untrusted,
    normalize_fingerprint,
    private_key_pem,
    sign,
    verify_signature,
)
from selkies_trio.proto.dtls.errors import DtlsDecodeError, RemoteProtocolError

from .conftest import NOW, seeded_random


def test_fingerprint_has_sdp_form() -> None:
    certificate, _key = generate_certificate(NOW, random=seeded_random(5))
    fingerprint = certificate_fingerprint(certificate)
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)
    assert normalize_fingerprint("sha-256 " + fingerprint.lower()) == fingerprint


def test_generation_is_deterministic_for_a_seeded_random() -> None:
    first, _ = generate_certificate(NOW, random=seeded_random(9))
    second, _ = generate_certificate(NOW, random=seeded_random(9))
    other, _ = generate_certificate(NOW, random=seeded_random(10))
    assert first.public_key() == second.public_key()
    assert certificate_fingerprint(other) != certificate_fingerprint(first)


def test_validity_is_anchored_on_now() -> None:
    certificate, _ = generate_certificate(NOW, validity_days=10, random=seeded_random(1))
    assert certificate.not_valid_before_utc.timestamp() == NOW - 86400
    assert certificate.not_valid_after_utc.timestamp() == NOW + 10 * 86400


def test_fingerprint_agrees_with_openssl(tmp_path: Path) -> None:
    certificate, key = generate_certificate(NOW, random=seeded_random(4))
    path = tmp_path / "cert.pem"
    path.write_bytes(certificate_pem(certificate))
    output = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-fingerprint", "-sha256"],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    assert output.strip().split("=", 1)[1] == certificate_fingerprint(certificate)
    assert b"PRIVATE KEY" in private_key_pem(key)


def test_sign_and_verify() -> None:
    certificate, key = generate_certificate(NOW, random=seeded_random(6))
    public_key = ecdsa_public_key_of(certificate)
    scheme, signature = sign(key, b"data")
    verify_signature(public_key, scheme, signature, b"data")
    with pytest.raises(RemoteProtocolError):
        verify_signature(public_key, scheme, signature, b"other data")
    with pytest.raises(RemoteProtocolError):
        verify_signature(public_key, 0x0804, signature, b"data")
    with pytest.raises(RemoteProtocolError):
        verify_signature(public_key, scheme, b"\x30\x00", b"data")


def test_load_rejects_garbage() -> None:
    certificate, _ = generate_certificate(NOW, random=seeded_random(6))
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert load_certificate_untrusted(der) == certificate
    assert fingerprint_der(der) == certificate_fingerprint(certificate)
    for bad in (b"", b"\x30\x03abc", der[:-5]):
        with pytest.raises(DtlsDecodeError):
            load_certificate_untrusted(bad)
