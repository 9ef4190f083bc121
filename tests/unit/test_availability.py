"""A database that is away is told apart from a statement that failed."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from finbot.adapters.db.availability import database_unavailable


def test_a_refused_connection_means_the_database_is_away() -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/finbot")
    with pytest.raises(OperationalError) as refused:
        engine.connect()
    assert database_unavailable(refused.value)
    assert database_unavailable(RuntimeError("wrapped")) is False
    wrapped = RuntimeError("a handler's own error")
    wrapped.__cause__ = refused.value
    assert database_unavailable(wrapped)  # found along the chain of causes


def test_server_shutdown_and_connection_states_mean_away_statement_errors_do_not() -> None:
    assert database_unavailable(psycopg.errors.AdminShutdown("terminating connection"))
    assert database_unavailable(psycopg.errors.CannotConnectNow("starting up"))
    assert database_unavailable(psycopg.errors.ConnectionFailure("lost"))
    assert not database_unavailable(psycopg.errors.UndefinedTable("no such table"))
    assert not database_unavailable(psycopg.errors.UniqueViolation("duplicate key"))
    assert not database_unavailable(ValueError("bad input"))


def test_an_sqlite_statement_error_is_not_an_outage() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn, pytest.raises(OperationalError) as missing:
        conn.execute(text("SELECT * FROM nowhere"))
    assert isinstance(missing.value.orig, sqlite3.OperationalError)
    assert not database_unavailable(missing.value)
