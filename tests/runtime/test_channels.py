"""runtime/channels.py: the diagnostic echo channel answers in order, at once when it
can, and its queue is bounded in bytes, not only in messages."""

from __future__ import annotations

from types import SimpleNamespace

import trio
import trio.testing

from selkies_trio.proto import datachannel as dc
from selkies_trio.runtime.channels import (
    DEFAULT_LOW_THRESHOLD,
    ECHO_QUEUE_BYTES,
    SessionChannels,
)


async def test_a_flood_on_the_echo_channel_is_dropped_beyond_the_byte_bound() -> None:
    channels = SessionChannels(transport=None, poke=lambda: None)  # type: ignore[arg-type]
    big = b"x" * (ECHO_QUEUE_BYTES // 4)
    for _ in range(4):
        channels.echo(big)
    assert channels.echo_dropped == 0
    channels.echo(b"y")
    channels.echo("ж" * 10)  # text counts in UTF-8 bytes
    assert channels.echo_dropped == 2


class FakeEndpoint:
    """A data-channel endpoint whose buffered amount the test sets."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.buffered = 0

    def buffered_amount(self, channel_id: int) -> int:
        return self.buffered

    def set_buffered_amount_low_threshold(self, channel_id: int, threshold: int) -> None:
        pass

    def send(self, channel_id: int, data: str | bytes, now: float) -> None:
        self.sent.append(data)


async def test_echoes_go_at_once_when_they_can_and_never_overtake_queued_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoint = FakeEndpoint()
    transport = SimpleNamespace(datachannels=endpoint, closed=False)
    channels = SessionChannels(transport=transport, poke=lambda: None)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(channels.run_echo, "echo")
        await trio.testing.wait_all_tasks_blocked()
        channels.on_event(dc.ChannelOpened(dc.DataChannel(7, "echo"), by_peer=True))
        channels.echo(b"a")
        assert endpoint.sent == [b"a"]  # no task hop: sent before anything yields
        endpoint.buffered = DEFAULT_LOW_THRESHOLD + 1  # the channel is full
        channels.echo(b"b")
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint.sent == [b"a"]  # b waits for the channel to drain
        endpoint.buffered = 0
        channels.echo(b"c")  # room now, but b is still waiting: c must not overtake it
        assert endpoint.sent == [b"a"]
        channels.on_event(dc.ChannelBufferedAmountLow(7, 0))
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint.sent == [b"a", b"b", b"c"]
        channels.echo(b"d")
        assert endpoint.sent == [b"a", b"b", b"c", b"d"]
        nursery.cancel_scope.cancel()
