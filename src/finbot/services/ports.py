"""The ports services depend on: a unit of work and the repositories it opens.

Adapters implement these (SQLAlchemy today); tests may pass fakes of the same shape.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Any, Protocol

from finbot.domain.ledger import (
    Account,
    AccountFlag,
    AccountType,
    Balances,
    Rejection,
    Transfer,
    TransferKind,
)


class TransientConflict(Exception):
    """Raised by a unit of work when a concurrent writer won a race; retrying is safe."""


class LedgerRepo(Protocol):
    last_update_us: int

    def insert_account(self, *, code: str, name: str, type: AccountType, currency: str,
                       flags: AccountFlag, now_us: int) -> None: ...
    def lock_accounts(self, codes: Collection[str],
                      ids: Collection[int]) -> dict[int, Account]: ...
    def account_by_code(self, code: str) -> Account | None: ...
    def transfers_by_id(self, ids: Collection[str]) -> dict[str, Transfer]: ...
    def rejections_by_id(self, ids: Collection[str]) -> dict[str, Rejection]: ...
    def resolutions(self, pending_ids: Collection[str]) -> dict[str, TransferKind]: ...
    def reversed_amounts(self, target_ids: Collection[str]) -> dict[str, int]: ...
    def expired_pending_ids(self, now_us: int, *, limit: int) -> list[str]: ...
    def append(self, new: Sequence[Transfer], rejected: Sequence[Rejection],
               balances: dict[int, Balances], now_us: int) -> None: ...


class IdempotencyRepo(Protocol):
    def get(self, scope: str, key: str) -> dict[str, Any] | None: ...
    def claim(self, scope: str, key: str, request_hash: str, *, now_us: int,
              expires_at: int) -> bool: ...
    def complete(self, scope: str, key: str, *, status: int, response: Any) -> None: ...
    def release(self, scope: str, key: str) -> None: ...
    def purge_expired(self, now_us: int) -> int: ...


class UnitOfWork(Protocol):
    """One database transaction; nothing is kept unless ``commit`` is called."""

    ledger: LedgerRepo
    idempotency: IdempotencyRepo

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
