"""Outbound data: per-stream queues, fragmentation, TSN assignment, SACK processing,
retransmission (T3-rtx and fast retransmit, RFC 9260 sections 6.3 and 7.2.4, with
RACK's time-based loss detection beside the miss count: see rack.py),
flow control (section 6.2.1) and partial reliability (RFC 3758 section 3.5).

A message is fragmented, and its fragments given consecutive TSNs and the
message its SSN, only when it reaches the head of the send schedule, so a
message whose lifetime runs out while queued is dropped without ever consuming
a TSN or an SSN. Every chunk holding a TSN
lives in `_chunks` until the peer's Cumulative TSN Ack passes it; gap-acked
chunks stay there too, because the receiver may renege (section 6.2).

Abandonment (RFC 3758): when a chunk would be retransmitted and its message has
used up `max_retransmits` or passed its lifetime, every fragment of the message
is abandoned; the Advanced.Peer.Ack.Point then moves over consecutive abandoned
TSNs and a FORWARD-TSN tells the peer to skip them.
"""

from __future__ import annotations

import bisect
import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from .chunks import DATA_CHUNK_HEADER_SIZE, DataChunk, ForwardTsnChunk, SackChunk
from .congestion import CongestionController, RtoEstimator
from .events import BufferedAmountLow
from .rack import Rack
from .serial import (
    TSN_MODULUS,
    ssn_add,
    ssn_lt,
    tsn_add,
    tsn_diff,
    tsn_gt,
    tsn_le,
    tsn_lt,
    tsn_sort_key,
)

# Fast retransmit after this many miss indications (RFC 9260 section 7.2.4).
_FAST_RETRANSMIT_THRESHOLD = 3


class ChunkState(enum.Enum):
    PENDING = enum.auto()  # TSN assigned, never sent
    IN_FLIGHT = enum.auto()
    TO_RETRANSMIT = enum.auto()
    GAP_ACKED = enum.auto()
    ABANDONED = enum.auto()
    ACKED = enum.auto()  # passed by the Cumulative TSN Ack: no longer held


@dataclass(slots=True, eq=False)
class OutboundMessage:
    stream_id: int
    ppid: int
    data: bytes
    ordered: bool
    max_retransmits: int | None
    expires_at: float | None
    ssn: int = 0
    abandoned: bool = False
    chunks: list[SentChunk] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class SentChunk:
    chunk: DataChunk
    message: OutboundMessage
    size: int  # of the user data
    # Encoded once: a retransmission sends the very same bytes.
    encoded: bytes
    state: ChunkState = ChunkState.PENDING
    sent_at: float = 0.0
    transmissions: int = 0
    miss_indications: int = 0
    fast_retransmit: bool = False  # chosen for fast retransmit, not yet resent


class Sender:
    def __init__(
        self,
        initial_tsn: int,
        max_fragment_size: int,
        peer_receiver_window: int,
        congestion: CongestionController,
        rto: RtoEstimator,
        partial_reliability: bool,
        max_burst: int = 4,
    ) -> None:
        self.next_tsn = initial_tsn
        self.cumulative_tsn_ack = tsn_add(initial_tsn, -1)
        self.advanced_peer_ack_point = self.cumulative_tsn_ack
        self.max_fragment_size = max_fragment_size
        self.peer_receiver_window = peer_receiver_window
        self.congestion = congestion
        self.rto = rto
        self.partial_reliability = partial_reliability
        self.flight_size = 0
        self.max_burst = max_burst
        # Data allowed in flight by the current round of sending (see `start_burst`).
        self._burst_limit = 0
        # Flight left by the previous round when it stopped at a limit, not for want of data.
        self._clocked_flight = 0
        # Bytes of fast retransmissions that may still ignore cwnd: one packet's worth
        # per fast-retransmit event (RFC 9260 section 7.2.4 step 3).
        self._fast_retransmit_room = 0
        self.t3_expires_at: float | None = None
        # RACK (see rack.py): when the next chunk in flight may be declared lost.
        self.rack = Rack()
        self.loss_detection_at: float | None = None
        self._highest_acked_tsn = self.cumulative_tsn_ack
        self.forward_tsn_due = False
        self.last_data_sent_at: float | None = None
        self.events: list[BufferedAmountLow] = []
        self._chunks: dict[int, SentChunk] = {}
        self._pending: deque[SentChunk] = deque()
        self._to_retransmit: set[int] = set()
        # `_to_retransmit` in sending order (fast retransmissions first, then by TSN),
        # built when needed and kept until a chunk is added: sending N retransmissions
        # sorts once, not N times. Entries no longer waiting are skipped lazily.
        self._retransmit_order: deque[SentChunk] | None = None
        self._gap_acked_count = 0
        self._queues: dict[int, deque[OutboundMessage]] = {}
        self._round_robin: deque[int] = deque()
        self._next_ssn: dict[int, int] = {}
        self._buffered: dict[int, int] = {}
        self._low_thresholds: dict[int, int] = {}

    # ---- queueing -------------------------------------------------------------

    def enqueue(self, message: OutboundMessage) -> None:
        sid = message.stream_id
        queue = self._queues.get(sid)
        if queue is None:
            queue = self._queues[sid] = deque()
        if not queue:
            self._round_robin.append(sid)
        queue.append(message)
        self._buffered[sid] = self._buffered.get(sid, 0) + len(message.data)

    def buffered_amount(self, stream_id: int) -> int:
        return self._buffered.get(stream_id, 0)

    def set_buffered_amount_low_threshold(self, stream_id: int, threshold: int) -> None:
        self._low_thresholds[stream_id] = threshold

    def has_queued(self, stream_ids: tuple[int, ...] | None = None) -> bool:
        """Whether messages are waiting whose fragments did not all get a first transmission."""
        if stream_ids is None:
            if self._round_robin:  # exactly the streams with queued messages
                return True
        elif any(self._queues.get(sid) for sid in stream_ids):
            return True
        return any(
            sc.state is ChunkState.PENDING
            and (stream_ids is None or sc.message.stream_id in stream_ids)
            for sc in self._pending
        )

    def has_outstanding(self) -> bool:
        return bool(self._chunks) or self.has_queued()

    def reset_outgoing_ssn(self, stream_ids: tuple[int, ...]) -> None:
        """RFC 6525 section 5.1.2: after a successful reset, SSNs of these streams restart at 0.
        Queued messages hold no SSN yet (see `_assign_tsns`), so nothing needs renumbering."""
        for sid in stream_ids or tuple(self._next_ssn):  # none listed: all (RFC 6525 4.1)
            self._next_ssn[sid] = 0

    def last_assigned_tsn(self) -> int:
        return tsn_add(self.next_tsn, -1)

    # ---- transmission -----------------------------------------------------------

    def start_burst(self) -> None:
        """Called before each round of `next_chunk` calls (one `packets_to_send`).

        Max.Burst (RFC 9260 section 6.1, after RFC 4960's errata): a round may put at
        most `max_burst` packets more in flight than there were, so a window that is
        open wide after idle is not sent in one burst that overflows queues on the
        path; cwnd itself is left alone. While the sender is window-limited the level
        it had reached counts as "were": the acks that arrived since (perhaps many at
        once, if the caller batches them) refill it, as an ack clock does."""
        chunk_room = self.max_fragment_size + DATA_CHUNK_HEADER_SIZE
        base = max(self.flight_size, self._clocked_flight)
        self._burst_limit = base + self.max_burst * chunk_room

    def end_burst(self) -> None:
        """Called after the round: remember its flight if data is still waiting."""
        waiting = bool(self._to_retransmit) or self.has_queued()
        self._clocked_flight = self.flight_size if waiting else 0

    def next_chunk(self, now: float, room: int) -> DataChunk | None:
        """The next DATA chunk allowed by cwnd and rwnd whose encoding fits in `room` bytes."""
        sc = self._next_to_send(now, room)
        return None if sc is None else sc.chunk

    def next_encoded_chunk(self, now: float, room: int) -> bytes | None:
        """Like `next_chunk`, but the chunk's encoding (made once per TSN)."""
        sc = self._next_to_send(now, room)
        return None if sc is None else sc.encoded

    def _next_to_send(self, now: float, room: int) -> SentChunk | None:
        for sc in self._retransmission_candidates() if self._to_retransmit else ():
            bypass = (
                sc.fast_retransmit
                and DATA_CHUNK_HEADER_SIZE + sc.size <= self._fast_retransmit_room
            )
            if not self._may_send(sc.size, room, bypass_cwnd=bypass):
                return None
            if bypass:
                self._fast_retransmit_room -= DATA_CHUNK_HEADER_SIZE + sc.size
            if self._expired(sc.message, now):
                self._abandon(sc.message)
                continue
            return self._transmit(sc, now)
        while True:
            pending = self._next_pending(now, room)
            if pending is None:
                return None
            if self._expired(pending.message, now):
                self._abandon(pending.message)
                continue
            if not self._may_send(pending.size, room, bypass_cwnd=False):
                return None
            return self._transmit(pending, now)

    def _retransmission_candidates(self) -> Iterator[SentChunk]:
        if not self._to_retransmit:
            return
        order = self._retransmit_order
        if order is None:
            key = tsn_sort_key(self.cumulative_tsn_ack)
            candidates = [self._chunks.get(tsn) for tsn in self._to_retransmit]
            waiting = [sc for sc in candidates
                       if sc is not None and sc.state is ChunkState.TO_RETRANSMIT]
            self._to_retransmit = {sc.chunk.tsn for sc in waiting}
            waiting.sort(key=lambda sc: (not sc.fast_retransmit, key(sc.chunk.tsn)))
            order = self._retransmit_order = deque(waiting)
        while order:
            sc = order[0]
            if sc.state is not ChunkState.TO_RETRANSMIT or self._chunks.get(sc.chunk.tsn) is not sc:
                order.popleft()
                continue
            yield sc
            if order and order[0] is sc and sc.state is ChunkState.TO_RETRANSMIT:
                return  # the caller went on without taking it: never offer it twice

    def _wait_for_retransmission(self, sc: SentChunk) -> None:
        self._to_retransmit.add(sc.chunk.tsn)
        self._retransmit_order = None

    def _may_send(self, size: int, room: int, bypass_cwnd: bool) -> bool:
        if DATA_CHUNK_HEADER_SIZE + size > room:
            return False
        in_window = bypass_cwnd or (
            self.flight_size < self.congestion.cwnd and self.flight_size + size <= self._burst_limit
        )
        receiver_room = self.peer_receiver_window - self.flight_size
        # Zero-window probing (RFC 9260 section 6.1 A): one chunk when nothing is in flight.
        fits_receiver = receiver_room >= size or self.flight_size == 0
        return in_window and fits_receiver

    def _next_pending(self, now: float, room: int) -> SentChunk | None:
        """The oldest chunk holding an unsent TSN, else the next message of the round robin,
        fragmented only if its first fragment may go now: waiting messages spend no TSN."""
        while self._pending:
            if self._pending[0].state is ChunkState.PENDING:
                return self._pending[0]
            self._pending.popleft()
        while self._round_robin:
            sid = self._round_robin[0]
            queue = self._queues[sid]
            message = queue[0]
            if self._expired(message, now):
                self._dequeue_head(sid)
                self._reduce_buffered(sid, len(message.data))
                continue
            first_fragment = min(len(message.data), self.max_fragment_size)
            if not self._may_send(first_fragment, room, bypass_cwnd=False):
                return None
            self._dequeue_head(sid)
            self._assign_tsns(message)
            return message.chunks[0]
        return None

    def _dequeue_head(self, stream_id: int) -> None:
        """Pop the stream's first message and move the stream to the back of the round robin."""
        queue = self._queues[stream_id]
        queue.popleft()
        self._round_robin.popleft()
        if queue:
            self._round_robin.append(stream_id)

    def _assign_tsns(self, message: OutboundMessage) -> None:
        # The SSN is taken here, together with the TSNs, and not when the message is
        # queued: a message whose lifetime ends while it waits is dropped before this
        # point, and had it held an SSN the peer would wait for that SSN forever, since
        # a FORWARD-TSN can only skip SSNs of messages that have TSNs (RFC 3758 3.5).
        # Once here, an abandoned message is skipped by the FORWARD-TSN's stream list.
        if message.ordered:
            sid = message.stream_id
            message.ssn = self._next_ssn.get(sid, 0)
            self._next_ssn[sid] = ssn_add(message.ssn, 1)
        data = message.data
        size = self.max_fragment_size
        pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        for index, piece in enumerate(pieces):
            chunk = DataChunk(
                tsn=self.next_tsn,
                stream_identifier=message.stream_id,
                stream_sequence_number=message.ssn if message.ordered else 0,
                payload_protocol_identifier=message.ppid,
                user_data=piece,
                unordered=not message.ordered,
                beginning=index == 0,
                ending=index == len(pieces) - 1,
            )
            sc = SentChunk(chunk, message, len(piece), chunk.encode())
            message.chunks.append(sc)
            self._chunks[self.next_tsn] = sc
            self._pending.append(sc)
            self.next_tsn = tsn_add(self.next_tsn, 1)

    def _transmit(self, sc: SentChunk, now: float) -> SentChunk:
        if self.flight_size == 0 and self.last_data_sent_at is not None:
            self.congestion.on_idle(now - self.last_data_sent_at, self.rto.rto)
        if sc.state is ChunkState.PENDING:
            self._reduce_buffered(sc.message.stream_id, sc.size)
            self._pending.popleft()
        else:
            self._to_retransmit.discard(sc.chunk.tsn)
        sc.state = ChunkState.IN_FLIGHT
        sc.transmissions += 1
        sc.sent_at = now
        sc.fast_retransmit = False
        self.flight_size += sc.size
        self.last_data_sent_at = now
        if self.t3_expires_at is None:
            self.t3_expires_at = now + self.rto.rto
        return sc

    def _reduce_buffered(self, stream_id: int, amount: int) -> None:
        before = self._buffered.get(stream_id, 0)
        after = max(0, before - amount)
        self._buffered[stream_id] = after
        threshold = self._low_thresholds.get(stream_id)
        if threshold is not None and before > threshold >= after:
            self.events.append(BufferedAmountLow(stream_id, after))

    # ---- partial reliability ------------------------------------------------------

    def _expired(self, message: OutboundMessage, now: float) -> bool:
        if message.abandoned:
            return True
        if not self.partial_reliability:
            return False
        return message.expires_at is not None and now >= message.expires_at

    def _retransmissions_exhausted(self, sc: SentChunk) -> bool:
        limit = sc.message.max_retransmits
        return self.partial_reliability and limit is not None and sc.transmissions > limit

    def _abandon(self, message: OutboundMessage) -> None:
        message.abandoned = True
        for sc in message.chunks:
            if sc.state in (ChunkState.ABANDONED, ChunkState.ACKED):
                continue
            if sc.state is ChunkState.IN_FLIGHT:
                self.flight_size -= sc.size
            elif sc.state is ChunkState.PENDING:
                self._reduce_buffered(message.stream_id, sc.size)
            elif sc.state is ChunkState.GAP_ACKED:
                self._gap_acked_count -= 1
            self._to_retransmit.discard(sc.chunk.tsn)
            sc.state = ChunkState.ABANDONED
        self._advance_peer_ack_point()

    def _advance_peer_ack_point(self) -> None:
        point = self.advanced_peer_ack_point
        if tsn_lt(point, self.cumulative_tsn_ack):
            point = self.cumulative_tsn_ack
        while True:
            sc = self._chunks.get(tsn_add(point, 1))
            if sc is None or sc.state is not ChunkState.ABANDONED:
                break
            point = sc.chunk.tsn
        if tsn_gt(point, self.advanced_peer_ack_point):
            self.advanced_peer_ack_point = point
            if tsn_gt(point, self.cumulative_tsn_ack):
                self.forward_tsn_due = True

    def forward_tsn_chunk(self, max_size: int) -> ForwardTsnChunk:
        """RFC 3758 section 3.5 C: skip to the Advanced.Peer.Ack.Point, in a chunk of at
        most `max_size` bytes. When the ordered streams to list do not all fit, the New
        Cumulative TSN stops before the first message that would need one more entry
        (a stream change is always a message boundary); the rest follows after the
        next SACK, since the point is then still ahead of the cumulative ack."""
        max_streams = max(0, (max_size - 8) // 4)
        skipped: dict[int, int] = {}
        new_cumulative = self.cumulative_tsn_ack
        tsn = tsn_add(self.cumulative_tsn_ack, 1)
        while tsn_le(tsn, self.advanced_peer_ack_point):
            sc = self._chunks.get(tsn)
            if sc is not None and sc.message.ordered:
                sid, ssn = sc.message.stream_id, sc.message.ssn
                if sid not in skipped:
                    if len(skipped) == max_streams:
                        break
                    skipped[sid] = ssn
                elif ssn_lt(skipped[sid], ssn):
                    skipped[sid] = ssn
            new_cumulative = tsn
            tsn = tsn_add(tsn, 1)
        self.forward_tsn_due = False
        return ForwardTsnChunk(new_cumulative, tuple(sorted(skipped.items())))

    def needs_forward_tsn(self) -> bool:
        return tsn_gt(self.advanced_peer_ack_point, self.cumulative_tsn_ack)

    # ---- acknowledgements ------------------------------------------------------------

    def handle_sack(self, sack: SackChunk, now: float) -> bool:
        """Process a SACK; returns True if it acknowledged new data (for error counting)."""
        cumulative = sack.cumulative_tsn_ack
        if tsn_lt(cumulative, self.cumulative_tsn_ack):
            return False  # an older SACK overtaken by a newer one (section 6.2.1 D i)
        if tsn_gt(cumulative, self.last_assigned_tsn()):
            return False  # acknowledges TSNs never sent: ignore rather than corrupt state
        flight_before = self.flight_size
        rtt_sample: float | None = None
        # When the newest data this SACK acknowledges for the first time was sent: only
        # data sent after a retransmission can show that the retransmission was lost.
        newest_acked_sent_at = -1.0
        newest_acked_retransmitted = False
        bytes_acked = 0
        progressed = False

        chunks, to_retransmit = self._chunks, self._to_retransmit
        base = self.cumulative_tsn_ack + 1
        for offset in range(tsn_diff(cumulative, self.cumulative_tsn_ack)):
            tsn = (base + offset) % TSN_MODULUS
            sc = chunks.pop(tsn, None)
            if sc is None:
                continue
            state = sc.state
            if state is ChunkState.IN_FLIGHT:
                self.flight_size -= sc.size
            elif state is ChunkState.GAP_ACKED:
                self._gap_acked_count -= 1
            elif state is ChunkState.TO_RETRANSMIT:
                to_retransmit.discard(tsn)
            if state is ChunkState.IN_FLIGHT or state is ChunkState.TO_RETRANSMIT:
                bytes_acked += sc.size
                if sc.sent_at > newest_acked_sent_at:
                    newest_acked_sent_at = sc.sent_at
                    newest_acked_retransmitted = sc.transmissions > 1
                if sc.transmissions == 1:
                    rtt_sample = now - sc.sent_at
            sc.state = ChunkState.ACKED
        cumulative_advanced = cumulative != self.cumulative_tsn_ack
        self.cumulative_tsn_ack = cumulative
        progressed = cumulative_advanced

        gap_acked = _GapBlocks(cumulative, sack.gap_ack_blocks)
        highest_newly_acked: int | None = None
        # Chunks are kept in TSN order: stop past the last block unless gap-acked
        # chunks further on must be checked for reneging.
        unvisited_gap_acked = self._gap_acked_count
        for sc in self._chunks.values() if (sack.gap_ack_blocks or unvisited_gap_acked) else ():
            tsn = sc.chunk.tsn
            beyond_blocks = tsn_diff(tsn, cumulative) > gap_acked.reach
            if beyond_blocks and not unvisited_gap_acked:
                break
            was_gap_acked = sc.state is ChunkState.GAP_ACKED
            unvisited_gap_acked -= was_gap_acked
            if not beyond_blocks and gap_acked.covers(tsn):
                if sc.state in (ChunkState.IN_FLIGHT, ChunkState.TO_RETRANSMIT):
                    if sc.state is ChunkState.IN_FLIGHT:
                        self.flight_size -= sc.size
                    self._to_retransmit.discard(tsn)
                    sc.state = ChunkState.GAP_ACKED
                    self._gap_acked_count += 1
                    bytes_acked += sc.size
                    progressed = True
                    if sc.sent_at > newest_acked_sent_at:
                        newest_acked_sent_at = sc.sent_at
                        newest_acked_retransmitted = sc.transmissions > 1
                    if sc.transmissions == 1:
                        rtt_sample = now - sc.sent_at
                    highest_newly_acked = tsn
            elif was_gap_acked:
                # The receiver reneged (section 6.2): treat the chunk as lost again.
                sc.state = ChunkState.TO_RETRANSMIT
                self._gap_acked_count -= 1
                self._wait_for_retransmission(sc)
        if rtt_sample is not None:
            self.rto.on_rtt_measurement(rtt_sample)
        if newest_acked_sent_at >= 0:
            self.rack.on_acked(newest_acked_sent_at, newest_acked_retransmitted, now)
        if sack.duplicate_tsns:
            self.rack.on_duplicates_reported(now, self.rto.srtt)
        highest_acked = tsn_add(cumulative, gap_acked.reach)
        if tsn_gt(highest_acked, self._highest_acked_tsn):
            self._highest_acked_tsn = highest_acked

        strike_below = highest_newly_acked
        if self.congestion.in_fast_recovery and cumulative_advanced and gap_acked.reach:
            # RFC 9260 section 7.2.4: in fast recovery, a SACK that moves the Cumulative
            # TSN Ack strikes every TSN it reports missing, not only those below the
            # highest newly acknowledged TSN.
            strike_below = tsn_add(cumulative, gap_acked.reach)
        lost = self._detect_losses(now, strike_below, newest_acked_sent_at)

        recovery_exit = self.congestion.fast_recovery_exit_tsn
        if recovery_exit is not None and tsn_le(recovery_exit, cumulative):
            self.congestion.exit_fast_recovery()
        all_acked = self.flight_size == 0 and not self._to_retransmit and not self._gap_acked_count
        self.congestion.on_sack(bytes_acked, cumulative_advanced, flight_before, all_acked)
        self._retransmit_lost(lost, now)

        self.peer_receiver_window = sack.advertised_receiver_window_credit
        self._advance_peer_ack_point()
        # RFC 3758 section 3.5 C2/C4: whenever a SACK leaves the Cumulative TSN Ack below
        # the Advanced.Peer.Ack.Point, the FORWARD-TSN we sent may have been lost: send it
        # again now, so a loss costs one round trip rather than a T3-rtx expiry.
        if self.needs_forward_tsn():
            self.forward_tsn_due = True
        if cumulative_advanced:
            self._restart_t3(now)
        elif not self._needs_t3():
            self.t3_expires_at = None
        return progressed

    def _detect_losses(
        self, now: float, strike_below: int | None, newest_acked_sent_at: float
    ) -> list[SentChunk]:
        """The chunks in flight now known lost, by either rule; arms the loss-detection
        timer for those that RACK will declare lost unless acknowledged first.

        Miss indications (section 7.2.4) count for TSNs below `strike_below`. The
        section fast-retransmits a chunk at most once, because SACKs for data sent
        before its retransmission keep reporting it missing; a lost fast
        retransmission then waits for T3-rtx. Here a retransmitted chunk counts a
        miss only from a SACK that acknowledges data sent after its latest
        transmission (RACK's "sent after" test, RFC 8985 section 6.2), so stale SACKs
        never strike it and a lost retransmission is repaired in one more round trip.
        A first transmission precedes every higher TSN, so for it the TSN order is
        that test. Chunks beyond the highest TSN ever acknowledged cannot be reported
        missing and are not visited."""
        lost: list[SentChunk] = []
        next_deadline: float | None = None
        srtt = self.rto.srtt
        limit = self._highest_acked_tsn
        for sc in self._chunks.values():
            if tsn_gt(sc.chunk.tsn, limit):
                break
            if sc.state is not ChunkState.IN_FLIGHT:
                continue
            if (
                strike_below is not None
                and tsn_lt(sc.chunk.tsn, strike_below)
                and (sc.transmissions == 1 or newest_acked_sent_at >= sc.sent_at)
            ):
                sc.miss_indications += 1
                if sc.miss_indications >= _FAST_RETRANSMIT_THRESHOLD:
                    lost.append(sc)
                    continue
            deadline = self.rack.loss_deadline(sc.sent_at, srtt)
            if deadline is None:
                continue
            if now >= deadline:
                lost.append(sc)
            elif next_deadline is None or deadline < next_deadline:
                next_deadline = deadline
        self.loss_detection_at = next_deadline
        return lost

    def _retransmit_lost(self, lost: list[SentChunk], now: float) -> None:
        if not lost:
            return
        highest_outstanding = tsn_add(self.next_tsn, -1)
        if self.congestion.in_fast_recovery and any(sc.transmissions > 1 for sc in lost):
            # A retransmission was lost as well: the window already halved for this
            # recovery was still too large. That is a new congestion event (T3-rtx
            # used to be the answer, with cwnd at one MTU): halve again.
            self.congestion.exit_fast_recovery()
        if self.congestion.enter_fast_recovery(highest_outstanding):
            self.rack.on_recovery()
        self._fast_retransmit_room = self.max_fragment_size + DATA_CHUNK_HEADER_SIZE
        for sc in lost:
            sc.miss_indications = 0
            self._mark_for_retransmission(sc, now, fast=True)

    def handle_loss_detection_timer(self, now: float) -> None:
        """RACK's timer: chunks whose reordering window has passed are lost."""
        self.loss_detection_at = None
        self._retransmit_lost(self._detect_losses(now, None, -1.0), now)
        if self.t3_expires_at is None and self._needs_t3():
            self._restart_t3(now)

    def _mark_for_retransmission(self, sc: SentChunk, now: float, fast: bool) -> None:
        if sc.state is ChunkState.IN_FLIGHT:
            self.flight_size -= sc.size
        sc.state = ChunkState.TO_RETRANSMIT
        sc.fast_retransmit = fast
        self._wait_for_retransmission(sc)
        if self._retransmissions_exhausted(sc) or self._expired(sc.message, now):
            self._abandon(sc.message)

    def _needs_t3(self) -> bool:
        return self.flight_size > 0 or bool(self._to_retransmit) or self.needs_forward_tsn()

    def _restart_t3(self, now: float) -> None:
        self.t3_expires_at = now + self.rto.rto if self._needs_t3() else None

    def handle_t3_expiry(self, now: float) -> None:
        """RFC 9260 section 6.3.3: back off, collapse cwnd, retransmit everything in flight."""
        self.t3_expires_at = None
        self.loss_detection_at = None  # everything in flight is retransmitted now
        self.rto.back_off()
        self.congestion.on_retransmission_timeout()
        for sc in list(self._chunks.values()):
            if sc.state in (ChunkState.IN_FLIGHT, ChunkState.TO_RETRANSMIT):
                sc.miss_indications = 0
                self._mark_for_retransmission(sc, now, fast=False)
        if self.needs_forward_tsn():
            self.forward_tsn_due = True
        self._restart_t3(now)

    def check_invariants(self) -> None:
        """Recompute the incremental bookkeeping from scratch (for tests)."""
        in_flight = sum(
            sc.size for sc in self._chunks.values() if sc.state is ChunkState.IN_FLIGHT
        )
        assert self.flight_size == in_flight, (self.flight_size, in_flight)
        gap_acked = sum(sc.state is ChunkState.GAP_ACKED for sc in self._chunks.values())
        assert self._gap_acked_count == gap_acked, (self._gap_acked_count, gap_acked)
        waiting = {t for t, sc in self._chunks.items() if sc.state is ChunkState.TO_RETRANSMIT}
        assert self._to_retransmit == waiting
        assert all(sc.state is not ChunkState.ACKED for sc in self._chunks.values())

    def outstanding_tsn_span(self) -> int:
        """How many TSNs are held (for tests and statistics)."""
        if not self._chunks:
            return 0
        return tsn_diff(self.next_tsn, self.cumulative_tsn_ack) - 1


class _GapBlocks:
    """Membership test for a SACK's Gap Ack Blocks without expanding them: a peer may
    send thousands of (possibly overlapping) blocks spanning 65535 TSNs each."""

    def __init__(self, cumulative_tsn_ack: int, blocks: tuple[tuple[int, int], ...]) -> None:
        self._base = cumulative_tsn_ack
        ordered = sorted((start, end) for start, end in blocks if 0 < start <= end)
        self._starts = [start for start, _ in ordered]
        self.reach = max((end for _, end in ordered), default=0)
        # Largest End among the blocks starting at or before each position.
        self._reach: list[int] = []
        for _, end in ordered:
            self._reach.append(max(end, self._reach[-1]) if self._reach else end)

    def covers(self, tsn: int) -> bool:
        offset = tsn_diff(tsn, self._base)
        index = bisect.bisect_right(self._starts, offset) - 1
        return index >= 0 and offset <= self._reach[index]
