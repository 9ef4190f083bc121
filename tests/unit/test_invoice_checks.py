"""The invoice agent's checks: each fires on the fault it names and stays quiet otherwise,
and every finding has the one shape the model reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finbot.agents.findings import Finding
from finbot.agents.invoice_checks import (
    PriorInvoice,
    PurchaseOrder,
    check_arithmetic,
    check_purchase_order,
    check_tax,
    check_threshold,
    check_vendor_status,
    could_repeat,
    find_duplicates,
    lines_digest,
)
from finbot.domain.errors import InvalidInput
from finbot.domain.invoices import Invoice, InvoiceLine

ISSUED = date(2026, 11, 2)
PO = PurchaseOrder("PO-17", "v-1", Decimal("5000.00"), "EUR", Decimal("2000.00"), "open")


def _invoice(**changes: Any) -> Invoice:
    fields: dict[str, Any] = {
        "invoice_id": "inv-9", "vendor_id": "v-1", "number": "INV-001",
        "amount": Decimal("1190.00"), "currency": "EUR", "issued_on": ISSUED,
        "due_on": ISSUED + timedelta(days=30), "tax": Decimal("190.00"), "po_number": "PO-17",
        "lines": (InvoiceLine("Consulting", Decimal("10"), Decimal("100.00"),
                              Decimal("1000.00")),)}
    fields.update(changes)
    return Invoice(**fields)


def _prior(**changes: Any) -> PriorInvoice:
    fields: dict[str, Any] = {
        "invoice_id": "inv-1", "number": "INV-000", "amount": Decimal("500.00"),
        "currency": "EUR", "issued_on": ISSUED - timedelta(days=60), "status": "paid",
        "lines_digest": "0" * 64}
    fields.update(changes)
    return PriorInvoice(**fields)


def _failed(found: Finding, severity: str) -> bool:
    return found["passed"] is False and found["severity"] == severity


def test_every_finding_has_the_one_shape_the_model_reads() -> None:
    found = check_threshold(Decimal("10"), approval_threshold=Decimal("100"))
    assert found == {"check": "approval_threshold", "passed": True, "severity": "info",
                     "detail": "10 is within the approval threshold of 100"}


def test_the_lines_digest_ignores_case_spacing_order_and_trailing_zeros() -> None:
    lines = (InvoiceLine("Consulting  hours", Decimal("1"), Decimal("600.00"),
                         Decimal("600.00")),
             InvoiceLine("Travel", Decimal("1"), Decimal("400.00"), Decimal("400.00")))
    retyped = (InvoiceLine("travel", Decimal("1"), Decimal("400"), Decimal("400.0")),
               InvoiceLine(" consulting hours ", Decimal("2"), Decimal("300"),
                           Decimal("600")))
    assert lines_digest(_invoice(lines=lines)) == lines_digest(_invoice(lines=retyped))


def test_the_lines_digest_changes_when_an_amount_changes() -> None:
    other = (InvoiceLine("Consulting", Decimal("10"), Decimal("100.01"), Decimal("1000.10")),)
    assert lines_digest(_invoice()) != lines_digest(_invoice(lines=other))


def test_an_active_vendor_passes() -> None:
    assert check_vendor_status("active")["passed"] is True


@pytest.mark.parametrize(("status", "severity"), [
    ("pending", "escalate"), ("escalated", "escalate"), ("rejected", "reject"),
    ("suspended", "reject"), ("archived", "escalate")])
def test_a_vendor_that_is_not_active_is_escalated_or_rejected(status: str,
                                                              severity: str) -> None:
    found = check_vendor_status(status)
    assert _failed(found, severity)
    assert status in found["detail"]


def test_an_invoice_within_what_remains_on_an_open_po_passes() -> None:
    found = check_purchase_order(_invoice(), PO, tolerance=Decimal("0.05"))
    assert found["passed"] is True
    assert "PO-17" in found["detail"]


def test_an_invoice_without_a_po_number_is_escalated() -> None:
    found = check_purchase_order(_invoice(po_number=None), None, tolerance=Decimal("0"))
    assert _failed(found, "escalate")
    assert "INV-001 names no purchase order" in found["detail"]


def test_a_po_number_that_is_not_on_file_is_rejected() -> None:
    found = check_purchase_order(_invoice(po_number="PO-404"), None, tolerance=Decimal("0"))
    assert _failed(found, "reject")
    assert "PO-404" in found["detail"]


@pytest.mark.parametrize(("po", "words"), [
    (replace(PO, vendor_id="v-2"), "belongs to vendor v-2"),
    (replace(PO, status="closed"), "PO-17 is closed"),
    (replace(PO, currency="USD"), "PO-17 is in USD"),
    (replace(PO, po_number="PO-18"), "looked up is PO-18")])
def test_a_po_of_another_vendor_closed_or_in_another_currency_is_rejected(
        po: PurchaseOrder, words: str) -> None:
    found = check_purchase_order(_invoice(), po, tolerance=Decimal("0.05"))
    assert _failed(found, "reject")
    assert words in found["detail"]


def test_an_invoice_over_the_po_remaining_beyond_the_tolerance_is_rejected() -> None:
    found = check_purchase_order(_invoice(), replace(PO, remaining=Decimal("1100.00")),
                                 tolerance=Decimal("0.05"))
    assert _failed(found, "reject")
    assert "1,190.00 EUR exceeds the 1,100.00 EUR remaining" in found["detail"]
    assert "(1,155.00 EUR)" in found["detail"]


def test_an_invoice_over_the_po_remaining_within_the_tolerance_passes() -> None:
    found = check_purchase_order(_invoice(), replace(PO, remaining=Decimal("1150.00")),
                                 tolerance=Decimal("0.05"))
    assert found["passed"] is True
    assert "allowing 5% over" in found["detail"]


def test_a_negative_po_tolerance_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_purchase_order(_invoice(), PO, tolerance=Decimal("-0.01"))


@pytest.mark.parametrize(("country", "amount", "tax"), [
    ("DE", "1190.00", "190.00"), ("de", "1194.00", "194.00"), ("FR", "1200.00", "200.00"),
    ("IE", "1230.00", "230.00"), ("US", "1088.75", "88.75"), ("US", "1000.00", "0")])
def test_tax_at_the_standard_rate_passes(country: str, amount: str, tax: str) -> None:
    lines = (InvoiceLine("Consulting", Decimal("1"), Decimal(amount) - Decimal(tax),
                         Decimal(amount) - Decimal(tax)),)
    found = check_tax(_invoice(amount=Decimal(amount), tax=Decimal(tax), lines=lines),
                      country=country)
    assert found["passed"] is True


@pytest.mark.parametrize(("country", "amount", "tax", "words"), [
    ("DE", "1070.00", "70.00", "is 7.00%"), ("DE", "1196.00", "196.00", "is 19.60%"),
    ("US", "1120.00", "120.00", "0% to 10.25%")])
def test_tax_away_from_the_standard_rate_is_escalated(country: str, amount: str, tax: str,
                                                      words: str) -> None:
    found = check_tax(_invoice(amount=Decimal(amount), tax=Decimal(tax), lines=()),
                      country=country)
    assert _failed(found, "escalate")
    assert words in found["detail"]
    assert "INV-001" in found["detail"]


def test_zero_tax_passes_as_zero_rated() -> None:
    found = check_tax(_invoice(amount=Decimal("1000.00"), tax=Decimal("0"), lines=()),
                      country="DE")
    assert found["passed"] is True
    assert "zero-rated" in found["detail"]


def test_a_country_without_a_tax_table_is_skipped() -> None:
    assert check_tax(_invoice(), country="jp")["detail"] == "no tax table for JP"


def test_tax_as_large_as_the_total_is_escalated() -> None:
    found = check_tax(_invoice(amount=Decimal("100.00"), tax=Decimal("100.00"), lines=()),
                      country="DE")
    assert _failed(found, "escalate")


def test_an_invoice_that_adds_up_passes_the_arithmetic_check() -> None:
    [found] = check_arithmetic(_invoice())
    assert found["passed"] is True
    assert "add up to 1,190.00 EUR" in found["detail"]


def test_each_arithmetic_problem_is_its_own_reject() -> None:
    wrong = _invoice(amount=Decimal("1500.00"), lines=(
        InvoiceLine("Consulting", Decimal("10"), Decimal("100.00"), Decimal("1100.00")),))
    found = check_arithmetic(wrong)
    assert [f["severity"] for f in found] == ["reject", "reject"]
    assert all(f["detail"].startswith("invoice INV-001: ") for f in found)


def test_an_invoice_like_no_earlier_one_has_no_duplicates() -> None:
    [found] = find_duplicates(_invoice(), [_prior()])
    assert found["passed"] is True
    assert "none of 1 earlier invoice(s)" in found["detail"]


def test_the_invoice_itself_among_the_earlier_ones_is_not_its_own_duplicate() -> None:
    [found] = find_duplicates(_invoice(), [_prior(invoice_id="inv-9", number="INV-001")])
    assert found["passed"] is True


def test_the_same_number_again_is_an_exact_duplicate() -> None:
    [found] = find_duplicates(_invoice(), [_prior(number="INV-001")])
    assert _failed(found, "reject")
    assert "invoice INV-001" in found["detail"]
    assert "earlier invoice inv-1 (INV-001, 500.00 EUR" in found["detail"]


def test_same_amount_date_and_lines_under_another_number_is_an_exact_duplicate() -> None:
    invoice = _invoice()
    earlier = _prior(number="X-77", amount=invoice.amount, issued_on=ISSUED,
                     lines_digest=lines_digest(invoice))
    [found] = find_duplicates(invoice, [earlier])
    assert found["check"] == "exact_duplicate"
    assert _failed(found, "reject")


def test_resubmitting_a_rejected_invoice_is_an_exact_duplicate_that_says_so() -> None:
    [found] = find_duplicates(_invoice(), [_prior(number="INV-001", status="rejected")])
    assert _failed(found, "reject")
    assert "was rejected" in found["detail"]


@pytest.mark.parametrize("number", ["inv 001", "INV-0001", "INV-001-A", "INV001A",
                                    "INV-001-1", "INV-001 rev2", "INVO-001"])
def test_a_number_differing_only_in_form_is_a_near_duplicate(number: str) -> None:
    earlier = _prior(number=number, amount=Decimal("1185.00"),
                     issued_on=ISSUED - timedelta(days=20))
    [found] = find_duplicates(_invoice(), [earlier])
    assert found["check"] == "near_duplicate"
    assert _failed(found, "escalate")
    assert number in found["detail"]


@pytest.mark.parametrize("changes", [
    {"amount": Decimal("1150.00")},
    {"issued_on": ISSUED - timedelta(days=31)},
    {"status": "rejected"},
    {"currency": "USD"}])
def test_a_near_number_is_no_duplicate_when_amount_date_status_or_currency_differ(
        changes: dict[str, Any]) -> None:
    earlier = _prior(**{"number": "INV-0001", "amount": Decimal("1190.00"),
                        "issued_on": ISSUED - timedelta(days=20), **changes})
    [found] = find_duplicates(_invoice(), [earlier])
    assert found["passed"] is True


@given(number=st.sampled_from(["INV-001", " INV-001 ", "inv 001", "INV-0001", "INV-002",
                                "X-9"]),
       cents=st.integers(100_00, 1300_00), days=st.integers(0, 40),
       currency=st.sampled_from(["EUR", "USD"]), status=st.sampled_from(["paid", "rejected"]),
       same_lines=st.booleans())
def test_an_earlier_invoice_that_could_not_repeat_this_one_is_never_a_duplicate(
        number: str, cents: int, days: int, currency: str, status: str,
        same_lines: bool) -> None:
    """The invoice agent reads lines only for earlier invoices that ``could_repeat``: that
    filter must never drop one that ``find_duplicates`` would report."""
    invoice = _invoice()
    earlier = _prior(number=number, amount=Decimal(cents).scaleb(-2), currency=currency,
                     issued_on=ISSUED - timedelta(days=days), status=status,
                     lines_digest=lines_digest(invoice) if same_lines else "0" * 64)
    [found] = find_duplicates(invoice, [earlier])
    if not could_repeat(invoice, earlier.number, earlier.amount, earlier.currency):
        assert found["passed"] is True


def test_the_next_serial_number_is_not_a_near_duplicate() -> None:
    invoice = _invoice(number="INV-2026-0102")
    earlier = _prior(number="INV-2026-0101", amount=invoice.amount,
                     issued_on=ISSUED - timedelta(days=20))
    [found] = find_duplicates(invoice, [earlier])
    assert found["passed"] is True


def test_the_same_amount_within_a_week_under_another_number_is_escalated() -> None:
    earlier = _prior(number="B-5", amount=Decimal("1190.00"),
                     issued_on=ISSUED - timedelta(days=7))
    [found] = find_duplicates(_invoice(), [earlier])
    assert found["check"] == "same_amount_recently"
    assert _failed(found, "escalate")
    assert "7 day(s) apart" in found["detail"]


def test_the_same_amount_eight_days_apart_is_not_flagged() -> None:
    earlier = _prior(number="B-5", amount=Decimal("1190.00"),
                     issued_on=ISSUED - timedelta(days=8))
    assert find_duplicates(_invoice(), [earlier])[0]["passed"] is True


def test_each_matching_earlier_invoice_is_reported() -> None:
    found = find_duplicates(_invoice(), [_prior(number="INV-001"),
                                         _prior(invoice_id="inv-2", number="inv 1",
                                                amount=Decimal("1190.00"), issued_on=ISSUED)])
    assert [f["check"] for f in found] == ["exact_duplicate", "near_duplicate"]


def test_an_amount_above_the_approval_threshold_needs_a_human() -> None:
    found = check_threshold(Decimal("12000.00"), approval_threshold=Decimal("10000"))
    assert _failed(found, "escalate")
    assert found["detail"] == "12,000.00 needs a human approval above 10,000"


def test_an_amount_at_the_approval_threshold_passes() -> None:
    assert check_threshold(Decimal("10000"), approval_threshold=Decimal("10000"))["passed"]
