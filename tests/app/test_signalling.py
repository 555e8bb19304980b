"""Signalling over real WebSockets on loopback, both dialects, against the real server."""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, TextMessage

from selkies_trio.app.server_peer import CANNED_OFFER_SDP

from .rawws import EOF, RawWebSocket
from .server import running_server, ws_url

DEADLINE = 10


async def recv(ws, deadline: float = DEADLINE) -> str:
    with trio.fail_after(deadline):
        return await ws.get_message()


async def wait_closed(ws, deadline: float = DEADLINE):
    """Read until the server closes; return the close reason."""
    with trio.fail_after(deadline):
        while True:
            try:
                await ws.get_message()
            except ConnectionClosed as closed:
                return closed.reason


async def selkies_hello(ws, **meta) -> None:
    meta.setdefault("client_type", "controller")
    meta.setdefault("client_slot", 1)
    await ws.send_message("HELLO client " + json.dumps(meta))
    assert await recv(ws) == "HELLO"


async def wait_for(hub, predicate) -> None:
    with trio.fail_after(DEADLINE):
        await hub.wait_until(predicate)


# ---------------------------------------------------------------- Selkies dialect


async def test_selkies_sessions_for_several_clients_relay_both_ways() -> None:
    async with running_server() as (running, peer):
        url = ws_url(running)
        async with open_websocket_url(url) as controller, open_websocket_url(url) as viewer:
            await selkies_hello(controller)
            await selkies_hello(viewer, client_type="viewer", client_slot=-1)
            for ws in (controller, viewer):
                await ws.send_message("SESSION server")
                assert await recv(ws) == f"SESSION_OK {peer.peer_id}"
                sender, _, body = (await recv(ws)).partition(" ")
                assert sender == peer.peer_id
                assert json.loads(body) == {"sdp": {"type": "offer", "sdp": CANNED_OFFER_SDP}}

            assert [s.client_type for s in peer.started] == ["controller", "viewer"]
            controller_id, viewer_id = (s.client_id for s in peer.started)
            assert controller_id != viewer_id
            assert controller_id.startswith("client-")
            assert peer.started[1].client_slot == -1

            answer = {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}
            candidate = {"ice": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                                 "sdpMLineIndex": 0}}
            await controller.send_message(f"{peer.peer_id} {json.dumps(answer)}")
            await viewer.send_message(f"{peer.peer_id} {json.dumps(candidate)}")
            await wait_for(running.hub, lambda: len(peer.messages) == 2)
            assert (controller_id, answer) in peer.messages
            assert (viewer_id, candidate) in peer.messages

            # Server → one specific client, never the other.
            assert running.hub.send(viewer_id, {"ice": {"candidate": "", "sdpMLineIndex": 0}})
            assert json.loads((await recv(viewer)).partition(" ")[2])["ice"]["candidate"] == ""

        await wait_for(running.hub, lambda: len(peer.ended) == 2)
        assert sorted(peer.ended) == sorted(
            [(controller_id, "controller"), (viewer_id, "viewer")]
        )
        assert running.hub.clients == {}


SELKIES_BEFORE_HELLO = [
    ("", "expected HELLO first"),
    ("HELLO", "expected 'HELLO client <json>' or 'HELLO <uid>'"),
    ("HELLO client not-json", "not JSON"),
    ("HELLO client [1, 2]", "must be a JSON object"),
    ('HELLO client {"client_type": "admin"}', "client_type"),
    ('HELLO client {"client_slot": "1"}', "client_slot"),
    ('HELLO client {"display_id": "display9"}', "display_id"),
    ('HELLO client {"display_position": "a b"}', "display_position"),
    ("SESSION server", "expected HELLO first"),
    ("HELLO client " + json.dumps({"pad": "x" * 17000}), "HELLO exceeds"),
]


@pytest.mark.parametrize("frame,reason", SELKIES_BEFORE_HELLO)
async def test_malformed_frames_before_hello_get_error_and_socket_stays_usable(
    frame: str, reason: str
) -> None:
    async with running_server() as (running, _peer):
        async with open_websocket_url(ws_url(running)) as ws:
            await ws.send_message(frame)
            answer = await recv(ws)
            assert answer.startswith("ERROR ") and reason in answer, answer
            await selkies_hello(ws)


# Replies asserted whole; after each one the socket must still accept the HELLO it
# would have accepted first.
SELKIES_EXACT_BEFORE_HELLO = [
    ("HELLO client " + "[" * 5000,
     "ERROR HELLO metadata is not JSON: JSON is nested deeper than 32 levels"),
    ("HELLO client " + "[" * 40 + "]" * 40,
     "ERROR HELLO metadata is not JSON: JSON is nested deeper than 32 levels"),
    ("HELLO client NaN", "ERROR HELLO metadata is not JSON: NaN is not a JSON value"),
    ("HELLO a b", "ERROR expected 'HELLO client <json>' or 'HELLO <uid>'"),
    ("HELLO " + "u" * 257, "ERROR peer id is longer than 256 characters"),
]


@pytest.mark.parametrize(
    "frame,reply", SELKIES_EXACT_BEFORE_HELLO,
    ids=["deep-json", "depth-40", "nan", "hello-a-b", "long-uid"],
)
async def test_exact_errors_before_hello_keep_the_socket_usable(frame: str, reply: str) -> None:
    async with running_server() as (running, _peer):
        async with open_websocket_url(ws_url(running)) as ws:
            await ws.send_message(frame)
            assert await recv(ws) == reply
            await selkies_hello(ws)


async def test_deeply_nested_session_message_gets_error_and_session_goes_on() -> None:
    async with running_server() as (running, peer):
        async with open_websocket_url(ws_url(running)) as ws:
            await selkies_hello(ws)
            await ws.send_message("SESSION server")
            assert await recv(ws) == f"SESSION_OK {peer.peer_id}"
            await recv(ws)  # the offer
            for body in ("[" * 5000, '{"ice": ' * 40 + "1" + "}" * 40):
                await ws.send_message(f"{peer.peer_id} {body}")
                assert await recv(ws) == (
                    "ERROR session message is not JSON: JSON is nested deeper than 32 levels"
                )
            answer = {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}
            await ws.send_message(f"{peer.peer_id} {json.dumps(answer)}")
            await wait_for(running.hub, lambda: len(peer.messages) == 1)
            assert peer.messages[0][1] == answer


async def test_binary_frame_is_refused_politely() -> None:
    async with running_server() as (running, _peer):
        async with open_websocket_url(ws_url(running)) as ws:
            await ws.send_message(b"\x00\x01")
            assert (await recv(ws)).startswith("ERROR binary frames")
            await selkies_hello(ws)


SELKIES_AFTER_HELLO = [
    ("SESSION", "expected 'SESSION server'"),
    ("SESSION someone-else", "only open a session with the server"),
    ("hello there", "expected 'SESSION server'"),
]

SELKIES_IN_SESSION = [
    ("client-nobody {}", "unknown peer"),
    ("{server} not-json", "not JSON"),
    ("{server} []", "must be a JSON object"),
    ('{server} {"bye": 1}', "'sdp' or 'ice'"),
    ("{server}", "not JSON"),
]


async def test_malformed_frames_after_hello_and_in_session() -> None:
    async with running_server() as (running, peer):
        async with open_websocket_url(ws_url(running)) as ws:
            await selkies_hello(ws)
            for frame, reason in SELKIES_AFTER_HELLO:
                await ws.send_message(frame)
                answer = await recv(ws)
                assert answer.startswith("ERROR ") and reason in answer, (frame, answer)
            await ws.send_message("SESSION server")
            assert await recv(ws) == f"SESSION_OK {peer.peer_id}"
            await recv(ws)  # the offer
            for frame, reason in SELKIES_IN_SESSION:
                await ws.send_message(frame.replace("{server}", peer.peer_id))
                answer = await recv(ws)
                assert answer.startswith("ERROR ") and reason in answer, (frame, answer)
            assert peer.messages == []


async def test_viewer_slot_rules_and_takeover() -> None:
    async with running_server("--enable-player3", "false") as (running, _peer):
        url = ws_url(running)
        async with open_websocket_url(url) as ws:
            await ws.send_message('HELLO client {"client_type": "viewer", "client_slot": 3}')
            reason = await wait_closed(ws)
            assert reason.code == 4000 and "slot 3" in reason.reason
        async with open_websocket_url(url) as ws:
            await ws.send_message('HELLO client {"client_type": "controller", "client_slot": 2}')
            assert (await wait_closed(ws)).code == 4000

        running.hub.config.takeover_window = 0.0
        async with open_websocket_url(url) as first:
            await selkies_hello(first, client_type="viewer", client_slot=2)
            async with open_websocket_url(url) as second:
                await selkies_hello(second, client_type="viewer", client_slot=2)
                reason = await wait_closed(first)
                assert reason.code == 4000 and "taken over" in reason.reason
                # A takeover storm: the slot changed hands moments ago.
                running.hub.config.takeover_window = 60.0
                async with open_websocket_url(url) as third:
                    await third.send_message(
                        'HELLO client {"client_type": "viewer", "client_slot": 2}'
                    )
                    reason = await wait_closed(third)
                    assert reason.code == 4000 and "too often" in reason.reason
                await second.send_message("SESSION server")
                assert (await recv(second)).startswith("SESSION_OK")


async def test_hello_timeout_closes_with_policy_code() -> None:
    async with running_server(hello_timeout=0.3) as (running, _peer):
        async with open_websocket_url(ws_url(running)) as ws:
            reason = await wait_closed(ws, deadline=5)
            assert reason.code == 1008 and "HELLO not received" in reason.reason


async def test_oversize_frame_is_refused_and_socket_keeps_working() -> None:
    async with running_server(max_frame_bytes=1024) as (running, _peer):
        async with open_websocket_url(ws_url(running)) as ws:
            await ws.send_message("HELLO " + "x" * 2000)
            assert (await recv(ws)).startswith("ERROR frame exceeds the 1024 byte limit")
            await ws.send_message("HELLO small-enough")
            assert await recv(ws) == "HELLO"


async def test_close_handshake_completes_both_ways() -> None:
    # Seed 004: a server that does not answer the client's close frame, or never
    # gets its own onto the wire, leaves the client with "connection reset without
    # closing handshake". Both directions are checked frame by frame.
    async with running_server() as (running, peer):
        with trio.fail_after(DEADLINE):
            # Client-initiated: the server must answer with its own close frame.
            ws = await RawWebSocket.connect(ws_url(running))
            await ws.send(TextMessage('HELLO client {"client_type": "controller"}'))
            assert await ws.next_event() == TextMessage("HELLO")
            await ws.send(CloseConnection(code=1000, reason="bye"))
            answer = await ws.next_event()
            assert isinstance(answer, CloseConnection), answer
            assert answer.code == 1000
            assert ws.protocol.state is ConnectionState.CLOSED
            assert await ws.next_event() == EOF  # then the server closes TCP
            await ws.aclose()
            await wait_for(running.hub, lambda: not running.hub.connections)

            # Server-initiated: our code and reason arrive, our answer completes it.
            ws = await RawWebSocket.connect(ws_url(running))
            await ws.send(TextMessage('HELLO client {"client_type": "controller"}'))
            assert await ws.next_event() == TextMessage("HELLO")
            await ws.send(TextMessage("SESSION server"))
            assert await ws.next_event() == TextMessage(f"SESSION_OK {peer.peer_id}")
            assert isinstance(await ws.next_event(), TextMessage)  # the offer
            running.hub.end_session(peer.started[-1].client_id, "stream ended")
            closing = await ws.next_event()
            assert isinstance(closing, CloseConnection), closing
            assert (closing.code, closing.reason) == (1000, "stream ended")
            await ws.send(closing.response())
            assert ws.protocol.state is ConnectionState.CLOSED
            assert await ws.next_event() == EOF
            await ws.aclose()


async def test_origin_is_checked() -> None:
    async with running_server() as (running, _peer):
        url = ws_url(running)
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(url, extra_headers=[(b"Origin", b"http://evil.test")]):
                pass
        assert rejected.value.status_code == 403
        host = running.urls[0].removeprefix("http://")
        same = [(b"Origin", f"http://{host}".encode())]
        async with open_websocket_url(url, extra_headers=same) as ws:
            await selkies_hello(ws)
        for bad in (b"http://[abc", b"ftp://" + host.encode(), b"null"):
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(url, extra_headers=[(b"Origin", bad)]):
                    pass
            assert rejected.value.status_code == 403, bad
        # Refusals leave the server serving.
        async with open_websocket_url(url, extra_headers=same) as ws:
            await selkies_hello(ws)
    async with running_server("--allowed-origins", "http://evil.test") as (running, _peer):
        evil = [(b"Origin", b"http://evil.test")]
        async with open_websocket_url(ws_url(running), extra_headers=evil) as ws:
            await selkies_hello(ws)


# ---------------------------------------------------------------- GStreamer dialect


async def test_rooms_join_list_relay_leave_and_cleanup() -> None:
    async with running_server() as (running, _peer):
        url = ws_url(running)
        async with open_websocket_url(url) as a, open_websocket_url(url) as b:
            for ws, uid in ((a, "alice"), (b, "bob")):
                await ws.send_message(f"HELLO {uid}")
                assert await recv(ws) == "HELLO"
            await a.send_message("ROOM r1")
            assert await recv(a) == "ROOM_OK "
            await b.send_message("ROOM r1")
            assert await recv(b) == "ROOM_OK alice"
            assert await recv(a) == "ROOM_PEER_JOINED bob"
            async with open_websocket_url(url) as c:
                await c.send_message("HELLO carol")
                assert await recv(c) == "HELLO"
                await c.send_message("ROOM r1")
                assert await recv(c) == "ROOM_OK alice bob"
                assert await recv(a) == "ROOM_PEER_JOINED carol"
                assert await recv(b) == "ROOM_PEER_JOINED carol"
                await c.send_message("ROOM_PEER_LIST")
                assert await recv(c) == "ROOM_PEER_LIST alice bob"
                await c.send_message('ROOM_PEER_MSG alice {"sdp": "offer with spaces"}')
                assert await recv(a) == 'ROOM_PEER_MSG carol {"sdp": "offer with spaces"}'
            assert await recv(a) == "ROOM_PEER_LEFT carol"
            assert await recv(b) == "ROOM_PEER_LEFT carol"
            await a.send_message("ROOM_PEER_LIST")
            assert await recv(a) == "ROOM_PEER_LIST bob"
        await wait_for(running.hub, lambda: running.hub.rooms == {} and running.hub.gst_peers == {})


GST_MALFORMED = [
    ("HELLO", "expected"),
    ("SESSION nobody", "not found"),
    ("SESSION", "not found"),
    ("ROOM", "invalid room id"),
    ("ROOM session", "invalid room id"),
    ("DANCE", "unknown command"),
]

GST_IN_ROOM = [
    ("ROOM_PEER_MSG ghost hi", "not found"),
    ("ROOM_PEER_MSG lonely-out hi", "not in the room"),
    ("ROOM_PEER_MSG alice2", "expected 'ROOM_PEER_MSG <peer> <message>'"),
    ("ROOM again", "invalid msg, already in room"),
    ("SESSION bob2", "invalid msg, already in room"),
]


async def test_gstreamer_malformed_table() -> None:
    async with running_server() as (running, _peer):
        url = ws_url(running)
        async with open_websocket_url(url) as ws, open_websocket_url(url) as outsider:
            await outsider.send_message("HELLO lonely-out")
            assert await recv(outsider) == "HELLO"
            await ws.send_message("HELLO lonely-out")
            assert "already registered" in await recv(ws)
            await ws.send_message("HELLO alice2")
            assert await recv(ws) == "HELLO"
            for frame, reason in GST_MALFORMED:
                await ws.send_message(frame)
                answer = await recv(ws)
                assert answer.startswith("ERROR ") and reason in answer, (frame, answer)
            await ws.send_message("ROOM lobby")
            assert await recv(ws) == "ROOM_OK "
            for frame, reason in GST_IN_ROOM:
                await ws.send_message(frame)
                answer = await recv(ws)
                assert answer.startswith("ERROR ") and reason in answer, (frame, answer)


async def test_gstreamer_exact_refusals_leave_the_socket_usable() -> None:
    async with running_server() as (running, _peer):
        url = ws_url(running)
        async with (
            open_websocket_url(url) as caller, open_websocket_url(url) as callee,
            open_websocket_url(url) as roomer, open_websocket_url(url) as free,
            open_websocket_url(url) as ws,
        ):
            for peer_ws, uid in ((caller, "caller"), (callee, "callee"), (roomer, "roomer"),
                                 (free, "free"), (ws, "me")):
                await peer_ws.send_message(f"HELLO {uid}")
                assert await recv(peer_ws) == "HELLO"
            await caller.send_message("SESSION callee")
            assert await recv(caller) == "SESSION_OK"
            await roomer.send_message("ROOM lobby")
            assert await recv(roomer) == "ROOM_OK "

            for frame, reply in [
                ("SESSION me", "ERROR cannot open a session with yourself"),
                ("SESSION caller", "ERROR peer 'caller' busy"),
                ("SESSION callee", "ERROR peer 'callee' busy"),
                ("SESSION roomer", "ERROR peer 'roomer' busy"),
                ("ROOM a b", "ERROR invalid room id 'a b'"),
                ("HELLO again", "ERROR unknown command 'HELLO': expected SESSION or ROOM"),
            ]:
                await ws.send_message(frame)
                assert await recv(ws) == reply, frame
            # Still usable: a session with a free peer works, and nobody else heard a thing.
            await ws.send_message("SESSION free")
            assert await recv(ws) == "SESSION_OK"
            await ws.send_message("ping over the session")
            assert await recv(free) == "ping over the session"
            await caller.send_message("still talking")
            assert await recv(callee) == "still talking"


async def test_gstreamer_session_relays_verbatim_and_ends_with_either_side() -> None:
    async with running_server() as (running, _peer):
        url = ws_url(running)
        async with open_websocket_url(url) as a:
            async with open_websocket_url(url) as b:
                for ws, uid in ((a, "caller"), (b, "callee")):
                    await ws.send_message(f"HELLO {uid}")
                    assert await recv(ws) == "HELLO"
                await a.send_message("SESSION callee")
                assert await recv(a) == "SESSION_OK"
                await a.send_message('{"sdp": {"type": "offer"}}')
                assert await recv(b) == '{"sdp": {"type": "offer"}}'
                await b.send_message("anything at all")
                assert await recv(a) == "anything at all"
            reason = await wait_closed(a)
            assert reason.code == 1000 and "session peer left" in reason.reason


async def test_client_that_stops_reading_does_not_delay_others() -> None:
    async with running_server(send_queue=64) as (running, _peer):
        url = ws_url(running)
        async with (
            open_websocket_url(url, message_queue_size=0) as stuck,
            open_websocket_url(url) as sender,
            open_websocket_url(url) as reader,
        ):
            for ws, uid in ((stuck, "stuck"), (sender, "sender"), (reader, "reader")):
                await ws.send_message(f"HELLO {uid}")
                assert await recv(ws) == "HELLO"
                await ws.send_message("ROOM busy")
                await recv(ws)
            blob = "x" * 100_000
            delivered = 0
            with trio.fail_after(DEADLINE * 2):
                for n in range(400):
                    await sender.send_message(f"ROOM_PEER_MSG stuck {blob}")
                    await sender.send_message(f"ROOM_PEER_MSG reader {n}")
                    while True:
                        message = await reader.get_message()
                        if message.startswith("ROOM_PEER_MSG sender"):
                            assert message == f"ROOM_PEER_MSG sender {n}"
                            delivered += 1
                            break
            assert delivered == 400
            await wait_for(running.hub, lambda: "stuck" not in running.hub.gst_peers)
