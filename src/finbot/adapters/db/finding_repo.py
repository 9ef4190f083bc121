"""The arena watch's findings in SQL: stored once per event and detector, read per tenant
newest first (a page) or most serious first (the dashboard)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, case, select, tuple_

from finbot.adapters.db.engine import upsert_insert
from finbot.adapters.db.tables import arena_findings
from finbot.arena.findings import RANK, Finding

_RANKED = case(RANK, value=arena_findings.c.severity, else_=0)


def _finding(row: RowMapping) -> Finding:
    return Finding(row["id"], row["event_id"], row["tenant"], row["aggregate_id"],
                   row["detector"], row["severity"], row["detail"], row["at_us"],
                   dict(row["trail"] or {}))


class SqlFindingRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def add(self, finding: Finding) -> bool:
        """Store ``finding``; False (nothing written) when its event already has a finding
        of its detector."""
        values: dict[str, Any] = {
            "id": finding.finding_id, "event_id": finding.event_id, "tenant": finding.tenant,
            "aggregate_id": finding.aggregate_id, "detector": finding.detector,
            "severity": finding.severity, "detail": finding.detail,
            "trail": dict(finding.trail), "at_us": finding.at_us}
        statement = upsert_insert(self.conn, arena_findings).values(
            **values).on_conflict_do_nothing()  # RETURNING: drivers disagree on rowcount
        return self.conn.execute(statement.returning(arena_findings.c.id)).first() is not None

    def page(self, tenant: str, *, before: tuple[int, str] | None = None,
             limit: int = 50) -> list[Finding]:
        """``tenant``'s findings, newest first, after the position ``before``
        (at_us, id)."""
        query = (select(arena_findings).where(arena_findings.c.tenant == tenant)
                 .order_by(arena_findings.c.at_us.desc(), arena_findings.c.id.desc())
                 .limit(limit))
        if before is not None:
            query = query.where(tuple_(arena_findings.c.at_us, arena_findings.c.id)
                                < tuple_(*before))
        return [_finding(row) for row in self.conn.execute(query).mappings()]

    def most_serious(self, tenant: str, *, limit: int = 10) -> list[Finding]:
        """``tenant``'s latest findings, critical first, then newest first."""
        query = (select(arena_findings).where(arena_findings.c.tenant == tenant)
                 .order_by(_RANKED.desc(), arena_findings.c.at_us.desc(),
                           arena_findings.c.id.desc()).limit(limit))
        return [_finding(row) for row in self.conn.execute(query).mappings()]
