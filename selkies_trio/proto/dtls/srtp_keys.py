"""SRTP master keys from the DTLS exporter, RFC 5764 section 4.2.

      client_write_SRTP_master_key[SRTPSecurityParams.master_key_len];
      server_write_SRTP_master_key[SRTPSecurityParams.master_key_len];
      client_write_SRTP_master_salt[SRTPSecurityParams.master_salt_len];
      server_write_SRTP_master_salt[SRTPSecurityParams.master_salt_len];

taken in that order from the keying material exported with the label
"EXTRACTOR-dtls_srtp". Key and salt lengths come from the profile (RFC 5764 4.1.2;
RFC 7714 section 14.2 for AEAD_AES_128_GCM).
"""

from __future__ import annotations

from dataclasses import dataclass

from .extensions import SrtpProfile

SRTP_EXPORTER_LABEL = "EXTRACTOR-dtls_srtp"

# (master key length, master salt length)
SRTP_KEY_SALT_LENGTHS: dict[int, tuple[int, int]] = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: (16, 14),
    SrtpProfile.SRTP_AEAD_AES_128_GCM: (16, 12),
}


@dataclass(frozen=True)
class SrtpKeyingMaterial:
    """SRTP master keys and salts, from one endpoint's point of view."""

    profile: int
    local_key: bytes
    local_salt: bytes
    remote_key: bytes
    remote_salt: bytes


def exported_length(profile: int) -> int:
    key_length, salt_length = SRTP_KEY_SALT_LENGTHS[profile]
    return 2 * (key_length + salt_length)


def split_keying_material(profile: int, material: bytes, is_client: bool) -> SrtpKeyingMaterial:
    key_length, salt_length = SRTP_KEY_SALT_LENGTHS[profile]
    client_key = material[:key_length]
    server_key = material[key_length : 2 * key_length]
    salts = material[2 * key_length :]
    client_salt, server_salt = salts[:salt_length], salts[salt_length : 2 * salt_length]
    if is_client:
        return SrtpKeyingMaterial(profile, client_key, client_salt, server_key, server_salt)
    return SrtpKeyingMaterial(profile, server_key, server_salt, client_key, client_salt)
