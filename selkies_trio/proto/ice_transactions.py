"""Outstanding connectivity-check and consent transactions of an ICE agent.

A check is retransmitted with the STUN back-off (RFC 8489 section 6.2.1, with
the RTO capped as RFC 8445 section 14.3 allows) until it is answered or has been
sent `max_transmissions` times, which fails it. A check cancelled by a triggered
check (RFC 8445 section 7.3.1.4) and a consent check (RFC 7675, which paces its
own checks) are not retransmitted; they only wait a while for a late answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ice_candidate import Address
from .ice_checklist import CandidatePair


@dataclass
class CheckTransaction:
    transaction_id: bytes
    pair: CandidatePair
    request: bytes
    nominating: bool
    sent_as_controlling: bool
    is_consent: bool
    deadline: float  # Next retransmission, or when to forget a transaction that is not retried.
    rto: float
    transmissions: int = 1
    cancelled: bool = False


class Transactions:
    def __init__(self, initial_rto: float, max_rto: float, max_transmissions: int) -> None:
        self._initial_rto = initial_rto
        self._max_rto = max_rto
        self._max_transmissions = max_transmissions
        self._pending: dict[bytes, CheckTransaction] = {}

    def __contains__(self, transaction_id: object) -> bool:
        return transaction_id in self._pending

    def __bool__(self) -> bool:
        return bool(self._pending)

    def start(
        self,
        transaction_id: bytes,
        pair: CandidatePair,
        request: bytes,
        *,
        nominating: bool,
        controlling: bool,
        now: float,
        consent_wait: float | None = None,
    ) -> None:
        """Record a request just sent; `consent_wait` marks a consent check kept that long."""
        self._pending[transaction_id] = CheckTransaction(
            transaction_id=transaction_id,
            pair=pair,
            request=request,
            nominating=nominating,
            sent_as_controlling=controlling,
            is_consent=consent_wait is not None,
            deadline=now + (consent_wait if consent_wait is not None else self._initial_rto),
            rto=self._initial_rto,
        )

    def pop(self, transaction_id: bytes) -> CheckTransaction | None:
        return self._pending.pop(transaction_id, None)

    def cancel_checks_of(self, pair: CandidatePair, now: float) -> None:
        for transaction in self._pending.values():
            if (
                transaction.pair is pair
                and not transaction.is_consent
                and not transaction.cancelled
            ):
                transaction.cancelled = True
                transaction.deadline = now + self._max_rto

    def clear(self) -> None:
        self._pending.clear()

    def deadlines(self) -> list[float]:
        return [transaction.deadline for transaction in self._pending.values()]

    def advance(self, now: float) -> tuple[list[tuple[bytes, Address]], list[CheckTransaction]]:
        """Retransmissions due now, and the checks that just ran out of attempts."""
        resend: list[tuple[bytes, Address]] = []
        timed_out: list[CheckTransaction] = []
        for transaction in list(self._pending.values()):
            if transaction.deadline > now:
                continue
            if transaction.is_consent or transaction.cancelled:
                del self._pending[transaction.transaction_id]
            elif transaction.transmissions >= self._max_transmissions:
                del self._pending[transaction.transaction_id]
                timed_out.append(transaction)
            else:
                transaction.transmissions += 1
                transaction.rto = min(transaction.rto * 2, self._max_rto)
                transaction.deadline = now + transaction.rto
                resend.append((transaction.request, transaction.pair.remote_address))
        return resend, timed_out
