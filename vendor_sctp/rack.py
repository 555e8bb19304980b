"""Time-based loss detection for DATA chunks: RACK (RFC 8985) applied to SCTP.

RFC 9260 section 7.2.4 declares a chunk lost after three SACKs report it missing.
For an interactive channel that is slow or never: at 100 messages a second three
more messages take 30 ms, and a message nobody follows is repaired only by
T3-rtx (at least `rto_min`, and cwnd collapses to one MTU). RACK asks a better
question of the same SACKs: was data sent after this chunk acknowledged, and has
this chunk had a round trip plus a reordering window to arrive? Then it is lost.

- `xmit_ts` is the latest send time of any chunk acknowledged so far (by the
  Cumulative TSN Ack or a Gap Ack Block), `rtt` the round trip measured on it.
- A chunk in flight that was sent no later than `xmit_ts` is lost once
  `now >= sent_at + rtt + reordering_window`; until then its deadline arms the
  loss-detection timer.
- The reordering window starts at a quarter of the minimum RTT (RFC 8985 section
  6.2.4), never above the smoothed RTT; the receiver reporting duplicate TSNs
  (our retransmission was not needed) widens it by that much, at most once per
  round trip, and it narrows again after 16 recoveries without such a report.

The classic three-miss rule stays beside it (it can only be quicker), and
T3-rtx stays the last resort. RFC 8961 (BCP 233) allows such time-based
detectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Below this the loss-detection timer would only chase the clock's granularity.
_MIN_REORDERING_WINDOW = 0.001
_MAX_WINDOW_MULTIPLIER = 4
_RECOVERIES_BEFORE_NARROWING = 16


@dataclass(slots=True)
class Rack:
    xmit_ts: float = -math.inf
    rtt: float = 0.0
    min_rtt: float = math.inf
    window_multiplier: int = 1
    _widened_at: float = -math.inf
    _recoveries_since_widening: int = 0

    def on_acked(self, sent_at: float, retransmitted: bool, now: float) -> None:
        """The newest-sent chunk a SACK acknowledged for the first time."""
        rtt = now - sent_at
        if retransmitted and rtt < self.min_rtt:
            # Too soon for the retransmission: the ack is for an earlier transmission,
            # so neither its send time nor this RTT can be trusted (section 6.2 step 2).
            return
        self.min_rtt = min(self.min_rtt, rtt)
        if sent_at >= self.xmit_ts:
            self.xmit_ts = sent_at
            self.rtt = rtt

    def reordering_window(self, srtt: float | None) -> float:
        if math.isinf(self.min_rtt):
            return _MIN_REORDERING_WINDOW
        window = self.window_multiplier * self.min_rtt / 4
        if srtt is not None:
            window = min(window, srtt)
        return max(window, _MIN_REORDERING_WINDOW)

    def loss_deadline(self, sent_at: float, srtt: float | None) -> float | None:
        """When a chunk sent at `sent_at` counts as lost; None while nothing sent after
        it has been acknowledged."""
        if sent_at > self.xmit_ts:
            return None
        return sent_at + self.rtt + self.reordering_window(srtt)

    def on_duplicates_reported(self, now: float, srtt: float | None) -> None:
        """The peer received a TSN twice: a retransmission was spurious (reordering)."""
        if srtt is not None and now - self._widened_at < srtt:
            return
        self._widened_at = now
        self._recoveries_since_widening = 0
        self.window_multiplier = min(self.window_multiplier + 1, _MAX_WINDOW_MULTIPLIER)

    def on_recovery(self) -> None:
        self._recoveries_since_widening += 1
        if self._recoveries_since_widening >= _RECOVERIES_BEFORE_NARROWING:
            self._recoveries_since_widening = 0
            self.window_multiplier = 1
