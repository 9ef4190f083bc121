"""A policy's amounts per currency: a payment is judged against the amounts of its own
currency, every currency gives all its amounts, and an unknown currency is blocked."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from finbot.domain.audit import canonical_json, sha256_hex
from finbot.domain.decisions import Outcome
from finbot.domain.errors import InvalidInput
from finbot.domain.policy import CURRENCY_AMOUNTS, policy_from_mapping
from finbot.domain.reviews import new_item
from finbot.policy.guardrails import hard_rules, judge, soft_rules
from finbot.policy.shipped import shipped_policy
from tests.unit.test_guardrails import POLICY, facts, fired

EUR = {"max_single_payment": "9000", "max_daily_volume": "20000", "max_30d_volume": "90000",
       "high_value_threshold": "4500", "new_payee_threshold": "1800",
       "four_eyes_above": "4000", "urgent_above": "8000"}


def with_euros(**euro: Any) -> Any:
    plain = {"hard": {"max_single_payment": "10000", "max_daily_volume": "25000",
                      "max_30d_volume": "100000", "high_value_threshold": "5000"},
             "soft": {"new_payee_threshold": "2000"}}
    return policy_from_mapping("p2", {**plain, "currencies": {"EUR": {**EUR, **euro}}})


def test_a_payment_is_judged_against_the_amounts_of_its_currency() -> None:
    policy = with_euros()
    amount = Decimal("9500.00")  # over the euro limit, under the dollar one
    euro = facts(amount=amount, currency="EUR", po_amount=amount)
    dollar = facts(amount=amount, po_amount=amount)
    assert fired(hard_rules(policy, euro)) == {"max_single_payment"}
    assert not fired(hard_rules(policy, dollar))
    [single] = [r for r in hard_rules(policy, euro) if r.rule == "max_single_payment"]
    assert single.detail == "9500.00 EUR against a limit of 9000"
    assert judge(policy, euro, Outcome.APPROVE, 0.95)[0] is Outcome.BLOCK


def test_the_soft_rules_and_the_review_use_the_currency_s_amounts() -> None:
    policy = with_euros()
    new_payee = replace(facts().vendor, paid_before=False)
    amount = Decimal("1900.00")  # over the euro new-payee threshold only
    euro = facts(amount=amount, currency="EUR", vendor=new_payee, po_amount=amount)
    assert "first_payment_to_new_payee" in fired(soft_rules(policy, euro, 0.95))
    assert "first_payment_to_new_payee" not in fired(soft_rules(
        policy, replace(euro, currency="USD"), 0.95))
    rules = policy.limits_for("EUR").review
    item = new_item(rules, decision_id="d", vendor_id="v", amount=Decimal("4100"),
                    currency="EUR", reason="r", now_us=0)
    assert item.required_approvals == 2  # four eyes above 4,000 EUR (10,000 in dollars)


def test_a_currency_without_amounts_is_blocked_and_not_compared_with_another() -> None:
    results = hard_rules(with_euros(), facts(currency="JPY", amount=Decimal("50000"),
                                             po_amount=Decimal("50000")))
    assert fired(results) == {"currency_limits"}
    [rule] = [r for r in results if r.rule == "currency_limits"]
    assert rule.detail == "the policy sets no amounts for JPY (it pays in EUR, USD)"
    assert "max_single_payment" not in {r.rule for r in results}
    assert not fired(hard_rules(POLICY, facts()))


@pytest.mark.parametrize(("euro", "message"), [
    ({"urgent_above": None}, "missing urgent_above"),
    ({"po_tolerance": "0.1"}, "not an amount setting: po_tolerance"),
    ({"max_single_payment": 9000.5}, "not 9000.5"),
])
def test_a_currency_gives_every_amount_and_only_amounts(euro: dict[str, Any],
                                                         message: str) -> None:
    amounts = {k: v for k, v in {**EUR, **euro}.items() if v is not None}
    with pytest.raises(InvalidInput, match=message):
        policy_from_mapping("p", {"hard": {"max_single_payment": "1", "max_daily_volume": "1",
                                           "max_30d_volume": "1"},
                                  "currencies": {"EUR": amounts}})


@pytest.mark.parametrize("data", [
    {"currencies": {"XYZ": EUR}}, {"currencies": {"USD": EUR}}, {"base_currency": "usd"},
    {"currencies": ["EUR"]},
])
def test_unknown_or_misplaced_currencies_are_refused(data: dict[str, Any]) -> None:
    hard = {"max_single_payment": "1", "max_daily_volume": "1", "max_30d_volume": "1"}
    with pytest.raises(InvalidInput):
        policy_from_mapping("p", {"hard": hard, **data})


def test_a_policy_written_before_currencies_keeps_its_digest() -> None:
    plain = {"hard": {"max_single_payment": "1", "max_daily_volume": "1",
                      "max_30d_volume": "1"}, "soft": {}}
    sections = {"hard": plain["hard"], "soft": {}}
    assert policy_from_mapping("p", plain).digest == sha256_hex(canonical_json(sections))
    assert policy_from_mapping("p", {**plain, "base_currency": "USD"}).digest != (
        policy_from_mapping("p", plain).digest)


def test_the_shipped_policy_pays_in_dollars_euros_and_pounds() -> None:
    policy = policy_from_mapping("shipped", shipped_policy())
    assert (policy.base_currency, sorted(policy.currencies)) == ("USD", ["EUR", "GBP"])
    for code in ("EUR", "GBP"):
        limits = policy.limits_for(code)
        for section, names in CURRENCY_AMOUNTS.items():
            for name in names:
                assert getattr(getattr(limits, section), name) < getattr(
                    getattr(policy, section), name), (code, name)
    assert policy.in_currency("CHF") is None
    assert policy.limits_for("CHF") is policy
