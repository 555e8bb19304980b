"""Our server as a subprocess on loopback, for module-scoped fixtures and benchmarks.

The `server` fixture in conftest.py starts one server per test; tests that share
one server across a module (and the benchmarks) use `running_server()` instead.
Its log is readable while it runs, and `wait_for_log` blocks on a condition the
reader thread notifies per line (no polling).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from .conftest import ServerProcess, _server_env

START_TIMEOUT = 60.0


@dataclass
class LoggedServer(ServerProcess):
    new_line: threading.Condition = field(default_factory=threading.Condition)
    finished: bool = False

    def wait_for_log(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        """The first log line from index `start` on that matches `pattern`."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = start
        with self.new_line:
            while True:
                while seen < len(self.log):
                    match = compiled.search(self.log[seen])
                    seen += 1
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.finished:
                    raise AssertionError(
                        f"no log line matching {pattern!r} within {timeout} s:\n"
                        + "".join(self.log)
                    )
                self.new_line.wait(remaining)


def _read_lines(server: LoggedServer) -> None:
    assert server.process.stdout is not None
    for line in server.process.stdout:
        with server.new_line:
            server.log.append(line)
            server.new_line.notify_all()
    with server.new_line:
        server.finished = True
        server.new_line.notify_all()


@contextmanager
def running_server(*argv: str, python_options: Sequence[str] = (),
                   **env: str) -> Iterator[LoggedServer]:
    """`python -m selkies_trio serve` with the synthetic source; yields once it listens.

    `python_options` go before `-m selkies_trio` (e.g. `-m cProfile -o PATH`).
    """
    proc = subprocess.Popen(
        [sys.executable, *python_options, "-m", "selkies_trio", "serve", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_server_env(**env),
    )
    server = LoggedServer("", proc)
    reader = threading.Thread(target=_read_lines, args=(server,), daemon=True)
    reader.start()
    try:
        try:
            match = server.wait_for_log(r"listening on (http://\S+)", START_TIMEOUT)
        except AssertionError as error:
            raise RuntimeError(f"server did not start: {error}") from None
        server.url = match.group(1)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(5)
