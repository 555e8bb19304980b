"""The TLS 1.2 pseudo-random function and the secrets derived from it.

RFC 5246 section 5:

      P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) +
                             HMAC_hash(secret, A(2) + seed) + ...
      A(0) = seed,  A(i) = HMAC_hash(secret, A(i-1))
      PRF(secret, label, seed) = P_<hash>(secret, label + seed)

Both cipher suites here use SHA-256. Section 8.1 (master secret), RFC 7627 section 4
(extended master secret over the session hash), section 6.3 (key block), 7.4.9
(Finished verify_data, 12 bytes) and RFC 5705 section 4 (keying material exporter).
"""

from __future__ import annotations

import hashlib
import hmac

MASTER_SECRET_LENGTH = 48
VERIFY_DATA_LENGTH = 12


def p_sha256(secret: bytes, seed: bytes, length: int) -> bytes:
    output = bytearray()
    a = seed
    while len(output) < length:
        a = hmac.digest(secret, a, "sha256")
        output += hmac.digest(secret, a + seed, "sha256")
    return bytes(output[:length])


def prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    return p_sha256(secret, label + seed, length)


def master_secret(pre_master_secret: bytes, client_random: bytes, server_random: bytes) -> bytes:
    return prf(
        pre_master_secret, b"master secret", client_random + server_random, MASTER_SECRET_LENGTH
    )


def extended_master_secret(pre_master_secret: bytes, session_hash: bytes) -> bytes:
    return prf(pre_master_secret, b"extended master secret", session_hash, MASTER_SECRET_LENGTH)


def key_block(master: bytes, client_random: bytes, server_random: bytes, length: int) -> bytes:
    # Note the order: server_random first, unlike the master secret.
    return prf(master, b"key expansion", server_random + client_random, length)


def finished_verify_data(master: bytes, sender_is_client: bool, handshake_hash: bytes) -> bytes:
    label = b"client finished" if sender_is_client else b"server finished"
    return prf(master, label, handshake_hash, VERIFY_DATA_LENGTH)


def export_keying_material(
    master: bytes,
    label: bytes,
    client_random: bytes,
    server_random: bytes,
    length: int,
    context: bytes | None = None,
) -> bytes:
    seed = client_random + server_random
    if context is not None:
        seed += len(context).to_bytes(2, "big") + context
    return prf(master, label, seed, length)


def session_hash(handshake_messages: bytes) -> bytes:
    return hashlib.sha256(handshake_messages).digest()
