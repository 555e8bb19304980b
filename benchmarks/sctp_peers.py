r"""Two SCTP stacks behind one face, joined by a real-time impaired link (for sctp_lossy.py).

`OursEndpoint` drives vendor_sctp's sans-IO `Association` with a small asyncio driver
(feed packets, drain events, send packets, re-arm one timer); `AiortcEndpoint` wraps
aiortc's `RTCSctpTransport` and a pre-negotiated `RTCDataChannel` over a stand-in DTLS
transport. Both run on the same asyncio loop, so they share the clock and the CPU the
same way, and both see their peer only through `RealTimeLink`: the seeded
`ImpairedLink` of the pair tests, driven with `loop.time()` as `now`.

Each endpoint takes its inbound packets from a queue served by one task, one packet at a
time, and notes which link arrival it is processing while it runs. A `FragmentWatch` on
the link sees every DATA chunk as it arrives, so a delivered message can be compared with
the arrival that completed it: delivered while processing that very arrival means no
head-of-line stall; delivered later means it sat complete in the receiver, waiting.

DATA chunk (RFC 9260 section 3.3.1), the only chunk the watch reads:

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Type = 0    |  Res  |I|U|B|E|            Length             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                              TSN                              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |      Stream Identifier S      |   Stream Sequence Number n    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                  Payload Protocol Identifier                  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                 User Data (seq n of Stream S)                 /
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The watch is deliberately independent of vendor_sctp's decoder: the referee should not
share code with one of the players.
"""

from __future__ import annotations

import asyncio
import collections
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport

from tests.vendor_sctp.link import ImpairedLink
from vendor_sctp.association import Association
from vendor_sctp.config import AssociationConfig
from vendor_sctp.events import (
    AssociationClosed,
    AssociationEstablished,
    BufferedAmountLow,
    MessageReceived,
)

PPID_BINARY = 53
# A pre-negotiated channel (RFC 8831 section 6.5) on this stream, so no DCEP is needed.
BENCH_STREAM_ID = 1
SCTP_PORT = 5000
MAX_MESSAGE_SIZE = 256 * 1024
# Linux's default UDP receive buffer (net.core.rmem_default) is about this size.
INBOX_LIMIT = 212_992
# Every benchmark message starts with its sequence number (u32, network order).
MESSAGE_ID = struct.Struct("!I")

_COMMON_HEADER_SIZE = 12
_CHUNK_HEADER = struct.Struct("!BBH")
_DATA_TSN = struct.Struct("!I")
_DATA_HEADER_SIZE = 16
_FLAG_BEGINNING = 0x02
_FLAG_ENDING = 0x01
_CHUNK_TYPE_DATA = 0


@dataclass(frozen=True, slots=True)
class ChannelKind:
    name: str
    ordered: bool
    # None: fully reliable; 0: never retransmitted (RFC 3758 partial reliability).
    max_retransmits: int | None

    @property
    def reliable(self) -> bool:
        return self.max_retransmits is None


CHANNEL_KINDS: dict[str, ChannelKind] = {
    kind.name: kind
    for kind in (
        ChannelKind("reliable-ordered", ordered=True, max_retransmits=None),
        ChannelKind("unordered", ordered=False, max_retransmits=None),
        ChannelKind("unordered-rtx0", ordered=False, max_retransmits=0),
    )
}


class WatchDecodeError(Exception):
    """An SCTP packet on the link could not be scanned for DATA chunks."""


@dataclass(frozen=True, slots=True)
class DataFragment:
    tsn: int
    beginning: bool
    ending: bool
    # The first bytes of the fragment's User Data (the message id when `beginning`).
    user_data_head: bytes


def data_fragments_untrusted(packet: bytes) -> Iterator[DataFragment]:
    """The DATA chunks of one SCTP packet; raises only `WatchDecodeError`."""
    offset = _COMMON_HEADER_SIZE
    if len(packet) < offset:
        raise WatchDecodeError(f"packet of {len(packet)} bytes has no common header")
    while offset + _CHUNK_HEADER.size <= len(packet):
        chunk_type, chunk_flags, chunk_length = _CHUNK_HEADER.unpack_from(packet, offset)
        if chunk_length < _CHUNK_HEADER.size or offset + chunk_length > len(packet):
            raise WatchDecodeError(f"chunk length {chunk_length} at offset {offset} overruns")
        if chunk_type == _CHUNK_TYPE_DATA:
            if chunk_length <= _DATA_HEADER_SIZE:
                raise WatchDecodeError(f"DATA chunk of {chunk_length} bytes carries no user data")
            (tsn,) = _DATA_TSN.unpack_from(packet, offset + 4)
            head_start = offset + _DATA_HEADER_SIZE
            head_end = min(head_start + MESSAGE_ID.size, offset + chunk_length)
            yield DataFragment(
                tsn=tsn,
                beginning=bool(chunk_flags & _FLAG_BEGINNING),
                ending=bool(chunk_flags & _FLAG_ENDING),
                user_data_head=bytes(packet[head_start:head_end]),
            )
        offset += (chunk_length + 3) & ~3


@dataclass(frozen=True, slots=True)
class Completion:
    """When the last missing fragment of a message reached the receiver."""

    at: float
    arrival_index: int


class FragmentWatch:
    """Notes, for each message id, the link arrival that made the message complete.

    Fragments of one message carry consecutive TSNs from a B fragment to an E fragment
    (RFC 9260 section 6.9), so completeness is decided by walking outwards from each new
    TSN. Only the first copy of a TSN counts; retransmissions of it change nothing.
    """

    def __init__(self) -> None:
        self._fragments: dict[int, DataFragment] = {}
        self.completions: dict[int, Completion] = {}
        self.undecodable_packets = 0

    def observe(self, packet: bytes, at: float, arrival_index: int) -> None:
        try:
            fragments = list(data_fragments_untrusted(packet))
        except WatchDecodeError:
            self.undecodable_packets += 1
            return
        for fragment in fragments:
            if fragment.tsn in self._fragments:
                continue
            self._fragments[fragment.tsn] = fragment
            first = self._walk(fragment, -1)
            last = self._walk(fragment, +1)
            if first is None or last is None or not first.beginning or not last.ending:
                continue
            if len(first.user_data_head) < MESSAGE_ID.size:
                continue
            (message_id,) = MESSAGE_ID.unpack(first.user_data_head)
            self.completions.setdefault(message_id, Completion(at, arrival_index))

    def _walk(self, fragment: DataFragment, step: int) -> DataFragment | None:
        """The B (step -1) or E (step +1) fragment of this message, if all in between are here."""
        current = fragment
        while not (current.beginning if step < 0 else current.ending):
            neighbour = self._fragments.get((current.tsn + step) % 2**32)
            if neighbour is None:
                return None
            current = neighbour
        return current


class RealTimeLink:
    """One direction of the wire: an `ImpairedLink` whose arrivals fire loop callbacks."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        impaired: ImpairedLink,
        watch: FragmentWatch | None = None,
        *,
        jitter: float = 0.0,
        jitter_seed: int = 0,
    ) -> None:
        self._loop = loop
        self.impaired = impaired
        self._watch = watch
        self._jitter = jitter
        self._jitter_random = random.Random(jitter_seed)
        # Arrivals held back by jitter, release times never decreasing (FIFO).
        self._held: collections.deque[tuple[float, bytes]] = collections.deque()
        self._release_handle: asyncio.TimerHandle | None = None
        # Hands a packet to the receiver; False when its inbox refused it.
        self.deliver: Callable[[bytes, int], bool] | None = None
        self.arrivals = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._closed = False

    def send(self, packet: bytes) -> None:
        if self._closed:
            return
        self.impaired.send(packet, self._loop.time())
        self._arm()

    def close(self) -> None:
        self._closed = True
        for handle in (self._handle, self._release_handle):
            if handle is not None:
                handle.cancel()
        self._handle = None
        self._release_handle = None

    def _arm(self) -> None:
        arrival = self.impaired.next_arrival()
        if arrival is None or self._closed:
            return
        if self._handle is not None and self._armed_for is not None:
            if self._armed_for <= arrival:
                return
            self._handle.cancel()
        self._armed_for = arrival
        self._handle = self._loop.call_at(arrival, self._on_arrival)

    def _on_arrival(self) -> None:
        self._handle = None
        self._armed_for = None
        now = self._loop.time()
        for packet in self.impaired.deliverable(now):
            if not self._jitter:
                self._hand_over(packet, now)
                continue
            release = now + self._jitter_random.uniform(0, self._jitter)
            if self._held:
                release = max(release, self._held[-1][0])
            self._held.append((release, packet))
        self._arm()
        self._arm_release()

    def _arm_release(self) -> None:
        if self._held and self._release_handle is None and not self._closed:
            self._release_handle = self._loop.call_at(self._held[0][0], self._on_release)

    def _on_release(self) -> None:
        self._release_handle = None
        now = self._loop.time()
        while self._held and self._held[0][0] <= now:
            self._hand_over(self._held.popleft()[1], now)
        self._arm_release()

    def _hand_over(self, packet: bytes, now: float) -> None:
        self.arrivals += 1
        accepted = self.deliver is None or self.deliver(packet, self.arrivals)
        # The receiver processes its inbox on a later loop turn, so the watch still sees
        # each packet first; packets the inbox refused never reached the stack.
        if accepted and self._watch is not None:
            self._watch.observe(packet, now, self.arrivals)


def _ignore_message(payload: bytes, arrival_index: int) -> None:
    return None


def _ignore_buffered_low() -> None:
    return None


class Endpoint(Protocol):
    """What the benchmark needs from either stack."""

    stack: str
    # Called with each delivered message and the link arrival being processed at the time.
    on_message: Callable[[bytes, int], None]
    on_buffered_low: Callable[[], None]
    # Arrivals dropped because the inbox (a socket receive buffer) was full.
    inbox_drops: int
    # Set once the association is up and the channel can carry messages.
    ready: asyncio.Event

    async def start(self) -> None: ...
    def send(self, payload: bytes) -> None: ...
    def buffered_amount(self) -> int: ...
    # Bytes accepted by send() and not yet transmitted once, wherever the stack keeps them.
    def unsent_bytes(self) -> int: ...
    def set_buffered_amount_low_threshold(self, threshold: int) -> None: ...
    def deliver(self, packet: bytes, arrival_index: int) -> bool: ...
    async def close(self) -> None: ...


class _InboxMixin:
    """A queue of link arrivals served by one task, one packet at a time.

    It holds at most `INBOX_LIMIT` bytes and drops what does not fit, as a UDP socket's
    receive buffer does. Both peers share one process and CPU, so a receiver that falls
    behind would otherwise queue without bound; the sender would then see a round trip
    of hundreds of milliseconds that no network put there, and time out spuriously.
    """

    def _init_inbox(self) -> None:
        self._inbox: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
        self._inbox_bytes = 0
        self.inbox_drops = 0
        self._consumer: asyncio.Task[None] | None = None
        self.current_arrival = 0

    def deliver(self, packet: bytes, arrival_index: int) -> bool:
        if self._inbox_bytes + len(packet) > INBOX_LIMIT:
            self.inbox_drops += 1
            return False
        self._inbox_bytes += len(packet)
        self._inbox.put_nowait((packet, arrival_index))
        return True

    async def _next_arrival(self) -> tuple[bytes, int]:
        packet, arrival_index = await self._inbox.get()
        self._inbox_bytes -= len(packet)
        self.current_arrival = arrival_index
        return packet, arrival_index

    def _start_consumer(self) -> None:
        self._consumer = asyncio.ensure_future(self._consume())

    async def _stop_consumer(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            try:
                await self._consumer
            except asyncio.CancelledError:
                pass
            self._consumer = None

    async def _consume(self) -> None:
        raise NotImplementedError


class OursEndpoint(_InboxMixin):
    """vendor_sctp's `Association` with a minimal asyncio driver."""

    stack = "ours"

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        kind: ChannelKind,
        transmit: Callable[[bytes], None],
        *,
        initiate: bool,
        seed: int,
        config: AssociationConfig | None = None,
    ) -> None:
        self._loop = loop
        self._kind = kind
        self._transmit = transmit
        self._initiate = initiate
        self.association = Association(
            config or AssociationConfig(), random=random.Random(seed).randbytes
        )
        self.on_message: Callable[[bytes, int], None] = _ignore_message
        self.on_buffered_low: Callable[[], None] = _ignore_buffered_low
        self.ready = asyncio.Event()
        self.closed_reason: str | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_scheduled = False
        self._stopped = False
        self._init_inbox()

    async def start(self) -> None:
        self._start_consumer()
        if self._initiate:
            self.association.connect(self._loop.time())
            self._service()

    def send(self, payload: bytes) -> None:
        self.association.send(
            BENCH_STREAM_ID,
            PPID_BINARY,
            payload,
            now=self._loop.time(),
            ordered=self._kind.ordered,
            max_retransmits=self._kind.max_retransmits,
        )
        # Like a browser's send(), queue now and transmit once the caller yields, so a
        # burst of sends is bundled into full packets.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def buffered_amount(self) -> int:
        return self.association.buffered_amount(BENCH_STREAM_ID)

    def unsent_bytes(self) -> int:
        return self.association.buffered_amount(BENCH_STREAM_ID)

    def set_buffered_amount_low_threshold(self, threshold: int) -> None:
        self.association.set_buffered_amount_low_threshold(BENCH_STREAM_ID, threshold)

    async def close(self) -> None:
        self._stopped = True
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        await self._stop_consumer()

    async def _consume(self) -> None:
        while True:
            packet, arrival_index = await self._next_arrival()
            self._receive(packet, arrival_index)
            # One packet in, then whatever it calls for out (as aiortc does): a batch of
            # arrivals answered by one SACK would slow our slow start (RFC 9260 7.2.1
            # grows cwnd by at most one MTU per SACK), an artefact of the driver.
            self._service()

    def _receive(self, packet: bytes, arrival_index: int) -> None:
        self.association.receive_packet(packet, self._loop.time())
        # Drained per packet so each message is attributed to the arrival that freed it.
        self._drain_events()

    def _drain_events(self) -> None:
        while (event := self.association.next_event()) is not None:
            if isinstance(event, MessageReceived):
                self.on_message(event.data, self.current_arrival)
            elif isinstance(event, AssociationEstablished):
                self.ready.set()
            elif isinstance(event, BufferedAmountLow):
                self.on_buffered_low()
            elif isinstance(event, AssociationClosed):
                self.closed_reason = event.reason

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._service()

    def _service(self) -> None:
        if self._stopped:
            return
        for packet in self.association.packets_to_send(self._loop.time()):
            self._transmit(packet)
        self._drain_events()
        self._arm_timer()

    def _arm_timer(self) -> None:
        timer = self.association.get_timer()
        if timer == self._timer_at and self._timer_handle is not None:
            return
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        self._timer_at = timer
        if timer is not None:
            self._timer_handle = self._loop.call_at(timer, self._on_timer)

    def _on_timer(self) -> None:
        self._timer_handle = None
        self._timer_at = None
        if self._stopped:
            return
        self.association.handle_timer(self._loop.time())
        self._drain_events()
        self._service()


class _StandInDtlsTransport:
    """The part of aiortc's RTCDtlsTransport that RTCSctpTransport uses."""

    def __init__(self, role: str, transmit: Callable[[bytes], None]) -> None:
        self.state = "connected"
        self._role = role
        self._transmit = transmit
        self.receiver: Any = None

    def _register_data_receiver(self, receiver: Any) -> None:
        self.receiver = receiver

    def _unregister_data_receiver(self, receiver: Any) -> None:
        self.receiver = None

    async def _send_data(self, data: bytes) -> None:
        self._transmit(data)


class AiortcEndpoint(_InboxMixin):
    """aiortc's RTCSctpTransport plus one pre-negotiated RTCDataChannel."""

    stack = "aiortc"

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        kind: ChannelKind,
        transmit: Callable[[bytes], None],
        *,
        role: str,
    ) -> None:
        self._loop = loop
        self._dtls = _StandInDtlsTransport(role, transmit)
        self.transport = RTCSctpTransport(self._dtls)  # type: ignore[arg-type]
        self.channel = RTCDataChannel(
            self.transport,
            RTCDataChannelParameters(
                label="bench",
                negotiated=True,
                id=BENCH_STREAM_ID,
                ordered=kind.ordered,
                maxRetransmits=kind.max_retransmits,
            ),
        )
        self.on_message: Callable[[bytes, int], None] = _ignore_message
        self.on_buffered_low: Callable[[], None] = _ignore_buffered_low
        self.channel.on("message", self._on_channel_message)
        self.channel.on("bufferedamountlow", self._on_channel_buffered_low)
        self.ready = asyncio.Event()
        self.channel.on("open", self.ready.set)
        self._init_inbox()

    async def start(self) -> None:
        self._start_consumer()
        await self.transport.start(RTCSctpCapabilities(maxMessageSize=MAX_MESSAGE_SIZE), SCTP_PORT)

    def send(self, payload: bytes) -> None:
        self.channel.send(payload)

    def buffered_amount(self) -> int:
        return int(self.channel.bufferedAmount)

    def unsent_bytes(self) -> int:
        # The channel's bufferedAmount stops counting a message once it moves to the
        # association's outbound queue, where it waits for cwnd; count both.
        queued = sum(len(chunk.user_data) for chunk in self.transport._outbound_queue)
        return int(self.channel.bufferedAmount) + queued

    def set_buffered_amount_low_threshold(self, threshold: int) -> None:
        self.channel.bufferedAmountLowThreshold = threshold

    async def close(self) -> None:
        await self._stop_consumer()
        await self.transport.stop()

    async def _consume(self) -> None:
        while True:
            packet, _ = await self._next_arrival()
            receiver = self._dtls.receiver
            if receiver is not None:
                await receiver._handle_data(packet)

    def _on_channel_message(self, message: bytes | str) -> None:
        payload = message.encode() if isinstance(message, str) else message
        self.on_message(payload, self.current_arrival)

    def _on_channel_buffered_low(self) -> None:
        self.on_buffered_low()


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One cell of the link grid; both directions get the same impairments."""

    loss: float
    rtt: float
    # Uniform extra one-way delay, as a share of the one-way delay.
    jitter_share: float = 0.1
    # Share of packets held back by an extra one-way delay or so.
    reorder: float = 0.0
    # Bits per second on each direction; None: uncapped.
    bandwidth: float | None = 1e9

    def real_time_link(
        self, loop: asyncio.AbstractEventLoop, seed: int, watch: FragmentWatch | None = None
    ) -> RealTimeLink:
        one_way = self.rtt / 2
        # ImpairedLink's own jitter is drawn per packet, which at 100 Mbit/s reorders
        # nearly every packet; RealTimeLink adds the jitter in order instead and leaves
        # reordering to `reorder`.
        impaired = ImpairedLink(
            seed=seed, loss=0.0, reorder=self.reorder, delay=one_way, bandwidth=self.bandwidth
        )
        return RealTimeLink(
            loop, impaired, watch, jitter=one_way * self.jitter_share, jitter_seed=seed + 7
        )


@dataclass
class WiredPair:
    sender: Endpoint
    receiver: Endpoint
    forward: RealTimeLink
    backward: RealTimeLink
    watch: FragmentWatch
    spec: LinkSpec

    def impair(self) -> None:
        """Switch the loss on (the handshake ran on a lossless link so both start equal)."""
        self.forward.impaired.loss = self.spec.loss
        self.backward.impaired.loss = self.spec.loss

    async def close(self) -> None:
        self.forward.close()
        self.backward.close()
        await self.sender.close()
        await self.receiver.close()


STACKS = ("ours", "aiortc")


def wire_pair(
    loop: asyncio.AbstractEventLoop,
    stack: str,
    kind: ChannelKind,
    spec: LinkSpec,
    seed: int,
    *,
    watch_fragments: bool = True,
) -> WiredPair:
    """Sender and receiver of one stack, joined by two `RealTimeLink`s with the same seeds
    whichever stack runs, so both meet the same impairment draws. Without
    `watch_fragments` the link does not scan DATA (throughput runs skip that cost)."""
    watch = FragmentWatch()
    forward = spec.real_time_link(loop, seed, watch if watch_fragments else None)
    backward = spec.real_time_link(loop, seed + 1)
    sender: OursEndpoint | AiortcEndpoint
    receiver: OursEndpoint | AiortcEndpoint
    if stack == "ours":
        sender = OursEndpoint(loop, kind, forward.send, initiate=True, seed=seed)
        receiver = OursEndpoint(loop, kind, backward.send, initiate=False, seed=seed + 2)
    elif stack == "aiortc":
        sender = AiortcEndpoint(loop, kind, forward.send, role="client")
        receiver = AiortcEndpoint(loop, kind, backward.send, role="server")
    else:
        raise ValueError(f"unknown stack {stack!r}; expected one of {STACKS}")
    forward.deliver = receiver.deliver
    backward.deliver = sender.deliver
    return WiredPair(sender, receiver, forward, backward, watch, spec)


async def connect_pair(pair: WiredPair, *, within: float) -> None:
    """Start both ends and wait until both can send; raises TimeoutError."""
    await pair.receiver.start()
    await pair.sender.start()

    async def both_ready() -> None:
        await pair.sender.ready.wait()
        await pair.receiver.ready.wait()

    await asyncio.wait_for(both_ready(), within)
