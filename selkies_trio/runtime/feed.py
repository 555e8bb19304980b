"""A subscriber's queue of items from a hub: the hub offers without ever waiting,
the subscriber receives in order, and the hub closing it ends the iteration.

What happens when the queue is full is the subscriber's policy (`_offer` in the
subclasses: video skips to the next keyframe, audio drops the oldest packet).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class Feed(Generic[T]):
    """Read with `receive()` or `async for`."""

    def __init__(self, max_queue: int, name: str) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.name = name
        self._max_queue = max_queue
        self._queue: deque[T] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    async def receive(self) -> T:
        """The next item; raises `trio.EndOfChannel` once the hub has ended the feed."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._queue:
                item = self._queue.popleft()
                self.delivered += 1
                await trio.lowlevel.cancel_shielded_checkpoint()
                return item
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()

    def __aiter__(self) -> Feed[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def _put(self, item: T) -> None:
        self._queue.append(item)
        self._lot.unpark_all()

    def _close(self) -> None:
        self._closed = True
        self._lot.unpark_all()
