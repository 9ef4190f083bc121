"""Monitoring on both backends: a drifted decision stream raises an alert and trips the
agent's breaker, a segment blocked far more often is flagged and a fair one is not, and
/metrics shows the series to staff and to the scrape token, never to anyone else.

Decisions are made by the real gate with a scripted agent, on a clock set inside the
monitor's default windows (the seven days before the last day, and the last day)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from finbot.adapters.db.tables import outbox
from finbot.bootstrap import App
from finbot.domain.breakers import BreakerState
from finbot.domain.clock import now_us
from finbot.entrypoints.cli.app import cli
from finbot.services.audit import AuditLog
from finbot.services.decisions import DecisionService
from tests.api_kit import add_user, sign_in, web_app
from tests.stand_ins import FACTS, INVOICE, POLICY, VENDOR, ScriptedAgent
from tests.workflow_kit import clean_vendor

HOUR = 3_600_000_000
DAY = 24 * HOUR
SCRAPE_TOKEN = "s" * 40


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def decide(app: App, clock: Clock, *, start: int, count: int, prefix: str,
           amounts: list[Decimal] | None = None, vendor_id: str = "v-1",
           outcome_of: dict[int, str] | None = None) -> None:
    """``count`` live decisions by the gate, a minute apart from ``start``."""
    gate = DecisionService(app.uow, AuditLog(app.uow, secret=b"k" * 32, clock=clock),
                           outbox=app.outbox, clock=clock)
    for i in range(count):
        clock.now = start + i * 60_000_000
        amount = amounts[i] if amounts else FACTS.amount
        facts = replace(FACTS, amount=amount, invoice={**INVOICE, "amount": str(amount)},
                        vendor=replace(VENDOR, vendor_id=vendor_id))
        agent = ScriptedAgent(outcome=(outcome_of or {}).get(i, "APPROVE"))
        gate.decide(f"{prefix}-{i}", policy=POLICY, facts=facts, snapshot={"i": i},
                    agent=agent)


def windows() -> tuple[int, int]:
    """A start in the default baseline window and one in the current window."""
    now = now_us()
    return now - 7 * DAY, now - 20 * HOUR


def events_of(app: App, type_: str) -> list[dict[str, object]]:
    """Every ``type_`` event written, read from the outbox table (the repository's reader
    waits on PostgreSQL until no older transaction is open)."""
    with app.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.type == type_)).all()
    return [json.loads(row[0]) for row in rows]


def breaker_of(app: App, agent_id: str) -> tuple[BreakerState, str]:
    found = {b.agent_id: b for b in app.breakers.status()}.get(agent_id)
    return (found.state, found.reason) if found else (BreakerState.CLOSED, "never tripped")


def test_amounts_shifted_tenfold_trip_the_drift_alert_and_the_breaker(app: App) -> None:
    rng = random.Random(1)
    baseline_start, current_start = windows()
    amounts = [Decimal(rng.randint(100, 900)) for _ in range(60)]
    clock = Clock(baseline_start)
    decide(app, clock, start=baseline_start, count=60, prefix="before", amounts=amounts)
    decide(app, clock, start=current_start, count=60, prefix="now",
           amounts=[a * 10 for a in amounts])
    result = app.monitor.check()
    drifted = {(d.agent_id, d.stream) for d in result.report.drifted}
    assert ("invoice-agent", "amount") in drifted
    assert result.tripped == ["invoice-agent"]
    state, reason = breaker_of(app, "invoice-agent")
    assert state is BreakerState.OPEN
    assert "drift in invoice-agent's amount stream" in reason
    assert any(e["stream"] == "amount" for e in events_of(app, "monitor.drift_detected"))
    assert app.monitor.check().tripped == []  # already open: not tripped twice


def test_an_agent_suddenly_approving_everything_is_drift(app: App) -> None:
    baseline_start, current_start = windows()
    clock = Clock(baseline_start)
    decide(app, clock, start=baseline_start, count=60, prefix="before",
           outcome_of={i: "REJECT" for i in range(0, 60, 2)})
    decide(app, clock, start=current_start, count=60, prefix="now")
    result = app.monitor.check()
    assert ("invoice-agent", "outcome") in {(d.agent_id, d.stream)
                                            for d in result.report.drifted}
    assert breaker_of(app, "invoice-agent")[0] is BreakerState.OPEN


def test_a_steady_agent_raises_nothing(app: App) -> None:
    baseline_start, current_start = windows()
    clock = Clock(baseline_start)
    decide(app, clock, start=baseline_start, count=40, prefix="before")
    decide(app, clock, start=current_start, count=40, prefix="now")
    result = app.monitor.check()
    assert result.events == 0
    assert result.tripped == []
    assert result.report.rates.decisions == 40


def segment_decisions(app: App, *, adverse_every: dict[str, int]) -> None:
    """60 decisions per vendor in the current window; every n-th one rejected."""
    _, current_start = windows()
    clock = Clock(current_start)
    for n, (vendor_id, country) in enumerate((("v-us", "US"), ("v-br", "BR"),
                                              ("v-de", "DE"))):
        app.vendor_work.register_vendor(clean_vendor(vendor_id, country=country))
        every = adverse_every.get(vendor_id, 10)
        decide(app, clock, start=current_start + n * 2 * HOUR, count=60,
               prefix=vendor_id, vendor_id=vendor_id,
               outcome_of={i: "REJECT" for i in range(60) if i % every == 0})


def test_a_segment_rejected_far_more_often_is_flagged(app: App) -> None:
    segment_decisions(app, adverse_every={"v-br": 2})
    result = app.monitor.check()
    assert [(t.dimension, t.segment) for t in result.report.flagged] == [("country", "BR")]
    [event] = events_of(app, "monitor.bias_detected")
    assert event["segment"] == "BR"


def test_a_fair_segment_is_not_flagged(app: App) -> None:
    segment_decisions(app, adverse_every={})
    report = app.monitor.report()
    assert {t.segment for t in report.bias if t.dimension == "country"} == {"US", "BR", "DE"}
    assert report.flagged == []


@pytest.fixture
def scraped(app: App) -> tuple[App, TestClient]:
    baseline_start, current_start = windows()
    clock = Clock(baseline_start)
    decide(app, clock, start=baseline_start, count=30, prefix="before")
    decide(app, clock, start=current_start, count=30, prefix="now")
    web = web_app(app)
    app.settings = app.settings.model_copy(update={"metrics_token": SecretStr(SCRAPE_TOKEN)})
    add_user(app, "vic@vendor.example", "vendor")
    add_user(app, "aude@home.example", "auditor")
    add_user(app, "gus@globex.example", "admin", tenant="globex")
    return app, TestClient(web)


def test_metrics_show_the_series_to_staff_and_the_scrape_token(
        scraped: tuple[App, TestClient]) -> None:
    _, anonymous = scraped
    web = anonymous.app
    for client, headers in ((sign_in(web, "aude@home.example"), {}),  # type: ignore[arg-type]
                            (anonymous, {"Authorization": f"Bearer {SCRAPE_TOKEN}"})):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        for series in ('finbot_decisions{mode="live",outcome="APPROVE"} 30.0',
                       'finbot_drift_psi{agent_id="invoice-agent",stream="outcome"}',
                       "finbot_breaker_state", "finbot_review_queue_depth",
                       "finbot_review_sla_breaches", "finbot_outbox_unrelayed",
                       "finbot_dead_letters", "finbot_bias_alerts"):
            assert series in answer.text, series


def test_metrics_are_refused_to_everyone_else(scraped: tuple[App, TestClient]) -> None:
    _, anonymous = scraped
    web = anonymous.app
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers={
        "Authorization": "Bearer not-the-token"}).status_code == 401
    for email in ("vic@vendor.example", "gus@globex.example"):
        assert sign_in(web, email).get("/metrics").status_code == 403  # type: ignore[arg-type]


def test_the_dashboard_shows_drift_and_rates_to_home_staff_only(
        scraped: tuple[App, TestClient]) -> None:
    _, anonymous = scraped
    web = anonymous.app
    page = sign_in(web, "aude@home.example").get("/admin")  # type: ignore[arg-type]
    assert page.status_code == 200
    assert "Drift, last day against the seven before" in page.text
    assert "Override rate" in page.text
    other = sign_in(web, "gus@globex.example").get("/admin")  # type: ignore[arg-type]
    assert other.status_code == 200
    assert "Drift, last day" not in other.text


@pytest.mark.usefixtures("env")
def test_the_commands_report_and_check(app: App) -> None:
    baseline_start, current_start = windows()
    clock = Clock(baseline_start)
    decide(app, clock, start=baseline_start, count=40, prefix="before",
           outcome_of={i: "REJECT" for i in range(0, 40, 2)})
    decide(app, clock, start=current_start, count=40, prefix="now")
    runner = CliRunner()
    shown = runner.invoke(cli, ["monitor", "report", "--json"])
    assert shown.exit_code == 0, shown.output
    drift = json.loads(shown.output)["drift"]
    assert {(d["stream"], d["drifted"]) for d in drift} >= {("outcome", True)}
    assert breaker_of(app, "invoice-agent")[0] is not BreakerState.OPEN  # report only looks
    checked = runner.invoke(cli, ["monitor", "check"])
    assert checked.exit_code == 1, checked.output
    assert "DRIFT" in checked.output
    assert breaker_of(app, "invoice-agent")[0] is BreakerState.OPEN
