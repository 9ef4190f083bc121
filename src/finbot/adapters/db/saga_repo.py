"""Payment sagas in SQL: optimistic transitions and an append-only step log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from finbot.adapters.db.tables import saga_steps, sagas
from finbot.domain.payments import Saga, SagaState, SagaStep


def _saga(row: RowMapping) -> Saga:
    return Saga(id=row["id"], state=SagaState(row["state"]), payee_account=row["payee_account"],
                source_account=row["source_account"], amount=row["amount"],
                currency=row["currency"], created_at=row["created_at"],
                updated_at=row["updated_at"], version=row["version"],
                attempts=row["attempts"], rail_reference=row["rail_reference"],
                error=row["error"], decision_id=row["decision_id"])


class SqlSagaRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def get(self, saga_id: str) -> Saga | None:
        row = self.conn.execute(select(sagas).where(sagas.c.id == saga_id)).mappings().first()
        return _saga(row) if row else None

    def insert(self, saga: Saga) -> None:
        self.conn.execute(insert(sagas).values(
            id=saga.id, state=saga.state.value, payee_account=saga.payee_account,
            source_account=saga.source_account, amount=saga.amount, currency=saga.currency,
            created_at=saga.created_at, updated_at=saga.updated_at, version=0,
            decision_id=saga.decision_id))

    def transition(self, saga: Saga, **changes: Any) -> bool:
        """Apply ``changes`` if nobody advanced the saga since it was read."""
        values = {k: (v.value if isinstance(v, SagaState) else v) for k, v in changes.items()}
        result = self.conn.execute(
            update(sagas).where(sagas.c.id == saga.id, sagas.c.version == saga.version)
            .values(**values, version=saga.version + 1))
        return result.rowcount == 1

    def by_decision(self, decision_id: str) -> Saga | None:
        row = self.conn.execute(select(sagas).where(sagas.c.decision_id == decision_id)
                                ).mappings().first()
        return _saga(row) if row else None

    def of_workflow(self, workflow_id: str) -> list[Saga]:
        """The sagas paying decisions of ``workflow_id`` (decision ids
        ``<workflow>:<step>``), oldest first; an index range on the decision id."""
        prefix = f"{workflow_id}:"
        rows = self.conn.execute(select(sagas).where(
            sagas.c.decision_id >= prefix, sagas.c.decision_id < prefix[:-1] + ";")
            .order_by(sagas.c.created_at, sagas.c.id)).mappings()
        return [_saga(r) for r in rows]

    def log(self, step: SagaStep) -> None:
        self.conn.execute(insert(saga_steps).values(
            saga_id=step.saga_id, step=step.step, status=step.status, detail=step.detail,
            ts=step.timestamp))

    def steps(self, saga_id: str) -> list[SagaStep]:
        rows = self.conn.execute(select(saga_steps).where(saga_steps.c.saga_id == saga_id)
                                 .order_by(saga_steps.c.seq)).mappings()
        return [SagaStep(r["saga_id"], r["step"], r["status"], r["detail"] or {}, r["ts"])
                for r in rows]

    def unfinished(self, limit: int) -> list[Saga]:
        final = [s.value for s in SagaState if s.final]
        rows = self.conn.execute(select(sagas).where(sagas.c.state.not_in(final))
                                 .order_by(sagas.c.created_at).limit(limit)).mappings()
        return [_saga(r) for r in rows]
