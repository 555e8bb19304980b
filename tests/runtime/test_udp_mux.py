"""The shared UDP socket routes by STUN USERNAME, then by the address a peer sent to."""

from __future__ import annotations

import socket

import trio

from selkies_trio.proto.stun import StunClass, StunMessage, encode_stun
from selkies_trio.runtime.udp_mux import UdpMux

BINDING = 0x001


def binding_request(username: str) -> bytes:
    message = StunMessage(BINDING, StunClass.REQUEST, b"\x01" * 12, username=username)
    return encode_stun(message, integrity_key=b"k")


async def receive(inbox):
    with trio.fail_after(5):
        return await inbox.receive()


async def test_routes_stun_by_ufrag_and_the_rest_by_claimed_address() -> None:
    mux = UdpMux("127.0.0.1", 0, inbox_size=2)
    async with trio.open_nursery() as nursery:
        local = await nursery.start(mux.run)
        alice, bob = mux.register("alice"), mux.register("bob")
        browser = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with browser, other:
            await browser.bind(("127.0.0.1", 0))
            await other.bind(("127.0.0.1", 0))
            browser_addr = browser.getsockname()

            await browser.sendto(binding_request("bob:remote"), local)
            data, addr = await receive(bob.inbox)
            assert addr == browser_addr and data.startswith(b"\x00\x01")

            # DTLS from an address nobody claimed goes nowhere ...
            await other.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
            # ... and from one that alice sent to reaches alice.
            await alice.send(b"hello", browser_addr)
            assert await browser.recv(100) == b"hello"
            await browser.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
            data, addr = await receive(alice.inbox)
            assert data.startswith(b"\x16") and addr == browser_addr

            # A full inbox drops and counts instead of blocking the socket.
            for _ in range(4):
                await browser.sendto(b"\x80\x60" + b"\x00" * 10, local)
            await browser.sendto(binding_request("bob:remote"), local)
            await receive(bob.inbox)
            stats = mux.statistics()
            assert stats.inbox_full == 2
            assert stats.unroutable == 1

            alice.close()
            await browser.sendto(binding_request("alice:x"), local)
            await browser.sendto(binding_request("bob:remote"), local)
            await receive(bob.inbox)
            assert mux.statistics().unroutable == 2
        nursery.cancel_scope.cancel()
