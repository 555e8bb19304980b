"""Exceptions of the SCTP layer.

`SctpDecodeError` is the only exception that functions parsing network bytes
(`*_untrusted`) may raise; `LocalProtocolError` means the caller used the API wrongly.
"""

from __future__ import annotations


class SctpError(Exception):
    """Base class of every exception raised by vendor_sctp."""


class SctpDecodeError(SctpError):
    """Bytes from the network are not a valid SCTP packet, chunk, parameter or cookie."""


class LocalProtocolError(SctpError):
    """The caller asked for something the association cannot do in its current state."""
