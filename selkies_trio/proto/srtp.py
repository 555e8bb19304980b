"""SRTP and SRTCP protection (RFC 3711, RFC 7714) keyed by DTLS-SRTP (RFC 5764 section 4.2).

The cryptography is libsrtp's, through pylibsrtp; this module only fixes the
profiles WebRTC uses, splits the DTLS exporter output into keys, and turns
libsrtp's failures into one typed error.

RFC 5764 section 4.2, the exporter output (label "EXTRACTOR-dtls_srtp")::

    client_write_SRTP_master_key[SRTPSecurityParams.master_key_len];
    server_write_SRTP_master_key[SRTPSecurityParams.master_key_len];
    client_write_SRTP_master_salt[SRTPSecurityParams.master_salt_len];
    server_write_SRTP_master_salt[SRTPSecurityParams.master_salt_len];
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import pylibsrtp

DTLS_SRTP_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


class SrtpError(Exception):
    """A packet could not be protected or failed authentication, replay or decryption."""


class SrtpLocalProtocolError(ValueError):
    """Keys of the wrong size, or an unknown profile."""


class SrtpProfile(enum.IntEnum):
    """DTLS-SRTP protection profile identifiers (RFC 5764 4.1.2, RFC 7714 14.2)."""

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AEAD_AES_128_GCM = 0x0007


@dataclass(frozen=True, slots=True)
class ProfileParameters:
    master_key_length: int
    master_salt_length: int
    libsrtp_profile: int


PROFILE_PARAMETERS: dict[SrtpProfile, ProfileParameters] = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: ProfileParameters(
        16, 14, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    ),
    SrtpProfile.SRTP_AEAD_AES_128_GCM: ProfileParameters(
        16, 12, pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    ),
}


def keying_material_length(profile: SrtpProfile) -> int:
    """How many bytes to ask the DTLS exporter for."""
    parameters = PROFILE_PARAMETERS[profile]
    return 2 * (parameters.master_key_length + parameters.master_salt_length)


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    local_key: bytes
    local_salt: bytes
    remote_key: bytes
    remote_salt: bytes


def split_keying_material(profile: SrtpProfile, material: bytes, *, is_client: bool) -> SrtpKeys:
    """Split DTLS exporter output into our write keys and the peer's (RFC 5764 4.2)."""
    parameters = PROFILE_PARAMETERS[profile]
    key_length, salt_length = parameters.master_key_length, parameters.master_salt_length
    if len(material) != keying_material_length(profile):
        raise SrtpLocalProtocolError(
            f"{profile.name} needs {keying_material_length(profile)} bytes of keying material"
        )
    client_key = material[:key_length]
    server_key = material[key_length : 2 * key_length]
    client_salt = material[2 * key_length : 2 * key_length + salt_length]
    server_salt = material[2 * key_length + salt_length :]
    if is_client:
        return SrtpKeys(client_key, client_salt, server_key, server_salt)
    return SrtpKeys(server_key, server_salt, client_key, client_salt)


class SrtpSession:
    """One direction pair: our outbound streams and the peer's inbound streams, any SSRC."""

    def __init__(self, outbound: pylibsrtp.Session, inbound: pylibsrtp.Session) -> None:
        self._outbound = outbound
        self._inbound = inbound

    @classmethod
    def from_keying_material(
        cls,
        profile: SrtpProfile,
        local_key: bytes,
        local_salt: bytes,
        remote_key: bytes,
        remote_salt: bytes,
        *,
        replay_window_size: int = 1024,
    ) -> SrtpSession:
        parameters = PROFILE_PARAMETERS.get(profile)
        if parameters is None:
            raise SrtpLocalProtocolError(f"unsupported SRTP profile {profile!r}")
        for key, salt in ((local_key, local_salt), (remote_key, remote_salt)):
            if len(key) != parameters.master_key_length:
                raise SrtpLocalProtocolError(
                    f"{profile.name} master key is {parameters.master_key_length} bytes"
                )
            if len(salt) != parameters.master_salt_length:
                raise SrtpLocalProtocolError(
                    f"{profile.name} master salt is {parameters.master_salt_length} bytes"
                )
        outbound_policy = pylibsrtp.Policy(
            key=bytes(local_key) + bytes(local_salt),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=parameters.libsrtp_profile,
        )
        # NACK answers resend a sequence number that was already protected once.
        outbound_policy.allow_repeat_tx = True
        inbound_policy = pylibsrtp.Policy(
            key=bytes(remote_key) + bytes(remote_salt),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=parameters.libsrtp_profile,
        )
        # Video bursts reorder more than libsrtp's default 128-packet window tolerates.
        inbound_policy.window_size = replay_window_size
        try:
            return cls(pylibsrtp.Session(outbound_policy), pylibsrtp.Session(inbound_policy))
        except pylibsrtp.Error as error:
            raise SrtpLocalProtocolError(f"libsrtp rejected the policy: {error}") from error

    @classmethod
    def from_dtls_export(
        cls, profile: SrtpProfile, material: bytes, *, is_client: bool
    ) -> SrtpSession:
        keys = split_keying_material(profile, material, is_client=is_client)
        return cls.from_keying_material(
            profile, keys.local_key, keys.local_salt, keys.remote_key, keys.remote_salt
        )

    def protect(self, rtp_packet: bytes) -> bytes:
        return _call(self._outbound.protect, rtp_packet)

    def protect_rtcp(self, rtcp_packet: bytes) -> bytes:
        return _call(self._outbound.protect_rtcp, rtcp_packet)

    def unprotect(self, srtp_packet: bytes) -> bytes:
        return _call(self._inbound.unprotect, srtp_packet)

    def unprotect_rtcp(self, srtcp_packet: bytes) -> bytes:
        return _call(self._inbound.unprotect_rtcp, srtcp_packet)


def _call(operation: Callable[[bytes], bytes], packet: bytes) -> bytes:
    try:
        result = operation(bytes(packet))
    except (pylibsrtp.Error, ValueError, TypeError) as error:
        # libsrtp reads the header itself; short or oversize input surfaces as ValueError.
        raise SrtpError(str(error)) from error
    return bytes(result)
