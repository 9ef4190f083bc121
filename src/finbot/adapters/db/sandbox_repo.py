"""Arena sandboxes in SQL: one row per player."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from finbot.adapters.db.tables import arena_sandboxes as sandboxes
from finbot.domain.sandboxes import Sandbox, SandboxMode


class SqlSandboxRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def get(self, player_id: str, *, lock: bool = False) -> Sandbox | None:
        query = select(sandboxes).where(sandboxes.c.player_id == player_id)
        row = self.conn.execute(query.with_for_update() if lock else query).mappings().first()
        return _sandbox(row) if row else None

    def add(self, sandbox: Sandbox) -> None:
        self.conn.execute(insert(sandboxes).values(
            player_id=sandbox.player_id, mode=sandbox.mode.value,
            generation=sandbox.generation, created_at=sandbox.created_at_us,
            reset_at=sandbox.reset_at_us))

    def save(self, sandbox: Sandbox) -> None:
        self.conn.execute(update(sandboxes).where(sandboxes.c.player_id == sandbox.player_id)
                          .values(mode=sandbox.mode.value, generation=sandbox.generation,
                                  reset_at=sandbox.reset_at_us))


def _sandbox(row: Any) -> Sandbox:
    return Sandbox(row["player_id"], SandboxMode(row["mode"]), int(row["generation"]),
                   int(row["created_at"]), row["reset_at"])
