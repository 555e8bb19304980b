"""Secure mode in the browser: `?token=` reaches the server, a `#shared` viewer with
a token sees video, and revoking its token disconnects it for good."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.app.server import free_port

from .conftest import ServerProcess
from .test_client_desktop import WAIT_FRAMES, artifact, start_server, stop_server, wait_client

MASTER = "master-token-for-e2e"


@pytest.fixture(scope="module")
def secure_server() -> Iterator[tuple[ServerProcess, str]]:
    control_port = free_port()
    server, reader = start_server(
        SELKIES_MASTER_TOKEN=MASTER, SELKIES_CONTROL_PORT=str(control_port)
    )
    try:
        yield server, f"http://127.0.0.1:{control_port}"
    finally:
        stop_server(server, reader)


def post_tokens(control: str, table: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(control + "/tokens", json=table, timeout=10,
                          headers={"Authorization": f"Bearer {MASTER}"})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def test_revoking_a_shared_viewers_token_disconnects_it(secure_server, browser) -> None:
    server, control = secure_server
    post_tokens(control, {
        "ctl-token": {"role": "controller", "slot": None},
        "view-token": {"role": "viewer", "slot": None},
    })
    page = browser.new_page()
    page.goto(server.url + "/?token=view-token#shared")
    wait_client(page, "client.connectionState === 'connected' && client.remoteSize")
    page.evaluate(WAIT_FRAMES, 5)
    assert page.locator("#role").text_content() == "viewer (view only)"

    result = post_tokens(control, {"ctl-token": {"role": "controller", "slot": None}})
    assert result["disconnected"] == 1
    status = wait_client(page, "client.connectionState === 'closed' && client.status")
    assert status == "disconnected: the access token was revoked"
    assert page.evaluate("() => window.selkiesClient.pc.connectionState") == "closed"
    assert page.locator("#status").is_visible()
    artifact(page, "token_revoked")
    page.close()


def test_a_controller_token_never_leaks_into_sharing_links(secure_server, browser) -> None:
    server, control = secure_server
    post_tokens(control, {"ctl-token": {"role": "controller", "slot": None}})
    page = browser.new_page()
    page.goto(server.url + "/?token=ctl-token")
    wait_client(page, "client.serverSettings && client.connectionState === 'connected'")
    links = page.evaluate("() => [...document.querySelectorAll('#sharing-links a')].map(a => a.href)")
    assert len(links) == 4
    assert not any("ctl-token" in link or "token=" in link for link in links)
    page.close()


def test_a_bad_token_is_final_and_says_why(secure_server, browser) -> None:
    server, _control = secure_server
    page = browser.new_page()
    page.goto(server.url + "/?token=nobody")
    try:
        status = wait_client(page, "client.connectionState === 'closed' && client.status")
    except Exception as error:
        # Seen under heavy load: every attempt ended with 1006 instead of 4001.
        raise AssertionError("no 4001 close seen; server log:\n" + "".join(server.log[-40:])) from error
    assert status == "disconnected: the access token is missing or invalid"
    assert page.locator("#status").text_content() == status
    page.close()


def test_a_token_change_moves_mouse_and_keyboard_and_the_role_live(secure_server, browser) -> None:
    server, control = secure_server
    post_tokens(control, {
        "ctl-token": {"role": "controller", "slot": None},
        "view-token": {"role": "viewer", "slot": None},
    })
    controller = browser.new_page()
    viewer = browser.new_page()
    try:
        controller.goto(server.url + "/?token=ctl-token")
        viewer.goto(server.url + "/?token=view-token#shared")
        for page in (controller, viewer):
            wait_client(page, "client.connectionState === 'connected'"
                              " && client.channels.get('input')?.readyState === 'open'")
        wait_client(controller, "client.mkAccess === true")
        assert viewer.evaluate("() => window.selkiesClient.mkAccess") is False

        # The viewer is given exclusive mouse and keyboard: it gains them, the controller
        # loses them, each told by the server on the same connection.
        post_tokens(control, {
            "ctl-token": {"role": "controller", "slot": None},
            "view-token": {"role": "viewer", "slot": None, "mk_control": True},
        })
        wait_client(viewer, "client.mkAccess === true && client.input.enabled")
        wait_client(controller, "client.mkAccess === false && !client.input.enabled")

        # Promoted to controller (without mk_control): the page becomes a controller's,
        # and the controller has its mouse and keyboard back.
        post_tokens(control, {
            "ctl-token": {"role": "controller", "slot": None},
            "view-token": {"role": "controller", "slot": 1},
        })
        wait_client(viewer, "client.role.client_type === 'controller'")
        assert viewer.locator("#role").text_content() == "controller"
        assert viewer.locator("#section-video").is_visible()
        wait_client(controller, "client.mkAccess === true")
        for page in (controller, viewer):
            assert page.evaluate("() => window.selkiesClient.attempts") == 0
        artifact(viewer, "token_promoted")
    finally:
        controller.close()
        viewer.close()
