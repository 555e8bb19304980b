"""The broadcast hub: one encoder for every subscriber, isolation of slow subscribers,
keyframe coalescing, lazy start and stop, live control, statistics.

Timing-sensitive tests use fake sources and encoders on trio's autojump clock; the
rest run the real synthetic source, libx264 and, for damage, a real Xvfb.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import pytest
import trio
import trio.testing
from Xlib import display as xdisplay

from selkies_trio.media.capture_synthetic import (
    SyntheticSource,
    capture_time_to_milliseconds,
    read_embedded_stamp,
)
from selkies_trio.media.capture_x11 import X11CaptureSource
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.media.frames import CaptureError, EncodedFrame, RawFrame, VideoEncoder
from selkies_trio.runtime.hub import BroadcastHub, Subscription


class FakeSource:
    """A source whose damage the test controls; counts captures."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.width, self.height = world.screen_size
        self.captures = 0
        self.closed = False

    def poll_damage(self) -> bool:
        return self.world.damaged

    def capture(self, now: float) -> RawFrame:
        assert not self.closed
        limit = self.world.fail_after_captures
        if limit is not None and self.world.total_captures >= limit:
            raise CaptureError("the display went away")
        self.captures += 1
        self.world.total_captures += 1
        width, height = self.world.screen_size
        return RawFrame(bytes(width * height * 4), width, height, width * 4, now)

    def close(self) -> None:
        self.closed = True


class FakeEncoder:
    """Emits one small frame per input; a keyframe first, after a reopen, or on demand."""

    def __init__(
        self,
        world: World,
        width: int,
        height: int,
        fps: int,
        bitrate_kbps: int | None,
        crf: int | None,
    ) -> None:
        self.world = world
        self.width, self.height, self.fps = width, height, fps
        self.bitrate_kbps, self.crf = bitrate_kbps, crf
        self.name = "fake"
        self.closed = False
        self.reopened = True
        self.forced: list[float] = []
        self.reconfigurations: list[dict[str, object]] = []
        self.pts = 0

    def encode(self, frame: RawFrame, force_keyframe: bool = False) -> list[EncodedFrame]:
        assert not self.closed
        keyframe = force_keyframe or self.reopened
        self.reopened = False
        if force_keyframe:
            self.forced.append(frame.capture_time)
        self.pts += 1
        return [
            EncodedFrame(
                b"K" * 1000 if keyframe else b"P" * 100,
                keyframe,
                self.pts,
                self.width,
                self.height,
                frame.capture_time,
            )
        ]

    def reconfigure(
        self,
        *,
        fps: int | None = None,
        bitrate_kbps: int | None = None,
        crf: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> bool:
        self.reconfigurations.append(
            {"fps": fps, "bitrate_kbps": bitrate_kbps, "crf": crf, "size": size}
        )
        if size is not None:
            self.width, self.height = size
            self.reopened = True
        return size is not None

    def close(self) -> None:
        self.closed = True


@dataclass
class World:
    screen_size: tuple[int, int] = (64, 48)
    damaged: bool = True
    total_captures: int = 0
    fail_after_captures: int | None = None
    sources: list[FakeSource] = field(default_factory=list)
    encoders: list[FakeEncoder] = field(default_factory=list)

    def source(self) -> FakeSource:
        source = FakeSource(self)
        self.sources.append(source)
        return source

    def encoder(
        self, width: int, height: int, fps: int, bitrate_kbps: int | None, crf: int | None
    ) -> VideoEncoder:
        encoder = FakeEncoder(self, width, height, fps, bitrate_kbps, crf)
        self.encoders.append(encoder)
        return encoder


def fake_hub(world: World, **options: object) -> BroadcastHub:
    # The fakes cost nothing, so they run on the event loop: a worker thread would let
    # the autojump clock leap ahead while it works.
    return BroadcastHub(
        world.source,
        world.encoder,
        offload_to_thread=False,
        **options,  # type: ignore[arg-type]
    )


async def receive_n(subscription: Subscription, count: int) -> list[EncodedFrame]:
    return [await subscription.receive() for _ in range(count)]


async def test_one_encoder_serves_every_subscriber_with_shared_frames(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world)
    received: dict[int, list[EncodedFrame]] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        assert world.encoders == [] and world.sources == []  # idle until someone subscribes

        async def viewer(number: int, ready: trio.Event) -> None:
            async with hub.subscribe() as subscription:
                ready.set()
                received[number] = await receive_n(subscription, 20)

        async with trio.open_nursery() as viewers:
            for number in range(10):
                ready = trio.Event()
                viewers.start_soon(viewer, number, ready)
                await ready.wait()
        nursery.cancel_scope.cancel()
    assert len(world.encoders) == 1
    assert len(world.sources) == 1
    assert hub.statistics().streams_started == 1
    for frames in received.values():
        assert frames[0].keyframe
        indices = [f.index for f in frames]
        assert indices == list(range(indices[0], indices[0] + 20))
    # The same frame objects went to everyone: nothing is encoded or copied per viewer.
    by_index: dict[int, set[int]] = {}
    for frames in received.values():
        for frame in frames:
            by_index.setdefault(frame.index, set()).add(id(frame))
    assert all(len(ids) == 1 for ids in by_index.values())


async def test_a_subscriber_that_never_reads_does_not_delay_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world, fps=30, keyframe_min_interval=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe(max_queue=4, name="stuck"), hub.subscribe(name="reader") as reader:
            started = trio.current_time()
            frames = await receive_n(reader, 300)
            elapsed = trio.current_time() - started
            stats = {s.name: s for s in hub.statistics().subscribers}
        nursery.cancel_scope.cancel()
    # 300 frames at 30 fps take 10 s of stream time; the stuck viewer costs nothing.
    assert elapsed == pytest.approx(300 / 30, abs=0.2)
    indices = [f.index for f in frames]
    assert indices == list(range(indices[0], indices[0] + 300))
    stuck, reading = stats["stuck"], stats["reader"]
    assert reading.dropped == 0 and reading.overflows == 0
    assert stuck.overflows >= 1 and stuck.delivered == 0
    # Every frame it was offered was either queued, dropped, or skipped awaiting a keyframe.
    assert stuck.queued + stuck.dropped + stuck.skipped_waiting_for_keyframe >= 299
    assert stuck.queued <= 4
    # The stuck viewer's keyframe requests were coalesced: at most one per 0.5 s.
    forced = world.encoders[0].forced
    assert 2 <= len(forced) <= math.ceil(elapsed / 0.5) + 1
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(forced))


async def test_an_overflowing_subscriber_skips_to_the_next_keyframe_and_recovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world, fps=30, keyframe_min_interval=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe(max_queue=3) as slow:
            first = await slow.receive()
            assert first.keyframe
            await trio.sleep(1.0)  # stop reading long enough to overflow
            stats = slow.statistics()
            assert stats.overflows >= 1
            resumed = await receive_n(slow, 10)
        nursery.cancel_scope.cancel()
    # After an overflow the queue restarts at a keyframe and then runs gap-free.
    restart = next(i for i, frame in enumerate(resumed) if frame.keyframe)
    tail = [f.index for f in resumed[restart:]]
    assert tail == list(range(tail[0], tail[0] + len(tail)))
    assert resumed[0].index > first.index + 3


async def test_keyframe_requests_are_coalesced(autojump_clock: trio.testing.MockClock) -> None:
    world = World()
    hub = fake_hub(world, fps=30, keyframe_min_interval=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            await subscription.receive()
            start = trio.current_time()
            frames: list[EncodedFrame] = []
            # 40 requests per second (e.g. a PLI storm from many viewers) for 3 s.
            for _ in range(90):
                hub.request_keyframe("test storm")
                subscription.request_keyframe("viewer asks too")
                frames.extend(await receive_n(subscription, 1))
            duration = trio.current_time() - start
        nursery.cancel_scope.cancel()
    keyframes = [f for f in frames if f.keyframe]
    assert 5 <= len(keyframes) <= math.ceil(duration / 0.5) + 1
    times = [f.capture_time for f in keyframes]
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(times))
    assert hub.statistics().keyframe_requests >= 180


async def test_a_late_subscriber_starts_on_a_keyframe(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world, keyframe_min_interval=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as early:
            await receive_n(early, 45)  # 1.5 s in: the first forced keyframe is long past
            forced_before = len(world.encoders[0].forced)
            async with hub.subscribe() as late:
                first = await late.receive()
                assert first.keyframe
                assert first.index > 40
            assert len(world.encoders[0].forced) == forced_before + 1
        nursery.cancel_scope.cancel()
    assert len(world.encoders) == 1


async def test_capture_and_encoding_stop_with_the_last_subscriber_and_restart(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as a, hub.subscribe() as b:
            await receive_n(a, 5)
            await receive_n(b, 5)
        await trio.sleep(1.0)
        assert not hub.streaming
        assert world.encoders[0].closed and world.sources[0].closed
        captures = world.total_captures
        await trio.sleep(5.0)
        assert world.total_captures == captures  # idle: nothing captured, nothing encoded
        assert hub.statistics().encoded_fps == 0.0
        async with hub.subscribe() as c:
            assert (await c.receive()).keyframe
            assert hub.streaming
        nursery.cancel_scope.cancel()
    assert len(world.encoders) == 2
    assert hub.statistics().streams_started == 2


async def test_a_connecting_viewer_keeps_the_encoder_warm_and_its_first_frame_is_one_tick_away(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world, fps=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.warm():
            await trio.sleep(0.5)
            assert hub.streaming and len(world.encoders) == 1 and world.total_captures > 10
            started = trio.current_time()
            async with hub.subscribe() as viewer:
                first = await viewer.receive()
            assert first.keyframe and trio.current_time() - started <= 1 / 30 + 1e-9
            assert hub.streaming  # the warm holder still wants it
        await trio.sleep(1.0)
        assert not hub.streaming and world.encoders[0].closed
        nursery.cancel_scope.cancel()
    assert len(world.encoders) == 1


async def test_static_screen_costs_no_capture_until_it_changes_or_a_keyframe_is_asked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world, keyframe_min_interval=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            await subscription.receive()
            world.damaged = False
            await trio.sleep(0.1)  # let the in-flight tick finish
            captures = world.total_captures
            with trio.move_on_after(2.0):
                await subscription.receive()
                pytest.fail("a frame arrived while the screen was static")
            assert world.total_captures == captures
            assert hub.statistics().static_ticks >= 50
            hub.request_keyframe("PLI")  # a keyframe is sent even on a static screen
            frame = await subscription.receive()
            assert frame.keyframe
            world.damaged = True
            assert not (await subscription.receive()).keyframe
        nursery.cancel_scope.cancel()


async def test_reconfigure_between_frames(autojump_clock: trio.testing.MockClock) -> None:
    world = World()
    hub = fake_hub(world, fps=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            await receive_n(subscription, 3)
            hub.reconfigure(fps=10, bitrate_kbps=1234)
            await receive_n(subscription, 2)
            start = trio.current_time()
            await receive_n(subscription, 20)
            assert trio.current_time() - start == pytest.approx(2.0, abs=0.15)
            hub.reconfigure(size=(32, 24))
            frames = await receive_n(subscription, 3)
            resized = next(f for f in frames if (f.width, f.height) == (32, 24))
            assert resized.keyframe
            hub.reconfigure(crf=23)
            await receive_n(subscription, 2)
            statistics = hub.statistics()
        nursery.cancel_scope.cancel()
    encoder = world.encoders[0]
    assert {"fps": 10, "bitrate_kbps": 1234, "crf": None, "size": None} in encoder.reconfigurations
    assert {
        "fps": None,
        "bitrate_kbps": None,
        "crf": None,
        "size": (32, 24),
    } in encoder.reconfigurations
    assert {"fps": None, "bitrate_kbps": None, "crf": 23, "size": None} in encoder.reconfigurations
    assert len(world.encoders) == 1
    assert (statistics.target_fps, statistics.crf, statistics.bitrate_kbps) == (10, 23, None)
    assert (statistics.width, statistics.height) == (32, 24)


async def test_encoder_follows_a_screen_resize_when_no_size_is_forced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World(screen_size=(64, 48))
    hub = fake_hub(world)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            assert (await subscription.receive()).width == 64
            world.screen_size = (80, 60)
            frame = await subscription.receive()
            while frame.width != 80:
                frame = await subscription.receive()
            assert frame.keyframe and frame.height == 60
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "options",
    [
        {"fps": 0},
        {"fps": 500},
        {"bitrate_kbps": 10, "crf": 20},
        {"size": (1, 100)},
        {"bitrate_kbps": -5},
        {"crf": 60},
        {"fps": 20, "crf": 99},
    ],
)
async def test_invalid_reconfiguration_is_refused_and_changes_nothing(
    options: dict[str, object],
) -> None:
    hub = fake_hub(World(), fps=30, bitrate_kbps=900)
    with pytest.raises(ValueError):
        hub.reconfigure(**options)  # type: ignore[arg-type]
    statistics = hub.statistics()
    assert (statistics.target_fps, statistics.bitrate_kbps, statistics.crf) == (30, 900, None)


async def test_a_capture_failure_ends_subscriptions_and_the_hub_recovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World(fail_after_captures=10)
    hub = fake_hub(world, restart_delay=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as doomed:
            frames = [frame async for frame in doomed]
        assert len(frames) == 10
        assert world.sources[0].closed and world.encoders[0].closed
        world.fail_after_captures = None
        async with hub.subscribe() as fresh:
            assert (await fresh.receive()).keyframe
        nursery.cancel_scope.cancel()
    assert hub.statistics().failures == 1
    assert len(world.encoders) == 2


async def test_statistics_report_rates_and_per_subscriber_drops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world, fps=25, statistics_window=2.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe(max_queue=2, name="idle"), hub.subscribe(name="active") as active:
            await receive_n(active, 100)
            statistics = hub.statistics()
        nursery.cancel_scope.cancel()
    assert statistics.streaming and statistics.encoder_name == "fake"
    assert statistics.encoded_fps == pytest.approx(25, rel=0.1)
    # Mostly 100-byte frames with a keyframe of 1000 bytes every 0.5 s at most.
    assert 20 <= statistics.encoded_bitrate_kbps <= 60
    assert statistics.mean_encode_ms >= 0.0
    per_subscriber = {s.name: s for s in statistics.subscribers}
    assert per_subscriber["active"].dropped == 0
    idle = per_subscriber["idle"]
    assert idle.overflows > 1 and idle.dropped + idle.skipped_waiting_for_keyframe > 90


async def test_subscribers_see_the_end_when_the_hub_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    hub = fake_hub(world)
    got: list[EncodedFrame] = []
    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as hub_nursery:
            await hub_nursery.start(hub.run)

            async def viewer() -> None:
                async with hub.subscribe() as subscription:
                    async for frame in subscription:
                        got.append(frame)
                        if len(got) == 3:
                            hub_nursery.cancel_scope.cancel()

            outer.start_soon(viewer)
    assert len(got) >= 3
    with pytest.raises(trio.ClosedResourceError):
        async with hub.subscribe():
            pass


# ---- with the real synthetic source and libx264 ------------------------------------


async def test_real_encoder_broadcast_decodes_for_every_subscriber() -> None:
    encoders: list[H264Encoder] = []

    def encoder_factory(
        width: int, height: int, fps: int, bitrate_kbps: int | None, crf: int | None
    ) -> H264Encoder:
        encoder = H264Encoder(width, height, fps, bitrate_kbps, crf, preference=("libx264",))
        encoders.append(encoder)
        return encoder

    hub = BroadcastHub(lambda: SyntheticSource(320, 180), encoder_factory, fps=30, bitrate_kbps=400)
    streams: dict[str, list[EncodedFrame]] = {}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)

            async def viewer(name: str, ready: trio.Event) -> None:
                async with hub.subscribe(name=name) as subscription:
                    ready.set()
                    streams[name] = await receive_n(subscription, 12)

            async with trio.open_nursery() as viewers:
                for name in ("a", "b", "c"):
                    ready = trio.Event()
                    viewers.start_soon(viewer, name, ready)
                    await ready.wait()
            nursery.cancel_scope.cancel()
    assert len(encoders) == 1
    for frames in streams.values():
        assert frames[0].keyframe
        decoder = av.CodecContext.create("h264", "r")
        pictures: list[av.VideoFrame] = []
        for frame in frames:
            pictures.extend(decoder.decode(av.Packet(frame.data)))
        pictures.extend(decoder.decode(None))
        assert len(pictures) == 12
        assert {(p.width, p.height) for p in pictures} == {(320, 180)}
        stamps = [read_embedded_stamp(p) for p in pictures]
        counters = [s.counter for s in stamps]
        assert counters == list(range(counters[0], counters[0] + 12))
        assert [s.milliseconds for s in stamps] == [
            capture_time_to_milliseconds(f.capture_time) for f in frames
        ]


# ---- with a real X server: a static screen is not re-encoded -------------------------


@pytest.fixture
def x_painter(xvfb_display: str) -> Iterator[tuple[xdisplay.Display, object]]:
    connection = xdisplay.Display(xvfb_display)
    root = connection.screen().root
    yield connection, root
    connection.close()


async def test_damage_aware_hub_sends_nothing_while_static_and_resumes_on_change(
    xvfb_display: str,
    x_painter: tuple[xdisplay.Display, object],
) -> None:
    # Real clock: capture and encoding run in a worker thread against a real server.
    connection, root = x_painter

    def draw(colour: int) -> None:
        gc = root.create_gc(foreground=colour)  # type: ignore[attr-defined]
        root.fill_rectangle(gc, 0, 0, 200, 200)  # type: ignore[attr-defined]
        connection.sync()

    hub = BroadcastHub(
        lambda: X11CaptureSource(xvfb_display),
        lambda w, h, fps, kbps, crf: H264Encoder(w, h, fps, kbps, crf, preference=("libx264",)),
        fps=30,
        bitrate_kbps=1000,
        size=(320, 180),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            with trio.fail_after(20):
                first = await subscription.receive()
            assert first.keyframe
            static_before = hub.statistics().static_ticks
            with trio.move_on_after(1.0):
                await subscription.receive()
                pytest.fail("a frame was encoded while the screen was static")
            assert hub.statistics().static_ticks >= static_before + 10
            await trio.to_thread.run_sync(draw, 0xFF00FF)
            with trio.fail_after(20):
                changed = await subscription.receive()
            assert (changed.width, changed.height) == (320, 180)
            frames_after_change = hub.statistics().frames_encoded
            with trio.move_on_after(0.5):
                await subscription.receive()
                pytest.fail("one change produced more than one frame")
            assert hub.statistics().frames_encoded == frames_after_change
        nursery.cancel_scope.cancel()
