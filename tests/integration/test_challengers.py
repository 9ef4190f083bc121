"""Challengers on both backends: a challenger decides every live step beside the champion in
shadow (logged, never executed), its agreement report catches the slice it gets wrong,
promotion needs the bar and three roles' sign-offs, and a canary decides its share of live
traffic until its breaker trips and it is rolled back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.agreement import report_json
from finbot.domain.challengers import (
    Challenger,
    ChallengerState,
    PromotionRefused,
    SignOffRole,
)
from finbot.domain.errors import Conflict, InvalidInput
from finbot.domain.vendors import VendorStatus
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.cli.challenger_report import report_html
from finbot.llm.messages import ModelRequest, ModelResponse
from finbot.llm.model import Model
from finbot.llm.offline import OfflineModel
from finbot.llm.router import ModelChoice, ModelRouter
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    open_company,
    purchase_order,
    run_until_idle,
    small_scorer,
)

runner = CliRunner()
SLICE = "v-de-"
REJECTING = ModelResponse(json.dumps({
    "outcome": "REJECT", "confidence": 0.9,
    "reasoning": "This scripted challenger rejects every invoice from a German vendor."}))


class RejectsOneCountry(Model):
    """The offline model, except that it rejects every task about a German vendor."""

    name = "scripted:rejects-de"

    def __init__(self) -> None:
        self._offline = OfflineModel()

    def request(self, request: ModelRequest) -> ModelResponse:
        if f'"vendor_id": "{SLICE}' in request.messages[1].content:
            return REJECTING
        return self._offline.request(request)


class Router(ModelRouter):
    """The offline default, plus the scripted model among the router's choices."""

    def __init__(self) -> None:
        super().__init__([ModelChoice()])
        self.scripted = RejectsOneCountry()

    def named(self, name: str) -> Model:
        return self.scripted if name == self.scripted.name else super().named(name)

    def names(self) -> list[str]:
        return [*super().names(), self.scripted.name]


@pytest.fixture
def company(settings: Settings) -> Iterator[App]:
    app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer, models=Router())
    open_company(app)
    for vendor_id in ("v-us-1", "v-us-2"):
        app.vendor_work.register_vendor(clean_vendor(vendor_id))
    app.vendor_work.register_vendor(clean_vendor(f"{SLICE}1", country="DE",
                                                 legal_name="Beta Widgets GmbH"))
    run_until_idle(app)
    with app.uow() as uow:  # the German vendor's paperwork is not this test's subject
        uow.vendors.set_status(f"{SLICE}1", VendorStatus.ACTIVE)
        uow.commit()
    yield app
    app.close()


def _invoices(app: App, per_vendor: int, *, first: int = 1) -> None:
    for vendor_id in ("v-us-1", "v-us-2", f"{SLICE}1"):
        for n in range(first, first + per_vendor):
            po = f"PO-{vendor_id}-{n}"
            app.vendor_work.add_purchase_order(purchase_order(po, vendor_id=vendor_id))
            app.vendor_work.submit_invoice(clean_invoice(
                f"inv-{vendor_id}-{n}", vendor_id=vendor_id, number=f"{vendor_id}-{n}",
                quantity=str(n), po_number=po))
    run_until_idle(app)


def _add(app: App, challenger_id: str, agent: str = "invoice", **what: object) -> Challenger:
    return app.challengers.add(agent, by="eng@finbot.example", challenger_id=challenger_id,
                               **what)  # type: ignore[arg-type]


def _record(app: App, decision_id: str) -> dict[str, object]:
    with app.uow() as uow:
        record = uow.audit.by_id(decision_id)
    assert record is not None, decision_id
    return record.data


def _sign_all(app: App, challenger_id: str) -> None:
    for role in SignOffRole:
        app.challengers.sign(challenger_id, signer=f"{role.value}@finbot.example", role=role)


def test_the_report_catches_a_challenger_that_rejects_one_country(company: App) -> None:
    _add(company, "ch-de", model_name="scripted:rejects-de", min_count=6)
    _invoices(company, 2)
    report = company.challengers.report("ch-de")
    assert report.overall.count == 6
    by_country = report.segments["vendor_country"]
    assert by_country["US"].rate == 1
    assert by_country["DE"].count == 2
    assert by_country["DE"].rate == 0
    assert {p.step_decision_id for p in report.disagreements} == {
        f"invoice:inv-{SLICE}1-{n}:invoice" for n in (1, 2)}
    for pair in report.disagreements:
        assert pair.challenger == "REJECT"
        assert _record(company, pair.challenger_decision_id)["outcome"] == "REJECT"
        assert pair.champion_decision_id == pair.step_decision_id
    assert sum(sum(row.values()) for row in report.confusion.values()) == 6
    assert report.confusion[report.disagreements[0].champion]["REJECT"] == 2
    assert set(report.segments) == {"agent", "outcome", "vendor_country", "amount_band"}


def test_shadow_decisions_are_logged_as_shadow_and_never_executed_or_counted(
        company: App) -> None:
    _add(company, "ch-pay", "payments", agent_version="payments/3-shadow", min_count=1)
    _invoices(company, 1)
    live_id = "invoice:inv-v-us-1-1:payment"
    shadow_id = f"{live_id}~shadow@ch-pay"
    shadow, live = _record(company, shadow_id), _record(company, live_id)
    assert (shadow["mode"], live["mode"]) == ("shadow", "live")
    assert shadow["agent_id"] == "payments@ch-pay"
    assert shadow["outcome"] == live["outcome"] == "APPROVE"
    assert shadow["proposal"]["model_version"]["agent_version"] == (  # type: ignore[index]
        "payments/3-shadow")
    with company.uow() as uow:
        assert uow.sagas.by_decision(live_id) is not None
        assert uow.sagas.by_decision(shadow_id) is None
        assert uow.breakers.outcome_counts("payments@ch-pay", since_hour=0,
                                           before_hour=2**62) == {}


def test_the_live_decision_is_in_the_log_before_its_shadow_is_asked(company: App) -> None:
    """The runner writes decisions in groups, but a step with challengers writes its live
    decision before they run: the challenger's model finds it logged every time."""
    logged: list[bool] = []

    class Watching(RejectsOneCountry):
        def request(self, request: ModelRequest) -> ModelResponse:
            found = re.search(r'"invoice_id": "([^"]+)"', request.messages[1].content)
            assert found is not None
            with company.uow() as uow:
                live = uow.audit.by_id(f"invoice:{found.group(1)}:invoice")
            logged.append(live is not None)
            return super().request(request)
    company.models.scripted = Watching()  # type: ignore[attr-defined]
    _add(company, "ch-watch", model_name="scripted:rejects-de", min_count=1)
    _invoices(company, 2)
    assert len(logged) >= 6  # the challenger was asked about every invoice
    assert all(logged)


def test_promotion_is_refused_below_the_bar_and_without_sign_offs_and_allowed_with_both(
        company: App) -> None:
    _add(company, "ch-de", model_name="scripted:rejects-de", min_count=6)
    _add(company, "ch-ok", agent_version="invoice/3", min_count=6)
    _invoices(company, 2)
    _sign_all(company, "ch-de")
    with pytest.raises(PromotionRefused, match=r"agreement 66\.67% is below the required 98"):
        company.challengers.promote("ch-de", by="eng", reason="try")
    with pytest.raises(PromotionRefused, match="sign-off missing from risk, compliance, "
                                               "engineering"):
        company.challengers.promote("ch-ok", by="eng", reason="try")
    company.challengers.sign("ch-ok", signer="rita", role="risk")
    with pytest.raises(Conflict, match="already signed"):
        company.challengers.sign("ch-ok", signer="rita", role="compliance")
    company.challengers.sign("ch-ok", signer="carl", role="compliance")
    with pytest.raises(PromotionRefused, match="sign-off missing from engineering"):
        company.challengers.promote("ch-ok", by="eng", reason="try")
    company.challengers.sign("ch-ok", signer="erin", role="engineering")
    promoted = company.challengers.promote("ch-ok", by="erin", reason="agrees, signed")
    assert promoted.state is ChallengerState.PROMOTED
    with company.uow() as uow:
        changes = [r.data for r in uow.audit.records() if r.kind == "challenger"]
    signed = [(c["signer"], c["role"]) for c in changes if c["action"] == "sign_off"]
    assert ("rita", "risk") in signed
    assert ("erin", "engineering") in signed
    assert changes[-1]["to"] == "promoted"
    assert changes[-1]["by"] == "erin"
    assert company.audit.verify() == []


def test_a_canary_routes_about_its_share_and_the_same_way_on_every_retry(
        company: App) -> None:
    _add(company, "ch-c", agent_version="invoice/3")
    canary = company.challengers.canary("ch-c", "0.3", by="eng", reason="try 30%")
    routed = [canary.routes(f"inv-{i}") for i in range(4000)]
    assert abs(sum(routed) / len(routed) - 0.3) < 0.03
    assert routed == [canary.routes(f"inv-{i}") for i in range(4000)]


def test_a_canary_decides_live_with_its_version_and_is_rolled_back_when_its_breaker_trips(
        company: App) -> None:
    _add(company, "ch-c", agent_version="invoice/3")
    company.challengers.canary("ch-c", "1", by="eng", reason="all of it, for the test")
    _invoices(company, 1)
    live = _record(company, "invoice:inv-v-us-1-1:invoice")
    assert (live["mode"], live["agent_id"]) == ("live", "invoice@ch-c")
    assert live["proposal"]["model_version"]["agent_version"] == "invoice/3"  # type: ignore[index]
    champion = _record(company, "invoice:inv-v-us-1-1:invoice~champion@ch-c")
    assert (champion["mode"], champion["agent_id"]) == ("shadow", "invoice")
    assert company.challengers.report("ch-c").overall.count == 3

    company.breakers.trip("invoice@ch-c", "test: the canary misbehaves")
    _invoices(company, 1, first=2)
    assert company.challengers.get("ch-c").state is ChallengerState.SHADOW
    after = _record(company, "invoice:inv-v-us-1-2:invoice")
    assert (after["mode"], after["agent_id"]) == ("live", "invoice")
    with company.uow() as uow:
        rolled = [e for _, e in uow.outbox.after((-1, -1), limit=100_000)
                  if e.type == "challenger.rolled_back"]
        changes = [r.data for r in uow.audit.records() if r.kind == "challenger"]
    assert [e.payload["reason"] for e in rolled] == ["its breaker tripped"]
    assert (changes[-1]["from"], changes[-1]["to"], changes[-1]["by"]) == (
        "canary", "shadow", "finbot")


def test_a_canary_whose_rolling_agreement_falls_is_rolled_back(settings: Settings) -> None:
    """A canary that rejects the German vendor's invoices the champion approves: once it
    has compared enough steps (here 2, over the last 4) its agreement is below its bar and
    it goes back to shadow by itself, saying why; the next step is the champion's."""
    tight = Settings(**{**settings.model_dump(), "challenger_rolling_window": 4,
                        "challenger_rolling_min": 2})
    app = bootstrap(tight, run_migrations=False, fraud_scorer=small_scorer, models=Router())
    try:
        open_company(app)
        for vendor_id, country in (("v-us-1", "US"), (f"{SLICE}1", "DE")):
            app.vendor_work.register_vendor(clean_vendor(vendor_id, country=country))
        run_until_idle(app)
        with app.uow() as uow:
            uow.vendors.set_status(f"{SLICE}1", VendorStatus.ACTIVE)
            uow.commit()
        _add(app, "ch-de", model_name="scripted:rejects-de")
        app.challengers.canary("ch-de", "1", by="eng", reason="all of it, for the test")
        for n, vendor_id in enumerate(("v-us-1", f"{SLICE}1", "v-us-1"), start=10):
            po = f"PO-{vendor_id}-{n}"
            app.vendor_work.add_purchase_order(purchase_order(po, vendor_id=vendor_id))
            app.vendor_work.submit_invoice(clean_invoice(
                f"inv-{vendor_id}-{n}", vendor_id=vendor_id, number=f"{vendor_id}-{n}",
                po_number=po))
            run_until_idle(app)
        assert app.challengers.get("ch-de").state is ChallengerState.SHADOW
        after = _record(app, "invoice:inv-v-us-1-12:invoice")
        assert (after["mode"], after["agent_id"]) == ("live", "invoice")  # the champion's
        with app.uow() as uow:
            rolled = [e.payload["reason"] for _, e in uow.outbox.after((-1, -1), limit=100_000)
                      if e.type == "challenger.rolled_back"]
        assert len(rolled) == 1
        assert "rolling agreement" in str(rolled[0])
    finally:
        app.close()


def test_the_html_report_is_escaped_and_self_contained(company: App) -> None:
    _add(company, "ch-de", model_name="scripted:rejects-de", min_count=6)
    _invoices(company, 1)
    page = report_html(company.challengers.report("ch-de"), min_agreement="0.98")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "http" not in page
    assert "invoice:inv-v-de-1-1:invoice~shadow@ch-de" in page
    assert report_json(company.challengers.report("ch-de"))["overall"]["count"] == 3


def test_registering_refuses_what_it_cannot_run(company: App) -> None:
    with pytest.raises(InvalidInput, match="no deciding agent 'nobody'"):
        _add(company, "ch-x", "nobody", agent_version="x/1")
    with pytest.raises(InvalidInput, match="must differ from the champion"):
        _add(company, "ch-x")
    with pytest.raises(InvalidInput, match="no model 'gpt-9'"):
        _add(company, "ch-x", model_name="gpt-9")
    with pytest.raises(InvalidInput, match="only the fraud agent"):
        _add(company, "ch-x", fraud_version="fraud-1")
    _add(company, "ch-x", agent_version="invoice/3")
    with pytest.raises(InvalidInput, match="share must be a number from 0 to 1"):
        company.challengers.canary("ch-x", "1.5", by="eng", reason="too much")


def test_the_challenger_commands_answer_help_and_bad_input_clearly(
        app: App, env: None) -> None:
    help_ = runner.invoke(cli, ["challenger", "--help"])
    assert help_.exit_code == 0
    for command in ("add", "list", "report", "sign", "canary", "promote", "retire"):
        assert command in help_.output
    added = runner.invoke(cli, ["challenger", "add", "invoice", "--id", "ch-cli",
                                "--agent-version", "invoice/3", "--by", "eng"])
    assert added.exit_code == 0, added.output
    assert "ch-cli: shadow" in added.output
    assert "ch-cli" in runner.invoke(cli, ["challenger", "list"]).output
    unknown = runner.invoke(cli, ["challenger", "add", "nobody", "--agent-version", "x",
                                  "--by", "eng"])
    assert unknown.exit_code == 2
    assert "error[invalid_input]: no deciding agent 'nobody'" in unknown.output
    share = runner.invoke(cli, ["challenger", "canary", "ch-cli", "--share", "2", "--by", "e",
                                "--reason", "r"])
    assert share.exit_code == 2
    assert "share must be a number from 0 to 1" in share.output
    refused = runner.invoke(cli, ["challenger", "promote", "ch-cli", "--by", "e",
                                  "--reason", "r"])
    assert refused.exit_code == 2
    assert "error[promotion_refused]" in refused.output
    role = runner.invoke(cli, ["challenger", "sign", "ch-cli", "--signer", "x",
                               "--role", "cfo"])
    assert "'cfo' is not a sign-off role" in role.output
    report = runner.invoke(cli, ["challenger", "report", "ch-cli"])
    assert json.loads(report.output)["overall"] == {"count": 0, "agreed": 0, "rate": None}
    assert "json or html" in runner.invoke(
        cli, ["challenger", "report", "ch-cli", "--format", "pdf"]).output
    missing = runner.invoke(cli, ["challenger", "retire", "ch-none", "--by", "e",
                                  "--reason", "r"])
    assert "error[challenger_unknown]" in missing.output


def test_an_amount_band_and_share_are_plain_values() -> None:
    from finbot.domain.agreement import amount_band
    from finbot.domain.challengers import share

    assert [amount_band(Decimal(a)) for a in ("999", "1000", "50000", "100000")] == [
        "<1k", "1k-10k", "10k-100k", ">=100k"]
    assert share("0.25", field="share") == Decimal("0.25")
