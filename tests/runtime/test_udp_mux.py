"""The shared UDP socket routes by STUN USERNAME, then by the address a peer owns."""

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

            # DTLS from an address nobody owns goes nowhere (the check that follows it
            # from the same socket shows it was handled) ...
            await other.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
            await other.sendto(binding_request("bob:other"), local)
            await receive(bob.inbox)
            assert mux.statistics().unroutable == 1
            # ... and from one that alice sent to first reaches alice.
            third = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with third:
                await third.bind(("127.0.0.1", 0))
                third_addr = third.getsockname()
                await alice.send(b"hello", third_addr)
                assert await third.recv(100) == b"hello"
                await third.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
                data, addr = await receive(alice.inbox)
                assert data.startswith(b"\x16") and addr == third_addr
            # The browser checked bob's ufrag, so its DTLS is bob's.
            await browser.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
            data, addr = await receive(bob.inbox)
            assert data.startswith(b"\x16") and addr == browser_addr

            # A full inbox drops and counts instead of blocking the socket; a check for
            # alice sent after them from the same socket shows all four were handled.
            for _ in range(4):
                await browser.sendto(b"\x80\x60" + b"\x00" * 10, local)
            await browser.sendto(binding_request("alice:x"), local)
            await receive(alice.inbox)
            stats = mux.statistics()
            assert stats.inbox_full == 2
            assert stats.unroutable == 1
            for _ in range(2):
                await receive(bob.inbox)  # make room again

            alice.close()
            await browser.sendto(binding_request("alice:x"), local)
            await browser.sendto(binding_request("bob:remote"), local)
            await receive(bob.inbox)
            assert mux.statistics().unroutable == 2
        nursery.cancel_scope.cancel()


async def test_sending_to_another_peers_address_does_not_divert_its_traffic() -> None:
    """A browser can signal any address as its candidate; our checks to it must not
    take that address's DTLS/SRTCP away from the peer it really belongs to."""
    mux = UdpMux("127.0.0.1", 0)
    async with trio.open_nursery() as nursery:
        local = await nursery.start(mux.run)
        victim, attacker = mux.register("victim"), mux.register("attacker")
        browser = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with browser:
            await browser.bind(("127.0.0.1", 0))
            browser_addr = browser.getsockname()
            await browser.sendto(binding_request("victim:remote"), local)
            await receive(victim.inbox)
            await attacker.send(b"check", browser_addr)
            assert mux.statistics().claim_conflicts == 1
            await browser.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
            data, _ = await receive(victim.inbox)
            assert data.startswith(b"\x16")
            # Once the victim leaves, a new session that the same address checks owns it.
            victim.close()
            newcomer = mux.register("newcomer")
            await browser.sendto(binding_request("newcomer:remote"), local)
            await receive(newcomer.inbox)
            await browser.sendto(b"\x16\xfe\xfd" + b"\x00" * 10, local)
            data, _ = await receive(newcomer.inbox)
            assert data.startswith(b"\x16")
            assert attacker.inbox.statistics().current_buffer_used == 0
        nursery.cancel_scope.cancel()
