"""Two sans-IO DTLS endpoints joined by a seeded, impaired in-memory link on a virtual clock."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from selkies_trio.proto.dtls.connection import ConnectionState, DtlsConnection
from selkies_trio.proto.dtls.events import DtlsEvent


@dataclass
class Impairment:
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.005


@dataclass
class Link:
    client: DtlsConnection
    server: DtlsConnection
    impairment: Impairment = field(default_factory=Impairment)
    seed: int = 0
    now: float = 0.0
    events: dict[str, list[DtlsEvent]] = field(default_factory=lambda: {"client": [], "server": []})
    sent: dict[str, list[tuple[float, bytes]]] = field(
        default_factory=lambda: {"client": [], "server": []}
    )

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._counter = 0

    def endpoint(self, name: str) -> DtlsConnection:
        return self.client if name == "client" else self.server

    def _collect(self) -> None:
        impairment = self.impairment
        for name, peer in (("client", "server"), ("server", "client")):
            connection = self.endpoint(name)
            for datagram in connection.datagrams_to_send(self.now):
                self.sent[name].append((self.now, datagram))
                copies = 1 + (self._random.random() < impairment.duplicate)
                for _ in range(copies):
                    if self._random.random() < impairment.loss:
                        continue
                    delay = impairment.delay
                    if self._random.random() < impairment.reorder:
                        delay += self._random.uniform(0.0, 0.05)
                    self._counter += 1
                    heapq.heappush(self._queue, (self.now + delay, self._counter, peer, datagram))
            while (event := connection.next_event()) is not None:
                self.events[name].append(event)

    def step(self, limit: float) -> bool:
        """Advance to the next delivery or timer before `limit`; False when nothing is left."""
        self._collect()
        candidates: list[float] = []
        if self._queue:
            candidates.append(self._queue[0][0])
        for connection in (self.client, self.server):
            timer = connection.get_timer()
            if timer is not None:
                candidates.append(timer)
        if not candidates or min(candidates) > limit:
            return False
        self.now = max(self.now, min(candidates))
        while self._queue and self._queue[0][0] <= self.now:
            _, _, destination, datagram = heapq.heappop(self._queue)
            self.endpoint(destination).receive_datagram_untrusted(datagram, self.now)
        for connection in (self.client, self.server):
            timer = connection.get_timer()
            if timer is not None and timer <= self.now:
                connection.handle_timer(self.now)
        self._collect()
        return True

    def run(self, duration: float = 120.0) -> None:
        """Run until both sides are established (or closed) and nothing is in flight."""
        limit = self.now + duration
        while self.step(limit):
            settled = all(
                c.state in (ConnectionState.ESTABLISHED, ConnectionState.CLOSED)
                for c in (self.client, self.server)
            )
            if settled and not self._queue:
                break
        self._collect()

    def deliver_all(self) -> None:
        """Deliver everything in flight, no timers involved."""
        self._collect()
        while self._queue:
            self.step(self._queue[0][0])

    def start(self) -> None:
        self.client.start(self.now)
        self.server.start(self.now)
