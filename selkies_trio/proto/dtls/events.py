"""Events produced by `DtlsConnection.next_event()`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandshakeComplete:
    """Keys are established; `srtp_profile` is None when use_srtp was not negotiated."""

    srtp_profile: int | None
    cipher_suite: int
    remote_fingerprint: str


@dataclass(frozen=True)
class ApplicationData:
    data: bytes


@dataclass(frozen=True)
class AlertReceived:
    level: int
    description: int


@dataclass(frozen=True)
class DtlsError:
    """We aborted the connection with a fatal alert of `description` because of `reason`."""

    description: int
    reason: str


@dataclass(frozen=True)
class ConnectionClosed:
    reason: str


DtlsEvent = HandshakeComplete | ApplicationData | AlertReceived | DtlsError | ConnectionClosed
