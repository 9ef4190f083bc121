"""Decision and review records reduced to the few values the monitor measures.

Amounts become floats here, and only here: they feed distribution statistics (quantile
bins, the KS test), never arithmetic on money, which stays Decimal everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACTING_MODES = frozenset({"live", "fallback"})
"""The modes whose decisions act on payments; shadow and training decisions never do."""


@dataclass(frozen=True)
class DecisionPoint:
    """One decision as the monitor sees it."""

    decision_id: str
    at_us: int
    agent_id: str
    stage: str
    mode: str
    outcome: str
    vendor_id: str
    amount: float
    confidence: float | None
    agent_outcome: str | None
    latency_us: int | None

    @property
    def acting(self) -> bool:
        return self.mode in ACTING_MODES


@dataclass(frozen=True)
class Settled:
    """A review that settled an escalation, beside what the agent had proposed."""

    decision_id: str
    approved: bool
    agent_outcome: str | None


def decision_point(decision_id: str, at_us: int, data: Mapping[str, Any]
                   ) -> DecisionPoint | None:
    """The point of a decision record's ``data``; None for a drill (never a real decision)."""
    if data.get("drill"):
        return None
    proposal = data.get("proposal") or {}
    payment = data.get("payment") or {}
    confidence = proposal.get("confidence")
    return DecisionPoint(
        decision_id, at_us, str(data.get("agent_id", "")), str(data.get("stage", "payment")),
        str(data.get("mode", "")), str(data.get("outcome", "")),
        str(payment.get("vendor_id", "")), _number(payment.get("amount")),
        float(confidence) if isinstance(confidence, int | float) else None,
        str(proposal["outcome"]) if proposal.get("outcome") else None,
        model_time_us(data))


def settled(review: Mapping[str, Any], decision: Mapping[str, Any] | None,
            decision_id: str) -> Settled | None:
    """The settlement a review record states, or None if it left the item pending."""
    status = review.get("status")
    if status not in ("approved", "rejected"):
        return None
    proposal = (decision or {}).get("proposal") or {}
    agent = proposal.get("outcome")
    return Settled(decision_id, status == "approved", str(agent) if agent else None)


def model_time_us(data: Mapping[str, Any]) -> int | None:
    """The agent's time on one decision: its model exchanges' recorded latencies summed;
    None when no model was asked (a BLOCK) or none was recorded."""
    exchanges = (data.get("proposal") or {}).get("model_exchanges") or []
    spent = [e.get("latency_us") for e in exchanges if isinstance(e, dict)]
    known = [int(t) for t in spent if isinstance(t, int)]
    return sum(known) if known else None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
