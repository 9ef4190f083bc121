"""The payment-rail port: how the execution service sends money out, whatever the rail.

Every call carries an idempotency key; a rail must return the first outcome for a key it
has seen, so a retry after a lost answer never pays twice. Recalling a payment is a
request, not a right: ACH allows a reversal of an erroneous entry within five banking
days, SEPA a recall the payee may refuse, a wire usually none. A rail says what it can.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum


class RailOutcome(StrEnum):
    """What the rail said: paid, refused, no answer, or (for ``status``) never heard of it."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class RailResult:
    outcome: RailOutcome
    reference: str | None = None
    reason: str | None = None


class PaymentRail(ABC):
    """An ACH/wire/SEPA-like rail."""

    @abstractmethod
    def send(self, *, key: str, payee: str, amount_minor: int, currency: str) -> RailResult:
        """Ask the rail to pay; UNKNOWN when the answer was lost or timed out."""

    @abstractmethod
    def status(self, key: str) -> RailResult:
        """What the rail recorded for ``key``: ACCEPTED, REJECTED, NOT_FOUND or UNKNOWN."""

    def recall(self, key: str) -> RailResult:
        """Ask for the payment under ``key`` back: ACCEPTED when the money came back,
        REJECTED (with the reason) when it did not or cannot. The same key always gets the
        same answer. A rail that cannot recall says so, as this default does."""
        return RailResult(RailOutcome.REJECTED, reason="this rail cannot recall payments")
