"""Workflow steps in SQL: a durable queue of due steps, each leased to one runner at a time.

A runner claims a due step by moving its lease forward with a conditional UPDATE, so two
runners never hold the same step; a runner that dies lets its lease lapse and the step is
claimed again (its decision id makes the second run find the first one's decision).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from finbot.adapters.db.tables import workflow_steps as steps
from finbot.domain.workflows import Step, StepStatus


class SqlWorkflowRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def schedule(self, step: Step, *, now_us: int) -> bool:
        """Add ``step`` unless it exists; True if it was added."""
        if self.get(step.workflow_id, step.step) is not None:
            return False
        self.conn.execute(insert(steps).values(
            workflow_id=step.workflow_id, step=step.step, subject_id=step.subject_id,
            tenant=step.tenant, status=step.status.value, attempts=0,
            due_at=step.due_at_us or now_us, created_at=now_us, updated_at=now_us))
        return True

    def get(self, workflow_id: str, step: str) -> Step | None:
        row = self.conn.execute(select(steps).where(steps.c.workflow_id == workflow_id,
                                                    steps.c.step == step)).mappings().first()
        return _step(row) if row else None

    def of_workflow(self, workflow_id: str) -> list[Step]:
        rows = self.conn.execute(select(steps).where(steps.c.workflow_id == workflow_id)
                                 .order_by(steps.c.created_at)).mappings()
        return [_step(row) for row in rows]

    def due(self, *, now_us: int, limit: int) -> list[Step]:
        rows = self.conn.execute(
            select(steps).where(steps.c.status == StepStatus.PENDING.value,
                                steps.c.due_at <= now_us, steps.c.lease_until <= now_us)
            .order_by(steps.c.due_at).limit(limit)).mappings()
        return [_step(row) for row in rows]

    def lease(self, step: Step, *, now_us: int, until_us: int) -> bool:
        """Take ``step`` until ``until_us``; False if another runner holds or finished it."""
        result = self.conn.execute(update(steps).where(and_(
            steps.c.workflow_id == step.workflow_id, steps.c.step == step.step,
            steps.c.status == StepStatus.PENDING.value, steps.c.lease_until <= now_us))
            .values(lease_until=until_us, attempts=steps.c.attempts + 1, updated_at=now_us))
        return bool(result.rowcount)

    def finish(self, step: Step, status: StepStatus, *, now_us: int, error: str = "",
               retry_at_us: int | None = None) -> None:
        """Mark ``step`` done or failed, or (``retry_at_us``) pending again from then."""
        values: dict[str, Any] = {"status": status.value, "last_error": error[:2000],
                                  "updated_at": now_us, "lease_until": 0}
        if retry_at_us is not None:
            values["due_at"] = retry_at_us
        self.conn.execute(update(steps).where(steps.c.workflow_id == step.workflow_id,
                                              steps.c.step == step.step).values(**values))

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(select(steps.c.status, func.count())
                                 .group_by(steps.c.status)).all()
        return {str(status): int(count) for status, count in rows}


def _step(row: Any) -> Step:
    return Step(row["workflow_id"], row["step"], row["subject_id"], row["tenant"],
                StepStatus(row["status"]), row["attempts"], row["due_at"], row["last_error"])
