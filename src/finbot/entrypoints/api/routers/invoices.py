"""Invoices: submission (it can lead to a payment, so it takes an Idempotency-Key), the
caller's list, and one invoice with its timeline in plain words."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from finbot.domain.timeline import NEXT, expected_payment_on
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
    InvoiceCreate,
    InvoicePublic,
    InvoiceTimeline,
    Page,
    TimelineEntry,
    decode_cursor,
    next_cursor,
)
from finbot.services.ports import UnitOfWork

router = APIRouter(prefix="/api/invoices", tags=["invoices"],
                   dependencies=[Depends(limited("default"))])


@router.post("", status_code=201, response_model=InvoicePublic,
             dependencies=[Depends(limited("money"))],
             responses={200: {"description": "A repeat of an earlier request (same key)"},
                        **CONFLICT})
def submit_invoice(body: InvoiceCreate, key: IdempotencyKey, scope: ScopeDep, who: Auth,
                   web: WebDep) -> JSONResponse:
    """Submit an invoice for one of the caller's vendors; its checks start at once."""
    limit = web.app.settings.max_upload_bytes
    attached = [a.read(max_bytes=limit, field=f"attachments.{n}")
                for n, a in enumerate(body.attachments)]  # before the transaction opens

    def submit(uow: UnitOfWork) -> tuple[int, object]:
        invoice_id = body.invoice_id or f"inv-{uuid.uuid4().hex[:16]}"
        stored = scope.submit_invoice_in(uow, body.to_invoice(invoice_id, attached))
        return 201, InvoicePublic.of(stored).model_dump(mode="json")

    answer = web.app.idempotency.run(f"api:invoices:{who.user_id}", key,
                                     body.model_dump(mode="json"), submit)
    return stored_answer(answer)


@router.get("")
def list_invoices(scope: ScopeDep, vendor_id: str | None = None, cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[InvoicePublic]:
    """The caller's invoices (one vendor's with ``vendor_id``), newest first."""
    before = decode_cursor(cursor, int, str)
    invoices = scope.invoices(vendor_id=vendor_id, before=before, limit=limit)
    return Page(items=[InvoicePublic.of(i) for i in invoices], next_cursor=next_cursor(
        invoices, limit, lambda last: [last.submitted_at_us, last.invoice_id]))


@router.get("/{invoice_id}")
def get_invoice(invoice_id: str, scope: ScopeDep) -> InvoiceTimeline:
    """One invoice, what happened to it in plain words, and what the vendor may do next."""
    invoice, entries = scope.timeline(invoice_id)
    return InvoiceTimeline(
        invoice=InvoicePublic.of(invoice), timeline=[TimelineEntry.of(e) for e in entries],
        next_step=NEXT[invoice.status],
        expected_payment_on=expected_payment_on(invoice))
