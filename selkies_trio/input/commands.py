"""`cmd,<command>`: run a client-supplied command line without a shell.

The line is split with shlex (POSIX rules) into an argv and started directly, so
shell metacharacters are plain arguments. Permission (command_enabled and the
controller role) is checked by the caller; every launch and refusal is logged.

Each child leads its own process group, so `stop` can end what it started too
(an `xterm`'s shell): SIGTERM to the group, SIGKILL once the grace period is up.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time

log = logging.getLogger(__name__)


class CommandRunner:
    def __init__(self, display_name: str | None = None) -> None:
        self._display_name = display_name
        self._children: list[subprocess.Popen[bytes]] = []

    def run(self, command: str, client_id: str) -> tuple[bool, str]:
        """Start the command; (True, command) or (False, error text)."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            log.warning("cmd from %s not parsed (%s): %r", client_id, exc, command)
            return False, f"cannot parse command: {exc}"
        if not argv:
            return False, "empty command"
        env = None
        if self._display_name is not None:
            env = dict(os.environ, DISPLAY=self._display_name)
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            log.warning("cmd from %s failed to start: %r: %s", client_id, argv, exc)
            return False, str(exc)
        log.info("cmd from %s started pid %d: %r", client_id, child.pid, argv)
        self._children.append(child)
        return True, command

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children if child.poll() is None]

    def reap(self) -> None:
        """Collect finished children so none stays a zombie."""
        self._children = [child for child in self._children if child.poll() is None]

    def stop(self, grace: float = 2.0) -> None:
        """Terminate every child still running; kill those left after `grace` seconds."""
        running = [child for child in self._children if child.poll() is None]
        self._children = []
        for child in running:
            log.info("cmd pid %d: terminating", child.pid)
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in running:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("cmd pid %d: still running %.1f s after SIGTERM, killing", child.pid,
                            grace)
                _signal_group(child, signal.SIGKILL)
                child.wait()


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    # Only called while the child is unreaped, so its pid (its group id, from
    # start_new_session) cannot belong to anybody else yet.
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        child.send_signal(signum)
