"""Idempotency keys in SQL, written inside the command's own transaction.

The primary key (scope, key) is the lock: a concurrent writer of the same key waits on
PostgreSQL's unique index (or SQLite's write lock), then fails, and its retry sees the
committed row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from finbot.adapters.db.tables import idempotency_keys as keys

_GET = select(keys).where(keys.c.scope == bindparam("scope"), keys.c.key == bindparam("key"))
_INSERT = insert(keys)
"""Built once: every money request runs them, and a statement built per call costs more
Python than the database's work on it."""


class SqlIdempotencyRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def get(self, scope: str, key: str) -> dict[str, Any] | None:
        row = self.conn.execute(_GET, {"scope": scope, "key": key}).mappings().first()
        return dict(row) if row else None

    def claim(self, scope: str, key: str, request_hash: str, *, now_us: int,
              expires_at: int, replacing_expired: bool = False) -> bool:
        """Insert the key as in progress; with ``replacing_expired``, an expired row for
        the key is deleted first (a concurrent claim of a new key fails the insert)."""
        if replacing_expired:
            self.conn.execute(delete(keys).where(keys.c.scope == scope, keys.c.key == key,
                                                 keys.c.expires_at <= now_us))
        self.conn.execute(_INSERT, {
            "scope": scope, "key": key, "request_hash": request_hash, "state": "in_progress",
            "created_at": now_us, "expires_at": expires_at})
        return True

    def record(self, scope: str, key: str, request_hash: str, *, status: int, response: Any,
               now_us: int, expires_at: int, replacing_expired: bool = False) -> None:
        """Insert the key already completed with its response (a command that ran in the
        same transaction); an expired row for the key is replaced as in ``claim``."""
        if replacing_expired:
            self.conn.execute(delete(keys).where(keys.c.scope == scope, keys.c.key == key,
                                                 keys.c.expires_at <= now_us))
        self.conn.execute(_INSERT, {
            "scope": scope, "key": key, "request_hash": request_hash, "state": "completed",
            "status": status, "response": response, "created_at": now_us,
            "expires_at": expires_at})

    def complete(self, scope: str, key: str, *, status: int, response: Any) -> None:
        self.conn.execute(update(keys).where(keys.c.scope == scope, keys.c.key == key)
                          .values(state="completed", status=status, response=response))

    def release(self, scope: str, key: str) -> None:
        self.conn.execute(delete(keys).where(keys.c.scope == scope, keys.c.key == key,
                                             keys.c.state == "in_progress"))

    def purge_expired(self, now_us: int) -> int:
        result = self.conn.execute(delete(keys).where(keys.c.expires_at <= now_us))
        return int(result.rowcount or 0)
