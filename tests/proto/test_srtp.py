"""SRTP wrapper against an independently keyed pylibsrtp session, both WebRTC profiles."""

from __future__ import annotations

import random as random_module

import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.rtcp import PictureLossIndication
from selkies_trio.proto.rtp import RtpPacket
from selkies_trio.proto.srtp import (
    PROFILE_PARAMETERS,
    SrtpError,
    SrtpLocalProtocolError,
    SrtpProfile,
    SrtpSession,
    keying_material_length,
    split_keying_material,
)

PROFILES = list(SrtpProfile)


def keys_for(profile: SrtpProfile, seed: int) -> tuple[bytes, bytes, bytes, bytes]:
    rng = random_module.Random(seed)
    parameters = PROFILE_PARAMETERS[profile]
    return (
        rng.randbytes(parameters.master_key_length),
        rng.randbytes(parameters.master_salt_length),
        rng.randbytes(parameters.master_key_length),
        rng.randbytes(parameters.master_salt_length),
    )


def independent_session(profile: SrtpProfile, key: bytes, salt: bytes, inbound: bool) -> pylibsrtp.Session:
    libsrtp_profile = {
        SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        SrtpProfile.SRTP_AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    }[profile]
    policy = pylibsrtp.Policy(
        key=key + salt,
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=libsrtp_profile,
    )
    return pylibsrtp.Session(policy)


def rtp(sequence_number: int, payload: bytes = b"frame data " * 20) -> bytes:
    return RtpPacket(102, sequence_number, 3000 * sequence_number, 0x1234, payload).to_bytes()


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_protect_is_readable_by_independent_receiver(profile: SrtpProfile) -> None:
    local_key, local_salt, remote_key, remote_salt = keys_for(profile, 1)
    ours = SrtpSession.from_keying_material(profile, local_key, local_salt, remote_key, remote_salt)
    theirs = independent_session(profile, local_key, local_salt, inbound=True)
    for sequence_number in range(5):
        plain = rtp(sequence_number)
        protected = ours.protect(plain)
        assert protected != plain
        assert len(protected) > len(plain)
        assert theirs.unprotect(protected) == plain
    rtcp = PictureLossIndication(1, 0x1234).to_bytes()
    assert theirs.unprotect_rtcp(ours.protect_rtcp(rtcp)) == rtcp


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_unprotect_reads_independent_sender(profile: SrtpProfile) -> None:
    local_key, local_salt, remote_key, remote_salt = keys_for(profile, 2)
    ours = SrtpSession.from_keying_material(profile, local_key, local_salt, remote_key, remote_salt)
    theirs = independent_session(profile, remote_key, remote_salt, inbound=False)
    plain = rtp(7)
    assert ours.unprotect(theirs.protect(plain)) == plain
    rtcp = PictureLossIndication(9, 8).to_bytes()
    assert ours.unprotect_rtcp(theirs.protect_rtcp(rtcp)) == rtcp


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_tampered_and_replayed_packets_are_rejected(profile: SrtpProfile) -> None:
    local_key, local_salt, remote_key, remote_salt = keys_for(profile, 3)
    ours = SrtpSession.from_keying_material(profile, local_key, local_salt, remote_key, remote_salt)
    theirs = independent_session(profile, remote_key, remote_salt, inbound=False)
    protected = theirs.protect(rtp(1))
    tampered = bytearray(protected)
    tampered[20] ^= 0x01
    with pytest.raises(SrtpError):
        ours.unprotect(bytes(tampered))
    assert ours.unprotect(protected) == rtp(1)
    with pytest.raises(SrtpError):
        ours.unprotect(protected)
    protected_rtcp = bytearray(theirs.protect_rtcp(PictureLossIndication(9, 8).to_bytes()))
    protected_rtcp[9] ^= 0x80
    with pytest.raises(SrtpError):
        ours.unprotect_rtcp(bytes(protected_rtcp))


def test_wrong_keys_fail_authentication() -> None:
    profile = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    keys = keys_for(profile, 4)
    other = keys_for(profile, 5)
    sender = SrtpSession.from_keying_material(profile, *keys)
    receiver = SrtpSession.from_keying_material(profile, other[2], other[3], other[0], other[1])
    with pytest.raises(SrtpError):
        receiver.unprotect(sender.protect(rtp(1)))


def test_short_or_oversize_input_is_srtp_error() -> None:
    profile = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    session = SrtpSession.from_keying_material(profile, *keys_for(profile, 6))
    for bad in (b"", b"\x80\x66\x00", bytes(5)):
        with pytest.raises(SrtpError):
            session.unprotect(bad)
    with pytest.raises(SrtpError):
        session.protect(rtp(1, bytes(1490)))


def test_retransmission_of_same_sequence_is_allowed() -> None:
    profile = SrtpProfile.SRTP_AEAD_AES_128_GCM
    session = SrtpSession.from_keying_material(profile, *keys_for(profile, 7))
    first = session.protect(rtp(10))
    assert session.protect(rtp(10)) == first


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_keying_material_split_pairs_client_and_server(profile: SrtpProfile) -> None:
    material = bytes(range(keying_material_length(profile)))
    client = split_keying_material(profile, material, is_client=True)
    server = split_keying_material(profile, material, is_client=False)
    assert client.local_key == server.remote_key
    assert client.local_salt == server.remote_salt
    parameters = PROFILE_PARAMETERS[profile]
    assert client.local_key == material[: parameters.master_key_length]
    assert server.remote_salt == material[
        2 * parameters.master_key_length : 2 * parameters.master_key_length
        + parameters.master_salt_length
    ]
    client_session = SrtpSession.from_dtls_export(profile, material, is_client=True)
    server_session = SrtpSession.from_dtls_export(profile, material, is_client=False)
    assert server_session.unprotect(client_session.protect(rtp(3))) == rtp(3)
    assert client_session.unprotect(server_session.protect(rtp(4))) == rtp(4)
    with pytest.raises(SrtpLocalProtocolError):
        split_keying_material(profile, material[:-1], is_client=True)


def test_wrong_key_sizes_are_local_errors() -> None:
    profile = SrtpProfile.SRTP_AEAD_AES_128_GCM
    key, salt, remote_key, remote_salt = keys_for(profile, 8)
    with pytest.raises(SrtpLocalProtocolError):
        SrtpSession.from_keying_material(profile, key[:-1], salt, remote_key, remote_salt)
    with pytest.raises(SrtpLocalProtocolError):
        SrtpSession.from_keying_material(profile, key, salt + b"\x00", remote_key, remote_salt)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.booleans())
def test_fuzz_unprotect_raises_only_srtp_error(data: bytes, as_rtcp: bool) -> None:
    profile = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    session = SrtpSession.from_keying_material(profile, *keys_for(profile, 9))
    try:
        (session.unprotect_rtcp if as_rtcp else session.unprotect)(data)
    except SrtpError:
        pass
    else:
        pytest.fail("random bytes passed SRTP authentication")
