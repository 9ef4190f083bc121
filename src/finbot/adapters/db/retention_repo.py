"""What retention may purge, per data class, in SQL: each class is a table, the time its
rows age by, and any condition a row must also meet to go (an LLM record only once every
consumer is past it). The ledger and the decision log are no class: they are never purged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, true, tuple_

from finbot.adapters.db.outbox_repo import RELAYED
from finbot.adapters.db.tables import (
    arena_tool_calls,
    idempotency_keys,
    messages,
    outbox,
    user_sessions,
    vendor_notes,
)
from finbot.adapters.db.uow import SqlUnitOfWork

_LLM_TYPES = ("llm.requested", "llm.responded")


@dataclass(frozen=True)
class DataClass:
    """Rows of ``table`` age by ``aged_by`` (µs); ``also`` narrows what may go."""

    table: Table
    aged_by: str
    also: Callable[[SqlUnitOfWork], ColumnElement[bool]] = field(
        default=lambda _uow: true())

    @property
    def key(self) -> list[Any]:
        return list(self.table.primary_key.columns)


class SqlRetention:
    """Counts and deletes one data class's rows older than a moment, a batch at a time."""

    def __init__(self, uow: Callable[[], SqlUnitOfWork], *, consumers: Callable[[], list[str]],
                 relayed_only: bool) -> None:
        """``consumers``: the embedded consumers an LLM record must be behind (with
        ``relayed_only``, Redis has it once relayed)."""
        self._uow = uow
        self._consumers = consumers
        self._relayed_only = relayed_only
        self.classes = {
            "conversations": DataClass(messages, "created_at"),
            "agent_notes": DataClass(vendor_notes, "created_at"),
            "llm_records": DataClass(outbox, "occurred_at", self._llm_consumed),
            "idempotency_keys": DataClass(idempotency_keys, "expires_at"),
            "sessions": DataClass(user_sessions, "expires_at"),
            "arena_tool_logs": DataClass(arena_tool_calls, "at_us"),
        }

    def purge(self, name: str, *, before_us: int, dry_run: bool, limit: int) -> int:
        """Delete up to ``limit`` rows of class ``name`` aged before ``before_us`` (with
        ``dry_run``, count them all and delete none); how many."""
        cls = self.classes[name]
        with self._uow() as uow:
            due = and_(cls.table.c[cls.aged_by] < before_us, cls.also(uow))
            if dry_run:
                return int(uow.connection.execute(
                    select(func.count()).select_from(cls.table).where(due)).scalar_one())
            keys = [tuple(row) for row in uow.connection.execute(
                select(*cls.key).where(due).order_by(*cls.key).limit(limit))]
            if keys:
                matched = (cls.key[0].in_([k[0] for k in keys]) if len(cls.key) == 1
                           else tuple_(*cls.key).in_(keys))
                uow.connection.execute(cls.table.delete().where(matched))
                uow.commit()
        return len(keys)

    def oldest(self, name: str) -> int | None:
        """When the oldest row of class ``name`` that is left aged from (None: none left)."""
        cls = self.classes[name]
        with self._uow() as uow:
            query = select(func.min(cls.table.c[cls.aged_by]))
            if cls.table is outbox:
                query = query.where(outbox.c.type.in_(_LLM_TYPES))
            found = uow.connection.execute(query).scalar()
        return None if found is None else int(found)

    def _llm_consumed(self, uow: SqlUnitOfWork) -> ColumnElement[bool]:
        ours = outbox.c.type.in_(_LLM_TYPES)
        if self._relayed_only:
            return and_(ours, RELAYED)
        txid, outbox_id = uow.outbox.slowest_offset(self._consumers())
        return and_(ours, or_(outbox.c.txid < txid,
                              and_(outbox.c.txid == txid, outbox.c.id <= outbox_id)))
