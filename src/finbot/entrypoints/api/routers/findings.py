"""The arena watch's findings: what the detectors and the ledger-effect check found in the
caller's tenant's events, newest first (staff and arena players)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from finbot.arena.findings import Finding
from finbot.entrypoints.api.deps import ScopeDep, limited
from finbot.entrypoints.api.schemas import Page, decode_cursor, next_cursor

router = APIRouter(prefix="/api/arena/findings", tags=["arena"],
                   dependencies=[Depends(limited("default"))])


class FindingPublic(BaseModel):
    finding_id: str
    event_id: str
    aggregate_id: str
    detector: str
    severity: str
    detail: str
    trail: dict[str, Any]
    at_us: int

    @classmethod
    def of(cls, finding: Finding) -> FindingPublic:
        return cls(finding_id=finding.finding_id, event_id=finding.event_id,
                   aggregate_id=finding.aggregate_id, detector=finding.detector,
                   severity=finding.severity, detail=finding.detail,
                   trail=dict(finding.trail), at_us=finding.at_us)


@router.get("")
def list_findings(scope: ScopeDep, cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[FindingPublic]:
    """The caller's tenant's findings, newest first; a money violation carries its trail
    (decision, invoice, payment, amount, the violations)."""
    found = scope.arena_findings(before=decode_cursor(cursor, int, str), limit=limit)
    return Page(items=[FindingPublic.of(f) for f in found], next_cursor=next_cursor(
        found, limit, lambda last: [last.at_us, last.finding_id]))
