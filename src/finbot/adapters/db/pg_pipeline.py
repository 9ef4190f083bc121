"""A round trip's statements sent as one libpq pipeline, beneath psycopg's cursors.

The ledger's single transfer makes two round trips of three statements each (BEGIN and
two locked reads; two writes and COMMIT). Through psycopg's pipeline mode each statement
cost 50-70 µs of Python on this CPU, as much as the server's work for it: its cursors,
generators and result bookkeeping are built for any use. Here the same statements go out
through libpq's own pipeline calls (``psycopg.pq``, psycopg's binding of libpq); the
parameters are adapted and the rows loaded by psycopg's ``Transformer``, the adapters its
cursors use, so values travel exactly as they would through a cursor.

**Prepared statements, and how they are kept honest.** Sent unnamed, each statement is
parsed and planned on every trip, which cost more than the Python saved. So a pipeline
that opens a transaction may use named statements, prepared on a connection's first use
of them. But psycopg deallocates every prepared statement of a connection (``DEALLOCATE
ALL``) when it rolls back a transaction there after preparing statements of its own, and
the pool lends the same connections to code that goes through psycopg's cursors: a name
can vanish between two transactions. Every such pipeline therefore first executes a
canary, a statement prepared before any other name now in use: ``DEALLOCATE ALL`` takes
it too, so its failure means names were lost. The pipeline opened the transaction, so
nothing is lost with it: it is rolled back, the names are forgotten, and the pipeline
runs again with every statement prepared afresh. Names outlive no check: a transaction
that passed it keeps them to its end, since nothing else runs on its connection.
"""

from __future__ import annotations

import re
import select
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import abc, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq.abc import PGconn

Statement = tuple[str, Sequence[Any] | None]  # SQL with %s placeholders; None: no params
MAX_PREPARED = 256  # names per connection; statements past them are sent unnamed

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_CANARY = "SELECT 1"
_Key = tuple[str, tuple[int, ...]]  # a statement's text and its parameters' types


@dataclass
class _Session:
    """What a connection keeps between round trips: its adapters and prepared names."""

    transformer: abc.Transformer
    encoding: str
    prepared: dict[_Key, bytes] = field(default_factory=dict)
    names: int = 0  # names given so far on this connection: a name is never reused

    def forget(self) -> None:
        self.prepared.clear()


@dataclass(frozen=True, slots=True)
class _Slot:
    """A result to come: a statement's (its index) or a preparation's (its key)."""

    index: int | None = None
    prepared: _Key | None = None


_sessions: weakref.WeakKeyDictionary[psycopg.Connection[Any], _Session] = (
    weakref.WeakKeyDictionary())
_sessions_lock = threading.Lock()
_AUTO, _BINARY = PyFormat.AUTO, PyFormat.BINARY


def run_pipeline(conn: psycopg.Connection[Any], statements: Sequence[Statement], *,
                 begin: bool = False, prepared: bool = False) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` in order in one round trip; each one's rows (empty for commands).

    ``begin`` opens a transaction first (the connection must be idle, in autocommit);
    without it, one is opened when the connection is not in autocommit and idle, as
    psycopg's cursors would. ``prepared`` uses named statements: checked by the canary
    when ``begin`` is given, otherwise trusted as checked earlier in this transaction.
    The first statement to fail raises its psycopg error (with its SQLSTATE) once every
    result up to the pipeline's end has been read, so the connection is left idle, in
    its failed transaction.
    """
    session = _session(conn)
    pgconn = conn.pgconn
    opens = begin or (not conn.autocommit
                      and pgconn.transaction_status == pq.TransactionStatus.IDLE)
    with conn.lock:
        if not (begin and prepared):
            return _run(pgconn, session, statements, opens=opens, prepared=prepared)
        try:
            return _run(pgconn, session, statements, opens=True, prepared=True, canary=True)
        except psycopg.errors.InvalidSqlStatementName:  # DEALLOCATE ALL since: the names
            # are forgotten already (``_receive``), so the second run prepares them anew
            _run(pgconn, session, [("ROLLBACK", None)], opens=False, prepared=False)
            return _run(pgconn, session, statements, opens=True, prepared=True, canary=True)


def _run(pgconn: PGconn, session: _Session, statements: Sequence[Statement], *,
         opens: bool, prepared: bool, canary: bool = False) -> list[list[tuple[Any, ...]]]:
    head: list[tuple[Statement, bool]] = [(("BEGIN", None), False)] if opens else []
    if canary:
        head.append(((_CANARY, ()), True))
    work = head + [(statement, prepared) for statement in statements]
    pgconn.enter_pipeline_mode()
    try:
        slots: list[_Slot] = []  # one per result to come
        failure: BaseException | None = None
        try:
            for index, ((sql, params), named) in enumerate(work):
                _send(pgconn, session, sql, params, named, _Slot(index), slots)
        except BaseException as error:  # an unadaptable value: end the pipeline first
            failure = error
        pgconn.pipeline_sync()
        results = _receive(pgconn, session, slots, len(work))
    except BaseException:
        _leave(pgconn, quietly=True)  # the connection is broken; keep the first error
        raise
    _leave(pgconn, quietly=False)
    if failure is not None:
        raise failure
    return results[len(head):]


def _session(conn: psycopg.Connection[Any]) -> _Session:
    session = _sessions.get(conn)
    if session is None:
        with _sessions_lock:
            session = _sessions.get(conn)
            if session is None:
                session = _sessions[conn] = _Session(Transformer.from_context(conn),
                                                     conn.info.encoding)
    return session


def _send(pgconn: PGconn, session: _Session, sql: str, params: Sequence[Any] | None,
          named: bool, slot: _Slot, slots: list[_Slot]) -> None:
    if params is None:
        pgconn.send_query_params(sql.encode(), None)
        slots.append(slot)
        return
    tx = session.transformer
    # Lists (the ids of ``= ANY(%s)``) in binary: psycopg's text format quotes each
    # element through a regular expression, ~1 ms per 1,000 strings against ~0.17.
    values = tx.dump_sequence(params, [_BINARY if type(p) is list else _AUTO
                                       for p in params])
    types, formats = tx.types or (), tx.formats
    key = (sql, types)
    name = session.prepared.get(key) if named else None
    if named and name is None and len(session.prepared) < MAX_PREPARED:
        session.names += 1
        name = session.prepared[key] = f"finbot_{session.names}".encode()
        pgconn.send_prepare(name, _numbered(sql), types)
        slots.append(_Slot(prepared=key))
    if name is None:
        pgconn.send_query_params(_numbered(sql), values, types, formats)
    else:
        pgconn.send_query_prepared(name, values, formats)
    slots.append(slot)


def _receive(pgconn: PGconn, session: _Session, slots: list[_Slot],
             count: int) -> list[list[tuple[Any, ...]]]:
    """Read results up to the pipeline's sync point; raise the first error after it."""
    _flush(pgconn)
    rows: list[list[tuple[Any, ...]]] = [[] for _ in range(count)]
    error: BaseException | None = None
    slot = 0
    while True:
        if pgconn.is_busy():
            _wait(pgconn, select.POLLIN)
            pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is None:
            if pgconn.status == pq.ConnStatus.BAD:
                raise psycopg.OperationalError(pgconn.get_error_message())
            continue  # the end of one statement's results
        status = result.status
        if status == pq.ExecStatus.PIPELINE_SYNC:
            break
        expected = slots[slot]
        slot += 1
        if status == pq.ExecStatus.TUPLES_OK and expected.index is not None:
            tx = session.transformer
            tx.set_pgresult(result)
            rows[expected.index] = tx.load_rows(0, result.ntuples, tuple)
        elif status not in _OK:
            if expected.prepared is not None:  # it was never prepared
                session.prepared.pop(expected.prepared, None)
                if expected.prepared[0] == _CANARY:
                    session.forget()  # names older than the canary would go unchecked
            if error is None and status != pq.ExecStatus.PIPELINE_ABORTED:
                error = psycopg.errors.error_from_result(result, encoding=session.encoding)
    if error is not None:
        if isinstance(error, psycopg.errors.InvalidSqlStatementName):
            session.forget()
        raise error
    return rows


def _leave(pgconn: PGconn, *, quietly: bool) -> None:
    if pgconn.pipeline_status == pq.PipelineStatus.OFF:
        return
    try:
        pgconn.exit_pipeline_mode()
    except psycopg.Error:
        if not quietly:
            raise


def _flush(pgconn: PGconn) -> None:
    while pgconn.flush():
        _wait(pgconn, select.POLLOUT)


def _wait(pgconn: PGconn, event: int) -> None:
    """Block until the socket is ready; poll releases the GIL for other threads."""
    poller = select.poll()
    poller.register(pgconn.socket, event)
    poller.poll()


@lru_cache(maxsize=1024)
def _numbered(sql: str) -> bytes:
    """``%s`` placeholders as libpq's ``$1, $2, ...``; ``%%`` as a literal ``%``."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return re.sub(r"%%|%s", number, sql).encode()
