"""The session manager runs one task tree per session and contains failures."""

from __future__ import annotations

from typing import Any

import trio

from selkies_trio.app.server_peer import SessionStart
from selkies_trio.runtime.sessions import SessionContext, SessionManager


class FakeSignalling:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.ended: list[tuple[str, str]] = []
        self.changed = trio.Event()

    def send(self, peer_id: str, message: dict[str, Any]) -> bool:
        self.sent.append((peer_id, message))
        self._poke()
        return True

    def end_session(self, peer_id: str, reason: str) -> None:
        self.ended.append((peer_id, reason))
        self._poke()

    def _poke(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait(self, predicate) -> None:
        with trio.fail_after(5):
            while not predicate():
                await self.changed.wait()


def start(client_id: str) -> SessionStart:
    return SessionStart(client_id, "controller", 1, "primary", "right", None, None)


async def runner(context: SessionContext) -> None:
    context.send_signal({"sdp": {"type": "offer", "sdp": context.client_id}})
    async for message in context.messages:
        if message.get("boom"):
            raise RuntimeError("peer failed")
        context.send_signal({"echo": message})


async def test_sessions_run_apart_and_failures_stay_local() -> None:
    signalling = FakeSignalling()
    manager = SessionManager("server-x", runner)
    manager.attach(signalling)
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        manager.on_session_start(start("a"))
        manager.on_session_start(start("b"))
        await signalling.wait(lambda: len(signalling.sent) == 2)
        manager.on_message("a", {"boom": True})
        await signalling.wait(lambda: signalling.ended == [("a", "session failed: RuntimeError")])
        manager.on_message("b", {"ice": 1})
        await signalling.wait(lambda: ("b", {"echo": {"ice": 1}}) in signalling.sent)
        assert manager.session_ids == ["b"]
        # The client leaving cancels its task tree without an end notice back.
        manager.on_session_end("b", "controller")
        assert manager.session_ids == []
        manager.on_message("b", {"ice": 2})
        nursery.cancel_scope.cancel()
    assert signalling.ended == [("a", "session failed: RuntimeError")]
