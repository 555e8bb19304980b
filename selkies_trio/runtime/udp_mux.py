"""One UDP socket for every WebRTC peer.

All peers share one port, so a container publishes a single UDP port whatever
the number of viewers. Incoming datagrams are routed:

1. STUN with a USERNAME (connectivity checks, RFC 8445 7.2.2): USERNAME is
   "<our ufrag>:<their ufrag>", so the part before the colon names the peer;
2. anything else (STUN responses, DTLS, SRTP, SRTCP): by the remote address.

A peer owns a remote address once a connectivity check carrying its ufrag
arrives from there, or once it sends there first. Sending never takes an
address from another peer: a browser that signals someone else's address as
its candidate must not divert that viewer's DTLS and SRTCP to itself.

A peer's inbox is bounded; a datagram that finds it full is dropped and counted,
never waited for, so one slow peer cannot stall the socket for the others.

The socket is a plain non-blocking one that trio only waits on. Trio's socket
methods pass through the scheduler twice per call, which at the packet rates of
video to many viewers (tens of thousands of datagrams a second) cost more than
the send itself; here the mux reads whatever is waiting each time the socket
becomes readable, and a send is one system call unless the kernel buffer is full.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

import trio

from ..proto.stun import StunDecodeError, is_stun, parse_stun_untrusted

log = logging.getLogger(__name__)

Address = tuple[str, int]
Datagram = tuple[bytes, Address]

MAX_DATAGRAM = 65535
# Datagrams read per wake-up before others get a turn.
RECEIVE_BATCH = 64
# Datagrams queued per peer. A browser may have a whole SCTP receive window (1 MiB,
# ~900 datagrams) in flight and sends it in bursts; a smaller inbox turned those
# bursts into loss (11 % of a bulk upload at 512) and the loss into a collapsed window.
DEFAULT_INBOX = 2048
# Browsers send in bursts (a whole congestion window at once); the kernel's default
# receive buffer (~208 KiB) overflows while Python works through the previous burst,
# and every datagram lost there costs a retransmission. Capped by net.core.rmem_max.
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024


@dataclass
class MuxStatistics:
    received: int = 0
    routed: int = 0
    unroutable: int = 0
    inbox_full: int = 0
    # Sends to an address another peer owns (the address stays with its owner).
    claim_conflicts: int = 0
    sent: int = 0
    send_errors: int = 0


class PeerPort:
    """A peer's view of the mux: its inbox and a way to send."""

    def __init__(self, mux: UdpMux, ufrag: str, inbox_size: int) -> None:
        self.ufrag = ufrag
        self._mux = mux
        self._send_channel, self.inbox = trio.open_memory_channel[Datagram](inbox_size)

    @property
    def local_address(self) -> Address:
        return self._mux.local_address

    async def send(self, data: bytes, addr: Address) -> None:
        self._mux.claim(addr, self)
        await self._mux.send(data, addr)

    def deliver_nowait(self, datagram: Datagram) -> bool:
        try:
            self._send_channel.send_nowait(datagram)
        except (trio.WouldBlock, trio.ClosedResourceError):
            return False
        return True

    def close(self) -> None:
        self._mux.unregister(self)
        self._send_channel.close()


class UdpMux:
    def __init__(self, host: str = "0.0.0.0", port: int = 0,
                 inbox_size: int = DEFAULT_INBOX) -> None:
        self._host = host
        self._port = port
        self._inbox_size = inbox_size
        self._by_ufrag: dict[str, PeerPort] = {}
        self._by_address: dict[Address, PeerPort] = {}
        self._socket: socket.socket | None = None
        self.local_address: Address = (host, port)
        self.stats = MuxStatistics()

    def statistics(self) -> MuxStatistics:
        return self.stats

    def register(self, ufrag: str) -> PeerPort:
        if ufrag in self._by_ufrag:
            raise ValueError(f"ICE ufrag {ufrag!r} is already registered")
        port = PeerPort(self, ufrag, self._inbox_size)
        self._by_ufrag[ufrag] = port
        return port

    def unregister(self, port: PeerPort) -> None:
        if self._by_ufrag.get(port.ufrag) is port:
            del self._by_ufrag[port.ufrag]
        for addr in [a for a, owner in self._by_address.items() if owner is port]:
            del self._by_address[addr]

    def claim(self, addr: Address, port: PeerPort) -> None:
        owner = self._by_address.setdefault(addr, port)
        if owner is not port:
            self.stats.claim_conflicts += 1

    async def run(self, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
            sock.bind((self._host, self._port))
            self._socket = sock
            name = sock.getsockname()
            self.local_address = (name[0], name[1])
            log.info("WebRTC UDP socket on %s:%d", *self.local_address)
            task_status.started(self.local_address)
            while True:
                await trio.lowlevel.wait_readable(sock)
                self._receive_waiting(sock)
        finally:
            self._socket = None
            trio.lowlevel.notify_closing(sock)
            sock.close()

    def _receive_waiting(self, sock: socket.socket) -> None:
        for _ in range(RECEIVE_BATCH):
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except ConnectionResetError:
                # An ICMP port-unreachable from a departed peer; nothing to do.
                continue
            self.stats.received += 1
            self._route(data, (addr[0], addr[1]))

    def _route(self, data: bytes, addr: Address) -> None:
        port: PeerPort | None
        username = _stun_username(data) if is_stun(data) else None
        if username is not None:
            # A check names its peer; an unknown ufrag (a departed session) goes nowhere.
            port = self._by_ufrag.get(username.partition(":")[0])
            if port is not None:
                # The remote at `addr` checks this peer's ufrag: the address is this peer's.
                self._by_address[addr] = port
        else:
            port = self._by_address.get(addr)
        if port is None:
            self.stats.unroutable += 1
            return
        if port.deliver_nowait((data, addr)):
            self.stats.routed += 1
        else:
            self.stats.inbox_full += 1

    async def send(self, data: bytes, addr: Address) -> None:
        """Send one datagram; waits only while the kernel's send buffer is full."""
        while True:
            sock = self._socket
            if sock is None:
                raise RuntimeError("the UDP mux is not running")
            try:
                sock.sendto(data, addr)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError as error:
                # A bad remote candidate (unroutable, EPERM) must not hurt anyone else.
                self.stats.send_errors += 1
                if error.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EPERM,
                                       errno.EINVAL, errno.EAFNOSUPPORT):
                    log.warning("UDP send to %s failed: %s", addr, error)
                return
            self.stats.sent += 1
            return


def _stun_username(data: bytes) -> str | None:
    """The USERNAME of a STUN message, or None (a response, or not parseable)."""
    try:
        message = parse_stun_untrusted(data)
    except StunDecodeError:
        return None
    return message.username or None
