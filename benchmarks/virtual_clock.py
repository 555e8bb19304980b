"""An asyncio loop on a virtual clock, for protocol-only comparisons on a noisy machine.

The loop's `time()` stands still while callbacks run and jumps to the next timer when
nothing is ready, so CPU cost and scheduling hiccups vanish from every measurement: what
is left is the protocols' own behaviour (windows, acknowledgement policy, recovery) on
the simulated link. Real-time runs measure that plus CPU; both views are useful, and only
the virtual one is repeatable on a shared 2-core machine.

aiortc reads `time.time()` for RTT samples and message lifetimes; `aiortc_on_loop_clock`
points its module's `time` at the loop's clock for the duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import types
from collections.abc import Iterator

import aiortc.rtcsctptransport as aiortc_sctp


class VirtualClockDeadlock(RuntimeError):
    """The loop would wait for I/O with no timer pending: nothing can ever happen."""


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise VirtualClockDeadlock("no timer pending and no I/O possible")
        self.now += max(0.0, timeout)
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


@contextlib.contextmanager
def aiortc_on_loop_clock(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    saved = vars(aiortc_sctp)["time"]
    setattr(aiortc_sctp, "time", types.SimpleNamespace(time=loop.time))  # noqa: B010
    try:
        yield
    finally:
        setattr(aiortc_sctp, "time", saved)  # noqa: B010
