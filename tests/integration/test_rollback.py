"""Rolling back a model version on both backends: the blast radius, compensating sagas that
restore every balance, idempotent and resumable runs, re-queued reviews, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from finbot.adapters.rails.simulated import RailBehaviour, SimulatedRail
from finbot.agents import payments as payments_agent
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.errors import ExecutionRefused, NotFound
from finbot.domain.ledger import AccountFlag, TransferRequest
from finbot.domain.payments import SagaState
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.cli.rollback import rollback_service
from finbot.execution.escalations import payment_id_of
from finbot.execution.saga import PaymentExecutor
from finbot.policy.shipped import shipped_policy
from tests import workflow_kit as kit
from tests.api_kit import add_user, sign_in, web_app

runner = CliRunner()
Balances = dict[str, tuple[int, int]]


class Interrupted(Exception):
    """The failure a test injects in the middle of a rollback."""


def _balances(app: App) -> Balances:
    """Every account's posted balance and balance with reservations; an account that
    does not exist yet counts as zero (the comparison drops zero balances)."""
    found = {a.code: (a.balance(), a.balance(posted_only=False)) for a in app.queries.accounts()}
    return {code: value for code, value in found.items() if value != (0, 0)}


def _counts(app: App) -> dict[str, Any]:
    """What a rollback could add to: the chain's head and every table it writes."""
    with app.engine.connect() as conn:
        counts: dict[str, Any] = {table: conn.execute(text(f"SELECT COUNT(*) FROM {table}")
                                                      ).scalar() for table in (
            "ledger_transfers", "ledger_accounts", "outbox", "review_queue",
            "payment_sagas", "payment_saga_steps", "rail_sim_payments")}
    with app.uow() as uow:
        counts["audit_head"] = uow.audit.head()
    return counts


def _paid(app: App, invoice_id: str, vendor_id: str, quantity: str) -> None:
    invoice = kit.clean_invoice(invoice_id, vendor_id=vendor_id, number=f"INV-{invoice_id}",
                                quantity=quantity, po_number=f"PO-{vendor_id}")
    app.vendor_work.submit_invoice(invoice)
    kit.run_until_idle(app)
    with app.uow() as uow:
        saga = uow.sagas.get(payment_id_of(f"invoice:{invoice_id}:payment"))
    assert saga is not None
    assert saga.state is SagaState.COMPLETED


@pytest.fixture
def two_versions(settings: Settings, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[tuple[App, list[Balances]]]:
    """inv-1 (vendor v-acme) paid under the payments agent's version payments/2, then
    inv-2 (vendor v-beta) under payments/3 (the same prompt; the invoice and fraud agents
    unchanged); with the balances before each payment."""
    first = bootstrap(settings, run_migrations=False, fraud_scorer=kit.small_scorer)
    kit.open_company(first)
    for vendor in (kit.clean_vendor(), kit.clean_vendor("v-beta", legal_name="Beta Paper Corp")):
        first.vendor_work.register_vendor(vendor)
        first.vendor_work.add_purchase_order(kit.purchase_order(f"PO-{vendor.vendor_id}",
                                                            vendor_id=vendor.vendor_id))
    kit.run_until_idle(first)
    before = [_balances(first)]
    _paid(first, "inv-1", "v-acme", "12")
    first.close()
    monkeypatch.setattr(payments_agent, "SPEC", replace(payments_agent.SPEC,
                                                        version="payments/3"))
    app = bootstrap(settings, run_migrations=False, fraud_scorer=kit.small_scorer)
    before.append(_balances(app))
    _paid(app, "inv-2", "v-beta", "7")
    yield app, before
    app.close()


def _rail(app: App) -> SimulatedRail:
    assert isinstance(app.rail, SimulatedRail)
    return app.rail


def _assert_sound(app: App) -> None:
    assert list(app.queries.verify()) == []
    assert app.audit.verify() == []


def test_a_dry_run_lists_exactly_the_versions_decisions_and_changes_nothing(
        two_versions: tuple[App, list[Balances]]) -> None:
    app, _ = two_versions
    counts = _counts(app)
    radius = rollback_service(app).blast_radius("payments/3")
    assert [d.decision_id for d in radius.decisions] == ["invoice:inv-2:payment"]
    [case] = radius.public()["cases"]
    assert (case["case_id"], case["standing"], case["saga_state"]) == (
        "invoice:inv-2", "settled", "completed")
    assert radius.totals() == {"settled": {"count": 1, "amounts": {"USD": "700.00"}}}
    checks = rollback_service(app).blast_radius("invoice/2")  # a check taints the payment
    assert [d.decision_id for d in checks.decisions] == ["invoice:inv-1:invoice",
                                                         "invoice:inv-2:invoice"]
    assert [r.case.payment.decision_id for r in checks.cases if r.case.payment] == [
        "invoice:inv-1:payment", "invoice:inv-2:payment"]
    assert checks.public()["vendors"] == ["v-acme", "v-beta"]
    assert checks.totals()["settled"]["amounts"] == {"USD": "1900.00"}
    assert _counts(app) == counts


def test_a_version_is_matched_by_label_model_name_or_prompt_hash_prefix(
        two_versions: tuple[App, list[Balances]]) -> None:
    app, _ = two_versions
    service = rollback_service(app)
    prompt = payments_agent.SPEC.prompt_hash
    label = rollback_service(app).blast_radius("payments/3").decisions[0].model_version
    assert label is not None
    full = f"payments/3/{label['model_name']}/{prompt[:12]}/{label['policy_version']}"
    assert [d.decision_id for d in service.blast_radius(full).decisions] == [
        "invoice:inv-2:payment"]
    by_prompt = service.blast_radius(prompt[:7])
    assert [d.decision_id for d in by_prompt.decisions] == ["invoice:inv-1:payment",
                                                            "invoice:inv-2:payment"]
    assert len(service.blast_radius(str(label["model_name"])).decisions) == 8  # 2 vendors
    with pytest.raises(NotFound):
        service.blast_radius(prompt[:6])  # too short to be a prefix
    with pytest.raises(NotFound):
        service.blast_radius("payments/3", since_us=2**62)


def test_rolling_back_a_version_restores_every_balance_and_spares_other_versions(
        two_versions: tuple[App, list[Balances]]) -> None:
    app, before = two_versions
    untouched = rollback_service(app).blast_radius("payments/2").public()
    radius = rollback_service(app).execute("payments/3")
    assert [(r.standing, r.settled_as) for r in radius.cases] == [("rolled_back", "recalled")]
    assert _balances(app) == before[1]
    _assert_sound(app)
    with app.uow() as uow:
        assert uow.reviews.get("rollback:invoice:inv-2") is not None
        assert uow.reviews.get("rollback:invoice:inv-1") is None
        saga = uow.sagas.get(payment_id_of("invoice:inv-2:payment"))
        reversal = uow.ledger.transfers_by_id({"rollback:invoice:inv-2:post"})
    assert saga is not None
    assert _rail(app).recalled(saga.rail_key)
    assert reversal["rollback:invoice:inv-2:post"].metadata["reverses"] == saga.post_id
    assert rollback_service(app).blast_radius("payments/2").public() == untouched
    with app.uow() as uow:
        steps = [r.data["step"] for r in uow.audit.records() if r.kind == "rollback"]
    assert steps == ["halt", "reverse", "requeue", "done"]


def test_a_second_run_changes_nothing(two_versions: tuple[App, list[Balances]]) -> None:
    app, before = two_versions
    rollback_service(app).execute("payments/3")
    counts = _counts(app)
    again = rollback_service(app).execute("payments/3")
    assert [r.standing for r in again.cases] == ["rolled_back"]
    assert _counts(app) == counts
    assert _balances(app) == before[1]


def test_an_interrupted_rollback_completes_when_run_again(
        two_versions: tuple[App, list[Balances]]) -> None:
    app, before = two_versions

    def fail(reached: str) -> None:
        if reached == "invoice:inv-1:reverse":
            raise Interrupted(reached)

    with pytest.raises(Interrupted):
        rollback_service(app, checkpoint=fail).execute("invoice/2")
    halfway = rollback_service(app).blast_radius("invoice/2")
    assert [r.standing for r in halfway.cases] == ["settled", "settled"]
    radius = rollback_service(app).execute("invoice/2")
    assert [r.standing for r in radius.cases] == ["rolled_back", "rolled_back"]
    assert _balances(app) == before[0]
    _assert_sound(app)
    with app.uow() as uow:
        queued = {i.decision_id for i in uow.reviews.pending(limit=10)}
    assert queued == {"rollback:invoice:inv-1", "rollback:invoice:inv-2"}
    settled = _balances(app)
    app.reviews.review("rollback:invoice:inv-1", reviewer_id="r-1", verdict="APPROVE",
                       rationale="checked the invoice against the purchase order again")
    kit.run_until_idle(app)
    assert _balances(app) == settled  # a person's verdict is recorded; nothing pays by itself


def test_a_payment_the_rail_cannot_recall_is_owed_back_as_a_recovery(
        two_versions: tuple[App, list[Balances]]) -> None:
    app, before = two_versions
    _rail(app).behaviour = RailBehaviour(recall_window_s=0)
    [report] = rollback_service(app).execute("payments/3").cases
    assert report.settled_as == "recovery"
    after = _balances(app)
    assert after.pop("company:recoveries:USD") == (70000, 70000)
    bank, _ = before[1].pop("company:bank")
    assert after.pop("company:bank") == (bank - 70000, bank - 70000)  # the money is out
    assert after == before[1]
    _assert_sound(app)


def _decided(app: App, decision_id: str, amount: str) -> None:
    """A live APPROVE by agent version test/9, as the decision path would record it."""
    version = {"agent_version": "test/9", "model_name": "m", "prompt_hash": "ab" * 32,
               "policy_version": "test"}
    app.audit.append("decision", decision_id, {
        "stage": "payment", "mode": "live", "outcome": "APPROVE", "reasoning": "test",
        "error": None, "agent_id": "payments", "rules": [],
        "proposal": {"model_version": version},
        "policy": {"version": "test", "digest": "0" * 64, "max_single_payment": "100000"},
        "payment": {"vendor_id": "v-1", "amount": amount, "currency": "USD",
                    "payee_account": "vendor:v-1:payable:USD"}}, decision_id=decision_id)


def test_a_payment_not_yet_sent_is_halted_and_its_reservation_released(app: App) -> None:
    app.policies.publish(shipped_policy())
    app.ledger.open_account("company:bank", name="Bank", type="asset", currency="USD")
    app.ledger.open_account("company:expenses", name="Exp", type="expense", currency="USD")
    app.ledger.open_account("vendor:v-1:payable:USD", name="V1", type="liability",
                            currency="USD", flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    app.ledger.transfer(TransferRequest("bill", "company:expenses", "vendor:v-1:payable:USD",
                                        "100", "USD"))
    _decided(app, "dec-reserved", "40")
    _decided(app, "dec-waiting", "30")
    before = _balances(app)

    def stop(reached: str) -> None:
        if reached == "reserve:after":
            raise Interrupted(reached)

    stopped = PaymentExecutor(app.uow, app.ledger, app.rail, checkpoint=stop)
    with pytest.raises(Interrupted):
        stopped.execute_payment("pay-r", payee_account="vendor:v-1:payable:USD",
                                source_account="company:bank", amount="40", currency="USD",
                                decision_id="dec-reserved")
    radius = rollback_service(app).blast_radius("test/9")
    assert [r.standing for r in radius.cases] == ["pending", "pending"]
    done = rollback_service(app).execute("test/9")
    assert [r.settled_as for r in done.cases] == ["payment_failed", "nothing_paid"]
    assert app.payments.get("pay-r").state is SagaState.FAILED
    assert _rail(app).payments_for(app.payments.get("pay-r").rail_key) == 0
    assert _balances(app) == before
    with pytest.raises(ExecutionRefused, match="rolled back"):
        app.payments.execute_payment("pay-w", payee_account="vendor:v-1:payable:USD",
                                     source_account="company:bank", amount="30",
                                     currency="USD", decision_id="dec-waiting")
    _assert_sound(app)


def test_the_command_has_help_and_answers_bad_input_clearly(env: None, app: App) -> None:
    helped = runner.invoke(cli, ["rollback", "--help"])
    assert helped.exit_code == 0
    assert "--model-version" in helped.output
    assert "--execute" in helped.output
    unknown = runner.invoke(cli, ["rollback", "--model-version", "nobody/1"])
    assert unknown.exit_code == 2
    assert "error[no_decisions]" in unknown.output
    bad_since = runner.invoke(cli, ["rollback", "--model-version", "test/9", "--since",
                                    "last tuesday"])
    assert bad_since.exit_code == 2
    assert "not a date" in bad_since.output


def test_the_command_shows_the_blast_radius_as_json_and_rolls_it_back(
        env: None, app: App) -> None:
    app.policies.publish(shipped_policy())
    _decided(app, "dec-1", "40")
    shown = runner.invoke(cli, ["rollback", "--model-version", "test/9", "--since",
                                "2020-01-01", "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["executed"] is False
    assert [d["decision_id"] for d in body["decisions"]] == ["dec-1"]
    assert body["totals"] == {"pending": {"count": 1, "amounts": {"USD": "40"}}}
    executed = runner.invoke(cli, ["rollback", "--model-version", "test/9", "--execute"])
    assert executed.exit_code == 0, executed.output
    assert "rolled_back: 1 (40 USD)" in executed.output
    with app.uow() as uow:
        assert uow.reviews.get("rollback:dec-1") is not None


def test_a_reviewer_decides_a_rolled_back_invoice_again_in_the_portal(
        two_versions: tuple[App, list[Balances]]) -> None:
    """The re-queued case opens from the portal like any item in the queue: what was
    rolled back (the decisions, linked) and the review form; a vendor user sees nothing."""
    app, _ = two_versions
    rollback_service(app).execute("payments/3")
    web = web_app(app)
    rita = sign_in(web, add_user(app, "rita@home.example", "reviewer"))
    page = rita.get("/admin/decisions/rollback:invoice:inv-2")
    assert page.status_code == 200, page.text
    assert "Rolled back: invoice:inv-2" in page.text
    assert 'href="/admin/decisions/invoice:inv-2:payment"' in page.text
    assert 'value="APPROVE"' in page.text
    done = rita.post("/admin/decisions/rollback:invoice:inv-2/review", data={
        "verdict": "REJECT", "rationale": "rolled back: the vendor is to re-invoice",
        "form_key": "k1"}, follow_redirects=False)
    assert done.status_code == 303
    with app.uow() as uow:
        item = uow.reviews.get("rollback:invoice:inv-2")
    assert item is not None
    assert item.status.settled
    ann = sign_in(web, add_user(app, "ann@home.example", "vendor", vendors=("v-acme",)))
    assert ann.get("/admin/decisions/rollback:invoice:inv-2").status_code in (403, 404)
