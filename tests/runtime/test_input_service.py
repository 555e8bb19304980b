"""Data-channel input through the runtime's InputService reaches a real X server."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from selkies_trio.input.config import InputConfig
from selkies_trio.input.gamepad import GamepadRouter, InputEvent
from selkies_trio.input.permissions import ClientPermissions, Role
from selkies_trio.runtime.input_service import InputService
from selkies_trio.runtime.service import input_config
from selkies_trio.settings import load_settings
from tests.input.conftest import XRecorder

XK_SHIFT_L, XK_CONTROL_L = 0xFFE1, 0xFFE3


def keycode(recorder: XRecorder, keysym: int) -> int:
    return next(code for code, row in sorted(recorder.keymap.items()) if row and row[0] == keysym)


def key_down(recorder: XRecorder, code: int) -> bool:
    return bool(recorder.display.query_keymap()[code // 8] >> (code % 8) & 1)


async def pump_until(recorder: XRecorder, predicate: Callable[[], bool]) -> bool:
    return await trio.to_thread.run_sync(lambda: recorder.pump_until(predicate))


def ignore(frame: str) -> None:
    pass


async def test_messages_from_two_clients_reach_x_and_viewers_are_refused(
    xvfb_display: str,
) -> None:
    recorder = XRecorder(xvfb_display)
    service = InputService(xvfb_display)
    controller_frames: list[str] = []
    viewer_frames: list[str] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            assert service.available
            service.add_client(ClientPermissions.controller("ctl"), controller_frames.append)
            service.add_client(ClientPermissions.viewer("view"), viewer_frames.append)
            # The viewer's pointer move must be refused; the controller's must land.
            service.submit_nowait("view", "m,5,5,0,0")
            for message in ("m,321,123,0,0", "kd,104", "ku,104", "kd,233", "ku,233"):
                assert service.submit_nowait("ctl", message)
            await service.drain()
            landed = await pump_until(
                recorder,
                lambda: recorder.typed_text() == "hé" and recorder.query_pointer() == (321, 123),
            )
            assert landed, (recorder.typed_text(), recorder.query_pointer())
            assert (5, 5) not in recorder.motions
            assert service.statistics().handled == 6
            nursery.cancel_scope.cancel()
    finally:
        recorder.close()
    assert service.xinput is None  # closed on the way out


async def test_leaving_releases_what_that_client_held_and_nothing_else(
    xvfb_display: str,
) -> None:
    recorder = XRecorder(xvfb_display)
    service = InputService(xvfb_display)
    shift, a, control = (keycode(recorder, k) for k in (XK_SHIFT_L, ord("a"), XK_CONTROL_L))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            service.add_client(ClientPermissions.controller("one"), ignore)
            service.add_client(ClientPermissions.controller("two"), ignore)
            for message in (f"kd,{XK_SHIFT_L}", "kd,97", "m,100,100,1,0"):
                service.submit_nowait("one", message)
            for message in ("kd,97", f"kd,{XK_CONTROL_L}", "m,100,100,4,0"):
                service.submit_nowait("two", message)
            await service.drain()
            await service.sync_with_display()
            assert all(key_down(recorder, code) for code in (shift, a, control))
            assert recorder.root.query_pointer().mask & 0x500 == 0x500  # Button1 and Button3

            await service.remove_client("one")
            await service.sync_with_display()
            assert not key_down(recorder, shift)
            # Held by the other client too, or only by it: still down.
            assert key_down(recorder, a) and key_down(recorder, control)
            assert recorder.root.query_pointer().mask & 0x500 == 0x400

            await service.remove_client("two")
            await service.sync_with_display()
            assert not any(recorder.display.query_keymap())
            assert recorder.root.query_pointer().mask & 0x1F00 == 0
            nursery.cancel_scope.cancel()
    finally:
        recorder.close()


async def test_a_key_whose_heartbeat_stopped_is_released_on_an_idle_desktop(
    xvfb_display: str,
) -> None:
    recorder = XRecorder(xvfb_display)
    service = InputService(xvfb_display, InputConfig(held_key_timeout=0.2))
    x = keycode(recorder, ord("x"))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            service.add_client(ClientPermissions.controller("ctl"), ignore)
            service.submit_nowait("ctl", "kd,120")
            service.submit_nowait("ctl", "kh,120")
            await service.drain()
            await service.sync_with_display()
            assert key_down(recorder, x)
            # Nothing else happens on the desktop or the data channel from here on.
            # (Autorepeat sends the recorder release/press pairs while the key is
            # down, so ask the server whether it is up.)
            assert await pump_until(recorder, lambda: not key_down(recorder, x))
            nursery.cancel_scope.cancel()
    finally:
        recorder.close()


class RecordingPad:
    def __init__(self) -> None:
        self.closed = False

    def emit(self, events: list[InputEvent]) -> None:
        pass

    def close(self) -> None:
        self.closed = True


async def test_leaving_closes_the_clients_virtual_gamepads(xvfb_display: str) -> None:
    pads: dict[int, RecordingPad] = {}

    def factory(index: int, name: str) -> RecordingPad:
        pads[index] = RecordingPad()
        return pads[index]

    router = GamepadRouter(factory, unavailable_reason=lambda: None)
    service = InputService(xvfb_display, gamepads=router)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        service.add_client(ClientPermissions.viewer("p2", slot=2), ignore)
        service.add_client(ClientPermissions.viewer("p3", slot=3), ignore)
        service.submit_nowait("p2", "js,c,0,cGFk,4,17")
        service.submit_nowait("p3", "js,c,0,cGFk,4,17")
        await service.drain()
        assert router.connected == {1, 2}
        await service.remove_client("p2")
        assert pads[1].closed and not pads[2].closed
        assert router.connected == {2}
        nursery.cancel_scope.cancel()


class UnpluggedPad(RecordingPad):
    """A virtual gamepad whose device refuses writes (ENODEV, as a uinput device that
    is gone). uinput is not available in the test sandbox, so this fake stands in for
    `UinputGamepad`."""

    def emit(self, events: list[InputEvent]) -> None:
        raise OSError(errno.ENODEV, "No such device")


async def test_a_gamepad_write_failure_spares_the_display_and_the_others_input(
    xvfb_display: str,
) -> None:
    recorder = XRecorder(xvfb_display)
    router = GamepadRouter(lambda index, name: UnpluggedPad(), unavailable_reason=lambda: None)
    service = InputService(xvfb_display, gamepads=router)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            service.add_client(ClientPermissions.viewer("p2", slot=2), ignore)
            service.add_client(ClientPermissions.controller("ctl"), ignore)
            # One batch: the failing pad's events between the controller's keys.
            service.submit_nowait("ctl", "kd,113")
            service.submit_nowait("p2", "js,c,0,cGFk,4,17")
            service.submit_nowait("p2", "js,b,0,0,1")
            service.submit_nowait("ctl", "ku,113")
            await service.drain()
            assert service.stats.batches == 1
            assert await pump_until(recorder, lambda: recorder.typed_text() == "q")
            assert service.available
            assert service.stats.connection_losses == 0
            assert service.stats.dropped_disconnected == 0
            assert router.write_failures == 1 and router.connected == frozenset()
            nursery.cancel_scope.cancel()
    finally:
        recorder.close()


def test_the_input_layer_knows_whether_scaling_dpi_is_locked_and_what_it_offers() -> None:
    def dpi(*argv: str) -> tuple[int, bool, tuple[int, ...]]:
        config = input_config(load_settings(list(argv), {}))
        return config.scaling_dpi, config.scaling_dpi_locked, config.scaling_dpi_allowed

    # One value locks it (seeds/001): `s,` and SETTINGS leave Xft.dpi at 120.
    assert dpi("--scaling-dpi", "120") == (120, True, (120,))
    assert dpi("--scaling-dpi", "144,96") == (144, False, (144, 96))
    assert dpi() == (96, False, (96, 120, 144, 168, 192, 216, 240, 264, 288))


async def test_without_a_display_input_is_disabled_not_fatal() -> None:
    service = InputService(None)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        assert not service.available
        service.add_client(ClientPermissions.controller("c"), lambda frame: None)
        assert service.submit_nowait("c", "kd,97")
        nursery.cancel_scope.cancel()


async def test_desktop_clipboard_goes_only_to_clients_allowed_the_clipboard(
    xvfb_display: str,
) -> None:
    from tests.input.test_x11_clipboard import ClipboardPeer

    peer = ClipboardPeer(xvfb_display)
    service = InputService(xvfb_display)
    received: dict[str, list[str]] = {}
    clients = [
        ClientPermissions.controller("ctl"),
        ClientPermissions.viewer("shared"),  # #shared: strict viewer, no slot
        ClientPermissions.viewer("player2", slot=2),
        ClientPermissions("mk", Role.VIEWER, None, mk_control=True, mk_control_claimed=True),
    ]

    def clipboard_frames(client_id: str) -> list[str]:
        return [f for f in received[client_id] if json.loads(f)["type"].startswith("clipboard")]

    def serve_until_delivered() -> bool:
        deadline = time.monotonic() + 5.0
        while not clipboard_frames("ctl"):
            peer.drain()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([peer.display.fileno()], [], [], min(remaining, 0.2))
        return True

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            for permissions in clients:
                received[permissions.client_id] = []
                service.add_client(permissions, received[permissions.client_id].append)
            peer.own({"UTF8_STRING": b"from the desktop"})
            assert await trio.to_thread.run_sync(serve_until_delivered)
            (frame,) = clipboard_frames("ctl")
            assert base64.b64decode(json.loads(frame)["data"]["content"]) == b"from the desktop"
            # One broadcast reaches everyone it is for at once: the others got nothing.
            for client_id in ("shared", "player2", "mk"):
                assert clipboard_frames(client_id) == [], client_id
            nursery.cancel_scope.cancel()
    finally:
        peer.display.close()


def wait_for_fifo(path: str, timeout: float = 5.0) -> bytes:
    """Read what a child writes to the FIFO, waiting at most `timeout`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"nothing on {path}")
            data += os.read(fd, 100)
        return data
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_commands_do_not_outlive_the_service(xvfb_display: str, tmp_path: Path) -> None:
    fifo = str(tmp_path / "ready")
    os.mkfifo(fifo)
    service = InputService(xvfb_display, InputConfig(command_enabled=True), command_grace=0.3)
    # One child ends on SIGTERM; the other ignores it (and says so once it does),
    # so only the kill after the grace period ends it.
    stubborn = f"sh -c 'trap \"\" TERM; echo $$ > {fifo}; exec sleep 60'"
    pids: list[int] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            service.add_client(ClientPermissions.controller("ctl"), ignore)
            service.submit_nowait("ctl", "cmd,sleep 60")
            service.submit_nowait("ctl", f"cmd,{stubborn}")
            await service.drain()
            stubborn_pid = int(await trio.to_thread.run_sync(wait_for_fifo, fifo))
            pids = service.commands.pids
            assert stubborn_pid in pids and len(pids) == 2
            nursery.cancel_scope.cancel()
        assert not any(alive(pid) for pid in pids)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def start_xvfb(number: int) -> subprocess.Popen[bytes] | None:
    """Xvfb on display `number`, once it accepts connections; None if it would not start."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        if pipe.readline().strip() == str(number):
            return proc
    stop_xvfb(proc)
    return None


def start_xvfb_on_a_number_of_our_own() -> tuple[int, subprocess.Popen[bytes]]:
    # Far above the numbers -displayfd hands out, so that nobody else takes it
    # while our server is down.
    for number in range(700, 800):
        if not os.path.exists(f"/tmp/.X{number}-lock"):
            server = start_xvfb(number)
            if server is not None:
                return number, server
    raise AssertionError("no free display number in 700..799")


def stop_xvfb(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def test_losing_the_x_server_is_survived_and_the_display_is_reconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    number, first_server = start_xvfb_on_a_number_of_our_own()
    servers = [first_server]
    display = f":{number}"
    service = InputService(display, reconnect_initial=0.02, reconnect_max=0.1)
    recorder: XRecorder | None = None
    try:
        with caplog.at_level(logging.INFO, logger="selkies_trio.runtime.input_service"):
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                assert service.available
                service.add_client(ClientPermissions.controller("ctl"), ignore)

                stop_xvfb(servers[0])
                # Whichever notices first, the injector or the watcher: no exception.
                for _ in range(3):
                    service.submit_nowait("ctl", "m,10,10,0,0")
                with trio.fail_after(5):
                    await service.wait_available(False)
                    await service.drain()
                    # Retries that fail log nothing more.
                    await service.wait_connection_state(
                        lambda: service.stats.connect_failures >= 3
                    )
                assert service.stats.dropped_disconnected == 3
                assert service.stats.connection_losses == 1
                warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
                assert len(warnings) == 1, [r.getMessage() for r in warnings]
                assert "lost X display" in warnings[0].getMessage()

                server = start_xvfb(number)
                assert server is not None, f"display {display} was taken while ours was down"
                servers.append(server)
                with trio.fail_after(5):
                    await service.wait_available(True)
                recorder = XRecorder(display)
                service.submit_nowait("ctl", "kd,113")
                service.submit_nowait("ctl", "ku,113")
                await service.drain()
                assert await pump_until(recorder, lambda: recorder.typed_text() == "q")
                assert service.stats.connects == 2
                nursery.cancel_scope.cancel()
    finally:
        if recorder is not None:
            recorder.close()
        for server in servers:
            stop_xvfb(server)
