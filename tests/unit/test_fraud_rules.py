"""The deterministic fraud rules: every rule reports on every payment, each fires on its
own pattern and stays quiet otherwise, and the model score maps to a finding."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from finbot.agents.findings import Finding
from finbot.agents.fraud_rules import PaymentHistory, fraud_rules, fraud_verdict_hint
from finbot.domain.errors import InvalidInput, InvalidMoney

QUIET = PaymentHistory(amounts_7d=(Decimal("900.00"),), amounts_3d=(),
                       days_since_bank_change=None, days_since_last_payment=20,
                       payee_paid_before=True, vendor_median=Decimal("1200.00"),
                       invoices_24h=1)
RULES = ["velocity", "bank_change_then_payment", "round_amount", "split_invoices",
         "new_payee_high_value", "dormant_vendor", "inflated_amount"]


def _rule(check: str, amount: str = "1234.56", **changes: Any) -> Finding:
    found = fraud_rules(Decimal(amount), "EUR", replace(QUIET, **changes),
                        single_limit=Decimal("10000"), high_value=Decimal("5000"))
    [only] = [f for f in found if f["check"] == check]
    return only


def test_every_rule_reports_on_an_ordinary_payment_and_all_pass() -> None:
    found = fraud_rules(Decimal("1234.56"), "EUR", QUIET, single_limit=Decimal("10000"),
                        high_value=Decimal("5000"))
    assert [f["check"] for f in found] == RULES
    assert all(f["passed"] and f["severity"] == "info" for f in found)


def test_five_invoices_in_a_day_escalate_for_velocity() -> None:
    found = _rule("velocity", invoices_24h=5)
    assert found["severity"] == "escalate"
    assert "5 invoice(s) from this vendor in 24 hours" in found["detail"]


def test_four_invoices_in_a_day_pass_velocity() -> None:
    assert _rule("velocity", invoices_24h=4)["passed"] is True
    assert "burst" not in _rule("velocity", invoices_24h=4)["detail"]


def test_a_burst_of_money_requests_on_the_api_escalates_for_velocity() -> None:
    found = _rule("velocity", invoices_24h=1, bursts_24h=2)
    assert found["severity"] == "escalate"
    assert "2 burst(s) of money requests on the API by its users" in found["detail"]


def test_a_bank_change_ten_days_ago_escalates() -> None:
    found = _rule("bank_change_then_payment", days_since_bank_change=10)
    assert found["severity"] == "escalate"
    assert "changed 10 day(s) before a payment of 1,234.56 EUR" in found["detail"]


def test_a_bank_change_yesterday_before_a_high_value_payment_rejects() -> None:
    found = _rule("bank_change_then_payment", "7500.00", days_since_bank_change=1)
    assert found["severity"] == "reject"
    assert "7,500.00 EUR" in found["detail"]


def test_a_bank_change_yesterday_before_a_small_payment_only_escalates() -> None:
    found = _rule("bank_change_then_payment", days_since_bank_change=1)
    assert found["severity"] == "escalate"


@pytest.mark.parametrize("days", [None, 15, 400])
def test_bank_details_unchanged_or_changed_long_ago_pass(days: int | None) -> None:
    assert _rule("bank_change_then_payment", days_since_bank_change=days)["passed"] is True


def test_a_round_thousand_escalates() -> None:
    found = _rule("round_amount", "3000.00")
    assert found["severity"] == "escalate"
    assert found["detail"] == "3,000.00 EUR is a multiple of 1,000"


@pytest.mark.parametrize("amount", ["3000.01", "500.00", "2500.00"])
def test_an_amount_that_is_not_a_round_thousand_passes(amount: str) -> None:
    assert _rule("round_amount", amount)["passed"] is True


def test_invoices_each_under_the_limit_that_together_exceed_it_look_split() -> None:
    found = _rule("split_invoices", "4000.00",
                  amounts_3d=(Decimal("3500.00"), Decimal("3000.00")))
    assert found["severity"] == "escalate"
    assert "possible split of 10,500.00 EUR across 3 invoices" in found["detail"]


@pytest.mark.parametrize(("amount", "others"), [
    ("4000.00", ("3000.00",)), ("12000.00", ("3000.00",)), ("4000.00", ("11000.00",)),
    ("12000.00", ())])
def test_no_split_when_the_total_stays_under_or_one_invoice_is_already_over(
        amount: str, others: tuple[str, ...]) -> None:
    found = _rule("split_invoices", amount, amounts_3d=tuple(Decimal(a) for a in others))
    assert found["passed"] is True


def test_a_high_value_payment_to_a_new_payee_escalates() -> None:
    found = _rule("new_payee_high_value", "5000.01", payee_paid_before=False)
    assert found["severity"] == "escalate"
    assert "never paid before" in found["detail"]


@pytest.mark.parametrize(("amount", "paid_before"), [("4999.99", False), ("9000.00", True)])
def test_a_small_payment_to_a_new_payee_or_any_to_a_known_one_passes(
        amount: str, paid_before: bool) -> None:
    found = _rule("new_payee_high_value", amount, payee_paid_before=paid_before)
    assert found["passed"] is True


def test_a_vendor_back_after_half_a_year_with_a_large_amount_escalates() -> None:
    found = _rule("dormant_vendor", "2500.00", days_since_last_payment=180)
    assert found["severity"] == "escalate"
    assert "last paid 180 day(s) ago, now 2,500.00 EUR" in found["detail"]


@pytest.mark.parametrize(("amount", "days"), [("2499.99", 200), ("9000.00", 179),
                                              ("9000.00", None)])
def test_a_dormant_vendor_with_a_small_amount_or_a_recent_one_passes(
        amount: str, days: int | None) -> None:
    assert _rule("dormant_vendor", amount, days_since_last_payment=days)["passed"] is True


def test_more_than_three_times_the_vendor_median_escalates() -> None:
    found = _rule("inflated_amount", "4000.00", vendor_median=Decimal("1000.00"))
    assert found["severity"] == "escalate"
    assert "4.0 times the vendor's median of 1,000.00 EUR" in found["detail"]


@pytest.mark.parametrize(("amount", "median"), [("3000.00", "1000.00"), ("9000.00", None)])
def test_up_to_three_times_the_median_or_no_median_passes(amount: str,
                                                           median: str | None) -> None:
    found = _rule("inflated_amount", amount,
                  vendor_median=None if median is None else Decimal(median))
    assert found["passed"] is True


def test_a_float_amount_is_refused() -> None:
    with pytest.raises(InvalidMoney):
        fraud_rules(1234.5, "EUR", QUIET,  # type: ignore[arg-type]
                    single_limit=Decimal("10000"), high_value=Decimal("5000"))


@pytest.mark.parametrize(("probability", "severity"), [
    (0.95, "reject"), (0.8, "reject"), (0.5, "escalate"), (0.3, "escalate"), (0.1, "info")])
def test_the_model_score_maps_to_reject_escalate_or_pass(probability: float,
                                                         severity: str) -> None:
    found = fraud_verdict_hint(probability, review_at=0.3, block_at=0.8)
    assert found["check"] == "fraud_model"
    assert found["severity"] == severity
    assert found["passed"] is (severity == "info")
    assert f"{probability:.3f}" in found["detail"]


@pytest.mark.parametrize(("probability", "review_at", "block_at"), [
    (float("nan"), 0.3, 0.8), (1.2, 0.3, 0.8), (0.5, 0.9, 0.8)])
def test_a_nonsense_probability_or_thresholds_are_refused(probability: float,
                                                          review_at: float,
                                                          block_at: float) -> None:
    with pytest.raises(InvalidInput):
        fraud_verdict_hint(probability, review_at=review_at, block_at=block_at)
