"""The broadcast hub: one capture + encode loop per stream, shared by every viewer.

The loop runs only while someone subscribes: the first subscriber starts capture and
encoding, the last one leaving stops both (source and encoder are closed, so an idle
server captures and encodes nothing). Each tick, in a worker thread limited to one
at a time, the loop asks the source whether the screen changed, captures, and
encodes; a static screen costs a damage poll and nothing else.

Every subscriber has a bounded queue of shared `EncodedFrame`s. Handing a frame to a
subscriber never blocks: a subscriber whose queue is full loses its queued frames,
waits for the next keyframe and asks for one, so neither the encoder nor the other
subscribers ever wait for it. Keyframe requests (new subscribers, overflows, RTCP
PLI/FIR through `request_keyframe`) are coalesced: at most one forced keyframe per
`keyframe_min_interval` seconds, however many asked.

Live control (`reconfigure`) is applied between frames; a change the encoder cannot
make in place reopens it, and its first frame is then an IDR picture.

Pacing uses trio's clock, so tests drive the hub with `autojump_clock`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import trio

from selkies_trio.media.encoder import BITRATE_KBPS_RANGE, CRF_RANGE, FPS_RANGE
from selkies_trio.media.frames import (
    CaptureSource,
    EncodedFrame,
    MediaError,
    RawFrame,
    VideoEncoder,
)
from selkies_trio.runtime.feed import Feed

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class EncoderFactory(Protocol):
    """Builds an encoder; `H264Encoder` itself has this signature."""

    def __call__(
        self,
        width: int,
        height: int,
        fps: int,
        bitrate_kbps: int | None,
        crf: int | None,
        /,
    ) -> VideoEncoder: ...


SourceFactory = Callable[[], CaptureSource]


@dataclass(frozen=True, slots=True)
class SubscriberStatistics:
    name: str
    queued: int
    delivered: int
    dropped: int
    skipped_waiting_for_keyframe: int
    overflows: int
    waiting_for_keyframe: bool


@dataclass(frozen=True, slots=True)
class HubStatistics:
    streaming: bool
    encoder_name: str
    width: int
    height: int
    target_fps: int
    bitrate_kbps: int | None
    crf: int | None
    encoded_fps: float
    encoded_bitrate_kbps: float
    mean_encode_ms: float
    mean_capture_ms: float
    frames_encoded: int
    keyframes: int
    forced_keyframes: int
    keyframe_requests: int
    static_ticks: int
    streams_started: int
    failures: int
    subscribers: tuple[SubscriberStatistics, ...]


class Subscription(Feed[EncodedFrame]):
    """One viewer's view of the stream: it starts on a keyframe, and when its queue
    overflows it drops what is queued and waits for the next keyframe."""

    def __init__(self, hub: BroadcastHub, max_queue: int, name: str) -> None:
        super().__init__(max_queue, name)
        self._hub = hub
        self.waiting_for_keyframe = True
        self.skipped = 0
        self.overflows = 0

    def request_keyframe(self, reason: str = "subscriber request") -> None:
        self._hub.request_keyframe(f"{self.name}: {reason}")

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(
            name=self.name,
            queued=len(self._queue),
            delivered=self.delivered,
            dropped=self.dropped,
            skipped_waiting_for_keyframe=self.skipped,
            overflows=self.overflows,
            waiting_for_keyframe=self.waiting_for_keyframe,
        )

    def _offer(self, frame: EncodedFrame) -> None:
        if self._closed:
            return
        if self.waiting_for_keyframe:
            if not frame.keyframe:
                self.skipped += 1
                return
            self.waiting_for_keyframe = False
        elif len(self._queue) >= self._max_queue:
            self.overflows += 1
            # Queued frames are stale by now; a keyframe restarts the viewer sooner.
            self.dropped += len(self._queue)
            self._queue.clear()
            if not frame.keyframe:
                self.dropped += 1
                self.waiting_for_keyframe = True
                self._hub.request_keyframe(f"{self.name}: queue overflow")
                return
        self._put(frame)


@dataclass(frozen=True, slots=True)
class _TickResult:
    frames: list[EncodedFrame]
    capture_seconds: float
    encode_seconds: float
    damaged: bool
    encoder_name: str
    width: int
    height: int


@dataclass(slots=True)
class _Pending:
    fps: int | None = None
    bitrate_kbps: int | None = None
    crf: int | None = None
    size: tuple[int, int] | None = None

    def empty(self) -> bool:
        return (
            self.fps is None
            and self.bitrate_kbps is None
            and self.crf is None
            and self.size is None
        )


class BroadcastHub:
    """One capture + encode loop shared by any number of subscribers.

    Run it in a nursery the caller owns: `await nursery.start(hub.run)`. Subscribe
    with `async with hub.subscribe() as subscription:`.
    """

    def __init__(
        self,
        source_factory: SourceFactory,
        encoder_factory: EncoderFactory,
        *,
        fps: int = 30,
        bitrate_kbps: int | None = None,
        crf: int | None = None,
        size: tuple[int, int] | None = None,
        keyframe_min_interval: float = 0.5,
        default_max_queue: int = 8,
        statistics_window: float = 2.0,
        timestamp_clock: Callable[[], float] | None = None,
        offload_to_thread: bool = True,
        restart_delay: float = 1.0,
        name: str = "video",
    ) -> None:
        """
        - `source_factory()` / `encoder_factory(width, height, fps, bitrate_kbps, crf)`
          are called (in the worker thread) each time streaming starts; `size=None`
          encodes at the source's size and follows it when the screen is resized.
        - `bitrate_kbps` (CBR) or `crf` (constant quality); neither means CBR 8000.
        - `keyframe_min_interval`: at most one forced keyframe per this many seconds.
        - `default_max_queue`: frames a subscriber may have unread before it skips.
        - `timestamp_clock` stamps captures (default `trio.current_time`); pass
          `time.time` when another machine compares the stamps with its own clock.
        - `offload_to_thread=False` runs capture and encode on the event loop: only
          for sources and encoders that cost nothing (tests on a virtual clock, where
          a worker thread would let the clock jump while it works).
        - `restart_delay`: pause after a capture/encoder failure before restarting.
        """
        if bitrate_kbps is not None and crf is not None:
            raise ValueError("give bitrate_kbps or crf, not both")
        if bitrate_kbps is None and crf is None:
            bitrate_kbps = 8000
        _check_fps(fps)
        self.name = name
        self._source_factory = source_factory
        self._encoder_factory = encoder_factory
        self._fps = fps
        self._bitrate_kbps = bitrate_kbps
        self._crf = crf
        self._size = size
        self._keyframe_min_interval = keyframe_min_interval
        self._default_max_queue = default_max_queue
        self._statistics_window = statistics_window
        self._timestamp_clock = timestamp_clock
        self._limiter = trio.CapacityLimiter(1)
        self._offload_to_thread = offload_to_thread
        self._subscriptions: list[Subscription] = []
        # Sessions about to subscribe (connecting): they keep the encoder running.
        self._warm_holders = 0
        self._subscribers_present = trio.Event()
        self._next_subscriber_number = 1
        self._keyframe_pending = False
        self._last_forced_keyframe = -math.inf
        self._pending = _Pending()
        self._streaming = False
        self._encoder_name = ""
        self._width = 0
        self._height = 0
        self._frame_index = 0
        # (time, bytes, encode seconds, capture seconds) of recent frames for the rates.
        self._recent: deque[tuple[float, int, float, float]] = deque()
        self._stream_started_at = 0.0
        self._frames_encoded = 0
        self._keyframes = 0
        self._forced_keyframes = 0
        self._keyframe_requests = 0
        self._static_ticks = 0
        self._streams_started = 0
        self._stopped = False
        self._failures = 0
        self._restart_delay = restart_delay

    # ---- the public face -------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """True while capture and encoding run (at least one subscriber)."""
        return self._streaming

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @asynccontextmanager
    async def subscribe(
        self, max_queue: int | None = None, name: str | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription for the duration of the block; its first frame is a keyframe."""
        if self._stopped:
            raise trio.ClosedResourceError("the hub has stopped")
        if name is None:
            name = f"{self.name}-subscriber-{self._next_subscriber_number}"
        self._next_subscriber_number += 1
        subscription = Subscription(self, max_queue or self._default_max_queue, name)
        self._subscriptions.append(subscription)
        self._subscribers_present.set()
        self.request_keyframe(f"{name} joined")
        try:
            await trio.lowlevel.checkpoint()
            yield subscription
        finally:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            subscription._close()
            if not self._wanted():
                self._subscribers_present = trio.Event()

    @asynccontextmanager
    async def warm(self) -> AsyncIterator[None]:
        """Keep capture and encoding running for the duration of the block without
        receiving anything: a viewer that is still connecting holds this so that its
        first keyframe is one tick away, not an encoder start-up away, once it subscribes."""
        if self._stopped:
            raise trio.ClosedResourceError("the hub has stopped")
        self._warm_holders += 1
        self._subscribers_present.set()
        try:
            await trio.lowlevel.checkpoint()
            yield
        finally:
            self._warm_holders -= 1
            if not self._wanted():
                self._subscribers_present = trio.Event()

    def _wanted(self) -> bool:
        return bool(self._subscriptions) or self._warm_holders > 0

    def _end_subscriptions(self) -> None:
        ended, self._subscriptions = self._subscriptions, []
        self._subscribers_present = trio.Event()
        if self._warm_holders:
            self._subscribers_present.set()
        for subscription in ended:
            subscription._close()

    def request_keyframe(self, reason: str) -> None:
        """Ask for a keyframe soon; requests within `keyframe_min_interval` of the last
        forced keyframe are served by the next one allowed."""
        self._keyframe_requests += 1
        if not self._keyframe_pending:
            logger.debug("%s: keyframe requested (%s)", self.name, reason)
        self._keyframe_pending = True

    def reconfigure(
        self,
        *,
        fps: int | None = None,
        bitrate_kbps: int | None = None,
        crf: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        """Change the stream between two frames. `bitrate_kbps` switches to CBR, `crf`
        to constant quality; a new `size` reopens the encoder (viewers get a keyframe)."""
        if bitrate_kbps is not None and crf is not None:
            raise ValueError("give bitrate_kbps or crf, not both")
        # Validate everything before changing anything, with the encoder's own limits,
        # so a bad request fails here and never inside the encoding thread.
        if fps is not None:
            _check_fps(fps)
        if bitrate_kbps is not None and not (
            BITRATE_KBPS_RANGE[0] <= bitrate_kbps <= BITRATE_KBPS_RANGE[1]
        ):
            raise ValueError(f"bitrate {bitrate_kbps} kbps outside {BITRATE_KBPS_RANGE}")
        if crf is not None and not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
            raise ValueError(f"crf {crf} outside {CRF_RANGE}")
        if size is not None and (size[0] < 2 or size[1] < 2):
            raise ValueError(f"size must be at least 2x2, got {size}")
        if fps is not None:
            self._fps = self._pending.fps = fps
        if bitrate_kbps is not None:
            self._bitrate_kbps = self._pending.bitrate_kbps = bitrate_kbps
            self._crf = self._pending.crf = None
        if crf is not None:
            self._crf = self._pending.crf = crf
            self._bitrate_kbps = self._pending.bitrate_kbps = None
        if size is not None:
            self._size = self._pending.size = size

    def statistics(self) -> HubStatistics:
        now = trio.current_time()
        self._forget_old(now)
        window = min(self._statistics_window, max(now - self._stream_started_at, 1e-9))
        recent = self._recent if self._streaming else deque()
        count = len(recent)
        total_bytes = sum(item[1] for item in recent)
        return HubStatistics(
            streaming=self._streaming,
            encoder_name=self._encoder_name,
            width=self._width,
            height=self._height,
            target_fps=self._fps,
            bitrate_kbps=self._bitrate_kbps,
            crf=self._crf,
            encoded_fps=count / window if count else 0.0,
            encoded_bitrate_kbps=total_bytes * 8 / 1000 / window if count else 0.0,
            mean_encode_ms=1000 * sum(item[2] for item in recent) / count if count else 0.0,
            mean_capture_ms=1000 * sum(item[3] for item in recent) / count if count else 0.0,
            frames_encoded=self._frames_encoded,
            keyframes=self._keyframes,
            forced_keyframes=self._forced_keyframes,
            keyframe_requests=self._keyframe_requests,
            static_ticks=self._static_ticks,
            streams_started=self._streams_started,
            failures=self._failures,
            subscribers=tuple(s.statistics() for s in self._subscriptions),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The hub's loop; runs until cancelled.

        A capture or encoder failure (`MediaError`) ends the current subscriptions
        (their `receive` raises `trio.EndOfChannel`), is logged, and the hub waits
        `restart_delay` before serving new subscribers with a fresh source and
        encoder. Any other exception propagates to the caller's nursery.
        """
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

    # ---- the loop ---------------------------------------------------------------------

    async def _stream(self) -> None:
        # The new encoder is opened with the latest settings; only later changes pend.
        self._pending = _Pending()
        opened = await self._in_worker(self._open)
        source, encoder = opened
        self._streaming = True
        self._streams_started += 1
        self._stream_started_at = trio.current_time()
        self._recent.clear()
        self._last_forced_keyframe = -math.inf
        self._encoder_name = encoder.name
        try:
            next_tick = trio.current_time()
            while self._wanted():
                now = trio.current_time()
                force = self._keyframe_pending and (
                    now - self._last_forced_keyframe >= self._keyframe_min_interval
                )
                pending, self._pending = self._pending, _Pending()
                timestamp = self._timestamp_clock() if self._timestamp_clock else now
                result = await self._in_worker(
                    self._tick, source, encoder, force, timestamp, pending
                )
                self._record(result, force, trio.current_time())
                next_tick = max(next_tick + 1 / self._fps, trio.current_time())
                await trio.sleep_until(next_tick)
        finally:
            self._streaming = False
            with trio.CancelScope(shield=True):
                await self._in_worker(_close_both, source, encoder)

    async def _in_worker(self, function: Callable[..., _T], *args: object) -> _T:
        if self._offload_to_thread:
            return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
        await trio.lowlevel.checkpoint()
        return function(*args)

    def _open(self) -> tuple[CaptureSource, VideoEncoder]:
        source = self._source_factory()
        try:
            width, height = self._size or (source.width, source.height)
            encoder = self._encoder_factory(width, height, self._fps, self._bitrate_kbps, self._crf)
        except BaseException:
            source.close()
            raise
        return source, encoder

    def _tick(
        self,
        source: CaptureSource,
        encoder: VideoEncoder,
        force: bool,
        timestamp: float,
        pending: _Pending,
    ) -> _TickResult:
        """Runs in the worker thread: reconfigure, capture if damaged or forced, encode."""
        if not pending.empty():
            encoder.reconfigure(
                fps=pending.fps,
                bitrate_kbps=pending.bitrate_kbps,
                crf=pending.crf,
                size=pending.size,
            )
        damaged = source.poll_damage()
        if not damaged and not force:
            return _TickResult([], 0.0, 0.0, False, encoder.name, encoder.width, encoder.height)
        started = time.perf_counter()
        raw: RawFrame = source.capture(timestamp)
        captured = time.perf_counter()
        if self._size is None and (raw.width, raw.height) != (encoder.width, encoder.height):
            # The screen was resized and no explicit size was asked for: follow it.
            encoder.reconfigure(size=(raw.width, raw.height))
        frames = encoder.encode(raw, force)
        finished = time.perf_counter()
        return _TickResult(
            frames,
            captured - started,
            finished - captured,
            damaged,
            encoder.name,
            encoder.width,
            encoder.height,
        )

    def _record(self, result: _TickResult, forced: bool, now: float) -> None:
        self._encoder_name = result.encoder_name
        self._width, self._height = result.width, result.height
        if not result.frames and not forced:
            self._static_ticks += 1
            return
        if forced:
            self._forced_keyframes += 1
            self._last_forced_keyframe = now
        for frame in result.frames:
            frame.index = self._frame_index
            self._frame_index += 1
            self._frames_encoded += 1
            if frame.keyframe:
                self._keyframes += 1
                # Any keyframe serves every request made before it went out.
                self._keyframe_pending = False
            self._recent.append(
                (now, len(frame.data), result.encode_seconds, result.capture_seconds)
            )
            for subscription in tuple(self._subscriptions):
                subscription._offer(frame)
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        horizon = now - self._statistics_window
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()


def _close_both(source: CaptureSource, encoder: VideoEncoder) -> None:
    try:
        encoder.close()
    finally:
        source.close()


def _check_fps(fps: int) -> None:
    if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise ValueError(f"fps {fps} outside {FPS_RANGE}")


__all__ = [
    "BroadcastHub",
    "EncoderFactory",
    "HubStatistics",
    "SourceFactory",
    "SubscriberStatistics",
    "Subscription",
]
