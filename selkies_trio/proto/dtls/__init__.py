"""DTLS 1.2 for WebRTC (RFC 6347 with RFC 5764 use_srtp), sans-IO, on `cryptography`.

The runtime needs only what is re-exported here: a `DtlsConnection` per peer,
the events it produces, and certificate helpers for the SDP fingerprint.
"""

from .certificate import certificate_fingerprint, generate_certificate
from .connection import ConnectionState, DtlsConnection
from .errors import DtlsDecodeError, LocalProtocolError, RemoteProtocolError
from .events import (
    AlertReceived,
    ApplicationData,
    ConnectionClosed,
    DtlsError,
    DtlsEvent,
    HandshakeComplete,
)
from .extensions import NamedGroup, SrtpProfile
from .srtp_keys import SRTP_EXPORTER_LABEL, SrtpKeyingMaterial

__all__ = [
    "SRTP_EXPORTER_LABEL",
    "AlertReceived",
    "ApplicationData",
    "ConnectionClosed",
    "ConnectionState",
    "DtlsConnection",
    "DtlsDecodeError",
    "DtlsError",
    "DtlsEvent",
    "HandshakeComplete",
    "LocalProtocolError",
    "NamedGroup",
    "RemoteProtocolError",
    "SrtpKeyingMaterial",
    "SrtpProfile",
    "certificate_fingerprint",
    "generate_certificate",
]
