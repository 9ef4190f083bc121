"""The monitor's reads: a time window of decision and review records, without a scan.

``audit_log`` has no index on ``created_at`` (and this change adds no migration), but its
records are appended under the chain head's lock with the time taken inside it, so the
time never decreases along the sequence number, the primary key. A window's first and
last sequence numbers are therefore found by binary search, each probe one primary-key
lookup (about 40 for a billion records), and the window is one range read of the key.
Each row's time is still checked, so a clock step back can only leave a record out.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import Connection, Engine

from finbot.adapters.db.engine import READ_ONLY
from finbot.adapters.db.sql import Sql
from finbot.monitoring.bias import VendorFacts

_PAGE = 5000
_CHUNK = 500
_AT_OR_AFTER = Sql("SELECT created_at FROM audit_log WHERE seq >= :seq ORDER BY seq LIMIT 1")
_HEAD = Sql("SELECT seq FROM audit_head WHERE id = 1")
_WINDOW = Sql("SELECT kind, decision_id, created_at, body FROM audit_log "
              "WHERE seq >= :first AND seq < :last AND kind IN ('decision', 'review') "
              "ORDER BY seq")

Row = tuple[str, str, int, dict[str, Any]]
"""kind, decision id, time, the record's data."""


class MonitorQueries:
    """Read-only window reads for the monitor; each call its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def window(self, since_us: int, until_us: int) -> list[Row]:
        """Decision and review records created in [since_us, until_us), in chain order."""
        with self._connect() as conn:
            first = self._first_seq_at(conn, since_us)
            last = self._first_seq_at(conn, until_us)
            return list(self._rows(conn, first, last, since_us, until_us))

    def decisions(self, decision_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The data of each named decision record (by the unique record id)."""
        rows = self._named("SELECT record_id, body FROM audit_log WHERE kind = 'decision' "
                           "AND record_id", decision_ids)
        return {str(r[0]): _data(r[1]) for r in rows}

    def vendors(self, vendor_ids: Collection[str]) -> dict[str, VendorFacts]:
        """Country and registration time of each named vendor that exists."""
        rows = self._named("SELECT vendor_id, country, created_at FROM vendors WHERE vendor_id",
                           vendor_ids)
        return {str(r[0]): VendorFacts(str(r[1]), int(r[2])) for r in rows}

    def _named(self, select_where: str, ids: Collection[str]) -> list[tuple[Any, ...]]:
        """``select_where`` + `` IN (…)`` over ``ids``, a chunk of them per statement."""
        ordered, found = sorted(ids), []
        with self._connect() as conn:
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start:start + _CHUNK]
                marks = ", ".join(f":id{i}" for i in range(len(chunk)))
                found += [tuple(r) for r in Sql(f"{select_where} IN ({marks})").run(
                    conn, **{f"id{i}": v for i, v in enumerate(chunk)})]
        return found

    def _connect(self) -> Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    @staticmethod
    def _first_seq_at(conn: Connection, at_us: int) -> int:
        """The first sequence number whose record is at or after ``at_us`` (one past the
        head if none is)."""
        low, high = 1, int(_HEAD.run(conn).scalar_one()) + 1
        while low < high:
            middle = (low + high) // 2
            found = _AT_OR_AFTER.run(conn, seq=middle).scalar()
            if found is not None and int(found) >= at_us:
                high = middle
            else:
                low = middle + 1
        return low

    @staticmethod
    def _rows(conn: Connection, first: int, last: int, since_us: int,
              until_us: int) -> Iterator[Row]:
        result = _WINDOW.run(conn, first=first, last=last)
        while rows := result.fetchmany(_PAGE):
            for kind, decision_id, at, body in rows:
                if since_us <= int(at) < until_us:
                    yield str(kind), str(decision_id or ""), int(at), _data(body)


def _data(body: str) -> dict[str, Any]:
    return dict(json.loads(body)["data"])
