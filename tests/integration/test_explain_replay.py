"""``finbot explain`` and ``finbot replay`` on the recorded invoice workflow: the paid
invoice's payment decision explained section by section with a proof that verifies, as
HTML (escaped), PDF and JSON; every recorded decision re-run identically without writing
anything; a tampered recording and another policy reported where and why they differ; and
the commands' help and unknown ids."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text
from typer.testing import CliRunner

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.decision_report import explainer, render_html, render_pdf, replayer
from finbot.llm.recording import Cassette, ReplayTransport
from finbot.policy.shipped import shipped_policy
from finbot.services.audit import InclusionProof
from finbot.services.explain import proof_holds
from tests.cassettes.record_invoice_workflow import (
    CASSETTE,
    FROZEN_AT,
    STEPS,
    model_router,
    run_workflow,
    the_invoice,
)
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    open_company,
    purchase_order,
    run_until_idle,
    small_scorer,
)

PAYMENT = "invoice:inv-1:payment"
SECTIONS = {"format", "decision", "reasoning", "model", "policy", "input", "proposal",
            "rules", "reviews", "review_item", "execution", "ledger", "proof"}
runner = CliRunner()


@pytest.fixture
def paid(settings: Settings) -> Iterator[App]:
    """The recorded workflow run to a paid invoice, the clock frozen on its day."""
    small_scorer()
    with time_machine.travel(FROZEN_AT, tick=False):
        app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer,
                        models=model_router("http://127.0.0.1:9/v1",
                                            ReplayTransport(Cassette(CASSETTE))))
        run_workflow(app, the_invoice())
        yield app
        app.close()


def _written(app: App) -> tuple[int, ...]:
    """How many rows the tables a decision writes to hold."""
    with app.engine.connect() as conn:
        return tuple(int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                     for table in ("audit_log", "outbox", "review_queue", "ledger_transfers",
                                   "payment_sagas"))


def test_explain_tells_every_section_of_a_paid_invoices_payment_and_the_proof_verifies(
        paid: App) -> None:
    report = explainer(paid).explain(PAYMENT)
    assert set(report) == SECTIONS
    assert (report["decision"]["outcome"], report["decision"]["stage"]) == ("APPROVE",
                                                                            "payment")
    assert report["model"]["model_name"] == "openai-compatible:llama3.2:3b"
    assert report["policy"]["version"] == "v1"
    assert report["policy"]["digest_matches"]
    assert report["input"]["snapshot"]["invoice_id"] == "inv-1"
    assert report["reasoning"].startswith("Pay INV-1001 by ACH")
    assert {r["rule"] for r in report["rules"]} >= {"max_single_payment",
                                                    "amount_matches_invoice"}
    assert all(set(r) == {"rule", "fired", "detail"} for r in report["rules"])
    [saga] = report["execution"]
    assert (saga["state"], saga["amount"], saga["currency"]) == ("completed", "1200.00", "USD")
    assert saga["steps"]
    kinds = [t["kind"] for t in report["ledger"]]
    assert "pending" in kinds
    assert any(t["credit"].startswith("vendor:v-acme")
                                      or t["debit"].startswith("vendor:v-acme")
                                      for t in report["ledger"])
    proof = report["proof"]
    assert proof["available"]
    assert proof["verified"]
    assert paid.audit.verify() == []  # the checkpoint the proof names is authentic
    assert proof_holds(paid.audit.prove(PAYMENT))
    forged = paid.audit.prove(PAYMENT)
    assert not proof_holds(InclusionProof(forged.record, forged.index, forged.tree_size,
                                          "00" * 32, forged.path))
    json.dumps(report)  # JSON-ready as it is


def test_the_pdf_report_is_a_real_pdf(paid: App) -> None:
    pdf = render_pdf(explainer(paid).explain(PAYMENT))
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 3000


def test_the_html_report_escapes_a_script_planted_in_an_invoice(app: App) -> None:
    open_company(app)
    app.vendor_work.register_vendor(clean_vendor())
    run_until_idle(app)
    app.vendor_work.add_purchase_order(purchase_order())
    app.vendor_work.submit_invoice(clean_invoice(
        text="Remittance: <script>alert('owned')</script>"))
    run_until_idle(app)
    with app.uow() as uow:
        decided = [s for s in STEPS[1:] if uow.audit.by_id(s) is not None]
    html = "".join(render_html(explainer(app).explain(d)) for d in decided)
    assert "owned" in html  # the planted text is in the report ...
    assert "<script>" not in html  # ... and never as markup


def test_replay_reproduces_every_recorded_decision_and_writes_nothing(paid: App) -> None:
    before = _written(paid)
    results = [replayer(paid).replay(decision_id) for decision_id in STEPS[1:]]
    assert [(r.identical, r.method, r.recorded_outcome, r.replayed_outcome)
            for r in results] == [(True, "recorded exchanges", "APPROVE", "APPROVE")] * 3
    assert _written(paid) == before


def test_a_decision_whose_records_moved_on_replays_from_what_it_saw_then(
        paid: App) -> None:
    """The onboarding's vendor is active since, and its invoice paid: the tools answer
    from the results the record kept and the gate judges the facts it kept, so the
    decision replays identically; an answer the recording lost is a divergence (the model
    is shown the refusal instead, and asks otherwise)."""
    result = replayer(paid).replay(STEPS[0])
    assert result.identical, result.differences
    assert result.notes == []
    with paid.uow() as uow:
        data = copy.deepcopy(uow.audit.by_id(STEPS[0]).data)  # type: ignore[union-attr]
    data["proposal"]["tool_calls"] = data["proposal"]["tool_calls"][1:]  # one answer lost
    lost = replayer(paid).replay_record(STEPS[0], data)
    assert not lost.identical
    [error] = [d for d in lost.differences if d.what == "error"]
    assert "ReplayDiverged" in str(error.replayed)  # the model was shown another answer


def test_a_record_without_kept_facts_is_judged_on_facts_rebuilt_and_says_so(
        paid: App) -> None:
    with paid.uow() as uow:
        data = copy.deepcopy(uow.audit.by_id(PAYMENT).data)  # type: ignore[union-attr]
    del data["facts"]  # as a decision recorded before facts were kept
    result = replayer(paid).replay_record(PAYMENT, data)
    assert any("predates kept facts" in note for note in result.notes)


def test_a_tampered_recording_is_reported_naming_the_turn(paid: App) -> None:
    with paid.uow() as uow:
        data = copy.deepcopy(uow.audit.by_id(PAYMENT).data)  # type: ignore[union-attr]
    data["proposal"]["model_exchanges"][1]["request"]["messages"][0]["content"] += " (edited)"
    result = replayer(paid).replay_record(PAYMENT, data)
    assert not result.identical
    assert result.replayed_outcome == "ESCALATE"
    [error] = [d for d in result.differences if d.what == "error"]
    assert "model call #2 differs from the recording at request.messages[0].content" in (
        error.why)


def test_replay_under_another_policy_names_the_rule_that_changed(paid: App) -> None:
    stricter = shipped_policy()
    stricter["hard"]["max_single_payment"] = "1000.00"
    version = paid.policies.publish(stricter).version
    result = replayer(paid).replay(PAYMENT, policy_version=version)
    assert (result.identical, result.replayed_outcome) == (False, "BLOCK")
    rule = next(d for d in result.differences if d.what == "rule max_single_payment")
    assert rule.why == "it fired now and not then"
    assert any("not the decision's own v1" in note for note in result.notes)


def test_a_decision_without_recorded_exchanges_is_rejudged_by_the_rules(paid: App) -> None:
    with paid.uow() as uow:
        data = copy.deepcopy(uow.audit.by_id(PAYMENT).data)  # type: ignore[union-attr]
    del data["proposal"]["model_exchanges"]  # as a scripted agent's record is
    result = replayer(paid).replay_record(PAYMENT, data)
    assert (result.identical, result.method) == (True, "gate rules on the recorded proposal")
    assert any("cannot be replayed byte for byte" in note for note in result.notes)


def test_the_commands_explain_and_replay_a_decision(paid: App, env: None,
                                                    tmp_path: Path) -> None:
    with time_machine.travel(FROZEN_AT, tick=False):
        shown = runner.invoke(cli, ["explain", PAYMENT, "--format", "json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["proof"]["verified"]
        out = tmp_path / "report.pdf"
        written = runner.invoke(cli, ["explain", PAYMENT, "--format", "pdf", "--out", str(out)])
        assert written.exit_code == 0, written.output
        assert out.read_bytes().startswith(b"%PDF")
        again = runner.invoke(cli, ["replay", PAYMENT])
        assert again.exit_code == 0, again.output
        assert "identical" in again.stdout


@pytest.mark.parametrize("command", ["explain", "replay"])
def test_an_unknown_decision_is_a_clear_error_with_exit_status_1(command: str,
                                                                   env: None) -> None:
    result = runner.invoke(cli, [command, "no-such-decision"])
    assert result.exit_code == 1
    assert "no decision 'no-such-decision'" in result.output


@pytest.mark.parametrize("command", ["explain", "replay"])
def test_the_commands_have_help(command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "DECISION_ID" in result.output
