"""The simulated rail: one payment per key, whatever the retries and lost answers."""

from __future__ import annotations

from finbot.adapters.rails.simulated import RailBehaviour, SimulatedRail
from finbot.bootstrap import App
from finbot.execution.rail import RailOutcome


def send(rail: SimulatedRail, key: str = "k1", amount: int = 500) -> RailOutcome:
    return rail.send(key=key, payee="vendor", amount_minor=amount, currency="USD").outcome


def test_a_retried_key_returns_the_first_outcome_and_pays_once(app: App) -> None:
    rail = SimulatedRail(app.engine)
    first = rail.send(key="k1", payee="vendor", amount_minor=500, currency="USD")
    again = rail.send(key="k1", payee="vendor", amount_minor=500, currency="USD")
    assert first == again
    assert first.outcome is RailOutcome.ACCEPTED
    assert rail.payments_for("k1") == 1


def test_a_key_reused_for_another_payment_is_refused(app: App) -> None:
    rail = SimulatedRail(app.engine)
    send(rail)
    assert send(rail, amount=501) is RailOutcome.REJECTED
    assert rail.payments_for("k1") == 1


def test_a_lost_answer_hides_a_payment_the_rail_made(app: App) -> None:
    rail = SimulatedRail(app.engine, RailBehaviour(unknown_rate=1.0))
    assert send(rail) is RailOutcome.UNKNOWN
    assert rail.status("k1").outcome is RailOutcome.ACCEPTED


def test_a_timeout_never_reaches_the_rail(app: App) -> None:
    rail = SimulatedRail(app.engine, RailBehaviour(timeout_rate=1.0))
    assert send(rail) is RailOutcome.UNKNOWN
    assert rail.status("k1").outcome is RailOutcome.NOT_FOUND
    assert rail.payments_for("k1") == 0


def test_the_same_seed_gives_the_same_outcomes(app: App) -> None:
    behaviour = RailBehaviour(failure_rate=0.5, seed=42)
    rail_a = SimulatedRail(app.engine, behaviour)
    rail_b = SimulatedRail(app.engine, behaviour)
    outcomes_a = [send(rail_a, key=f"x{n}") for n in range(20)]
    outcomes_b = [send(rail_b, key=f"y{n}") for n in range(20)]
    assert outcomes_a == outcomes_b
    assert {RailOutcome.ACCEPTED, RailOutcome.REJECTED} == set(outcomes_a)
