"""Remote input on trio: data-channel messages into the X server, desktop events out.

    InputService.run()  nursery
     ├─ injector: batches of (client, message) → XInput in the worker thread
     ├─ watcher: X socket readable → XInput.poll_split() → cursor frames to every
     │  client, clipboard frames to those allowed the clipboard
     └─ sweeper: at XInput.next_deadline() → XInput.poll() (held keys whose
        heartbeat stopped go up even when nothing else happens on the desktop)

python-xlib blocks, so every XInput call runs in one worker thread (a
CapacityLimiter of 1 keeps them in order). Messages are batched so a burst of
pointer motion costs one thread hop, not one per event. The queue in front of
the injector is bounded: when it is full, messages are dropped and counted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from ..input.commands import CommandRunner
from ..input.config import InputConfig
from ..input.gamepad import GamepadRouter
from ..input.permissions import ClientPermissions, may_use_clipboard
from ..input.x11_input import XInput

log = logging.getLogger(__name__)

QUEUE_SIZE = 1024
BATCH = 64

Send = Callable[[str], object]


@dataclass
class InputStatistics:
    handled: int = 0
    dropped: int = 0
    batches: int = 0
    broadcasts: int = 0


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

    def __post_init__(self) -> None:
        self.commands = CommandRunner(self.display)
        self._clients: dict[str, _Client] = {}
        self._queue_send, self._queue_receive = trio.open_memory_channel[
            tuple[str, str | bytes]
        ](QUEUE_SIZE)
        self._limiter = trio.CapacityLimiter(1)
        self.xinput: XInput | None = None
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
        if self._clients.pop(client_id, None) is None or self.xinput is None:
            return
        xinput = self.xinput
        with trio.CancelScope(shield=True):
            await self._call_then_poll(xinput, xinput.forget_client, client_id)

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
        if self.display:
            try:
                self.xinput = await trio.to_thread.run_sync(
                    lambda: XInput(self.display, self.config, gamepads=self.gamepads,
                                   commands=self.commands),
                    limiter=self._limiter,
                )
                # SELKIES_SCALING_DPI applies from the start, before any client scales.
                await trio.to_thread.run_sync(self.xinput.apply_initial_dpi,
                                              limiter=self._limiter)
            except Exception as error:
                log.warning("remote input disabled: cannot drive X display %s: %s",
                            self.display, error)
        else:
            log.info("remote input disabled: no X display")
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._inject)
                if self.xinput is not None:
                    nursery.start_soon(self._watch)
                    nursery.start_soon(self._sweep)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                if self.xinput is not None:
                    xinput, self.xinput = self.xinput, None
                    await trio.to_thread.run_sync(xinput.close, limiter=self._limiter)
                # Programs started with `cmd` do not outlive the server.
                await trio.to_thread.run_sync(self.commands.stop, self.command_grace)

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
        if self.xinput is None or not work:
            return
        replies, broadcast, deadline = await trio.to_thread.run_sync(
            _handle_batch, self.xinput, work, limiter=self._limiter
        )
        self._set_deadline(deadline)
        self.stats.batches += 1
        self.stats.handled += len(work)
        for client_id, frames in replies:
            client = self._clients.get(client_id)
            if client is not None:
                for frame in frames:
                    client.send(frame)
        self._broadcast(broadcast)

    async def _watch(self) -> None:
        assert self.xinput is not None
        xinput = self.xinput
        fd = xinput.fileno()
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
            return _poll(xinput)

        frames, deadline = await trio.to_thread.run_sync(work, limiter=self._limiter)
        self._set_deadline(deadline)
        self._broadcast(frames)

    def _set_deadline(self, deadline: float | None) -> None:
        if deadline != self._deadline:
            self._deadline = deadline
            self._deadline_changed.set()

    async def _sweep(self) -> None:
        """Poll at the XInput's own deadline, however idle the desktop is."""
        assert self.xinput is not None
        xinput = self.xinput
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


Polled = tuple[list[str], list[str]]  # (for everyone, clipboard)


def _poll(xinput: XInput) -> tuple[Polled, float | None]:
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
    polled, deadline = _poll(xinput)
    return replies, polled, deadline
