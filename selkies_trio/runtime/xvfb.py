"""A private X display for `serve` when there is none: Xvfb and a small X application.

    run_private_display()  (started with nursery.start; reports the display name)
     ├─ Xvfb -displayfd ...   (exits when the task is cancelled)
     └─ the scratchpad        (`python -m selkies_trio.runtime.xvfb scratchpad :N`)

With no DISPLAY the server would otherwise stream a synthetic pattern. When Xvfb
is installed it starts one on a free display number instead (Xvfb picks the
number itself and writes it to `-displayfd` once it accepts connections, so there
is no polling and no race), and a scratchpad window, so that the first thing a
user sees is a desktop they can click and type into. Without Xvfb the task
reports None and the caller keeps the synthetic source.

The screen starts large (1920x1080) because Xvfb's RandR can shrink a screen to
the browser's viewport but never grow it beyond its start size.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import trio

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1920, 1080)
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def xvfb_command(write_fd: int, width: int, height: int, depth: int = 24) -> list[str]:
    return [
        "Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{depth}",
        "-nolisten", "tcp", "-noreset", "+extension", "RANDR",
    ]


def scratchpad_command(display: str) -> list[str]:
    return [sys.executable, "-m", "selkies_trio.runtime.xvfb", "scratchpad", display]


async def _read_display_number(read_fd: int) -> str:
    """Xvfb writes "<number>\\n" to -displayfd once it is ready."""
    received = b""
    async with trio.lowlevel.FdStream(read_fd) as stream:
        while not received.endswith(b"\n"):
            chunk = await stream.receive_some(64)
            if not chunk:
                break
            received += chunk
    return received.decode("ascii", "replace").strip()


async def _stop(process: trio.Process, name: str) -> None:
    """Terminate, then kill if it does not go within STOP_TIMEOUT."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(STOP_TIMEOUT):
                await process.wait()
        if process.returncode is None:
            log.warning("%s did not stop after SIGTERM; killing it", name)
            process.kill()
            await process.wait()


async def run_private_display(
    *,
    width: int = DEFAULT_SIZE[0],
    height: int = DEFAULT_SIZE[1],
    application: Sequence[str] | None = (),
    task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run Xvfb (and an X application) for as long as this task runs.

    Reports the display name (":N") through `task_status`, or None when Xvfb is
    not installed or does not start. `application` is the command of the X
    application to show; the default `()` is our scratchpad, None shows nothing.
    """
    if shutil.which("Xvfb") is None:
        log.info("no DISPLAY and no Xvfb installed: streaming the synthetic test pattern")
        task_status.started(None)
        return
    read_fd, write_fd = os.pipe()
    try:
        xvfb = await trio.lowlevel.open_process(
            xvfb_command(write_fd, width, height),
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as error:
        os.close(read_fd)
        log.warning("cannot start Xvfb (%s): streaming the synthetic test pattern", error)
        task_status.started(None)
        return
    finally:
        os.close(write_fd)
    app: trio.Process | None = None
    try:
        number = ""
        with trio.move_on_after(STARTUP_TIMEOUT):
            number = await _read_display_number(read_fd)
        if not number.isdigit():
            log.warning("Xvfb did not report a display (exit status %s): streaming the "
                        "synthetic test pattern", xvfb.returncode)
            task_status.started(None)
            return
        display = f":{number}"
        command = scratchpad_command(display) if application == () else application
        if command:
            environment = dict(os.environ, DISPLAY=display)
            app = await trio.lowlevel.open_process(
                list(command), env=environment, stdin=subprocess.DEVNULL,
            )
        shown = "the scratchpad" if application == () else " ".join(command or ()) or "nothing"
        log.info("no DISPLAY: started a private Xvfb on %s (%dx%d) showing %s",
                 display, width, height, shown)
        task_status.started(display)
        await xvfb.wait()
        log.error("the private Xvfb on %s exited with status %s", display, xvfb.returncode)
    finally:
        if app is not None:
            await _stop(app, "the X application")
        await _stop(xvfb, "Xvfb")


@asynccontextmanager
async def private_display(
    width: int = DEFAULT_SIZE[0], height: int = DEFAULT_SIZE[1],
    application: Sequence[str] | None = (),
) -> AsyncIterator[str | None]:
    """`async with private_display() as display:` — None when there is no Xvfb."""
    async with trio.open_nursery() as nursery:
        display = await nursery.start(
            partial(run_private_display, width=width, height=height, application=application)
        )
        try:
            yield display
        finally:
            nursery.cancel_scope.cancel()


# ---- the scratchpad: a window to click and type into -----------------------------------------


def run_scratchpad(display_name: str) -> None:
    """A full-screen window that echoes typed text and marks clicks (python-xlib)."""
    from Xlib import XK, X
    from Xlib.display import Display

    display = Display(display_name)
    screen = display.screen()
    root = screen.root
    root.change_attributes(event_mask=X.StructureNotifyMask)
    window = root.create_window(
        0, 0, screen.width_in_pixels, screen.height_in_pixels, 0, screen.root_depth,
        X.InputOutput, X.CopyFromParent, background_pixel=0x202630,
        event_mask=X.ExposureMask | X.KeyPressMask | X.ButtonPressMask | X.StructureNotifyMask,
    )
    window.set_wm_name("selkies-trio scratchpad")
    font = display.open_font("fixed")
    text_gc = window.create_gc(foreground=0xE8ECF2, background=0x202630,
                               **({"font": font} if font is not None else {}))
    mark_gc = window.create_gc(foreground=0x4FA3FF)
    lines: list[str] = [""]
    marks: list[tuple[int, int]] = []

    def redraw() -> None:
        window.clear_area()
        window.draw_text(text_gc, 20, 30, b"selkies-trio: private Xvfb display. Click and type.")
        for row, line in enumerate(lines[-40:]):
            encoded = line.encode("latin-1", "replace")
            window.draw_text(text_gc, 20, 60 + 16 * row, encoded)
        for x, y in marks[-200:]:
            window.fill_rectangle(mark_gc, x - 4, y - 4, 9, 9)

    window.map()
    window.set_input_focus(X.RevertToParent, X.CurrentTime)
    while True:
        event = display.next_event()
        if event.type == X.Expose and event.count == 0:
            redraw()
        elif event.type == X.ConfigureNotify and event.window == root:
            # RandR resized the screen: follow it.
            window.configure(width=event.width, height=event.height)
        elif event.type == X.ButtonPress:
            marks.append((event.event_x, event.event_y))
            window.set_input_focus(X.RevertToParent, X.CurrentTime)
            redraw()
        elif event.type == X.KeyPress:
            keysym = display.keycode_to_keysym(event.detail, 1 if event.state & X.ShiftMask else 0)
            if keysym == XK.XK_Return:
                lines.append("")
            elif keysym == XK.XK_BackSpace:
                lines[-1] = lines[-1][:-1]
            elif 0x20 <= keysym <= 0xFF:
                lines[-1] += chr(keysym)
            elif keysym >= 0x01000100:
                lines[-1] += chr(keysym - 0x01000000)
            redraw()
        display.flush()


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "scratchpad":
        from Xlib.error import ConnectionClosedError

        try:
            run_scratchpad(argv[1])
        except (KeyboardInterrupt, ConnectionClosedError):
            # Stopped, or the display went away first: both are normal ends.
            return 0
        return 0
    print("usage: python -m selkies_trio.runtime.xvfb scratchpad :N", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
