"""Data-channel input through the runtime's InputService reaches a real X server."""

from __future__ import annotations

import trio

from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.runtime.input_service import InputService
from tests.input.conftest import XRecorder


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
            landed = await trio.to_thread.run_sync(
                lambda: recorder.pump_until(
                    lambda: recorder.typed_text() == "hé"
                    and recorder.query_pointer() == (321, 123)
                )
            )
            assert landed, (recorder.typed_text(), recorder.query_pointer())
            assert (5, 5) not in recorder.motions
            assert service.statistics().handled == 6
            # Leaving releases what the client still held.
            service.submit_nowait("ctl", "kd,65505")
            await service.remove_client("ctl")
            nursery.cancel_scope.cancel()
    finally:
        recorder.close()
    assert service.xinput is None  # closed on the way out


async def test_without_a_display_input_is_disabled_not_fatal() -> None:
    service = InputService(None)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        assert not service.available
        service.add_client(ClientPermissions.controller("c"), lambda frame: None)
        assert service.submit_nowait("c", "kd,97")
        nursery.cancel_scope.cancel()
