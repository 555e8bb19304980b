"""AEAD record protection for DTLS 1.2.

AES-128-GCM, RFC 5288 section 3 (with RFC 6347 section 4.1.2.1 for the DTLS sequence):

      struct {
         opaque salt[4];          -- client_write_IV / server_write_IV
         opaque nonce_explicit[8];
      } GCMNonce;
      GenericAEADCipher.content = nonce_explicit || aead_ciphertext(+16-byte tag)

ChaCha20-Poly1305, RFC 7905 section 2: the 12-byte nonce is the write IV XORed with the
64-bit epoch||sequence_number left-padded with zeros; no explicit nonce is sent.

In both, the additional data is (RFC 5246 section 6.2.3.3, DTLS form)

      additional_data = epoch + seq_num + TLSCompressed.type +
                        TLSCompressed.version + TLSCompressed.length
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from .alerts import AlertDescription
from .errors import DtlsDecodeError

TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF

TAG_LENGTH = 16


@dataclass(frozen=True)
class CipherSuiteParameters:
    code: int
    key_length: int
    fixed_iv_length: int
    explicit_nonce_length: int

    @property
    def record_overhead(self) -> int:
        """Bytes a protected record adds to the plaintext."""
        return self.explicit_nonce_length + TAG_LENGTH


CIPHER_SUITES: dict[int, CipherSuiteParameters] = {
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: CipherSuiteParameters(
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 16, 4, 8
    ),
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: CipherSuiteParameters(
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 32, 12, 0
    ),
}


def _additional_data(
    epoch: int, sequence_number: int, content_type: int, version: int, length: int
) -> bytes:
    return (
        epoch.to_bytes(2, "big")
        + sequence_number.to_bytes(6, "big")
        + bytes((content_type,))
        + version.to_bytes(2, "big")
        + length.to_bytes(2, "big")
    )


class RecordProtection:
    """Protects records in one direction of one epoch."""

    def __init__(self, suite: CipherSuiteParameters, key: bytes, write_iv: bytes) -> None:
        self.suite = suite
        self._write_iv = write_iv
        self._aead: AESGCM | ChaCha20Poly1305
        if suite.code == TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
            self._aead = AESGCM(key)
        else:
            self._aead = ChaCha20Poly1305(key)

    def _nonce(self, epoch_and_sequence: bytes) -> bytes:
        if self.suite.explicit_nonce_length:
            return self._write_iv + epoch_and_sequence
        padded = int.from_bytes(epoch_and_sequence, "big")
        return (int.from_bytes(self._write_iv, "big") ^ padded).to_bytes(12, "big")

    def encrypt(
        self, content_type: int, version: int, epoch: int, sequence_number: int, plaintext: bytes
    ) -> bytes:
        # The explicit GCM nonce is the record's epoch and sequence: unique per key by design.
        epoch_and_sequence = epoch.to_bytes(2, "big") + sequence_number.to_bytes(6, "big")
        aad = _additional_data(epoch, sequence_number, content_type, version, len(plaintext))
        sealed = self._aead.encrypt(self._nonce(epoch_and_sequence), plaintext, aad)
        if self.suite.explicit_nonce_length:
            return epoch_and_sequence + sealed
        return sealed

    def decrypt_untrusted(
        self, content_type: int, version: int, epoch: int, sequence_number: int, fragment: bytes
    ) -> bytes:
        explicit = self.suite.explicit_nonce_length
        if len(fragment) < explicit + TAG_LENGTH:
            raise DtlsDecodeError("protected record too short", AlertDescription.BAD_RECORD_MAC)
        if explicit:
            nonce_part = fragment[:explicit]
        else:
            nonce_part = epoch.to_bytes(2, "big") + sequence_number.to_bytes(6, "big")
        sealed = fragment[explicit:]
        aad = _additional_data(
            epoch, sequence_number, content_type, version, len(sealed) - TAG_LENGTH
        )
        try:
            return self._aead.decrypt(self._nonce(nonce_part), sealed, aad)
        except InvalidTag:
            raise DtlsDecodeError(
                "record authentication failed", AlertDescription.BAD_RECORD_MAC
            ) from None
