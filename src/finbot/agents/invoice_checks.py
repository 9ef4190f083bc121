"""What the invoice agent checks before an invoice goes on: vendor, purchase order, tax,
arithmetic, duplicates and the approval threshold, each a pure function returning findings.

The agent reads these findings; it never recomputes them. Amounts are Decimal throughout.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from rapidfuzz import fuzz

from finbot.agents.findings import FailSeverity, Finding, amount_text, finding, passed
from finbot.domain.errors import InvalidInput
from finbot.domain.invoices import Invoice, PurchaseOrder, arithmetic_problems
from finbot.domain.vendors import VendorStatus


@dataclass(frozen=True)
class PriorInvoice:
    """An earlier invoice of the same vendor, as much of it as duplicate detection needs."""

    invoice_id: str
    number: str
    amount: Decimal
    currency: str
    issued_on: date
    status: str
    lines_digest: str


def lines_digest(invoice: Invoice) -> str:
    """SHA-256 of the lines' descriptions and amounts, normalised and in sorted order.

    Case, spacing, line order and trailing zeros (``100.0`` vs ``100.00``) leave it
    unchanged, so a retyped copy of an invoice digests the same as the original.
    """
    rows = sorted(f"{' '.join(line.description.casefold().split())}\t"
                  f"{format(line.amount.normalize(), 'f')}" for line in invoice.lines)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


_STATUS_SEVERITY: dict[str, FailSeverity] = {
    VendorStatus.PENDING: "escalate", VendorStatus.ESCALATED: "escalate",
    VendorStatus.REJECTED: "reject", VendorStatus.SUSPENDED: "reject"}


def check_vendor_status(status: str) -> Finding:
    """Only an active vendor is paid: open onboarding escalates, a refused vendor rejects."""
    if status == VendorStatus.ACTIVE:
        return passed("vendor_status", "vendor is active")
    # An unknown status means the record is not what this code expects: a human decides.
    severity = _STATUS_SEVERITY.get(status, "escalate")
    return finding("vendor_status", f"vendor status is '{status}'; only an active vendor is "
                   "paid", severity=severity)


def check_purchase_order(invoice: Invoice, po: PurchaseOrder | None, *,
                         tolerance: Decimal) -> Finding:
    """The invoice must name an open PO of its own vendor, in its currency, with room left.

    ``tolerance`` is a fraction: ``Decimal("0.05")`` lets an invoice exceed what remains
    on the PO by 5%.
    """
    if tolerance < 0:
        raise InvalidInput("a PO tolerance is a fraction of zero or more", field="tolerance")
    named, number = (invoice.po_number or "").strip(), invoice.number
    if not named:
        return finding("purchase_order", f"invoice {number} names no purchase order",
                       severity="escalate")
    if po is None:
        return finding("purchase_order", f"invoice {number} names {named}, which is not on "
                       "file", severity="reject")
    problem = _po_problem(invoice, po, named)
    if problem:
        return finding("purchase_order", f"invoice {number}: {problem}", severity="reject")
    ceiling = po.remaining * (1 + tolerance)
    amount, remaining = amount_text(invoice.amount, po.currency), amount_text(po.remaining,
                                                                              po.currency)
    allowing = f"{format((tolerance * 100).normalize(), 'f')}% over"
    if invoice.amount > ceiling:
        return finding("purchase_order", f"invoice {number} for {amount} exceeds the "
                       f"{remaining} remaining on {named}, even allowing {allowing} "
                       f"({amount_text(ceiling, po.currency)})", severity="reject")
    return passed("purchase_order", f"invoice {number} for {amount} fits the {remaining} "
                  f"remaining on open {named} (allowing {allowing})")


def _po_problem(invoice: Invoice, po: PurchaseOrder, named: str) -> str | None:
    if po.po_number.strip() != named:
        return f"it names {named}, but the purchase order looked up is {po.po_number}"
    if po.vendor_id != invoice.vendor_id:
        return f"{named} belongs to vendor {po.vendor_id}, not {invoice.vendor_id}"
    if po.status == "closed":
        return f"{named} is closed"
    if po.currency != invoice.currency:
        return f"{named} is in {po.currency}, the invoice in {invoice.currency}"
    return None


def _rates(low: str, high: str | None = None) -> tuple[Decimal, Decimal]:
    return Decimal(low), Decimal(high or low)


TAX_RATES: dict[str, tuple[Decimal, Decimal]] = {
    "DE": _rates("19"), "FR": _rates("20"), "GB": _rates("20"), "NL": _rates("21"),
    "IE": _rates("23"), "ES": _rates("21"), "IT": _rates("22"), "US": _rates("0", "10.25"),
}
"""Standard VAT rates, and the range of combined US state and local sales tax, in percent.

Illustrative: reduced rates (food, books) are not listed, so such invoices escalate for a
human to confirm; production should load the tax team's own table.
"""
TAX_TOLERANCE_POINTS = Decimal("0.5")


def check_tax(invoice: Invoice, *, country: str) -> Finding:
    """Tax over the net amount should sit at the country's standard rate, give or take
    half a percentage point; zero tax is accepted as zero-rated."""
    code, number = country.strip().upper(), invoice.number
    band = TAX_RATES.get(code)
    if band is None:
        return passed("tax", f"no tax table for {code}")
    if invoice.tax == 0:
        return passed("tax", f"invoice {number} is zero-rated")
    net = invoice.amount - invoice.tax
    tax, total = amount_text(invoice.tax, invoice.currency), amount_text(invoice.amount,
                                                                          invoice.currency)
    if invoice.tax < 0 or net <= 0:
        return finding("tax", f"invoice {number} states tax of {tax} on a total of {total}",
                       severity="escalate")
    rate = invoice.tax / net * 100
    low, high = band
    expected = f"{low}%" if low == high else f"{low}% to {high}%"
    said = (f"tax of {tax} on a net {amount_text(net, invoice.currency)} is "
            f"{rate.quantize(Decimal('0.01'))}% on invoice {number}; the {code} standard "
            f"rate is {expected}")
    if low - TAX_TOLERANCE_POINTS <= rate <= high + TAX_TOLERANCE_POINTS:
        return passed("tax", said)
    return finding("tax", said, severity="escalate")


def check_arithmetic(invoice: Invoice) -> list[Finding]:
    """Each place where the invoice's own numbers disagree, as a reject; else one pass."""
    problems = arithmetic_problems(invoice)
    if problems:
        return [finding("arithmetic", f"invoice {invoice.number}: {problem}",
                        severity="reject") for problem in problems]
    total = amount_text(invoice.amount, invoice.currency)
    if not invoice.lines:
        return [passed("arithmetic", f"invoice {invoice.number} has no lines; its total of "
                       f"{total} is taken as stated")]
    return [passed("arithmetic", f"invoice {invoice.number}: {len(invoice.lines)} line(s) "
                   f"plus tax add up to {total}")]


NEAR_NUMBER_RATIO = 90
NEAR_AMOUNT_FRACTION = Decimal("0.01")
NEAR_DAYS = 30
SAME_AMOUNT_DAYS = 7
_REVISION = re.compile(r"[^\W\d_]|\d{1,2}|(?:rev|revision|r|v|version)\d{0,2}")


def find_duplicates(invoice: Invoice, prior: Sequence[PriorInvoice], *,
                    of_earlier: int | None = None) -> list[Finding]:
    """Earlier invoices this one may repeat: exact copies reject, near copies escalate.

    A rejected earlier invoice still counts as an exact copy (resubmitting a refused
    invoice is suspicious in itself) but not as a near one. Matching by lines needs lines:
    two line-less invoices are compared by number, amount and date only. ``prior`` may be
    only the earlier invoices that ``could_repeat`` this one, out of ``of_earlier``.
    """
    digest = lines_digest(invoice) if invoice.lines else None
    found = [f for p in prior if p.invoice_id != invoice.invoice_id
             and (f := _compare(invoice, digest, p)) is not None]
    earlier = len(prior) if of_earlier is None else of_earlier
    return found or [passed("duplicates", f"invoice {invoice.number} matches none of "
                            f"{earlier} earlier invoice(s) of vendor {invoice.vendor_id}")]


def could_repeat(invoice: Invoice, number: str, amount: Decimal, currency: str) -> bool:
    """Whether an earlier invoice with this number and amount could be found a duplicate of
    ``invoice`` at all: the same number, or an amount close enough to be a near copy. Only
    those need their lines read."""
    return number.strip() == invoice.number.strip() or (
        currency == invoice.currency
        and abs(invoice.amount - amount) <= NEAR_AMOUNT_FRACTION * max(invoice.amount, amount))


def _compare(invoice: Invoice, digest: str | None, p: PriorInvoice) -> Finding | None:
    earlier = (f"earlier invoice {p.invoice_id} ({p.number}, "
               f"{amount_text(p.amount, p.currency)}, issued {p.issued_on})")
    this = (f"invoice {invoice.number} ({amount_text(invoice.amount, invoice.currency)}, "
            f"issued {invoice.issued_on})")
    if invoice.number.strip() == p.number.strip() or (
            digest == p.lines_digest and invoice.amount == p.amount
            and invoice.currency == p.currency and invoice.issued_on == p.issued_on):
        resubmitted = ("; that invoice was rejected, so this looks like a resubmission"
                       if p.status == "rejected" else "")
        return finding("exact_duplicate", f"{this} duplicates {earlier}{resubmitted}",
                       severity="reject")
    if p.status == "rejected" or p.currency != invoice.currency:
        return None
    days = abs((invoice.issued_on - p.issued_on).days)
    close = abs(invoice.amount - p.amount) <= NEAR_AMOUNT_FRACTION * max(invoice.amount,
                                                                         p.amount)
    if close and days <= NEAR_DAYS and _near_numbers(invoice.number, p.number):
        return finding("near_duplicate", f"{this} looks like {earlier}: the numbers differ "
                       f"only in form, issued {days} day(s) apart", severity="escalate")
    if invoice.amount == p.amount and days <= SAME_AMOUNT_DAYS:
        return finding("same_amount_recently", f"{this} has the same amount as {earlier}, "
                       f"{days} day(s) apart, under another number", severity="escalate")
    return None


def _number_tokens(number: str) -> tuple[str, ...]:
    """Letter and digit runs, lower case, without leading zeros: "INV-0012" is (inv, 12)."""
    runs = re.findall(r"[^\W\d_]+|\d+", number.casefold())
    return tuple((run.lstrip("0") or "0") if run.isdigit() else run for run in runs)


def _near_numbers(a: str, b: str) -> bool:
    """Same number up to case, punctuation, spacing, leading zeros or a revision suffix
    ("-1", "A", "rev2"), or a near-identical spelling of the same serial digits."""
    ta, tb = _number_tokens(a), _number_tokens(b)
    if ta == tb or _revision_of(ta, tb) or _revision_of(tb, ta):
        return True
    if [t for t in ta if t.isdigit()] != [t for t in tb if t.isdigit()]:
        return False  # another serial number is another invoice, however alike the text
    return fuzz.ratio(" ".join(ta), " ".join(tb)) >= NEAR_NUMBER_RATIO


def _revision_of(longer: tuple[str, ...], base: tuple[str, ...]) -> bool:
    size = len(base)
    return (len(longer) > size > 0 and longer[:size] == base
            and _REVISION.fullmatch("".join(longer[size:])) is not None)


def check_threshold(amount: Decimal, *, approval_threshold: Decimal) -> Finding:
    """An amount above the approval threshold needs a human's approval."""
    shown, limit = amount_text(amount), amount_text(approval_threshold)
    if amount > approval_threshold:
        return finding("approval_threshold", f"{shown} needs a human approval above {limit}",
                       severity="escalate")
    return passed("approval_threshold", f"{shown} is within the approval threshold of {limit}")
