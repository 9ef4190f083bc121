"""The audit chain in SQL: appends under the chain-head lock, streaming reads, checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Select, cast, insert, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import audit_checkpoints, audit_head, audit_log, vendors
from finbot.domain.audit import AuditRecord, DecisionSearch

_PAGE = 5000
_COLUMNS = "seq, record_id, kind, decision_id, created_at, body, prev_hash, hash"


_LOCK_HEAD = Sql("SELECT seq, hash FROM audit_head WHERE id = 1",
                 postgresql="SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
_APPEND = Sql(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (:seq, :record_id, :kind, "
              ":decision_id, :created_at, :body, :prev_hash, :hash)")
_MOVE_HEAD = Sql("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1")
_BY_ID = Sql(f"SELECT {_COLUMNS} FROM audit_log WHERE record_id = :record_id")


def _record(row: tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(*row)


class SqlAuditRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def lock_head(self) -> tuple[int, str]:
        """The last sequence number and hash, locked until the transaction ends."""
        row = _LOCK_HEAD.first(self.conn)
        assert row is not None, "the audit chain's head row is missing"
        return int(row[0]), str(row[1])

    def append(self, record: AuditRecord) -> None:
        _APPEND.execute(self.conn, seq=record.seq, record_id=record.record_id,
                        kind=record.kind, decision_id=record.decision_id,
                        created_at=record.created_at, body=record.body,
                        prev_hash=record.prev_hash, hash=record.hash)
        _MOVE_HEAD.execute(self.conn, seq=record.seq, hash=record.hash)

    def head(self) -> tuple[int, str]:
        row = self.conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
        return int(row.seq), str(row.hash)

    def by_id(self, record_id: str) -> AuditRecord | None:
        row = _BY_ID.first(self.conn, record_id=record_id)
        return _record(row) if row else None

    def for_decision(self, decision_id: str) -> list[AuditRecord]:
        """Every record linked to one decision, in chain order."""
        rows = self.conn.execute(select(*audit_log.c).where(audit_log.c.decision_id == decision_id)
                                 .order_by(audit_log.c.seq)).all()
        return [_record(tuple(row)) for row in rows]

    def decisions(self, tenant: str, search: DecisionSearch, *, before_seq: int | None = None,
                  limit: int = 50) -> list[AuditRecord]:
        """``tenant``'s decision records (those whose vendor is the tenant's), newest first,
        before the sequence number ``before_seq``. The sequence number and an invoice's
        decision ids are index lookups; vendor, agent and outcome are read from each
        record's body as the newest records are walked, until a page is full."""
        vendor = self._field("payment", "vendor_id")
        query = (select(*audit_log.c).join(vendors, vendors.c.vendor_id == vendor)
                 .where(audit_log.c.kind == "decision", vendors.c.tenant == tenant)
                 .order_by(audit_log.c.seq.desc()).limit(limit))
        if before_seq is not None:
            query = query.where(audit_log.c.seq < before_seq)
        rows = self.conn.execute(self._searched(query, search)).all()
        return [_record(tuple(row)) for row in rows]

    def _searched(self, query: Select[Any], search: DecisionSearch) -> Select[Any]:
        if search.invoice_id:  # an invoice's workflow decisions: invoice:<id>:<step>
            prefix = f"invoice:{search.invoice_id}:"
            query = query.where(audit_log.c.decision_id >= prefix,
                                audit_log.c.decision_id < prefix[:-1] + ";")
        for value, path in ((search.vendor_id, ("payment", "vendor_id")),
                            (search.agent_id, ("agent_id",)), (search.outcome, ("outcome",))):
            if value:
                query = query.where(self._field(*path) == value)
        if search.since_us is not None:
            query = query.where(audit_log.c.created_at >= search.since_us)
        if search.until_us is not None:
            query = query.where(audit_log.c.created_at < search.until_us)
        return query

    def _field(self, *path: str) -> ColumnElement[str]:
        """A text field of the record's data, read from its JSON body in the dialect's way
        (the body is stored as text, so PostgreSQL parses it as jsonb)."""
        keys = ("data", *path)
        field: ColumnElement[str]
        if self.conn.dialect.name == "postgresql":
            field = cast(audit_log.c.body, JSONB)[keys].astext
        else:
            field = type_coerce(audit_log.c.body, JSON)[keys].as_string()
        return field

    def records(self, *, after: int = 0, upto: int | None = None) -> Iterator[AuditRecord]:
        """Every record in sequence order, streamed: a server-side cursor on PostgreSQL,
        SQLite's own stepping cursor; a million records never sit in memory at once."""
        pg = self.conn.dialect.name == "postgresql"
        p = "%s" if pg else "?"
        dbapi: Any = self.conn.connection.dbapi_connection
        cursor = dbapi.cursor(name="finbot_audit_records") if pg else dbapi.cursor()
        try:
            cursor.execute(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > {p} AND seq <= {p} "
                           "ORDER BY seq", (after, upto if upto is not None else 2**62))
            while rows := cursor.fetchmany(_PAGE):
                for row in rows:
                    yield AuditRecord(*row)
        finally:
            cursor.close()

    def count(self) -> int:
        return int(self.conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc())
                                     .limit(1)).scalar() or 0)

    def add_checkpoint(self, tree_size: int, root_hash: str, mac: str, now_us: int) -> None:
        self.conn.execute(insert(audit_checkpoints).values(
            tree_size=tree_size, root_hash=root_hash, mac=mac, created_at=now_us))

    def checkpoints(self) -> list[tuple[int, str, str]]:
        rows = self.conn.execute(select(audit_checkpoints.c.tree_size,
                                        audit_checkpoints.c.root_hash, audit_checkpoints.c.mac)
                                 .order_by(audit_checkpoints.c.tree_size)).all()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
