"""Reads and appends ledger rows on one connection; never commits (the unit of work does).

The hot path issues a handful of statements per batch (lock accounts, read history,
insert transfers, one balance UPDATE), whatever the batch size. Profiling showed that
building SQLAlchemy statements cost more than the database work, so those statements
are plain SQL on the connection's DB-API cursor, inside SQLAlchemy's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from finbot.adapters.db.ledger_sql import (
    ACCOUNT_COLUMNS,
    COPY_ROWS,
    COPY_TRANSFERS,
    COPY_TYPES,
    FEW_ROWS,
    HISTORY_BY_ID,
    INSERT_HEAD,
    INSERT_JSON,
    INSERT_SQLITE,
    SHORT_LIST,
    TRANSFER_COLUMNS,
    UPDATE_JSON,
    UPDATE_SQLITE,
    account_from_tuple,
    chunks,
    json_value,
    paired_chunks,
    transfer_copy_row,
    transfer_from_tuple,
    transfer_params,
    transfer_row,
)
from finbot.adapters.db.pg_pipeline import Statement, run_pipeline
from finbot.domain.ledger import (
    Account,
    AccountFlag,
    AccountType,
    Balances,
    Rejection,
    ResultCode,
    Transfer,
    TransferKind,
)


class LedgerRepository:
    """The ledger tables seen through one open connection (and its transaction)."""

    def __init__(self, dbapi: Any, dialect: str) -> None:
        """``dbapi`` is a DB-API connection inside the caller's transaction."""
        self.dbapi = dbapi
        self.last_update_us = 0
        self._pg = dialect == "postgresql"
        self._p = "%s" if self._pg else "?"
        self.deferred: list[tuple[str, list[Any]]] = []
        self.begin_pending = False  # PostgreSQL, lean unit of work: BEGIN rides the next trip
        self.names_checked = False  # prepared statements checked in this transaction
        self._shared_cursor: Any = None

    @classmethod
    def on(cls, connection: Connection) -> LedgerRepository:
        """The repository inside a SQLAlchemy connection's transaction."""
        return cls(connection.connection.dbapi_connection, connection.dialect.name)

    def _cursor(self) -> Any:
        if self._shared_cursor is None:
            self._shared_cursor = self.dbapi.cursor()
        return self._shared_cursor

    def close(self) -> None:
        if self._shared_cursor is not None:
            self._shared_cursor.close()
            self._shared_cursor = None

    def _in(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        """``column IN (...)``, or ``column = ANY(array)`` for long lists on PostgreSQL
        (psycopg adapts scalars much faster than lists; arrays keep big statements short)."""
        return _in_sql(self._pg, column, len(values)), self._in_params(values)

    def _in_params(self, values: list[Any]) -> list[Any]:
        """The parameters of ``_in``'s term for ``values``."""
        return [values] if self._pg and len(values) > SHORT_LIST else values

    def _select(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._pg:
            return self._pg_round_trip([(sql, params)])[0]
        cursor = self._cursor()
        cursor.execute(sql, params)
        return list(cursor.fetchall())

    def _pg_round_trip(self, reads: Sequence[tuple[str, Sequence[Any]]], *,
                       commit: bool = False) -> list[list[Any]]:
        """One pipeline: a pending BEGIN, held-back writes, ``reads``, then COMMIT if asked.
        The server runs them in that order, so reads see the writes and follow the locks."""
        writes, self.deferred = self.deferred, []
        begin, self.begin_pending = self.begin_pending, False
        statements: list[Statement] = []
        for sql, values in writes:
            if values and isinstance(values[0], tuple):
                statements += [(sql, row) for row in values]
            else:
                statements.append((sql, values))
        first_read = len(statements)
        statements += reads
        if commit:
            statements.append(("COMMIT", None))
        # Named statements only in a transaction the lean unit of work opens here (the
        # pipeline checks they still exist) and for the rest of that transaction.
        prepared = begin or self.names_checked
        results = run_pipeline(self.dbapi, statements, begin=begin, prepared=prepared)
        self.names_checked = prepared
        return results[first_read:first_read + len(reads)]

    def abandon(self) -> None:
        """The transaction was rolled back: nothing held back, nothing checked."""
        self.deferred.clear()
        self.begin_pending = False
        self.names_checked = False

    # -- accounts ----------------------------------------------------------------------

    def insert_account(self, *, code: str, name: str, type: AccountType, currency: str,
                       flags: AccountFlag, now_us: int) -> None:
        p = self._p
        self._write(
            "INSERT INTO ledger_accounts (code, name, type, currency, flags, created_at, "
            f"updated_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            [code, name, type.value, currency, int(flags), now_us, now_us])

    def lock_accounts(self, codes: Collection[str], ids: Collection[int]) -> dict[int, Account]:
        """Load accounts by code or id, locked for update in id order (no deadlocks)."""
        return self.lock_and_read(codes, ids, ())[0]

    def lock_and_read(self, codes: Collection[str], account_ids: Collection[int],
                      transfer_ids: Collection[str]) -> tuple[
                          dict[int, Account], dict[str, Transfer], dict[str, Rejection]]:
        """Lock accounts, then read transfers and rejections by id: one round trip on
        PostgreSQL (pipelined; the server still runs them in order, reads after locks),
        one statement on SQLite."""
        statements: list[tuple[str, list[Any]]] = []
        if codes or account_ids:
            for code_chunk, id_chunk in paired_chunks(codes, account_ids):
                params = self._in_params(code_chunk) + self._in_params(id_chunk)
                statements.append((_account_read(self._pg, len(code_chunk), len(id_chunk)),
                                   params))
        for chunk in chunks(transfer_ids):
            params = self._in_params(chunk)
            statements.append((_history_read(self._pg, len(chunk)), params + params))
        if self._pg:
            return self._decode_reads(r for rows in self._pg_round_trip(statements)
                                      for r in rows)
        if not statements:
            return {}, {}, {}
        # SQLite: one statement, one execute (a transfer per commit spent ~10 µs on the
        # second); its write lock is already held, so the reads need no order.
        return self._decode_reads(self._select(" UNION ALL ".join(q for q, _ in statements),
                                               [v for _, p in statements for v in p]))

    def _decode_reads(self, rows: Iterable[Any]) -> tuple[
            dict[int, Account], dict[str, Transfer], dict[str, Rejection]]:
        """Rows tagged 'a' (an account), 't' (a transfer) or 'r' (a remembered rejection:
        id, code in kind, ts, request in meta)."""
        accounts: list[Any] = []
        existing: dict[str, Transfer] = {}
        rejected: dict[str, Rejection] = {}
        for r in rows:
            if r[0] == "a":
                accounts.append(r)
            elif r[0] == "t":
                existing[r[2]] = transfer_from_tuple(r[1:])
            else:
                rejected[r[2]] = Rejection(r[2], ResultCode(r[3]), json_value(r[14]), r[8])
        found: dict[int, Account] = {}
        # PostgreSQL returns accounts in id order (its locks are taken in that order)
        for r in accounts if self._pg else sorted(accounts):
            found[r[1]] = account_from_tuple(r[1:])
            self.last_update_us = max(self.last_update_us, r[12])
        return found, existing, rejected

    def account_by_code(self, code: str) -> Account | None:
        rows = self._select(f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE code = "
                            f"{self._p}", (code,))
        return account_from_tuple(rows[0]) if rows else None

    def _select_in(self, column: str, values: Collection[Any], sql: str) -> list[Any]:
        """Rows of ``sql`` (with ``{where}`` for the IN-list), over chunks of ``values``."""
        rows: list[Any] = []
        for chunk in chunks(values):
            where, params = self._in(column, chunk)
            rows += self._select(sql.format(where=where), params)
        return rows

    def transfers_by_id(self, ids: Collection[str]) -> dict[str, Transfer]:
        rows = self._select_in("id", ids, f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers "
                                          "WHERE {where}")
        return {r[1]: transfer_from_tuple(r) for r in rows}

    def resolutions(self, pending_ids: Collection[str]) -> dict[str, TransferKind]:
        rows = self._select_in(
            "parent_id", pending_ids,
            "SELECT parent_id, kind FROM ledger_transfers WHERE {where} AND parent_id IS NOT "
            "NULL AND kind IN ('post_pending','void_pending','expire_pending')")
        return {r[0]: TransferKind(r[1]) for r in rows}

    def reversed_amounts(self, target_ids: Collection[str]) -> dict[str, int]:
        rows = self._select_in(
            "parent_id", target_ids,
            "SELECT parent_id, SUM(amount) FROM ledger_transfers WHERE {where} AND parent_id "
            "IS NOT NULL AND kind = 'reversal' GROUP BY parent_id")
        return {r[0]: int(r[1]) for r in rows}

    def expired_pending_ids(self, now_us: int, *, limit: int) -> list[str]:
        rows = self._select(
            "SELECT p.id FROM ledger_transfers p WHERE p.expires_at <= "
            f"{self._p} AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE "
            "r.parent_id = p.id AND r.kind IN ('post_pending','void_pending','expire_pending'))"
            f" ORDER BY p.expires_at LIMIT {int(limit)}", (now_us,))
        return [r[0] for r in rows]

    # -- appending -------------------------------------------------------------------------

    def append(self, new: Sequence[Transfer], rejected: Sequence[Rejection],
               balances: dict[int, Balances], now_us: int) -> None:
        """Insert transfers and rejections and update balances.

        On PostgreSQL the writes are held back and sent with the COMMIT in one pipeline
        (see ``SqlUnitOfWork.commit``), saving two network round trips per batch.
        """
        p = self._p
        if new:
            self._insert_transfers(new)
        if rejected:
            self._write(f"INSERT INTO ledger_rejections (id, code, request, ts) "
                        f"VALUES ({p}, {p}, {p}, {p})",
                        [(r.id, r.code.value, json.dumps(dict(r.request)), r.timestamp)
                         for r in rejected])
        if balances:
            self._write(*self._balance_update(balances, now_us))

    def _insert_transfers(self, new: Sequence[Transfer]) -> None:
        """SQLite: one prepared INSERT run per row (executemany is a C loop there).
        PostgreSQL: VALUES rows for a few transfers and a JSON document for more, each one
        statement held back for the COMMIT's pipeline (psycopg re-parses statements longer
        than 4 KB or with over 50 parameters on every call); COPY for big batches, sent
        at once."""
        if not self._pg:
            rows = [transfer_params(t) for t in new]
            self._write(INSERT_SQLITE, rows if len(rows) > 1 else list(rows[0]))
        elif len(new) <= FEW_ROWS:
            row = f"({', '.join(['%s'] * 13)})"
            self._write(f"{INSERT_HEAD} VALUES {', '.join([row] * len(new))}",
                        [v for t in new for v in transfer_params(t)])
        elif len(new) < COPY_ROWS:
            self._write(INSERT_JSON, [json.dumps([transfer_row(t) for t in new])])
        else:
            if self.deferred or self.begin_pending:
                self._pg_round_trip([])  # what came before goes first, BEGIN included
            with self._cursor().copy(COPY_TRANSFERS) as copy:
                copy.set_types(COPY_TYPES)
                for t in new:
                    copy.write_row(transfer_copy_row(t))

    def _write(self, sql: str, params: list[Any]) -> None:
        if self._pg:
            self.deferred.append((sql, params))
            return
        cursor = self._cursor()
        if params and isinstance(params[0], tuple):
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)

    def flush(self, *, commit: bool = False) -> None:
        """Send held-back writes (and COMMIT, when asked) in one pipeline."""
        if not self.deferred and (not commit or self.begin_pending):
            self.begin_pending = False  # nothing was ever sent: no transaction to end
            return
        self._pg_round_trip([], commit=commit)

    def _balance_update(self, balances: dict[int, Balances], now_us: int) -> tuple[
            str, list[Any]]:
        """PostgreSQL: one UPDATE for all accounts, so its statement-level trigger checks the
        deltas sum to zero. SQLite has no such trigger: one prepared UPDATE per account."""
        if not self._pg:
            return UPDATE_SQLITE, [(b.debits_pending, b.debits_posted, b.credits_pending,
                                    b.credits_posted, now_us, i) for i, b in balances.items()]
        rows = [(i, b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted)
                for i, b in balances.items()]
        if len(rows) > FEW_ROWS:
            return UPDATE_JSON, [now_us, json.dumps(rows)]
        row = "(%s, %s, %s, %s, %s)"
        return (f"WITH v(id, dp, dpo, cp, cpo) AS (VALUES {', '.join([row] * len(rows))}) "
                "UPDATE ledger_accounts SET debits_pending = v.dp::bigint, "
                "debits_posted = v.dpo::bigint, credits_pending = v.cp::bigint, "
                "credits_posted = v.cpo::bigint, updated_at = %s "
                "FROM v WHERE ledger_accounts.id = v.id::bigint",
                [v for r in rows for v in r] + [now_us])


# The reads' SQL depends only on the backend and how many values each list holds, so it
# is built once per shape, not on every read of every transaction. Bounded: SQLite's
# lists run to CHUNK values, so shapes can be many, each text long.
@lru_cache(maxsize=256)
def _in_sql(pg: bool, column: str, n: int) -> str:
    if not n:
        return "1 = 0"
    if pg and n > SHORT_LIST:
        return f"{column} = ANY(%s)"
    return f"{column} IN ({','.join(['%s' if pg else '?'] * n)})"


@lru_cache(maxsize=256)
def _account_read(pg: bool, n_codes: int, n_ids: int) -> str:
    """Accounts by code and id. PostgreSQL locks the rows in id order (no deadlocks);
    SQLite's BEGIN IMMEDIATE already holds the one write lock, and pads the row to the
    history's columns, as its reads travel as one UNION ALL."""
    # Only non-empty terms: SQLite scans the whole table for `x IN (...) OR 1 = 0`.
    where = " OR ".join(_in_sql(pg, column, n) for column, n in (("code", n_codes),
                                                                  ("id", n_ids)) if n)
    if pg:
        return (f"SELECT 'a', {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE {where} "
                "ORDER BY id FOR NO KEY UPDATE")
    return f"SELECT 'a', {ACCOUNT_COLUMNS}, NULL, NULL FROM ledger_accounts WHERE {where}"


@lru_cache(maxsize=256)
def _history_read(pg: bool, n: int) -> str:
    return HISTORY_BY_ID.format(where=_in_sql(pg, "id", n))
