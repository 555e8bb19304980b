"""INIT / INIT ACK parameter handling (RFC 9260 sections 3.2.1, 3.3.2 and 3.3.3).

Parameters we do not know are treated by the two upper bits of their type:
00 stop processing the parameters, 01 stop and report, 10 skip, 11 skip and
report (reported as Unrecognized Parameter in INIT ACK, or in an ERROR chunk
bundled with COOKIE ECHO). The Zero Checksum Acceptable parameter (0x8001) thus
falls in "skip": over DTLS we still send and check CRC32c.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .chunks import ChunkType, InitChunk
from .parameters import Parameter, ParameterType

# Parameters of INIT/INIT ACK we understand, or know to be irrelevant over DTLS.
_KNOWN_INIT_PARAMETERS = {
    ParameterType.IPV4_ADDRESS,
    ParameterType.IPV6_ADDRESS,
    ParameterType.STATE_COOKIE,
    ParameterType.COOKIE_PRESERVATIVE,
    ParameterType.HOST_NAME_ADDRESS,
    ParameterType.SUPPORTED_ADDRESS_TYPES,
    ParameterType.SUPPORTED_EXTENSIONS,
    ParameterType.FORWARD_TSN_SUPPORTED,
}
# RFC 9260 section 6.2.1: a receiver window below this is invalid in INIT.
_MIN_RECEIVER_WINDOW = 1500
# Bytes of unrecognized chunks/parameters echoed back, so reports fit in a packet.
MAX_REPORTED = 512


@dataclass(slots=True)
class Negotiation:
    supports_forward_tsn: bool = False
    supports_reconfig: bool = False
    unrecognized: list[Parameter] = field(default_factory=list)


def negotiate_parameters(parameters: tuple[Parameter, ...]) -> Negotiation:
    result = Negotiation()
    for parameter in parameters:
        if parameter.type == ParameterType.FORWARD_TSN_SUPPORTED:
            result.supports_forward_tsn = True
        elif parameter.type == ParameterType.SUPPORTED_EXTENSIONS:
            types = set(parameter.value)
            result.supports_reconfig |= ChunkType.RE_CONFIG in types
            result.supports_forward_tsn |= ChunkType.FORWARD_TSN in types
        elif parameter.type not in _KNOWN_INIT_PARAMETERS:
            action = parameter.type >> 14
            if action in (1, 3):
                result.unrecognized.append(parameter)
            if action in (0, 1):
                break
    return result


def extension_parameters(partial_reliability: bool) -> tuple[Parameter, ...]:
    """What we advertise: RE-CONFIG always, FORWARD-TSN when partial reliability is on."""
    if not partial_reliability:
        return (Parameter(ParameterType.SUPPORTED_EXTENSIONS, bytes([ChunkType.RE_CONFIG])),)
    extensions = bytes([ChunkType.RE_CONFIG, ChunkType.FORWARD_TSN])
    return (
        Parameter(ParameterType.SUPPORTED_EXTENSIONS, extensions),
        Parameter(ParameterType.FORWARD_TSN_SUPPORTED),
    )


def init_is_valid(init: InitChunk) -> bool:
    """Section 3.3.2: a zero Initiate Tag or zero stream counts are invalid."""
    return (
        init.initiate_tag != 0
        and init.number_of_outbound_streams > 0
        and init.number_of_inbound_streams > 0
        and init.advertised_receiver_window_credit >= _MIN_RECEIVER_WINDOW
    )


@dataclass(slots=True)
class PeerInfo:
    """What the handshake taught us about the peer."""

    verification_tag: int
    initial_tsn: int
    receiver_window: int
    outbound_streams: int
    inbound_streams: int
    supports_forward_tsn: bool
    supports_reconfig: bool


def reportable_parameters(parameters: list[Parameter]) -> list[bytes]:
    """Encoded unrecognized parameters to report, up to `MAX_REPORTED` bytes in all."""
    reported: list[bytes] = []
    budget = MAX_REPORTED
    for parameter in parameters:
        encoded = parameter.encode()
        if len(encoded) > budget:
            break
        reported.append(encoded)
        budget -= len(encoded)
    return reported
