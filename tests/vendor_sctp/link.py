"""A seeded impaired datagram link on a virtual clock, for pair tests and benchmarks.

It knows nothing about SCTP: `send(packet, now)` puts a datagram on the wire,
`deliverable(now)` returns those that have arrived by `now`, `next_arrival()`
says when the next one lands. Loss, duplication, reordering, delay, jitter and a
bandwidth cap are drawn from one seeded `random.Random`, so a run is repeatable.
The benchmark harness (issue 3, item 6) can drive the same class in real time by
passing wall-clock seconds as `now`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LinkStats:
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    delivered: int = 0


@dataclass
class ImpairedLink:
    seed: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.01
    jitter: float = 0.0
    # Bits per second; None means unlimited.
    bandwidth: float | None = None
    # Extra hook deciding drops by index and content (e.g. "lose the 2nd packet").
    drop: Callable[[int, bytes], bool] | None = None
    stats: LinkStats = field(default_factory=LinkStats)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._queue: list[tuple[float, int, bytes]] = []
        self._counter = 0
        self._wire_free_at = 0.0

    def send(self, packet: bytes, now: float) -> None:
        index = self.stats.sent
        self.stats.sent += 1
        if self.drop is not None and self.drop(index, packet):
            self.stats.dropped += 1
            return
        if self.loss and self._random.random() < self.loss:
            self.stats.dropped += 1
            return
        departure = now
        if self.bandwidth is not None:
            departure = max(now, self._wire_free_at) + len(packet) * 8 / self.bandwidth
            self._wire_free_at = departure
        copies = 1
        if self.duplicate and self._random.random() < self.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            arrival = departure + self.delay + self._random.uniform(0, self.jitter)
            if self.reorder and self._random.random() < self.reorder:
                arrival += self.delay + self._random.uniform(0, 2 * self.delay)
                self.stats.reordered += 1
            self._counter += 1
            heapq.heappush(self._queue, (arrival, self._counter, packet))

    def next_arrival(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def deliverable(self, now: float) -> list[bytes]:
        arrived: list[bytes] = []
        while self._queue and self._queue[0][0] <= now:
            arrived.append(heapq.heappop(self._queue)[2])
        self.stats.delivered += len(arrived)
        return arrived
