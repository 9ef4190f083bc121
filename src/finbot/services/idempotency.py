"""Idempotency keys for every command that can move money.

The key is claimed in the same transaction as the command's effect, so the effect and the
stored response commit together or not at all. A replay with the same request gets the
first response byte for byte; a different request under the same key is a conflict; a
concurrent request waits for the first (or, for long commands, is told it is in progress).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from finbot.domain.clock import now_us
from finbot.domain.errors import IdempotencyConflict, IdempotencyInProgress, InvalidInput
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying

MAX_KEY_LENGTH = 255
Action = Callable[[UnitOfWork], tuple[int, Any]]


@dataclass(frozen=True)
class StoredResponse:
    """What a command answered: a status and the exact response body bytes."""

    status: int
    body: bytes
    replayed: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


def request_hash(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


class IdempotencyService:
    """Runs commands at most once per (scope, key)."""

    def __init__(self, uow_factory: UowFactory, *, ttl_s: int = 24 * 3600,
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow_factory
        self._ttl_us = ttl_s * 1_000_000
        self._clock = clock

    def run(self, scope: str, key: str, request: Mapping[str, Any],
            action: Action) -> StoredResponse:
        """Run ``action`` inside the key's transaction, or replay the stored response."""
        digest = request_hash(request)
        _check_key(key)
        return retrying(lambda: self._run_once(scope, key, digest, action))

    def _run_once(self, scope: str, key: str, digest: str, action: Action) -> StoredResponse:
        with self._uow() as uow:
            row = uow.idempotency.get(scope, key)
            now = self._clock()
            if row is not None and row["expires_at"] > now:
                return _stored(row, key, digest)
            status, body = action(uow)
            encoded = encode(body)
            # Written last, completed: a concurrent request with the same key fails this
            # insert, its whole transaction rolls back, and its retry replays this answer.
            uow.idempotency.record(scope, key, digest, status=status, response=encoded,
                                   now_us=now, expires_at=now + self._ttl_us,
                                   replacing_expired=row is not None)
            uow.commit()
        return StoredResponse(status, encoded.encode())

    def run_long(self, scope: str, key: str, request: Mapping[str, Any],
                 action: Callable[[], tuple[int, Any]]) -> StoredResponse:
        """For commands with several transactions: claim first, so a concurrent request
        is refused with ``IdempotencyInProgress`` instead of waiting."""
        digest = request_hash(request)
        _check_key(key)
        with self._uow() as uow:
            stored = self._lookup_or_claim(uow, scope, key, digest)
            if stored is not None:
                return stored
            uow.commit()
        try:
            status, body = action()
        except BaseException:
            with self._uow() as uow:
                uow.idempotency.release(scope, key)
                uow.commit()
            raise
        encoded = encode(body)
        with self._uow() as uow:
            uow.idempotency.complete(scope, key, status=status, response=encoded)
            uow.commit()
        return StoredResponse(status, encoded.encode())

    def _lookup_or_claim(self, uow: UnitOfWork, scope: str, key: str,
                         digest: str) -> StoredResponse | None:
        """The stored response for a completed key; else claim the key (in progress)."""
        row = uow.idempotency.get(scope, key)
        now = self._clock()
        if row is None or row["expires_at"] <= now:
            uow.idempotency.claim(scope, key, digest, now_us=now, expires_at=now + self._ttl_us,
                                  replacing_expired=row is not None)
            return None
        return _stored(row, key, digest)

    def purge_expired(self) -> int:
        with self._uow() as uow:
            purged = uow.idempotency.purge_expired(self._clock())
            uow.commit()
        return purged


def _stored(row: Mapping[str, Any], key: str, digest: str) -> StoredResponse:
    """The answer a live key holds; refused when the key came with another request or
    its first request is still running."""
    if row["request_hash"] != digest:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used with a different request",
            field="idempotency_key")
    if row["state"] != "completed":
        raise IdempotencyInProgress(
            f"a request with idempotency key {key!r} is still in progress; retry later",
            field="idempotency_key")
    return StoredResponse(row["status"], row["response"].encode(), replayed=True)


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable characters",
                           field="idempotency_key")
