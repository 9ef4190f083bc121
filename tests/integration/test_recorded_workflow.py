"""The invoice workflow on the OpenAI-compatible provider, replayed from a recorded model
conversation with no server listening: the same decisions word for word, the invoice paid
once, every recorded exchange used; a past decision re-run exactly from its audit record;
and an invoice the recording never saw escalating instead of being paid.

The cassette is written by ``tests/cassettes/record_invoice_workflow.py``; re-record it
whenever an agent's prompt, tools or the fraud model change what the model is shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest
import time_machine

from finbot.adapters.rails.simulated import SimulatedRail
from finbot.agents import invoice
from finbot.agents.proposer import ModelAgent
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.payments import SagaState
from finbot.execution.escalations import payment_id_of
from finbot.llm.recording import Cassette, Exchange, ReplayModel, ReplayTransport
from finbot.services.orchestrator import payable_account
from tests.cassettes.record_invoice_workflow import (
    CASSETTE,
    FROZEN_AT,
    decisions,
    model_router,
    run_workflow,
    the_invoice,
)
from tests.workflow_kit import small_scorer

NOBODY_LISTENS = "http://127.0.0.1:9/v1"
"""The provider's base URL on replay: nothing answers there, the cassette does."""
MODEL_NAME = "openai-compatible:llama3.2:3b"
RECORDED = {
    "onboarding:v-acme:onboarding": (
        "APPROVE", 0.9, "Acme Office Supplies Inc (US): the tax id is a valid US EIN, the "
        "routing number passes its ABA checksum, all required documents are uploaded, no "
        "sanctions match, and office supplies is not a prohibited industry."),
    "invoice:inv-1:invoice": (
        "APPROVE", 0.95, "Invoice INV-1001 for 1,200.00 USD fits the 50,000.00 USD remaining "
        "on PO-1; the vendor is active, the one line adds up, it matches no earlier invoice "
        "and it is within the 10,000.00 approval threshold."),
    "invoice:inv-1:fraud": (
        "APPROVE", 0.9, "The fraud model fraud-6e330a116fef gives a probability of 0.0008, "
        "well below the 0.5 review threshold, and no fraud rule fired: no velocity, no bank "
        "change, no split invoices, and 1,200.00 USD is under the new-payee limit."),
    "invoice:inv-1:payment": (
        "APPROVE", 0.94, "Pay INV-1001 by ACH: 1200.00 USD to payee account ***6789, sent "
        "2026-03-02 and arriving 2026-03-03, before the 2026-04-01 due date, for a 0.25 USD "
        "fee."),
}
NOTIFIED = [
    "Welcome to FinBot, Acme Office Supplies Inc. Your account is now active, so you can "
    "submit invoices in the portal.",
    "Good news: invoice INV-1001 for 1200.00 USD has been approved. Payment is scheduled; "
    "no action is needed from you.",
]


class _Tally(httpx2.BaseTransport):
    """The replay transport, noting the digest of every request it answered."""

    def __init__(self, inner: ReplayTransport) -> None:
        self.inner = inner
        self.answered: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        self.answered.append(hashlib.sha256(request.content).hexdigest())
        return response


@pytest.fixture
def replay() -> _Tally:
    return _Tally(ReplayTransport(Cassette(CASSETTE)))


@pytest.fixture
def company(settings: Settings, replay: _Tally) -> Iterator[App]:
    small_scorer()  # trained once per session, before the clock stops
    with time_machine.travel(FROZEN_AT, tick=False):
        app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer,
                        models=model_router(NOBODY_LISTENS, replay))
        yield app
        app.close()


def _run_as_recorded(app: App) -> dict[str, dict[str, Any]]:
    """Run the recorded workflow; its decisions, or a failure saying how to re-record when
    an agent now asks the model something the recording does not hold."""
    run_workflow(app, the_invoice())
    decided = decisions(app)
    diverged = {d: data["error"] for d, data in decided.items() if data["error"]}
    assert not diverged, (
        "an agent's prompt, tools or tool results changed since the recording; re-record "
        f"with `.venv/bin/python -m tests.cassettes.record_invoice_workflow`: {diverged}")
    return decided


def _said(decision: dict[str, Any]) -> tuple[str, float, str]:
    return decision["outcome"], decision["proposal"]["confidence"], decision["reasoning"]


def test_the_recorded_conversation_decides_every_step_as_it_did_then(
        company: App, replay: _Tally) -> None:
    decided = _run_as_recorded(company)
    assert {d: _said(data) for d, data in decided.items()} == RECORDED
    assert {(data["mode"], data["error"], data["proposal"]["outcome"],
             data["proposal"]["model_version"]["model_name"]) for data in decided.values()
            } == {("live", None, "APPROVE", MODEL_NAME)}
    payment = decided["invoice:inv-1:payment"]
    assert payment["proposal"]["amount"] == payment["payment"]["amount"] == "1200.00"
    with company.uow() as uow:
        notes = [(m.role, m.text) for m in uow.vendors.messages("v-acme")]
    assert notes == [("notification", text) for text in NOTIFIED]
    recorded = [entry["request_sha256"] for entry in Cassette(CASSETTE).entries]
    assert sorted(replay.answered) == sorted(recorded)  # every exchange, each once


def test_the_replayed_workflow_pays_the_invoice_once(company: App) -> None:
    _run_as_recorded(company)
    saga = company.payments.get(payment_id_of("invoice:inv-1:payment"))
    assert (saga.state, saga.amount, saga.currency) == (SagaState.COMPLETED, 120_000, "USD")
    assert isinstance(company.rail, SimulatedRail)
    assert company.rail.payments_for(saga.rail_key) == 1
    payable = company.queries.account(payable_account("v-acme", "USD")).balances
    assert payable.credits_posted == payable.debits_posted == 120_000  # accrued, then paid
    with company.uow() as uow:
        paid = uow.invoices.get("inv-1")
    assert paid is not None
    assert paid.status.value == "paid"


def test_a_past_decision_reruns_exactly_from_its_recorded_exchanges(company: App) -> None:
    record = _run_as_recorded(company)["invoice:inv-1:invoice"]
    proposal = record["proposal"]
    model = ReplayModel([Exchange.from_json(e) for e in proposal["model_exchanges"]])
    agent = ModelAgent(invoice.SPEC, model, invoice.invoice_tools(company.agent_tools),
                       policy_version=lambda: str(record["policy"]["version"]))
    with time_machine.travel(FROZEN_AT + timedelta(days=30), tick=False):
        again = agent.propose(proposal["input_snapshot"])
    assert (again.outcome, again.confidence, again.reasoning) == RECORDED[
        "invoice:inv-1:invoice"]
    assert [(c.name, c.arguments, c.result) for c in again.tool_calls] == [
        (c["name"], c["arguments"], c["result"]) for c in proposal["tool_calls"]]
    assert [c.name for c in again.tool_calls] == ["check_invoice"]
    assert (again.input_hash, again.model_version.model_name) == (proposal["input_hash"],
                                                                  MODEL_NAME)
    assert model.exhausted


def test_an_invoice_the_recording_never_saw_escalates_and_is_not_paid(
        company: App, replay: _Tally) -> None:
    run_workflow(company, the_invoice(quantity="13"))  # 1,300.00 USD, not 1,200.00
    decided = decisions(company)
    assert set(decided) == {"onboarding:v-acme:onboarding", "invoice:inv-1:invoice"}
    assert _said(decided["onboarding:v-acme:onboarding"]) == RECORDED[
        "onboarding:v-acme:onboarding"]
    refused = decided["invoice:inv-1:invoice"]
    assert (refused["outcome"], refused["reasoning"], refused["proposal"]) == (
        "ESCALATE", "the agent's proposal could not be used", None)
    assert refused["error"].startswith(f"agent_failed: ReplayDiverged: {CASSETTE} holds no "
                                       "recorded answer to this POST /v1/chat/completions")
    assert refused["review"]["required_approvals"] >= 1
    assert len(replay.answered) == 5  # onboarding and its notification only
    with company.uow() as uow:
        held = uow.invoices.get("inv-1")
        assert uow.sagas.by_decision("invoice:inv-1:payment") is None
    assert held is not None
    assert held.status.value == "escalated"
