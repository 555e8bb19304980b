"""Retransmission timeout (RFC 6298, RFC 9260 section 6.3.1) and congestion control
(RFC 9260 section 7.2): slow start, congestion avoidance, reaction to T3-rtx
expiry and fast recovery.
"""

from __future__ import annotations

from dataclasses import dataclass

_RTO_ALPHA = 1 / 8
_RTO_BETA = 1 / 4
# Clock granularity G of RFC 6298: our clock is a float, so it only keeps RTO > SRTT.
_CLOCK_GRANULARITY = 0.001


@dataclass(slots=True)
class RtoEstimator:
    initial: float = 1.0
    minimum: float = 0.2
    maximum: float = 60.0
    srtt: float | None = None
    rttvar: float = 0.0
    rto: float = 0.0

    def __post_init__(self) -> None:
        self.rto = self.initial

    def on_rtt_measurement(self, rtt: float) -> None:
        """Feed a sample from a chunk sent exactly once (Karn's algorithm is the caller's job)."""
        rtt = max(rtt, 0.0)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = (1 - _RTO_BETA) * self.rttvar + _RTO_BETA * abs(self.srtt - rtt)
            self.srtt = (1 - _RTO_ALPHA) * self.srtt + _RTO_ALPHA * rtt
        self.rto = self._clamp(self.srtt + max(_CLOCK_GRANULARITY, 4 * self.rttvar))

    def back_off(self) -> None:
        """RFC 9260 section 6.3.3 E2: double the RTO after a T3-rtx expiry."""
        self.rto = self._clamp(self.rto * 2)

    def _clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)


class CongestionController:
    """cwnd/ssthresh bookkeeping for the single destination of a WebRTC association."""

    def __init__(self, mtu: int, initial_ssthresh: int) -> None:
        self.mtu = mtu
        # RFC 9260 section 7.2.1: initial cwnd = min(4*MTU, max(2*MTU, 4380)).
        self.cwnd = min(4 * mtu, max(2 * mtu, 4380))
        self.ssthresh = max(initial_ssthresh, 4 * mtu)
        self.partial_bytes_acked = 0
        self.fast_recovery_exit_tsn: int | None = None

    @property
    def in_fast_recovery(self) -> bool:
        return self.fast_recovery_exit_tsn is not None

    def on_sack(
        self, bytes_acked: int, cumulative_advanced: bool, flight_size_before: int, all_acked: bool
    ) -> None:
        """RFC 9260 sections 7.2.1 and 7.2.2 for one SACK. `bytes_acked` counts every chunk
        newly acknowledged, by the Cumulative TSN Ack or by Gap Ack Blocks; no growth
        while in fast recovery."""
        if not self.in_fast_recovery and bytes_acked > 0:
            fully_utilized = flight_size_before + self.mtu >= self.cwnd
            if self.cwnd <= self.ssthresh:
                # Slow start grows only when the Cumulative TSN Ack moves (7.2.1).
                if cumulative_advanced and fully_utilized:
                    self.cwnd += min(bytes_acked, self.mtu)
            else:
                self.partial_bytes_acked += bytes_acked
                if self.partial_bytes_acked >= self.cwnd:
                    if fully_utilized:
                        self.partial_bytes_acked -= self.cwnd
                        self.cwnd += self.mtu
                    else:
                        self.partial_bytes_acked = self.cwnd
        if all_acked:
            self.partial_bytes_acked = 0

    def on_retransmission_timeout(self) -> None:
        """RFC 9260 section 7.2.3: collapse to one MTU."""
        self.ssthresh = max(self.cwnd // 2, 4 * self.mtu)
        self.cwnd = self.mtu
        self.partial_bytes_acked = 0
        self.fast_recovery_exit_tsn = None

    def enter_fast_recovery(self, highest_outstanding_tsn: int) -> bool:
        """RFC 9260 section 7.2.4; returns False if already recovering (no second halving)."""
        if self.in_fast_recovery:
            return False
        self.ssthresh = max(self.cwnd // 2, 4 * self.mtu)
        self.cwnd = self.ssthresh
        self.partial_bytes_acked = 0
        self.fast_recovery_exit_tsn = highest_outstanding_tsn
        return True

    def exit_fast_recovery(self) -> None:
        self.fast_recovery_exit_tsn = None

    def on_idle(self, idle_for: float, rto: float) -> None:
        """RFC 9260 section 7.2.1: halve cwnd (not below 4 MTU) per RTO without sending."""
        periods = int(idle_for // rto) if rto > 0 else 0
        for _ in range(min(periods, 32)):
            self.cwnd = min(self.cwnd, max(self.cwnd // 2, 4 * self.mtu))
