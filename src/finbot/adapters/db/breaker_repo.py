"""Circuit breakers in SQL: the shared state every process obeys, and the hourly outcome
counts the drift and spike baselines are computed from."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, insert, select, update

from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import agent_outcome_counts, breaker_states
from finbot.domain.breakers import BreakerState, StoredBreaker

_COUNTS = agent_outcome_counts.c
_COUNT_OUTCOME = Sql(
    "INSERT INTO agent_outcome_counts (agent_id, hour, outcome, count) "
    "VALUES (:agent_id, :hour, :outcome, 1) ON CONFLICT (agent_id, hour, outcome) "
    "DO UPDATE SET count = agent_outcome_counts.count + 1")


class SqlBreakerRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def get(self, agent_id: str) -> StoredBreaker | None:
        row = self.conn.execute(select(breaker_states)
                                .where(breaker_states.c.agent_id == agent_id)).mappings().first()
        return _stored(row) if row else None

    def all(self) -> list[StoredBreaker]:
        rows = self.conn.execute(select(breaker_states).order_by(breaker_states.c.agent_id))
        return [_stored(r) for r in rows.mappings()]

    def save(self, stored: StoredBreaker, *, expected_version: int | None) -> bool:
        """Write the state if nobody changed it since ``expected_version`` (None: new row)."""
        values = {"state": stored.state.value, "changed_at": stored.changed_at_us,
                  "reason": stored.reason}
        if expected_version is None:
            self.conn.execute(insert(breaker_states).values(agent_id=stored.agent_id,
                                                            version=0, **values))
            return True
        result = self.conn.execute(update(breaker_states).where(
            breaker_states.c.agent_id == stored.agent_id,
            breaker_states.c.version == expected_version).values(
                version=breaker_states.c.version + 1, **values))
        return result.rowcount == 1

    def count_outcome(self, agent_id: str, hour: int, outcome: str) -> None:
        _COUNT_OUTCOME.execute(self.conn, agent_id=agent_id, hour=hour, outcome=outcome)

    def outcome_counts(self, agent_id: str, *, since_hour: int,
                       before_hour: int) -> dict[int, dict[str, int]]:
        rows = self.conn.execute(select(_COUNTS.hour, _COUNTS.outcome, _COUNTS.count).where(
            _COUNTS.agent_id == agent_id, _COUNTS.hour >= since_hour,
            _COUNTS.hour < before_hour))
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        for hour, outcome, count in rows:
            counts[int(hour)][str(outcome)] = int(count)
        return dict(counts)


def _stored(row: Any) -> StoredBreaker:
    return StoredBreaker(row["agent_id"], BreakerState(row["state"]), row["changed_at"],
                         row["reason"], row["version"])
