"""Challengers in SQL: the registry, its sign-offs and the pairs of decisions compared."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from finbot.adapters.db.engine import upsert_insert
from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import challenger_pairs as pairs
from finbot.adapters.db.tables import challenger_sign_offs as sign_offs
from finbot.adapters.db.tables import challengers
from finbot.domain.challengers import (
    Challenger,
    ChallengerPair,
    ChallengerState,
    SignOff,
    SignOffRole,
)


def _challenger(row: Mapping[str, Any] | RowMapping) -> Challenger:
    return Challenger(row["challenger_id"], row["agent_id"], ChallengerState(row["state"]),
                      int(row["created_at"]), int(row["changed_at"]), row["agent_version"],
                      row["prompt"], row["model_name"], row["fraud_version"],
                      Decimal(row["canary_share"]), Decimal(row["min_agreement"]),
                      int(row["min_count"]), int(row["version"]))


def _values(challenger: Challenger) -> dict[str, Any]:
    return {"agent_id": challenger.agent_id, "state": challenger.state.value,
            "agent_version": challenger.agent_version, "prompt": challenger.prompt,
            "model_name": challenger.model_name, "fraud_version": challenger.fraud_version,
            "canary_share": str(challenger.canary_share),
            "min_agreement": str(challenger.min_agreement), "min_count": challenger.min_count,
            "created_at": challenger.created_at_us, "changed_at": challenger.changed_at_us,
            "version": challenger.version}


_ACTIVE = Sql("SELECT * FROM challengers WHERE agent_id = :agent_id "
              "AND state IN ('shadow', 'canary') ORDER BY created_at, challenger_id")
"""Asked at every workflow step (see ``Sql``)."""


class SqlChallengerRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def get(self, challenger_id: str, *, lock: bool = False) -> Challenger | None:
        query = select(challengers).where(challengers.c.challenger_id == challenger_id)
        row = self.conn.execute(query.with_for_update() if lock else query).mappings().first()
        return _challenger(row) if row else None

    def all(self) -> list[Challenger]:
        query = select(challengers).order_by(challengers.c.agent_id, challengers.c.created_at)
        return [_challenger(r) for r in self.conn.execute(query).mappings()]

    def active(self, agent_id: str) -> list[Challenger]:
        """The agent's challengers in shadow or canary, oldest first."""
        return [_challenger(r) for r in _ACTIVE.records(self.conn, agent_id=agent_id)]

    def add(self, challenger: Challenger) -> None:
        self.conn.execute(insert(challengers).values(challenger_id=challenger.challenger_id,
                                                     **_values(challenger)))

    def save(self, challenger: Challenger, *, expected_version: int) -> bool:
        """Write ``challenger`` if the stored one is still ``expected_version``."""
        done = self.conn.execute(update(challengers).where(
            challengers.c.challenger_id == challenger.challenger_id,
            challengers.c.version == expected_version).values(**_values(challenger)))
        return done.rowcount == 1

    def sign(self, sign_off: SignOff) -> bool:
        """Record ``sign_off``; False if this signer already signed this challenger."""
        statement = upsert_insert(self.conn, sign_offs).values(
            challenger_id=sign_off.challenger_id, signer=sign_off.signer,
            role=sign_off.role.value, at_us=sign_off.at_us).on_conflict_do_nothing()
        return self.conn.execute(  # RETURNING: drivers disagree on rowcount
            statement.returning(sign_offs.c.signer)).first() is not None

    def sign_offs(self, challenger_id: str) -> list[SignOff]:
        query = (select(sign_offs).where(sign_offs.c.challenger_id == challenger_id)
                 .order_by(sign_offs.c.at_us, sign_offs.c.signer))
        return [SignOff(r["challenger_id"], r["signer"], SignOffRole(r["role"]),
                        int(r["at_us"])) for r in self.conn.execute(query).mappings()]

    def add_pair(self, pair: ChallengerPair) -> bool:
        """Record a compared step once; False if it was already recorded."""
        statement = upsert_insert(self.conn, pairs).values(
            challenger_id=pair.challenger_id, step_decision_id=pair.step_decision_id,
            champion_decision_id=pair.champion_decision_id,
            challenger_decision_id=pair.challenger_decision_id, routed=pair.routed,
            at_us=pair.at_us).on_conflict_do_nothing()
        return self.conn.execute(
            statement.returning(pairs.c.step_decision_id)).first() is not None

    def pairs(self, challenger_id: str, *, last: int | None = None) -> list[ChallengerPair]:
        """The challenger's compared steps, oldest first (only the ``last`` ones, if asked)."""
        query = (select(pairs).where(pairs.c.challenger_id == challenger_id)
                 .order_by(pairs.c.at_us.desc(), pairs.c.step_decision_id.desc()))
        if last is not None:
            query = query.limit(last)
        rows = list(self.conn.execute(query).mappings())
        return [ChallengerPair(r["challenger_id"], r["step_decision_id"],
                               r["champion_decision_id"], r["challenger_decision_id"],
                               r["routed"], int(r["at_us"])) for r in reversed(rows)]
