"""SQLite's writers in one process queue on an in-process lock, so the next one starts the
moment the last one ends (SQLite's own busy handler sleeps up to 100 ms between tries)."""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from typing import Any

import pytest

from finbot.adapters.db import uow as uow_module
from finbot.adapters.db.engine import write_lock
from finbot.adapters.db.uow import LedgerUnitOfWork
from finbot.bootstrap import App
from finbot.services.ports import TransientConflict

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def held_elsewhere(lock: threading.RLock) -> bool:
    """True when another thread holds ``lock`` (a probe thread cannot take it)."""
    taken: list[bool] = []

    def probe() -> None:
        taken.append(lock.acquire(blocking=False))
        if taken[0]:
            lock.release()

    prober = threading.Thread(target=probe)
    prober.start()
    prober.join()
    return not taken[0]


def test_a_write_unit_of_work_holds_the_lock_and_a_read_does_not(app: App) -> None:
    lock = write_lock(app.engine)
    assert lock is not None
    with app.uow():
        assert held_elsewhere(lock)
    assert not held_elsewhere(lock)
    with app.reader():
        assert not held_elsewhere(lock)
    with pytest.raises(RuntimeError), app.uow():
        raise RuntimeError("a handler failed")
    assert not held_elsewhere(lock)


def test_the_next_writer_starts_as_soon_as_the_last_one_ends(app: App) -> None:
    """Each time, one thread holds a write transaction for 0.3 s while another waits to
    begin one; the wait ends within a few milliseconds of the first one's end."""
    delays = [handoff_delay(app, n) for n in range(3)]
    assert statistics.median(delays) < 0.01, delays  # SQLite alone: ~30 ms here


def handoff_delay(app: App, n: int) -> float:
    released, started = [0.0], [0.0]
    inside = threading.Event()

    def first() -> None:
        with app.uow() as uow:
            uow.reviews.add_member(f"u-{n}-1", "v-1", 1)
            inside.set()
            time.sleep(0.3)
            uow.commit()
        released[0] = time.monotonic()

    def second() -> None:
        inside.wait()
        with app.uow() as uow:
            started[0] = time.monotonic()
            uow.reviews.add_member(f"u-{n}-2", "v-2", 1)
            uow.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return started[0] - released[0]


def test_a_writer_that_waits_too_long_gets_a_transient_conflict(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uow_module, "WRITE_WAIT_S", 0.1)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with app.uow():
            holding.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        with pytest.raises(TransientConflict, match="locked"), app.uow():
            pass
    finally:
        done.set()
        holder.join(timeout=5)
    with app.uow():  # and the lock is whole again
        pass


def lean(app: App) -> LedgerUnitOfWork:
    return LedgerUnitOfWork(app.engine)


def driver(uow: LedgerUnitOfWork) -> object:
    return uow.ledger.dbapi


def test_consecutive_ledger_transactions_reuse_one_parked_connection(app: App) -> None:
    with lean(app) as first:
        used = driver(first)
        first.commit()
    with lean(app) as second:
        assert driver(second) is used
        assert second.ledger.lock_and_read((), (), ()) == ({}, {}, {})
    with app.uow():  # other units of work take theirs from the pool
        assert app.engine.pool.checkedout() == 2
    assert app.engine.pool.checkedout() == 1  # only the parked one


def test_a_failed_ledger_transaction_returns_its_connection_to_the_pool(app: App) -> None:
    with lean(app) as first:
        used = driver(first)
    seen: list[object] = []

    def fail() -> None:
        with lean(app) as failing:
            seen.append(driver(failing))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert seen == [used]
    assert app.engine.pool.checkedout() == 0
    with lean(app) as after:
        assert after.ledger.lock_accounts(("nobody",), ()) == {}


def test_disposing_the_engine_closes_the_parked_connection(app: App) -> None:
    with lean(app) as first:
        used: Any = driver(first)
    app.engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        used.execute("SELECT 1")
    with lean(app) as after:
        assert driver(after) is not used


def test_a_forked_process_neither_uses_nor_closes_its_parents_parked_connection(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    with lean(app) as first:
        used: Any = driver(first)
    monkeypatch.setattr(uow_module.os, "getpid", lambda: -1)  # as in a forked child,
    app.engine.dispose(close=False)  # which first lets go of its parent's connections
    used.execute("SELECT 1")  # still open for the parent
    with lean(app) as child:
        assert driver(child) is not used
