"""Key schedule and record protection against published vectors and OpenSSL."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.dtls import prf
from selkies_trio.proto.dtls.cipher import (
    CIPHER_SUITES,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    RecordProtection,
)
from selkies_trio.proto.dtls.errors import DtlsDecodeError

# The TLS 1.2 P_SHA256 vector circulated on the IETF TLS list (msg03416).
PRF_SECRET = bytes.fromhex("9bbe436ba940f017b17652849a71db35")
PRF_SEED = bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c")
PRF_OUTPUT = bytes.fromhex(
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
    "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
    "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
    "87347b66"
)


def test_prf_matches_published_sha256_vector() -> None:
    assert prf.prf(PRF_SECRET, b"test label", PRF_SEED, 100) == PRF_OUTPUT


def test_prf_output_is_a_prefix_for_shorter_lengths() -> None:
    assert prf.prf(PRF_SECRET, b"test label", PRF_SEED, 13) == PRF_OUTPUT[:13]


def _openssl_tls1_prf(secret: bytes, seed: bytes, length: int) -> bytes:
    output = subprocess.run(
        [
            "openssl",
            "kdf",
            "-keylen",
            str(length),
            "-kdfopt",
            "digest:SHA2-256",
            "-kdfopt",
            f"hexsecret:{secret.hex()}",
            "-kdfopt",
            f"hexseed:{seed.hex()}",
            "TLS1-PRF",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    return bytes.fromhex(output.strip().replace(":", ""))


def test_extended_master_secret_and_exporter_agree_with_openssl_prf() -> None:
    assert shutil.which("openssl"), "install the openssl CLI (apt package openssl)"
    pre_master = bytes(range(32))
    session = prf.session_hash(b"handshake messages")
    expected = _openssl_tls1_prf(pre_master, b"extended master secret" + session, 48)
    master = prf.extended_master_secret(pre_master, session)
    assert master == expected
    client_random, server_random = b"c" * 32, b"s" * 32
    exported = prf.export_keying_material(
        master, b"EXTRACTOR-dtls_srtp", client_random, server_random, 60
    )
    seed = b"EXTRACTOR-dtls_srtp" + client_random + server_random
    assert exported == _openssl_tls1_prf(master, seed, 60)


def test_exporter_context_changes_output() -> None:
    master = b"m" * 48
    without = prf.export_keying_material(master, b"label", b"c" * 32, b"s" * 32, 32)
    empty = prf.export_keying_material(master, b"label", b"c" * 32, b"s" * 32, 32, b"")
    assert without != empty


def test_key_block_puts_server_random_first() -> None:
    master = b"k" * 48
    block = prf.key_block(master, b"c" * 32, b"s" * 32, 40)
    assert block == prf.prf(master, b"key expansion", b"s" * 32 + b"c" * 32, 40)


def test_finished_labels_differ_by_sender() -> None:
    digest = prf.session_hash(b"x")
    client = prf.finished_verify_data(b"m" * 48, True, digest)
    server = prf.finished_verify_data(b"m" * 48, False, digest)
    assert len(client) == 12 and client != server


def test_aes_gcm_primitive_known_answer() -> None:
    # McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4.
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    nonce = bytes.fromhex("cafebabefacedbaddecaf888")
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    assert sealed[-16:].hex() == "5bc94fbc3221a5db94fae95ae7121a47"
    assert sealed[:4].hex() == "42831ec2"


def test_chacha20_poly1305_primitive_known_answer() -> None:
    # RFC 8439 section 2.8.2.
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
        b"for the future, sunscreen would be it."
    )
    sealed = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    assert sealed[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert sealed[:8].hex() == "d31a8d34648e60db"


def test_gcm_record_uses_salt_explicit_nonce_and_dtls_aad() -> None:
    suite = CIPHER_SUITES[TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    key, salt = bytes(range(16)), bytes.fromhex("a1a2a3a4")
    protection = RecordProtection(suite, key, salt)
    fragment = protection.encrypt(23, 0xFEFD, 1, 0x0102030405, b"payload")
    explicit = bytes.fromhex("0001000102030405")
    aad = explicit + bytes.fromhex("17fefd0007")
    assert fragment == explicit + AESGCM(key).encrypt(salt + explicit, b"payload", aad)
    assert protection.decrypt_untrusted(23, 0xFEFD, 1, 0x0102030405, fragment) == b"payload"


def test_chacha_record_xors_sequence_into_iv() -> None:
    suite = CIPHER_SUITES[TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
    key, iv = bytes(range(32)), bytes(range(100, 112))
    protection = RecordProtection(suite, key, iv)
    fragment = protection.encrypt(22, 0xFEFD, 1, 7, b"hello")
    # RFC 7905: the 64-bit epoch||sequence, left-padded to 96 bits, XORed into the IV.
    padded = bytes.fromhex("000000000001000000000007")
    nonce = bytes(a ^ b for a, b in zip(iv, padded, strict=True))
    aad = bytes.fromhex("0001000000000007") + bytes.fromhex("16fefd0005")
    assert fragment == ChaCha20Poly1305(key).encrypt(nonce, b"hello", aad)


@pytest.mark.parametrize(
    "suite_code",
    [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
)
def test_tampered_or_misplaced_records_fail_authentication(suite_code: int) -> None:
    suite = CIPHER_SUITES[suite_code]
    protection = RecordProtection(suite, b"k" * suite.key_length, b"i" * suite.fixed_iv_length)
    fragment = protection.encrypt(23, 0xFEFD, 1, 5, b"secret data")
    flipped = bytearray(fragment)
    flipped[-1] ^= 1
    bad_inputs = [
        (23, 1, 5, bytes(flipped)),
        (23, 1, 6, fragment),  # replayed under another sequence number
        (22, 1, 5, fragment),  # another content type
        (23, 2, 5, fragment),  # another epoch
        (23, 1, 5, fragment[:10]),
        (23, 1, 5, b""),
    ]
    for content_type, epoch, sequence, data in bad_inputs:
        with pytest.raises(DtlsDecodeError):
            protection.decrypt_untrusted(content_type, 0xFEFD, epoch, sequence, data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80), sequence=st.integers(0, 2**48 - 1))
def test_decrypt_of_random_bytes_only_raises_decode_error(data: bytes, sequence: int) -> None:
    suite = CIPHER_SUITES[TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    protection = RecordProtection(suite, b"k" * 16, b"salt")
    with pytest.raises(DtlsDecodeError):
        protection.decrypt_untrusted(23, 0xFEFD, 1, sequence, data)
