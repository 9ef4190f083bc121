"""Engines for SQLite and PostgreSQL, tuned the same way everywhere, and the migrator.

SQLite runs in WAL mode with full fsync and foreign keys on, and every write transaction
starts with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of deadlocking.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from finbot.privacy.keys import KeyRing

WRITE_WAIT_S = 30.0
"""How long a write transaction waits for the database (SQLite's busy timeout, and the
in-process write lock's)."""

_WRITE_LOCKS: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()

READ_ONLY = "finbot_read_only"
"""Execution option: a SQLite transaction that only reads starts DEFERRED, not IMMEDIATE."""


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False,
                read_only: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get their parent directory created.

    A ``read_only`` engine's connections are refused every write by the database itself
    (SQLite ``query_only``, PostgreSQL ``default_transaction_read_only``): it is what agents'
    read ports run on, so no code path through them can change anything. Its statements
    run in autocommit, each on its own snapshot: an agent's reads are single statements,
    and a transaction around each would cost a BEGIN and a ROLLBACK (two round trips on
    PostgreSQL) for nothing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it costs a round trip per transaction; a connection found dead
        # is invalidated and the unit of work retries (see uow.is_transient).
        options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        return create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size,
                             pool_recycle=3600, echo=echo, connect_args=options,
                             **({"isolation_level": "AUTOCOMMIT"} if read_only else {}))
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, echo=echo,
                           connect_args={"check_same_thread": False, "timeout": WRITE_WAIT_S})
    if read_only:  # no BEGIN: the driver runs each statement in autocommit
        event.listen(engine, "connect", _sqlite_connect_read_only)
    else:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def write_lock(engine: Engine) -> threading.RLock | None:
    """SQLite: the lock this process's write transactions on ``engine`` hold from before
    their ``BEGIN IMMEDIATE`` to their end. Writers in one process then queue here and
    the next starts the moment the last one ends; SQLite's busy handler, which sleeps 1
    to 100 ms between tries, is left to arbitrate between processes. Reentrant, so a
    thread that nests units of work meets SQLite's own lock as before. None on
    PostgreSQL (its row locks let writers run side by side)."""
    if engine.dialect.name != "sqlite":
        return None
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        lock = _WRITE_LOCKS.setdefault(engine, threading.RLock())
    return lock


def upsert_insert(connection: Connection, table: Table) -> Any:
    """An INSERT on ``table`` that takes ``on_conflict_do_update/nothing``, in the dialect
    of ``connection`` (both SQLite and PostgreSQL speak ON CONFLICT)."""
    dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "cache_size=-65536",
                   "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_connect_read_only(dbapi_connection: Any, record: Any) -> None:
    _sqlite_connect(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA query_only=ON")


def _sqlite_begin(connection: Any) -> None:
    """BEGIN on the driver's own connection: through SQLAlchemy's execution layer the
    statement cost ~70 µs of CPU (its result set up for a statement that returns none),
    and every transaction sends one."""
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.connection.driver_connection.execute(
        "BEGIN" if read_only else "BEGIN IMMEDIATE")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "finbot:migrations")
    return config


def migrate(engine: Engine, *, keys: KeyRing | None = None) -> None:
    """Bring the database to the newest schema; safe to run on every start. ``keys``: the
    key ring a migration that seals data uses (default: the one the settings describe)."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        config.attributes["keys"] = keys
        command.upgrade(config, "head")
