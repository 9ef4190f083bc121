"""The decision path with a scripted stand-in agent, recorded in the audit chain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from finbot.bootstrap import App
from finbot.domain.decisions import ModelVersion, Outcome, Proposal, snapshot_hash
from finbot.domain.policy import policy_from_mapping
from finbot.policy.guardrails import PaymentFacts, VendorFacts
from finbot.services.decisions import DecisionService

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


@pytest.fixture
def gate(app: App) -> DecisionService:
    return DecisionService(app.audit)


def record(app: App, decision_id: str) -> dict[str, Any]:
    with app.uow() as uow:
        found = uow.audit.by_id(decision_id)
    assert found is not None
    return found.data


def test_an_approved_decision_records_everything_the_agent_saw(app: App,
                                                               gate: DecisionService) -> None:
    agent = ScriptedAgent()
    decision = gate.decide("d-1", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                           agent=agent)
    assert decision.outcome is Outcome.APPROVE
    data = record(app, "d-1")
    assert data["proposal"]["input_snapshot"] == {"invoice": INVOICE}
    assert data["policy"]["version"] == "p7"
    assert {r["rule"] for r in data["rules"]} >= {"max_single_payment", "velocity"}
    assert app.audit.verify() == []


def test_a_hard_rule_blocks_without_asking_the_model(app: App, gate: DecisionService) -> None:
    agent = ScriptedAgent()
    decision = gate.decide("d-2", policy=POLICY, facts=replace(FACTS, amount=Decimal("20000")),
                           snapshot={"invoice": INVOICE}, agent=agent)
    assert decision.outcome is Outcome.BLOCK
    assert agent.calls == 0
    assert "max_single_payment" in record(app, "d-2")["reasoning"]


@pytest.mark.parametrize("answer", [
    {"reasoning": ""}, {"confidence": float("nan")}, {"outcome": "PAY"},
    {"input_hash": "0" * 64}, {"raise": TimeoutError("model took too long")},
])
def test_an_unusable_proposal_escalates_and_is_recorded(app: App, gate: DecisionService,
                                                        answer: dict[str, Any]) -> None:
    decision = gate.decide("d-3", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                           agent=ScriptedAgent(**answer))
    assert decision.outcome is Outcome.ESCALATE
    assert decision.error
    assert record(app, "d-3")["error"] == decision.error


def test_a_soft_rule_turns_the_agents_approve_into_an_escalation(
        app: App, gate: DecisionService) -> None:
    decision = gate.decide("d-4", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                           agent=ScriptedAgent(confidence=0.4))
    assert decision.outcome is Outcome.ESCALATE
    assert "low_confidence" in {r.rule for r in decision.rules if r.fired}
