"""The decision path with a scripted stand-in agent, recorded in the audit chain."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from finbot.bootstrap import App
from finbot.domain.decisions import Outcome, ToolCall
from finbot.services.decisions import DecisionService
from tests.stand_ins import FACTS, INVOICE, POLICY, ScriptedAgent, decision_record


@pytest.fixture
def gate(app: App) -> DecisionService:
    return DecisionService(app.uow, app.audit)


def test_an_approved_decision_records_everything_the_agent_saw(app: App,
                                                               gate: DecisionService) -> None:
    agent = ScriptedAgent()
    decision = gate.decide("d-1", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                           agent=agent)
    assert decision.outcome is Outcome.APPROVE
    data = decision_record(app, "d-1")
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
    assert "max_single_payment" in decision_record(app, "d-2")["reasoning"]


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
    assert decision_record(app, "d-3")["error"] == decision.error


def test_what_the_chain_cannot_store_exactly_is_kept_as_its_repr(
        app: App, gate: DecisionService) -> None:
    """A tool result holding NaN or an object is recorded as its repr, field by field; the
    rest of the proposal is recorded as it is, and the record is written."""
    calls = (ToolCall("score", {"invoice_id": "INV-1"}, {"score": float("nan")}),
             ToolCall("history", {"vendor_id": "v-1"}, {"count": 3}),
             ToolCall("odd", {"at": object()}, None))
    gate.decide("d-9", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                agent=ScriptedAgent(tool_calls=calls))
    stored = decision_record(app, "d-9")["proposal"]["tool_calls"]
    assert stored[0] == {"name": "score", "arguments": {"invoice_id": "INV-1"},
                         "result": "{'score': nan}"}
    assert stored[1] == {"name": "history", "arguments": {"vendor_id": "v-1"},
                         "result": {"count": 3}}
    assert stored[2]["arguments"].startswith("{'at': <object object")
    assert app.audit.verify() == []


def test_a_soft_rule_turns_the_agents_approve_into_an_escalation(
        app: App, gate: DecisionService) -> None:
    decision = gate.decide("d-4", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                           agent=ScriptedAgent(confidence=0.4))
    assert decision.outcome is Outcome.ESCALATE
    assert "low_confidence" in {r.rule for r in decision.rules if r.fired}


def _logged(app: App, decision_id: str) -> bool:
    with app.uow() as uow:
        return uow.audit.by_id(decision_id) is not None


def test_decisions_made_in_a_group_are_written_together_in_the_order_made(app: App) -> None:
    """Inside ``grouped`` a decision waits (no record, no seq) until the group is written;
    then every waiting record goes in one transaction, in the order the decisions were
    made, and the chain verifies."""
    opened = []

    def counted_uow() -> Any:
        opened.append(1)
        return app.uow()
    gate = DecisionService(counted_uow, app.audit)
    with gate.grouped() as group:
        made = [gate.decide(f"g-{n}", policy=POLICY, facts=FACTS,
                            snapshot={"invoice": INVOICE}, agent=ScriptedAgent())
                for n in range(3)]
        assert [d.record_seq for d in made] == [None, None, None]
        assert len(group) == 3
        assert not any(_logged(app, f"g-{n}") for n in range(3))
        group.write()
        assert len(group) == 0
        assert group.failed == {}
    assert len(opened) == 1  # one transaction for the three
    with app.uow() as uow:
        seqs = [uow.audit.by_id(f"g-{n}").seq for n in range(3)]  # type: ignore[union-attr]
    assert seqs == sorted(seqs)
    assert seqs[-1] - seqs[0] == 2
    assert app.audit.verify() == []
    alone = gate.decide("g-alone", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                        agent=ScriptedAgent())  # outside the block: written at once
    assert alone.record_seq == seqs[-1] + 1


def test_a_record_that_cannot_be_written_holds_back_no_other(app: App) -> None:
    """One decision's writes fail: the group's transaction is rolled back and each record
    is written alone, so the others are logged and the failing one is kept in ``failed``
    (its caller retries it), never half written."""
    def broken(_uow: Any, _data: Any) -> None:
        raise ValueError("the caller's bookkeeping failed")
    gate = DecisionService(app.uow, app.audit)
    with gate.grouped() as group:
        for n in range(3):
            gate.decide(f"h-{n}", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                        agent=ScriptedAgent(), along=broken if n == 1 else None)
        group.write()
        assert list(group.failed) == ["h-1"]
        assert isinstance(group.failed["h-1"], ValueError)
    assert [_logged(app, f"h-{n}") for n in range(3)] == [True, False, True]
    assert app.audit.verify() == []


def test_the_records_left_waiting_are_written_when_the_block_ends(app: App) -> None:
    gate = DecisionService(app.uow, app.audit)
    with gate.grouped():
        gate.decide("w-1", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                    agent=ScriptedAgent())
        gate.write_waiting()  # a reader that must see it writes it first
        assert _logged(app, "w-1")
        gate.decide("w-2", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
                    agent=ScriptedAgent())
        assert not _logged(app, "w-2")
    assert _logged(app, "w-2")
