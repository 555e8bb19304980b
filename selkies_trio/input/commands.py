"""`cmd,<command>`: run a client-supplied command line without a shell.

The line is split with shlex (POSIX rules) into an argv and started directly, so
shell metacharacters are plain arguments. Permission (command_enabled and the
controller role) is checked by the caller; every launch and refusal is logged.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess

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

    def reap(self) -> None:
        """Collect finished children so none stays a zombie."""
        self._children = [child for child in self._children if child.poll() is None]
