"""Read-side ledger queries: balances now and at any past moment, history, and verify.

Current balances are one primary-key read. A balance at a past moment is one index
lookup per side, because every transfer row records both accounts' posted balance after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, or_, select, text

from finbot.adapters.db.engine import READ_ONLY
from finbot.adapters.db.ledger_sql import (
    ACCOUNT_COLUMNS,
    account_from_row,
    account_from_tuple,
    transfer_from_row,
)
from finbot.adapters.db.tables import accounts, transfers
from finbot.domain.errors import NotFound
from finbot.domain.ledger import Account, Transfer

POSTING_KINDS = "('posted','post_pending','reversal')"


@dataclass(frozen=True)
class Inconsistency:
    """One thing ``verify`` found wrong, with enough detail to find the row."""

    check: str
    message: str


class LedgerQueries:
    """Read-only views of the ledger; each call runs in its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._placeholder = "%s" if self._pg else "?"

    def _connect(self) -> Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """One statement on a pooled DB-API connection: the hot read path (no ORM layer).

        On PostgreSQL it runs in autocommit, one statement being its own transaction: one
        round trip, where a transaction of its own cost three (BEGIN, the statement, and
        the ROLLBACK of the pool's reset)."""
        raw = self._engine.raw_connection()
        dbapi: Any = raw.driver_connection
        try:
            if self._pg:
                dbapi.autocommit = True
            cursor = dbapi.cursor()
            cursor.execute(sql.replace("?", self._placeholder), params)
            rows = list(cursor.fetchall())
            cursor.close()
            return rows
        finally:
            if self._pg:
                dbapi.autocommit = False
            raw.close()

    def account(self, code: str) -> Account:
        """The account and its current balances: one primary-key-sized read."""
        rows = self._read(f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE code = ?",
                          (code,))
        if not rows:
            raise NotFound(f"no account {code!r}", field="account")
        return account_from_tuple(rows[0])

    def accounts(self) -> list[Account]:
        with self._connect() as conn:
            rows = conn.execute(select(accounts).order_by(accounts.c.id)).mappings().all()
        return [account_from_row(r) for r in rows]

    def transfer(self, transfer_id: str) -> Transfer:
        with self._connect() as conn:
            row = conn.execute(
                select(transfers).where(transfers.c.id == transfer_id)).mappings().first()
        if row is None:
            raise NotFound(f"no transfer {transfer_id!r}", field="transfer")
        return transfer_from_row(row)

    def posted_balance_at(self, account: Account, at_us: int) -> int:
        """The account's posted balance (normal side) just after the last transfer <= at:
        the newest row on either side, each found by one index lookup."""
        rows = self._read(_BALANCE_AT, (account.id, at_us, account.id, at_us))
        net = int(rows[0][2]) if rows else 0
        return net if account.type.debit_normal else -net

    def history(self, account: Account | None = None, *, after_seq: int = 0,
                limit: int = 100, newest_first: bool = False) -> list[Transfer]:
        """Transfers in commit order after ``after_seq`` (a cursor), optionally of one account."""
        query = select(transfers).where(transfers.c.seq > after_seq)
        if account is not None:
            query = query.where(or_(transfers.c.debit_account_id == account.id,
                                    transfers.c.credit_account_id == account.id))
        order = transfers.c.seq.desc() if newest_first else transfers.c.seq
        with self._connect() as conn:
            rows = conn.execute(query.order_by(order).limit(limit)).mappings().all()
        return [transfer_from_row(r) for r in rows]

    def verify(self) -> Iterator[Inconsistency]:
        """Recompute balances from postings and check zero-sum and history; lazily."""
        with self._connect() as conn:
            yield from _check_guards(conn)
            for check, sql in _CHECKS:
                for row in conn.execute(text(sql)).mappings():
                    yield Inconsistency(check, _describe(check, dict(row)))


def _describe(check: str, row: dict[str, object]) -> str:
    return f"{check}: " + ", ".join(f"{k}={v}" for k, v in row.items())


def _check_guards(conn: Connection) -> Iterator[Inconsistency]:
    if conn.dialect.name == "postgresql":
        sql = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
               "AND tgrelid = 'ledger_transfers'::regclass")
    else:
        sql = "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='ledger_transfers'"
    names = set(conn.execute(text(sql)).scalars())
    if not names:
        yield Inconsistency("append_only", "append_only: ledger_transfers has no guard triggers;"
                            " the database no longer refuses UPDATE/DELETE")


_BALANCE_AT = """
SELECT ts, seq, balance FROM (
  SELECT * FROM (SELECT ts, seq, debit_balance AS balance FROM ledger_transfers
                  WHERE debit_account_id = ? AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1) d
  UNION ALL
  SELECT * FROM (SELECT ts, seq, credit_balance AS balance FROM ledger_transfers
                  WHERE credit_account_id = ? AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1) c
) both_sides ORDER BY ts DESC, seq DESC LIMIT 1
"""

_RECOMPUTED = f"""
WITH legs AS (
  SELECT debit_account_id AS account_id,
         CASE WHEN kind IN {POSTING_KINDS} THEN amount ELSE 0 END AS dpo, 0 AS cpo,
         CASE WHEN kind = 'pending' THEN amount ELSE 0 END AS dp, 0 AS cp
    FROM ledger_transfers
  UNION ALL
  SELECT credit_account_id, 0, CASE WHEN kind IN {POSTING_KINDS} THEN amount ELSE 0 END,
         0, CASE WHEN kind = 'pending' THEN amount ELSE 0 END
    FROM ledger_transfers
  UNION ALL
  SELECT p.debit_account_id, 0, 0, -p.amount, 0 FROM ledger_transfers r
    JOIN ledger_transfers p ON p.id = r.parent_id
   WHERE r.kind IN ('post_pending','void_pending','expire_pending')
  UNION ALL
  SELECT p.credit_account_id, 0, 0, 0, -p.amount FROM ledger_transfers r
    JOIN ledger_transfers p ON p.id = r.parent_id
   WHERE r.kind IN ('post_pending','void_pending','expire_pending')
), sums AS (
  SELECT account_id, SUM(dp) AS dp, SUM(dpo) AS dpo, SUM(cp) AS cp, SUM(cpo) AS cpo
    FROM legs GROUP BY account_id
)
SELECT a.code AS account, a.debits_pending, COALESCE(s.dp, 0) AS recomputed_debits_pending,
       a.debits_posted, COALESCE(s.dpo, 0) AS recomputed_debits_posted,
       a.credits_pending, COALESCE(s.cp, 0) AS recomputed_credits_pending,
       a.credits_posted, COALESCE(s.cpo, 0) AS recomputed_credits_posted
  FROM ledger_accounts a LEFT JOIN sums s ON s.account_id = a.id
 WHERE a.debits_pending <> COALESCE(s.dp, 0) OR a.debits_posted <> COALESCE(s.dpo, 0)
    OR a.credits_pending <> COALESCE(s.cp, 0) OR a.credits_posted <> COALESCE(s.cpo, 0)
 ORDER BY a.id
"""

_ZERO_SUM = """
SELECT currency, SUM(debits_posted) - SUM(credits_posted) AS posted_imbalance,
       SUM(debits_pending) - SUM(credits_pending) AS pending_imbalance
  FROM ledger_accounts GROUP BY currency
HAVING SUM(debits_posted) <> SUM(credits_posted) OR SUM(debits_pending) <> SUM(credits_pending)
"""

_RUNNING = f"""
WITH legs AS (
  SELECT seq, id, debit_account_id AS account_id, debit_balance AS recorded,
         CASE WHEN kind IN {POSTING_KINDS} THEN amount ELSE 0 END AS delta FROM ledger_transfers
  UNION ALL
  SELECT seq, id, credit_account_id, credit_balance,
         CASE WHEN kind IN {POSTING_KINDS} THEN -amount ELSE 0 END FROM ledger_transfers
), running AS (
  SELECT seq, id, account_id, recorded,
         SUM(delta) OVER (PARTITION BY account_id ORDER BY seq ROWS UNBOUNDED PRECEDING)
           AS computed
    FROM legs
)
SELECT seq, id AS transfer, account_id, recorded, computed FROM running
 WHERE recorded <> computed ORDER BY seq LIMIT 10
"""

_RESOLUTIONS = """
SELECT r.id AS transfer, r.kind, r.parent_id, p.kind AS parent_kind, r.amount,
       p.amount AS parent_amount
  FROM ledger_transfers r LEFT JOIN ledger_transfers p ON p.id = r.parent_id
 WHERE r.parent_id IS NOT NULL AND (
       p.id IS NULL
    OR (r.kind IN ('post_pending','void_pending','expire_pending') AND p.kind <> 'pending')
    OR (r.kind = 'reversal' AND p.kind NOT IN ('posted','post_pending'))
    OR r.amount > p.amount OR r.seq < p.seq
    OR (r.kind = 'reversal' AND (r.debit_account_id <> p.credit_account_id
                                 OR r.credit_account_id <> p.debit_account_id))
    OR (r.kind <> 'reversal' AND (r.debit_account_id <> p.debit_account_id
                                  OR r.credit_account_id <> p.credit_account_id)))
 ORDER BY r.seq LIMIT 10
"""

_OVER_REVERSED = """
SELECT p.id AS transfer, p.amount, SUM(r.amount) AS reversed FROM ledger_transfers r
  JOIN ledger_transfers p ON p.id = r.parent_id WHERE r.kind = 'reversal'
 GROUP BY p.id, p.amount HAVING SUM(r.amount) > p.amount
"""

# A transfer's accounts exist and hold its currency (a foreign key on SQLite, a
# statement-level trigger on PostgreSQL): checked again here, against the rows as stored.
_ACCOUNTS = """
SELECT t.seq, t.id AS transfer, t.debit_account_id, t.credit_account_id, t.currency
  FROM ledger_transfers t
  LEFT JOIN ledger_accounts d ON d.id = t.debit_account_id AND d.currency = t.currency
  LEFT JOIN ledger_accounts c ON c.id = t.credit_account_id AND c.currency = t.currency
 WHERE d.id IS NULL OR c.id IS NULL ORDER BY t.seq LIMIT 10
"""

_CHECKS = (("zero_sum", _ZERO_SUM), ("balances", _RECOMPUTED), ("history", _RUNNING),
           ("accounts", _ACCOUNTS), ("references", _RESOLUTIONS),
           ("reversals", _OVER_REVERSED))
