"""Idempotency keys: one effect per key whatever the retries, mismatches and concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from finbot.bootstrap import App
from finbot.domain.errors import IdempotencyConflict, IdempotencyInProgress, InvalidInput
from finbot.domain.ledger import TransferRequest
from finbot.services.idempotency import IdempotencyService
from finbot.services.ports import UnitOfWork


@pytest.fixture
def accounts(app: App) -> App:
    app.ledger.open_account("bank", name="Bank", type="asset", currency="USD")
    app.ledger.open_account("income", name="Income", type="income", currency="USD")
    return app


def pay(app: App, counter: list[int]) -> Any:
    def action(uow: UnitOfWork) -> tuple[int, Any]:
        counter.append(1)
        plan = app.ledger.plan_in(uow, [_group(f"pay-{len(counter)}")])
        return 201, {"transfer": plan.results[0][0].id, "code": plan.results[0][0].code.value}
    return action


def _group(transfer_id: str) -> Any:
    from finbot.domain.posting import Group
    return Group([TransferRequest(transfer_id, "bank", "income", "5", "USD")])


def test_replay_with_same_key_returns_first_response_byte_for_byte(accounts: App) -> None:
    counter: list[int] = []
    first = accounts.idempotency.run("payments", "k1", {"amount": "5"}, pay(accounts, counter))
    again = accounts.idempotency.run("payments", "k1", {"amount": "5"}, pay(accounts, counter))
    assert again.body == first.body
    assert again.status == 201
    assert again.replayed
    assert len(counter) == 1
    assert len(accounts.queries.history()) == 1


def test_same_key_with_a_different_request_is_a_conflict(accounts: App) -> None:
    accounts.idempotency.run("payments", "k1", {"amount": "5"}, pay(accounts, []))
    with pytest.raises(IdempotencyConflict):
        accounts.idempotency.run("payments", "k1", {"amount": "6"}, pay(accounts, []))


def test_keys_are_scoped_and_validated(accounts: App) -> None:
    counter: list[int] = []
    accounts.idempotency.run("a", "k1", {}, pay(accounts, counter))
    accounts.idempotency.run("b", "k1", {}, pay(accounts, counter))
    assert len(accounts.queries.history()) == 2
    with pytest.raises(InvalidInput):
        accounts.idempotency.run("a", "", {}, pay(accounts, []))


def test_an_expired_key_runs_again(accounts: App) -> None:
    counter: list[int] = []
    service = IdempotencyService(accounts.uow, ttl_s=1)
    service.run("p", "k", {}, pay(accounts, counter))
    later = IdempotencyService(accounts.uow, ttl_s=1,
                               clock=lambda: service._clock() + 5_000_000)
    later.run("p", "k", {}, pay(accounts, counter))
    assert len(counter) == 2
    assert later.purge_expired() == 0


def test_a_failed_command_leaves_no_key_and_no_effect(accounts: App) -> None:
    def boom(uow: UnitOfWork) -> tuple[int, Any]:
        accounts.ledger.plan_in(uow, [_group("never")])
        raise RuntimeError("crash mid-command")
    with pytest.raises(RuntimeError):
        accounts.idempotency.run("p", "k", {}, boom)
    assert accounts.queries.history() == []
    accounts.idempotency.run("p", "k", {}, pay(accounts, []))
    assert len(accounts.queries.history()) == 1


def test_a_long_command_in_progress_refuses_a_concurrent_duplicate(accounts: App) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> tuple[int, Any]:
        started.set()
        release.wait(10)
        return 200, {"done": True}

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(accounts.idempotency.run_long, "saga", "k", {}, slow)
        started.wait(10)
        with pytest.raises(IdempotencyInProgress):
            accounts.idempotency.run_long("saga", "k", {}, slow)
        release.set()
        assert first.result().json() == {"done": True}
    assert accounts.idempotency.run_long("saga", "k", {}, slow).replayed


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_requests_with_one_key_have_exactly_one_effect(accounts: App) -> None:
    counter: list[int] = []
    barrier = threading.Barrier(16)

    def attempt(_: int) -> bytes:
        barrier.wait()
        return accounts.idempotency.run("payments", "same", {"a": 1},
                                        pay(accounts, counter)).body

    with ThreadPoolExecutor(16) as pool:
        bodies = list(pool.map(attempt, range(16)))
    assert len(set(bodies)) == 1
    assert len(accounts.queries.history()) == 1
    assert list(accounts.queries.verify()) == []
