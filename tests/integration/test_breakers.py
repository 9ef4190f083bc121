"""Circuit breakers on both backends: a misbehaving agent is pulled out of the loop, the
rules-only fallback decides, probes bring it back, and a drill proves it all."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.domain.breakers import HOUR_US, BreakerSettings, BreakerState
from finbot.domain.decisions import Mode, Outcome
from finbot.domain.errors import ExecutionRefused
from finbot.entrypoints.cli.app import cli
from finbot.services.breaker_drill import run_drill
from finbot.services.breakers import BreakerService
from finbot.services.decisions import DecisionService
from tests.stand_ins import FACTS, INVOICE, POLICY, ScriptedAgent

runner = CliRunner()
SETTINGS = BreakerSettings(min_samples=20, open_for_us=60_000_000, half_open_probes=3)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now_us: int) -> None:
        self.now = now_us

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000 * 1_000_000)


@pytest.fixture
def breakers(app: App, clock: Clock) -> BreakerService:
    return BreakerService(app.uow, app.audit, settings=SETTINGS, clock=clock)


@pytest.fixture
def gate(app: App, breakers: BreakerService, clock: Clock) -> DecisionService:
    return DecisionService(app.uow, app.audit, breakers=breakers, clock=clock)


def run(gate: DecisionService, clock: Clock, agent: ScriptedAgent, count: int, *,
        prefix: str, facts: object = FACTS) -> list[Mode]:
    modes = []
    for i in range(count):
        clock.now += 1_000_000
        decision = gate.decide(f"{prefix}-{i}", policy=POLICY, facts=facts,  # type: ignore[arg-type]
                               snapshot={"invoice": INVOICE}, agent=agent)
        modes.append(decision.mode)
    return modes


def breaker_records(app: App) -> list[dict[str, object]]:
    with app.uow() as uow:
        return [r.data for r in uow.audit.records() if r.kind == "breaker"]


def test_an_error_spike_trips_the_breaker_and_the_fallback_decides_without_the_agent(
        app: App, gate: DecisionService, breakers: BreakerService, clock: Clock) -> None:
    run(gate, clock, ScriptedAgent(), 20, prefix="ok")
    assert breakers.allows_agent("invoice-agent")
    broken = ScriptedAgent(reasoning="")
    run(gate, clock, broken, 1, prefix="bad")
    assert not breakers.allows_agent("invoice-agent")
    [trip] = breaker_records(app)
    assert trip["to"] == "open"
    assert "error_rate" in [t["rule"] for t in trip["trips"]]  # type: ignore[union-attr]
    calls = broken.calls
    assert run(gate, clock, broken, 3, prefix="fb") == [Mode.FALLBACK] * 3
    assert broken.calls == calls
    assert app.audit.verify() == []


def test_after_the_cool_down_healthy_probes_close_the_breaker(
        app: App, gate: DecisionService, breakers: BreakerService, clock: Clock) -> None:
    breakers.trip("invoice-agent", "test: pulled out")
    clock.now += SETTINGS.open_for_us
    modes = run(gate, clock, ScriptedAgent(), SETTINGS.half_open_probes + 1, prefix="p")
    assert modes == [Mode.LIVE] * (SETTINGS.half_open_probes + 1)
    assert [r["to"] for r in breaker_records(app)] == ["open", "half_open", "closed"]


def test_a_failing_probe_opens_the_breaker_again(
        app: App, gate: DecisionService, breakers: BreakerService, clock: Clock) -> None:
    breakers.trip("invoice-agent", "test: pulled out")
    clock.now += SETTINGS.open_for_us
    assert run(gate, clock, ScriptedAgent(reasoning=""), 2, prefix="p") == [Mode.LIVE,
                                                                             Mode.FALLBACK]
    assert [r["to"] for r in breaker_records(app)] == ["open", "half_open", "open"]


def test_an_allow_rate_spike_against_the_weekly_baseline_trips(
        app: App, gate: DecisionService, breakers: BreakerService, clock: Clock) -> None:
    start = clock.now
    for hour in range(4):  # four hours where half the invoices escalate
        clock.now = start + hour * HOUR_US
        run(gate, clock, ScriptedAgent(), 10, prefix=f"h{hour}a")
        run(gate, clock, ScriptedAgent(confidence=0.1), 10, prefix=f"h{hour}e")
    breakers.reset("invoice-agent", "test: fresh window for the new hour")
    clock.now = start + 5 * HOUR_US
    run(gate, clock, ScriptedAgent(), 20, prefix="now")
    assert not breakers.allows_agent("invoice-agent")
    rules = {t["rule"] for t in breaker_records(app)[-1]["trips"]}  # type: ignore[union-attr]
    assert "allow_rate_spike" in rules


def test_another_process_obeys_a_trip(app: App, breakers: BreakerService,
                                      clock: Clock) -> None:
    other = BreakerService(app.uow, app.audit, settings=SETTINGS, clock=clock)
    assert other.allows_agent("invoice-agent")
    breakers.trip("invoice-agent", "test: tripped elsewhere")
    clock.now += 1_000_000
    assert not other.allows_agent("invoice-agent")


def test_a_fallback_escalation_waits_for_review_and_a_drill_never_executes(
        app: App, gate: DecisionService, breakers: BreakerService, clock: Clock) -> None:
    app.policies.publish({"hard": {"max_single_payment": "10000", "max_daily_volume": "25000",
                                   "max_30d_volume": "100000"}})
    breakers.trip("invoice-agent", "test: pulled out")
    decision = gate.decide("fb-1", policy=POLICY, facts=replace(FACTS, amount=Decimal("900")),
                           snapshot={"invoice": INVOICE}, agent=ScriptedAgent())
    assert (decision.mode, decision.outcome) == (Mode.FALLBACK, Outcome.ESCALATE)
    assert "no purchase order" in decision.reasoning
    assert [i.decision_id for i in app.reviews.pending()] == ["fb-1"]
    breakers.reset("invoice-agent", "test: back")
    report = run_drill("invoice-agent", breakers=breakers, decisions=gate, policy=POLICY)
    assert report.passed, report.steps
    with app.uow() as uow:
        drill_id = next(r.record_id for r in uow.audit.records()
                        if r.record_id.startswith("drill:"))
    # Even with real accounts behind the drill's payment, its decision is not executable.
    app.ledger.open_account("company:bank", name="Bank", type="asset", currency="USD")
    app.ledger.open_account("drill:no-account", name="Drill", type="liability", currency="USD")
    with pytest.raises(ExecutionRefused, match="drill"):
        app.payments.execute_payment("pay-drill", payee_account="drill:no-account",
                                     source_account="company:bank", amount="100.00",
                                     currency="USD", decision_id=drill_id)


def test_the_breaker_commands_drill_and_report(app: App, env: None) -> None:
    app.policies.publish({"hard": {"max_single_payment": "10000", "max_daily_volume": "25000",
                                   "max_30d_volume": "100000"}})
    drill = runner.invoke(cli, ["breaker", "drill", "invoice-agent"])
    assert drill.exit_code == 0, drill.output
    assert "passed" in drill.output
    assert "FAIL" not in drill.output
    status = runner.invoke(cli, ["breaker", "status"])
    assert "invoice-agent" in status.output
    assert BreakerState.CLOSED.value in status.output
    runner.invoke(cli, ["breaker", "trip", "invoice-agent", "--reason", "operator test"])
    refused = runner.invoke(cli, ["breaker", "drill", "invoice-agent"])
    assert refused.exit_code == 2
    assert "already open" in refused.output


def test_in_a_group_the_breaker_sees_a_decision_once_it_is_written(
        app: App, gate: DecisionService, breakers: BreakerService, clock: Clock) -> None:
    """The step runner writes decisions in groups: the breaker is shown each one after its
    record is written, so a trip's record follows the decision that tripped it in the log,
    and the next group is decided by the fallback."""
    with gate.grouped() as group:
        run(gate, clock, ScriptedAgent(), 20, prefix="ok")
        run(gate, clock, ScriptedAgent(reasoning=""), 1, prefix="bad")
        assert breakers.allows_agent("invoice-agent")  # nothing written, nothing seen yet
        assert breaker_records(app) == []
        group.write()
        assert not breakers.allows_agent("invoice-agent")
        assert run(gate, clock, ScriptedAgent(), 2, prefix="fb") == [Mode.FALLBACK] * 2
    with app.uow() as uow:
        order = [(r.kind, r.record_id) for r in uow.audit.records()]
    tripped_at = next(n for n, (kind, _) in enumerate(order) if kind == "breaker")
    assert order[tripped_at - 1] == ("decision", "bad-0")
    assert [record_id for _, record_id in order[tripped_at + 1:]] == ["fb-0", "fb-1"]
    assert app.audit.verify() == []
