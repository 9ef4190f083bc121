"""Findings: what the arena's watch keeps of the detectors' hits, one per event and
detector, and the critical finding a payment that broke the policy becomes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from finbot.arena.detectors.core import Hit, Severity
from finbot.arena.effects import SettledPayment
from finbot.domain.events import Event
from finbot.privacy.redaction import redact_text

LEDGER_EFFECT = "ledger_effect"
"""The detector name of a settled payment that broke the payment policy."""
TRAINING_EFFECT = "training_effect"
"""The detector name of a payment an arena sandbox in training mode made past the
production gate: the attack's money effect, which training exists to show."""
RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}
"""Severities from least to most serious."""


@dataclass(frozen=True)
class Finding:
    """One detector's verdict on one event, as stored. ``trail``: for a money violation,
    what the payment rests on (decision, invoice, payment, amount, the violations)."""

    finding_id: str
    event_id: str
    tenant: str
    aggregate_id: str
    detector: str
    severity: Severity
    detail: str  # redacted by the detector, never raw PII
    at_us: int
    trail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def alarming(self) -> bool:
        """Warning or worse: announced, not only kept."""
        return RANK[self.severity] >= RANK["warning"]


def finding_id(event_id: str, detector: str) -> str:
    """The same id for the same event and detector, however often it is delivered."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"finbot:finding:{event_id}:{detector}"))


def findings_of(hits: Iterable[Hit], *, at_us: int) -> list[Finding]:
    """The hits as findings, one per (event, detector): a detector that fired twice on one
    event keeps its most serious severity and both details."""
    merged: dict[tuple[str, str], Finding] = {}
    for hit in hits:
        key = (hit.event_id, hit.detector)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = Finding(finding_id(*key), hit.event_id, hit.tenant, hit.aggregate_id,
                                  hit.detector, hit.severity, hit.detail, at_us)
            continue
        worst = max(earlier.severity, hit.severity, key=RANK.__getitem__)
        detail = earlier.detail if hit.detail in earlier.detail else (
            f"{earlier.detail}; {hit.detail}")
        merged[key] = Finding(earlier.finding_id, earlier.event_id, earlier.tenant,
                              earlier.aggregate_id, earlier.detector, worst, detail, at_us)
    return list(merged.values())


def money_violation(event: Event, payment: SettledPayment, violations: Sequence[str], *,
                    at_us: int, training: bool = False) -> Finding:
    """The finding of a settled payment that broke the policy, with its trail: critical,
    or (``training``: made past the production gate in a training sandbox, which waived
    the rules broken) a warning under ``training_effect``."""
    trail = {"decision_id": payment.decision_id or "", "invoice_id": payment.invoice_id,
             "payment_id": payment.payment_id, "amount": str(payment.amount),
             "currency": payment.currency, "violations": list(violations)}
    detector = TRAINING_EFFECT if training else LEDGER_EFFECT
    severity: Severity = "warning" if training else "critical"
    where = " in training mode" if training else ""
    detail = (f"payment {payment.payment_id} of {payment.amount} {payment.currency} broke "
              f"the payment policy{where}: {'; '.join(violations)}")
    return Finding(finding_id(event.event_id, detector), event.event_id, event.tenant,
                   event.aggregate_id, detector, severity, redact_text(detail), at_us, trail)
