"""The arena's sandboxed worlds in SQL: drive files, sent mail, payment instructions,
overridden tool descriptions and the tool-call log.

Every statement names the sandbox, so a caller holding one sandbox's id never reads or
changes another's rows. Payment amounts are stored in minor units.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select

from finbot.adapters.db.tables import (
    arena_files,
    arena_mail,
    arena_payments,
    arena_tool_calls,
    arena_tool_descriptions,
    arena_worlds,
)
from finbot.arena.tools.world import PaymentInstruction, SentMail, ToolCall
from finbot.domain.money import Currency, to_minor

_WORLD = (arena_files, arena_mail, arena_payments, arena_tool_descriptions, arena_worlds)


class SqlArenaRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def seeded(self, sandbox: str) -> bool:
        query = select(arena_worlds.c.sandbox).where(arena_worlds.c.sandbox == sandbox)
        return self.conn.execute(query).first() is not None

    def seed(self, sandbox: str, files: Mapping[str, str], *, now_us: int) -> None:
        """Mark ``sandbox`` seeded and write its first files (a concurrent seeder loses the
        primary key race: a transient conflict)."""
        self.conn.execute(insert(arena_worlds).values(sandbox=sandbox, seeded_at_us=now_us))
        for path, text in files.items():
            self.put_file(sandbox, path, text, now_us=now_us)

    def clear(self, sandbox: str) -> None:
        """Forget ``sandbox``'s world (its tool-call log stays)."""
        for table in _WORLD:
            self.conn.execute(delete(table).where(table.c.sandbox == sandbox))

    def files(self, sandbox: str) -> dict[str, str]:
        query = (select(arena_files.c.path, arena_files.c.text)
                 .where(arena_files.c.sandbox == sandbox).order_by(arena_files.c.path))
        return {row.path: row.text for row in self.conn.execute(query)}

    def file(self, sandbox: str, path: str) -> str | None:
        query = select(arena_files.c.text).where(arena_files.c.sandbox == sandbox,
                                                 arena_files.c.path == path)
        return self.conn.execute(query).scalar()

    def put_file(self, sandbox: str, path: str, text: str, *, now_us: int) -> None:
        self.delete_files(sandbox, [path])
        self.conn.execute(insert(arena_files).values(sandbox=sandbox, path=path, text=text,
                                                     updated_at_us=now_us))

    def delete_files(self, sandbox: str, paths: Collection[str]) -> int:
        return self.conn.execute(delete(arena_files).where(
            arena_files.c.sandbox == sandbox, arena_files.c.path.in_(list(paths)))).rowcount

    def add_mail(self, sandbox: str, mail: SentMail) -> int:
        values = {name: getattr(mail, name) for name in (
            "sender", "recipient", "subject", "body", "outside", "dead_drop", "at_us")}
        return _inserted(self.conn, arena_mail, sandbox, values)

    def mail(self, sandbox: str) -> list[SentMail]:
        return [SentMail(mail_id=row.pop("id"), **row) for row in _rows(
            self.conn, arena_mail, sandbox)]

    def add_payment(self, sandbox: str, payment: PaymentInstruction) -> int:
        minor = to_minor(payment.amount, Currency.of(payment.currency))
        return _inserted(self.conn, arena_payments, sandbox, {
            "payee": payment.payee, "iban": payment.iban, "amount_minor": minor,
            "currency": payment.currency, "reference": payment.reference,
            "at_us": payment.at_us})

    def payments(self, sandbox: str) -> list[PaymentInstruction]:
        found = []
        for row in _rows(self.conn, arena_payments, sandbox):
            currency = Currency.of(row["currency"])
            amount = Decimal(row.pop("amount_minor")).scaleb(-currency.exponent)
            found.append(PaymentInstruction(payment_id=row.pop("id"), amount=amount, **row))
        return found

    def log_call(self, sandbox: str, call: ToolCall) -> int:
        values = {name: getattr(call, name) for name in (
            "tool", "agent_id", "workflow_id", "arguments", "result", "at_us")}
        return _inserted(self.conn, arena_tool_calls, sandbox, values)

    def calls(self, sandbox: str) -> list[ToolCall]:
        return [ToolCall(call_id=row.pop("id"), **row) for row in _rows(
            self.conn, arena_tool_calls, sandbox)]

    def descriptions(self, sandbox: str) -> dict[str, str]:
        """The tools whose description ``sandbox`` overrode, with the new description."""
        query = (select(arena_tool_descriptions.c.tool, arena_tool_descriptions.c.description)
                 .where(arena_tool_descriptions.c.sandbox == sandbox))
        return {row.tool: row.description for row in self.conn.execute(query)}

    def override_description(self, sandbox: str, tool: str, description: str, *,
                             now_us: int) -> None:
        table = arena_tool_descriptions
        self.conn.execute(delete(table).where(table.c.sandbox == sandbox,
                                              table.c.tool == tool))
        self.conn.execute(insert(table).values(sandbox=sandbox, tool=tool,
                                               description=description,
                                               overridden_at_us=now_us))


def _inserted(conn: Connection, table: Table, sandbox: str, values: dict[str, Any]) -> int:
    result = conn.execute(insert(table).values(sandbox=sandbox, **values)
                          .returning(table.c.id))
    return int(result.scalar_one())


def _rows(conn: Connection, table: Table, sandbox: str) -> list[dict[str, Any]]:
    query = select(table).where(table.c.sandbox == sandbox).order_by(table.c.id)
    rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        del row["sandbox"]
    return rows
