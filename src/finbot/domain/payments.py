"""Payment sagas: the states a payment passes through and the step each state calls for.

A payment reserves the amount (a pending transfer on the vendor's payable), sends it
through a payment rail, then posts the reservation on success or voids it on failure.
Every step is idempotent (its ids derive from the payment id), so a saga interrupted
anywhere is finished by running the step its persisted state names again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SagaState(StrEnum):
    """Where a payment stands; each non-final state names the next step to run."""

    STARTED = "started"          # next: reserve
    RESERVED = "reserved"        # next: send through the rail
    SENDING = "sending"          # rail call in flight: send again with the same key
    UNKNOWN = "unknown"          # rail answer lost: ask the rail, never guess
    SENT = "sent"                # rail accepted: post the reservation
    RAIL_FAILED = "rail_failed"  # rail refused: void the reservation
    COMPLETED = "completed"      # paid once; ledger posted
    FAILED = "failed"            # nothing paid; reservation voided or never made
    NEEDS_ATTENTION = "needs_attention"  # paid, but the reservation could not be posted

    @property
    def final(self) -> bool:
        return self in (SagaState.COMPLETED, SagaState.FAILED, SagaState.NEEDS_ATTENTION)


COMPENSATIONS: dict[SagaState, str] = {
    SagaState.STARTED: "nothing to undo: no reservation exists yet",
    SagaState.RESERVED: "void the reservation",
    SagaState.SENDING: "ask the rail; void the reservation only if the rail never paid",
    SagaState.UNKNOWN: "ask the rail; void the reservation only if the rail never paid",
    SagaState.SENT: "none: money has left; post the reservation (reverse it with a refund)",
    SagaState.RAIL_FAILED: "void the reservation",
}
"""What undoing each state means; recorded in the step log before the forward step runs."""


@dataclass(frozen=True)
class Saga:
    """A payment saga as persisted; ``version`` guards every transition."""

    id: str
    state: SagaState
    payee_account: str
    source_account: str
    amount: int
    currency: str
    created_at: int
    updated_at: int
    version: int = 0
    attempts: int = 0
    rail_reference: str | None = None
    error: str | None = None
    decision_id: str | None = None

    @property
    def reserve_id(self) -> str:
        return f"saga:{self.id}:reserve"

    @property
    def post_id(self) -> str:
        return f"saga:{self.id}:post"

    @property
    def void_id(self) -> str:
        return f"saga:{self.id}:void"

    @property
    def rail_key(self) -> str:
        return f"saga:{self.id}:rail"


def accrual_id(decision_id: str) -> str:
    """The ledger transfer that accrues the invoice a payment decision pays (expense
    debited, the vendor's payable credited) before the saga pays it out."""
    return f"accrue:{decision_id}"


@dataclass(frozen=True)
class SagaStep:
    """One append-only line of a saga's history: intent, outcome or compensation."""

    saga_id: str
    step: str
    status: str
    detail: dict[str, object]
    timestamp: int
