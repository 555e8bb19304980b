"""Secure mode: the control plane's POST /tokens and what it does to live clients."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from selkies_trio.app.control import MAX_BODY_BYTES
from selkies_trio.app.tokens import Permissions, TokenStore, parse_token_table, secrets_equal

from .server import running_server, ws_url
from .test_signalling import recv, selkies_hello, wait_closed, wait_for

MASTER = "master-secret-123"


async def post_tokens(running, body, *, token: str | None = MASTER) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    async with httpx.AsyncClient() as client:
        return await client.post(
            running.control_urls[0] + "/tokens", content=content, headers=headers, timeout=10
        )


def secure():
    return running_server(env={"SELKIES_MASTER_TOKEN": MASTER})


async def test_control_plane_success_and_401() -> None:
    async with secure() as (running, _peer):
        table = {"t1": {"role": "controller", "slot": None, "mk_control": False},
                 "t2": {"role": "viewer", "slot": 2}}
        ok = await post_tokens(running, table)
        assert ok.status_code == 200
        assert ok.json() == {"tokens": 2, "disconnected": 0, "updated": 0}
        for bad in (None, "wrong", "master-secret-12"):
            refused = await post_tokens(running, table, token=bad)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert running.hub.tokens is not None and len(running.hub.tokens) == 2


BAD_BODIES = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"t": {"role": "admin", "slot": None}}), "role"),
    (json.dumps({"t": {"role": "viewer", "slot": 5}}), "slot"),
    (json.dumps({"t": {"role": "viewer", "slot": "1"}}), "slot"),
    (json.dumps({"t": {"role": "viewer", "slot": True}}), "slot"),
    (json.dumps({"t": {"role": "viewer"}}), "slot is required"),
    (json.dumps({"t": {"role": "viewer", "slot": 1, "mk_control": "yes"}}), "mk_control"),
    (json.dumps({"t": {"role": "viewer", "slot": 1, "admin": True}}), "unknown fields"),
    (json.dumps({"t": "viewer"}), "must be an object"),
    (json.dumps({"": {"role": "viewer", "slot": 1}}), "characters"),
    (json.dumps({" padded": {"role": "viewer", "slot": 1}}), "whitespace"),
    ("[" * 50000, "body is not valid JSON: JSON is nested deeper than 32 levels"),
    ('{"t": ' * 40 + "1" + "}" * 40, "body is not valid JSON: JSON is nested deeper than 32 levels"),
    ('{"t": {"role": "viewer", "slot": NaN}}', "body is not valid JSON: NaN is not a JSON value"),
    (b"\xff\xfe\x00", "body is not valid JSON"),
]


@pytest.mark.parametrize("body,reason", BAD_BODIES, ids=range(len(BAD_BODIES)))
async def test_control_plane_rejects_bad_bodies_with_400(body: str, reason: str) -> None:
    async with secure() as (running, _peer):
        await post_tokens(running, {"keep": {"role": "viewer", "slot": None}})
        response = await post_tokens(running, body)
        assert response.status_code == 400
        assert reason in response.json()["error"]
        # A rejected table leaves the old one in force.
        assert running.hub.tokens.lookup("keep") == Permissions("viewer", None)


async def test_control_plane_refuses_bodies_over_the_cap_with_413() -> None:
    async with secure() as (running, _peer):
        await post_tokens(running, {"keep": {"role": "viewer", "slot": None}})
        padding = "x" * MAX_BODY_BYTES
        response = await post_tokens(running, json.dumps({"keep": {"role": "viewer", "slot": None,
                                                                    "pad": padding}}))
        assert response.status_code == 413
        # Without Content-Length (chunked) the cap holds too.

        async def chunks():
            yield b'{"keep": {"role": "viewer", "slot": null, "pad": "'
            for _ in range(MAX_BODY_BYTES // 65536 + 1):
                yield b"x" * 65536
            yield b'"}}'

        async with httpx.AsyncClient() as client:
            chunked = await client.post(
                running.control_urls[0] + "/tokens", content=chunks(), timeout=10,
                headers={"Authorization": f"Bearer {MASTER}"},
            )
        assert chunked.status_code == 413
        assert running.hub.tokens.lookup("keep") == Permissions("viewer", None)
        # The control plane still serves the next request.
        ok = await post_tokens(running, {"keep": {"role": "viewer", "slot": 2}})
        assert ok.status_code == 200


async def test_role_comes_from_token_and_bad_tokens_are_closed_4001() -> None:
    async with secure() as (running, peer):
        await post_tokens(running, {"viewer-token": {"role": "viewer", "slot": 3}})
        for query in ("", "?token=nope"):
            async with open_websocket_url(ws_url(running, query)) as ws:
                reason = await wait_closed(ws)
                assert reason.code == 4001
        async with open_websocket_url(ws_url(running, "?token=viewer-token")) as ws:
            # The client claims to be a controller; the token says viewer in slot 3.
            await selkies_hello(ws, client_type="controller", client_slot=1)
            await ws.send_message("SESSION server")
            assert (await recv(ws)).startswith("SESSION_OK")
            started = peer.started[-1]
            assert (started.client_type, started.client_slot) == ("viewer", 3)
            assert started.token == "viewer-token"


async def test_revocation_disconnects_and_change_pushes_update() -> None:
    async with secure() as (running, peer):
        await post_tokens(running, {
            "stay": {"role": "viewer", "slot": None},
            "go": {"role": "controller", "slot": None},
        })
        url_stay, url_go = ws_url(running, "?token=stay"), ws_url(running, "?token=go")
        async with open_websocket_url(url_stay) as stay, open_websocket_url(url_go) as go:
            for ws in (stay, go):
                await selkies_hello(ws)
                await ws.send_message("SESSION server")
                await recv(ws)
                await recv(ws)
            response = await post_tokens(running, {
                "stay": {"role": "controller", "slot": 2, "mk_control": True},
            })
            assert response.json() == {"tokens": 1, "disconnected": 1, "updated": 1}
            reason = await wait_closed(go)
            assert (reason.code, reason.reason) == (4002, "token revoked")
            update = await recv(stay)
            verb, _, body = update.partition(" ")
            assert verb == "ROLE_UPDATE"
            assert json.loads(body) == {"role": "controller", "slot": 2, "mk_control": True}
            stay_id = peer.started[0].client_id
            assert peer.permission_changes == [(stay_id, Permissions("controller", 2, True))]
            await wait_for(running.hub, lambda: len(peer.ended) == 1)
            # The unchanged table changes nothing for the survivor.
            again = await post_tokens(running, {
                "stay": {"role": "controller", "slot": 2, "mk_control": True},
            })
            assert again.json() == {"tokens": 1, "disconnected": 0, "updated": 0}
            await stay.send_message("ping-ignored")
            assert (await recv(stay)).startswith("ERROR")


def viewer(slot: int | None) -> dict:
    return {"role": "viewer", "slot": slot}


def token_socket(running, token: str):
    return open_websocket_url(ws_url(running, f"?token={token}"))


async def in_session(running, ws, token: str):
    """Take `ws` through HELLO and SESSION; return its hub connection."""
    await selkies_hello(ws)
    await ws.send_message("SESSION server")
    assert (await recv(ws)).startswith("SESSION_OK")
    await recv(ws)  # the offer
    (conn,) = [c for c in running.hub.clients.values() if c.token == token]
    return conn


async def role_update(ws) -> dict:
    verb, _, body = (await recv(ws)).partition(" ")
    assert verb == "ROLE_UPDATE"
    return json.loads(body)


async def test_permission_change_onto_a_held_gamepad_slot_closes_the_newcomer() -> None:
    async with secure() as (running, peer):
        await post_tokens(running, {"p2": viewer(2), "p3": viewer(3)})
        async with token_socket(running, "p2") as p2, token_socket(running, "p3") as p3:
            p2_conn = await in_session(running, p2, "p2")
            p3_conn = await in_session(running, p3, "p3")
            hub = running.hub
            assert hub.slot_holder(2) is p2_conn and hub.slot_holder(3) is p3_conn

            response = await post_tokens(running, {"p2": viewer(2), "p3": viewer(2)})
            assert response.json() == {"tokens": 2, "disconnected": 1, "updated": 0}
            reason = await wait_closed(p3)
            assert (reason.code, reason.reason) == (4000, "slot 2 is held by another client")
            assert hub.slot_holder(2) is p2_conn and hub.slot_holder(3) is None
            assert peer.permission_changes == []
            # The holder noticed nothing and goes on.
            await p2.send_message("ping-ignored")
            assert (await recv(p2)).startswith("ERROR")


async def test_permission_changes_can_swap_gamepad_slots() -> None:
    async with secure() as (running, peer):
        await post_tokens(running, {"p2": viewer(2), "p3": viewer(3)})
        async with token_socket(running, "p2") as p2, token_socket(running, "p3") as p3:
            p2_conn = await in_session(running, p2, "p2")
            p3_conn = await in_session(running, p3, "p3")
            response = await post_tokens(running, {"p2": viewer(3), "p3": viewer(2)})
            assert response.json() == {"tokens": 2, "disconnected": 0, "updated": 2}
            assert (await role_update(p2))["slot"] == 3
            assert (await role_update(p3))["slot"] == 2
            assert running.hub.slot_holder(2) is p3_conn
            assert running.hub.slot_holder(3) is p2_conn
            assert len(peer.permission_changes) == 2


async def test_two_clients_moved_onto_one_free_slot_the_earlier_keeps_it() -> None:
    async with secure() as (running, _peer):
        await post_tokens(running, {"p2": viewer(2), "p3": viewer(3), "p4": viewer(4)})
        async with (
            token_socket(running, "p2") as p2, token_socket(running, "p3") as p3,
            token_socket(running, "p4") as p4,
        ):
            p2_conn = await in_session(running, p2, "p2")
            await in_session(running, p3, "p3")
            p4_conn = await in_session(running, p4, "p4")
            response = await post_tokens(running, {
                "p2": viewer(4), "p3": viewer(4),
                # Becoming a controller gives slot 4 up in the same table.
                "p4": {"role": "controller", "slot": None},
            })
            assert response.json() == {"tokens": 3, "disconnected": 1, "updated": 2}
            reason = await wait_closed(p3)
            assert (reason.code, reason.reason) == (4000, "slot 4 is held by another client")
            assert (await role_update(p2))["slot"] == 4
            assert (await role_update(p4))["role"] == "controller"
            assert running.hub.slot_holder(4) is p2_conn
            assert running.hub.slot_holder(2) is None and running.hub.slot_holder(3) is None
            assert p4_conn.client_type == "controller"


def test_token_store_lookup_and_reconciliation() -> None:
    store = TokenStore()
    first = parse_token_table({"a": {"role": "viewer", "slot": 1}, "b": {"role": "controller", "slot": None}})
    outcome = store.replace(first, live=[])
    assert not outcome.revoked and not outcome.changed
    assert store.lookup("a") == Permissions("viewer", 1)
    assert store.lookup("A") is None and store.lookup("") is None
    second = parse_token_table({"a": {"role": "viewer", "slot": 2, "mk_control": True}})
    outcome = store.replace(second, live=["a", "b", "b"])
    assert outcome.revoked == {"b"}
    assert outcome.changed == {"a": Permissions("viewer", 2, True)}
    assert store.mk_control_holder() == "a"
    assert secrets_equal("x", "x") and not secrets_equal("x", "y")


async def test_control_plane_absent_without_master_token() -> None:
    async with running_server() as (running, _peer):
        assert running.control_urls == []
        assert running.hub.tokens is None
        with trio.fail_after(10):
            async with open_websocket_url(ws_url(running, "?token=whatever")) as ws:
                await selkies_hello(ws)
