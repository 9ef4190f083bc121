"""Staff pages over the decision log: an invoice's whole trail (decisions, reviews, the
payment saga and the ledger transfers it wrote), a decision's report for a regulator, the
decision explorer, and the check that re-hashes the chain."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from finbot.domain.audit import DecisionSearch
from finbot.domain.decisions import Outcome
from finbot.domain.errors import InvalidInput
from finbot.entrypoints.api.deps import Auth, ScopeDep, WebDep, limited
from finbot.entrypoints.decision_report import explainer, render_html
from finbot.entrypoints.web.formats import instant_us
from finbot.entrypoints.web.portal import page

router = APIRouter(include_in_schema=False)
PAGE = 50
AGENTS = ("onboarding", "invoice", "fraud", "payments")


@router.get("/admin/invoices/{invoice_id}", dependencies=[Depends(limited("default"))])
def invoice_trail(request: Request, invoice_id: str, who: Auth,
                  scope: ScopeDep) -> HTMLResponse:
    return page(request, "admin_invoice.html", who, trail=scope.invoice_trail(invoice_id))


@router.get("/admin/decisions/{decision_id}/explain", dependencies=[Depends(limited("upload"))])
async def explain_page(decision_id: str, scope: ScopeDep, web: WebDep) -> HTMLResponse:
    """The regulator's report of one decision (``finbot explain``'s HTML) for staff who
    may read it; it reads the proof against the latest checkpoint and takes none."""
    scope.decision(decision_id)  # who may read this decision, in which tenant
    report = await run_in_threadpool(explainer(web.app).explain, decision_id,
                                     checkpoint=False)
    return HTMLResponse(render_html(report))


@router.get("/admin/decisions", dependencies=[Depends(limited("default"))])
def decision_explorer(request: Request, who: Auth, scope: ScopeDep, vendor_id: str = "",
                      invoice_id: str = "", agent_id: str = "", outcome: str = "",
                      since: str = "", until: str = "",
                      before: int | None = None) -> HTMLResponse:
    asked = {"vendor_id": vendor_id.strip(), "invoice_id": invoice_id.strip(),
             "agent_id": agent_id, "outcome": outcome, "since": since, "until": until}
    try:
        search = _search(**asked)
    except InvalidInput as refused:
        return page(request, "admin_decisions.html", who, asked=asked, records=[],
                    error=refused.message, agents=AGENTS, outcomes=list(Outcome), more=None)
    records = scope.find_decisions(search, before_seq=before, limit=PAGE)
    more = records[-1].seq if len(records) == PAGE else None
    return page(request, "admin_decisions.html", who, asked=asked, records=records,
                agents=AGENTS, outcomes=list(Outcome), more=more, error="")


@router.post("/admin/decisions/verify", dependencies=[Depends(limited("default"))])
def verify_chain(request: Request, who: Auth, scope: ScopeDep) -> HTMLResponse:
    """Re-hash the chain on request (a POST: it reads every record, so no link or
    prefetch should start it) and show what it found."""
    return page(request, "admin_verify.html", who, report=scope.verify_chain())


def _search(*, vendor_id: str, invoice_id: str, agent_id: str, outcome: str, since: str,
            until: str) -> DecisionSearch:
    if outcome and outcome not in {o.value for o in Outcome}:
        raise InvalidInput(f"{outcome!r} is not an outcome", field="outcome")
    return DecisionSearch(vendor_id=vendor_id, invoice_id=invoice_id, agent_id=agent_id,
                          outcome=outcome,
                          since_us=instant_us(since, field="since") if since else None,
                          until_us=instant_us(until, field="until") if until else None)
