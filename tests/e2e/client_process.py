"""Run `tests/e2e/aiortc_client.py` as a subprocess and wait on the JSON lines it prints."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
Event = dict[str, Any]


class ClientProcess:
    def __init__(self, url: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.aiortc_client", url, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, env=env,
        )
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._inbox: queue.Queue[Event | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._read_events, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_events(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "stdout", "line": line}
            self._inbox.put(event)
        self._inbox.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr.extend(self.process.stderr)

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event:
        """The next event (from those not consumed yet) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self._inbox.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(self._explain(f"no matching event within {timeout} s")) from None
            if event is None:
                raise AssertionError(self._explain("the client exited"))
            self.events.append(event)
            if event.get("event") == "error":
                raise AssertionError(self._explain(f"client error: {event['message']}"))
            if predicate(event):
                return event

    def wait_for_event(self, name: str, timeout: float) -> Event:
        return self.wait_for(lambda event: event.get("event") == name, timeout)

    def frames_at_least(self, count: int, timeout: float) -> Event:
        return self.wait_for(
            lambda event: event.get("event") == "frames" and event["count"] >= count, timeout
        )

    def _explain(self, what: str) -> str:
        return (f"{what}\nclient events: {self.events[-20:]}\nclient stderr:\n"
                + "".join(self.stderr[-40:]))

    def finish(self, timeout: float = 20) -> int:
        """Close stdin (ends `--stream`) and wait for the exit code."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextmanager
def aiortc_client(url: str, *args: str) -> Iterator[ClientProcess]:
    client = ClientProcess(url, *args)
    try:
        yield client
    finally:
        if client.process.poll() is None:
            client.finish(10)
        for thread in client._threads:
            thread.join(5)
