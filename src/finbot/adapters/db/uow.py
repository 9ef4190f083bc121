"""The SQLAlchemy unit of work: one connection, one transaction, repositories on top.

Races a retry can resolve (a unique key taken by a concurrent writer, a deadlock, a
serialization failure, SQLite's busy lock) surface as ``TransientConflict``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

from finbot.adapters.db.arena_repo import SqlArenaRepo
from finbot.adapters.db.audit_repo import SqlAuditRepo
from finbot.adapters.db.breaker_repo import SqlBreakerRepo
from finbot.adapters.db.challenger_repo import SqlChallengerRepo
from finbot.adapters.db.engine import WRITE_WAIT_S, write_lock
from finbot.adapters.db.finding_repo import SqlFindingRepo
from finbot.adapters.db.idempotency_repo import SqlIdempotencyRepo
from finbot.adapters.db.invoice_repo import SqlInvoiceRepo
from finbot.adapters.db.ledger_repo import LedgerRepository
from finbot.adapters.db.outbox_repo import SqlOutboxRepo
from finbot.adapters.db.play_repo import SqlPlayRepo
from finbot.adapters.db.policy_repo import SqlPolicyRepo
from finbot.adapters.db.review_repo import SqlReviewRepo
from finbot.adapters.db.saga_repo import SqlSagaRepo
from finbot.adapters.db.sanctions_repo import SqlSanctionsRepo
from finbot.adapters.db.sandbox_repo import SqlSandboxRepo
from finbot.adapters.db.user_repo import SqlUserRepo
from finbot.adapters.db.vendor_repo import SqlVendorRepo
from finbot.adapters.db.workflow_repo import SqlWorkflowRepo
from finbot.privacy.keys import KeyRing
from finbot.services.ports import TransientConflict

# 26000: a prepared statement lost to DEALLOCATE ALL (see pg_pipeline); the names are
# forgotten when it is met, so a retry prepares them anew.
_TRANSIENT_SQLSTATES = {"23505", "40001", "40P01", "55P03", "26000"}


def is_transient(error: BaseException) -> bool:
    """True for races a retry resolves, whether SQLAlchemy wrapped the driver's error or
    the lean unit of work met it raw."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True  # a pooled connection died (server restart): a fresh one will do
        return error.orig is not None and _driver_transient(error.orig)
    return _driver_transient(error)


def _driver_transient(error: BaseException) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _TRANSIENT_SQLSTATES
    if type(error).__module__ != "sqlite3":
        return False
    message = str(error).lower()
    return "unique constraint failed" in message or "locked" in message


def held_write_lock(engine: Engine) -> threading.RLock | None:
    """``engine``'s in-process write lock, acquired (None on PostgreSQL); a wait as long
    as SQLite's busy timeout is a TransientConflict, as SQLite's own would be."""
    lock = write_lock(engine)
    if lock is not None and not lock.acquire(timeout=WRITE_WAIT_S):
        raise TransientConflict(f"the database stayed locked by this process's other "
                                f"writers for {WRITE_WAIT_S:g} s")
    return lock


class _WriteLocked:
    """A unit of work that may hold its engine's in-process write lock (``_lock``)."""

    _lock: threading.RLock | None = None

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


class SqlUnitOfWork(_WriteLocked):
    """A transaction on ``engine``; use as ``with uow: ...; uow.commit()``."""

    def __init__(self, engine: Engine, *, read_only: bool = False,
                 one_read: bool = False, keys: KeyRing | None = None,
                 after_events: Callable[[], None] | None = None) -> None:
        """``one_read``: for a single statement, which on PostgreSQL then runs in
        autocommit (no BEGIN and COMMIT or ROLLBACK round trips around it): a read, or one
        write that is whole on its own (the relay's mark); ``commit`` then has nothing
        left to do there. ``keys``: the key ring vendors' sealed details need.
        ``after_events``: called once a commit that wrote events is done."""
        self._engine = engine
        self._after_events = after_events
        self._keys = keys
        self._read_only = read_only
        self._one_read = one_read and engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self.ledger: LedgerRepository
        self.idempotency: SqlIdempotencyRepo
        self.sagas: SqlSagaRepo
        self.audit: SqlAuditRepo
        self.policies: SqlPolicyRepo
        self.reviews: SqlReviewRepo
        self.breakers: SqlBreakerRepo
        self.outbox: SqlOutboxRepo
        self.vendors: SqlVendorRepo
        self.invoices: SqlInvoiceRepo
        self.workflows: SqlWorkflowRepo
        self.sanctions: SqlSanctionsRepo
        self.users: SqlUserRepo
        self.arena: SqlArenaRepo
        self.findings: SqlFindingRepo
        self.sandboxes: SqlSandboxRepo
        self.plays: SqlPlayRepo
        self.challengers: SqlChallengerRepo

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    def __enter__(self) -> SqlUnitOfWork:
        self._lock = None if self._read_only else held_write_lock(self._engine)
        try:
            conn = self._engine.connect()
            if self._read_only:
                conn = conn.execution_options(finbot_read_only=True)
            if self._one_read:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
            conn.begin()
        except BaseException:
            self._release()
            raise
        self.ledger = LedgerRepository.on(conn)
        self.idempotency = SqlIdempotencyRepo(conn)
        self.sagas = SqlSagaRepo(conn)
        self.audit = SqlAuditRepo(conn)
        self.policies = SqlPolicyRepo(conn)
        self.reviews = SqlReviewRepo(conn)
        self.breakers = SqlBreakerRepo(conn)
        self.outbox = SqlOutboxRepo(conn)
        self.vendors = SqlVendorRepo(conn, self._keys)
        self.invoices = SqlInvoiceRepo(conn)
        self.workflows = SqlWorkflowRepo(conn)
        self.sanctions = SqlSanctionsRepo(conn)
        self.users = SqlUserRepo(conn)
        self.arena = SqlArenaRepo(conn)
        self.findings = SqlFindingRepo(conn)
        self.sandboxes = SqlSandboxRepo(conn)
        self.plays = SqlPlayRepo(conn)
        self.challengers = SqlChallengerRepo(conn)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self.ledger.close()
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            try:
                conn.close()
            finally:
                self._release()
        if exc is not None and is_transient(exc):
            raise TransientConflict(str(exc)) from exc

    def commit(self) -> None:
        if self.ledger.deferred:
            self.ledger.flush(commit=True)  # writes + COMMIT in one round trip
        self.connection.commit()
        if self.outbox.written:
            self.outbox.written = False
            if self._after_events is not None:
                self._after_events()

    def rollback(self) -> None:
        self.ledger.abandon()
        self.connection.rollback()


class LedgerUnitOfWork(_WriteLocked):
    """A lean transaction for the ledger's own writes: a pooled DB-API connection, no
    SQLAlchemy execution layer. Profiling showed that layer cost more than SQLite's work.
    Only ``ledger`` is available; commands that also need other repositories use
    ``SqlUnitOfWork`` and the ledger's ``plan_in``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._raw: Any = None
        self._dbapi: Any = None  # the driver's connection inside ``_raw``

    def __enter__(self) -> LedgerUnitOfWork:
        self._lock = held_write_lock(self._engine)
        try:
            self._raw = _parked(self._engine) or self._engine.raw_connection()
            dbapi = self._dbapi = self._raw.driver_connection
            if self._dialect == "sqlite":
                dbapi.execute("BEGIN IMMEDIATE")
        except BaseException:
            if self._raw is not None:
                self._raw.close()
                self._raw = self._dbapi = None
            self._release()
            raise
        self.ledger = LedgerRepository(dbapi, self._dialect)
        if self._dialect != "sqlite":
            # we send BEGIN ourselves, pipelined with the first reads: one round trip less
            dbapi.autocommit = True
            self.ledger.begin_pending = True
        return self

    @property
    def idempotency(self) -> SqlIdempotencyRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def sagas(self) -> SqlSagaRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def audit(self) -> SqlAuditRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def policies(self) -> SqlPolicyRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def reviews(self) -> SqlReviewRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def breakers(self) -> SqlBreakerRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def outbox(self) -> SqlOutboxRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def vendors(self) -> SqlVendorRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def invoices(self) -> SqlInvoiceRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def workflows(self) -> SqlWorkflowRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def sanctions(self) -> SqlSanctionsRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def users(self) -> SqlUserRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def arena(self) -> SqlArenaRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def findings(self) -> SqlFindingRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def sandboxes(self) -> SqlSandboxRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def plays(self) -> SqlPlayRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    @property
    def challengers(self) -> SqlChallengerRepo:
        raise TypeError("LedgerUnitOfWork offers only the ledger repository")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        self.ledger.close()
        dbapi, self._dbapi = self._dbapi, None
        try:
            dbapi.rollback()  # no-op after a commit
            if self._dialect != "sqlite":
                dbapi.autocommit = False
        except Exception:
            raw.invalidate()  # a broken connection must not go back to the pool
        finally:
            try:
                if exc is not None or not _park(self._engine, raw):
                    raw.close()
            finally:
                self._release()
        if exc is not None and is_transient(exc):
            raise TransientConflict(str(exc)) from exc

    def commit(self) -> None:
        if self._dialect == "sqlite":
            self._dbapi.commit()
        else:
            self.ledger.flush(commit=True)

    def rollback(self) -> None:
        self.ledger.abandon()
        self._dbapi.rollback()


class _Parking:
    """SQLite: the connection the last lean ledger transaction on an engine used, kept
    for the next one (only ever touched under the engine's write lock).

    A transfer per commit spent ~20 µs of its ~400 checking a connection out of
    SQLAlchemy's pool and back in: little in a loop, but run cold, after the commit's
    fsync. Disposing the engine closes the connection. A forked process neither uses nor
    closes its parent's (closing SQLite's files there could disturb the parent's locks),
    as it should not touch the connections its pool inherited either."""

    def __init__(self, engine: Engine) -> None:
        self.raw: Any = None
        self.pid = 0
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def take(self) -> Any:
        raw, self.raw = self.raw, None
        return raw if self.pid == os.getpid() else None

    def close(self) -> None:
        raw = self.take()
        if raw is not None:
            raw.invalidate()  # closes the driver's connection; its pool is gone


_PARKING: WeakKeyDictionary[Engine, _Parking] = WeakKeyDictionary()


def _parked(engine: Engine) -> Any:
    """The connection parked for ``engine`` (now taken), or None."""
    parking = _PARKING.get(engine)
    return parking.take() if parking is not None else None


def _park(engine: Engine, raw: Any) -> bool:
    """Keep ``raw`` (after its transaction ended cleanly) for ``engine``'s next lean
    transaction; False when it should go back to the pool instead."""
    if engine.dialect.name != "sqlite" or not raw.is_valid:
        return False
    parking = _PARKING.get(engine) or _PARKING.setdefault(engine, _Parking(engine))
    if parking.raw is not None:
        return False
    parking.raw, parking.pid = raw, os.getpid()
    return True
