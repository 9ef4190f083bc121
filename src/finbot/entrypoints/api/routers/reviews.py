"""The review queue: escalations waiting for people, and their verdicts. Approving can
release a payment, so a verdict takes an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from finbot.entrypoints.api.deps import (
    Auth,
    IdempotencyKey,
    ScopeDep,
    WebDep,
    limited,
    stored_answer,
)
from finbot.entrypoints.api.schemas import (
    CONFLICT,
    Page,
    QueueItemPublic,
    ReviewCreate,
    decode_cursor,
    next_cursor,
)

router = APIRouter(prefix="/api/reviews", tags=["reviews"],
                   dependencies=[Depends(limited("default"))])


@router.get("")
def review_queue(scope: ScopeDep, cursor: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[QueueItemPublic]:
    """Unsettled escalations of the caller's tenant, most urgent first."""
    after = decode_cursor(cursor, int, int, str)
    items = scope.review_queue(after=after, limit=limit)
    return Page(items=[QueueItemPublic.of(i) for i in items], next_cursor=next_cursor(
        items, limit, lambda last: [int(last.priority), last.due_at_us, last.decision_id]))


@router.post("/{decision_id}", response_model=QueueItemPublic, responses=CONFLICT,
             dependencies=[Depends(limited("money"))])
def review(decision_id: str, body: ReviewCreate, key: IdempotencyKey, scope: ScopeDep,
           who: Auth, web: WebDep) -> JSONResponse:
    """Record the caller's verdict; enough approvals release the payment."""
    def decide() -> tuple[int, object]:
        item = scope.review(decision_id, verdict=body.verdict, rationale=body.rationale)
        return 200, QueueItemPublic.of(item).model_dump(mode="json")

    answer = web.app.idempotency.run_long(f"api:reviews:{who.user_id}", key,
                                          {"decision_id": decision_id,
                                           **body.model_dump(mode="json")}, decide)
    return stored_answer(answer)
