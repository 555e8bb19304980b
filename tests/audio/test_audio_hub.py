"""The audio hub on trio's autojump clock: one encoder for every listener, started by
the first and stopped with the last, slow listeners drop their oldest packets."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from selkies_trio.media.audio import (
    FRAME_BYTES,
    SAMPLES_PER_FRAME,
    AudioError,
    EncodedAudio,
    OpusEncoder,
    PcmChunk,
    ToneSource,
)
from selkies_trio.runtime.audio_hub import AudioHub


class CountingSource:
    realtime = False

    def __init__(self, fail_on_read: int | None = None) -> None:
        self.name = "counting"
        self.reads: list[float] = []
        self.closed = False
        self.fail_on_read = fail_on_read

    def read(self, now: float) -> PcmChunk:
        if self.fail_on_read is not None and len(self.reads) + 1 == self.fail_on_read:
            raise AudioError("device unplugged")
        self.reads.append(now)
        return PcmChunk(bytes(FRAME_BYTES), now)

    def close(self) -> None:
        self.closed = True


class CountingEncoder:
    name = "counting-opus"

    def __init__(self, bitrate: int) -> None:
        self.opened_at = self.bitrate = bitrate
        self.encoded = 0
        self.closed = False
        # (packets encoded before the change, new bitrate)
        self.bitrate_changes: list[tuple[int, int]] = []

    def set_bitrate(self, bitrate: int) -> None:
        self.bitrate = bitrate
        self.bitrate_changes.append((self.encoded, bitrate))

    def encode(self, chunk: PcmChunk) -> list[EncodedAudio]:
        index = self.encoded
        self.encoded += 1
        return [
            EncodedAudio(
                index.to_bytes(4, "big") * 10,
                index * SAMPLES_PER_FRAME,
                SAMPLES_PER_FRAME,
                chunk.capture_time,
                first=index == 0,
            )
        ]

    def close(self) -> None:
        self.closed = True


class Factories:
    def __init__(self, fail_on_read: int | None = None) -> None:
        self.sources: list[CountingSource] = []
        self.encoders: list[CountingEncoder] = []
        self.fail_on_read = fail_on_read

    def source(self) -> CountingSource:
        self.sources.append(CountingSource(self.fail_on_read))
        return self.sources[-1]

    def encoder(self, bitrate: int) -> CountingEncoder:
        self.encoders.append(CountingEncoder(bitrate))
        return self.encoders[-1]


def _hub(factories: Factories, **kwargs: object) -> AudioHub:
    return AudioHub(
        factories.source, factories.encoder, offload_to_thread=False, restart_delay=0.5,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_nothing_is_opened_without_listeners(autojump_clock: trio.testing.MockClock) -> None:
    factories = Factories()
    hub = _hub(factories)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        await trio.sleep(5)
        assert factories.sources == [] and factories.encoders == []
        assert hub.streaming is False
        nursery.cancel_scope.cancel()


async def test_one_encoder_serves_every_listener_the_same_packets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factories = Factories()
    hub = _hub(factories, bitrate=96_000)
    received: dict[str, list[EncodedAudio]] = {"a": [], "b": [], "c": []}

    async def listen(name: str, count: int, ready: trio.Event) -> None:
        async with hub.subscribe(name=name) as subscription:
            ready.set()
            async for packet in subscription:
                received[name].append(packet)
                if len(received[name]) == count:
                    return

    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        readies = [trio.Event() for _ in received]
        for (name, ready) in zip(received, readies, strict=True):
            nursery.start_soon(listen, name, 40, ready)
        for ready in readies:
            await ready.wait()
        await trio.sleep(0.5)
        assert hub.subscriber_count == 3
        statistics = hub.statistics()
        assert statistics.streaming and statistics.streams_started == 1
        assert statistics.source_name == "counting"
        assert statistics.encoder_name == "counting-opus"
        assert 45 <= statistics.packets_per_second <= 55  # 20 ms frames
        assert statistics.encoded_bitrate_kbps == pytest.approx(
            40 * 8 * statistics.packets_per_second / 1000, rel=0.01
        )
        await trio.sleep(2)
        nursery.cancel_scope.cancel()
    assert len(factories.encoders) == 1 and factories.encoders[0].bitrate == 96_000
    # Every listener got the very same packet objects, in order.
    first = received["a"]
    assert len(first) == 40
    for other in (received["b"], received["c"]):
        assert all(x is y for x, y in zip(first, other, strict=True))
    assert [p.sample_index for p in first] == [i * SAMPLES_PER_FRAME for i in range(40)]


async def test_the_tone_is_paced_at_20ms(autojump_clock: trio.testing.MockClock) -> None:
    factories = Factories()
    hub = _hub(factories)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe(max_queue=1000) as subscription:
            start = trio.current_time()
            await trio.sleep(1.0)
            elapsed = trio.current_time() - start
            assert subscription.statistics().queued == pytest.approx(elapsed / 0.02, abs=2)
        reads = factories.sources[0].reads
        gaps = [b - a for a, b in itertools.pairwise(reads)]
        assert all(gap == pytest.approx(0.02) for gap in gaps)
        nursery.cancel_scope.cancel()


async def test_the_last_listener_leaving_stops_capture_and_the_next_restarts_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factories = Factories()
    hub = _hub(factories)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            await subscription.receive()
        await trio.sleep(1)
        assert hub.streaming is False
        assert factories.sources[0].closed and factories.encoders[0].closed
        reads_after_stop = len(factories.sources[0].reads)
        await trio.sleep(1)
        assert len(factories.sources[0].reads) == reads_after_stop
        async with hub.subscribe() as subscription:
            packet = await subscription.receive()
        # A fresh encoder: its stream starts over, marked as first.
        assert packet.first and packet.sample_index == 0
        assert len(factories.encoders) == 2
        assert hub.statistics().streams_started == 2
        nursery.cancel_scope.cancel()


async def test_a_listener_that_never_reads_drops_its_oldest_and_delays_no_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factories = Factories()
    hub = _hub(factories)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe(max_queue=5, name="stuck") as stuck, hub.subscribe(
            max_queue=5, name="live"
        ) as live:
            got = [await live.receive() for _ in range(50)]
            assert [p.sample_index for p in got] == [i * SAMPLES_PER_FRAME for i in range(50)]
            statistics = {s.name: s for s in hub.statistics().subscribers}
            assert statistics["stuck"].queued == 5
            assert statistics["stuck"].dropped >= 44
            assert statistics["live"].dropped == 0
            # What is left for the stuck listener is the newest audio, in order.
            newest = [await stuck.receive() for _ in range(5)]
            indexes = [p.sample_index // SAMPLES_PER_FRAME for p in newest]
            assert indexes == sorted(indexes) and indexes[0] >= 44
        nursery.cancel_scope.cancel()


async def test_a_capture_failure_ends_listeners_then_the_hub_recovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factories = Factories(fail_on_read=3)
    hub = _hub(factories)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe() as subscription:
            packets = [packet async for packet in subscription]
        assert len(packets) == 2
        assert factories.sources[0].closed and factories.encoders[0].closed
        assert hub.statistics().failures == 1
        await trio.sleep(1)
        factories.fail_on_read = None
        async with hub.subscribe() as subscription:
            await subscription.receive()
        assert hub.statistics().streams_started == 2
        nursery.cancel_scope.cancel()


async def test_subscribing_to_a_stopped_hub_fails(autojump_clock: trio.testing.MockClock) -> None:
    hub = _hub(Factories())
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        nursery.cancel_scope.cancel()
    with pytest.raises(trio.ClosedResourceError):
        async with hub.subscribe():
            pass


async def test_real_tone_and_opus_in_worker_threads() -> None:
    """The production pieces on the real clock: 10 packets take about 200 ms."""
    hub = AudioHub(ToneSource, OpusEncoder, bitrate=64_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        with trio.fail_after(10):
            async with hub.subscribe() as subscription:
                packets = [await subscription.receive() for _ in range(10)]
        nursery.cancel_scope.cancel()
    assert [p.sample_index for p in packets] == [i * SAMPLES_PER_FRAME for i in range(10)]
    assert all(0 < len(p.data) < 400 for p in packets)
    assert hub.statistics().encoder_name == "libopus"


async def test_a_bitrate_change_reaches_the_running_encoder_between_packets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factories = Factories()
    hub = _hub(factories, bitrate=128_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        # Not streaming: the next encoder simply opens at the new bitrate.
        hub.set_bitrate(64_000)
        async with hub.subscribe() as subscription:
            got = [await subscription.receive() for _ in range(3)]
            hub.set_bitrate(32_000)
            hub.set_bitrate(96_000)  # only the latest counts
            got += [await subscription.receive() for _ in range(3)]
            assert hub.statistics().bitrate == 96_000
        with pytest.raises(ValueError, match="bitrate"):
            hub.set_bitrate(600_000)
        nursery.cancel_scope.cancel()
    (encoder,) = factories.encoders
    assert (encoder.opened_at, encoder.bitrate) == (64_000, 96_000)
    assert len(encoder.bitrate_changes) == 1
    changed_after, bitrate = encoder.bitrate_changes[0]
    assert bitrate == 96_000 and 3 <= changed_after <= 4
    # The same encoder, the same timeline on both sides of the change.
    assert [p.sample_index for p in got] == [i * SAMPLES_PER_FRAME for i in range(6)]
