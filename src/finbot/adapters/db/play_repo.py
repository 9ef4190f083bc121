"""Arena plays in SQL: one row per player and challenge."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from finbot.adapters.db.tables import arena_plays as plays
from finbot.arena.play import Play, Seen


def _play(row: RowMapping) -> Play:
    return Play(row["player_id"], row["challenge_id"], int(row["started_at"]),
                int(row["hints_opened"]), Seen.of(row["manipulated"]), Seen.of(row["money"]),
                row["solved_at"], int(row["points"]), bool(row["first_blood"]),
                row["defence"])


def _values(play: Play) -> dict[str, Any]:
    return {"started_at": play.started_at_us, "hints_opened": play.hints_opened,
            "manipulated": play.manipulated.as_dict() if play.manipulated else None,
            "money": play.money.as_dict() if play.money else None,
            "solved_at": play.solved_at_us, "points": play.points,
            "first_blood": play.first_blood,
            "defence": dict(play.defence) if play.defence is not None else None}


class SqlPlayRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def get(self, player_id: str, challenge_id: str, *, lock: bool = False) -> Play | None:
        query = select(plays).where(plays.c.player_id == player_id,
                                    plays.c.challenge_id == challenge_id)
        row = self.conn.execute(query.with_for_update() if lock else query).mappings().first()
        return _play(row) if row else None

    def add(self, play: Play) -> None:
        self.conn.execute(insert(plays).values(player_id=play.player_id,
                                               challenge_id=play.challenge_id, **_values(play)))

    def save(self, play: Play) -> None:
        self.conn.execute(update(plays).where(plays.c.player_id == play.player_id,
                                              plays.c.challenge_id == play.challenge_id)
                          .values(**_values(play)))

    def of_player(self, player_id: str, *, unsolved: bool = False,
                  lock: bool = False) -> list[Play]:
        """The player's plays, oldest first (only those not solved yet, if asked)."""
        query = select(plays).where(plays.c.player_id == player_id)
        if unsolved:
            query = query.where(plays.c.solved_at.is_(None))
        query = query.order_by(plays.c.started_at, plays.c.challenge_id)
        return [_play(r) for r in self.conn.execute(
            query.with_for_update() if lock else query).mappings()]

    def solves(self, *, limit: int = 10_000) -> list[Play]:
        """Every solved play, most recent first."""
        query = (select(plays).where(plays.c.solved_at.is_not(None))
                 .order_by(plays.c.solved_at.desc(), plays.c.player_id).limit(limit))
        return [_play(r) for r in self.conn.execute(query).mappings()]

    def solvers(self, challenge_id: str) -> int:
        """How many players have solved ``challenge_id``."""
        return int(self.conn.execute(select(func.count()).select_from(plays).where(
            plays.c.challenge_id == challenge_id, plays.c.solved_at.is_not(None))).scalar_one())
