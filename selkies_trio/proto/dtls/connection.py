"""The DTLS 1.2 connection state machine for WebRTC, both roles, sans-IO.

Full handshake with a stateless cookie exchange (RFC 6347 section 4.2.1) and mutual
certificate authentication against SDP fingerprints (RFC 8842 section 5):

      Client                                          Server
      ------                                          ------
      ClientHello             -------->                           Flight 1
                              <--------   HelloVerifyRequest      Flight 2
      ClientHello (cookie)    -------->                           Flight 3
                                                 ServerHello      \\
                                                 Certificate       \\
                                           ServerKeyExchange        Flight 4
                                          CertificateRequest       /
                              <--------      ServerHelloDone      /
      Certificate                                                 \\
      ClientKeyExchange                                            \\
      CertificateVerify                                             Flight 5
      [ChangeCipherSpec]                                           /
      Finished                -------->                           /
                                          [ChangeCipherSpec]      \\ Flight 6
                              <--------             Finished      /

Flights are retransmitted on a timer (section 4.2.4.1: 1 s, doubling, capped) and when
the peer's previous flight shows up again. Records that fail to decode or authenticate
are dropped and counted (section 4.1.2.7); a peer that breaks the handshake gets a
fatal alert and the connection closes.
"""

from __future__ import annotations

import hmac
import os
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import messages as m
from . import prf
from .alerts import AlertDescription, AlertLevel, encode_alert
from .certificate import (
    ecdsa_public_key_of,
    fingerprint_der,
    load_certificate_untrusted,
    normalize_fingerprint,
    sign,
    verify_signature,
)
from .cipher import (
    CIPHER_SUITES,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    RecordProtection,
)
from .errors import DtlsDecodeError, LocalProtocolError, RemoteProtocolError
from .events import (
    AlertReceived,
    ApplicationData,
    ConnectionClosed,
    DtlsError,
    DtlsEvent,
    HandshakeComplete,
)
from .extensions import NamedGroup, SignatureScheme, SrtpProfile
from .flight import FlightItem, OutgoingChangeCipherSpec, OutgoingMessage, RecordWriter, pack_flight
from .handshake import (
    HANDSHAKE_HEADER_LENGTH,
    HandshakeMessage,
    HandshakeType,
    Reassembler,
    parse_fragments_untrusted,
    split_message,
)
from .hello import (
    ClientHelloPolicy,
    NegotiatedHello,
    build_client_hello,
    check_server_hello,
    hello_cookie,
    negotiate_client_hello,
)
from .keyexchange import SUPPORTED_GROUPS, KeyShare
from .record import (
    DTLS_1_0,
    MAX_PLAINTEXT_LENGTH,
    ContentType,
    Record,
    ReplayWindow,
    parse_datagram_untrusted,
)
from .srtp_keys import (
    SRTP_EXPORTER_LABEL,
    SrtpKeyingMaterial,
    exported_length,
    split_keying_material,
)

DEFAULT_CIPHER_SUITES = (
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
)
DEFAULT_SRTP_PROFILES = (SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80)
_MAX_HELLO_VERIFY_REQUESTS = 8
_MAX_BUFFERED_RECORDS = 32
_MIN_MTU = 256


class ConnectionState(Enum):
    IDLE = "idle"
    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"
    CLOSED = "closed"


class _Step(Enum):
    """The next thing the handshake waits for."""

    CLIENT_HELLO = "ClientHello"
    SERVER_HELLO = "ServerHello"
    CERTIFICATE = "Certificate"
    SERVER_KEY_EXCHANGE = "ServerKeyExchange"
    CERTIFICATE_REQUEST_OR_DONE = "CertificateRequest or ServerHelloDone"
    SERVER_HELLO_DONE = "ServerHelloDone"
    CLIENT_KEY_EXCHANGE = "ClientKeyExchange"
    CERTIFICATE_VERIFY = "CertificateVerify"
    FINISHED = "Finished"
    DONE = "done"


class DtlsConnection:
    """One DTLS 1.2 association with one peer, as client or server.

    Feed it whole UDP datagrams with `receive_datagram_untrusted`, send what
    `datagrams_to_send` returns, call `handle_timer` at `get_timer`, and drain
    `next_event`. The peer's certificate must hash to `expected_remote_fingerprint`
    (the SDP `a=fingerprint:sha-256` value); no other certificate check applies.
    """

    def __init__(
        self,
        role: Literal["client", "server"],
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        expected_remote_fingerprint: str,
        *,
        srtp_profiles: tuple[int, ...] = DEFAULT_SRTP_PROFILES,
        cipher_suites: tuple[int, ...] = DEFAULT_CIPHER_SUITES,
        groups: tuple[int, ...] = SUPPORTED_GROUPS,
        mtu: int = 1200,
        random: Callable[[int], bytes] = os.urandom,
        cookie_secret: bytes | None = None,
        handshake_timeout: float = 90.0,
        initial_retransmit_timeout: float = 1.0,
        max_retransmit_timeout: float = 60.0,
    ) -> None:
        if role not in ("client", "server"):
            raise LocalProtocolError(f"role must be 'client' or 'server', not {role!r}")
        if mtu < _MIN_MTU:
            raise LocalProtocolError(f"mtu must be at least {_MIN_MTU}")
        unknown = [suite for suite in cipher_suites if suite not in CIPHER_SUITES]
        if unknown or not cipher_suites:
            raise LocalProtocolError(f"unsupported cipher suites {unknown}")
        self.role = role
        self.is_client = role == "client"
        self._certificate_der = certificate.public_bytes(serialization.Encoding.DER)
        self._private_key = private_key
        self._expected_fingerprint = normalize_fingerprint(expected_remote_fingerprint)
        if self.is_client and NamedGroup.SECP256R1 not in groups:
            # supported_groups also names the curves whose certificates we accept
            # (RFC 8422 section 5.1.1): without P-256 a server cannot use its ECDSA key.
            groups = (*groups, NamedGroup.SECP256R1)
        self._policy = ClientHelloPolicy(
            cipher_suites=cipher_suites, groups=groups, srtp_profiles=srtp_profiles
        )
        self.mtu = mtu
        self._random = random
        self._cookie_secret = cookie_secret if cookie_secret is not None else random(32)
        self._handshake_timeout = handshake_timeout
        self._initial_timeout = initial_retransmit_timeout
        self._max_timeout = max_retransmit_timeout

        self.state = ConnectionState.IDLE
        self._step = _Step.SERVER_HELLO if self.is_client else _Step.CLIENT_HELLO
        self._events: deque[DtlsEvent] = deque()
        self._outgoing: list[bytes] = []
        self.dropped_records = 0

        self._writer = RecordWriter()
        self._write_epoch = 0
        self._read_epoch = 0
        self._read_protection: dict[int, RecordProtection] = {}
        self._replay: dict[int, ReplayWindow] = {0: ReplayWindow()}
        self._future_records: list[Record] = []
        self._early_application_data: list[bytes] = []
        self._peer_change_cipher_spec = False

        self._reassembler = Reassembler()
        self._send_seq = 0
        self._transcript = bytearray()
        self._flight: list[FlightItem] = []
        self._retransmit_at: float | None = None
        self._retransmit_interval = initial_retransmit_timeout
        self._deadline: float | None = None
        self._last_triggered_retransmit = -1e300
        self._peer_replayed_flight = False

        self._client_random = b""
        self._server_random = b""
        self._hello_verify_count = 0
        self._client_hello_record_sequence = 0
        self._negotiated: NegotiatedHello | None = None
        self._key_share: KeyShare | None = None
        self._peer_public_key: ec.EllipticCurvePublicKey | None = None
        self._certificate_requested = False
        self._pre_master_secret = b""
        self._master_secret = b""
        self.remote_fingerprint: str | None = None
        self.remote_certificate: x509.Certificate | None = None

    # ----------------------------------------------------------------- public face

    @property
    def cipher_suite(self) -> int | None:
        return self._negotiated.cipher_suite if self._negotiated else None

    @property
    def key_exchange_group(self) -> int | None:
        return self._key_share.group if self._key_share else None

    @property
    def srtp_profile(self) -> int | None:
        return self._negotiated.srtp_profile if self._negotiated else None

    def start(self, now: float) -> None:
        """Begin the handshake: a client sends its first flight; a server waits."""
        if self.state is not ConnectionState.IDLE:
            raise LocalProtocolError("start() called twice")
        self.state = ConnectionState.HANDSHAKING
        if not self.is_client:
            return
        self._deadline = now + self._handshake_timeout
        self._client_random = self._random(m.RANDOM_LENGTH)
        self._send_client_hello(b"", now)

    def receive_datagram_untrusted(self, data: bytes, now: float) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is ConnectionState.IDLE:
            if self.is_client:
                return
            self.state = ConnectionState.HANDSHAKING
        try:
            records = parse_datagram_untrusted(data)
        except DtlsDecodeError:
            self.dropped_records += 1
            return
        self._peer_replayed_flight = False
        try:
            for record in records:
                self._receive_record(record, now)
                if self.state is ConnectionState.CLOSED:
                    return
            if self._peer_replayed_flight:
                self._retransmit_on_peer_request(now)
        except RemoteProtocolError as error:
            self._fail(error.alert, str(error))

    def datagrams_to_send(self, now: float) -> list[bytes]:
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def get_timer(self) -> float | None:
        if self.state is not ConnectionState.HANDSHAKING:
            return None
        candidates = [t for t in (self._retransmit_at, self._deadline) if t is not None]
        return min(candidates) if candidates else None

    def handle_timer(self, now: float) -> None:
        if self.state is not ConnectionState.HANDSHAKING:
            return
        if self._deadline is not None and now >= self._deadline:
            self._fail(AlertDescription.HANDSHAKE_FAILURE, "handshake timed out")
            return
        if self._retransmit_at is not None and now >= self._retransmit_at:
            self._transmit_flight()
            self._retransmit_interval = min(self._retransmit_interval * 2, self._max_timeout)
            self._retransmit_at = now + self._retransmit_interval

    def next_event(self) -> DtlsEvent | None:
        return self._events.popleft() if self._events else None

    def send_application_data(self, data: bytes) -> None:
        if self.state is not ConnectionState.ESTABLISHED:
            raise LocalProtocolError(f"cannot send application data while {self.state.value}")
        if len(data) > MAX_PLAINTEXT_LENGTH:
            raise LocalProtocolError("application data exceeds one record (16384 bytes)")
        record = self._writer.seal(ContentType.APPLICATION_DATA, self._write_epoch, data)
        self._outgoing.append(record)

    def close(self) -> None:
        """Send close_notify and close; further input is ignored."""
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is not ConnectionState.IDLE:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
        self._close("closed locally")

    def export_keying_material(
        self, label: str, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 exporter over the negotiated master secret."""
        if self._step is not _Step.DONE:
            raise LocalProtocolError("no keys before the handshake completes")
        return prf.export_keying_material(
            self._master_secret,
            label.encode(),
            self._client_random,
            self._server_random,
            length,
            context,
        )

    def srtp_keying_material(self) -> SrtpKeyingMaterial:
        """Keys and salts for the negotiated SRTP profile (RFC 5764 section 4.2 order)."""
        profile = self.srtp_profile
        if profile is None or self._step is not _Step.DONE:
            raise LocalProtocolError("no SRTP profile negotiated")
        material = self.export_keying_material(SRTP_EXPORTER_LABEL, exported_length(profile))
        return split_keying_material(profile, material, self.is_client)

    # ----------------------------------------------------------------- record layer

    def _receive_record(self, record: Record, now: float) -> None:
        if record.epoch > self._read_epoch:
            if record.epoch == self._read_epoch + 1 and len(self._future_records) < (
                _MAX_BUFFERED_RECORDS
            ):
                self._future_records.append(record)
            else:
                self.dropped_records += 1
            return
        replay = self._replay.get(record.epoch)
        if replay is None or not replay.is_fresh(record.sequence_number):
            self.dropped_records += 1
            return
        plaintext = record.fragment
        protection = self._read_protection.get(record.epoch)
        if protection is not None:
            try:
                plaintext = protection.decrypt_untrusted(
                    record.content_type,
                    record.version,
                    record.epoch,
                    record.sequence_number,
                    record.fragment,
                )
            except DtlsDecodeError:
                self.dropped_records += 1
                return
        elif record.epoch != 0:
            self.dropped_records += 1
            return
        replay.mark(record.sequence_number)
        stale = record.epoch < self._read_epoch
        if record.content_type == ContentType.HANDSHAKE:
            self._receive_handshake_record(plaintext, now, record.sequence_number)
        elif stale:
            # Old-epoch alerts and data could be forged by anyone once keys are in use.
            self.dropped_records += 1
        elif record.content_type == ContentType.CHANGE_CIPHER_SPEC:
            self._receive_change_cipher_spec(plaintext, now)
        elif record.content_type == ContentType.ALERT:
            self._receive_alert(plaintext)
        elif record.content_type == ContentType.APPLICATION_DATA:
            self._receive_application_data(plaintext)

    def _receive_change_cipher_spec(self, payload: bytes, now: float) -> None:
        if payload != b"\x01":
            raise DtlsDecodeError("malformed ChangeCipherSpec")
        self._peer_change_cipher_spec = True
        self._maybe_activate_read_epoch(now)

    def _maybe_activate_read_epoch(self, now: float) -> None:
        """Switch to epoch 1 once the peer's CCS is in and only Finished is missing."""
        if not self._peer_change_cipher_spec or self._step is not _Step.FINISHED:
            return
        if self._read_epoch != 0:
            return
        self._read_epoch = 1
        self._replay[1] = ReplayWindow()
        pending, self._future_records = self._future_records, []
        for record in pending:
            if record.epoch == 1:
                self._receive_record(record, now)

    def _receive_alert(self, payload: bytes) -> None:
        if len(payload) != 2:
            self.dropped_records += 1
            return
        level, description = payload
        self._events.append(AlertReceived(level, description))
        if description == AlertDescription.CLOSE_NOTIFY:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
            self._close("peer sent close_notify")
        elif level == AlertLevel.FATAL:
            self._close(f"peer sent fatal alert {_alert_name(description)}")

    def _receive_application_data(self, payload: bytes) -> None:
        if self.state is ConnectionState.ESTABLISHED:
            self._events.append(ApplicationData(payload))
        elif self._read_epoch > 0 and len(self._early_application_data) < _MAX_BUFFERED_RECORDS:
            self._early_application_data.append(payload)
        else:
            self.dropped_records += 1

    def _send_alert(self, level: int, description: int) -> None:
        payload = encode_alert(level, description)
        self._outgoing.append(self._writer.seal(ContentType.ALERT, self._write_epoch, payload))

    def _fail(self, description: int, reason: str) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        self._send_alert(AlertLevel.FATAL, description)
        self._events.append(DtlsError(description, reason))
        self._close(reason)

    def _close(self, reason: str) -> None:
        self.state = ConnectionState.CLOSED
        self._retransmit_at = None
        self._deadline = None
        self._flight = []
        self._events.append(ConnectionClosed(reason))

    # ----------------------------------------------------------------- flights

    def _queue_message(self, items: list[FlightItem], msg_type: int, body: bytes) -> None:
        message = HandshakeMessage(msg_type, self._send_seq, body)
        self._send_seq += 1
        self._transcript += message.transcript_bytes()
        items.append(OutgoingMessage(message, self._write_epoch))

    def _send_flight(self, items: list[FlightItem], now: float, expect_reply: bool) -> None:
        self._flight = items
        self._transmit_flight()
        self._retransmit_interval = self._initial_timeout
        self._retransmit_at = now + self._initial_timeout if expect_reply else None

    def _transmit_flight(self) -> None:
        self._outgoing.extend(pack_flight(self._flight, self._writer, self.mtu))

    def _retransmit_on_peer_request(self, now: float) -> None:
        # The peer resent its previous flight, so ours was lost (section 4.2.4). Answer
        # at most a few times per timeout so a burst of duplicates cannot amplify.
        if not self._flight or now - self._last_triggered_retransmit < self._initial_timeout / 4:
            return
        self._last_triggered_retransmit = now
        self._transmit_flight()

    # ----------------------------------------------------------------- handshake

    def _receive_handshake_record(self, plaintext: bytes, now: float, sequence: int) -> None:
        try:
            fragments = parse_fragments_untrusted(plaintext)
        except DtlsDecodeError:
            self.dropped_records += 1
            return
        for fragment in fragments:
            if fragment.msg_type == HandshakeType.CLIENT_HELLO:
                self._client_hello_record_sequence = sequence
            # A stateless server follows whichever ClientHello the client is on.
            if (
                self._step is _Step.CLIENT_HELLO
                and fragment.msg_type == HandshakeType.CLIENT_HELLO
                and fragment.message_seq != self._reassembler.next_seq
            ):
                self._reassembler.reset(fragment.message_seq)
            if not self._reassembler.add(fragment):
                self._peer_replayed_flight = True
        while self.state is not ConnectionState.CLOSED:
            message = self._reassembler.pop_message()
            if message is None:
                break
            self._dispatch(message, now)

    def _dispatch(self, message: HandshakeMessage, now: float) -> None:
        step = self._step
        kind = message.msg_type
        if step is _Step.CLIENT_HELLO:
            if kind == HandshakeType.CLIENT_HELLO:
                self._server_receive_client_hello(message, now)
            else:
                self.dropped_records += 1
            return
        if step is _Step.DONE:
            self._receive_post_handshake(message)
            return
        handlers: dict[tuple[_Step, int], Callable[[HandshakeMessage, float], None]] = {
            (_Step.SERVER_HELLO, HandshakeType.HELLO_VERIFY_REQUEST): self._client_receive_hvr,
            (_Step.SERVER_HELLO, HandshakeType.SERVER_HELLO): self._client_receive_server_hello,
            (_Step.CERTIFICATE, HandshakeType.CERTIFICATE): self._receive_certificate,
            (_Step.SERVER_KEY_EXCHANGE, HandshakeType.SERVER_KEY_EXCHANGE): (
                self._client_receive_server_key_exchange
            ),
            (_Step.CERTIFICATE_REQUEST_OR_DONE, HandshakeType.CERTIFICATE_REQUEST): (
                self._client_receive_certificate_request
            ),
            (_Step.CERTIFICATE_REQUEST_OR_DONE, HandshakeType.SERVER_HELLO_DONE): (
                self._client_receive_server_hello_done
            ),
            (_Step.SERVER_HELLO_DONE, HandshakeType.SERVER_HELLO_DONE): (
                self._client_receive_server_hello_done
            ),
            (_Step.CLIENT_KEY_EXCHANGE, HandshakeType.CLIENT_KEY_EXCHANGE): (
                self._server_receive_client_key_exchange
            ),
            (_Step.CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
                self._server_receive_certificate_verify
            ),
            (_Step.FINISHED, HandshakeType.FINISHED): self._receive_finished,
        }
        handler = handlers.get((step, kind))
        if handler is None:
            raise RemoteProtocolError(
                f"expected {step.value}, got handshake type {kind}",
                AlertDescription.UNEXPECTED_MESSAGE,
            )
        handler(message, now)

    def _receive_post_handshake(self, message: HandshakeMessage) -> None:
        if message.msg_type in (HandshakeType.HELLO_REQUEST, HandshakeType.CLIENT_HELLO):
            self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
        else:
            self.dropped_records += 1

    # client side

    def _send_client_hello(self, cookie: bytes, now: float) -> None:
        hello = build_client_hello(self._policy, self._client_random, cookie)
        self._transcript = bytearray()  # the hello before a cookie is not hashed (4.2.1)
        items: list[FlightItem] = []
        self._queue_message(items, HandshakeType.CLIENT_HELLO, hello.encode())
        self._send_flight(items, now, expect_reply=True)

    def _client_receive_hvr(self, message: HandshakeMessage, now: float) -> None:
        request = m.parse_hello_verify_request_untrusted(message.body)
        self._hello_verify_count += 1
        if self._hello_verify_count > _MAX_HELLO_VERIFY_REQUESTS:
            raise RemoteProtocolError("too many HelloVerifyRequests")
        self._send_client_hello(request.cookie, now)

    def _client_receive_server_hello(self, message: HandshakeMessage, now: float) -> None:
        hello = m.parse_server_hello_untrusted(message.body)
        self._negotiated = check_server_hello(self._policy, hello)
        self._server_random = hello.random
        self._transcript += message.transcript_bytes()
        self._step = _Step.CERTIFICATE

    def _receive_certificate(self, message: HandshakeMessage, now: float) -> None:
        chain = m.parse_certificate_untrusted(message.body).certificate_list
        if not chain:
            raise RemoteProtocolError(
                "peer sent no certificate", AlertDescription.HANDSHAKE_FAILURE
            )
        fingerprint = fingerprint_der(chain[0])
        if not hmac.compare_digest(fingerprint, self._expected_fingerprint):
            raise RemoteProtocolError(
                f"certificate fingerprint {fingerprint} does not match the SDP fingerprint",
                AlertDescription.BAD_CERTIFICATE,
            )
        certificate = load_certificate_untrusted(chain[0])
        self._peer_public_key = ecdsa_public_key_of(certificate)
        self.remote_certificate = certificate
        self.remote_fingerprint = fingerprint
        self._transcript += message.transcript_bytes()
        self._step = _Step.SERVER_KEY_EXCHANGE if self.is_client else _Step.CLIENT_KEY_EXCHANGE

    def _client_receive_server_key_exchange(self, message: HandshakeMessage, now: float) -> None:
        exchange = m.parse_server_key_exchange_untrusted(message.body)
        if exchange.named_curve not in self._policy.groups:
            raise RemoteProtocolError(
                "server chose a group we did not offer", AlertDescription.ILLEGAL_PARAMETER
            )
        assert self._peer_public_key is not None
        signed = self._client_random + self._server_random + exchange.signed_params()
        verify_signature(
            self._peer_public_key, exchange.signature_scheme, exchange.signature, signed
        )
        self._key_share = KeyShare(exchange.named_curve, self._random)
        self._pre_master_secret = self._key_share.shared_secret_untrusted(exchange.public)
        self._transcript += message.transcript_bytes()
        self._step = _Step.CERTIFICATE_REQUEST_OR_DONE

    def _client_receive_certificate_request(self, message: HandshakeMessage, now: float) -> None:
        request = m.parse_certificate_request_untrusted(message.body)
        if (
            m.CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN not in request.certificate_types
            or SignatureScheme.ECDSA_SECP256R1_SHA256 not in request.supported_signature_algorithms
        ):
            raise RemoteProtocolError(
                "server does not accept ecdsa_secp256r1_sha256 client certificates"
            )
        self._certificate_requested = True
        self._transcript += message.transcript_bytes()
        self._step = _Step.SERVER_HELLO_DONE

    def _client_receive_server_hello_done(self, message: HandshakeMessage, now: float) -> None:
        m.parse_server_hello_done_untrusted(message.body)
        self._transcript += message.transcript_bytes()
        assert self._key_share is not None
        items: list[FlightItem] = []
        if self._certificate_requested:
            certificate = m.Certificate([self._certificate_der])
            self._queue_message(items, HandshakeType.CERTIFICATE, certificate.encode())
        exchange = m.ClientKeyExchange(self._key_share.public)
        self._queue_message(items, HandshakeType.CLIENT_KEY_EXCHANGE, exchange.encode())
        self._derive_keys()
        if self._certificate_requested:
            scheme, signature = sign(self._private_key, bytes(self._transcript))
            verify = m.CertificateVerify(scheme, signature)
            self._queue_message(items, HandshakeType.CERTIFICATE_VERIFY, verify.encode())
        self._queue_change_cipher_spec_and_finished(items)
        self._send_flight(items, now, expect_reply=True)
        self._step = _Step.FINISHED
        self._maybe_activate_read_epoch(now)

    # server side

    def _server_receive_client_hello(self, message: HandshakeMessage, now: float) -> None:
        try:
            hello = m.parse_client_hello_untrusted(message.body)
        except DtlsDecodeError:
            self.dropped_records += 1
            return
        cookie = hello_cookie(self._cookie_secret, hello)
        if not hmac.compare_digest(hello.cookie, cookie):
            # Stateless (4.2.1): answer with the cookie and remember nothing else.
            request = m.HelloVerifyRequest(DTLS_1_0, cookie)
            reply = HandshakeMessage(
                HandshakeType.HELLO_VERIFY_REQUEST, message.message_seq, request.encode()
            )
            # 4.2.1: its record sequence number is the ClientHello's, so that repeated
            # HelloVerifyRequests need no state to be numbered apart.
            whole, _ = split_message(reply, 0, len(reply.body) + HANDSHAKE_HEADER_LENGTH)
            self._outgoing.append(self._writer.seal_at(
                ContentType.HANDSHAKE, 0, whole, self._client_hello_record_sequence
            ))
            return
        self._deadline = now + self._handshake_timeout
        self._negotiated = negotiate_client_hello(self._policy, hello)
        self._client_random = hello.random
        self._server_random = self._random(m.RANDOM_LENGTH)
        self._send_seq = message.message_seq
        self._transcript = bytearray(message.transcript_bytes())

        negotiated = self._negotiated
        items: list[FlightItem] = []
        server_hello = m.ServerHello(
            negotiated.version,
            self._server_random,
            b"",
            negotiated.cipher_suite,
            m.COMPRESSION_NULL,
            negotiated.server_extensions,
        )
        self._queue_message(items, HandshakeType.SERVER_HELLO, server_hello.encode())
        certificate = m.Certificate([self._certificate_der])
        self._queue_message(items, HandshakeType.CERTIFICATE, certificate.encode())
        self._key_share = KeyShare(negotiated.group, self._random)
        params = m.ServerKeyExchange(negotiated.group, self._key_share.public, 0, b"")
        signed = self._client_random + self._server_random + params.signed_params()
        scheme, signature = sign(self._private_key, signed)
        exchange = m.ServerKeyExchange(negotiated.group, self._key_share.public, scheme, signature)
        self._queue_message(items, HandshakeType.SERVER_KEY_EXCHANGE, exchange.encode())
        certificate_request = m.CertificateRequest(
            bytes((m.CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN,)),
            [SignatureScheme.ECDSA_SECP256R1_SHA256],
        )
        self._queue_message(items, HandshakeType.CERTIFICATE_REQUEST, certificate_request.encode())
        self._queue_message(items, HandshakeType.SERVER_HELLO_DONE, b"")
        self._send_flight(items, now, expect_reply=True)
        self._step = _Step.CERTIFICATE

    def _server_receive_client_key_exchange(self, message: HandshakeMessage, now: float) -> None:
        exchange = m.parse_client_key_exchange_untrusted(message.body)
        assert self._key_share is not None
        self._pre_master_secret = self._key_share.shared_secret_untrusted(exchange.public)
        self._transcript += message.transcript_bytes()
        self._derive_keys()
        self._step = _Step.CERTIFICATE_VERIFY

    def _server_receive_certificate_verify(self, message: HandshakeMessage, now: float) -> None:
        verify = m.parse_certificate_verify_untrusted(message.body)
        assert self._peer_public_key is not None
        verify_signature(
            self._peer_public_key,
            verify.signature_scheme,
            verify.signature,
            bytes(self._transcript),
        )
        self._transcript += message.transcript_bytes()
        self._step = _Step.FINISHED
        self._maybe_activate_read_epoch(now)

    # both sides

    def _derive_keys(self) -> None:
        """Extended master secret (RFC 7627) over the transcript through ClientKeyExchange."""
        assert self._negotiated is not None
        self._master_secret = prf.extended_master_secret(
            self._pre_master_secret, prf.session_hash(bytes(self._transcript))
        )
        suite = CIPHER_SUITES[self._negotiated.cipher_suite]
        block = prf.key_block(
            self._master_secret,
            self._client_random,
            self._server_random,
            2 * (suite.key_length + suite.fixed_iv_length),
        )
        key, iv = suite.key_length, suite.fixed_iv_length
        client_key, server_key = block[:key], block[key : 2 * key]
        client_iv, server_iv = block[2 * key : 2 * key + iv], block[2 * key + iv :]
        client = RecordProtection(suite, client_key, client_iv)
        server = RecordProtection(suite, server_key, server_iv)
        self._writer.add_epoch(1, client if self.is_client else server)
        self._read_protection[1] = server if self.is_client else client

    def _queue_change_cipher_spec_and_finished(self, items: list[FlightItem]) -> None:
        items.append(OutgoingChangeCipherSpec(self._write_epoch))
        self._write_epoch = 1
        verify_data = prf.finished_verify_data(
            self._master_secret, self.is_client, prf.session_hash(bytes(self._transcript))
        )
        self._queue_message(items, HandshakeType.FINISHED, m.Finished(verify_data).encode())

    def _receive_finished(self, message: HandshakeMessage, now: float) -> None:
        finished = m.parse_finished_untrusted(message.body)
        expected = prf.finished_verify_data(
            self._master_secret, not self.is_client, prf.session_hash(bytes(self._transcript))
        )
        if not hmac.compare_digest(finished.verify_data, expected):
            raise RemoteProtocolError(
                "Finished verify_data mismatch", AlertDescription.DECRYPT_ERROR
            )
        self._transcript += message.transcript_bytes()
        if self.is_client:
            self._flight = []
            self._retransmit_at = None
        else:
            items: list[FlightItem] = []
            self._queue_change_cipher_spec_and_finished(items)
            # The last flight is never retransmitted on a timer, only when asked (4.2.4).
            self._send_flight(items, now, expect_reply=False)
        self._complete()

    def _complete(self) -> None:
        assert self._negotiated is not None and self.remote_fingerprint is not None
        self._step = _Step.DONE
        self.state = ConnectionState.ESTABLISHED
        self._deadline = None
        self._events.append(
            HandshakeComplete(
                self._negotiated.srtp_profile,
                self._negotiated.cipher_suite,
                self.remote_fingerprint,
            )
        )
        early, self._early_application_data = self._early_application_data, []
        for payload in early:
            self._events.append(ApplicationData(payload))


def _alert_name(description: int) -> str:
    try:
        return AlertDescription(description).name.lower()
    except ValueError:
        return str(description)
