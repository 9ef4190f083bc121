"""Telling "the database is away" apart from "this statement failed".

A consumer whose database is restarting must wait for it, not count the failure against
the event it was handling (and dead-letter a perfectly good event after a few tries).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError

_DRIVER_MODULES = ("psycopg",)


def database_unavailable(error: BaseException) -> bool:
    """True if ``error``, or an error it was raised from, says the database cannot be
    reached or dropped the connection (refused, shut down, restarting), whether
    SQLAlchemy wrapped the driver's error or not; False for errors of a statement."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DisconnectionError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if _driver_connection_error(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _driver_connection_error(error: BaseException) -> bool:
    """psycopg reports connection trouble as ``OperationalError`` itself, or as the
    classes of SQLSTATE 08 (connection exception) and 57P (operator intervention:
    shutdown, cannot connect now); statement errors are other classes."""
    if type(error).__module__.split(".")[0] not in _DRIVER_MODULES:
        return False
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is None:  # no server answer at all: the connection itself failed
        return type(error).__name__ in ("OperationalError", "InterfaceError")
    return str(sqlstate).startswith(("08", "57P"))
