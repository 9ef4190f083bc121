"""Circuit breakers: each agent's state and window, and tripping or resetting by hand."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from finbot.entrypoints.api.deps import ScopeDep, limited
from finbot.entrypoints.api.schemas import CONFLICT

router = APIRouter(prefix="/api/breakers", tags=["breakers"],
                   dependencies=[Depends(limited("default"))])


class BreakerPublic(BaseModel):
    agent_id: str
    state: str
    changed_at_us: int
    reason: str
    decisions_in_window: int | None = None
    error_rate: float | None = None
    p99_latency_us: int | None = None


class BreakerChange(BaseModel):
    action: Literal["trip", "reset"]
    reason: str = Field(min_length=3, max_length=500)


@router.get("")
def list_breakers(scope: ScopeDep) -> list[BreakerPublic]:
    return [BreakerPublic(
        agent_id=b.agent_id, state=b.state.value, changed_at_us=b.changed_at_us,
        reason=b.reason, decisions_in_window=b.window.count if b.window else None,
        error_rate=b.window.error_rate if b.window else None,
        p99_latency_us=b.window.p99_latency_us if b.window else None)
        for b in scope.breakers()]


@router.post("/{agent_id}", responses=CONFLICT)
def change_breaker(agent_id: str, body: BreakerChange, scope: ScopeDep) -> BreakerPublic:
    """Trip (take the agent out of the loop) or reset a breaker; the reason is logged."""
    stored = scope.set_breaker(agent_id, open_=body.action == "trip", reason=body.reason)
    return BreakerPublic(agent_id=stored.agent_id, state=stored.state.value,
                         changed_at_us=stored.changed_at_us, reason=stored.reason)
