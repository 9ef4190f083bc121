"""Staff pages over vendors: the tenant's vendors with their status, and one vendor's
profile with bank details masked, the vendors sharing them, the onboarding decisions,
notes and invoices; and, for admins, the vendor's erasure."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from finbot.domain.audit import DecisionSearch
from finbot.domain.users import Permission
from finbot.domain.vendors import ERASED, Vendor
from finbot.entrypoints.api.deps import Auth, ScopeDep, limited
from finbot.entrypoints.web.portal import page, redirect_with

router = APIRouter(include_in_schema=False)
PAGE = 50


@router.get("/admin/vendors", dependencies=[Depends(limited("default"))])
def vendors_page(request: Request, who: Auth, scope: ScopeDep,
                 after: str = "") -> HTMLResponse:
    vendors = scope.staff_vendors(after=after, limit=PAGE)
    more = vendors[-1].vendor_id if len(vendors) == PAGE else None
    return page(request, "admin_vendors.html", who, vendors=vendors, more=more)


@router.get("/admin/vendors/{vendor_id}", dependencies=[Depends(limited("default"))])
def vendor_page(request: Request, vendor_id: str, who: Auth, scope: ScopeDep,
                notice: str = "") -> HTMLResponse:
    vendor = scope.staff_vendor(vendor_id)
    onboarding = scope.find_decisions(DecisionSearch(vendor_id=vendor_id,
                                                     agent_id="onboarding"), limit=20)
    return page(request, "admin_vendor.html", who, vendor=vendor, onboarding=onboarding,
                notes=scope.notes(vendor_id), invoices=scope.invoices(vendor_id=vendor_id),
                bank=masked_bank(vendor), sharing=scope.sharing_bank_details(vendor),
                may_erase=who.can(Permission.VENDORS_ERASE) and not vendor.erased,
                notice=notice)


@router.post("/admin/vendors/{vendor_id}/erase", dependencies=[Depends(limited("default"))])
def erase_form(vendor_id: str, scope: ScopeDep) -> Response:
    """Crypto-shred the vendor (admins): its tax id and bank details become unreadable."""
    scope.erase_vendor(vendor_id)
    return redirect_with(f"/admin/vendors/{vendor_id}",
                         "Erased: the vendor's tax id and bank details are unreadable now")


def masked(value: str, *, shown: int = 4) -> str:
    """All but the last ``shown`` characters hidden; short values hidden entirely."""
    value = value.replace(" ", "")
    if not value or value == ERASED:
        return value
    if len(value) <= shown * 2:
        return "•" * len(value)
    return "•" * (len(value) - shown) + value[-shown:]


def masked_bank(vendor: Vendor) -> dict[str, str]:
    """The vendor's tax id and bank details as staff see them: never in full (a BIC
    names a bank, not an account, so it is shown)."""
    shown = {"Tax id": masked(vendor.tax_id), "IBAN": masked(vendor.iban), "BIC": vendor.bic,
             "Routing number": masked(vendor.routing_number),
             "Account number": masked(vendor.account_number)}
    return {label: value for label, value in shown.items() if value}
