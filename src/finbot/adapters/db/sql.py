"""Plain SQL for the hot paths: one statement text per dialect, sent through the driver.

Building a SQLAlchemy Core statement and its cache key costs about 150 µs a statement
(profiled: a workflow step issues dozens), sending written SQL through
``exec_driver_sql`` about 40 µs, for the same row on SQLite. The hot repositories keep
their Core statements where a statement is rare and use ``Sql`` where it runs every step.
The statements every transaction runs (an event's append) go on the driver's own cursor
(``first``, ``execute``): SQLAlchemy's result layer costs ~100 µs of CPU a statement on
PostgreSQL (measured side by side), a sixth of a whole state change's transaction. Those
raise the driver's own errors; the units of work and the workers tell transient and
connection errors apart in that form as in SQLAlchemy's.
A ``Sql`` is written once with ``:name`` parameters; PostgreSQL's driver gets them as
``%(name)s``. Only simple statements belong here: no ``::`` casts and no literal ``%``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, CursorResult

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class Sql:
    """One statement in each dialect's parameter style."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, text: str, *, postgresql: str | None = None) -> None:
        """``postgresql``: that dialect's own text where it differs (``FOR UPDATE``)."""
        for written in (text, postgresql or ""):
            if "%" in written or "::" in written:
                raise ValueError("plain statements take no literal % and no :: casts")
        self.sqlite = text
        self.postgresql = _NAMED.sub(r"%(\1)s", postgresql or text)

    def run(self, conn: Connection, **params: Any) -> CursorResult[*tuple[Any, ...]]:
        """Execute on ``conn`` (inside its transaction) with ``params``."""
        return conn.exec_driver_sql(self._text(conn), params)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row of parameters (the driver's executemany)."""
        conn.exec_driver_sql(self._text(conn), [dict(row) for row in rows])

    def first(self, conn: Connection, **params: Any) -> tuple[Any, ...] | None:
        """The first row, read on the driver's cursor inside ``conn``'s transaction."""
        with self._executed(conn, params) as cursor:
            row = cursor.fetchone()
        return tuple(row) if row is not None else None

    def rows(self, conn: Connection, **params: Any) -> list[tuple[Any, ...]]:
        """Every row, read on the driver's cursor."""
        with self._executed(conn, params) as cursor:
            return [tuple(row) for row in cursor.fetchall()]

    def record(self, conn: Connection, **params: Any) -> dict[str, Any] | None:
        """The first row by column name, read on the driver's cursor, or None."""
        with self._executed(conn, params) as cursor:
            row = cursor.fetchone()
            return None if row is None else dict(zip(_names(cursor), row, strict=True))

    def records(self, conn: Connection, **params: Any) -> list[dict[str, Any]]:
        """Every row by column name, read on the driver's cursor."""
        with self._executed(conn, params) as cursor:
            rows = cursor.fetchall()
            names = _names(cursor) if rows else ()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def execute(self, conn: Connection, **params: Any) -> int:
        """Execute on the driver's cursor inside ``conn``'s transaction; the rows it
        changed."""
        with self._executed(conn, params) as cursor:
            return int(cursor.rowcount)

    @contextmanager
    def _executed(self, conn: Connection, params: Mapping[str, Any]) -> Iterator[Any]:
        cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._text(conn), params)
            yield cursor
        finally:
            cursor.close()

    def _text(self, conn: Connection) -> str:
        return self.postgresql if conn.dialect.name == "postgresql" else self.sqlite


def _names(cursor: Any) -> tuple[str, ...]:
    return tuple(column[0] for column in cursor.description)
