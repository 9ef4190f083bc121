"""The decision log: one decision with its trail, and the chain's verification."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, ScopeDep, WebDep, limited
from finbot.entrypoints.api.schemas import DecisionPublic, QueueItemPublic, ReviewPublic

router = APIRouter(prefix="/api/decisions", tags=["decisions"],
                   dependencies=[Depends(limited("default"))])


@router.get("/verify")
async def verify_chain(who: Auth, web: WebDep) -> dict[str, object]:
    """Re-hash the whole decision log and check every checkpoint's Merkle root."""
    who.require(Permission.DECISIONS_READ)
    problems = await run_in_threadpool(web.app.audit.verify)
    return {"ok": not problems,
            "problems": [{"seq": p.seq, "message": p.message} for p in problems]}


@router.get("/{decision_id}")
def get_decision(decision_id: str, scope: ScopeDep) -> DecisionPublic:
    """A decision as logged, with its reviews and queue item."""
    trail = scope.decision(decision_id)
    record = trail.record
    return DecisionPublic(
        decision_id=decision_id, seq=record.seq, created_at_us=record.created_at,
        hash=record.hash, data=record.data, reviews=[ReviewPublic.of(r) for r in trail.reviews],
        queue=QueueItemPublic.of(trail.item) if trail.item else None)
