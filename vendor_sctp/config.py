"""Tunables of an association; defaults suit WebRTC data channels over DTLS."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AssociationConfig:
    local_port: int = 5000
    remote_port: int = 5000
    # One SCTP packet per DTLS record; 1200 leaves room for DTLS, UDP and IP headers.
    max_packet_size: int = 1200
    max_message_size: int = 256 * 1024
    # Bound of the reassembly memory, advertised to the peer as a_rwnd.
    receive_window: int = 1024 * 1024
    outbound_streams: int = 65535
    inbound_streams: int = 65535
    rto_initial: float = 1.0
    rto_min: float = 0.2
    rto_max: float = 60.0
    delayed_ack_timeout: float = 0.2
    heartbeat_interval: float = 30.0
    max_init_retransmits: int = 8
    association_max_retransmits: int = 10
    cookie_lifetime: float = 60.0
    partial_reliability: bool = True
    # Packets of DATA one `packets_to_send` may add to the flight (RFC 9260 Max.Burst).
    max_burst: int = 4
