"""Reads and appends ledger rows on one connection; never commits (the unit of work does).

Written with SQLAlchemy Core: the ledger's hot path issues a handful of statements per
batch (lock accounts, read history, insert transfers, one balance UPDATE), whatever the
batch size.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, func, insert, or_, select, text

from finbot.adapters.db.tables import accounts, rejections, transfers
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

_CHUNK = 500
_RESOLVING = (TransferKind.POST_PENDING.value, TransferKind.VOID_PENDING.value,
              TransferKind.EXPIRE_PENDING.value)


def account_from_row(row: RowMapping) -> Account:
    return Account(
        id=row["id"], code=row["code"], name=row["name"], type=AccountType(row["type"]),
        currency=row["currency"], flags=AccountFlag(row["flags"]),
        balances=Balances(row["debits_pending"], row["debits_posted"],
                          row["credits_pending"], row["credits_posted"]),
        created_at=row["created_at"])


def transfer_from_row(row: RowMapping) -> Transfer:
    return Transfer(
        id=row["id"], kind=TransferKind(row["kind"]), debit_account_id=row["debit_account_id"],
        credit_account_id=row["credit_account_id"], amount=row["amount"],
        currency=row["currency"], timestamp=row["ts"], debit_balance=row["debit_balance"],
        credit_balance=row["credit_balance"], parent_id=row["parent_id"],
        expires_at=row["expires_at"], reference=row["reference"], metadata=row["meta"],
        seq=row["seq"])


def _chunks(items: Collection[Any]) -> Iterable[list[Any]]:
    ordered = list(items)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start:start + _CHUNK]


class LedgerRepository:
    """The ledger tables seen through one open connection (and its transaction)."""

    def __init__(self, connection: Connection) -> None:
        self.conn = connection
        self.last_update_us = 0

    # -- accounts ----------------------------------------------------------------------

    def insert_account(self, *, code: str, name: str, type: AccountType, currency: str,
                       flags: AccountFlag, now_us: int) -> None:
        self.conn.execute(insert(accounts).values(
            code=code, name=name, type=type.value, currency=currency, flags=int(flags),
            created_at=now_us, updated_at=now_us))

    def lock_accounts(self, codes: Collection[str], ids: Collection[int]) -> dict[int, Account]:
        """Load accounts by code or id, locked for update in id order (no deadlocks)."""
        found: dict[int, Account] = {}
        self.last_update_us = 0
        for code_chunk, id_chunk in self._paired_chunks(codes, ids):
            query = (select(accounts)
                     .where(or_(accounts.c.code.in_(code_chunk), accounts.c.id.in_(id_chunk)))
                     .order_by(accounts.c.id).with_for_update(key_share=False))
            for row in self.conn.execute(query).mappings():
                found[row["id"]] = account_from_row(row)
                self.last_update_us = max(self.last_update_us, row["updated_at"])
        return found

    @staticmethod
    def _paired_chunks(codes: Collection[str], ids: Collection[int]) -> Iterable[
            tuple[list[str], list[int]]]:
        code_chunks, id_chunks = list(_chunks(codes)), list(_chunks(ids))
        for i in range(max(len(code_chunks), len(id_chunks))):
            yield (code_chunks[i] if i < len(code_chunks) else [],
                   id_chunks[i] if i < len(id_chunks) else [])

    def account_by_code(self, code: str) -> Account | None:
        row = self.conn.execute(select(accounts).where(accounts.c.code == code)).mappings().first()
        return account_from_row(row) if row else None

    def list_accounts(self) -> list[Account]:
        rows = self.conn.execute(select(accounts).order_by(accounts.c.id)).mappings()
        return [account_from_row(r) for r in rows]

    # -- history -------------------------------------------------------------------------

    def transfers_by_id(self, ids: Collection[str]) -> dict[str, Transfer]:
        found: dict[str, Transfer] = {}
        for chunk in _chunks(ids):
            rows = self.conn.execute(select(transfers).where(transfers.c.id.in_(chunk)))
            found.update((r["id"], transfer_from_row(r)) for r in rows.mappings())
        return found

    def rejections_by_id(self, ids: Collection[str]) -> dict[str, Rejection]:
        found: dict[str, Rejection] = {}
        for chunk in _chunks(ids):
            rows = self.conn.execute(select(rejections).where(rejections.c.id.in_(chunk)))
            found.update((r["id"], Rejection(r["id"], ResultCode(r["code"]), r["request"],
                                              r["ts"])) for r in rows.mappings())
        return found

    def resolutions(self, pending_ids: Collection[str]) -> dict[str, TransferKind]:
        found: dict[str, TransferKind] = {}
        for chunk in _chunks(pending_ids):
            rows = self.conn.execute(
                select(transfers.c.parent_id, transfers.c.kind)
                .where(transfers.c.parent_id.in_(chunk), transfers.c.kind.in_(_RESOLVING)))
            found.update((r.parent_id, TransferKind(r.kind)) for r in rows)
        return found

    def reversed_amounts(self, target_ids: Collection[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(target_ids):
            rows = self.conn.execute(
                select(transfers.c.parent_id, func.sum(transfers.c.amount))
                .where(transfers.c.parent_id.in_(chunk),
                       transfers.c.kind == TransferKind.REVERSAL.value)
                .group_by(transfers.c.parent_id))
            found.update((r[0], int(r[1])) for r in rows)
        return found

    def expired_pending_ids(self, now_us: int, *, limit: int) -> list[str]:
        child = transfers.alias("child")
        query = (select(transfers.c.id)
                 .outerjoin(child, and_(child.c.parent_id == transfers.c.id,
                                        child.c.kind.in_(_RESOLVING)))
                 .where(transfers.c.expires_at <= now_us, child.c.seq.is_(None))
                 .order_by(transfers.c.expires_at).limit(limit))
        return list(self.conn.execute(query).scalars())

    # -- appending -------------------------------------------------------------------------

    def append(self, new: Sequence[Transfer], rejected: Sequence[Rejection],
               balances: dict[int, Balances], now_us: int) -> None:
        if new:
            self.conn.execute(insert(transfers), [_transfer_row(t) for t in new])
        if rejected:
            self.conn.execute(insert(rejections), [
                {"id": r.id, "code": r.code.value, "request": dict(r.request), "ts": r.timestamp}
                for r in rejected])
        if balances:
            self._update_balances(balances, now_us)

    def _update_balances(self, balances: dict[int, Balances], now_us: int) -> None:
        """One UPDATE for all accounts, so the database checks the deltas sum to zero."""
        params: dict[str, int] = {"now": now_us}
        rows = []
        for n, (account_id, b) in enumerate(balances.items()):
            rows.append(f"(:i{n}, :a{n}, :b{n}, :c{n}, :d{n})")
            params.update({f"i{n}": account_id, f"a{n}": b.debits_pending,
                           f"b{n}": b.debits_posted, f"c{n}": b.credits_pending,
                           f"d{n}": b.credits_posted})
        self.conn.execute(text(
            f"WITH v(id, dp, dpo, cp, cpo) AS (VALUES {', '.join(rows)}) "
            "UPDATE ledger_accounts SET debits_pending = v.dp, debits_posted = v.dpo, "
            "credits_pending = v.cp, credits_posted = v.cpo, updated_at = :now "
            "FROM v WHERE ledger_accounts.id = v.id"), params)


def _transfer_row(t: Transfer) -> dict[str, Any]:
    return {"id": t.id, "kind": t.kind.value, "debit_account_id": t.debit_account_id,
            "credit_account_id": t.credit_account_id, "amount": t.amount,
            "currency": t.currency, "ts": t.timestamp, "debit_balance": t.debit_balance,
            "credit_balance": t.credit_balance, "parent_id": t.parent_id,
            "expires_at": t.expires_at, "reference": t.reference,
            "meta": dict(t.metadata) if t.metadata else None}
