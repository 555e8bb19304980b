"""Interop with aiortc's SCTP (an implementation nobody here wrote), in memory.

aiortc's `RTCSctpTransport` sits on a stand-in DTLS transport whose `_send_data`
hands packets to our association and whose registered receiver gets ours back;
a seeded filter drops a share of the DATA-carrying packets in both directions.
Data channels on the aiortc side are pre-negotiated (RFC 8831 section 6.5), so
plain PPID 51/53 messages on the agreed stream ids reach them without DCEP.
Runs on a real asyncio loop because aiortc schedules with real timers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport

from vendor_sctp.association import Association, AssociationConfig
from vendor_sctp.chunks import DataChunk
from vendor_sctp.events import AssociationEstablished, Event, MessageReceived
from vendor_sctp.packet import decode_packet_untrusted

PPID_STRING = 51
PPID_BINARY = 53
ONE_WAY_DELAY = 0.005


def _carries_data(packet: bytes) -> bool:
    return any(isinstance(c, DataChunk) for c in decode_packet_untrusted(packet).chunks)


class _LossyDrop:
    """Drops DATA-carrying packets with a seeded probability (handshake always passes)."""

    def __init__(self, seed: int, loss: float) -> None:
        self._random = random.Random(seed)
        self.loss = loss
        self.dropped = 0

    def __call__(self, packet: bytes) -> bool:
        if self.loss and _carries_data(packet) and self._random.random() < self.loss:
            self.dropped += 1
            return True
        return False


class _FakeDtlsTransport:
    """What RTCSctpTransport needs from RTCDtlsTransport: state, role, send, receiver."""

    def __init__(self, role: str, deliver_to_ours: Callable[[bytes], None]) -> None:
        self.state = "connected"
        self._role = role
        self._deliver_to_ours = deliver_to_ours
        self.receiver: Any = None

    def _register_data_receiver(self, receiver: Any) -> None:
        self.receiver = receiver

    def _unregister_data_receiver(self, receiver: Any) -> None:
        self.receiver = None

    async def _send_data(self, data: bytes) -> None:
        self._deliver_to_ours(data)


class _Bridge:
    def __init__(self, *, loss: float, seed: int, we_connect: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.drop_to_ours = _LossyDrop(seed, loss)
        self.drop_to_aiortc = _LossyDrop(seed + 1, loss)
        self.dtls = _FakeDtlsTransport("server", self._from_aiortc)
        self.aiortc = RTCSctpTransport(self.dtls)  # type: ignore[arg-type]
        self.ours = Association(
            AssociationConfig(rto_initial=0.5, rto_min=0.1),
            secret=b"interop-secret",
            random=random.Random(seed).randbytes,
        )
        self.we_connect = we_connect
        self.events: list[Event] = []
        self._tasks: set[asyncio.Future[None]] = set()

    def _from_aiortc(self, packet: bytes) -> None:
        if not self.drop_to_ours(packet):
            self.loop.call_later(ONE_WAY_DELAY, self.inbox.put_nowait, packet)

    def _to_aiortc(self, packet: bytes) -> None:
        if self.drop_to_aiortc(packet):
            return

        def deliver() -> None:
            receiver = self.dtls.receiver
            if receiver is not None:
                task = asyncio.ensure_future(receiver._handle_data(packet))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        self.loop.call_later(ONE_WAY_DELAY, deliver)

    def flush(self) -> None:
        now = self.loop.time()
        for packet in self.ours.packets_to_send(now):
            self._to_aiortc(packet)
        while (event := self.ours.next_event()) is not None:
            self.events.append(event)

    async def start(self) -> None:
        if self.we_connect:
            self.ours.connect(self.loop.time())
            self.flush()
        await self.aiortc.start(RTCSctpCapabilities(maxMessageSize=262144), 5000)

    async def run_until(self, condition: Callable[[], bool], within: float) -> None:
        deadline = self.loop.time() + within
        while not condition():
            now = self.loop.time()
            assert now < deadline, "timed out waiting on the aiortc exchange"
            timer = self.ours.get_timer()
            if timer is not None and timer <= now:
                self.ours.handle_timer(now)
            self.flush()
            wait = 0.02 if timer is None else min(0.02, max(0.0, timer - now))
            try:
                packet = await asyncio.wait_for(self.inbox.get(), wait)
            except TimeoutError:
                continue
            self.ours.receive_packet(packet, self.loop.time())
            while not self.inbox.empty():
                self.ours.receive_packet(self.inbox.get_nowait(), self.loop.time())
            self.flush()

    def received(self, stream_id: int) -> list[MessageReceived]:
        return [e for e in self.events if isinstance(e, MessageReceived) and e.stream_id == stream_id]

    async def close(self) -> None:
        await self.aiortc.stop()
        for task in list(self._tasks):
            task.cancel()


async def _exchange(*, loss: float, seed: int, we_connect: bool) -> tuple[int, int]:
    bridge = _Bridge(loss=loss, seed=seed, we_connect=we_connect)
    ordered_channel = RTCDataChannel(
        bridge.aiortc, RTCDataChannelParameters(label="ordered", negotiated=True, id=1)
    )
    unordered_channel = RTCDataChannel(
        bridge.aiortc,
        RTCDataChannelParameters(label="unordered", negotiated=True, id=3, ordered=False),
    )
    got_ordered: list[bytes | str] = []
    got_unordered: list[bytes | str] = []
    ordered_channel.on("message", got_ordered.append)
    unordered_channel.on("message", got_unordered.append)
    try:
        await bridge.start()
        await bridge.run_until(
            lambda: any(isinstance(e, AssociationEstablished) for e in bridge.events)
            and ordered_channel.readyState == "open"
            and unordered_channel.readyState == "open",
            5.0,
        )
        count = 60
        expected_ordered = [f"ours-{i}-" + "o" * (i * 97 % 3000) for i in range(count)]
        expected_unordered = [bytes([i]) * (1 + i * 53 % 2500) for i in range(count)]
        now = bridge.loop.time()
        for text, blob in zip(expected_ordered, expected_unordered, strict=True):
            bridge.ours.send(1, PPID_STRING, text.encode(), now=now)
            bridge.ours.send(3, PPID_BINARY, blob, now=now, ordered=False)
        for i in range(count):
            ordered_channel.send(f"theirs-{i}-" + "t" * (i * 89 % 3000))
            unordered_channel.send(bytes([255 - i]) * (1 + i * 31 % 2500))
        bridge.flush()
        await bridge.run_until(
            lambda: len(got_ordered) == count
            and len(got_unordered) == count
            and len(bridge.received(1)) == count
            and len(bridge.received(3)) == count,
            20.0,
        )
        # aiortc -> ours
        theirs_ordered = [m.data.decode() for m in bridge.received(1)]
        assert theirs_ordered == [f"theirs-{i}-" + "t" * (i * 89 % 3000) for i in range(count)]
        assert all(m.ppid == PPID_STRING and m.ordered for m in bridge.received(1))
        theirs_unordered = sorted(m.data for m in bridge.received(3))
        assert theirs_unordered == sorted(bytes([255 - i]) * (1 + i * 31 % 2500) for i in range(count))
        assert all(m.ppid == PPID_BINARY and not m.ordered for m in bridge.received(3))
        # ours -> aiortc
        assert got_ordered == expected_ordered
        assert sorted(got_unordered, key=bytes) == sorted(expected_unordered)  # type: ignore[arg-type]
        return bridge.drop_to_ours.dropped, bridge.drop_to_aiortc.dropped
    finally:
        await bridge.close()


@pytest.mark.parametrize("we_connect", [False, True], ids=["aiortc-initiates", "both-initiate"])
def test_clean_link_both_directions(we_connect: bool) -> None:
    asyncio.run(_exchange(loss=0.0, seed=5, we_connect=we_connect))


def test_lossy_link_both_directions() -> None:
    dropped_to_ours, dropped_to_aiortc = asyncio.run(_exchange(loss=0.05, seed=11, we_connect=True))
    # The filter really dropped DATA in both directions, and everything still arrived.
    assert dropped_to_ours > 0 and dropped_to_aiortc > 0
