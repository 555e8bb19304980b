"""Two associations joined by two `ImpairedLink`s, driven on a virtual clock.

The driver jumps `now` straight to the earliest timer or packet arrival, so a
minute of simulated retransmission takes milliseconds and nothing ever sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from vendor_sctp.association import Association, AssociationConfig
from vendor_sctp.chunks import DataChunk
from vendor_sctp.events import AssociationEstablished, Event, MessageReceived
from vendor_sctp.packet import Packet, decode_packet_untrusted

from .link import ImpairedLink

T = TypeVar("T")


def seeded_random(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


class Pair:
    def __init__(
        self,
        *,
        link_ab: ImpairedLink | None = None,
        link_ba: ImpairedLink | None = None,
        config_a: AssociationConfig | None = None,
        config_b: AssociationConfig | None = None,
        seed: int = 1,
    ) -> None:
        self.a = Association(config_a, secret=b"secret-a" * 4, random=seeded_random(seed))
        self.b = Association(config_b, secret=b"secret-b" * 4, random=seeded_random(seed + 1000))
        self.link_ab = link_ab or ImpairedLink(seed=seed)
        self.link_ba = link_ba or ImpairedLink(seed=seed + 1)
        self.now = 0.0
        self.events_a: list[Event] = []
        self.events_b: list[Event] = []
        self._messages: dict[int, list[MessageReceived]] = {id(self.a): [], id(self.b): []}
        # Called with (side, event) as events are drained, e.g. to send a reply.
        self.on_event: Callable[[Association, Event], None] | None = None

    def pump(self) -> None:
        for assoc, link, events in (
            (self.a, self.link_ab, self.events_a),
            (self.b, self.link_ba, self.events_b),
        ):
            while (event := assoc.next_event()) is not None:
                events.append(event)
                if isinstance(event, MessageReceived):
                    self._messages.setdefault(id(assoc), []).append(event)
                if self.on_event is not None:
                    self.on_event(assoc, event)
            if assoc._sender is not None:
                assoc._sender.check_invariants()
            for packet in assoc.packets_to_send(self.now):
                assert len(packet) <= assoc.config.max_packet_size
                link.send(packet, self.now)

    def next_wakeup(self) -> float | None:
        candidates = [
            self.a.get_timer(),
            self.b.get_timer(),
            self.link_ab.next_arrival(),
            self.link_ba.next_arrival(),
        ]
        present = [t for t in candidates if t is not None]
        return min(present) if present else None

    def run_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = self.now + timeout
        while True:
            self.pump()
            if condition():
                return True
            wakeup = self.next_wakeup()
            if wakeup is None or wakeup > deadline:
                self.now = deadline
                return False
            self.now = max(self.now, wakeup)
            for packet in self.link_ab.deliverable(self.now):
                self.b.receive_packet(packet, self.now)
            for packet in self.link_ba.deliverable(self.now):
                self.a.receive_packet(packet, self.now)
            for assoc in (self.a, self.b):
                timer = assoc.get_timer()
                if timer is not None and timer <= self.now:
                    assoc.handle_timer(self.now)

    def run_for(self, duration: float) -> None:
        self.run_until(lambda: False, duration)

    def connect(self, timeout: float = 30.0, both: bool = False) -> None:
        self.a.connect(self.now)
        if both:
            self.b.connect(self.now)
        assert self.run_until(self.established, timeout), "handshake did not complete"

    def established(self) -> bool:
        return any(isinstance(e, AssociationEstablished) for e in self.events_a) and any(
            isinstance(e, AssociationEstablished) for e in self.events_b
        )

    def messages_b(self) -> list[MessageReceived]:
        return self._messages.setdefault(id(self.b), [])

    def messages_a(self) -> list[MessageReceived]:
        return self._messages.setdefault(id(self.a), [])


def scripted_random(u32_values: list[int], seed: int) -> Callable[[int], bytes]:
    """Returns the given 32-bit values first (tags, initial TSNs), then seeded bytes."""
    fallback = random.Random(seed).randbytes
    queue = list(u32_values)

    def draw(size: int) -> bytes:
        if size == 4 and queue:
            return queue.pop(0).to_bytes(4, "big")
        return fallback(size)

    return draw


class Tap:
    """A link `drop` hook that records every packet's chunks (and can drop by predicate)."""

    def __init__(self, pair_clock: Callable[[], float],
                 drop_if: Callable[[int, Packet], bool] | None = None) -> None:
        self.clock = pair_clock
        self.drop_if = drop_if
        self.seen: list[tuple[float, Packet, bool]] = []

    def __call__(self, index: int, data: bytes) -> bool:
        packet = decode_packet_untrusted(data)
        dropped = self.drop_if is not None and self.drop_if(index, packet)
        self.seen.append((self.clock(), packet, dropped))
        return dropped

    def chunks(self, kind: type[T]) -> list[tuple[float, T]]:
        return [
            (when, chunk)
            for when, packet, dropped in self.seen
            if not dropped
            for chunk in packet.chunks
            if isinstance(chunk, kind)
        ]

    def sent_chunks(self, kind: type[T]) -> list[tuple[float, T]]:
        """Including the ones the hook dropped."""
        return [
            (when, chunk)
            for when, packet, _ in self.seen
            for chunk in packet.chunks
            if isinstance(chunk, kind)
        ]


def data_tsn_dropper(tsn: int, times: int = 1) -> Callable[[int, Packet], bool]:
    """A `Tap.drop_if` losing the first `times` packets that carry DATA with this TSN."""
    remaining = [times]

    def drop_if(index: int, packet: Packet) -> bool:
        if remaining[0] and any(isinstance(c, DataChunk) and c.tsn == tsn for c in packet.chunks):
            remaining[0] -= 1
            return True
        return False

    return drop_if


def impaired_pair(
    seed: int,
    *,
    loss: float = 0.1,
    duplicate: float = 0.05,
    reorder: float = 0.1,
    delay: float = 0.02,
    jitter: float = 0.01,
) -> Pair:
    """A pair over two links with the same seeded impairments (different random streams)."""
    links = [
        ImpairedLink(
            seed=link_seed, loss=loss, duplicate=duplicate, reorder=reorder, delay=delay, jitter=jitter
        )
        for link_seed in (seed, seed + 100)
    ]
    return Pair(link_ab=links[0], link_ba=links[1], seed=seed)
