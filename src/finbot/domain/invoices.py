"""Invoices as submitted by vendors, and the checks that need nothing but the invoice.

An invoice is a value: its lines, totals and dates as the vendor stated them, amounts as
Decimal in the invoice's currency. ``arithmetic_problems`` says, in words, where the stated
totals disagree with the lines; the invoice agent reads those findings, never recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal, NamedTuple

from finbot.domain.errors import InvalidInput
from finbot.domain.money import Money

MAX_TEXT_CHARS = 20_000


class InvoiceStatus(StrEnum):
    """Where an invoice is in its workflow."""

    SUBMITTED = "submitted"
    VALIDATED = "validated"
    ESCALATED = "escalated"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PAID = "paid"


@dataclass(frozen=True)
class InvoiceLine:
    """One line as stated: quantity x unit price should equal the amount."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    """A vendor's invoice. ``text`` is what the vendor wrote or attached (untrusted)."""

    invoice_id: str
    vendor_id: str
    number: str
    amount: Decimal
    currency: str
    issued_on: date
    due_on: date
    tax: Decimal = Decimal("0")
    po_number: str | None = None
    lines: tuple[InvoiceLine, ...] = ()
    text: str = ""
    discount_percent: Decimal | None = None
    discount_until: date | None = None
    status: InvoiceStatus = InvoiceStatus.SUBMITTED
    submitted_at_us: int = 0
    tenant: str = field(default="default")

    def __post_init__(self) -> None:
        Money.of(self.amount, self.currency)  # refuses floats, bad precision, bad currency
        if not self.number.strip() or len(self.number) > 64:
            raise InvalidInput("an invoice number is 1 to 64 characters", field="number")
        if self.amount <= 0:
            raise InvalidInput("an invoice amount must be positive", field="amount")
        if self.due_on < self.issued_on:
            raise InvalidInput("an invoice cannot fall due before it is issued",
                               field="due_on")
        if self.discount_percent is not None and not 0 < self.discount_percent < 100:
            raise InvalidInput("an early-payment discount is between 0 and 100 percent",
                               field="discount_percent")
        if len(self.text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"invoice text is limited to {MAX_TEXT_CHARS} characters",
                               field="text")


class InvoiceSummary(NamedTuple):
    """An earlier invoice as the history checks read it: no lines, no text.

    Read straight from stored rows (validated when the invoice was submitted), so a
    vendor's history of hundreds of invoices costs a query, not hundreds of Invoices."""

    invoice_id: str
    number: str
    amount: Decimal
    currency: str
    issued_on: date
    status: InvoiceStatus
    submitted_at_us: int


@dataclass(frozen=True)
class PurchaseOrder:
    """What the company agreed to buy from a vendor, and how much of it is still open."""

    po_number: str
    vendor_id: str
    amount: Decimal
    currency: str
    remaining: Decimal
    status: Literal["open", "closed"] = "open"


def arithmetic_problems(invoice: Invoice) -> list[str]:
    """Where the invoice's own numbers disagree: each line, and lines + tax = total."""
    problems = [f"line {i} '{line.description}': {line.quantity} x {line.unit_price} is "
                f"{line.quantity * line.unit_price}, not {line.amount}"
                for i, line in enumerate(invoice.lines, 1)
                if line.quantity * line.unit_price != line.amount]
    if invoice.lines:
        stated = sum((line.amount for line in invoice.lines), Decimal("0")) + invoice.tax
        if stated != invoice.amount:
            problems.append(f"lines plus tax come to {stated}, but the invoice total is "
                            f"{invoice.amount}")
    return problems
