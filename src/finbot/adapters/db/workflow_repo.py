"""Workflow steps in SQL: a durable queue of due steps, each leased to one runner at a time.

A runner claims a due step by moving its lease forward with a conditional UPDATE, so two
runners never hold the same step; a runner that dies lets its lease lapse and the step is
claimed again (its decision id makes the second run find the first one's decision).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import workflow_steps as steps
from finbot.domain.workflows import Step, StepStatus

_SCHEDULE = Sql(
    "INSERT INTO workflow_steps (workflow_id, step, subject_id, tenant, status, attempts, "
    "due_at, created_at, updated_at) VALUES (:workflow_id, :step, :subject_id, :tenant, "
    ":status, 0, :due, :now, :now) ON CONFLICT (workflow_id, step) DO NOTHING")
_GET = Sql("SELECT * FROM workflow_steps WHERE workflow_id = :workflow_id AND step = :step")
_DUE = Sql("SELECT * FROM workflow_steps WHERE status = :pending AND due_at <= :now "
           "AND lease_until <= :now ORDER BY due_at LIMIT :limit")
_LEASE = Sql("UPDATE workflow_steps SET lease_until = :until, attempts = attempts + 1, "
             "updated_at = :now WHERE workflow_id = :workflow_id AND step = :step "
             "AND status = :pending AND lease_until <= :now")
_RENEW = Sql("UPDATE workflow_steps SET lease_until = :until, updated_at = :now "
             "WHERE workflow_id = :workflow_id AND step = :step AND status = :pending")
_FINISH = Sql("UPDATE workflow_steps SET status = :status, last_error = :error, "
              "updated_at = :now, lease_until = 0 WHERE workflow_id = :workflow_id "
              "AND step = :step")
_RETRY = Sql("UPDATE workflow_steps SET status = :status, last_error = :error, "
             "updated_at = :now, lease_until = 0, due_at = :due WHERE "
             "workflow_id = :workflow_id AND step = :step")


class SqlWorkflowRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def schedule(self, step: Step, *, now_us: int) -> bool:
        """Add ``step`` unless it exists; True if it was added."""
        return _SCHEDULE.execute(self.conn, workflow_id=step.workflow_id, step=step.step,
                                 subject_id=step.subject_id, tenant=step.tenant,
                                 status=step.status.value, due=step.due_at_us or now_us,
                                 now=now_us) == 1

    def get(self, workflow_id: str, step: str) -> Step | None:
        row = _GET.record(self.conn, workflow_id=workflow_id, step=step)
        return _step(row) if row else None

    def of_workflow(self, workflow_id: str) -> list[Step]:
        rows = self.conn.execute(select(steps).where(steps.c.workflow_id == workflow_id)
                                 .order_by(steps.c.created_at)).mappings()
        return [_step(row) for row in rows]

    def due(self, *, now_us: int, limit: int) -> list[Step]:
        rows = _DUE.records(self.conn, pending=StepStatus.PENDING.value, now=now_us,
                            limit=limit)
        return [_step(row) for row in rows]

    def lease(self, step: Step, *, now_us: int, until_us: int) -> bool:
        """Take ``step`` until ``until_us``; False if another runner holds or finished it."""
        return bool(_LEASE.execute(self.conn, until=until_us, now=now_us,
                                   workflow_id=step.workflow_id, step=step.step,
                                   pending=StepStatus.PENDING.value))

    def renew(self, step: Step, *, now_us: int, until_us: int) -> bool:
        """Move the lease of ``step``, still running here, to ``until_us``; False once it
        is no longer pending (finished meanwhile)."""
        return bool(_RENEW.execute(self.conn, until=until_us, now=now_us,
                                   workflow_id=step.workflow_id, step=step.step,
                                   pending=StepStatus.PENDING.value))

    def finish(self, step: Step, status: StepStatus, *, now_us: int, error: str = "",
               retry_at_us: int | None = None) -> None:
        """Mark ``step`` done or failed, or (``retry_at_us``) pending again from then."""
        values: dict[str, Any] = {"status": status.value, "error": error[:2000],
                                  "now": now_us, "workflow_id": step.workflow_id,
                                  "step": step.step}
        if retry_at_us is None:
            _FINISH.execute(self.conn, **values)
        else:
            _RETRY.execute(self.conn, due=retry_at_us, **values)

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(select(steps.c.status, func.count())
                                 .group_by(steps.c.status)).all()
        return {str(status): int(count) for status, count in rows}


def _step(row: Any) -> Step:
    return Step(row["workflow_id"], row["step"], row["subject_id"], row["tenant"],
                StepStatus(row["status"]), row["attempts"], row["due_at"], row["last_error"])
