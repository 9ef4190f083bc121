"""Payment sagas on both backends: happy and failure paths, lost rail answers, crashes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from finbot.adapters.rails.simulated import RailBehaviour, SimulatedRail
from finbot.bootstrap import App
from finbot.domain.errors import (
    Conflict,
    ExecutionRefused,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
)
from finbot.domain.ledger import AccountFlag, TransferRequest
from finbot.domain.payments import Saga, SagaState
from finbot.execution.saga import PaymentExecutor
from tests.approvals import approve

PAYABLE, BANK = "vendor:001:payable:USD", "company:bank"


@pytest.fixture
def books(app: App) -> App:
    app.ledger.open_account(BANK, name="Bank", type="asset", currency="USD")
    app.ledger.open_account("company:expenses", name="Expenses", type="expense", currency="USD")
    app.ledger.open_account(PAYABLE, name="Vendor 1", type="liability", currency="USD",
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    app.ledger.open_account("eur:bank", name="EUR bank", type="asset", currency="EUR")
    app.ledger.transfer(TransferRequest("invoice-1", "company:expenses", PAYABLE, "100", "USD"))
    approve(app, "dec-1", payee=PAYABLE, amount="40")
    return app


def executor(app: App, **behaviour: float) -> tuple[PaymentExecutor, SimulatedRail]:
    rail = SimulatedRail(app.engine, RailBehaviour(seed=1, **behaviour))
    return PaymentExecutor(app.uow, app.ledger, rail, idempotency=app.idempotency,
                           audit=app.audit, retry_delay_s=0.001), rail


def pay(payments: PaymentExecutor, payment_id: str = "pay-1", amount: str = "40",
        decision: str = "dec-1") -> Saga:
    return payments.execute_payment(payment_id, payee_account=PAYABLE, source_account=BANK,
                                    amount=amount, currency="USD", decision_id=decision)


def assert_books_sound(app: App) -> None:
    assert list(app.queries.verify()) == []
    assert app.queries.account(PAYABLE).balances.debits_pending == 0


def test_a_payment_reserves_sends_and_posts_exactly_once(books: App) -> None:
    payments, rail = executor(books)
    saga = payments.execute_payment("pay-1", payee_account=PAYABLE, source_account=BANK,
                                    amount="40", currency="USD", decision_id="dec-1")
    assert saga.state is SagaState.COMPLETED
    assert saga.rail_reference
    assert rail.payments_for(saga.rail_key) == 1
    assert books.queries.account(PAYABLE).balance() == 6000
    assert books.queries.account(BANK).balance() == -4000
    steps = [(s.step, s.status) for s in payments.history("pay-1")]
    assert steps == [("created", "done"), ("reserve", "done"), ("send", "intent"),
                     ("send", "done"), ("post", "done")]
    assert_books_sound(books)
    with books.uow() as uow:
        execution = uow.audit.by_id("execution:pay-1")
    assert execution is not None
    assert execution.decision_id == "dec-1"
    assert execution.data["state"] == "completed"
    assert books.audit.verify() == []


def test_a_rail_refusal_voids_the_reservation(books: App) -> None:
    payments, rail = executor(books, failure_rate=1.0)
    saga = pay(payments)
    assert saga.state is SagaState.FAILED
    assert saga.error == "payee account closed"
    assert rail.payments_for(saga.rail_key) == 0
    assert books.queries.account(PAYABLE).balance(posted_only=False) == 10000
    assert_books_sound(books)


def test_a_reservation_the_ledger_refuses_never_reaches_the_rail(books: App) -> None:
    payments, rail = executor(books)
    approve(books, "dec-150", payee=PAYABLE, amount="150")
    saga = pay(payments, amount="150", decision="dec-150")
    assert saga.state is SagaState.FAILED
    assert saga.error == "exceeds_credits"
    assert rail.payments_for(saga.rail_key) == 0
    assert_books_sound(books)


def test_a_lost_answer_is_asked_about_and_the_payment_lands_once(books: App) -> None:
    payments, rail = executor(books, unknown_rate=1.0)
    saga = pay(payments)
    assert saga.state is SagaState.COMPLETED
    assert rail.payments_for(saga.rail_key) == 1
    assert ("status", "done") in [(s.step, s.status) for s in payments.history(saga.id)]
    assert_books_sound(books)


def test_a_rail_that_keeps_timing_out_leaves_the_saga_resumable(books: App) -> None:
    payments, rail = executor(books, timeout_rate=1.0)
    saga = pay(payments)
    assert saga.state is SagaState.UNKNOWN
    assert books.queries.account(PAYABLE).balances.debits_pending == 4000
    rail.behaviour = RailBehaviour()
    [resumed] = payments.resume_all()
    assert resumed.state is SagaState.COMPLETED
    assert rail.payments_for(saga.rail_key) == 1
    assert_books_sound(books)


def test_the_same_payment_id_is_one_payment(books: App) -> None:
    payments, _ = executor(books)
    first = pay(payments)
    again = pay(payments)
    assert again == first
    assert books.queries.account(BANK).balance() == -4000
    with pytest.raises(Conflict) as error:
        pay(payments, amount="41")
    assert error.value.field == "amount"
    with pytest.raises(ExecutionRefused):
        pay(payments, payment_id="pay-2")  # the same decision cannot pay twice


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"amount": "0"}, InvalidInput),
    ({"amount": "-5"}, InvalidInput),
    ({"amount": "1.001"}, InvalidInput),
    ({"currency": "XYZ"}, InvalidInput),
    ({"currency": "EUR"}, InvalidInput),
    ({"payee_account": "nobody"}, NotFound),
    ({"payment_id": ""}, InvalidInput),
])
def test_bad_payment_requests_are_refused_and_write_nothing(
        books: App, kwargs: dict[str, str], error: type[Exception]) -> None:
    payments, _ = executor(books)
    args = {"payment_id": "p", "payee_account": PAYABLE, "source_account": BANK,
            "amount": "10", "currency": "USD", "decision_id": "dec-1", **kwargs}
    payment_id = args.pop("payment_id")
    with pytest.raises(error):
        payments.execute_payment(payment_id, **args)
    with pytest.raises(NotFound):
        payments.get("p")


def test_an_idempotency_key_replays_the_first_answer(books: App) -> None:
    payments, _ = executor(books)
    kwargs = {"payee_account": PAYABLE, "source_account": BANK, "amount": "40",
              "currency": "USD", "decision_id": "dec-1"}
    first = payments.execute_with_key("key-1", "pay-9", **kwargs)
    again = payments.execute_with_key("key-1", "pay-9", **kwargs)
    assert again.body == first.body
    assert again.replayed
    assert first.json()["state"] == "completed"
    with pytest.raises(IdempotencyConflict):
        payments.execute_with_key("key-1", "pay-10", **kwargs)


@pytest.mark.parametrize(("decision", "error_field"), [
    ({"outcome": "ESCALATE"}, "decision_id"),
    ({"outcome": "BLOCK"}, "decision_id"),
    ({"mode": "shadow"}, "decision_id"),
    ({"amount": "39"}, "amount"),
    ({"payee": "company:expenses"}, "payee_account"),
    ({"limit": "30"}, "amount"),
])
def test_a_payment_without_a_matching_approved_decision_is_refused(
        books: App, decision: dict[str, str], error_field: str) -> None:
    payments, _ = executor(books)
    approve(books, "dec-x", **{"payee": PAYABLE, "amount": "40", **decision})
    with pytest.raises(ExecutionRefused) as error:
        pay(payments, payment_id="pay-x", decision="dec-x")
    assert error.value.field == error_field
    with pytest.raises(ExecutionRefused):
        pay(payments, payment_id="pay-y", decision="no-such-decision")
    assert books.queries.account(BANK).balance() == 0
    with pytest.raises(NotFound):
        payments.get("pay-x")


CRASH_SCRIPT = textwrap.dedent("""
    import os, sys
    from finbot.adapters.rails.simulated import RailBehaviour, SimulatedRail
    from finbot.bootstrap import bootstrap
    from finbot.config import Settings
    from finbot.execution.saga import PaymentExecutor

    url, point, failure = sys.argv[1], sys.argv[2], float(sys.argv[3])
    app = bootstrap(Settings(database_url=url, environment="test"), run_migrations=False)

    def crash(reached):
        if reached == point:
            os._exit(137)

    rail = SimulatedRail(app.engine, RailBehaviour(failure_rate=failure))
    PaymentExecutor(app.uow, app.ledger, rail, checkpoint=crash).execute_payment(
        "pay-crash", payee_account="vendor:001:payable:USD", source_account="company:bank",
        amount="40", currency="USD", decision_id="dec-1")
    sys.exit(3)  # the crash point was never reached
""")


@pytest.mark.slow
@pytest.mark.parametrize(("point", "failure", "final", "paid"), [
    ("reserve:before", 0.0, SagaState.COMPLETED, 1),
    ("reserve:after", 0.0, SagaState.COMPLETED, 1),
    ("send:before", 0.0, SagaState.COMPLETED, 1),
    ("send:after", 0.0, SagaState.COMPLETED, 1),
    ("post:after", 0.0, SagaState.COMPLETED, 1),
    ("send:after", 1.0, SagaState.FAILED, 0),
    ("void:after", 1.0, SagaState.FAILED, 0),
])
def test_a_saga_killed_at_any_step_ends_correctly_on_restart(
        books: App, database_url: str, point: str, failure: float, final: SagaState,
        paid: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, database_url, point,
                              str(failure)], env=env, capture_output=True, timeout=120)
    assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
    payments, rail = executor(books, failure_rate=failure)
    [resumed] = payments.resume_all() or [payments.get("pay-crash")]
    assert resumed.state is final
    assert rail.payments_for(resumed.rail_key) == paid
    assert books.queries.account(BANK).balance() == -4000 * paid
    assert payments.resume_all() == []
    assert_books_sound(books)
