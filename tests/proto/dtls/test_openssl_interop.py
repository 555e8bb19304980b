"""Interop with OpenSSL's `openssl s_server` / `s_client` over real UDP on 127.0.0.1.

Our sans-IO connection is driven by a small trio loop; OpenSSL prints the SRTP
keying material it exports (`-keymatexport EXTRACTOR-dtls_srtp`), which must equal ours.
"""

from __future__ import annotations

import re
import shutil
import socket as stdlib_socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from selkies_trio.proto.dtls.alerts import AlertDescription
from selkies_trio.proto.dtls.certificate import (
    certificate_fingerprint,
    certificate_pem,
    generate_certificate,
    private_key_pem,
)
from selkies_trio.proto.dtls.cipher import (
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
)
from selkies_trio.proto.dtls.connection import ConnectionState, DtlsConnection
from selkies_trio.proto.dtls.events import ApplicationData, DtlsError, DtlsEvent, HandshakeComplete
from selkies_trio.proto.dtls.extensions import NamedGroup, SrtpProfile


@pytest.fixture(autouse=True)
def _openssl_is_installed() -> None:
    # scripts/test.sh installs it; a missing peer is a failure, never a skip.
    assert shutil.which("openssl"), "install the openssl CLI (apt package openssl)"


OPENSSL_PROFILE = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: "SRTP_AES128_CM_SHA1_80",
    SrtpProfile.SRTP_AEAD_AES_128_GCM: "SRTP_AEAD_AES_128_GCM",
}
OPENSSL_CIPHER = {
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
}
FROM_US = b"hello from selkies-trio\n"
FROM_OPENSSL = b"hello from openssl\n"


@dataclass
class OpenSslOutput:
    text: bytearray = field(default_factory=bytearray)
    changed: trio.Event = field(default_factory=trio.Event)

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        while chunk := await stream.receive_some(65536):
            self.text += chunk
            self.changed.set()
            self.changed = trio.Event()

    async def wait_for(self, pattern: bytes) -> re.Match[bytes]:
        while (match := re.search(pattern, self.text)) is None:
            await self.changed.wait()
        return match


def _free_udp_port() -> int:
    with stdlib_socket.socket(stdlib_socket.AF_INET, stdlib_socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Driver:
    """Runs our sans-IO connection over a trio UDP socket."""

    connection: DtlsConnection
    sock: trio.socket.SocketType
    peer: tuple[str, int] | None
    received: bytearray = field(default_factory=bytearray)
    established: trio.Event = field(default_factory=trio.Event)
    got_data: trio.Event = field(default_factory=trio.Event)
    closed: trio.Event = field(default_factory=trio.Event)
    events: list[DtlsEvent] = field(default_factory=list)
    # Indices (counted per direction) of handshake datagrams the "link" loses.
    lose_outgoing: frozenset[int] = frozenset()
    lose_incoming: frozenset[int] = frozenset()
    outgoing: int = 0
    incoming: int = 0
    lost: int = 0

    async def flush(self) -> None:
        for datagram in self.connection.datagrams_to_send(trio.current_time()):
            assert self.peer is not None
            index, self.outgoing = self.outgoing, self.outgoing + 1
            if index in self.lose_outgoing:
                self.lost += 1
                continue
            await self.sock.sendto(datagram, self.peer)

    async def send(self, data: bytes) -> None:
        self.connection.send_application_data(data)
        await self.flush()

    async def run(self) -> None:
        """Feed datagrams and timers to the connection until it closes or is cancelled."""
        connection = self.connection
        while connection.state is not ConnectionState.CLOSED:
            await self.flush()
            while (event := connection.next_event()) is not None:
                self.events.append(event)
                if isinstance(event, HandshakeComplete):
                    self.established.set()
                elif isinstance(event, ApplicationData):
                    self.received += event.data
                    if FROM_OPENSSL in self.received:
                        self.got_data.set()
            timer = connection.get_timer()
            with trio.move_on_at(timer if timer is not None else float("inf")):
                data, self.peer = await self.sock.recvfrom(65536)
                index, self.incoming = self.incoming, self.incoming + 1
                if index in self.lose_incoming:
                    self.lost += 1
                    continue
                connection.receive_datagram_untrusted(data, trio.current_time())
                continue
            connection.handle_timer(trio.current_time())
        await self.flush()  # the fatal alert, if any
        while (event := connection.next_event()) is not None:
            self.events.append(event)
        self.closed.set()


@dataclass
class Session:
    driver: Driver
    output: OpenSslOutput
    process: trio.Process
    their_fingerprint: str

    async def send_to_openssl(self, data: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(data)


async def run_with_openssl(
    tmp_path: Path,
    our_role: str,
    scenario: Callable[[Session], Awaitable[None]],
    *,
    expected_fingerprint: str | None = None,
    openssl_certificate: bool = True,
    srtp_profiles: tuple[int, ...] = (SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,),
    cipher_suites: tuple[int, ...] = (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,),
    groups: tuple[int, ...] = (NamedGroup.X25519, NamedGroup.SECP256R1),
    lose_outgoing: frozenset[int] = frozenset(),
    lose_incoming: frozenset[int] = frozenset(),
) -> Session:
    """Start openssl in the other role, run `scenario` under a deadline, then kill openssl."""
    now = time.time()
    ours, our_key = generate_certificate(now)
    theirs, their_key = generate_certificate(now)
    their_pem, their_key_path = tmp_path / "theirs.pem", tmp_path / "theirs.key"
    their_pem.write_bytes(certificate_pem(theirs))
    their_key_path.write_bytes(private_key_pem(their_key))
    connection = DtlsConnection(
        "client" if our_role == "client" else "server",
        ours,
        our_key,
        expected_fingerprint or certificate_fingerprint(theirs),
        srtp_profiles=srtp_profiles,
        cipher_suites=cipher_suites,
        groups=groups,
    )
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    command = ["openssl", "s_server" if our_role == "client" else "s_client", "-dtls1_2"]
    if openssl_certificate:
        command += ["-cert", str(their_pem), "-key", str(their_key_path)]
    elif our_role == "client":
        raise AssertionError("s_server always needs a certificate")
    command += [
        "-use_srtp", ":".join(OPENSSL_PROFILE[p] for p in srtp_profiles),
        "-keymatexport", "EXTRACTOR-dtls_srtp",
        "-keymatexportlen", "60",
        "-cipher", ":".join(OPENSSL_CIPHER[c] for c in cipher_suites),
    ]  # fmt: skip
    peer: tuple[str, int] | None = None
    if our_role == "client":
        port = _free_udp_port()
        command += ["-listen", "-verify", "1", "-naccept", "1", "-accept", f"127.0.0.1:{port}"]
        peer = ("127.0.0.1", port)
    else:
        command += ["-connect", f"127.0.0.1:{sock.getsockname()[1]}"]

    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    driver = Driver(connection, sock, peer, lose_outgoing=lose_outgoing,
                    lose_incoming=lose_incoming)
    session = Session(driver, OpenSslOutput(), process, certificate_fingerprint(theirs))
    try:
        assert process.stdout is not None
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.output.pump, process.stdout)
                if our_role == "client":
                    await session.output.wait_for(rb"ACCEPT")
                connection.start(trio.current_time())
                nursery.start_soon(session.driver.run)
                await scenario(session)
                nursery.cancel_scope.cancel()
    finally:
        process.kill()
        await process.wait()
        sock.close()
    return session


@dataclass
class DataExchange:
    """Once established, data goes both ways and OpenSSL prints its SRTP keys."""

    exported_by_openssl: bytes = b""

    async def scenario(self, session: Session) -> None:
        await session.driver.established.wait()
        await session.driver.send(FROM_US)
        await session.send_to_openssl(FROM_OPENSSL)
        match = await session.output.wait_for(rb"Keying material: ([0-9A-F]+)")
        self.exported_by_openssl = match.group(1)
        await session.output.wait_for(re.escape(FROM_US.strip()))
        await session.driver.got_data.wait()

    def check_keys_agree(self, connection: DtlsConnection) -> None:
        exported = connection.export_keying_material("EXTRACTOR-dtls_srtp", 60)
        assert self.exported_by_openssl.decode() == exported.hex().upper()


@pytest.mark.parametrize(
    ("our_role", "profile", "group", "suite"),
    [
        (
            "client",
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            NamedGroup.X25519,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "client",
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            NamedGroup.SECP256R1,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "server",
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            NamedGroup.SECP256R1,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "server",
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            NamedGroup.X25519,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "server",
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            NamedGroup.X25519,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ],
)
async def test_openssl_interop(
    tmp_path: Path, our_role: str, profile: int, group: int, suite: int
) -> None:
    other_group = NamedGroup.SECP256R1 if group == NamedGroup.X25519 else NamedGroup.X25519
    # As client we state a preference OpenSSL follows; as server we choose alone.
    groups = (group, other_group) if our_role == "client" else (group,)
    exchange = DataExchange()
    session = await run_with_openssl(
        tmp_path,
        our_role,
        exchange.scenario,
        srtp_profiles=(profile,),
        cipher_suites=(suite,),
        groups=groups,
    )
    connection = session.driver.connection
    assert connection.state is ConnectionState.ESTABLISHED
    assert connection.srtp_profile == profile
    assert connection.cipher_suite == suite
    assert connection.key_exchange_group == group
    assert connection.remote_fingerprint == session.their_fingerprint
    exchange.check_keys_agree(connection)


@pytest.mark.parametrize("our_role", ["client", "server"])
async def test_handshake_with_openssl_survives_lost_flights(tmp_path: Path, our_role: str) -> None:
    # The link loses our first datagram (ClientHello, or HelloVerifyRequest) and
    # OpenSSL's second: both retransmission timers must recover (OpenSSL's starts at
    # 1 s and doubles, which bounds how much loss a test can afford); the keys agree.
    exchange = DataExchange()
    session = await run_with_openssl(
        tmp_path, our_role, exchange.scenario,
        lose_outgoing=frozenset({0}), lose_incoming=frozenset({1}),
    )
    connection = session.driver.connection
    assert connection.state is ConnectionState.ESTABLISHED
    assert session.driver.lost == 2
    exchange.check_keys_agree(connection)


@pytest.mark.parametrize("our_role", ["client", "server"])
async def test_openssl_peer_with_unexpected_fingerprint_is_rejected(
    tmp_path: Path, our_role: str
) -> None:
    async def scenario(session: Session) -> None:
        await session.driver.closed.wait()
        await session.output.wait_for(rb"(?i)alert.*bad certificate|bad certificate")

    session = await run_with_openssl(
        tmp_path, our_role, scenario, expected_fingerprint="00:" * 31 + "00"
    )
    events = session.driver.events
    errors = [event for event in events if isinstance(event, DtlsError)]
    assert [error.description for error in errors] == [AlertDescription.BAD_CERTIFICATE]
    assert not any(isinstance(event, HandshakeComplete) for event in events)


async def test_openssl_client_without_certificate_is_rejected(tmp_path: Path) -> None:
    async def scenario(session: Session) -> None:
        await session.driver.closed.wait()
        await session.output.wait_for(rb"(?i)alert.*handshake failure")

    session = await run_with_openssl(tmp_path, "server", scenario, openssl_certificate=False)
    errors = [event for event in session.driver.events if isinstance(event, DtlsError)]
    assert [error.description for error in errors] == [AlertDescription.HANDSHAKE_FAILURE]
    assert "no certificate" in errors[0].reason
