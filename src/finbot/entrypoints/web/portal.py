"""The portals, server-rendered (Jinja2 + htmx): sign-in, the vendor portal (onboarding,
invoices and their plain-words timeline) and the staff portal (dashboard, review queue,
decision trail). Pages ask the caller's scope exactly as the JSON API does; forms carry
the session's CSRF token and, where money can move, an idempotency key made when the
form was drawn, so a double submit is answered once.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from finbot.adapters.documents import Document, read_document
from finbot.domain.clock import utc_datetime
from finbot.domain.errors import FinbotError, InvalidInput
from finbot.domain.invoices import Invoice
from finbot.domain.reviews import ConflictOfInterest, ReviewRefused
from finbot.domain.timeline import NEXT
from finbot.domain.users import Permission, Principal
from finbot.domain.vendors import Vendor
from finbot.entrypoints.api.deps import (
    Auth,
    ScopeDep,
    WebDep,
    limited,
    limited_by_address,
    sign_in,
    sign_out,
)

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["when"] = lambda us: utc_datetime(int(us)).strftime(
    "%Y-%m-%d %H:%M UTC") if us else ""
Form_ = Annotated[str, Form()]


def page(request: Request, name: str, who: Principal | None, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    return templates.TemplateResponse(request, name, {
        "who": who, "csrf": session.csrf_token if session else "",
        "staff": who is not None and who.can(Permission.DECISIONS_READ), **context})


@router.get("/login")
def login_page(request: Request, error: str = "") -> HTMLResponse:
    return page(request, "login.html", None, error=error)


@router.post("/login", dependencies=[Depends(limited_by_address("login"))])
async def login_form(request: Request, web: WebDep, email: Form_, password: Form_
                     ) -> Response:
    answer = RedirectResponse("/", status_code=303)
    try:
        await sign_in(web, request, answer, email, password)
    except FinbotError as refused:
        return page(request, "login.html", None, error=refused.message, email=email)
    return answer


@router.post("/logout")
async def logout_form(request: Request, web: WebDep, _: Auth) -> Response:
    answer = RedirectResponse("/login", status_code=303)
    await sign_out(web, request, answer)
    return answer


@router.get("/")
def home(who: Auth) -> Response:
    if who.can(Permission.DECISIONS_READ):
        return RedirectResponse("/admin", status_code=303)
    if who.can(Permission.OWN_VENDORS):
        return RedirectResponse("/vendor", status_code=303)
    return RedirectResponse("/docs", status_code=303)


# -- the vendor portal -----------------------------------------------------------------


@router.get("/vendor", dependencies=[Depends(limited("default"))])
def vendor_home(request: Request, who: Auth, scope: ScopeDep, notice: str = "") -> HTMLResponse:
    who.require(Permission.OWN_VENDORS)
    return page(request, "vendor.html", who, vendors=scope.vendors(limit=200),
                invoices=scope.invoices(limit=50), form_key=uuid.uuid4().hex,
                today=date.today(), notice=notice)


@router.get("/vendor/invoices", dependencies=[Depends(limited("default"))])
def vendor_invoices(request: Request, who: Auth, scope: ScopeDep) -> HTMLResponse:
    """The invoice list alone: htmx redraws it when an event arrives."""
    return page(request, "_invoices.html", who, invoices=scope.invoices(limit=50))


@router.post("/vendor/onboard", dependencies=[Depends(limited("upload"))])
async def onboard(request: Request, who: Auth, scope: ScopeDep, web: WebDep,
                  legal_name: Form_, country: Form_, tax_id: Annotated[str, Form()] = "",
                  iban: Annotated[str, Form()] = "", bic: Annotated[str, Form()] = "",
                  website: Annotated[str, Form()] = "", profile: Annotated[str, Form()] = "",
                  document: UploadFile | None = None) -> Response:
    attached = await _document(web, document)
    vendor = Vendor("", legal_name.strip(), country.strip().upper(), tax_id=tax_id.strip(),
                    iban=iban.replace(" ", ""), bic=bic.strip(), website=website.strip(),
                    profile=_with_document(profile.strip(), attached),
                    documents=(attached.name,) if attached else ())
    try:
        created = await run_in_threadpool(scope.register_vendor, vendor)
    except InvalidInput as refused:
        return _back(f"Not registered: {refused.message}")
    return _back(f"{created.legal_name} is registered; its checks are running.")


@router.post("/vendor/invoices", dependencies=[Depends(limited("money"))])
async def submit_invoice_form(request: Request, who: Auth, scope: ScopeDep, web: WebDep,
                              vendor_id: Form_, number: Form_, amount: Form_, currency: Form_,
                              issued_on: Form_, due_on: Form_, form_key: Form_,
                              po_number: Annotated[str, Form()] = "",
                              description: Annotated[str, Form()] = "",
                              document: UploadFile | None = None) -> Response:
    attached = await _document(web, document)
    try:
        invoice = Invoice(f"inv-{uuid.uuid4().hex[:16]}", vendor_id, number.strip(),
                          _amount(amount), currency.strip().upper(),
                          date.fromisoformat(issued_on), date.fromisoformat(due_on),
                          po_number=po_number.strip() or None,
                          text=_with_document(description.strip(), attached))
    except (InvalidInput, ValueError) as refused:
        return _back(f"Not submitted: {getattr(refused, 'message', refused)}")

    def submit() -> tuple[int, object]:
        stored = scope.submit_invoice(invoice)
        return 201, {"invoice_id": stored.invoice_id}
    request_view = {"vendor_id": vendor_id, "number": number, "amount": amount,
                    "currency": currency}
    answer = await run_in_threadpool(lambda: web.app.idempotency.run_long(
        f"portal:invoices:{who.user_id}", form_key, request_view, submit))
    return RedirectResponse(f"/vendor/invoices/{answer.json()['invoice_id']}", status_code=303)


@router.get("/vendor/invoices/{invoice_id}", dependencies=[Depends(limited("default"))])
def invoice_page(request: Request, invoice_id: str, who: Auth, scope: ScopeDep,
                 fragment: bool = False) -> HTMLResponse:
    invoice, entries = scope.timeline(invoice_id)
    return page(request, "_timeline.html" if fragment else "invoice.html", who,
                invoice=invoice, entries=entries, next_step=NEXT[invoice.status])


# -- the staff portal ------------------------------------------------------------------


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
        return _to(f"/admin/decisions/{decision_id}", refused.message)
    return _to(f"/admin/decisions/{decision_id}", f"Recorded: {answer.json()['status']}")


# -- helpers ---------------------------------------------------------------------------


async def _document(web: WebDep, upload: UploadFile | None) -> Document | None:
    if upload is None or not upload.filename:
        return None
    limit = web.app.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    return read_document(upload.filename, data, max_bytes=limit)


def _with_document(text: str, document: Document | None) -> str:
    if document is None or not document.text:
        return text
    return f"{text}\n\n[attached {document.kind} {document.name}]\n{document.text}".strip()


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount", field="amount") from None


def _to(path: str, notice: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'notice': notice})}", status_code=303)


def _back(notice: str) -> Response:
    return _to("/vendor", notice)
