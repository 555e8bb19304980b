"""Stream reset (RFC 6525): mid-transfer, "In progress", result checking, SSN restart."""

from __future__ import annotations

import itertools

import pytest

from vendor_sctp.association import Association
from vendor_sctp.chunks import DataChunk, ReconfigChunk
from vendor_sctp.errors import LocalProtocolError
from vendor_sctp.events import (
    Event,
    IncomingStreamsReset,
    MessageReceived,
    OutgoingStreamsReset,
    StreamResetFailed,
)
from vendor_sctp.packet import Packet, encode_packet
from vendor_sctp.parameters import (
    IncomingSsnResetRequest,
    OutgoingSsnResetRequest,
    Parameter,
    ReconfigResult,
    ReconfigurationResponse,
)
from vendor_sctp.reconfig import StreamReconfiguration

from .harness import Pair, Tap, data_tsn_dropper, impaired_pair
from .link import ImpairedLink


def _responses(tap: Tap) -> list[ReconfigurationResponse]:
    return [
        p
        for _, chunk in tap.chunks(ReconfigChunk)
        for p in chunk.parameters
        if isinstance(p, ReconfigurationResponse)
    ]


def test_reset_mid_transfer_answers_in_progress_then_succeeds() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    tap_ba = Tap(lambda: pair.now)
    pair.link_ba.drop = tap_ba
    pair.connect()
    assert pair.a._sender is not None
    first_tsn = pair.a._sender.next_tsn
    # 50 one-fragment messages; the last one's first transmission is lost, so the
    # reset request overtakes it and the peer must answer "In progress".
    tap_ab = Tap(lambda: pair.now, drop_if=data_tsn_dropper(first_tsn + 49))
    pair.link_ab.drop = tap_ab
    sent = [bytes([i]) * 500 for i in range(50)]
    for data in sent:
        pair.a.send(1, 51, data, now=pair.now)
    pair.a.send(2, 51, b"other stream", now=pair.now)
    pair.run_for(0.03)  # mid-transfer
    pair.a.reset_streams([1])
    with pytest.raises(LocalProtocolError):
        pair.a.send(1, 51, b"too late", now=pair.now)
    assert pair.run_until(
        lambda: any(isinstance(e, OutgoingStreamsReset) for e in pair.events_a), 30
    )
    results = [r.result for r in _responses(tap_ba)]
    assert results[0] == ReconfigResult.IN_PROGRESS
    assert results[-1] == ReconfigResult.SUCCESS_PERFORMED
    requests = [
        p for _, c in tap_ab.chunks(ReconfigChunk) for p in c.parameters
        if isinstance(p, OutgoingSsnResetRequest)
    ]
    assert requests[0].senders_last_assigned_tsn == first_tsn + 50  # 50 + "other stream"
    assert requests[0].stream_numbers == (1,)
    # Everything sent before the reset arrived, in order, before the reset event.
    stream_1 = [
        e for e in pair.events_b
        if (isinstance(e, MessageReceived) and e.stream_id == 1) or isinstance(e, IncomingStreamsReset)
    ]
    assert [e.data for e in stream_1[:-1] if isinstance(e, MessageReceived)] == sent
    assert stream_1[-1] == IncomingStreamsReset((1,))
    # The stream lives again with SSN 0 on both sides.
    pair.a.send(1, 51, b"new life", now=pair.now)
    assert pair.run_until(lambda: pair.messages_b()[-1].data == b"new life", 5)


def test_reset_on_lossy_link_with_both_directions_closing() -> None:
    pair = impaired_pair(41)
    pair.connect()
    for index in range(30):
        pair.a.send(3, 51, b"a%d" % index * 300, now=pair.now)
        pair.b.send(3, 51, b"b%d" % index * 300, now=pair.now)

    # As a data channel does (RFC 8831 section 6.7): answer an incoming reset with our own.
    def close_our_side(side: Association, event: Event) -> None:
        if isinstance(event, IncomingStreamsReset) and side is pair.b:
            side.reset_streams(event.stream_ids)

    pair.on_event = close_our_side
    pair.run_for(0.05)
    pair.a.reset_streams([3])
    assert pair.run_until(
        lambda: any(isinstance(e, IncomingStreamsReset) for e in pair.events_a)
        and any(isinstance(e, OutgoingStreamsReset) for e in pair.events_b)
        and any(isinstance(e, OutgoingStreamsReset) for e in pair.events_a),
        300,
    )
    assert [m.data for m in pair.messages_b()] == [b"a%d" % i * 300 for i in range(30)]
    assert [m.data for m in pair.messages_a()] == [b"b%d" % i * 300 for i in range(30)]


def _inject(target: Association, chunks: list[bytes]) -> None:
    packet = encode_packet(5000, 5000, target._local_tag, chunks)
    target.receive_packet(packet, now=1.0)


def test_data_of_the_next_stream_life_waits_for_the_deferred_reset() -> None:
    pair = Pair()
    pair.connect()
    b = pair.b
    assert b._received is not None and b._reconfig is not None
    base = b._received.cumulative_tsn
    request = OutgoingSsnResetRequest(
        request_sequence_number=b._reconfig.expected_peer_request_sequence_number,
        response_sequence_number=0,
        senders_last_assigned_tsn=base + 2,
        stream_numbers=(4,),
    )
    _inject(b, [ReconfigChunk((request,)).encode()])
    # New life of stream 4 (SSN 0 again) overtakes the old life's last messages.
    _inject(b, [DataChunk(base + 3, 4, 0, 51, b"new-0").encode()])
    _inject(b, [DataChunk(base + 1, 4, 0, 51, b"old-0").encode()])
    _inject(b, [DataChunk(base + 2, 4, 1, 51, b"old-1").encode()])
    events = []
    while (event := b.next_event()) is not None:
        events.append(event)
    assert events == [
        MessageReceived(4, 51, b"old-0", True),
        MessageReceived(4, 51, b"old-1", True),
        IncomingStreamsReset((4,)),
        MessageReceived(4, 51, b"new-0", True),
    ]


def test_denied_reset_is_reported_and_stream_stays_usable() -> None:
    pair = Pair()
    pair.connect()
    pair.a.reset_streams([6])
    pair.a.packets_to_send(pair.now)  # the request leaves (and is lost: we answer ourselves)
    assert pair.a._reconfig is not None
    outstanding = pair.a._reconfig.outstanding_request
    assert outstanding is not None
    denial = ReconfigurationResponse(outstanding.request_sequence_number, ReconfigResult.DENIED)
    _inject(pair.a, [ReconfigChunk((denial,)).encode()])
    assert pair.a.next_event() == StreamResetFailed((6,), ReconfigResult.DENIED)
    pair.a.send(6, 51, b"still open", now=pair.now)
    # A response to a request we never made is ignored.
    _inject(pair.a, [ReconfigChunk((denial,)).encode()])
    assert pair.a.next_event() is None


def test_reset_requests_are_answered_by_sequence_number() -> None:
    reconfig = StreamReconfiguration.create(local_initial_tsn=100, peer_initial_tsn=500)
    fresh = OutgoingSsnResetRequest(500, 99, senders_last_assigned_tsn=20, stream_numbers=(1,))
    response, perform = reconfig.handle_outgoing_request(fresh, cumulative_tsn=19)
    assert response.result == ReconfigResult.IN_PROGRESS and not perform
    assert reconfig.holds_back(1, 21) and not reconfig.holds_back(1, 20)
    assert not reconfig.holds_back(2, 21)
    assert reconfig.deferred_request_ready(cumulative_tsn=19) is None
    assert reconfig.deferred_request_ready(cumulative_tsn=20) == fresh
    # The peer retransmits the same request: it gets the stored final answer.
    response, perform = reconfig.handle_outgoing_request(fresh, cumulative_tsn=20)
    assert response.result == ReconfigResult.SUCCESS_PERFORMED and not perform
    # A request from the future is an error.
    stray = OutgoingSsnResetRequest(777, 99, 20, (1,))
    assert reconfig.handle_outgoing_request(stray, 20)[0].result == (
        ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER
    )
    # An incoming reset request makes us reset our own streams.
    answer = reconfig.handle_incoming_request(IncomingSsnResetRequest(501, (7, 8)))
    assert answer.result == ReconfigResult.SUCCESS_NOTHING_TO_DO
    assert reconfig.waiting_streams == [7, 8]
    # Add-streams is refused.
    add_streams = Parameter(17, (502).to_bytes(4, "big") + b"\x00\x01\x00\x00")
    refused = reconfig.handle_unsupported_request(add_streams)
    assert refused is not None and refused.result == ReconfigResult.DENIED


def test_our_request_numbering_and_in_progress_retry() -> None:
    reconfig = StreamReconfiguration.create(local_initial_tsn=100, peer_initial_tsn=500)
    reconfig.request_reset((3,))
    assert reconfig.can_start_request(now=1.5)
    request = reconfig.start_request(senders_last_assigned_tsn=150, now=1.5, rto=0.5)
    assert request.request_sequence_number == 100 and reconfig.retransmit_at == 2.0
    assert request.response_sequence_number == 499
    reconfig.request_reset((4,))
    assert not reconfig.can_start_request(now=1.5), "one outstanding request at a time"
    # No answer: our own backoff doubles, and says it was a timeout.
    assert reconfig.on_timer(now=2.0, rto=0.5, rto_max=60) == (request, True)
    assert reconfig.retransmit_at == 3.0
    in_progress = ReconfigurationResponse(100, ReconfigResult.IN_PROGRESS)
    outcome = reconfig.handle_response(in_progress, now=3.0, rto=0.5)
    assert outcome is not None and outcome.in_progress and reconfig.retransmit_at == 3.5
    # The planned re-send after "In progress" is not a timeout and does not back off.
    assert reconfig.on_timer(now=3.5, rto=0.5, rto_max=60) == (request, False)
    assert reconfig.retransmit_at == 4.0
    done = reconfig.handle_response(ReconfigurationResponse(100, 1), now=4.0, rto=0.5)
    assert done is not None and done.stream_ids == (3,) and not done.in_progress
    assert reconfig.start_request(151, 5.0, 0.5).request_sequence_number == 101


def test_request_already_in_progress_is_retried_with_a_new_request() -> None:
    reconfig = StreamReconfiguration.create(local_initial_tsn=100, peer_initial_tsn=500)
    reconfig.request_reset((3,))
    reconfig.start_request(150, now=1.0, rto=0.5)
    busy = ReconfigurationResponse(100, ReconfigResult.ERROR_REQUEST_ALREADY_IN_PROGRESS)
    outcome = reconfig.handle_response(busy, now=1.2, rto=0.5)
    assert outcome is not None and outcome.in_progress, "not final"
    assert reconfig.is_resetting(3) and not reconfig.can_start_request(now=1.6)
    assert reconfig.retransmit_at == 1.7 and reconfig.on_timer(1.7, 0.5, 60) == (None, False)
    assert reconfig.can_start_request(now=1.7)
    again = reconfig.start_request(150, now=1.7, rto=0.5)
    assert again.request_sequence_number == 101 and again.stream_numbers == (3,)


def test_reset_retransmission_does_not_back_off_the_data_rto() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    pair.connect()
    pair.a.send(1, 51, b"warm up the RTT estimate", now=pair.now)
    assert pair.run_until(lambda: bool(pair.messages_b()), 5)
    pair.run_for(1)  # its SACK gives the RTT sample
    rto = pair.a.rto
    lost = [3]

    def drop_if(index: int, packet: Packet) -> bool:
        if lost[0] and any(isinstance(c, ReconfigChunk) for c in packet.chunks):
            lost[0] -= 1
            return True
        return False

    tap = Tap(lambda: pair.now, drop_if=drop_if)
    pair.link_ab.drop = tap
    pair.a.reset_streams([1])
    assert pair.run_until(
        lambda: any(isinstance(e, OutgoingStreamsReset) for e in pair.events_a), 30
    )
    assert pair.a.rto == rto, "the RTO that paces DATA is untouched"
    times = [t for t, _ in tap.sent_chunks(ReconfigChunk)]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert gaps == [round(rto * 2**k, 6) for k in range(3)], "its own backoff"


def test_peer_busy_with_its_own_reset_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.02), link_ba=ImpairedLink(delay=0.02))
    pair.connect()
    b_reconfig = pair.b._reconfig
    answer = StreamReconfiguration.handle_outgoing_request
    busy_once = [True]

    def busy_then_normal(
        self: StreamReconfiguration, request: OutgoingSsnResetRequest, cumulative_tsn: int
    ) -> tuple[ReconfigurationResponse, bool]:
        if self is b_reconfig and busy_once[0]:
            busy_once[0] = False
            result = ReconfigResult.ERROR_REQUEST_ALREADY_IN_PROGRESS
            self._finish_peer_request(result)  # a final answer: the number is used up
            return ReconfigurationResponse(request.request_sequence_number, result), False
        return answer(self, request, cumulative_tsn)

    monkeypatch.setattr(StreamReconfiguration, "handle_outgoing_request", busy_then_normal)
    pair.a.reset_streams([1])
    assert pair.run_until(
        lambda: any(isinstance(e, OutgoingStreamsReset | StreamResetFailed) for e in pair.events_a), 30
    )
    assert not busy_once[0]
    assert [e for e in pair.events_a if isinstance(e, StreamResetFailed)] == []
    assert IncomingStreamsReset((1,)) in pair.events_b
