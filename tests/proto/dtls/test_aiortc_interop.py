"""Interop with aiortc's RTCDtlsTransport (pyOpenSSL underneath), in both roles.

aiortc runs on asyncio, so this test drives our sans-IO connection from an asyncio
loop too. aiortc's ICE transport is replaced by an in-memory datagram pipe; that is
the only part of aiortc not under test. The SRTP keys are checked end to end: a
packet protected with our exported keys must be accepted by aiortc's SRTP session.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import (
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsParameters,
    RTCDtlsTransport,
)

from selkies_trio.proto.dtls.certificate import certificate_fingerprint
from selkies_trio.proto.dtls.connection import ConnectionState, DtlsConnection
from selkies_trio.proto.dtls.events import ApplicationData, HandshakeComplete
from selkies_trio.proto.dtls.extensions import SrtpProfile

from .conftest import Identity

LIBSRTP_PROFILE = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    SrtpProfile.SRTP_AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}


class DatagramPipe:
    """Stands in for aiortc's RTCIceTransport: just `_send`, `_recv` and `role`."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.to_aiortc: asyncio.Queue[bytes] = asyncio.Queue()
        self.from_aiortc: asyncio.Queue[bytes] = asyncio.Queue()
        self.state = "completed"

    async def _recv(self) -> bytes:
        return await self.to_aiortc.get()

    async def _send(self, data: bytes) -> None:
        self.from_aiortc.put_nowait(data)


class Collector:
    def __init__(self) -> None:
        self.data: asyncio.Queue[bytes] = asyncio.Queue()

    async def _handle_data(self, data: bytes) -> None:
        self.data.put_nowait(data)


async def _drive(
    connection: DtlsConnection, pipe: DatagramPipe, events: asyncio.Queue[Any]
) -> None:
    loop = asyncio.get_running_loop()
    while connection.state is not ConnectionState.CLOSED:
        for datagram in connection.datagrams_to_send(loop.time()):
            pipe.to_aiortc.put_nowait(datagram)
        while (event := connection.next_event()) is not None:
            events.put_nowait(event)
        timer = connection.get_timer()
        timeout = None if timer is None else max(timer - loop.time(), 0.0)
        try:
            data = await asyncio.wait_for(pipe.from_aiortc.get(), timeout)
        except TimeoutError:
            connection.handle_timer(loop.time())
            continue
        connection.receive_datagram_untrusted(data, loop.time())


def _rtp_packet(sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, sequence, 1234, 0xCAFE) + b"payload" * 10


async def _scenario(our_role: str, profile: int, identity: Identity) -> None:
    certificate = RTCCertificate.generateCertificate()
    pipe = DatagramPipe("controlled")
    transport = RTCDtlsTransport(pipe, [certificate])  # type: ignore[arg-type]
    transport._set_role("server" if our_role == "client" else "client")
    collector = Collector()
    transport._register_data_receiver(collector)
    aiortc_fingerprint = next(
        f.value for f in certificate.getFingerprints() if f.algorithm == "sha-256"
    )
    connection = DtlsConnection(
        our_role,  # type: ignore[arg-type]
        identity.certificate,
        identity.private_key,
        aiortc_fingerprint,
        srtp_profiles=(profile,),
    )
    events: asyncio.Queue[Any] = asyncio.Queue()
    connection.start(asyncio.get_running_loop().time())
    driver = asyncio.create_task(_drive(connection, pipe, events))
    try:
        await transport.start(
            RTCDtlsParameters(
                fingerprints=[
                    RTCDtlsFingerprint("sha-256", certificate_fingerprint(identity.certificate))
                ]
            )
        )
        assert transport.state == "connected"
        complete = await events.get()
        assert isinstance(complete, HandshakeComplete)
        assert complete.srtp_profile == profile
        assert complete.remote_fingerprint == aiortc_fingerprint.upper()
        assert transport._ssl.get_protocol_version_name() == "DTLSv1.2"

        connection.send_application_data(b"to aiortc")
        # The driver may be parked waiting for input, so hand the record over here.
        for datagram in connection.datagrams_to_send(asyncio.get_running_loop().time()):
            pipe.to_aiortc.put_nowait(datagram)
        assert await collector.data.get() == b"to aiortc"
        await transport._send_data(b"to selkies")
        assert await events.get() == ApplicationData(b"to selkies")

        keys = connection.srtp_keying_material()
        sender = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=keys.local_key + keys.local_salt,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=LIBSRTP_PROFILE[profile],
            )
        )
        packet = _rtp_packet(1)
        assert transport._rx_srtp.unprotect(sender.protect(packet)) == packet
        receiver = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=keys.remote_key + keys.remote_salt,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=LIBSRTP_PROFILE[profile],
            )
        )
        assert receiver.unprotect(transport._tx_srtp.protect(_rtp_packet(2))) == _rtp_packet(2)
    finally:
        await transport.stop()
        driver.cancel()
        await asyncio.gather(driver, return_exceptions=True)


@pytest.mark.parametrize("our_role", ["client", "server"])
@pytest.mark.parametrize(
    "profile", [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, SrtpProfile.SRTP_AEAD_AES_128_GCM]
)
def test_aiortc_interop(client_identity: Identity, our_role: str, profile: int) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(30):
            await _scenario(our_role, profile, client_identity)

    asyncio.run(bounded())
