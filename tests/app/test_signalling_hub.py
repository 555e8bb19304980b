"""The signalling hub over in-memory transports, on a virtual clock.

Real sockets cannot make a client's queue overflow at an exact moment; these
fakes can: a "stuck" transport never finishes a send, so everything queued for
it stays queued until the hub drops the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
import trio.testing

from selkies_trio.app.connection import (
    CLOSE_BAD_TOKEN,
    CLOSE_POLICY,
    CLOSE_SEND_TIMEOUT,
    Connection,
)
from selkies_trio.app.server_peer import CannedOfferServerPeer, SessionStart
from selkies_trio.app.signalling import SignallingConfig, SignallingHub

DEADLINE = 30  # virtual seconds


class FakeTransport:
    def __init__(self, stuck: bool = False) -> None:
        self.stuck = stuck
        self._frames_in, self._frames_out = trio.open_memory_channel[str | bytes](100)
        self.sent: list[str] = []
        # Frames whose send began; a stuck transport never finishes the first one.
        self.attempted: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._changed = trio.Event()

    # The hub's side.
    async def receive(self) -> str | bytes:
        return await self._frames_out.receive()

    async def send(self, data: str) -> None:
        self.attempted.append(data)
        self._changed.set()
        if self.stuck:
            await trio.sleep_forever()
        self.sent.append(data)
        self._changed.set()

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self._changed.set()

    # The test's side.
    def deliver(self, frame: str | bytes) -> None:
        self._frames_in.send_nowait(frame)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        with trio.fail_after(DEADLINE):
            while not predicate():
                self._changed = trio.Event()
                await self._changed.wait()

    async def wait_sent(self, count: int) -> list[str]:
        await self.wait_for(lambda: len(self.sent) >= count)
        return self.sent[:count]


async def wait_hub(hub: SignallingHub, predicate: Callable[[], bool]) -> None:
    with trio.fail_after(DEADLINE):
        await hub.wait_until(predicate)


def connect(nursery: trio.Nursery, hub: SignallingHub, *, stuck: bool = False) -> FakeTransport:
    transport = FakeTransport(stuck)
    nursery.start_soon(hub.handle, transport, "test", None)
    return transport


async def hello(transport: FakeTransport, frame: str) -> None:
    """Send HELLO and wait until its reply is being written, so that what is queued
    after it is exactly what the test sends next (trio shuffles task order)."""
    transport.deliver(frame)
    await transport.wait_for(lambda: transport.attempted[:1] == ["HELLO"])


async def gst_member(
    nursery: trio.Nursery, hub: SignallingHub, uid: str, room: str, *, stuck: bool = False
) -> FakeTransport:
    transport = connect(nursery, hub, stuck=stuck)
    await hello(transport, f"HELLO {uid}")
    transport.deliver(f"ROOM {room}")
    await wait_hub(hub, lambda: uid in hub.rooms.get(room, set()))
    return transport


async def test_dropping_stuck_members_while_one_joins_keeps_the_room_consistent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Two members whose queues are full: telling them about a newcomer drops both,
    # each drop's ROOM_PEER_LEFT overflowing the other. The room must survive with
    # the newcomer in it, and the newcomer must hear about both departures.
    hub = SignallingHub(config=SignallingConfig(send_queue=2))
    async with trio.open_nursery() as nursery:
        # Each stuck sender holds its HELLO forever; two more frames fill its queue.
        await gst_member(nursery, hub, "a", "r", stuck=True)  # queue: ROOM_OK
        await gst_member(nursery, hub, "c", "r", stuck=True)  # a: +JOINED c = full
        hub.config.send_queue = 8
        b = await gst_member(nursery, hub, "b", "r")  # a and c overflow
        assert await b.wait_sent(4) == [
            "HELLO", "ROOM_OK a c", "ROOM_PEER_LEFT a", "ROOM_PEER_LEFT c",
        ]
        assert hub.rooms == {"r": {"b"}} and set(hub.gst_peers) == {"b"}

        b.deliver("ROOM_PEER_LIST")
        assert (await b.wait_sent(5))[-1] == "ROOM_PEER_LIST "
        d = await gst_member(nursery, hub, "d", "r")
        assert (await d.wait_sent(2))[-1] == "ROOM_OK b"
        assert (await b.wait_sent(6))[-1] == "ROOM_PEER_JOINED d"
        nursery.cancel_scope.cancel()


async def test_drops_during_a_departure_broadcast_do_not_break_the_broadcast(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # "x" leaves; telling "m" and "n" (both full) drops them, and m's own departure
    # overflows n, which the loop still telling everyone about x has yet to reach.
    hub = SignallingHub(config=SignallingConfig(send_queue=8))
    async with trio.open_nursery() as nursery:
        left = trio.CancelScope()
        x = FakeTransport()

        async def leaver() -> None:
            with left:
                await hub.handle(x, "test", None)

        nursery.start_soon(leaver)
        await hello(x, "HELLO x")
        x.deliver("ROOM r")
        await wait_hub(hub, lambda: "x" in hub.rooms.get("r", set()))
        hub.config.send_queue = 3
        await gst_member(nursery, hub, "m", "r", stuck=True)  # m: ROOM_OK x
        hub.config.send_queue = 2
        await gst_member(nursery, hub, "n", "r", stuck=True)  # n: ROOM_OK; m: +JOINED n
        hub.config.send_queue = 8
        z = await gst_member(nursery, hub, "z", "r")  # m and n: +JOINED z = full
        assert await z.wait_sent(2) == ["HELLO", "ROOM_OK m n x"]
        assert set(hub.gst_peers) == {"x", "m", "n", "z"}

        left.cancel()  # x's socket task ends, as when its client disconnects
        assert await z.wait_sent(5) == [
            "HELLO", "ROOM_OK m n x", "ROOM_PEER_LEFT x", "ROOM_PEER_LEFT m", "ROOM_PEER_LEFT n",
        ]
        assert hub.rooms == {"r": {"z"}} and set(hub.gst_peers) == {"z"}
        z.deliver("ROOM_PEER_LIST")
        assert (await z.wait_sent(6))[-1] == "ROOM_PEER_LIST "
        nursery.cancel_scope.cancel()


class RecordingPeer(CannedOfferServerPeer):
    def __init__(self) -> None:
        super().__init__("server-test")
        self.events: list[str] = []

    def on_session_start(self, session: SessionStart) -> None:
        self.events.append("start")
        super().on_session_start(session)

    def on_message(self, client_id: str, message: dict[str, Any]) -> None:
        self.events.append("message")

    def on_session_end(self, client_id: str, client_type: str) -> None:
        self.events.append("end")


async def test_server_peer_hears_start_before_end_when_session_ok_overflows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = RecordingPeer()
    hub = SignallingHub(peer, config=SignallingConfig(send_queue=1))
    async with trio.open_nursery() as nursery:
        ws = connect(nursery, hub, stuck=True)
        await hello(ws, 'HELLO client {"client_type": "controller", "client_slot": 1}')
        (conn,) = hub.clients.values()
        ws.deliver("nonsense")  # its ERROR fills the queue behind the stuck HELLO
        await wait_hub(hub, lambda: conn.queued_bytes > len("HELLO"))
        ws.deliver("SESSION server")  # SESSION_OK overflows: the client is dropped
        await wait_hub(hub, lambda: peer.events == ["start", "end"])
        assert hub.clients == {} and conn.close_code == CLOSE_POLICY
        await ws.wait_for(lambda: ws.closed is not None)
        assert ws.closed == (CLOSE_POLICY, "client is not reading its messages")
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------- byte bound


def test_queue_is_bounded_by_bytes_as_well_as_by_count() -> None:
    closed: list[Connection] = []
    conn = Connection(remote="test", queue_size=256, queue_bytes=1000, on_closing=closed.append)
    assert all(conn.send_nowait("x" * 300) for _ in range(3))
    assert conn.queued_bytes == 900
    assert not conn.send_nowait("x" * 300)
    assert closed == [conn] and conn.close_code == CLOSE_POLICY
    # Not characters but UTF-8 bytes: each "é" is two.
    other = Connection(remote="test", queue_size=256, queue_bytes=1000)
    assert other.send_nowait("é" * 500)
    assert other.queued_bytes == 1000
    assert not other.send_nowait("é")


async def test_sent_frames_release_their_bytes(autojump_clock: trio.testing.MockClock) -> None:
    conn = Connection(remote="test", queue_size=256, queue_bytes=1000)
    transport = FakeTransport()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run_sender, transport, nursery.cancel_scope)
        for n in range(20):  # 6000 bytes in all, never more than 1000 waiting
            assert conn.send_nowait(f"{n:03}" + "x" * 297)
            await transport.wait_sent(n + 1)
        await transport.wait_for(lambda: conn.queued_bytes == 0)
        assert not conn.closing
        conn.close_nowait(1000, "")
    assert transport.closed == (1000, "")


async def test_hub_drops_a_stuck_client_by_bytes_and_keeps_relaying_to_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = SignallingHub(config=SignallingConfig(send_queue=256, send_queue_bytes=64 * 1024))
    async with trio.open_nursery() as nursery:
        stuck = await gst_member(nursery, hub, "stuck", "r", stuck=True)
        reader = await gst_member(nursery, hub, "reader", "r")
        sender = await gst_member(nursery, hub, "sender", "r")
        blob = "x" * 10_000
        for n in range(10):  # 100 kB for "stuck": over its 64 KiB, under 256 frames
            sender.deliver(f"ROOM_PEER_MSG stuck {blob}")
            sender.deliver(f"ROOM_PEER_MSG reader {n}")
        await reader.wait_for(lambda: "ROOM_PEER_MSG sender 9" in reader.sent)
        relayed = [m for m in reader.sent if m.startswith("ROOM_PEER_MSG")]
        assert relayed == [f"ROOM_PEER_MSG sender {n}" for n in range(10)]
        assert "ROOM_PEER_LEFT stuck" in reader.sent
        assert "stuck" not in hub.gst_peers
        await stuck.wait_for(lambda: stuck.closed is not None)
        assert stuck.closed == (CLOSE_POLICY, "client is not reading its messages")
        nursery.cancel_scope.cancel()


async def close_and_measure(answer: bool) -> tuple[float, float]:
    """Close a connection while the client's frames keep arriving; returns when its
    close frame went out and when the socket handler ended (virtual seconds)."""
    transport = FakeTransport()
    conn = Connection(remote="test")
    async with trio.open_nursery() as handler:
        handler.start_soon(conn.run_sender, transport, handler.cancel_scope)
        conn.close_nowait(CLOSE_BAD_TOKEN, "missing or invalid token")
        await transport.wait_for(lambda: transport.closed is not None)
        closed_at = trio.current_time()
        # A browser sends HELLO as soon as the socket opens: it may arrive late.
        with trio.fail_after(DEADLINE):
            for _frame in range(150):  # more than the transport buffers: all must be read
                await transport._frames_in.send('HELLO client {"client_type": "controller"}')
        await trio.sleep(CLOSE_SEND_TIMEOUT / 2)
        if answer:
            transport._frames_in.close()  # the client's close frame ends its stream
    return closed_at, trio.current_time()


async def test_a_closing_connection_stays_open_until_the_client_answers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Returning from the handler closes TCP; the client's frames still on the way
    # then make the kernel send a RST, and a browser that sees it first reports
    # 1006 instead of our close code (a bad token was retried as a network drop).
    closed_at, ended_at = await close_and_measure(answer=True)
    assert ended_at - closed_at == CLOSE_SEND_TIMEOUT / 2
    # A client that never answers holds the socket for the close timeout only.
    closed_at, ended_at = await close_and_measure(answer=False)
    assert ended_at - closed_at == CLOSE_SEND_TIMEOUT
