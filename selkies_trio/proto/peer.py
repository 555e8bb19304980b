"""One browser's transport, sans-IO: ICE + DTLS + SRTP + SCTP data channels on one 5-tuple.

Everything is bundled (RFC 8843) and muxed (RFC 5761, RFC 7983), so one
`PeerTransport` sees every datagram of its peer and classifies it by first byte:

    STUN  → the ICE agent          DTLS → the DTLS connection → SCTP (data channels)
    RTCP  → SRTCP unprotect → parsed feedback events (we only send RTP)

We always offer (as Selkies does) with setup:actpass; the browser's answer picks
the DTLS role (it almost always says active, making us the DTLS server). The
DTLS client starts the SCTP association. Keys for SRTP come from the DTLS
exporter (RFC 5764 section 4.2).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from vendor_sctp.association import Association, AssociationConfig

from . import datachannel as dc
from .demux import DatagramKind, classify_datagram
from .dtls import events as dtls_events
from .dtls.certificate import certificate_fingerprint
from .dtls.connection import DtlsConnection
from .ice import IceAgent
from .ice_candidate import IceCandidateDecodeError
from .ice_events import (
    CandidatePairSelected,
    ConsentExpired,
    EndOfLocalCandidates,
    IceConnectionState,
    IceConnectionStateChanged,
    LocalCandidate,
)
from .rtcp import RtcpDecodeError, RtcpPacket, parse_rtcp_compound_untrusted
from .sdp import Fingerprint, SessionDescription
from .srtp import SrtpError, SrtpProfile, SrtpSession

Address = tuple[str, int]

# Our advertised limit for data-channel messages (a=max-message-size).
LOCAL_MAX_MESSAGE_SIZE = 256 * 1024


class PeerLocalProtocolError(Exception):
    """The caller used the transport out of order (e.g. RTP before it is ready)."""


class RemoteDescriptionError(Exception):
    """The browser's description cannot be used; str() says why."""


@dataclass(frozen=True)
class LocalIceCandidate:
    candidate: str | None  # None means end-of-candidates


@dataclass(frozen=True)
class IceStateChanged:
    state: IceConnectionState


@dataclass(frozen=True)
class TransportReady:
    """DTLS is up: SRTP keys are installed and data channels can open."""

    srtp_profile: int
    cipher_suite: int
    dtls_role: str
    remote: Address


@dataclass(frozen=True)
class RtcpReceived:
    packets: tuple[RtcpPacket, ...]


@dataclass(frozen=True)
class DataChannelEventReceived:
    event: dc.DataChannelEvent


@dataclass(frozen=True)
class TransportClosed:
    reason: str


PeerEvent = (
    LocalIceCandidate | IceStateChanged | TransportReady | RtcpReceived
    | DataChannelEventReceived | TransportClosed
)


@dataclass
class PeerStatistics:
    datagrams_received: int = 0
    datagrams_dropped: int = 0
    rtp_sent: int = 0
    rtp_bytes_sent: int = 0
    rtcp_received: int = 0
    srtp_errors: int = 0
    # Remote candidate lines that did not parse (in the answer or trickled); ignored.
    bad_remote_candidates: int = 0


class PeerTransport:
    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        random: Callable[[int], bytes] = os.urandom,
        mtu: int = 1200,
    ) -> None:
        self._certificate = certificate
        self._private_key = private_key
        self._random = random
        self._mtu = mtu
        self.ice = IceAgent(controlling=True, random=random)
        self.local_fingerprint = Fingerprint(
            "sha-256", certificate_fingerprint(certificate).upper()
        )
        self.dtls: DtlsConnection | None = None
        self.srtp: SrtpSession | None = None
        self.datachannels: dc.DataChannelEndpoint | None = None
        self.remote: Address | None = None
        self.closed = False
        self.stats = PeerStatistics()
        self._remote_fingerprint: str | None = None
        self._remote_setup: str | None = None
        self._remote_max_message_size = dc.DEFAULT_REMOTE_MAX_MESSAGE_SIZE
        self._wants_sctp = False
        self._events: deque[PeerEvent] = deque()
        self._outgoing: list[tuple[bytes, Address]] = []

    # ---- description ----------------------------------------------------------------

    @property
    def local_ufrag(self) -> str:
        return self.ice.local_ufrag

    @property
    def local_pwd(self) -> str:
        return self.ice.local_pwd

    @property
    def dtls_role(self) -> Literal["client", "server"] | None:
        if self._remote_setup is None:
            return None
        # The answerer's "active" makes it the DTLS client (RFC 8842 section 5.3).
        return "server" if self._remote_setup == "active" else "client"

    def add_host_address(self, ip: str, port: int) -> str:
        return self.ice.add_host_address(ip, port)

    def finish_gathering(self) -> None:
        self.ice.finish_gathering()
        self._drain_ice()

    @property
    def has_remote_description(self) -> bool:
        return self.dtls is not None

    def set_remote_description(self, description: SessionDescription, now: float) -> None:
        """Apply the browser's answer: ICE credentials, fingerprint, DTLS role, candidates.

        Only once: renegotiation would replace a running DTLS connection, so a second
        answer raises RemoteDescriptionError and leaves the transport as it was.
        A malformed candidate line is skipped (and counted); the others still count.
        """
        if self.closed:
            raise RemoteDescriptionError("the transport is closed")
        if self.has_remote_description:
            raise RemoteDescriptionError("a remote description was already applied")
        bundled = [m for m in description.media if not m.rejected]
        if not bundled:
            raise RemoteDescriptionError("the answer rejected every media section")
        first = bundled[0]
        credentials = description.ice_credentials(first)
        if credentials is None:
            raise RemoteDescriptionError("the answer has no ice-ufrag/ice-pwd")
        fingerprints = [
            f for f in description.fingerprints_for(first) if f.algorithm == "sha-256"
        ]
        if not fingerprints:
            raise RemoteDescriptionError("the answer has no sha-256 fingerprint")
        setup = description.setup_for(first)
        if setup not in ("active", "passive"):
            raise RemoteDescriptionError(f"the answer's setup must be active or passive, not {setup}")
        self._remote_fingerprint = fingerprints[0].value
        self._remote_setup = setup
        for media in bundled:
            if media.kind == "application":
                self._wants_sctp = True
                if media.max_message_size is not None:
                    self._remote_max_message_size = media.max_message_size
        self.ice.set_remote_credentials(*credentials)
        for media in bundled:
            for candidate in media.candidates:
                self._add_remote_candidate(candidate)
            if media.end_of_candidates:
                self.ice.add_remote_candidate(None)
        self.dtls = DtlsConnection(
            self.dtls_role or "server",
            self._certificate,
            self._private_key,
            self._remote_fingerprint,
            mtu=self._mtu,
            random=self._random,
        )
        self.dtls.start(now)
        self._drain_ice()

    def add_remote_candidate(self, candidate: str | None) -> bool:
        """A trickled candidate line (None: end-of-candidates). Returns whether it was
        used; a malformed line is counted and ignored, and so is anything after close."""
        if self.closed:
            return False
        used = self._add_remote_candidate(candidate)
        self._drain_ice()
        return used

    def _add_remote_candidate(self, candidate: str | None) -> bool:
        try:
            return self.ice.add_remote_candidate(candidate)
        except IceCandidateDecodeError:
            self.stats.bad_remote_candidates += 1
            return False

    # ---- sans-IO face ----------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        if self.closed:
            return
        self.stats.datagrams_received += 1
        kind = classify_datagram(data)
        if kind is DatagramKind.STUN:
            self.ice.receive_datagram(data, addr, now)
            self._drain_ice()
        elif kind is DatagramKind.DTLS and self.dtls is not None:
            self.dtls.receive_datagram_untrusted(data, now)
            self._drain_dtls(now)
        elif kind is DatagramKind.RTCP and self.srtp is not None:
            self._receive_rtcp(data)
        else:
            # Browser RTP (we offer sendonly), or anything before keys exist.
            self.stats.datagrams_dropped += 1

    def _receive_rtcp(self, data: bytes) -> None:
        assert self.srtp is not None
        try:
            packets = parse_rtcp_compound_untrusted(self.srtp.unprotect_rtcp(data))
        except SrtpError:
            self.stats.srtp_errors += 1
            return
        except RtcpDecodeError:
            self.stats.datagrams_dropped += 1
            return
        self.stats.rtcp_received += 1
        self._events.append(RtcpReceived(tuple(packets)))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out = self.ice.datagrams_to_send(now)
        if self.datachannels is not None and self.dtls is not None:
            for packet in self.datachannels.packets_to_send(now):
                self.dtls.send_application_data(packet)
        if self.dtls is not None and self.remote is not None:
            out += [(d, self.remote) for d in self.dtls.datagrams_to_send(now)]
        out += self._outgoing
        self._outgoing = []
        return out

    def get_timer(self) -> float | None:
        timers = [self.ice.get_timer()]
        if self.dtls is not None:
            timers.append(self.dtls.get_timer())
        if self.datachannels is not None:
            timers.append(self.datachannels.get_timer())
        present = [t for t in timers if t is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        for timer, handler in (
            (self.ice.get_timer(), self.ice.handle_timer),
            (self.dtls.get_timer() if self.dtls else None,
             self.dtls.handle_timer if self.dtls else None),
            (self.datachannels.get_timer() if self.datachannels else None,
             self.datachannels.handle_timer if self.datachannels else None),
        ):
            if timer is not None and handler is not None and timer <= now:
                handler(now)
        self._drain_ice()
        self._drain_dtls(now)

    def next_event(self) -> PeerEvent | None:
        if self.datachannels is not None:
            while (event := self.datachannels.next_event()) is not None:
                self._events.append(DataChannelEventReceived(event))
                if isinstance(event, dc.TransportClosed):
                    # An aborted association cannot restart without renegotiation, and a
                    # session without its input channel is useless: end the whole peer.
                    self.close(f"SCTP association closed: {event.reason}")
        return self._events.popleft() if self._events else None

    # ---- media -----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.srtp is not None and self.remote is not None and not self.closed

    def send_rtp(self, packet: bytes) -> None:
        """Protect one RTP packet and queue it for the selected pair."""
        if not self.ready:
            raise PeerLocalProtocolError("RTP before the transport is ready")
        assert self.srtp is not None and self.remote is not None
        protected = self.srtp.protect(packet)
        self._outgoing.append((protected, self.remote))
        self.stats.rtp_sent += 1
        self.stats.rtp_bytes_sent += len(protected)

    def send_rtcp(self, packet: bytes) -> None:
        if not self.ready:
            raise PeerLocalProtocolError("RTCP before the transport is ready")
        assert self.srtp is not None and self.remote is not None
        self._outgoing.append((self.srtp.protect_rtcp(packet), self.remote))

    def close(self, reason: str = "closed") -> None:
        if self.closed:
            return
        if self.dtls is not None:
            self.dtls.close()
            if self.remote is not None:
                self._outgoing += [(d, self.remote) for d in self.dtls.datagrams_to_send(0.0)]
        self.ice.close()
        self._closed(reason)

    # ---- internals -------------------------------------------------------------------

    def _closed(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._events.append(TransportClosed(reason))

    def _drain_ice(self) -> None:
        while (event := self.ice.next_event()) is not None:
            if isinstance(event, LocalCandidate):
                self._events.append(LocalIceCandidate(event.candidate))
            elif isinstance(event, EndOfLocalCandidates):
                self._events.append(LocalIceCandidate(None))
            elif isinstance(event, CandidatePairSelected):
                self.remote = event.remote
            elif isinstance(event, IceConnectionStateChanged):
                self._events.append(IceStateChanged(event.state))
                if event.state is IceConnectionState.FAILED:
                    self._closed("ICE failed")
            elif isinstance(event, ConsentExpired):
                self._closed("ICE consent expired")

    def _drain_dtls(self, now: float) -> None:
        if self.dtls is None:
            return
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, dtls_events.HandshakeComplete):
                self._on_handshake_complete(event, now)
            elif isinstance(event, dtls_events.ApplicationData):
                if self.datachannels is not None:
                    self.datachannels.receive_packet(event.data, now)
            elif isinstance(event, dtls_events.DtlsError):
                self._closed(f"DTLS failed: {event.reason}")
            elif isinstance(event, dtls_events.ConnectionClosed):
                self._closed(f"DTLS closed: {event.reason}")
            elif isinstance(event, dtls_events.AlertReceived) and event.level == 2:
                self._closed(f"DTLS fatal alert {event.description}")

    def _on_handshake_complete(self, event: dtls_events.HandshakeComplete, now: float) -> None:
        assert self.dtls is not None and self.remote is not None
        if event.srtp_profile is None:
            self._closed("DTLS negotiated no SRTP profile")
            return
        material = self.dtls.srtp_keying_material()
        self.srtp = SrtpSession.from_keying_material(
            SrtpProfile(material.profile), material.local_key, material.local_salt,
            material.remote_key, material.remote_salt,
        )
        if self._wants_sctp:
            association = Association(
                AssociationConfig(max_message_size=LOCAL_MAX_MESSAGE_SIZE),
                random=self._random,
            )
            self.datachannels = dc.DataChannelEndpoint(
                association,
                is_dtls_client=self.dtls.is_client,
                remote_max_message_size=self._remote_max_message_size,
            )
            if self.dtls.is_client:
                association.connect(now)
        self._events.append(
            TransportReady(event.srtp_profile, event.cipher_suite, self.dtls.role, self.remote)
        )
