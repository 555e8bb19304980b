"""The State Cookie (RFC 9260 section 5.1.3): everything the server needs to build
its TCB when COOKIE ECHO arrives, signed so that it needs no state before then.

Layout (ours; only its creator reads it), all big-endian:

    created_at (f64, seconds on the creator's clock) | local tag | peer tag |
    local initial TSN | peer initial TSN | peer a_rwnd | outbound streams (u16) |
    inbound streams (u16) | flags (u8: 1 = peer supports FORWARD-TSN, 2 = RE-CONFIG) |
    HMAC-SHA256 over everything before it (32 bytes)
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from .errors import SctpDecodeError

_BODY = struct.Struct("!dIIIIIHHB")
_MAC_SIZE = 32
COOKIE_SIZE = _BODY.size + _MAC_SIZE


class StaleCookieError(SctpDecodeError):
    """The cookie is authentic but older than the cookie lifetime."""

    def __init__(self, staleness: float, peer_verification_tag: int) -> None:
        super().__init__(f"cookie expired {staleness:.3f} s ago")
        self.staleness = staleness
        # Authentic (the signature matched), so the ERROR can be addressed to the peer.
        self.peer_verification_tag = peer_verification_tag


@dataclass(frozen=True, slots=True)
class CookieContents:
    created_at: float
    local_verification_tag: int
    peer_verification_tag: int
    local_initial_tsn: int
    peer_initial_tsn: int
    peer_receiver_window: int
    outbound_streams: int
    inbound_streams: int
    peer_supports_forward_tsn: bool
    peer_supports_reconfig: bool


def make_cookie(contents: CookieContents, secret: bytes) -> bytes:
    flags = (1 if contents.peer_supports_forward_tsn else 0) | (
        2 if contents.peer_supports_reconfig else 0
    )
    body = _BODY.pack(
        contents.created_at,
        contents.local_verification_tag,
        contents.peer_verification_tag,
        contents.local_initial_tsn,
        contents.peer_initial_tsn,
        contents.peer_receiver_window,
        contents.outbound_streams,
        contents.inbound_streams,
        flags,
    )
    return body + hmac.new(secret, body, hashlib.sha256).digest()


def open_cookie_untrusted(
    cookie: bytes, secret: bytes, now: float, lifetime: float
) -> CookieContents:
    """Check the signature and age; raise SctpDecodeError (StaleCookieError if too old)."""
    if len(cookie) != COOKIE_SIZE:
        raise SctpDecodeError(f"cookie has length {len(cookie)}, expected {COOKIE_SIZE}")
    body, mac = cookie[: _BODY.size], cookie[_BODY.size :]
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()):
        raise SctpDecodeError("cookie signature mismatch")
    fields = _BODY.unpack(body)
    contents = CookieContents(
        created_at=fields[0],
        local_verification_tag=fields[1],
        peer_verification_tag=fields[2],
        local_initial_tsn=fields[3],
        peer_initial_tsn=fields[4],
        peer_receiver_window=fields[5],
        outbound_streams=fields[6],
        inbound_streams=fields[7],
        peer_supports_forward_tsn=bool(fields[8] & 1),
        peer_supports_reconfig=bool(fields[8] & 2),
    )
    age = now - contents.created_at
    if age > lifetime:
        raise StaleCookieError(age - lifetime, contents.peer_verification_tag)
    return contents
