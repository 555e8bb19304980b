"""A session's data channels as the runtime sees them: by label, with backpressure.

`send_nowait` is for small control messages (settings, pings, cursors) that must
never block the caller; `send` waits while the channel's buffered amount is over
a threshold, like a browser's `bufferedAmountLowThreshold`, so a bulk sender
cannot queue unbounded memory for a slow peer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ..proto import datachannel as dc
from ..proto.peer import PeerTransport

log = logging.getLogger(__name__)

DEFAULT_LOW_THRESHOLD = 256 * 1024
# Messages and bytes waiting to be echoed; beyond either the echo channel drops (and
# counts), so a client flooding it costs the server at most ECHO_QUEUE_BYTES. The
# message bound is high because a browser may have a whole window (1 MiB) of tiny
# messages in flight, and a dropped echo on a reliable channel is never repaired.
ECHO_QUEUE = 65536
ECHO_QUEUE_BYTES = 4 * 1024 * 1024


class ChannelNotOpen(Exception):
    """No open channel has that label (yet, or any more)."""


class SessionChannels:
    def __init__(self, transport: PeerTransport, poke: Callable[[], None]) -> None:
        self._transport = transport
        self._poke = poke
        self._by_label: dict[str, int] = {}
        self._labels: dict[int, str] = {}
        self._opened: dict[str, trio.Event] = {}
        self._drained: dict[int, trio.Event] = {}
        self._echo_send, self._echo_receive = trio.open_memory_channel[str | bytes](ECHO_QUEUE)
        self._echo_queued_bytes = 0
        # Echoes queued or being sent by `run_echo`: a new one may not overtake them.
        self._echo_pending = 0
        self._echo_label: str | None = None
        self.echo_dropped = 0

    # ---- fed by the session's event handler ------------------------------------------

    def on_event(self, event: dc.DataChannelEvent) -> None:
        if isinstance(event, dc.ChannelOpened):
            channel = event.channel
            self._by_label[channel.label] = channel.id
            self._labels[channel.id] = channel.label
            self.opened(channel.label).set()
        elif isinstance(event, dc.ChannelClosed):
            label = self._labels.pop(event.channel_id, None)
            if label is not None and self._by_label.get(label) == event.channel_id:
                del self._by_label[label]
                self._opened.pop(label, None)
            self._wake(event.channel_id)
        elif isinstance(event, dc.ChannelBufferedAmountLow):
            self._wake(event.channel_id)
        elif isinstance(event, dc.TransportClosed):
            for channel_id in list(self._drained):
                self._wake(channel_id)

    def _wake(self, channel_id: int) -> None:
        waiter = self._drained.pop(channel_id, None)
        if waiter is not None:
            waiter.set()

    def label_of(self, channel_id: int) -> str:
        return self._labels.get(channel_id, "")

    def opened(self, label: str) -> trio.Event:
        """Set once a channel with this label is open."""
        return self._opened.setdefault(label, trio.Event())

    # ---- sending ---------------------------------------------------------------------

    def _endpoint_and_id(self, label: str) -> tuple[dc.DataChannelEndpoint, int]:
        endpoint = self._transport.datachannels
        channel_id = self._by_label.get(label)
        if endpoint is None or channel_id is None or self._transport.closed:
            raise ChannelNotOpen(label)
        return endpoint, channel_id

    def send_nowait(self, label: str, data: str | bytes) -> bool:
        """Queue a message; False if the channel is not open."""
        try:
            endpoint, channel_id = self._endpoint_and_id(label)
            endpoint.send(channel_id, data, trio.current_time())
        except (ChannelNotOpen, dc.DataChannelLocalProtocolError) as error:
            log.debug("not sent on %s: %s", label, error)
            return False
        self._poke()
        return True

    async def send(
        self, label: str, data: str | bytes, low_threshold: int = DEFAULT_LOW_THRESHOLD
    ) -> None:
        """Send, first waiting until the channel's buffered amount is at most the threshold."""
        endpoint, channel_id = self._endpoint_and_id(label)
        while endpoint.buffered_amount(channel_id) > low_threshold:
            waiter = self._drained.setdefault(channel_id, trio.Event())
            endpoint.set_buffered_amount_low_threshold(channel_id, low_threshold)
            await waiter.wait()
            endpoint, channel_id = self._endpoint_and_id(label)
        endpoint.send(channel_id, data, trio.current_time())
        self._poke()

    def buffered_amount(self, label: str) -> int:
        endpoint, channel_id = self._endpoint_and_id(label)
        return endpoint.buffered_amount(channel_id)

    # ---- the diagnostic echo channel ----------------------------------------------------

    def echo(self, data: str | bytes) -> None:
        """Send `data` back on the echo channel, in order, within its backpressure."""
        if self._echo_pending == 0 and self._echo_at_once(data):
            return
        size = len(data) if isinstance(data, bytes) else len(data.encode())
        if self._echo_queued_bytes + size > ECHO_QUEUE_BYTES:
            self.echo_dropped += 1
            return
        try:
            self._echo_send.send_nowait(data)
        except trio.WouldBlock:
            self.echo_dropped += 1
            return
        self._echo_queued_bytes += size
        self._echo_pending += 1

    def _echo_at_once(self, data: str | bytes) -> bool:
        # With nothing queued before it and room in the channel, the echo is sent here:
        # the hop through the queue and `run_echo` costs a scheduler pass per message,
        # most of what a small echo costs.
        if self._echo_label is None:
            return False
        try:
            endpoint, channel_id = self._endpoint_and_id(self._echo_label)
        except ChannelNotOpen:
            return False
        if endpoint.buffered_amount(channel_id) > DEFAULT_LOW_THRESHOLD:
            return False
        try:
            endpoint.send(channel_id, data, trio.current_time())
        except dc.DataChannelLocalProtocolError as error:
            log.debug("echo dropped: %s", error)
            return True
        self._poke()
        return True

    async def run_echo(self, label: str) -> None:
        """Send back what arrives on `label`, in order, respecting backpressure."""
        self._echo_label = label
        async for data in self._echo_receive:
            self._echo_queued_bytes -= len(data) if isinstance(data, bytes) else len(data.encode())
            try:
                await self.send(label, data)
            except (ChannelNotOpen, dc.DataChannelLocalProtocolError) as error:
                log.debug("echo dropped: %s", error)
            finally:
                self._echo_pending -= 1
