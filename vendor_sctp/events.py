"""Events an `Association` reports through `next_event()`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AssociationEstablished:
    outbound_streams: int
    inbound_streams: int
    # Whether the peer advertised RFC 3758 (FORWARD-TSN); without it every message is reliable.
    partial_reliability: bool
    # Whether the peer advertised RFC 6525 RE-CONFIG (needed to close data channels).
    stream_reconfiguration: bool


@dataclass(frozen=True, slots=True)
class MessageReceived:
    stream_id: int
    ppid: int
    data: bytes
    ordered: bool


@dataclass(frozen=True, slots=True)
class IncomingStreamsReset:
    """The peer reset these streams of its outbound direction (RFC 6525 section 5.2.2);
    an empty tuple means all of them."""

    stream_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OutgoingStreamsReset:
    """Our request to reset these outbound streams succeeded; their SSNs restart at 0."""

    stream_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StreamResetFailed:
    """The peer refused or failed our reset request; `result` is RFC 6525's Result."""

    stream_ids: tuple[int, ...]
    result: int


@dataclass(frozen=True, slots=True)
class BufferedAmountLow:
    """The bytes queued but not yet sent on a stream fell to its low threshold."""

    stream_id: int
    buffered_amount: int


@dataclass(frozen=True, slots=True)
class AssociationClosed:
    """The association ended: graceful shutdown, ABORT sent or received, or failure."""

    reason: str
    by_peer: bool
    graceful: bool


Event = (
    AssociationEstablished
    | MessageReceived
    | IncomingStreamsReset
    | OutgoingStreamsReset
    | StreamResetFailed
    | BufferedAmountLow
    | AssociationClosed
)
