"""The human review queue on both backends: escalations wait, reviewers decide, the log
records it, and only approved escalations can be paid."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.domain.decisions import Mode, Outcome
from finbot.domain.errors import ExecutionRefused
from finbot.domain.ledger import AccountFlag, TransferRequest
from finbot.domain.policy import policy_from_mapping
from finbot.domain.reviews import ConflictOfInterest, ReviewRefused, ReviewStatus
from finbot.entrypoints.cli.app import cli
from finbot.services.decisions import DecisionService
from tests.stand_ins import FACTS, INVOICE, ScriptedAgent
from tests.workflow_kit import clean_vendor, run_until_idle

PAYABLE, BANK = "vendor:001:payable:USD", "company:bank"
POLICY = policy_from_mapping("p8", {
    "hard": {"max_single_payment": "10000", "max_daily_volume": "25000",
             "max_30d_volume": "100000"},
    "review": {"four_eyes_above": "1000", "urgent_above": "5000"}})
runner = CliRunner()
WHY = "invoice matches the signed contract; PO 4411 covers it"


@pytest.fixture
def books(app: App) -> App:
    app.policies.publish({"hard": {"max_single_payment": "10000", "max_daily_volume": "25000",
                                   "max_30d_volume": "100000"}})
    app.ledger.open_account(BANK, name="Bank", type="asset", currency="USD")
    app.ledger.open_account("company:expenses", name="Expenses", type="expense", currency="USD")
    app.ledger.open_account(PAYABLE, name="Vendor 1", type="liability", currency="USD",
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    app.ledger.transfer(TransferRequest("invoice-1", "company:expenses", PAYABLE, "5000", "USD"))
    return app


def escalate(app: App, decision_id: str, *, amount: str = "1200.00",
             mode: Mode = Mode.LIVE) -> None:
    facts = replace(FACTS, amount=Decimal(amount), payee_account=PAYABLE)
    decision = DecisionService(app.uow, app.audit).decide(
        decision_id, policy=POLICY, facts=facts, snapshot={"invoice": INVOICE},
        agent=ScriptedAgent(confidence=0.4), mode=mode)
    assert decision.outcome is Outcome.ESCALATE


def pay(app: App, decision_id: str, amount: str = "1200.00") -> str:
    saga = app.payments.execute_payment(f"pay-{decision_id}", payee_account=PAYABLE,
                                        source_account=BANK, amount=amount, currency="USD",
                                        decision_id=decision_id)
    return saga.state.value


def test_an_escalation_waits_in_the_queue_with_its_reason_and_sla(books: App) -> None:
    escalate(books, "d-1")
    [item] = books.reviews.pending()
    assert item.decision_id == "d-1"
    assert "low_confidence" in item.reason
    assert item.required_approvals == 2
    assert item.due_at_us > item.created_at_us
    assert books.reviews.depth().pending == 1


def test_an_unreviewed_escalation_cannot_be_paid(books: App) -> None:
    escalate(books, "d-1")
    with pytest.raises(ExecutionRefused, match="not been approved"):
        pay(books, "d-1")


def test_four_eyes_two_reviewers_approve_then_the_payment_executes(books: App) -> None:
    escalate(books, "d-1")
    first = books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    assert first.status is ReviewStatus.AWAITING_SECOND
    with pytest.raises(ExecutionRefused):
        pay(books, "d-1")
    with pytest.raises(ReviewRefused):
        books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    second = books.reviews.review("d-1", reviewer_id="bob", verdict="APPROVE", rationale=WHY)
    assert second.status is ReviewStatus.APPROVED
    assert pay(books, "d-1") == "completed"
    assert books.reviews.depth().pending == 0
    assert books.audit.verify() == []


def test_a_rejected_escalation_is_never_paid(books: App) -> None:
    escalate(books, "d-1", amount="500.00")
    settled = books.reviews.review("d-1", reviewer_id="ann", verdict="REJECT", rationale=WHY)
    assert settled.status is ReviewStatus.REJECTED
    with pytest.raises(ExecutionRefused):
        pay(books, "d-1", amount="500.00")
    with pytest.raises(ReviewRefused):
        books.reviews.review("d-1", reviewer_id="bob", verdict="APPROVE", rationale=WHY)


def test_a_reviewer_who_belongs_to_the_vendor_is_refused(books: App) -> None:
    escalate(books, "d-1", amount="500.00")
    books.reviews.add_member("ann", "v-1")
    with pytest.raises(ConflictOfInterest):
        books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    assert books.reviews.show("d-1")[1] == []


def test_every_review_is_a_log_record_and_a_training_label(books: App) -> None:
    escalate(books, "d-1", amount="500.00")
    books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    with books.uow() as uow:
        kinds = [r.kind for r in uow.audit.for_decision("d-1")]
    assert kinds == ["decision", "review"]
    [label] = list(books.reviews.labels())
    assert label["human_verdict"] == "APPROVE"
    assert label["agent_outcome"] == "APPROVE"
    assert label["gate_outcome"] == "ESCALATE"
    assert label["input_snapshot"] == {"invoice": INVOICE}
    assert label["rationale"] == WHY


def test_shadow_escalations_are_not_queued(books: App) -> None:
    escalate(books, "d-1", mode=Mode.SHADOW)
    assert books.reviews.pending() == []


def test_the_database_refuses_edits_and_a_second_review_by_the_same_reviewer(
        books: App) -> None:
    escalate(books, "d-1")
    books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    for statement in ("UPDATE reviews SET verdict = 'REJECT'", "DELETE FROM reviews",
                      "INSERT INTO reviews VALUES ('r2', 'd-1', 'ann', 'APPROVE', 'again', 1)"):
        with books.engine.begin() as conn, pytest.raises(DBAPIError):
            conn.execute(text(statement))


def test_the_review_commands_work_the_queue(books: App, env: None, tmp_path: Path) -> None:
    escalate(books, "d-1", amount="500.00")
    listed = runner.invoke(cli, ["review", "list"])
    assert "d-1" in listed.output
    assert "1 waiting" in listed.output
    short = runner.invoke(cli, ["review", "approve", "d-1", "--reviewer", "ann",
                                "--rationale", "ok"])
    assert short.exit_code == 2
    assert "rationale" in short.output
    done = runner.invoke(cli, ["review", "approve", "d-1", "--reviewer", "ann",
                               "--rationale", WHY])
    assert done.exit_code == 0
    assert "approved" in done.output
    labels = runner.invoke(cli, ["review", "labels", "--out", str(tmp_path / "l.jsonl")])
    assert labels.exit_code == 0
    assert "1 labels" in labels.output
    assert json.loads((tmp_path / "l.jsonl").read_text())["human_verdict"] == "APPROVE"


def test_an_approved_escalation_flows_on_to_execution_once(books: App) -> None:
    escalate(books, "d-1")
    books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    run_until_idle(books, timeout_s=10)
    assert books.payments.resume_all() == []  # one approval of two: nothing started
    books.reviews.review("d-1", reviewer_id="bob", verdict="APPROVE", rationale=WHY)
    run_until_idle(books, timeout_s=10)
    saga = books.payments.get("pay-d-1")
    assert saga.state.value == "completed"
    assert saga.amount == 120000
    with books.uow() as uow:  # redelivery after a lost offset starts nothing new
        uow.outbox.save_offset("executor", (-1, 0))
        uow.commit()
    run_until_idle(books, timeout_s=10)
    assert books.consumer("executor").dead_letters() == []
    assert books.queries.account(PAYABLE).balances.debits_posted == 120000


def test_the_executor_pays_an_approved_escalation_as_it_takes_it_without_waiting(
        books: App) -> None:
    escalate(books, "d-2")
    for reviewer in ("ann", "bob"):
        books.reviews.review("d-2", reviewer_id=reviewer, verdict="APPROVE", rationale=WHY)
    executor = books.consumer("executor")
    while executor.poll():  # the consumer alone: no upkeep round runs
        pass
    assert books.payments.get("pay-d-2").state.value == "completed"
    assert books.queries.account(PAYABLE).balances.debits_posted == 120000


def test_the_reviews_of_another_tenants_escalation_are_told_to_that_tenant(
        books: App) -> None:
    books.vendor_work.register_vendor(clean_vendor(FACTS.vendor.vendor_id, tenant="globex"))
    escalate(books, "d-1")
    for reviewer in ("ann", "bob"):
        books.reviews.review("d-1", reviewer_id=reviewer, verdict="APPROVE", rationale=WHY)
    with books.uow() as uow:
        told = [(e.type, e.tenant) for _, e in uow.outbox.after((-1, 0), limit=1000)
                if e.type in ("review.recorded", "escalation.approved")]
    assert told == [("review.recorded", "globex"), ("review.recorded", "globex"),
                    ("escalation.approved", "globex")]
