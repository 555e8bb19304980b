"""Opus RTP payload format (RFC 7587).

RFC 7587 section 4.2: the RTP payload is exactly one Opus packet (RFC 6716), with no
payload header. Section 4.1: the RTP clock is always 48 kHz, whatever the sampling
rate Opus used internally, and section 7 fixes the SDP encoding name as
``opus/48000/2`` even for mono streams.
"""

from __future__ import annotations

OPUS_ENCODING_NAME = "opus"
OPUS_CLOCK_RATE = 48_000
OPUS_SDP_CHANNELS = 2
OPUS_DEFAULT_FRAME_DURATION = 0.020
# RFC 7587 section 7: minptime in milliseconds, useinbandfec asks the sender for FEC.
OPUS_FMTP: dict[str, str] = {"minptime": "10", "useinbandfec": "1"}


def opus_timestamp_increment(frame_duration: float = OPUS_DEFAULT_FRAME_DURATION) -> int:
    """RTP timestamp units covered by one Opus packet of the given duration in seconds."""
    return round(frame_duration * OPUS_CLOCK_RATE)


def opus_payload(opus_packet: bytes) -> bytes:
    """The RTP payload for an Opus packet (the identity, stated so callers need not know)."""
    return bytes(opus_packet)
