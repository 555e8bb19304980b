"""Reassembly of fragmented user messages and per-stream ordering
(RFC 9260 sections 6.5, 6.6 and 6.9; RFC 3758 section 3.6).

Fragments are kept by TSN. Fragments of one message carry consecutive TSNs
(RFC 9260 section 6.9), so when a fragment arrives we walk its neighbours to
see whether its message is complete:

- an UNORDERED message is delivered as soon as its own fragments are all here,
  whatever is missing elsewhere: no head-of-line blocking at all;
- an ORDERED message waits only for earlier SSNs of its own stream.

Memory bound: the bytes held here (fragments plus complete ordered messages
waiting for an earlier SSN) may not exceed `max_buffered_bytes`, which is also
the window advertised to the peer (a_rwnd = bound - held). At the bound a DATA
chunk is dropped WITHOUT being recorded or acknowledged, so a well-behaved
sender retransmits it later, once there is room. The one exception is the
chunk with TSN = Cumulative TSN + 1: it is always accepted, since it is the
only chunk that can make progress (every TSN below it is here, so it can only
extend the single in-order message being assembled); the overshoot is thus
bounded by one message (the configured max message size). Fragments of
unordered messages that can never complete (the sender abandoned them) are
freed by FORWARD-TSN, which drops every held fragment at or below its New
Cumulative TSN on every stream, ordered or not: Chrome lists no unordered
streams in its FORWARD-TSN, so the stream list cannot be relied on for that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .chunks import DataChunk
from .events import MessageReceived
from .serial import ssn_add, ssn_le, tsn_add, tsn_le


@dataclass(slots=True)
class _OrderedStream:
    next_ssn: int = 0
    ready: dict[int, MessageReceived] = field(default_factory=dict)


class Reassembly:
    def __init__(self, max_buffered_bytes: int) -> None:
        self.max_buffered_bytes = max_buffered_bytes
        self.buffered_bytes = 0
        self._fragments: dict[int, DataChunk] = {}
        self._streams: dict[int, _OrderedStream] = {}

    @property
    def window(self) -> int:
        return max(0, self.max_buffered_bytes - self.buffered_bytes)

    def can_accept(self, chunk: DataChunk, cumulative_tsn: int) -> bool:
        if self.buffered_bytes + len(chunk.user_data) <= self.max_buffered_bytes:
            return True
        return chunk.tsn == tsn_add(cumulative_tsn, 1)

    def add(self, chunk: DataChunk) -> list[MessageReceived]:
        """Take a chunk whose TSN is new; return the messages it makes deliverable."""
        if chunk.beginning and chunk.ending:
            return self._complete(chunk, chunk.user_data)
        self._fragments[chunk.tsn] = chunk
        self.buffered_bytes += len(chunk.user_data)
        run = self._complete_run(chunk)
        if run is None:
            return []
        parts = [self._fragments.pop(tsn) for tsn in run]
        data = b"".join(part.user_data for part in parts)
        self.buffered_bytes -= len(data)
        return self._complete(parts[0], data)

    def forward(
        self, new_cumulative_tsn: int, skipped: tuple[tuple[int, int], ...]
    ) -> list[MessageReceived]:
        """Apply a FORWARD-TSN: drop abandoned fragments, move ordered streams past skipped SSNs."""
        for tsn in [t for t in self._fragments if tsn_le(t, new_cumulative_tsn)]:
            self.buffered_bytes -= len(self._fragments.pop(tsn).user_data)
        delivered: list[MessageReceived] = []
        for stream_id, ssn in skipped:
            stream = self._streams.setdefault(stream_id, _OrderedStream())
            if ssn_le(stream.next_ssn, ssn):
                for stale in [s for s in stream.ready if ssn_le(s, ssn)]:
                    self.buffered_bytes -= len(stream.ready.pop(stale).data)
                stream.next_ssn = ssn_add(ssn, 1)
            delivered.extend(self._drain(stream))
        return delivered

    def reset_streams(self, stream_ids: tuple[int, ...]) -> None:
        """RFC 6525 section 5.2.2: the peer's SSNs on these streams (no list: all) restart at 0."""
        for stream_id in stream_ids or tuple(self._streams):
            stream = self._streams.get(stream_id)
            if stream is None:
                continue
            for message in stream.ready.values():
                self.buffered_bytes -= len(message.data)
            stream.ready.clear()
            stream.next_ssn = 0

    def _complete(self, first: DataChunk, data: bytes) -> list[MessageReceived]:
        message = MessageReceived(
            stream_id=first.stream_identifier,
            ppid=first.payload_protocol_identifier,
            data=data,
            ordered=not first.unordered,
        )
        if first.unordered:
            return [message]
        stream = self._streams.setdefault(first.stream_identifier, _OrderedStream())
        stream.ready[first.stream_sequence_number] = message
        self.buffered_bytes += len(data)
        return self._drain(stream)

    def _drain(self, stream: _OrderedStream) -> list[MessageReceived]:
        delivered: list[MessageReceived] = []
        while stream.next_ssn in stream.ready:
            message = stream.ready.pop(stream.next_ssn)
            self.buffered_bytes -= len(message.data)
            delivered.append(message)
            stream.next_ssn = ssn_add(stream.next_ssn, 1)
        return delivered

    def _complete_run(self, chunk: DataChunk) -> list[int] | None:
        """TSNs of the whole message containing `chunk`, or None if some are missing."""

        def same_message(other: DataChunk) -> bool:
            return (
                other.stream_identifier == chunk.stream_identifier
                and other.unordered == chunk.unordered
                and (chunk.unordered or other.stream_sequence_number == chunk.stream_sequence_number)
            )

        first = chunk.tsn
        current = chunk
        while not current.beginning:
            previous = self._fragments.get(tsn_add(first, -1))
            if previous is None or previous.ending or not same_message(previous):
                return None
            first, current = previous.tsn, previous
        last = chunk.tsn
        current = chunk
        while not current.ending:
            following = self._fragments.get(tsn_add(last, 1))
            if following is None or following.beginning or not same_message(following):
                return None
            last, current = following.tsn, following
        run = [first]
        while run[-1] != last:
            run.append(tsn_add(run[-1], 1))
        return run
