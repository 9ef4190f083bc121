"""Raw baselines measured in the same run: plain INSERTs of the ledger's rows, no ledger.

Two tables with ledger_transfers' columns: ``bench_plain`` (primary key and unique id
only) and ``bench_indexed`` (also the ledger's secondary indexes), both written through
the DB-API cursor of an engine made like the product's, so pragmas and drivers match.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine

_COLUMNS = ("id, kind, debit_account_id, credit_account_id, amount, currency, ts, "
            "debit_balance, credit_balance")
_SECONDARY = ("CREATE INDEX {t}_debit ON {t} (debit_account_id, ts, seq)",
              "CREATE INDEX {t}_credit ON {t} (credit_account_id, ts, seq)",
              "CREATE INDEX {t}_parent ON {t} (parent_id) WHERE parent_id IS NOT NULL")


def create_baseline_tables(engine: Engine) -> None:
    pg = engine.dialect.name == "postgresql"
    seq = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    with engine.begin() as conn:
        for table in ("bench_plain", "bench_indexed"):
            conn.exec_driver_sql(
                f"CREATE TABLE {table} (seq {seq}, id VARCHAR(128) NOT NULL UNIQUE, "
                "kind VARCHAR(16) NOT NULL, debit_account_id INTEGER NOT NULL, "
                "credit_account_id INTEGER NOT NULL, amount BIGINT NOT NULL, "
                "currency VARCHAR(3) NOT NULL, ts BIGINT NOT NULL, debit_balance BIGINT NOT NULL,"
                " credit_balance BIGINT NOT NULL, parent_id VARCHAR(128), expires_at BIGINT, "
                "reference VARCHAR(256), meta TEXT)")
        for ddl in _SECONDARY:
            conn.exec_driver_sql(ddl.format(t="bench_indexed"))


def _row(prefix: str, n: int, accounts: int) -> tuple[Any, ...]:
    """Row ``n``: its debit and credit account ids walk ``accounts`` ids, as the ledger
    stages' transfers spread over their accounts, so an indexed table's inserts touch as
    many index leaves as the ledger's do."""
    return (f"{prefix}{n}", "posted", 1 + n % accounts, 1 + (n + 1) % accounts,
            100 + n % 1000, "USD", 1_700_000_000_000_000 + n, n, -n)


def single_rate(engine: Engine, table: str, *, seconds: float, accounts: int = 100,
                run: int = 0) -> float:
    """Rows per second, one INSERT and one COMMIT per row (``run`` keeps each call's ids
    apart when a table is measured more than once; ``accounts`` as for ``_row``, which
    only an indexed table notices)."""
    p = "%s" if engine.dialect.name == "postgresql" else "?"
    sql = f"INSERT INTO {table} ({_COLUMNS}) VALUES ({', '.join([p] * 9)})"
    with engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        cursor = dbapi.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            cursor.execute(sql, _row(f"s-{table}-{run}-", n, accounts))
            dbapi.commit()
            if engine.dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            n += 1
        elapsed = time.perf_counter() - start
        dbapi.rollback()
    return n / elapsed


def batch_rate(engine: Engine, table: str, *, seconds: float, accounts: int = 100,
               size: int = 1000, run: int = 0) -> float:
    """Rows per second, one multi-row INSERT of ``size`` rows per COMMIT (``run`` and
    ``accounts`` as for ``single_rate``)."""
    p = "%s" if engine.dialect.name == "postgresql" else "?"
    row = f"({', '.join([p] * 9)})"
    sql = f"INSERT INTO {table} ({_COLUMNS}) VALUES {', '.join([row] * size)}"
    with engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        cursor = dbapi.cursor()
        batches, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or batches < 3:
            params = [v for n in range(size)
                      for v in _row(f"b-{table}-{run}-{batches}-", n, accounts)]
            if engine.dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(sql, params)
            dbapi.commit()
            batches += 1
        elapsed = time.perf_counter() - start
    return batches * size / elapsed
