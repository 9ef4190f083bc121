"""The vendor portal: onboarding with typed documents, invoice submission, a bank-detail
change with its note, the invoice list with its plain-words timeline and the payments
page, redrawn live as events arrive."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from finbot.adapters.documents import Document, read_document, with_text_of
from finbot.domain.errors import InvalidInput
from finbot.domain.invoices import Invoice
from finbot.domain.timeline import NEXT, expected_payment_on
from finbot.domain.users import Permission
from finbot.domain.vendors import DOCUMENT_KINDS, MAX_NOTE_CHARS, Vendor
from finbot.entrypoints.api.deps import Auth, ScopeDep, WebDep, limited
from finbot.entrypoints.web.portal import Form_, page, redirect_with

router = APIRouter(include_in_schema=False)
_Bank = Annotated[str, Form(max_length=16)]
_Account = Annotated[str, Form(max_length=34)]
_Note = Annotated[str, Form(max_length=MAX_NOTE_CHARS)]


@router.get("/vendor", dependencies=[Depends(limited("default"))])
def vendor_home(request: Request, who: Auth, scope: ScopeDep, notice: str = "") -> HTMLResponse:
    who.require(Permission.OWN_VENDORS)
    return page(request, "vendor.html", who, vendors=scope.vendors(limit=200),
                invoices=scope.invoices(limit=50), form_key=uuid.uuid4().hex,
                today=date.today(), notice=notice, document_kinds=DOCUMENT_KINDS)


@router.get("/vendor/invoices", dependencies=[Depends(limited("default"))])
def vendor_invoices(request: Request, who: Auth, scope: ScopeDep) -> HTMLResponse:
    """The invoice list alone: htmx redraws it when an event arrives."""
    return page(request, "_invoices.html", who, invoices=scope.invoices(limit=50))


@router.get("/vendor/payments", dependencies=[Depends(limited("default"))])
def payments_page(request: Request, who: Auth, scope: ScopeDep,
                  fragment: bool = False) -> HTMLResponse:
    """What is on its way and what was paid; the list alone (``fragment``) for htmx."""
    who.require(Permission.OWN_VENDORS)
    return page(request, "_payments.html" if fragment else "payments.html", who,
                payments=scope.payments())


@router.post("/vendor/onboard", dependencies=[Depends(limited("upload"))])
async def onboard(request: Request, who: Auth, scope: ScopeDep, web: WebDep,
                  legal_name: Form_, country: Form_, tax_id: Annotated[str, Form()] = "",
                  iban: Annotated[str, Form()] = "", bic: Annotated[str, Form()] = "",
                  industry: Annotated[str, Form()] = "",
                  website: Annotated[str, Form()] = "", profile: Annotated[str, Form()] = ""
                  ) -> Response:
    """Register a vendor with its documents, each uploaded under the kind it is (the
    onboarding checks look for those kinds); its checks start at once. The documents
    come in numbered slots (``document_<n>`` with ``document_type_<n>``), so a slot left
    empty cannot shift the others' kinds."""
    try:
        attached = await _typed_documents(web, await request.form())
        vendor = Vendor("", legal_name.strip(), country.strip().upper(), tax_id=tax_id.strip(),
                        iban=iban.replace(" ", ""), bic=bic.strip(), industry=industry.strip(),
                        website=website.strip(),
                        profile=with_text_of(profile.strip(), (d for _, d in attached)),
                        documents=tuple(dict.fromkeys(kind for kind, _ in attached)))
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
                          text=with_text_of(description.strip(), [attached] if attached else []))
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


@router.post("/vendor/bank-details", dependencies=[Depends(limited("money"))])
async def change_bank_form(scope: ScopeDep, vendor_id: Form_, note: _Note = "",
                           iban: Annotated[str, Form(max_length=64)] = "", bic: _Bank = "",
                           routing_number: _Bank = "", account_number: _Account = ""
                           ) -> Response:
    """New bank details for one of the caller's own vendors (payments to them wait out the
    cooling-off period), with a note to accounts payable saying why."""
    details = {"iban": iban.replace(" ", ""), "bic": bic.strip(),
               "routing_number": routing_number.strip(),
               "account_number": account_number.strip()}
    try:
        await run_in_threadpool(lambda: scope.change_bank_details(vendor_id, **details))
        if note.strip():
            await run_in_threadpool(scope.add_note, vendor_id, note.strip())
    except InvalidInput as refused:
        return _back(f"Bank details not changed: {refused.message}")
    return _back("Your new bank details are recorded; payments to them wait out the "
                 "cooling-off period.")


@router.get("/vendor/invoices/{invoice_id}", dependencies=[Depends(limited("default"))])
def invoice_page(request: Request, invoice_id: str, who: Auth, scope: ScopeDep,
                 fragment: bool = False) -> HTMLResponse:
    invoice, entries = scope.timeline(invoice_id)
    return page(request, "_timeline.html" if fragment else "invoice.html", who,
                invoice=invoice, entries=entries, next_step=NEXT[invoice.status],
                expected_on=expected_payment_on(invoice))


async def _document(web: WebDep, upload: StarletteUpload | None) -> Document | None:
    if upload is None or not upload.filename:
        return None
    limit = web.app.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    return read_document(upload.filename, data, max_bytes=limit)


async def _typed_documents(web: WebDep, form: FormData) -> list[tuple[str, Document]]:
    """Each numbered slot's upload with the kind chosen beside it (empty slots skipped);
    InvalidInput for a kind the checks do not know."""
    typed = []
    for slot in range(1, len(DOCUMENT_KINDS) + 1):
        upload = form.get(f"document_{slot}")
        if not isinstance(upload, StarletteUpload) or not upload.filename:
            continue
        kind = form.get(f"document_type_{slot}")
        if kind not in DOCUMENT_KINDS:
            raise InvalidInput(f"a document is one of: {', '.join(DOCUMENT_KINDS.values())}",
                               field=f"document_type_{slot}")
        document = await _document(web, upload)
        if document is not None:
            typed.append((str(kind), document))
    return typed




def _amount(text: str) -> Decimal:
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount", field="amount") from None


def _back(notice: str) -> Response:
    return redirect_with("/vendor", notice)
