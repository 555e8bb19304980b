"""ICE candidates: the SDP candidate attribute and candidate priorities.

RFC 8839 section 5.1, the candidate attribute grammar::

    candidate-attribute   = "candidate" ":" foundation SP component-id SP
                            transport SP
                            priority SP
                            connection-address SP     ;from RFC 4566
                            port         ;port from RFC 4566
                            SP cand-type
                            [SP rel-addr]
                            [SP rel-port]
                            *(SP cand-extension)
    foundation            = 1*32ice-char
    component-id          = 1*3DIGIT
    transport             = "UDP" / transport-extension
    priority              = 1*10DIGIT
    cand-type             = "typ" SP candidate-types
    candidate-types       = "host" / "srflx" / "prflx" / "relay" / token
    rel-addr              = "raddr" SP connection-address
    rel-port              = "rport" SP port
    cand-extension        = extension-att-name SP extension-att-value
    ice-char              = ALPHA / DIGIT / "+" / "/"

RFC 8445 section 5.1.2.1, candidate priority::

    priority = (2^24)*(type preference) + (2^8)*(local preference) + (2^0)*(256 - component ID)

RFC 8445 section 6.1.2.3, pair priority (G: the controlling agent's candidate,
D: the controlled agent's)::

    pair priority = 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0)
"""

from __future__ import annotations

import enum
import ipaddress
import string
from collections.abc import Callable
from dataclasses import dataclass

Address = tuple[str, int]

ICE_CHARS = string.ascii_letters + string.digits + "+/"
_ICE_CHAR_SET = frozenset(ICE_CHARS)
MAX_PRIORITY = (1 << 31) - 1
MAX_FOUNDATION_LENGTH = 32


class IceCandidateDecodeError(Exception):
    """A candidate line from the remote peer (via signalling) is malformed."""


class CandidateType(enum.StrEnum):
    HOST = "host"
    SERVER_REFLEXIVE = "srflx"
    PEER_REFLEXIVE = "prflx"
    RELAYED = "relay"


# RFC 8445 section 5.1.2.2 recommended type preferences.
TYPE_PREFERENCE = {
    CandidateType.HOST: 126,
    CandidateType.PEER_REFLEXIVE: 110,
    CandidateType.SERVER_REFLEXIVE: 100,
    CandidateType.RELAYED: 0,
}


def candidate_priority(candidate_type: CandidateType, local_preference: int, component: int) -> int:
    return (TYPE_PREFERENCE[candidate_type] << 24) + (local_preference << 8) + (256 - component)


def pair_priority(controlling_priority: int, controlled_priority: int) -> int:
    low = min(controlling_priority, controlled_priority)
    high = max(controlling_priority, controlled_priority)
    return (low << 32) + 2 * high + (1 if controlling_priority > controlled_priority else 0)


def normalize_host(host: str) -> str:
    """The canonical text of an IP address, so addresses from SDP and sockets compare equal."""
    return str(ipaddress.ip_address(host))


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def address_family(host: str) -> int:
    """4 or 6 for an IP address, 0 for anything else (hostnames)."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return 0


def random_ice_string(random: Callable[[int], bytes], length: int) -> str:
    """ice-ufrag / ice-pwd text (RFC 8839 section 5.4): `length` ice-chars, 6 random bits each."""
    return "".join(ICE_CHARS[byte & 63] for byte in random(length))


def is_mdns_hostname(host: str) -> bool:
    """Browsers hide host addresses behind random `<uuid>.local` names (RFC 8828 mode 3)."""
    return host.lower().rstrip(".").endswith(".local")


@dataclass(frozen=True)
class Candidate:
    foundation: str
    component: int
    transport: str
    priority: int
    host: str
    port: int
    type: CandidateType
    related_address: str | None = None
    related_port: int | None = None
    # Extension attributes (generation, ufrag, network-id, ...) kept verbatim.
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    def to_sdp(self) -> str:
        """The candidate as a browser's RTCIceCandidate.candidate: `candidate:...` without `a=`."""
        parts = [
            f"candidate:{self.foundation}",
            str(self.component),
            self.transport,
            str(self.priority),
            self.host,
            str(self.port),
            "typ",
            str(self.type),
        ]
        if self.related_address is not None and self.related_port is not None:
            parts += ["raddr", self.related_address, "rport", str(self.related_port)]
        for name, value in self.extensions:
            parts += [name, value]
        return " ".join(parts)


def parse_candidate_untrusted(text: str) -> Candidate:
    """Parse `a=candidate:...`, `candidate:...` or the bare attribute value.

    Raises only IceCandidateDecodeError. The connection address may be a
    hostname (e.g. an mDNS `.local` name); the caller decides what to do with it.
    """
    line = text.strip()
    if line.startswith("a="):
        line = line[2:]
    if line.lower().startswith("candidate:"):
        line = line[len("candidate:") :]
    fields = line.split()
    if len(fields) < 8:
        raise IceCandidateDecodeError(f"candidate has {len(fields)} fields, expected at least 8")
    foundation, component_text, transport, priority_text, host, port_text, typ, kind = fields[:8]
    if (
        not foundation
        or len(foundation) > MAX_FOUNDATION_LENGTH
        or not set(foundation) <= _ICE_CHAR_SET
    ):
        raise IceCandidateDecodeError(f"bad foundation {foundation!r}")
    component = _parse_int(component_text, "component-id", 1, 256)
    priority = _parse_int(priority_text, "priority", 1, MAX_PRIORITY)
    port = _parse_int(port_text, "port", 0, 0xFFFF)
    if typ != "typ":
        raise IceCandidateDecodeError(f"expected 'typ', found {typ!r}")
    try:
        candidate_type = CandidateType(kind)
    except ValueError as exc:
        raise IceCandidateDecodeError(f"unknown candidate type {kind!r}") from exc
    if not host or not host.isprintable():
        raise IceCandidateDecodeError("empty or unprintable connection-address")
    if is_ip_address(host):
        host = normalize_host(host)

    related_address: str | None = None
    related_port: int | None = None
    extensions: list[tuple[str, str]] = []
    rest = fields[8:]
    # Extensions come in name/value pairs; a dangling name is tolerated and dropped.
    for index in range(0, len(rest) - 1, 2):
        name, value = rest[index], rest[index + 1]
        if name == "raddr":
            related_address = value
        elif name == "rport":
            related_port = _parse_int(value, "rport", 0, 0xFFFF)
        else:
            extensions.append((name, value))
    return Candidate(
        foundation=foundation,
        component=component,
        transport=transport.lower(),
        priority=priority,
        host=host,
        port=port,
        type=candidate_type,
        related_address=related_address,
        related_port=related_port,
        extensions=tuple(extensions),
    )


def _parse_int(text: str, name: str, low: int, high: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise IceCandidateDecodeError(f"{name} {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise IceCandidateDecodeError(f"{name} {value} outside {low}..{high}")
    return value
