"""A scripted stand-in agent and the payment facts the gate tests share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from finbot.domain.decisions import ModelVersion, Proposal, snapshot_hash
from finbot.domain.policy import policy_from_mapping
from finbot.policy.guardrails import PaymentFacts, VendorFacts

if TYPE_CHECKING:
    from finbot.bootstrap import App

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
POLICY = policy_from_mapping("p7", {"hard": {"max_single_payment": "10000",
                                             "max_daily_volume": "25000",
                                             "max_30d_volume": "100000"}})
VENDOR = VendorFacts("v-1", "Acme", "US", NOW - timedelta(days=400), paid_before=True,
                     avg_daily_volume=Decimal("1000"), timezone="UTC")
INVOICE = {"invoice_number": "INV-1", "amount": "1200.00", "currency": "USD", "vendor_id": "v-1"}
FACTS = PaymentFacts(INVOICE, Decimal("1200.00"), "USD", VENDOR, NOW)


class ScriptedAgent:
    """A stand-in agent that answers what the test scripts, and counts its calls."""

    agent_id = "invoice-agent"

    def __init__(self, **answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    def propose(self, snapshot: Mapping[str, Any]) -> Proposal:
        self.calls += 1
        if "raise" in self.answer:
            raise self.answer["raise"]
        base = Proposal(self.agent_id, ModelVersion("invoice/1", "scripted", "c" * 64, "p7"),
                        snapshot, snapshot_hash(snapshot), "APPROVE", 0.93,
                        "INV-1 for 1200.00 USD matches its purchase order and history")
        return replace(base, **self.answer)


def decision_record(app: App, decision_id: str) -> dict[str, Any]:
    """The data of a decision's record in the audit chain (the test fails if it is absent)."""
    with app.uow() as uow:
        found = uow.audit.by_id(decision_id)
    assert found is not None, f"decision {decision_id} is not in the log"
    return dict(found.data)
