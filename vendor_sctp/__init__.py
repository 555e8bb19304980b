"""A sans-IO SCTP (RFC 9260) with partial reliability (RFC 3758) and stream reset
(RFC 6525), for WebRTC data channels over DTLS (RFC 8261).

`Association` is the whole public face: feed it packets and time, take packets,
a timer deadline and events (`vendor_sctp.events`) out. It never does I/O and
never reads a clock.
"""

from .association import Association, State
from .config import AssociationConfig
from .errors import LocalProtocolError, SctpDecodeError, SctpError

__all__ = [
    "Association",
    "AssociationConfig",
    "LocalProtocolError",
    "SctpDecodeError",
    "SctpError",
    "State",
]
