"""Ephemeral ECDH over X25519 and P-256, RFC 8422 sections 5.4 and 5.10.

Points travel as `opaque point<1..2^8-1>`: 32 raw bytes for X25519 (RFC 7748), the
65-byte uncompressed form 0x04||X||Y for P-256 (SEC 1 section 2.3.3). The premaster
secret is the shared X coordinate (P-256) or the X25519 output; an all-zero X25519
output (a low-order peer point) is rejected.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from .alerts import AlertDescription
from .certificate import generate_private_key
from .errors import DtlsDecodeError
from .extensions import NamedGroup

SUPPORTED_GROUPS = (NamedGroup.X25519, NamedGroup.SECP256R1)


class KeyShare:
    """Our ephemeral key for one handshake."""

    def __init__(self, group: int, random: Callable[[int], bytes] = os.urandom) -> None:
        self.group = group
        self._x25519: x25519.X25519PrivateKey | None = None
        self._p256: ec.EllipticCurvePrivateKey | None = None
        if group == NamedGroup.X25519:
            self._x25519 = x25519.X25519PrivateKey.from_private_bytes(random(32))
            self.public = self._x25519.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        elif group == NamedGroup.SECP256R1:
            self._p256 = generate_private_key(random)
            self.public = self._p256.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        else:
            raise ValueError(f"unsupported group {group}")

    def shared_secret_untrusted(self, peer_public: bytes) -> bytes:
        try:
            if self._x25519 is not None:
                if len(peer_public) != 32:
                    raise ValueError("X25519 point must be 32 bytes")
                peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
                secret = self._x25519.exchange(peer)
                if not any(secret):
                    raise ValueError("low-order X25519 point")
                return secret
            assert self._p256 is not None
            if len(peer_public) != 65 or peer_public[0] != 4:
                raise ValueError("P-256 point must be uncompressed")
            peer_p256 = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
            return self._p256.exchange(ec.ECDH(), peer_p256)
        except ValueError as error:
            raise DtlsDecodeError(
                f"bad ECDH public value: {error}", AlertDescription.ILLEGAL_PARAMETER
            ) from None
