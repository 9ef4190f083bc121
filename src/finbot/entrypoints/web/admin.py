"""The staff portal: the dashboard, the review queue and each decision's trail with the
four-eyes review form; the other staff pages (invoice trails and the decision explorer,
the ledger, the policy, vendors, models) live in the ``admin_*`` modules included here."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from finbot.domain.audit import DecisionSearch
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput
from finbot.domain.reviews import ConflictOfInterest, ReviewRefused
from finbot.domain.users import Permission, Principal
from finbot.entrypoints.api.deps import Auth, ScopeDep, Web, WebDep, limited
from finbot.entrypoints.web import (
    admin_ledger,
    admin_models,
    admin_policy,
    admin_trails,
    admin_vendors,
    charts,
)
from finbot.entrypoints.web.formats import amount_text, minor_text
from finbot.entrypoints.web.portal import Form_, page, redirect_with, templates
from finbot.services.monitoring import MonitorReport
from finbot.services.scope import Scope

router = APIRouter(include_in_schema=False)
CHART_LIMIT = 5000
FINDINGS_SHOWN = 10
templates.env.filters.update(minor=minor_text, amount=amount_text)


@router.get("/admin", dependencies=[Depends(limited("default"))])
def dashboard(request: Request, who: Auth, scope: ScopeDep, web: WebDep,
              fragment: bool = False) -> HTMLResponse:
    overview = scope.overview()
    return page(request, "_dashboard.html" if fragment else "admin.html", who,
                queue=scope.review_queue(limit=100), counts=overview.invoices_by_status,
                depth=overview.queue, breakers=overview.breakers, outbox=overview.events,
                findings=scope.most_serious_findings(limit=FINDINGS_SHOWN),
                **({} if fragment else _charts(scope)),
                monitor=None if fragment else _monitor(who, web))


def _monitor(who: Principal, web: Web) -> MonitorReport | None:
    """Drift, rates and bias: the whole platform's, so the home tenant's staff only."""
    return web.app.monitor.latest() if who.tenant == web.app.settings.home_tenant else None


def _charts(scope: Scope) -> dict[str, object]:
    """The last day's decisions (the newest ``CHART_LIMIT``) as the charts' figures."""
    now = now_us()
    recent = scope.find_decisions(DecisionSearch(since_us=now - 24 * charts.HOUR_US),
                                  limit=CHART_LIMIT)
    return {"hours": charts.outcome_hours(recent, now_us=now),
            "latencies": charts.stage_latencies(recent), "colours": charts.COLOURS,
            "width": charts.WIDTH, "height": charts.HEIGHT}


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


for pages in (admin_trails, admin_ledger, admin_policy, admin_vendors, admin_models):
    router.include_router(pages.router)
