"""An invoice's history told to the vendor in plain words, and what they may do next.

A vendor sees each step's outcome, never the gate's rules or the agents' reasoning (which
would teach an attacker where the limits are); staff read those in the decision record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from finbot.domain.decisions import Outcome, Stage
from finbot.domain.invoices import Invoice, InvoiceStatus

_WORDS: dict[tuple[Stage, Outcome], str] = {
    (Stage.INVOICE, Outcome.APPROVE): "The invoice was checked against its details and "
                                      "purchase order.",
    (Stage.FRAUD, Outcome.APPROVE): "The payment passed the fraud checks.",
    (Stage.PAYMENT, Outcome.APPROVE): "The payment was approved.",
    (Stage.ONBOARDING, Outcome.APPROVE): "The vendor was verified and activated.",
}
_BY_OUTCOME: dict[Outcome, str] = {
    Outcome.ESCALATE: "A person will review this before anything more happens.",
    Outcome.REJECT: "This was not accepted.",
    Outcome.BLOCK: "This was stopped by a payment rule.",
}
_STAGE_NAMES = {Stage.INVOICE: "Invoice check", Stage.FRAUD: "Fraud check",
                Stage.PAYMENT: "Payment approval", Stage.ONBOARDING: "Vendor verification"}

NEXT: dict[InvoiceStatus, str] = {
    InvoiceStatus.SUBMITTED: "Nothing to do: the checks are running.",
    InvoiceStatus.VALIDATED: "Nothing to do: the checks are running.",
    InvoiceStatus.ESCALATED: "Nothing to do: a reviewer will decide. You may send a message "
                             "if you have something to add.",
    InvoiceStatus.REJECTED: "Send a message to ask why, or submit a corrected invoice with a "
                            "new number.",
    InvoiceStatus.BLOCKED: "Send a message to accounts payable; this invoice will not be "
                           "paid as submitted.",
    InvoiceStatus.APPROVED: "Nothing to do: the payment is on its way.",
    InvoiceStatus.SCHEDULED: "Nothing to do: the payment is scheduled.",
    InvoiceStatus.PAID: "Paid. Nothing to do.",
}
"""What the vendor may do next, for each invoice status."""

AWAITING_PAYMENT = frozenset({InvoiceStatus.APPROVED, InvoiceStatus.SCHEDULED})
IN_PAYMENT = AWAITING_PAYMENT | {InvoiceStatus.PAID}
"""The statuses a vendor's payments page lists: on the way to being paid, or paid."""


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at_us: int
    title: str
    words: str
    outcome: str | None = None
    decision_id: str | None = None


def decided(stage: Stage, outcome: Outcome, *, at_us: int, decision_id: str,
            reviewed: str | None = None) -> Entry:
    """A step's decision in plain words; ``reviewed`` is a settled review's status."""
    words = _WORDS.get((stage, outcome)) or _BY_OUTCOME.get(outcome, "")
    if outcome is Outcome.ESCALATE and reviewed == "approved":
        words = "A reviewer approved this."
    elif outcome is Outcome.ESCALATE and reviewed == "rejected":
        words = "A reviewer did not approve this."
    return Entry(at_us, _STAGE_NAMES.get(stage, stage.value), words, outcome.value,
                 decision_id)


def submitted(at_us: int) -> Entry:
    return Entry(at_us, "Submitted", "We received the invoice.")


def paid(at_us: int) -> Entry:
    return Entry(at_us, "Paid", "The payment was sent to your bank account.")


@dataclass(frozen=True)
class PaymentLine:
    """An invoice as the vendor's payments page shows it: when it should be paid, or when
    it was."""

    invoice: Invoice
    expected_on: date | None
    paid_at_us: int | None


def expected_payment_on(invoice: Invoice) -> date | None:
    """When an approved or scheduled invoice should be paid: by its due date, which the
    payments agent's rails are chosen to meet. None before approval and once paid."""
    return invoice.due_on if invoice.status in AWAITING_PAYMENT else None


def payment_line(invoice: Invoice, *, status_changed_at_us: int) -> PaymentLine:
    """``invoice`` on the payments page; a paid invoice was paid when its status last
    changed (the orchestrator marks it paid as the payment settles)."""
    paid_at = status_changed_at_us if invoice.status is InvoiceStatus.PAID else None
    return PaymentLine(invoice, expected_payment_on(invoice), paid_at)
