"""The association's handshake side (RFC 9260 sections 5, 8.4 and 8.5): INIT,
INIT ACK with a signed cookie, COOKIE ECHO, the T1-init timer, out-of-the-blue
packets and Verification Tag checks.

`Association` inherits this mixin; it is split out so that the data-transfer
state machine reads on its own. The mixin owns no state of its own: every
attribute it uses is declared below and set up by `Association.__init__`.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable

from .chunks import (
    AbortChunk,
    CookieAckChunk,
    CookieEchoChunk,
    ErrorChunk,
    InitAckChunk,
    InitChunk,
    ShutdownAckChunk,
    ShutdownCompleteChunk,
)
from .config import AssociationConfig
from .cookie import CookieContents, StaleCookieError, make_cookie, open_cookie_untrusted
from .errors import SctpDecodeError
from .handshake import (
    PeerInfo,
    extension_parameters,
    init_is_valid,
    negotiate_parameters,
    reportable_parameters,
)
from .packet import Packet, encode_packet
from .parameters import ErrorCauseCode, Parameter, ParameterType


class State(enum.Enum):
    CLOSED = "closed"
    COOKIE_WAIT = "cookie-wait"
    COOKIE_ECHOED = "cookie-echoed"
    ESTABLISHED = "established"
    SHUTDOWN_PENDING = "shutdown-pending"
    SHUTDOWN_SENT = "shutdown-sent"
    SHUTDOWN_RECEIVED = "shutdown-received"
    SHUTDOWN_ACK_SENT = "shutdown-ack-sent"


DATA_STATES = {
    State.ESTABLISHED,
    State.SHUTDOWN_PENDING,
    State.SHUTDOWN_SENT,
    State.SHUTDOWN_RECEIVED,
}


class Establishment:
    config: AssociationConfig
    state: State
    closed: bool
    packets_dropped: int
    _random: Callable[[int], bytes]
    _secret: bytes
    _local_tag: int
    _local_initial_tsn: int
    _peer: PeerInfo | None
    _outbox: list[bytes]
    _control: list[bytes]
    _t1_packet: bytes | None
    _t1_expires_at: float | None
    _t1_rto: float
    _t1_retransmits: int

    def _establish(self, now: float) -> None:
        raise NotImplementedError

    def _close(self, reason: str, by_peer: bool, graceful: bool) -> None:
        raise NotImplementedError

    def _send_init(self, now: float) -> None:
        init = InitChunk(
            initiate_tag=self._local_tag,
            advertised_receiver_window_credit=self.config.receive_window,
            number_of_outbound_streams=self.config.outbound_streams,
            number_of_inbound_streams=self.config.inbound_streams,
            initial_tsn=self._local_initial_tsn,
            parameters=extension_parameters(self.config.partial_reliability),
        )
        self.state = State.COOKIE_WAIT
        self._start_t1(self._packet(0, [init.encode()]), now)

    def _is_out_of_the_blue(self, packet: Packet) -> bool:
        """Section 8.4: a packet for no association (we ended, or never started one)."""
        if self.closed:
            return True
        listening = self.state is State.CLOSED and self._peer is None
        return listening and not isinstance(packet.chunks[0], InitChunk | CookieEchoChunk)

    def _answer_out_of_the_blue(self, packet: Packet) -> None:
        """Section 8.4: tell the sender there is no association, with the T bit set."""
        self.packets_dropped += 1
        first = packet.chunks[0]
        tag = packet.verification_tag
        if isinstance(first, ShutdownAckChunk):
            reply = ShutdownCompleteChunk(tag_reflected=True).encode()
        elif isinstance(
            first, AbortChunk | ShutdownCompleteChunk | CookieAckChunk | ErrorChunk | InitChunk
        ) or any(isinstance(c, AbortChunk) for c in packet.chunks):
            return
        else:
            reply = AbortChunk(tag_reflected=True).encode()
        self._outbox.append(self._packet(tag, [reply]))

    def _verification_tag_ok(self, packet: Packet) -> bool:
        """Section 8.5 and 8.5.1."""
        first = packet.chunks[0]
        tag = packet.verification_tag
        if isinstance(first, InitChunk) and not isinstance(first, InitAckChunk):
            return tag == 0 and len(packet.chunks) == 1
        if isinstance(first, CookieEchoChunk):
            return True  # checked against the cookie's contents
        if isinstance(first, AbortChunk | ShutdownCompleteChunk) and first.tag_reflected:
            return self._peer is not None and tag == self._peer.verification_tag
        return self._local_tag != 0 and tag == self._local_tag

    def _receive_init(self, init: InitChunk, now: float) -> None:
        if not init_is_valid(init):
            self.packets_dropped += 1
            return
        negotiation = negotiate_parameters(init.parameters)
        if self.state is State.CLOSED:
            # Stateless answer: a fresh tag and TSN that live only in the cookie.
            local_tag, local_tsn = self._random_tag(), self._random_u32()
        elif self.state in (State.COOKIE_WAIT, State.COOKIE_ECHOED):
            local_tag, local_tsn = self._local_tag, self._local_initial_tsn  # section 5.2.1
        else:
            return  # restart of an established association is not supported
        contents = CookieContents(
            created_at=now,
            local_verification_tag=local_tag,
            peer_verification_tag=init.initiate_tag,
            local_initial_tsn=local_tsn,
            peer_initial_tsn=init.initial_tsn,
            peer_receiver_window=init.advertised_receiver_window_credit,
            outbound_streams=min(self.config.outbound_streams, init.number_of_inbound_streams),
            inbound_streams=min(self.config.inbound_streams, init.number_of_outbound_streams),
            peer_supports_forward_tsn=negotiation.supports_forward_tsn,
            peer_supports_reconfig=negotiation.supports_reconfig,
        )
        parameters = [
            Parameter(ParameterType.STATE_COOKIE, make_cookie(contents, self._secret)),
            *extension_parameters(self.config.partial_reliability),
        ]
        parameters.extend(
            Parameter(ParameterType.UNRECOGNIZED_PARAMETER, raw)
            for raw in reportable_parameters(negotiation.unrecognized)
        )
        init_ack = InitAckChunk(
            initiate_tag=local_tag,
            advertised_receiver_window_credit=self.config.receive_window,
            number_of_outbound_streams=self.config.outbound_streams,
            number_of_inbound_streams=self.config.inbound_streams,
            initial_tsn=local_tsn,
            parameters=tuple(parameters),
        )
        self._outbox.append(self._packet(init.initiate_tag, [init_ack.encode()]))

    def _receive_init_ack(self, init_ack: InitAckChunk, now: float) -> None:
        if self.state is not State.COOKIE_WAIT:
            return
        cookie = init_ack.state_cookie
        if not init_is_valid(init_ack) or cookie is None:
            self.packets_dropped += 1
            return
        negotiation = negotiate_parameters(init_ack.parameters)
        self._peer = PeerInfo(
            verification_tag=init_ack.initiate_tag,
            initial_tsn=init_ack.initial_tsn,
            receiver_window=init_ack.advertised_receiver_window_credit,
            outbound_streams=init_ack.number_of_outbound_streams,
            inbound_streams=init_ack.number_of_inbound_streams,
            supports_forward_tsn=negotiation.supports_forward_tsn,
            supports_reconfig=negotiation.supports_reconfig,
        )
        chunks = [CookieEchoChunk(cookie).encode()]
        if negotiation.unrecognized:
            causes = tuple(
                Parameter(ErrorCauseCode.UNRECOGNIZED_PARAMETERS, raw)
                for raw in reportable_parameters(negotiation.unrecognized)
            )
            chunks.append(ErrorChunk(causes).encode())
        self.state = State.COOKIE_ECHOED
        self._t1_retransmits = 0
        self._start_t1(self._packet(init_ack.initiate_tag, chunks), now)

    def _receive_cookie_echo(self, chunk: CookieEchoChunk, packet: Packet, now: float) -> bool:
        """Returns False when the packet must be dropped (bad cookie or tag)."""
        try:
            contents = open_cookie_untrusted(
                chunk.cookie, self._secret, now, self.config.cookie_lifetime
            )
        except StaleCookieError as stale:
            # Section 5.2.6: tell the peer, so that it starts over with a new INIT.
            measure = struct.pack("!I", min(int(stale.staleness * 1e6), 0xFFFFFFFF))
            error = ErrorChunk((Parameter(ErrorCauseCode.STALE_COOKIE, measure),))
            self._outbox.append(self._packet(stale.peer_verification_tag, [error.encode()]))
            self.packets_dropped += 1
            return False
        except SctpDecodeError:
            self.packets_dropped += 1
            return False
        if packet.verification_tag != contents.local_verification_tag:
            self.packets_dropped += 1
            return False
        if self.state is State.CLOSED or (
            self.state in (State.COOKIE_WAIT, State.COOKIE_ECHOED)
            and contents.local_verification_tag == self._local_tag
        ):
            self._local_tag = contents.local_verification_tag
            self._local_initial_tsn = contents.local_initial_tsn
            self._peer = PeerInfo(
                verification_tag=contents.peer_verification_tag,
                initial_tsn=contents.peer_initial_tsn,
                receiver_window=contents.peer_receiver_window,
                outbound_streams=contents.inbound_streams,
                inbound_streams=contents.outbound_streams,
                supports_forward_tsn=contents.peer_supports_forward_tsn,
                supports_reconfig=contents.peer_supports_reconfig,
            )
            self._control.insert(0, CookieAckChunk().encode())
            self._establish(now)
            return True
        peer = self._peer
        if (
            peer is not None
            and contents.local_verification_tag == self._local_tag
            and contents.peer_verification_tag == peer.verification_tag
        ):
            # Our COOKIE ACK was lost (section 5.2.4 action D): acknowledge again.
            self._control.insert(0, CookieAckChunk().encode())
            return True
        self.packets_dropped += 1
        return False

    def _start_t1(self, packet: bytes, now: float) -> None:
        self._t1_packet = packet
        self._outbox.append(packet)
        self._t1_expires_at = now + self._t1_rto

    def _on_t1_expiry(self, now: float) -> None:
        self._t1_retransmits += 1
        if self._t1_retransmits > self.config.max_init_retransmits or self._t1_packet is None:
            self._close("handshake timed out", by_peer=False, graceful=False)
            return
        self._t1_rto = min(self._t1_rto * 2, self.config.rto_max)
        self._outbox.append(self._t1_packet)
        self._t1_expires_at = now + self._t1_rto

    def _receive_error(self, chunk: ErrorChunk, now: float) -> None:
        stale = any(c.type == ErrorCauseCode.STALE_COOKIE for c in chunk.error_causes)
        if stale and self.state is State.COOKIE_ECHOED:
            # Section 5.2.6: our cookie aged in transit; start over (counts as an INIT retry).
            self._t1_retransmits += 1
            if self._t1_retransmits > self.config.max_init_retransmits:
                self._close("peer keeps reporting stale cookies", by_peer=True, graceful=False)
                return
            self._peer = None
            self.state = State.COOKIE_WAIT
            self._send_init(now)

    def _packet(self, verification_tag: int, chunks: list[bytes]) -> bytes:
        return encode_packet(
            self.config.local_port, self.config.remote_port, verification_tag, chunks
        )

    def _random_u32(self) -> int:
        return int.from_bytes(self._random(4), "big")

    def _random_tag(self) -> int:
        while True:
            tag = self._random_u32()
            if tag:
                return tag
