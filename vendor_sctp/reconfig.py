"""Stream reset (RFC 6525): the RE-CONFIG requests and responses that close data
channels (RFC 8831 section 6.7).

Outgoing direction (section 5.1.2): streams asked for reset wait until all their
queued data has a TSN; then one Outgoing SSN Reset Request carries the Sender's
Last Assigned TSN. Only one request is outstanding at a time. Without an answer
it is retransmitted with its own exponential backoff, starting from the RTO: the
association's RTO, which paces DATA retransmission, is never backed off for it
(each expiry still counts as an association error, like T3-rtx). An "In
progress" answer plans one re-send with the same sequence number after an RTO,
without backoff. "Error - Request already in progress" (the peer is busy with a
reset of its own, RFC 6525 section 5.2.3) is not final: it closes that request
number, and the same streams are asked again with a new request after an RTO,
up to `MAX_BUSY_RETRIES` times. Every other Result is final.

Incoming direction (section 5.2.2): a request is performed once every TSN up to
its Sender's Last Assigned TSN has arrived; before that we answer "In progress"
and the association holds back DATA of those streams that lies beyond that TSN
(it belongs to the streams' next life, starting again at SSN 0). A retransmitted
request (sequence number one below the expected one) gets the previous answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .parameters import (
    IncomingSsnResetRequest,
    OutgoingSsnResetRequest,
    Parameter,
    ReconfigParameter,
    ReconfigResult,
    ReconfigurationResponse,
)
from .serial import tsn_add, tsn_le

# Keeps a request well inside one packet; further streams go in the next request.
MAX_STREAMS_PER_REQUEST = 128
# New requests after "Error - Request already in progress" before giving up.
MAX_BUSY_RETRIES = 8


@dataclass(frozen=True, slots=True)
class ResponseOutcome:
    stream_ids: tuple[int, ...]
    result: int
    in_progress: bool


@dataclass(slots=True)
class StreamReconfiguration:
    next_request_sequence_number: int
    expected_peer_request_sequence_number: int
    waiting_streams: list[int] = field(default_factory=list)
    outstanding_request: OutgoingSsnResetRequest | None = None
    retransmit_at: float | None = None
    deferred_incoming: OutgoingSsnResetRequest | None = None
    _last_result: int = ReconfigResult.SUCCESS_NOTHING_TO_DO
    # Interval of the next retransmission without answer (our own backoff).
    _interval: float = 0.0
    # The next `retransmit_at` is a planned re-send after "In progress", not a timeout.
    _resend_planned: bool = False
    # No new request before this time (set after "request already in progress").
    _not_before: float | None = None
    _busy_retries: int = 0

    @classmethod
    def create(cls, local_initial_tsn: int, peer_initial_tsn: int) -> StreamReconfiguration:
        # Section 5.1.1: request sequence numbers start at the endpoint's initial TSN.
        return cls(local_initial_tsn, peer_initial_tsn)

    # ---- our requests ------------------------------------------------------------

    def request_reset(self, stream_ids: tuple[int, ...]) -> None:
        for sid in stream_ids:
            if sid not in self.waiting_streams and not self.is_resetting_outstanding(sid):
                self.waiting_streams.append(sid)

    def is_resetting_outstanding(self, stream_id: int) -> bool:
        request = self.outstanding_request
        return request is not None and stream_id in request.stream_numbers

    def is_resetting(self, stream_id: int) -> bool:
        return stream_id in self.waiting_streams or self.is_resetting_outstanding(stream_id)

    def can_start_request(self, now: float) -> bool:
        return (
            self.outstanding_request is None
            and bool(self.waiting_streams)
            and (self._not_before is None or now >= self._not_before)
        )

    def start_request(
        self, senders_last_assigned_tsn: int, now: float, rto: float
    ) -> OutgoingSsnResetRequest:
        streams = self.waiting_streams[:MAX_STREAMS_PER_REQUEST]
        request = OutgoingSsnResetRequest(
            request_sequence_number=self.next_request_sequence_number,
            response_sequence_number=tsn_add(self.expected_peer_request_sequence_number, -1),
            senders_last_assigned_tsn=senders_last_assigned_tsn,
            stream_numbers=tuple(streams),
        )
        self.next_request_sequence_number = tsn_add(self.next_request_sequence_number, 1)
        self.waiting_streams = self.waiting_streams[MAX_STREAMS_PER_REQUEST:]
        self.outstanding_request = request
        self._not_before = None
        self._interval = rto
        self._resend_planned = False
        self.retransmit_at = now + rto
        return request

    def on_timer(
        self, now: float, rto: float, rto_max: float
    ) -> tuple[OutgoingSsnResetRequest | None, bool]:
        """The request to send again now (if any), and whether this was a timeout."""
        self.retransmit_at = None
        request = self.outstanding_request
        if request is None:
            return None, False  # the wait after "request already in progress" is over
        timed_out = not self._resend_planned
        self._resend_planned = False
        self._interval = min(2 * self._interval, rto_max) if timed_out else rto
        self.retransmit_at = now + self._interval
        return request, timed_out

    def handle_response(
        self, response: ReconfigurationResponse, now: float, rto: float
    ) -> ResponseOutcome | None:
        request = self.outstanding_request
        if request is None or response.response_sequence_number != request.request_sequence_number:
            return None
        if response.result == ReconfigResult.IN_PROGRESS:
            self.retransmit_at = now + rto
            self._resend_planned = True
            return ResponseOutcome(request.stream_numbers, response.result, in_progress=True)
        self.outstanding_request = None
        self.retransmit_at = None
        if (
            response.result == ReconfigResult.ERROR_REQUEST_ALREADY_IN_PROGRESS
            and self._busy_retries < MAX_BUSY_RETRIES
        ):
            self._busy_retries += 1
            retry = [sid for sid in request.stream_numbers if sid not in self.waiting_streams]
            self.waiting_streams[:0] = retry
            self._not_before = self.retransmit_at = now + rto
            return ResponseOutcome(request.stream_numbers, response.result, in_progress=True)
        self._busy_retries = 0
        return ResponseOutcome(request.stream_numbers, response.result, in_progress=False)

    # ---- the peer's requests ---------------------------------------------------------

    def handle_outgoing_request(
        self, request: OutgoingSsnResetRequest, cumulative_tsn: int
    ) -> tuple[ReconfigurationResponse, bool]:
        """Answer a peer's Outgoing SSN Reset Request; True means: perform the reset now."""
        seq = request.request_sequence_number
        if seq == tsn_add(self.expected_peer_request_sequence_number, -1):
            return ReconfigurationResponse(seq, self._last_result), False
        if seq != self.expected_peer_request_sequence_number:
            return ReconfigurationResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER), False
        if tsn_le(request.senders_last_assigned_tsn, cumulative_tsn):
            self._finish_peer_request(ReconfigResult.SUCCESS_PERFORMED)
            self.deferred_incoming = None
            return ReconfigurationResponse(seq, ReconfigResult.SUCCESS_PERFORMED), True
        self.deferred_incoming = request
        return ReconfigurationResponse(seq, ReconfigResult.IN_PROGRESS), False

    def deferred_request_ready(self, cumulative_tsn: int) -> OutgoingSsnResetRequest | None:
        """The deferred peer request, if every TSN it waited for has now arrived."""
        request = self.deferred_incoming
        if request is None or not tsn_le(request.senders_last_assigned_tsn, cumulative_tsn):
            return None
        self.deferred_incoming = None
        self._finish_peer_request(ReconfigResult.SUCCESS_PERFORMED)
        return request

    def holds_back(self, stream_id: int, tsn: int) -> bool:
        request = self.deferred_incoming
        if request is None:
            return False
        return (
            request is not None
            and (stream_id in request.stream_numbers or not request.stream_numbers)
            and not tsn_le(tsn, request.senders_last_assigned_tsn)
        )

    def handle_incoming_request(self, request: IncomingSsnResetRequest) -> ReconfigurationResponse:
        """Section 5.2.3: the peer asks us to reset our outgoing streams; we do it ourselves."""
        seq = request.request_sequence_number
        if seq == tsn_add(self.expected_peer_request_sequence_number, -1):
            return ReconfigurationResponse(seq, self._last_result)
        if seq != self.expected_peer_request_sequence_number:
            return ReconfigurationResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)
        self.request_reset(request.stream_numbers)
        self._finish_peer_request(ReconfigResult.SUCCESS_NOTHING_TO_DO)
        return ReconfigurationResponse(seq, ReconfigResult.SUCCESS_NOTHING_TO_DO)

    def handle_unsupported_request(self, parameter: Parameter) -> ReconfigurationResponse | None:
        """Add-streams and SSN/TSN reset requests are refused (section 5.2.4-5.2.6)."""
        if len(parameter.value) < 4:
            return None
        seq = int.from_bytes(parameter.value[:4], "big")
        if seq == self.expected_peer_request_sequence_number:
            self._finish_peer_request(ReconfigResult.DENIED)
            return ReconfigurationResponse(seq, ReconfigResult.DENIED)
        return ReconfigurationResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)

    def _finish_peer_request(self, result: int) -> None:
        self._last_result = result
        self.expected_peer_request_sequence_number = tsn_add(
            self.expected_peer_request_sequence_number, 1
        )


def is_request(parameter: ReconfigParameter) -> bool:
    return isinstance(parameter, OutgoingSsnResetRequest | IncomingSsnResetRequest) or (
        isinstance(parameter, Parameter) and parameter.type in (15, 17, 18)
    )
