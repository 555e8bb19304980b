"""Exceptions of the DTLS layer.

`LocalProtocolError` is a bug in the caller (for example sending application data
before the handshake is complete). `RemoteProtocolError` means the peer misbehaved;
it carries the TLS alert description (RFC 5246 section 7.2) that answers it.
`DtlsDecodeError` is the only exception a function ending in `_untrusted` may raise.
"""

from __future__ import annotations

from .alerts import AlertDescription


class LocalProtocolError(Exception):
    """The caller used the connection in a way the protocol does not allow."""


class RemoteProtocolError(Exception):
    """The peer broke the protocol; `alert` is the fatal alert we answer with."""

    def __init__(self, message: str, alert: AlertDescription = AlertDescription.HANDSHAKE_FAILURE):
        super().__init__(message)
        self.alert = alert


class DtlsDecodeError(RemoteProtocolError):
    """Bytes from the network could not be decoded."""

    def __init__(self, message: str, alert: AlertDescription = AlertDescription.DECODE_ERROR):
        super().__init__(message, alert)
