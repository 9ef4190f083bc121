"""The staff portal: the dashboard, the review queue and each decision's trail with the
four-eyes review form."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from finbot.domain.errors import InvalidInput
from finbot.domain.reviews import ConflictOfInterest, ReviewRefused
from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, ScopeDep, WebDep, limited
from finbot.entrypoints.web.portal import Form_, page, redirect_with

router = APIRouter(include_in_schema=False)


@router.get("/admin", dependencies=[Depends(limited("default"))])
def dashboard(request: Request, who: Auth, scope: ScopeDep,
              fragment: bool = False) -> HTMLResponse:
    overview = scope.overview()
    return page(request, "_dashboard.html" if fragment else "admin.html", who,
                queue=scope.review_queue(limit=100), counts=overview.invoices_by_status,
                depth=overview.queue, breakers=overview.breakers, outbox=overview.events)


@router.get("/admin/decisions/{decision_id}", dependencies=[Depends(limited("default"))])
def decision_page(request: Request, decision_id: str, who: Auth, scope: ScopeDep,
                  notice: str = "") -> HTMLResponse:
    trail = scope.decision(decision_id)
    return page(request, "decision.html", who, trail=trail, data=trail.record.data,
                may_review=who.can(Permission.REVIEW) and trail.item is not None
                and not trail.item.status.settled, form_key=uuid.uuid4().hex, notice=notice)


@router.post("/admin/decisions/{decision_id}/review", dependencies=[Depends(limited("money"))])
async def review_form(decision_id: str, who: Auth, scope: ScopeDep, web: WebDep,
                      verdict: Form_, form_key: Form_,
                      rationale: Annotated[str, Form()] = "") -> Response:
    def decide() -> tuple[int, object]:
        item = scope.review(decision_id, verdict=verdict, rationale=rationale)
        return 200, {"status": item.status.value}
    try:
        answer = await run_in_threadpool(lambda: web.app.idempotency.run_long(
            f"portal:reviews:{who.user_id}", form_key,
            {"decision_id": decision_id, "verdict": verdict, "rationale": rationale}, decide))
    except (InvalidInput, ReviewRefused, ConflictOfInterest) as refused:
        return redirect_with(f"/admin/decisions/{decision_id}", refused.message)
    return redirect_with(f"/admin/decisions/{decision_id}", f"Recorded: {answer.json()['status']}")
