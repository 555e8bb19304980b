"""The SCTP association (RFC 9260 sections 4, 5, 6, 8 and 9): a sans-IO object.

It never reads a clock or does I/O. The caller feeds it whole SCTP packets
(`receive_packet`), sends what `packets_to_send` returns (one SCTP packet per
bytes object, each at most `max_packet_size` so that it fits in one DTLS record,
RFC 8261), re-arms one timer from `get_timer` and calls `handle_timer` when it
fires, and drains `next_event`.

Both sides of the four-way handshake are here: `connect(now)` starts it; an
association that never calls `connect` answers an INIT statelessly with a
signed cookie (section 5.1.3) and builds its state when the COOKIE ECHO comes
back. Both peers calling `connect` at once (as WebRTC endpoints do) is the INIT
collision of section 5.2.1 and also ends in one association. The handshake
itself lives in `establishment.Establishment`, which this class inherits.
"""

from __future__ import annotations

import math
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable

from .chunks import (
    DATA_CHUNK_HEADER_SIZE,
    AbortChunk,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
)
from .config import AssociationConfig
from .congestion import CongestionController, RtoEstimator
from .errors import LocalProtocolError, SctpDecodeError
from .establishment import DATA_STATES, Establishment, State
from .events import (
    AssociationClosed,
    AssociationEstablished,
    Event,
    IncomingStreamsReset,
    MessageReceived,
    OutgoingStreamsReset,
    StreamResetFailed,
)
from .handshake import MAX_REPORTED, PeerInfo
from .packet import COMMON_HEADER_SIZE, PacketBuilder, decode_packet_untrusted
from .parameters import (
    ErrorCauseCode,
    IncomingSsnResetRequest,
    OutgoingSsnResetRequest,
    Parameter,
    ReconfigParameter,
    ReconfigResult,
    ReconfigurationResponse,
    describe_error_causes,
)
from .reassembly import MessageTooLarge, Reassembly
from .receiver import AckScheduler, ReceivedTsns
from .reconfig import StreamReconfiguration, is_request
from .sender import OutboundMessage, Sender
from .serial import tsn_add

__all__ = ["Association", "AssociationConfig", "State"]

_HEARTBEAT_INFO = struct.Struct("!8sd")
_MAX_DUPLICATES_IN_SACK = 32


class Association(Establishment):
    def __init__(
        self,
        config: AssociationConfig | None = None,
        *,
        secret: bytes | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.config = config or AssociationConfig()
        self._random = random
        self._secret = secret if secret is not None else random(32)
        self.state = State.CLOSED
        self.closed = False
        self.packets_dropped = 0

        self._local_tag = 0
        self._local_initial_tsn = 0
        self._peer: PeerInfo | None = None
        self._events: deque[Event] = deque()
        self._outbox: list[bytes] = []  # complete packets (handshake and tag-special ones)
        self._control: list[bytes] = []  # encoded chunks for the next packet to the peer

        self._t1_packet: bytes | None = None
        self._t1_expires_at: float | None = None
        self._t1_rto = self.config.rto_initial
        self._t1_retransmits = 0
        self._t2_expires_at: float | None = None
        self._t2_chunk = b""
        self._error_count = 0

        self._sender: Sender | None = None
        self._received: ReceivedTsns | None = None
        self._reassembly = Reassembly(self.config.receive_window, self.config.max_message_size)
        # The a_rwnd of our last SACK: what the peer believes it may send.
        self._advertised_window: int | None = None
        self._acks = AckScheduler(self.config.delayed_ack_timeout)
        self._reconfig: StreamReconfiguration | None = None
        self._held_back: list[DataChunk] = []
        self._rto = RtoEstimator(self.config.rto_initial, self.config.rto_min, self.config.rto_max)

        self._heartbeat_due_at: float | None = None
        self._heartbeat_nonce: bytes | None = None
        self._outbound_streams = 0
        self._inbound_streams = 0

    # ---- public API --------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Start the handshake as the initiator (send INIT, enter COOKIE-WAIT)."""
        if self.state is not State.CLOSED or self.closed:
            raise LocalProtocolError(f"connect() in state {self.state.value}")
        self._local_tag = self._random_tag()
        self._local_initial_tsn = self._random_u32()
        self._send_init(now)

    def send(
        self,
        stream_id: int,
        ppid: int,
        data: bytes,
        *,
        now: float,
        ordered: bool = True,
        max_retransmits: int | None = None,
        lifetime: float | None = None,
    ) -> None:
        """Queue one user message; `lifetime` is in seconds from `now` (RFC 3758)."""
        if self._sender is None or self.state is not State.ESTABLISHED:
            raise LocalProtocolError(f"send() in state {self.state.value}")
        if not 0 <= stream_id < self._outbound_streams:
            raise LocalProtocolError(f"stream {stream_id} outside {self._outbound_streams} streams")
        if not data:
            raise LocalProtocolError("SCTP cannot carry an empty message (RFC 8831 uses PPID 56/57)")
        if len(data) > self.config.max_message_size:
            raise LocalProtocolError(
                f"message of {len(data)} bytes over max_message_size {self.config.max_message_size}"
            )
        if self._reconfig is not None and self._reconfig.is_resetting(stream_id):
            raise LocalProtocolError(f"stream {stream_id} is being reset")
        if max_retransmits is not None and max_retransmits < 0:
            raise LocalProtocolError("max_retransmits must be >= 0")
        expires_at = None if lifetime is None else now + lifetime
        self._sender.enqueue(
            OutboundMessage(stream_id, ppid, bytes(data), ordered, max_retransmits, expires_at)
        )

    def can_send(self, stream_id: int) -> bool:
        """Whether `send` on this stream would be accepted now (state, stream count, reset)."""
        return (
            self._sender is not None
            and self.state is State.ESTABLISHED
            and 0 <= stream_id < self._outbound_streams
            and not (self._reconfig is not None and self._reconfig.is_resetting(stream_id))
        )

    def reset_streams(self, stream_ids: Iterable[int]) -> None:
        """Reset our outbound side of these streams (RFC 6525), e.g. to close a data channel."""
        if self._reconfig is None or self.state is not State.ESTABLISHED:
            raise LocalProtocolError(f"reset_streams() in state {self.state.value}")
        assert self._peer is not None
        if not self._peer.supports_reconfig:
            raise LocalProtocolError("the peer did not advertise RE-CONFIG support")
        self._reconfig.request_reset(tuple(stream_ids))

    def buffered_amount(self, stream_id: int) -> int:
        """Bytes queued on a stream and not yet sent once (the data channel bufferedAmount)."""
        return 0 if self._sender is None else self._sender.buffered_amount(stream_id)

    def set_buffered_amount_low_threshold(self, stream_id: int, threshold: int) -> None:
        if self._sender is None:
            raise LocalProtocolError("no association yet")
        self._sender.set_buffered_amount_low_threshold(stream_id, threshold)

    def shutdown(self, now: float) -> None:
        """Graceful close (section 9.2): deliver what is queued, then SHUTDOWN."""
        if self.state is State.ESTABLISHED:
            self.state = State.SHUTDOWN_PENDING
            self._progress_shutdown(now)
        elif self.state in (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED):
            self._close("shutdown before establishment", by_peer=False, graceful=True)

    def abort(self, now: float, reason: str = "") -> None:
        """Send ABORT with a User-Initiated Abort cause and close at once."""
        if self.closed:
            return
        if self._peer is not None:
            abort = AbortChunk((Parameter(ErrorCauseCode.USER_INITIATED_ABORT, reason.encode()),))
            self._outbox.append(self._packet(self._peer.verification_tag, [abort.encode()]))
        self._close(f"aborted locally: {reason}", by_peer=False, graceful=False)

    @property
    def outbound_streams(self) -> int:
        return self._outbound_streams

    @property
    def inbound_streams(self) -> int:
        return self._inbound_streams

    @property
    def rto(self) -> float:
        return self._rto.rto

    def next_event(self) -> Event | None:
        """The oldest undelivered event (see `vendor_sctp.events`), or None."""
        if self._sender is not None:
            self._events.extend(self._sender.events)
            self._sender.events.clear()
        if not self._events:
            return None
        event = self._events.popleft()
        if isinstance(event, MessageReceived):
            # Taken by the application: its bytes no longer count against our window.
            self._reassembly.outside_bytes -= len(event.data)
            self._maybe_update_window()
        return event

    def _maybe_update_window(self) -> None:
        """RFC 9260 section 6.2 allows a SACK "to update the offered window as the
        receiving application consumes new data". Without one a sender we stalled
        (a_rwnd near zero because the application was not reading) learns of the room
        only from its next zero-window probe, which waits for T3-rtx and backs off. To
        avoid silly-window updates, one goes only once the window has grown by a
        quarter of the buffer or eight packets, whichever is less."""
        if self._received is None or self._advertised_window is None:
            return
        threshold = min(self.config.receive_window // 4, 8 * self.config.max_packet_size)
        if self._reassembly.window - self._advertised_window >= threshold:
            self._acks.request_immediate(-math.inf)

    def get_timer(self) -> float | None:
        """When `handle_timer` must next be called (same clock as `now`); None: no timer."""
        if self.closed:
            return None
        candidates = [self._t1_expires_at, self._t2_expires_at, self._acks.due_at]
        if self._sender is not None:
            candidates.append(self._sender.t3_expires_at)
            candidates.append(self._sender.loss_detection_at)
            candidates.append(self._heartbeat_due_at)
        if self._reconfig is not None:
            candidates.append(self._reconfig.retransmit_at)
        timers = [t for t in candidates if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        """Run every timer due at `now` (T1, T2, T3-rtx, RACK loss detection, delayed SACK,
        heartbeat, RE-CONFIG)."""
        if self.closed:
            return
        if self._t1_expires_at is not None and now >= self._t1_expires_at:
            self._on_t1_expiry(now)
        if self._t2_expires_at is not None and now >= self._t2_expires_at:
            self._on_t2_expiry(now)
        sender = self._sender
        if sender is not None and sender.t3_expires_at is not None and now >= sender.t3_expires_at:
            sender.handle_t3_expiry(now)
            self._count_error("retransmission limit reached")
        if (sender is not None and sender.loss_detection_at is not None
                and now >= sender.loss_detection_at):
            sender.handle_loss_detection_timer(now)
        if self._heartbeat_due_at is not None and now >= self._heartbeat_due_at:
            self._on_heartbeat_due(now)
        reconfig = self._reconfig
        if reconfig is not None and reconfig.retransmit_at is not None and now >= reconfig.retransmit_at:
            request, timed_out = reconfig.on_timer(now, self._rto.rto, self.config.rto_max)
            if request is not None:
                self._control.append(ReconfigChunk((request,)).encode())
            if timed_out:
                self._count_error("stream reset request unanswered")

    def packets_to_send(self, now: float) -> list[bytes]:
        """SCTP packets to hand to DTLS now, one bytes object per packet, each at most
        `max_packet_size`; control chunks first, then SACK, FORWARD-TSN, RE-CONFIG, DATA."""
        packets, self._outbox = self._outbox, []
        if self.closed or self._peer is None:
            return packets
        builder = PacketBuilder(self.config.max_packet_size)
        for encoded in self._control:
            builder.add(encoded)
        self._control = []
        sender = self._sender
        if sender is not None and self._received is not None:
            if self._acks.is_due(now) or (self._acks.due_at is not None and sender.has_queued()):
                builder.add(self._make_sack().encode())
            if sender.forward_tsn_due:
                room = self.config.max_packet_size - COMMON_HEADER_SIZE
                builder.add(sender.forward_tsn_chunk(room).encode())
            reconfig = self._reconfig
            if (
                reconfig is not None
                and reconfig.can_start_request(now)
                and not sender.has_queued(tuple(reconfig.waiting_streams))
            ):
                request = reconfig.start_request(sender.last_assigned_tsn(), now, self._rto.rto)
                builder.add(ReconfigChunk((request,)).encode())
            if self.state in (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_RECEIVED):
                self._add_data(builder, sender, now)
        builder.flush()
        tag = self._peer.verification_tag
        packets.extend(self._packet(tag, chunks) for chunks in builder.packets)
        return packets

    # ---- receiving -----------------------------------------------------------------

    def receive_packet(self, data: bytes, now: float) -> None:
        """Process one SCTP packet (one DTLS record). Invalid packets are dropped and
        counted in `packets_dropped`; nothing the peer sends can raise."""
        try:
            packet = decode_packet_untrusted(data)
        except SctpDecodeError:
            self.packets_dropped += 1
            return
        if packet.destination_port_number != self.config.local_port or not packet.chunks:
            self.packets_dropped += 1
            return
        if self._is_out_of_the_blue(packet):
            self._answer_out_of_the_blue(packet)
            return
        if not self._verification_tag_ok(packet):
            self.packets_dropped += 1
            return
        data_packet = False
        immediate_ack = False
        for chunk in packet.chunks:
            if self.closed:
                return
            if isinstance(chunk, DataChunk):
                data_packet = True
                immediate_ack |= self._receive_data(chunk, now)
            elif isinstance(chunk, SackChunk):
                self._receive_sack(chunk, now)
            elif isinstance(chunk, InitAckChunk):
                self._receive_init_ack(chunk, now)
            elif isinstance(chunk, InitChunk):
                self._receive_init(chunk, now)
            elif isinstance(chunk, CookieEchoChunk):
                if not self._receive_cookie_echo(chunk, packet, now):
                    return
            elif isinstance(chunk, CookieAckChunk):
                if self.state is State.COOKIE_ECHOED:
                    self._establish(now)
            elif isinstance(chunk, ForwardTsnChunk):
                self._receive_forward_tsn(chunk, now)
            elif isinstance(chunk, ReconfigChunk):
                self._receive_reconfig(chunk, now)
            elif isinstance(chunk, HeartbeatAckChunk):
                self._receive_heartbeat_ack(chunk, now)
            elif isinstance(chunk, HeartbeatChunk):
                self._receive_heartbeat(chunk)
            elif isinstance(chunk, AbortChunk):
                self._close(f"aborted by peer: {describe_error_causes(chunk.error_causes)}", True, False)
                return
            elif isinstance(chunk, ShutdownChunk):
                self._receive_shutdown(chunk, now)
            elif isinstance(chunk, ShutdownAckChunk):
                self._receive_shutdown_ack(now)
            elif isinstance(chunk, ShutdownCompleteChunk):
                if self.state is State.SHUTDOWN_ACK_SENT:
                    self._close("shutdown complete", by_peer=True, graceful=True)
                return
            elif isinstance(chunk, ErrorChunk):
                self._receive_error(chunk, now)
            elif isinstance(chunk, UnknownChunk) and not self._receive_unknown_chunk(chunk):
                break
        if data_packet:
            self._acks.on_packet_with_data(now, immediate_ack)

    def _receive_unknown_chunk(self, chunk: UnknownChunk) -> bool:
        """Section 3.2: the two upper bits of the type say what to do; False = stop."""
        action = chunk.chunk_type >> 6
        if action in (1, 3) and self._peer is not None:
            # Truncated so the ERROR always fits in one packet.
            cause = Parameter(ErrorCauseCode.UNRECOGNIZED_CHUNK_TYPE, chunk.raw[:MAX_REPORTED])
            self._control.append(ErrorChunk((cause,)).encode())
        return action >= 2

    # ---- handshake -------------------------------------------------------------------

    def _establish(self, now: float) -> None:
        peer = self._peer
        assert peer is not None
        self.state = State.ESTABLISHED
        self._t1_expires_at = None
        self._t1_packet = None
        self._outbound_streams = min(self.config.outbound_streams, peer.inbound_streams)
        self._inbound_streams = min(self.config.inbound_streams, peer.outbound_streams)
        mtu = self.config.max_packet_size
        partial = self.config.partial_reliability and peer.supports_forward_tsn
        self._sender = Sender(
            initial_tsn=self._local_initial_tsn,
            max_fragment_size=mtu - COMMON_HEADER_SIZE - DATA_CHUNK_HEADER_SIZE,
            peer_receiver_window=peer.receiver_window,
            congestion=CongestionController(mtu, peer.receiver_window),
            rto=self._rto,
            partial_reliability=partial,
            max_burst=self.config.max_burst,
        )
        self._received = ReceivedTsns(peer.initial_tsn)
        self._reconfig = StreamReconfiguration.create(self._local_initial_tsn, peer.initial_tsn)
        self._heartbeat_due_at = now + self.config.heartbeat_interval
        self._events.append(
            AssociationEstablished(
                outbound_streams=self._outbound_streams,
                inbound_streams=self._inbound_streams,
                partial_reliability=partial,
                stream_reconfiguration=peer.supports_reconfig,
            )
        )

    # ---- data ------------------------------------------------------------------------

    def _receive_data(self, chunk: DataChunk, now: float) -> bool:
        """Returns True if the SACK for this packet should go out at once."""
        received = self._received
        if received is None or self.state not in DATA_STATES:
            return False
        if not chunk.user_data:
            self._abort_protocol(ErrorCauseCode.NO_USER_DATA, struct.pack("!I", chunk.tsn))
            return False
        if not received.is_new(chunk.tsn):
            received.record_duplicate(chunk.tsn)
            return True
        if not received.is_reportable(chunk.tsn) or not self._reassembly.can_accept(
            chunk, received.cumulative_tsn
        ):
            return True  # dropped unacknowledged; the immediate SACK shows our window
        in_sequence = chunk.tsn == tsn_add(received.cumulative_tsn, 1)
        received.record(chunk.tsn)
        if chunk.stream_identifier >= self._inbound_streams:
            cause = Parameter(
                ErrorCauseCode.INVALID_STREAM_IDENTIFIER,
                struct.pack("!HH", chunk.stream_identifier, 0),
            )
            self._control.append(ErrorChunk((cause,)).encode())
            in_sequence = False  # acknowledged but never delivered: report at once
        elif self._reconfig is not None and self._reconfig.holds_back(
            chunk.stream_identifier, chunk.tsn
        ):
            self._held_back.append(chunk)
            self._reassembly.outside_bytes += len(chunk.user_data)
        elif not self._reassemble(chunk):
            return False
        if self._reconfig is not None and self._reconfig.deferred_incoming is not None:
            self._perform_deferred_reset()
        return not in_sequence or received.has_gaps

    def _reassemble(self, chunk: DataChunk) -> bool:
        """Hand a chunk to reassembly and queue what it completes; False if that aborted."""
        try:
            messages = self._reassembly.add(chunk)
        except MessageTooLarge as error:
            self._abort_protocol(
                ErrorCauseCode.PROTOCOL_VIOLATION, str(error).encode(), reason=str(error)
            )
            return False
        self._deliver(messages)
        return True

    def _deliver(self, messages: list[MessageReceived]) -> None:
        # Undelivered messages keep counting against the receive window until
        # `next_event` hands them out, so an application that stops reading stops
        # the peer (flow control) instead of letting the event queue grow.
        for message in messages:
            self._reassembly.outside_bytes += len(message.data)
        self._events.extend(messages)

    def _receive_forward_tsn(self, chunk: ForwardTsnChunk, now: float) -> None:
        received = self._received
        if received is None or self.state not in DATA_STATES:
            return
        if received.forward_to(chunk.new_cumulative_tsn):
            # Only TSNs up to the New Cumulative TSN were abandoned: the cumulative TSN may
            # have moved further over TSNs we hold, and those are live fragments.
            new_cumulative = chunk.new_cumulative_tsn
            self._deliver(self._reassembly.forward(new_cumulative, chunk.streams))
            self._perform_deferred_reset()
        self._acks.request_immediate(now)

    def _make_sack(self) -> SackChunk:
        assert self._received is not None
        self._acks.on_sack_sent()
        max_blocks = (
            self.config.max_packet_size - COMMON_HEADER_SIZE - 16 - 4 * _MAX_DUPLICATES_IN_SACK
        ) // 4
        self._advertised_window = self._reassembly.window
        return self._received.make_sack(self._advertised_window, max_blocks)

    def _receive_sack(self, sack: SackChunk, now: float) -> None:
        sender = self._sender
        if sender is None or self.state not in DATA_STATES | {State.SHUTDOWN_ACK_SENT}:
            return
        if sender.handle_sack(sack, now):
            self._error_count = 0
        self._progress_shutdown(now)

    def _add_data(self, builder: PacketBuilder, sender: Sender, now: float) -> None:
        sender.start_burst()
        while True:
            chunk = sender.next_encoded_chunk(now, builder.room)
            if chunk is None:
                if not builder.current:
                    break
                builder.flush()
                chunk = sender.next_encoded_chunk(now, builder.room)
                if chunk is None:
                    break
            builder.add(chunk)
        sender.end_burst()

    # ---- stream reset ------------------------------------------------------------------

    def _receive_reconfig(self, chunk: ReconfigChunk, now: float) -> None:
        reconfig, received = self._reconfig, self._received
        if reconfig is None or received is None:
            return
        responses: list[ReconfigParameter] = []
        for parameter in chunk.parameters:
            if isinstance(parameter, OutgoingSsnResetRequest):
                response, perform = reconfig.handle_outgoing_request(
                    parameter, received.cumulative_tsn
                )
                responses.append(response)
                if perform:
                    self._reset_incoming(parameter.stream_numbers)
            elif isinstance(parameter, IncomingSsnResetRequest):
                responses.append(reconfig.handle_incoming_request(parameter))
            elif isinstance(parameter, ReconfigurationResponse):
                self._receive_reconfig_response(parameter, now)
            elif is_request(parameter):
                denied = reconfig.handle_unsupported_request(parameter)
                if denied is not None:
                    responses.append(denied)
        for answer in responses:
            self._control.append(ReconfigChunk((answer,)).encode())

    def _receive_reconfig_response(self, response: ReconfigurationResponse, now: float) -> None:
        reconfig, sender = self._reconfig, self._sender
        assert reconfig is not None and sender is not None
        outcome = reconfig.handle_response(response, now, self._rto.rto)
        if outcome is None or outcome.in_progress:
            return
        if outcome.result in (ReconfigResult.SUCCESS_PERFORMED, ReconfigResult.SUCCESS_NOTHING_TO_DO):
            sender.reset_outgoing_ssn(outcome.stream_ids)
            self._events.append(OutgoingStreamsReset(outcome.stream_ids))
        else:
            self._events.append(StreamResetFailed(outcome.stream_ids, outcome.result))

    def _perform_deferred_reset(self) -> None:
        reconfig, received = self._reconfig, self._received
        if reconfig is None or received is None or reconfig.deferred_incoming is None:
            return
        request = reconfig.deferred_request_ready(received.cumulative_tsn)
        if request is not None:
            self._reset_incoming(request.stream_numbers)

    def _reset_incoming(self, stream_ids: tuple[int, ...]) -> None:
        self._reassembly.reset_streams(stream_ids)
        self._events.append(IncomingStreamsReset(stream_ids))
        held, self._held_back = self._held_back, []
        for chunk in held:
            self._reassembly.outside_bytes -= len(chunk.user_data)
            if not self._reassemble(chunk):
                return

    # ---- heartbeat, errors, shutdown ------------------------------------------------------

    def _on_heartbeat_due(self, now: float) -> None:
        if self._heartbeat_nonce is not None:
            self._count_error("heartbeats unanswered")
            if self.closed:
                return
        self._heartbeat_nonce = self._random(8)
        info = _HEARTBEAT_INFO.pack(self._heartbeat_nonce, now)
        self._control.append(HeartbeatChunk(info).encode())
        self._heartbeat_due_at = now + self.config.heartbeat_interval + self._rto.rto

    def _receive_heartbeat(self, chunk: HeartbeatChunk) -> None:
        if self._peer is None:
            return
        answer = HeartbeatAckChunk(chunk.heartbeat_information).encode()
        # The information must come back unchanged (RFC 9260 section 8.3), and an answer
        # that cannot fit in one packet could not be sent: such a HEARTBEAT is ignored.
        if len(answer) <= self.config.max_packet_size - COMMON_HEADER_SIZE:
            self._control.append(answer)

    def _receive_heartbeat_ack(self, chunk: HeartbeatAckChunk, now: float) -> None:
        if len(chunk.heartbeat_information) != _HEARTBEAT_INFO.size:
            return
        nonce, sent_at = _HEARTBEAT_INFO.unpack(chunk.heartbeat_information)
        if self._heartbeat_nonce is None or nonce != self._heartbeat_nonce:
            return
        self._heartbeat_nonce = None
        self._error_count = 0
        self._rto.on_rtt_measurement(now - sent_at)

    def _count_error(self, reason: str) -> None:
        self._error_count += 1
        if self._error_count > self.config.association_max_retransmits:
            peer = self._peer
            if peer is not None:
                self._outbox.append(self._packet(peer.verification_tag, [AbortChunk().encode()]))
            self._close(reason, by_peer=False, graceful=False)

    def _abort_protocol(self, code: int, info: bytes, reason: str | None = None) -> None:
        peer = self._peer
        if peer is not None:
            abort = AbortChunk((Parameter(code, info),))
            self._outbox.append(self._packet(peer.verification_tag, [abort.encode()]))
        detail = f": {reason}" if reason else ""
        self._close(f"protocol violation (cause {code}){detail}", by_peer=False, graceful=False)

    def _receive_shutdown(self, chunk: ShutdownChunk, now: float) -> None:
        sender = self._sender
        if sender is None or self.state not in DATA_STATES:
            return
        sack = SackChunk(chunk.cumulative_tsn_ack, sender.peer_receiver_window)
        sender.handle_sack(sack, now)
        if self.state is State.SHUTDOWN_SENT:
            self._t2_expires_at = None  # both sides shut down at once: answer with SHUTDOWN ACK
        self.state = State.SHUTDOWN_RECEIVED
        self._progress_shutdown(now)

    def _receive_shutdown_ack(self, now: float) -> None:
        peer = self._peer
        if peer is None or self.state not in (State.SHUTDOWN_SENT, State.SHUTDOWN_ACK_SENT):
            return
        self._outbox.append(self._packet(peer.verification_tag, [ShutdownCompleteChunk().encode()]))
        self._close("shutdown complete", by_peer=False, graceful=True)

    def _progress_shutdown(self, now: float) -> None:
        sender, received, peer = self._sender, self._received, self._peer
        if sender is None or received is None or peer is None or sender.has_outstanding():
            return
        if self.state is State.SHUTDOWN_PENDING:
            self.state = State.SHUTDOWN_SENT
            self._t2_chunk = ShutdownChunk(received.cumulative_tsn).encode()
        elif self.state is State.SHUTDOWN_RECEIVED:
            self.state = State.SHUTDOWN_ACK_SENT
            self._t2_chunk = ShutdownAckChunk().encode()
        else:
            return
        self._control.append(self._t2_chunk)
        self._t2_expires_at = now + self._rto.rto

    def _on_t2_expiry(self, now: float) -> None:
        self._t2_expires_at = None
        self._rto.back_off()
        self._count_error("shutdown unanswered")
        if self.closed:
            return
        if self.state is State.SHUTDOWN_SENT and self._received is not None:
            self._t2_chunk = ShutdownChunk(self._received.cumulative_tsn).encode()
        self._control.append(self._t2_chunk)
        self._t2_expires_at = now + self._rto.rto

    def _close(self, reason: str, by_peer: bool, graceful: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.state = State.CLOSED
        self._t1_expires_at = self._t2_expires_at = self._heartbeat_due_at = None
        self._events.append(AssociationClosed(reason, by_peer=by_peer, graceful=graceful))

    # ---- helpers ---------------------------------------------------------------------
