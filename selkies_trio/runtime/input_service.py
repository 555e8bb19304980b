"""Remote input on trio: data-channel messages into the X server, desktop events out.

    InputService.run()  nursery
     ├─ injector: batches of (client, message) → XInput in the worker thread
     └─ connection keeper: connect, and while connected
         ├─ watcher: X socket readable → XInput.poll_split() → cursor frames to every
         │  client, clipboard frames to those allowed the clipboard
         └─ sweeper: at XInput.next_deadline() → poll (held keys whose heartbeat
            stopped go up even when nothing else happens on the desktop)

python-xlib blocks, so every XInput call runs in one worker thread (a
CapacityLimiter of 1 keeps them in order). Messages are batched so a burst of
pointer motion costs one thread hop, not one per event. The queue in front of
the injector is bounded: when it is full, messages are dropped and counted.

The X server may go away (it crashed, the desktop restarted). Whichever task
notices first (any worker call failing) drops the connection: input is then
dropped and counted, one warning is logged, and the keeper reconnects with
exponential backoff; nothing of this reaches the caller's nursery. Gamepads and
`cmd` children do not depend on X and belong to the service, so they survive a
reconnect; they end when the service stops.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio
from Xlib.error import ConnectionClosedError, DisplayError

from ..input.commands import CommandRunner
from ..input.config import InputConfig
from ..input.gamepad import GamepadRouter
from ..input.permissions import ClientPermissions, may_use_clipboard
from ..input.x11_input import XInput

log = logging.getLogger(__name__)

QUEUE_SIZE = 1024
BATCH = 64

Send = Callable[[str], object]
T = TypeVar("T")
Polled = tuple[list[str], list[str]]  # (frames for everyone, clipboard frames)


@dataclass
class InputStatistics:
    handled: int = 0
    dropped: int = 0
    batches: int = 0
    broadcasts: int = 0
    # Messages from registered clients dropped because no X display was connected.
    dropped_disconnected: int = 0
    connects: int = 0
    connect_failures: int = 0
    connection_losses: int = 0


@dataclass
class _Client:
    permissions: ClientPermissions
    send: Send


@dataclass
class InputService:
    display: str | None
    config: InputConfig = field(default_factory=InputConfig)
    stats: InputStatistics = field(default_factory=InputStatistics)
    gamepads: GamepadRouter | None = None
    # How long `cmd` children get between SIGTERM and SIGKILL when the service stops.
    command_grace: float = 2.0
    # Reconnection backoff after the X display went away or could not be opened.
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0

    def __post_init__(self) -> None:
        self.commands = CommandRunner(self.display)
        self._gamepads = self.gamepads or GamepadRouter()
        self._clients: dict[str, _Client] = {}
        self._queue_send, self._queue_receive = trio.open_memory_channel[
            tuple[str, str | bytes]
        ](QUEUE_SIZE)
        self._limiter = trio.CapacityLimiter(1)
        self.xinput: XInput | None = None
        self._connection_scope: trio.CancelScope | None = None
        self._connection_changed = trio.Event()
        # Messages accepted into the queue, and those taken off it (handled or not).
        self._submitted = 0
        self._taken = 0
        self._progress = trio.Event()
        self._deadline: float | None = None  # time.monotonic() of the next sweep
        self._deadline_changed = trio.Event()

    @property
    def available(self) -> bool:
        return self.xinput is not None

    def statistics(self) -> InputStatistics:
        return self.stats

    async def wait_available(self, available: bool = True) -> None:
        """Return once the X display is connected (or, with False, not connected)."""
        await self.wait_connection_state(lambda: self.available == available)

    async def wait_connection_state(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` holds; it is checked whenever a connection is made,
        lost or fails to be made (the connection figures of `stats` change)."""
        while not predicate():
            await self._connection_changed.wait()

    def _connection_event(self) -> None:
        self._connection_changed.set()
        self._connection_changed = trio.Event()

    # ---- clients ---------------------------------------------------------------------

    def add_client(self, permissions: ClientPermissions, send: Send) -> list[str]:
        """Register a client; returns the frames it should get at once (current cursor)."""
        self._clients[permissions.client_id] = _Client(permissions, send)
        if self.xinput is not None and self.xinput.cursor.current_message:
            return [self.xinput.cursor.current_message]
        return []

    def update_client(self, permissions: ClientPermissions) -> None:
        client = self._clients.get(permissions.client_id)
        if client is not None:
            client.permissions = permissions

    async def remove_client(self, client_id: str) -> None:
        """Forget a client and release whatever it still holds (keys, buttons, gamepads).

        What other clients hold stays down. Messages of the client still queued are
        dropped: it is no longer registered when the injector gets to them.
        """
        if self._clients.pop(client_id, None) is None:
            return
        with trio.CancelScope(shield=True):
            xinput = self.xinput
            if xinput is not None:
                await self._call_then_poll(xinput, xinput.forget_client, client_id)
            # Without X (or if it just failed) the pads still go: they are not on X.
            await trio.to_thread.run_sync(self._gamepads.forget_client, client_id,
                                          limiter=self._limiter)

    def submit_nowait(self, client_id: str, message: str | bytes) -> bool:
        try:
            self._queue_send.send_nowait((client_id, message))
        except trio.WouldBlock:
            self.stats.dropped += 1
            return False
        self._submitted += 1
        return True

    async def drain(self) -> None:
        """Return once every message submitted before the call has been handled."""
        target = self._submitted
        while self._taken < target:
            await self._progress.wait()

    async def sync_with_display(self) -> None:
        """A round trip with the X server: it has processed everything we sent."""
        xinput = self.xinput
        if xinput is not None:
            await self._call_then_poll(xinput, xinput.display.sync)

    # ---- task tree -------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._inject)
                if self.display:
                    await nursery.start(self._stay_connected, self.display)
                else:
                    log.info("remote input disabled: no X display")
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                xinput, self.xinput = self.xinput, None
                if xinput is not None:
                    await trio.to_thread.run_sync(_close, xinput, limiter=self._limiter)
                await trio.to_thread.run_sync(self._gamepads.close, limiter=self._limiter)
                # Programs started with `cmd` do not outlive the server.
                await trio.to_thread.run_sync(self.commands.stop, self.command_grace)

    async def _stay_connected(self, display: str, *,
                              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                              ) -> None:
        """Connect; after a loss or a failed attempt, retry with backoff. Started after
        the first attempt, so `available` says at once whether that one worked."""
        backoff = self.reconnect_initial
        # One warning per outage: the first failed attempt or the loss says it.
        quiet = False
        first = True
        while True:
            try:
                xinput = await trio.to_thread.run_sync(self._open, display,
                                                       limiter=self._limiter)
            except Exception as error:
                self.stats.connect_failures += 1
                self._connection_event()
                if not quiet:
                    log.warning("remote input unavailable: cannot drive X display %s: %s "
                                "(retrying)", display, error)
                    quiet = True
                if first:
                    task_status.started()
                    first = False
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self.reconnect_max)
                continue
            if quiet:
                log.info("remote input: connected to X display %s again", display)
            backoff = self.reconnect_initial
            self.stats.connects += 1
            self._set_xinput(xinput)
            if first:
                task_status.started()
                first = False
            await self._serve_connection(xinput)
            quiet = True  # the loss has logged its warning

    def _open(self, display: str) -> XInput:
        xinput = XInput(display, self.config, gamepads=self._gamepads, commands=self.commands)
        try:
            # SELKIES_SCALING_DPI and a manual resolution apply from the start, before
            # any client scales or resizes.
            xinput.apply_initial_dpi()
            xinput.apply_manual_resolution()
        except Exception:
            _close(xinput)
            raise
        return xinput

    async def _serve_connection(self, xinput: XInput) -> None:
        """Watch and sweep until the connection is lost, then close it."""
        # Our own descriptor of the socket: python-xlib closes its own when the
        # server goes away, possibly while the watcher waits on it, and trio must
        # never wait on a descriptor that is closed (or reused) under it.
        fd = os.dup(xinput.fileno())
        try:
            async with trio.open_nursery() as nursery:
                self._connection_scope = nursery.cancel_scope
                if self.xinput is not xinput:  # lost before we got here
                    nursery.cancel_scope.cancel()
                nursery.start_soon(self._watch, xinput, fd)
                nursery.start_soon(self._sweep, xinput)
        finally:
            self._connection_scope = None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)
            if self.xinput is xinput:
                self._set_xinput(None)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_close, xinput, limiter=self._limiter)

    def _set_xinput(self, xinput: XInput | None) -> None:
        self.xinput = xinput
        self._deadline = None
        self._connection_event()

    def _lost(self, xinput: XInput, error: Exception) -> None:
        """A worker call on `xinput` failed: drop the connection (once) and reconnect."""
        if self.xinput is not xinput:
            return
        self.stats.connection_losses += 1
        if isinstance(error, ConnectionClosedError | DisplayError | OSError):
            log.warning("remote input: lost X display %s (%s); input is dropped until it "
                        "is back", self.display, error)
        else:
            log.error("remote input: the X layer failed; reconnecting", exc_info=error)
        self._set_xinput(None)
        if self._connection_scope is not None:
            self._connection_scope.cancel()

    async def _in_worker(self, xinput: XInput, call: Callable[..., T], *args: object) -> T | None:
        """`call(*args)` in the worker thread; None (connection dropped) if it failed."""
        try:
            return await trio.to_thread.run_sync(call, *args, limiter=self._limiter)
        except Exception as error:
            self._lost(xinput, error)
            return None

    async def _inject(self) -> None:
        async for first in self._queue_receive:
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await self._inject_batch(batch)
            finally:
                self._taken += len(batch)
                self._progress.set()
                self._progress = trio.Event()

    async def _inject_batch(self, batch: list[tuple[str, str | bytes]]) -> None:
        work = [
            (self._clients[client_id].permissions, message)
            for client_id, message in batch
            if client_id in self._clients
        ]
        if not work:
            return
        xinput = self.xinput
        if xinput is None:
            self.stats.dropped_disconnected += len(work)
            return
        result = await self._in_worker(xinput, _handle_batch, xinput, work)
        if result is None:
            self.stats.dropped_disconnected += len(work)
            return
        replies, polled, deadline = result
        self._set_deadline(deadline)
        self.stats.batches += 1
        self.stats.handled += len(work)
        for client_id, frames in replies:
            client = self._clients.get(client_id)
            if client is not None:
                for frame in frames:
                    client.send(frame)
        self._broadcast(polled)

    async def _watch(self, xinput: XInput, fd: int) -> None:
        while True:
            await trio.lowlevel.wait_readable(fd)
            await self._poll(xinput)

    async def _poll(self, xinput: XInput) -> None:
        await self._call_then_poll(xinput, lambda: None)

    async def _call_then_poll(self, xinput: XInput, call: Callable[..., object],
                              *args: object) -> None:
        """`call` in the worker thread, then poll: any request may have left events
        in python-xlib's queue that the watcher would not be woken for."""
        def work() -> tuple[Polled, float | None]:
            call(*args)
            return _poll_in_worker(xinput)

        result = await self._in_worker(xinput, work)
        if result is not None:
            polled, deadline = result
            self._set_deadline(deadline)
            self._broadcast(polled)

    def _set_deadline(self, deadline: float | None) -> None:
        if deadline != self._deadline:
            self._deadline = deadline
            self._deadline_changed.set()

    async def _sweep(self, xinput: XInput) -> None:
        """Poll at the XInput's own deadline, however idle the desktop is."""
        while True:
            self._deadline_changed = trio.Event()
            deadline = math.inf if self._deadline is None else self._deadline
            # The deadline is on time.monotonic(), trio's clock may differ.
            with trio.move_on_after(max(0.0, deadline - time.monotonic())):
                await self._deadline_changed.wait()
                continue
            await self._poll(xinput)

    def _broadcast(self, polled: Polled) -> None:
        everyone, clipboard = polled
        if not everyone and not clipboard:
            return
        self.stats.broadcasts += len(everyone) + len(clipboard)
        for client in list(self._clients.values()):
            frames = everyone + clipboard if may_use_clipboard(client.permissions) else everyone
            for frame in frames:
                client.send(frame)


def _close(xinput: XInput) -> None:
    try:
        xinput.close()
    except Exception as error:
        # A connection that is already gone cannot be closed cleanly; that is fine.
        log.debug("closing the X connection: %s", error)


def _poll_in_worker(xinput: XInput) -> tuple[Polled, float | None]:
    return xinput.poll_split(), xinput.next_deadline()


def _handle_batch(
    xinput: XInput, work: list[tuple[ClientPermissions, str | bytes]]
) -> tuple[list[tuple[str, list[str]]], Polled, float | None]:
    """In the worker thread: apply a batch, then collect what the desktop said back."""
    replies: list[tuple[str, list[str]]] = []
    for permissions, message in work:
        frames = xinput.handle_message(message, permissions)
        if frames:
            replies.append((permissions.client_id, frames))
    polled, deadline = _poll_in_worker(xinput)
    return replies, polled, deadline
