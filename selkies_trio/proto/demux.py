"""Classify datagrams arriving on one UDP 5-tuple (RFC 7983 section 7, RFC 5761 section 4).

RFC 7983 section 7 splits the first byte of each datagram into ranges::

                 +----------------+
                 |        [0..3] -+--> forward to STUN
                 |                |
                 |      [16..19] -+--> forward to ZRTP
                 |                |
     packet -->  |      [20..63] -+--> forward to DTLS
                 |                |
                 |      [64..79] -+--> forward to TURN Channel
                 |                |
                 |    [128..191] -+--> forward to RTP/RTCP
                 +----------------+

RFC 5761 section 4: with rtcp-mux, a second byte (the RTCP packet type, or the RTP
marker bit plus payload type) in 192..223 is RTCP, because RTP payload types 64..95
are never used when RTP and RTCP share a port.
"""

from __future__ import annotations

import enum


class DatagramKind(enum.Enum):
    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    TURN_CHANNEL = "turn-channel"
    RTP = "rtp"
    RTCP = "rtcp"
    UNKNOWN = "unknown"


def classify_datagram(data: bytes) -> DatagramKind:
    """The protocol a datagram belongs to, judged by its first bytes; never raises."""
    if not data:
        return DatagramKind.UNKNOWN
    first = data[0]
    if first <= 3:
        return DatagramKind.STUN
    if 16 <= first <= 19:
        return DatagramKind.ZRTP
    if 20 <= first <= 63:
        return DatagramKind.DTLS
    if 64 <= first <= 79:
        return DatagramKind.TURN_CHANNEL
    if 128 <= first <= 191:
        if len(data) < 2:
            return DatagramKind.UNKNOWN
        return DatagramKind.RTCP if 192 <= data[1] <= 223 else DatagramKind.RTP
    return DatagramKind.UNKNOWN
