"""Consent freshness timers (RFC 7675 section 5.1) for the selected candidate pair.

Once media may flow, the agent sends a Binding request on the selected pair every
Tc (5 s) randomised to 0.8..1.2 Tc so that peers do not synchronise, and consent
expires when no authenticated success response has arrived for 30 s. This
module only keeps the clock arithmetic; the agent sends the checks.
"""

from __future__ import annotations

from collections.abc import Callable


class ConsentFreshness:
    def __init__(
        self, started_at: float, interval: float, timeout: float, random: Callable[[int], bytes]
    ) -> None:
        self._interval = interval
        self._timeout = timeout
        self._random = random
        self.expires_at = started_at + timeout
        self.next_check_at = started_at + self._next_delay()

    def _next_delay(self) -> float:
        fraction = int.from_bytes(self._random(4), "big") / 2**32
        return self._interval * (0.8 + 0.4 * fraction)

    def refreshed(self, now: float) -> None:
        """An authenticated success response arrived on the selected pair."""
        self.expires_at = max(self.expires_at, now + self._timeout)

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def check_due(self, now: float) -> bool:
        """Whether to send a consent check now; if so, the next one is scheduled."""
        if now < self.next_check_at:
            return False
        self.next_check_at = now + self._next_delay()
        return True

    def deadlines(self) -> list[float]:
        return [self.next_check_at, self.expires_at]
