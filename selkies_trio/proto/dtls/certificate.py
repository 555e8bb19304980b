"""Self-signed ECDSA P-256 certificates, their SDP fingerprints, and ECDSA signatures.

WebRTC does not use certificate chains: each side's certificate is authenticated by
the SHA-256 fingerprint carried in the signalled SDP (RFC 8122 section 5,
`a=fingerprint:sha-256 AB:CD:...`). Signatures are `ecdsa_secp256r1_sha256`
(RFC 5246 section 4.7 "digitally-signed", RFC 8422 section 5.10): DER-encoded ECDSA.
Where the OpenSSL build allows it, signing is deterministic (RFC 6979), which keeps
tests reproducible with an injected random source.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.backends.openssl.backend import backend as _openssl_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .alerts import AlertDescription
from .errors import DtlsDecodeError, RemoteProtocolError
from .extensions import SignatureScheme

# Order of the P-256 group (SEC 2 section 2.4.2).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_DETERMINISTIC = _openssl_backend.ecdsa_deterministic_supported()
_SECONDS_PER_DAY = 86400.0


def _ecdsa() -> ec.ECDSA:
    return ec.ECDSA(hashes.SHA256(), deterministic_signing=_DETERMINISTIC)


def generate_private_key(random: Callable[[int], bytes] = os.urandom) -> ec.EllipticCurvePrivateKey:
    # 48 bytes reduced modulo the order leaves a negligible bias (FIPS 186-4 B.4.1).
    scalar = int.from_bytes(random(48), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def generate_certificate(
    now: float,
    *,
    common_name: str | None = None,
    validity_days: float = 30.0,
    random: Callable[[int], bytes] = os.urandom,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A fresh P-256 key and a self-signed certificate valid from a day before `now`."""
    private_key = generate_private_key(random)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or random(8).hex())])
    serial = (int.from_bytes(random(16), "big") >> 1) | 1
    not_before = datetime.datetime.fromtimestamp(now - _SECONDS_PER_DAY, datetime.UTC)
    not_after = datetime.datetime.fromtimestamp(
        now + validity_days * _SECONDS_PER_DAY, datetime.UTC
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(private_key, hashes.SHA256(), ecdsa_deterministic=_DETERMINISTIC or None)
    )
    return certificate, private_key


def fingerprint_der(der: bytes) -> str:
    """SHA-256 fingerprint in SDP form: upper-case hex pairs joined by colons."""
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    return fingerprint_der(certificate.public_bytes(serialization.Encoding.DER))


def normalize_fingerprint(value: str) -> str:
    """Accept `sha-256 ab:cd...` or `AB:CD...` and return the canonical form."""
    text = value.strip()
    if text.lower().startswith("sha-256"):
        text = text[len("sha-256") :].strip()
    return text.upper()


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_key_pem(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_certificate_untrusted(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, UnsupportedAlgorithm):
        raise DtlsDecodeError(
            "certificate is not valid DER", AlertDescription.BAD_CERTIFICATE
        ) from None


def ecdsa_public_key_of(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise RemoteProtocolError(
            "unreadable certificate key", AlertDescription.UNSUPPORTED_CERTIFICATE
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise RemoteProtocolError(
            "certificate key is not ECDSA P-256", AlertDescription.UNSUPPORTED_CERTIFICATE
        )
    return key


def sign(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> tuple[int, bytes]:
    """Sign with ecdsa_secp256r1_sha256; returns the scheme and the DER signature."""
    return SignatureScheme.ECDSA_SECP256R1_SHA256, private_key.sign(data, _ecdsa())


def verify_signature(
    public_key: ec.EllipticCurvePublicKey, scheme: int, signature: bytes, data: bytes
) -> None:
    """Raise RemoteProtocolError(decrypt_error) unless `signature` is valid over `data`."""
    if scheme != SignatureScheme.ECDSA_SECP256R1_SHA256:
        raise RemoteProtocolError(
            f"unsupported signature scheme {scheme:#06x}", AlertDescription.ILLEGAL_PARAMETER
        )
    try:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise RemoteProtocolError("bad signature", AlertDescription.DECRYPT_ERROR) from None
