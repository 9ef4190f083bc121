"""The database itself refuses to rewrite ledger history: proven with raw SQL, no ORM."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from finbot.bootstrap import App
from finbot.domain.errors import NotFound
from finbot.domain.ledger import TransferRequest


@pytest.fixture
def posted(app: App) -> App:
    app.ledger.open_account("bank", name="Bank", type="asset", currency="USD")
    app.ledger.open_account("income", name="Income", type="income", currency="USD")
    app.ledger.transfer(TransferRequest("t1", "bank", "income", "10", "USD"))
    return app


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_transfers SET amount = amount + 1",
    "UPDATE ledger_transfers SET reference = 'edited'",
    "DELETE FROM ledger_transfers",
    "DELETE FROM ledger_accounts",
    "UPDATE ledger_accounts SET currency = 'EUR'",
    "UPDATE ledger_accounts SET code = 'renamed'",
    "UPDATE ledger_accounts SET type = 'equity'",
])
def test_the_database_refuses_to_rewrite_history(posted: App, statement: str) -> None:
    with pytest.raises(DBAPIError), posted.engine.begin() as conn:
        conn.execute(text(statement))
    assert posted.queries.transfer("t1").amount == 1000
    assert list(posted.queries.verify()) == []


def test_an_unbalanced_transfer_row_is_refused(posted: App) -> None:
    with pytest.raises(DBAPIError), posted.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, "
            "amount, currency, ts, debit_balance, credit_balance) "
            "VALUES ('bad', 'posted', 1, 1, 5, 'USD', 1, 0, 0)"))
    with pytest.raises(DBAPIError), posted.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, "
            "amount, currency, ts, debit_balance, credit_balance) "
            "VALUES ('bad', 'posted', 1, 2, -5, 'USD', 1, 0, 0)"))


@pytest.mark.parametrize(("debit", "credit", "currency"), [
    (1, 2, "EUR"),  # both accounts hold USD
    (1, 999, "USD"),  # no account 999
    (999, 2, "USD"),
])
def test_a_transfer_whose_accounts_do_not_exist_or_hold_its_currency_is_refused(
        posted: App, debit: int, credit: int, currency: str) -> None:
    with pytest.raises(DBAPIError), posted.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, "
            "amount, currency, ts, debit_balance, credit_balance) "
            "VALUES ('bad', 'posted', :debit, :credit, 5, :currency, 1, 0, 0)"),
            {"debit": debit, "credit": credit, "currency": currency})
    with pytest.raises(NotFound):
        posted.queries.transfer("bad")
    assert list(posted.queries.verify()) == []


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_checks_the_accounts_of_every_row_a_copy_brings(posted: App) -> None:
    """Big batches arrive by COPY: the statement-level check sees all of its rows and names
    the first transfer whose account is missing."""
    rows = [("ok", "posted", 1, 2, 5, "USD", 2, 1005, -5),
            ("bad", "posted", 1, 999, 5, "USD", 3, 1010, -5)]
    with posted.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        with pytest.raises(psycopg.errors.ForeignKeyViolation,
                           match=r"ledger_transfers bad: its credit account 999 does not exist "
                                 r"or does not hold USD"):
            _copy_transfers(cursor, rows)
        conn.rollback()
    with pytest.raises(NotFound):
        posted.queries.transfer("ok")
    assert list(posted.queries.verify()) == []


def _copy_transfers(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy("COPY ledger_transfers (id, kind, debit_account_id, credit_account_id, "
                     "amount, currency, ts, debit_balance, credit_balance) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_refuses_truncate_and_balances_that_disagree_with_postings(posted: App) -> None:
    with pytest.raises(DBAPIError, match="append-only"), posted.engine.begin() as conn:
        conn.execute(text("TRUNCATE ledger_transfers CASCADE"))
    # a reservation out of nowhere: no posted balance moves, so only the zero sum refuses it
    with pytest.raises(DBAPIError, match="sum to zero"), posted.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_accounts SET debits_pending = debits_pending + 1 "
                          "WHERE code = 'bank'"))
    with pytest.raises(DBAPIError), posted.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_accounts SET debits_posted = debits_posted + 1 "
                          "WHERE code = 'bank'"))
    with pytest.raises(DBAPIError, match="disagrees with its history"), \
            posted.engine.begin() as conn:
        conn.execute(text(
            "UPDATE ledger_accounts SET "
            "debits_posted = debits_posted + CASE code WHEN 'bank' THEN 1 ELSE 0 END, "
            "credits_posted = credits_posted + CASE code WHEN 'income' THEN 1 ELSE 0 END"))


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_checks_a_many_account_update_as_a_whole(posted: App) -> None:
    """One statement moving balances between three accounts: the deltas net to zero, so
    only the history check can name the account whose balance has no transfer behind it."""
    posted.ledger.open_account("fees", name="Fees", type="income", currency="USD")
    posted.ledger.transfer(TransferRequest("t2", "bank", "fees", "2", "USD"))
    moved = ("UPDATE ledger_accounts SET credits_posted = credits_posted + CASE code "
             "WHEN 'income' THEN -100 WHEN 'fees' THEN 100 ELSE 0 END")
    with pytest.raises(DBAPIError, match=r"ledger_accounts (income|fees): posted balance"), \
            posted.engine.begin() as conn:
        conn.execute(text(moved))
    with posted.engine.begin() as conn:  # a change with nothing posted passes
        conn.execute(text("UPDATE ledger_accounts SET name = name || ' (renamed)'"))
    assert posted.queries.account("fees").name == "Fees (renamed)"
    assert list(posted.queries.verify()) == []


def test_verify_names_the_first_inconsistency_when_guards_are_bypassed(posted: App) -> None:
    with posted.engine.begin() as conn:
        if posted.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE ledger_accounts DISABLE TRIGGER USER"))
            conn.execute(text("UPDATE ledger_accounts SET debits_posted = 999 "
                              "WHERE code = 'bank'"))
            conn.execute(text("ALTER TABLE ledger_accounts ENABLE TRIGGER USER"))
        else:
            conn.execute(text("UPDATE ledger_accounts SET debits_posted = 999 "
                              "WHERE code = 'bank'"))
    problems = list(posted.queries.verify())
    assert problems[0].check == "zero_sum"
    assert any(p.check == "balances" and "account=bank" in p.message for p in problems)


def test_verify_names_a_transfer_whose_account_is_missing_when_guards_are_bypassed(
        posted: App) -> None:
    row = ("INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, "
           "amount, currency, ts, debit_balance, credit_balance) "
           "VALUES ('ghost', 'posted', 1, 999, 5, 'USD', 2, 1005, -5)")
    if posted.engine.dialect.name == "postgresql":
        with posted.engine.begin() as conn:
            conn.execute(text("ALTER TABLE ledger_transfers DISABLE TRIGGER "
                              "ledger_transfers_reference_accounts"))
            conn.execute(text(row))
            conn.execute(text("ALTER TABLE ledger_transfers ENABLE TRIGGER "
                              "ledger_transfers_reference_accounts"))
    else:
        with posted.engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
            conn.execute(text(row))
            conn.commit()
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")
    problems = [p for p in posted.queries.verify() if p.check == "accounts"]
    assert len(problems) == 1
    assert "transfer=ghost" in problems[0].message
    assert "credit_account_id=999" in problems[0].message
