"""In-memory fakes of the service ports, for fast unit tests of the use cases."""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from finbot.domain.ledger import (
    Account,
    AccountFlag,
    AccountType,
    Balances,
    Rejection,
    Transfer,
    TransferKind,
)


class FakeStore:
    """The 'database': committed state shared by every fake unit of work."""

    def __init__(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.transfers: dict[str, Transfer] = {}
        self.rejections: dict[str, Rejection] = {}
        self.keys: dict[tuple[str, str], dict[str, Any]] = {}


class FakeLedgerRepo:
    def __init__(self, store: FakeStore) -> None:
        self.s = store
        self.last_update_us = 0

    def insert_account(self, *, code: str, name: str, type: AccountType, currency: str,
                       flags: AccountFlag, now_us: int) -> None:
        new_id = len(self.s.accounts) + 1
        self.s.accounts[new_id] = Account(new_id, code, name, type, currency, flags,
                                          created_at=now_us)

    def lock_accounts(self, codes: Collection[str], ids: Collection[int]) -> dict[int, Account]:
        return {i: a for i, a in self.s.accounts.items() if a.code in codes or i in ids}

    def lock_and_read(self, codes: Collection[str], account_ids: Collection[int],
                      transfer_ids: Collection[str]) -> tuple[
                          dict[int, Account], dict[str, Transfer], dict[str, Rejection]]:
        return (self.lock_accounts(codes, account_ids), self.transfers_by_id(transfer_ids),
                self.rejections_by_id(transfer_ids))

    def account_by_code(self, code: str) -> Account | None:
        return next((a for a in self.s.accounts.values() if a.code == code), None)

    def transfers_by_id(self, ids: Collection[str]) -> dict[str, Transfer]:
        return {i: self.s.transfers[i] for i in ids if i in self.s.transfers}

    def rejections_by_id(self, ids: Collection[str]) -> dict[str, Rejection]:
        return {i: self.s.rejections[i] for i in ids if i in self.s.rejections}

    def resolutions(self, pending_ids: Collection[str]) -> dict[str, TransferKind]:
        return {t.parent_id: t.kind for t in self.s.transfers.values()
                if t.kind.resolves_pending and t.parent_id in pending_ids}

    def reversed_amounts(self, target_ids: Collection[str]) -> dict[str, int]:
        sums: dict[str, int] = {}
        for t in self.s.transfers.values():
            if t.kind is TransferKind.REVERSAL and t.parent_id in target_ids:
                sums[t.parent_id] = sums.get(t.parent_id, 0) + t.amount
        return sums

    def expired_pending_ids(self, now_us: int, *, limit: int) -> list[str]:
        resolved = {t.parent_id for t in self.s.transfers.values() if t.kind.resolves_pending}
        return [t.id for t in self.s.transfers.values() if t.expires_at is not None
                and t.expires_at <= now_us and t.id not in resolved][:limit]

    def append(self, new: Sequence[Transfer], rejected: Sequence[Rejection],
               balances: dict[int, Balances], now_us: int) -> None:
        seq = len(self.s.transfers)
        for n, t in enumerate(new, start=seq + 1):
            assert t.id not in self.s.transfers
            self.s.transfers[t.id] = t._replace(seq=n)
        self.s.rejections.update((r.id, r) for r in rejected)
        for i, b in balances.items():
            self.s.accounts[i] = replace(self.s.accounts[i], balances=b)


class FakeIdempotencyRepo:
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    def get(self, scope: str, key: str) -> dict[str, Any] | None:
        return self.s.keys.get((scope, key))

    def claim(self, scope: str, key: str, request_hash: str, *, now_us: int,
              expires_at: int) -> bool:
        self.s.keys[(scope, key)] = {"request_hash": request_hash, "state": "in_progress",
                                     "expires_at": expires_at, "status": None,
                                     "response": None}
        return True

    def complete(self, scope: str, key: str, *, status: int, response: Any) -> None:
        self.s.keys[(scope, key)].update(state="completed", status=status, response=response)

    def release(self, scope: str, key: str) -> None:
        self.s.keys.pop((scope, key), None)

    def purge_expired(self, now_us: int) -> int:
        expired = [k for k, v in self.s.keys.items() if v["expires_at"] <= now_us]
        for k in expired:
            del self.s.keys[k]
        return len(expired)


class FakeUnitOfWork:
    """Copy-on-enter, swap-on-commit: uncommitted work vanishes like a rolled-back tx."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def __enter__(self) -> FakeUnitOfWork:
        self.work = copy.deepcopy(self.store)
        self.ledger = FakeLedgerRepo(self.work)
        self.idempotency = FakeIdempotencyRepo(self.work)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def commit(self) -> None:
        self.store.__dict__.update(self.work.__dict__)
        self.work = copy.deepcopy(self.store)

    def rollback(self) -> None:
        self.work = copy.deepcopy(self.store)
