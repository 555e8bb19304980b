"""runtime/channels.py: the diagnostic echo queue is bounded in bytes, not only in messages."""

from __future__ import annotations

from selkies_trio.runtime.channels import ECHO_QUEUE_BYTES, SessionChannels


async def test_a_flood_on_the_echo_channel_is_dropped_beyond_the_byte_bound() -> None:
    channels = SessionChannels(transport=None, poke=lambda: None)  # type: ignore[arg-type]
    big = b"x" * (ECHO_QUEUE_BYTES // 4)
    for _ in range(4):
        channels.echo(big)
    assert channels.echo_dropped == 0
    channels.echo(b"y")
    channels.echo("ж" * 10)  # text counts in UTF-8 bytes
    assert channels.echo_dropped == 2
