"""Vendors: registration (onboarding starts), profile, bank details and notes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from finbot.entrypoints.api.deps import ScopeDep, WebDep, limited
from finbot.entrypoints.api.schemas import (
    CONFLICT,
    BankDetails,
    NoteCreate,
    NotePublic,
    Page,
    VendorCreate,
    VendorPublic,
    decode_cursor,
    next_cursor,
)

router = APIRouter(prefix="/api/vendors", tags=["vendors"],
                   dependencies=[Depends(limited("default"))])
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("")
def list_vendors(scope: ScopeDep, cursor: str | None = None,
                 limit: Limit = 50) -> Page[VendorPublic]:
    """The vendors the caller may see, by id."""
    (after,) = decode_cursor(cursor, str) or ("",)
    vendors = scope.vendors(after=after, limit=limit)
    return Page(items=[VendorPublic.of(v) for v in vendors],
                next_cursor=next_cursor(vendors, limit, lambda last: [last.vendor_id]))


@router.post("", status_code=201, responses=CONFLICT,
             dependencies=[Depends(limited("upload"))])
def register_vendor(body: VendorCreate, scope: ScopeDep, web: WebDep) -> VendorPublic:
    """Register a vendor the caller works for, with its documents (each under its kind:
    certificate of incorporation, bank letter, W-9); onboarding checks start at once."""
    limit = web.app.settings.max_upload_bytes
    documents = [(d.kind, d.read(max_bytes=limit, field=f"documents.{n}"))
                 for n, d in enumerate(body.documents)]
    return VendorPublic.of(scope.register_vendor(body.to_vendor(documents)))


@router.get("/{vendor_id}")
def get_vendor(vendor_id: str, scope: ScopeDep) -> VendorPublic:
    return VendorPublic.of(scope.vendor(vendor_id))


@router.put("/{vendor_id}/bank-details", status_code=204, responses=CONFLICT,
            dependencies=[Depends(limited("money"))])
def change_bank_details(vendor_id: str, body: BankDetails, scope: ScopeDep) -> None:
    """New bank details; payments to them wait out the policy's cooling-off period."""
    scope.change_bank_details(vendor_id, **body.model_dump())


@router.get("/{vendor_id}/notes")
def list_notes(vendor_id: str, scope: ScopeDep, limit: Limit = 50) -> list[NotePublic]:
    return [NotePublic.of(n) for n in scope.notes(vendor_id, limit=limit)]


@router.post("/{vendor_id}/notes", status_code=201, dependencies=[Depends(limited("chat"))])
def add_note(vendor_id: str, body: NoteCreate, scope: ScopeDep) -> NotePublic:
    """A message to accounts payable about this vendor."""
    return NotePublic.of(scope.add_note(vendor_id, body.text))
