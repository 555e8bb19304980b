"""The audio hub: one capture + Opus encode loop shared by every listener.

Like the video `BroadcastHub`: the first subscriber starts capture and encoding, the
last one leaving stops both, and an idle server touches no audio device. Each 20 ms
the loop reads one PCM chunk and encodes it in a worker thread (one at a time); the
Opus packet is handed to every subscriber's bounded queue.

Audio has no keyframes: every packet decodes alone, so a subscriber whose queue is
full simply loses its oldest packet (the browser's jitter buffer conceals the gap)
and never slows the encoder or the others.

A source whose `read` blocks until the audio exists (`realtime`, e.g. `parec`) paces
the loop itself; any other source (the tone) is paced by trio's clock, so tests drive
the hub with `autojump_clock`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import trio

from ..media.audio import (
    FRAME_DURATION,
    AudioSource,
    EncodedAudio,
    PcmChunk,
    check_opus_bitrate,
)
from ..media.frames import MediaError
from .feed import Feed

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
# A paced source that fell this many frames behind restarts its schedule instead of
# bursting the backlog out (a burst would only overflow the browsers' jitter buffers).
MAX_FRAMES_BEHIND = 5


class AudioEncoder(Protocol):
    """What the hub needs from an encoder; `media.audio.OpusEncoder` is one."""

    @property
    def name(self) -> str: ...

    def encode(self, chunk: PcmChunk) -> list[EncodedAudio]: ...

    def set_bitrate(self, bitrate: int) -> None:
        """Encode at `bitrate` from the next chunk on; the sample count goes on."""
        ...

    def close(self) -> None: ...


AudioSourceFactory = Callable[[], AudioSource]
AudioEncoderFactory = Callable[[int], AudioEncoder]


@dataclass(frozen=True, slots=True)
class AudioSubscriberStatistics:
    name: str
    queued: int
    delivered: int
    dropped: int


@dataclass(frozen=True, slots=True)
class AudioHubStatistics:
    streaming: bool
    source_name: str
    encoder_name: str
    bitrate: int
    packets_encoded: int
    packets_per_second: float
    encoded_bitrate_kbps: float
    mean_encode_ms: float
    streams_started: int
    failures: int
    subscribers: tuple[AudioSubscriberStatistics, ...]


class AudioSubscription(Feed[EncodedAudio]):
    """One listener's queue of Opus packets; when full, the oldest packet goes (late
    audio is worth less than current audio)."""

    def statistics(self) -> AudioSubscriberStatistics:
        return AudioSubscriberStatistics(self.name, len(self._queue), self.delivered, self.dropped)

    def _offer(self, packet: EncodedAudio) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.dropped += 1
        self._put(packet)


class AudioHub:
    """One audio capture + encode loop shared by any number of subscribers.

    Run it in a nursery the caller owns: `await nursery.start(hub.run)`; subscribe with
    `async with hub.subscribe() as subscription:`.
    """

    def __init__(
        self,
        source_factory: AudioSourceFactory,
        encoder_factory: AudioEncoderFactory,
        *,
        bitrate: int = 128_000,
        default_max_queue: int = 25,
        statistics_window: float = 2.0,
        timestamp_clock: Callable[[], float] | None = None,
        offload_to_thread: bool = True,
        restart_delay: float = 1.0,
        name: str = "audio",
    ) -> None:
        """
        - `source_factory()` and `encoder_factory(bitrate)` are called in the worker
          thread each time streaming starts.
        - `default_max_queue`: packets (20 ms each) a subscriber may leave unread
          before its oldest are dropped.
        - `timestamp_clock` stamps captures (default `trio.current_time`).
        - `offload_to_thread=False` runs source and encoder on the event loop: only for
          free fakes on a virtual clock.
        - `restart_delay`: pause after a capture/encoder failure before restarting.
        """
        self.name = name
        self._source_factory = source_factory
        self._encoder_factory = encoder_factory
        self._bitrate = bitrate
        # A bitrate change the running encoder has yet to make (between two packets).
        self._new_bitrate: int | None = None
        self._default_max_queue = default_max_queue
        self._statistics_window = statistics_window
        self._timestamp_clock = timestamp_clock
        self._offload_to_thread = offload_to_thread
        self._restart_delay = restart_delay
        self._limiter = trio.CapacityLimiter(1)
        self._subscriptions: list[AudioSubscription] = []
        self._subscribers_present = trio.Event()
        self._next_subscriber_number = 1
        self._streaming = False
        self._stopped = False
        self._source_name = ""
        self._encoder_name = ""
        # (time, bytes, encode seconds) of recent packets, for the rates.
        self._recent: deque[tuple[float, int, float]] = deque()
        self._stream_started_at = 0.0
        self._packets_encoded = 0
        self._streams_started = 0
        self._failures = 0

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @asynccontextmanager
    async def subscribe(
        self, max_queue: int | None = None, name: str | None = None
    ) -> AsyncIterator[AudioSubscription]:
        if self._stopped:
            raise trio.ClosedResourceError("the audio hub has stopped")
        if name is None:
            name = f"{self.name}-subscriber-{self._next_subscriber_number}"
        self._next_subscriber_number += 1
        subscription = AudioSubscription(max_queue or self._default_max_queue, name)
        self._subscriptions.append(subscription)
        self._subscribers_present.set()
        try:
            await trio.lowlevel.checkpoint()
            yield subscription
        finally:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            subscription._close()
            if not self._subscriptions:
                self._subscribers_present = trio.Event()

    def set_bitrate(self, bitrate: int) -> None:
        """Change the Opus bitrate between two packets (the next stream starts with it
        too); every listener hears the change, there being one encoder."""
        check_opus_bitrate(bitrate)
        self._bitrate = self._new_bitrate = bitrate

    def statistics(self) -> AudioHubStatistics:
        now = trio.current_time()
        self._forget_old(now)
        window = min(self._statistics_window, max(now - self._stream_started_at, 1e-9))
        recent = list(self._recent) if self._streaming else []
        count = len(recent)
        return AudioHubStatistics(
            streaming=self._streaming,
            source_name=self._source_name,
            encoder_name=self._encoder_name,
            bitrate=self._bitrate,
            packets_encoded=self._packets_encoded,
            packets_per_second=count / window if count else 0.0,
            encoded_bitrate_kbps=sum(r[1] for r in recent) * 8 / 1000 / window if count else 0.0,
            mean_encode_ms=1000 * sum(r[2] for r in recent) / count if count else 0.0,
            streams_started=self._streams_started,
            failures=self._failures,
            subscribers=tuple(s.statistics() for s in self._subscriptions),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The hub's loop; runs until cancelled. A `MediaError` ends the current
        subscriptions, is logged, and streaming restarts for the next subscriber
        after `restart_delay`; any other exception propagates."""
        task_status.started()
        try:
            while True:
                await self._subscribers_present.wait()
                try:
                    await self._stream()
                except MediaError:
                    logger.exception("%s: capture/encode failed; ending subscriptions", self.name)
                    self._failures += 1
                    self._end_subscriptions()
                    await trio.sleep(self._restart_delay)
        finally:
            self._stopped = True
            for subscription in self._subscriptions:
                subscription._close()

    def _end_subscriptions(self) -> None:
        ended, self._subscriptions = self._subscriptions, []
        self._subscribers_present = trio.Event()
        for subscription in ended:
            subscription._close()

    async def _stream(self) -> None:
        # The encoder opens at the latest bitrate; only changes made after that pend.
        self._new_bitrate = None
        source, encoder = await self._in_worker(self._open)
        self._streaming = True
        self._streams_started += 1
        self._stream_started_at = trio.current_time()
        self._recent.clear()
        self._source_name = source.name
        self._encoder_name = encoder.name
        try:
            next_tick = trio.current_time()
            while self._subscriptions:
                now = trio.current_time()
                timestamp = self._timestamp_clock() if self._timestamp_clock else now
                bitrate, self._new_bitrate = self._new_bitrate, None
                packets, encode_seconds = await self._in_worker(
                    _read_and_encode, source, encoder, timestamp, bitrate
                )
                self._record(packets, encode_seconds, trio.current_time())
                if not source.realtime:
                    next_tick += FRAME_DURATION
                    if trio.current_time() - next_tick > MAX_FRAMES_BEHIND * FRAME_DURATION:
                        next_tick = trio.current_time()
                    await trio.sleep_until(next_tick)
                else:
                    await trio.lowlevel.checkpoint()
        finally:
            self._streaming = False
            with trio.CancelScope(shield=True):
                await self._in_worker(_close_both, source, encoder)

    async def _in_worker(self, function: Callable[..., _T], *args: object) -> _T:
        if self._offload_to_thread:
            return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
        await trio.lowlevel.checkpoint()
        return function(*args)

    def _open(self) -> tuple[AudioSource, AudioEncoder]:
        source = self._source_factory()
        try:
            encoder = self._encoder_factory(self._bitrate)
        except BaseException:
            source.close()
            raise
        return source, encoder

    def _record(self, packets: list[EncodedAudio], encode_seconds: float, now: float) -> None:
        for packet in packets:
            self._packets_encoded += 1
            self._recent.append((now, len(packet.data), encode_seconds))
            for subscription in tuple(self._subscriptions):
                subscription._offer(packet)
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        horizon = now - self._statistics_window
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()


def _read_and_encode(
    source: AudioSource, encoder: AudioEncoder, timestamp: float, bitrate: int | None
) -> tuple[list[EncodedAudio], float]:
    if bitrate is not None:
        encoder.set_bitrate(bitrate)
    chunk = source.read(timestamp)
    started = time.perf_counter()
    packets = encoder.encode(chunk)
    return packets, time.perf_counter() - started


def _close_both(source: AudioSource, encoder: AudioEncoder) -> None:
    try:
        encoder.close()
    finally:
        source.close()


__all__ = [
    "AudioEncoder",
    "AudioEncoderFactory",
    "AudioHub",
    "AudioHubStatistics",
    "AudioSourceFactory",
    "AudioSubscriberStatistics",
    "AudioSubscription",
]
