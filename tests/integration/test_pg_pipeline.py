"""Round trips through libpq's pipeline: values, errors, and prepared names that vanish."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from finbot.adapters.db import pg_pipeline
from finbot.adapters.db.pg_pipeline import run_pipeline
from finbot.bootstrap import App

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]

ROWS = "SELECT %s::int + 1, %s::text, %s::bigint, %s::text IS NULL, %s::int[], %s::json"
PARAMS = (41, "naïve 'quoted' %s", 2**40, None, [1, 2, 3], json.dumps({"a": [1, "b"]}))


@pytest.fixture
def conn(app: App) -> Iterator[psycopg.Connection[Any]]:
    raw = app.engine.raw_connection()
    connection = raw.driver_connection
    assert isinstance(connection, psycopg.Connection)
    connection.autocommit = True
    connection.execute("CREATE TABLE pipeline_probe (id int PRIMARY KEY, note text)")
    try:
        yield connection
    finally:
        connection.rollback()
        connection.execute("DROP TABLE pipeline_probe")
        connection.autocommit = False
        raw.close()


def _count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM pipeline_probe").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("prepared", [False, True])
def test_values_travel_as_through_a_cursor(conn: psycopg.Connection[Any],
                                           prepared: bool) -> None:
    expected = conn.execute(ROWS, PARAMS).fetchall()
    for _ in range(2):  # the second time through a prepared name
        rows = run_pipeline(conn, [(ROWS, PARAMS), ("SELECT 1 WHERE false", ())],
                            begin=True, prepared=prepared)
        run_pipeline(conn, [("COMMIT", None)])
        assert rows == [expected, []]
    assert expected[0][:4] == (42, "naïve 'quoted' %s", 2**40, True)


AWKWARD = ["a,b", '{"x"}', "back\\slash", "NULL", "", " spaced ", "naïve", "tab\there", "u0001"]


@pytest.mark.parametrize("prepared", [False, True])
def test_lists_travel_whole_whatever_their_elements_hold(conn: psycopg.Connection[Any],
                                                        prepared: bool) -> None:
    sql = ("SELECT %s::text[], (SELECT count(*) FROM unnest(%s::text[]) AS u(v) "
           "WHERE v = ANY(%s)), %s::bigint[]")
    params = (AWKWARD, AWKWARD, AWKWARD, [1, 2**40, -5])
    rows = run_pipeline(conn, [(sql, params)], begin=True, prepared=prepared)
    run_pipeline(conn, [("COMMIT", None)])
    assert rows == [[(AWKWARD, len(AWKWARD), [1, 2**40, -5])]]


def test_the_first_error_is_raised_after_the_pipeline_ends_and_nothing_after_it_runs(
        conn: psycopg.Connection[Any]) -> None:
    insert = "INSERT INTO pipeline_probe VALUES (%s, %s)"
    with pytest.raises(psycopg.errors.UniqueViolation):
        run_pipeline(conn, [(insert, (1, "a")), (insert, (1, "again")), (insert, (2, "b")),
                            ("COMMIT", None)], begin=True, prepared=True)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    conn.rollback()
    assert _count(conn) == 0
    run_pipeline(conn, [(insert, (1, "a")), ("COMMIT", None)], begin=True, prepared=True)
    assert _count(conn) == 1


def test_a_transaction_is_opened_when_the_connection_is_not_in_autocommit(
        conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = False
    run_pipeline(conn, [("INSERT INTO pipeline_probe VALUES (%s, %s)", (1, "a"))])
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.rollback()
    conn.autocommit = True
    assert _count(conn) == 0


def test_names_lost_to_deallocate_all_are_prepared_again_and_nothing_runs_twice(
        conn: psycopg.Connection[Any]) -> None:
    insert = "INSERT INTO pipeline_probe VALUES (%s, %s)"
    run_pipeline(conn, [(insert, (1, "a")), ("COMMIT", None)], begin=True, prepared=True)
    # psycopg prepares a statement it runs often, then deallocates everything when it
    # rolls back a transaction: the pipeline's names go with its own
    for _ in range(6):
        conn.execute("SELECT count(*) FROM pipeline_probe").fetchall()
    conn.autocommit = False
    conn.execute("SELECT 1")
    conn.rollback()
    conn.autocommit = True
    assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    rows = run_pipeline(conn, [(insert, (2, "b")), ("SELECT count(*) FROM pipeline_probe", ()),
                               ("COMMIT", None)], begin=True, prepared=True)
    assert rows[1] == [(2,)]
    assert _count(conn) == 2


def test_a_name_lost_mid_transaction_is_a_transient_error_and_is_forgotten(
        conn: psycopg.Connection[Any]) -> None:
    select = ("SELECT note FROM pipeline_probe WHERE id = %s", (1,))
    run_pipeline(conn, [select, ("COMMIT", None)], begin=True, prepared=True)
    run_pipeline(conn, [("DEALLOCATE ALL", None)], begin=True)
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        run_pipeline(conn, [select], prepared=True)  # trusted: no canary to check
    conn.rollback()
    assert run_pipeline(conn, [select, ("COMMIT", None)], begin=True, prepared=True) == [
        [], []]


def test_an_unadaptable_value_leaves_the_connection_usable(
        conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.ProgrammingError):
        run_pipeline(conn, [("SELECT %s", (object(),))], begin=True, prepared=True)
    conn.rollback()
    assert run_pipeline(conn, [("SELECT %s::int", (7,)), ("COMMIT", None)], begin=True,
                        prepared=True)[0] == [(7,)]


def test_past_its_quota_of_names_a_connection_sends_statements_unnamed(
        conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_pipeline, "MAX_PREPARED", 2)
    for n in range(4):
        assert run_pipeline(conn, [(f"SELECT %s::int + {n}", (1,)), ("COMMIT", None)],
                            begin=True, prepared=True)[0] == [(1 + n,)]
    names = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    assert names == (2,)  # the canary and the first statement
