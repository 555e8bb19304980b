"""Reassembly of fragmented user messages and per-stream ordering
(RFC 9260 sections 6.5, 6.6 and 6.9; RFC 3758 section 3.6).

Fragments are kept by TSN. Fragments of one message carry consecutive TSNs
(RFC 9260 section 6.9). A run of fragments that starts with a first fragment
is tracked by its last TSN together with its byte count, so each arriving
fragment extends its run in constant time (amortized), and a message is
complete when its run reaches a last fragment:

- an UNORDERED message is delivered as soon as its own fragments are all here,
  whatever is missing elsewhere: no head-of-line blocking at all;
- an ORDERED message waits only for earlier SSNs of its own stream.

Memory bound. Counted are the bytes held here (fragments, and complete ordered
messages waiting for an earlier SSN) plus `outside_bytes`, which the
association reserves for DATA it holds back during a stream reset and for
delivered messages the application has not taken yet (`next_event`). The
window advertised to the peer is `max_buffered_bytes` minus all of that.

- Within the window a new chunk is accepted.
- Beyond it, a chunk is dropped WITHOUT being recorded or acknowledged, so a
  well-behaved sender retransmits it once there is room; with one exception:
  the chunk with TSN = Cumulative TSN + 1 that starts a message or extends the
  message being assembled at the cumulative TSN is the only one that can make
  progress when the window is full of fragments of later messages, so it is
  accepted as long as the total stays within `max_buffered_bytes +
  max_message_size` (a hard ceiling, not advertised).
- A message larger than `max_message_size` (what we announce in SDP as
  a=max-message-size, RFC 8841) is a protocol violation: `add` raises
  `MessageTooLarge` as soon as the fragments received add up to more, and the
  association ABORTs with a Protocol Violation cause naming the size. Neither
  the window nor the in-sequence exception can thus make us hold more than the
  ceiling, whatever the peer sends.

Fragments of unordered messages that can never complete (the sender abandoned
them) are freed by FORWARD-TSN, which drops every held fragment at or below its
New Cumulative TSN on every stream, ordered or not: Chrome lists no unordered
streams in its FORWARD-TSN, so the stream list cannot be relied on for that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .chunks import DataChunk
from .events import MessageReceived
from .serial import ssn_add, ssn_le, tsn_add, tsn_le


class MessageTooLarge(Exception):
    """The peer sent a message over `max_message_size` (reported by ABORT)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"peer sent a message of at least {size} bytes, over the {limit} allowed")
        self.size = size
        self.limit = limit


@dataclass(slots=True)
class _OrderedStream:
    next_ssn: int = 0
    ready: dict[int, MessageReceived] = field(default_factory=dict)


@dataclass(slots=True)
class _Run:
    """Consecutive fragments of one message from its first fragment on, not yet ended."""

    first_tsn: int
    size: int


def _same_message(a: DataChunk, b: DataChunk) -> bool:
    return (
        a.stream_identifier == b.stream_identifier
        and a.unordered == b.unordered
        and (a.unordered or a.stream_sequence_number == b.stream_sequence_number)
    )


class Reassembly:
    def __init__(self, max_buffered_bytes: int, max_message_size: int = 256 * 1024) -> None:
        self.max_buffered_bytes = max_buffered_bytes
        self.max_message_size = max_message_size
        self.buffered_bytes = 0
        self.outside_bytes = 0
        self._fragments: dict[int, DataChunk] = {}
        self._runs: dict[int, _Run] = {}  # by the TSN of the run's last fragment
        self._streams: dict[int, _OrderedStream] = {}

    @property
    def window(self) -> int:
        return max(0, self.max_buffered_bytes - self.buffered_bytes - self.outside_bytes)

    def can_accept(self, chunk: DataChunk, cumulative_tsn: int) -> bool:
        total = self.buffered_bytes + self.outside_bytes + len(chunk.user_data)
        if total <= self.max_buffered_bytes:
            return True
        return (
            chunk.tsn == tsn_add(cumulative_tsn, 1)
            and (chunk.beginning or cumulative_tsn in self._runs)
            and total <= self.max_buffered_bytes + self.max_message_size
        )

    def add(self, chunk: DataChunk) -> list[MessageReceived]:
        """Take a chunk whose TSN is new; return the messages it makes deliverable.
        Raises `MessageTooLarge` if its message exceeds `max_message_size`."""
        size = len(chunk.user_data)
        if chunk.beginning and chunk.ending:
            if size > self.max_message_size:
                raise MessageTooLarge(size, self.max_message_size)
            return self._complete(chunk, chunk.user_data)
        self._fragments[chunk.tsn] = chunk
        self.buffered_bytes += size
        if chunk.beginning:
            run = _Run(chunk.tsn, size)
        else:
            previous_tsn = tsn_add(chunk.tsn, -1)
            found = self._runs.get(previous_tsn)
            if found is None or not _same_message(self._fragments[previous_tsn], chunk):
                return []  # held until the fragments before it arrive
            run = self._runs.pop(previous_tsn)
            run.size += size
        # Fragments that arrived early, right after this one, join the run now.
        last = chunk
        while not last.ending:
            following = self._fragments.get(tsn_add(last.tsn, 1))
            if following is None or following.beginning or not _same_message(following, chunk):
                break
            run.size += len(following.user_data)
            last = following
        if run.size > self.max_message_size:
            raise MessageTooLarge(run.size, self.max_message_size)
        if not last.ending:
            self._runs[last.tsn] = run
            return []
        first = self._fragments[run.first_tsn]
        parts = []
        tsn = run.first_tsn
        while True:
            parts.append(self._fragments.pop(tsn).user_data)
            if tsn == last.tsn:
                break
            tsn = tsn_add(tsn, 1)
        self.buffered_bytes -= run.size
        return self._complete(first, b"".join(parts))

    def forward(
        self, new_cumulative_tsn: int, skipped: tuple[tuple[int, int], ...]
    ) -> list[MessageReceived]:
        """Apply a FORWARD-TSN: drop abandoned fragments, move ordered streams past skipped
        SSNs, delivering the complete messages that were waiting behind them."""
        for tsn in [t for t in self._fragments if tsn_le(t, new_cumulative_tsn)]:
            self.buffered_bytes -= len(self._fragments.pop(tsn).user_data)
        for end in [e for e, run in self._runs.items() if tsn_le(run.first_tsn, new_cumulative_tsn)]:
            del self._runs[end]
        delivered: list[MessageReceived] = []
        for stream_id, ssn in skipped:
            stream = self._streams.setdefault(stream_id, _OrderedStream())
            if ssn_le(stream.next_ssn, ssn):
                # Complete messages up to the skipped SSN were received and acknowledged:
                # they are the "stranded" ones the Stream Sequence field exists to free
                # (RFC 3758 section 3.2), delivered in SSN order; only the gaps are lost.
                base = stream.next_ssn
                stranded = sorted((s for s in stream.ready if ssn_le(s, ssn)),
                                  key=lambda s: (s - base) & 0xFFFF)
                for held in stranded:
                    message = stream.ready.pop(held)
                    self.buffered_bytes -= len(message.data)
                    delivered.append(message)
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
