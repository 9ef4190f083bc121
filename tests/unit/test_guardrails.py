"""The gate's guardrails: each hard rule blocks, each soft rule escalates an APPROVE."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

from finbot.domain.decisions import Outcome
from finbot.domain.errors import InvalidInput
from finbot.domain.policy import policy_from_mapping
from finbot.policy.guardrails import (
    PaymentFacts,
    VendorFacts,
    _name_key,
    amount_rule,
    hard_rules,
    judge,
    soft_rules,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
POLICY = policy_from_mapping("p1", {
    "hard": {"max_single_payment": "10000", "max_daily_volume": "25000",
             "max_30d_volume": "100000", "sanctioned_countries": ["kp", "IR"],
             "sanctioned_names": ["Evil Shell Trading LLC"], "high_value_threshold": "5000",
             "min_vendor_age_days_for_high_value": 30, "bank_change_cooling_off_days": 7,
             "po_tolerance": "0.05"},
    "soft": {"velocity_multiplier": "3", "new_payee_threshold": "2000", "min_confidence": 0.8,
             "business_hours": [7, 20], "structuring_margin": "0.10", "split_window_days": 3},
})
VENDOR = VendorFacts("v-1", "Acme Office Supplies", "US", NOW - timedelta(days=400),
                     timezone="America/New_York", avg_daily_volume=Decimal("1000"),
                     paid_before=True)
INVOICE = {"invoice_number": "INV-1", "amount": "1200.00", "currency": "USD", "vendor_id": "v-1"}


def facts(**changes: Any) -> PaymentFacts:
    base = PaymentFacts(INVOICE, Decimal("1200.00"), "USD", VENDOR, NOW,
                        po_amount=Decimal("1200.00"))
    return replace(base, **changes)


def fired(results: list[Any]) -> set[str]:
    return {r.rule for r in results if r.fired}


def test_an_ordinary_payment_passes_every_rule_and_all_are_reported() -> None:
    outcome, results = judge(POLICY, facts(), Outcome.APPROVE, 0.95)
    assert outcome is Outcome.APPROVE
    assert not fired(results)
    assert len(results) == 10 + 5


@pytest.mark.parametrize(("changes", "rule"), [
    ({"amount": Decimal("10000.01")}, "max_single_payment"),
    ({"volume_today": Decimal("24000")}, "max_daily_volume"),
    ({"volume_30d": Decimal("99000")}, "max_30d_volume"),
    ({"vendor": replace(VENDOR, country="kp")}, "sanctioned_country"),
    ({"vendor": replace(VENDOR, name="EVIL SHELL TRADING, L.L.C.")}, "sanctioned_name"),
    ({"invoice": {**INVOICE, "invoice_number": ""}}, "required_fields"),
    ({"amount": Decimal("6000"), "po_amount": None,
      "vendor": replace(VENDOR, created_at=NOW - timedelta(days=3))},
     "min_vendor_age_for_high_value"),
    ({"vendor": replace(VENDOR, bank_changed_at=NOW - timedelta(days=2))},
     "bank_change_cooling_off"),
    ({"amount": Decimal("1300")}, "invoice_over_po"),
])
def test_each_hard_rule_blocks_before_any_model_is_asked(changes: dict[str, Any],
                                                         rule: str) -> None:
    outcome, results = judge(POLICY, facts(**changes), None, 0.0)
    assert outcome is Outcome.BLOCK
    assert rule in fired(results)


def test_a_small_po_overrun_within_tolerance_passes() -> None:
    assert "invoice_over_po" not in fired(hard_rules(POLICY, facts(amount=Decimal("1250")))
                                          )


@pytest.mark.parametrize(("changes", "confidence", "rule"), [
    ({"volume_today": Decimal("2500")}, 0.95, "velocity"),
    ({"vendor": replace(VENDOR, paid_before=False), "amount": Decimal("2500"),
      "po_amount": None}, 0.95, "first_payment_to_new_payee"),
    ({"now": datetime(2026, 11, 23, 6, 0, tzinfo=UTC)}, 0.95, "unusual_hours"),
    ({}, 0.5, "low_confidence"),
    ({"amount": Decimal("9500"), "po_amount": None}, 0.95, "structuring"),
    ({"amount": Decimal("4000"), "po_amount": None,
      "recent_payments": [(NOW - timedelta(days=1), Decimal("4000")),
                          (NOW - timedelta(days=2), Decimal("4000"))]}, 0.95, "structuring"),
])
def test_each_soft_rule_turns_an_approve_into_an_escalation(changes: dict[str, Any],
                                                            confidence: float,
                                                            rule: str) -> None:
    outcome, results = judge(POLICY, facts(**changes), Outcome.APPROVE, confidence)
    assert outcome is Outcome.ESCALATE
    assert rule in fired(results)


@pytest.mark.parametrize(("proposed", "differs"), [
    (Decimal("1200.00"), False), (Decimal("1200"), False), (Decimal("9500.00"), True),
    (Decimal("1199.99"), True), (None, False),
])
def test_the_amount_rule_fires_on_any_amount_but_the_amount_due(
        proposed: Decimal | None, differs: bool) -> None:
    """Larger or smaller, another amount fires; the same amount in another notation does
    not; a proposal naming no amount leaves the amount due standing."""
    result = amount_rule(facts(), proposed)
    assert (result.rule, result.fired) == ("amount_matches_invoice", differs)
    assert "1200.00" in result.detail


def test_soft_rules_never_soften_a_rejection() -> None:
    outcome, _ = judge(POLICY, facts(volume_today=Decimal("2500")), Outcome.REJECT, 0.95)
    assert outcome is Outcome.REJECT


def test_reasons_name_the_concrete_facts() -> None:
    velocity = next(r for r in soft_rules(POLICY, facts(volume_today=Decimal("2500")), 0.9)
                    if r.rule == "velocity")
    assert velocity.detail == "3700.00 today is 270% over the daily average 1000"


def test_a_policy_names_its_version_and_content() -> None:
    assert POLICY.version == "p1"
    assert len(POLICY.digest) == 64
    assert POLICY.hard.sanctioned_countries == frozenset({"KP", "IR"})


@pytest.mark.parametrize("data", [
    {"hard": {"max_single_payment": 10.5, "max_daily_volume": "1", "max_30d_volume": "1"}},
    {"hard": {"max_single_payment": "10", "max_daily_volume": "1", "max_30d_volume": "1",
              "max_single_paymnet": "5"}},
    {"hard": {"max_single_payment": "10"}},
    {"hard": {"max_single_payment": "ten", "max_daily_volume": "1", "max_30d_volume": "1"}},
])
def test_a_bad_policy_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        policy_from_mapping("bad", data)


@given(st.lists(st.text(alphabet="abcdefg hij.,", min_size=1, max_size=30), min_size=1,
                max_size=40), st.text(alphabet="abcdefg hij.,", min_size=1, max_size=30),
       st.sampled_from([60.0, 80.0, 90.0, 95.0]))
def test_the_length_prefilter_finds_what_a_full_scan_finds(names: list[str], vendor: str,
                                                          cutoff: float) -> None:
    policy = replace(POLICY, hard=replace(POLICY.hard, sanctioned_names=tuple(names),
                                          sanctioned_name_score=cutoff))
    result = next(r for r in hard_rules(policy, facts(vendor=replace(VENDOR, name=vendor)))
                  if r.rule == "sanctioned_name")
    keys = [_name_key(n) for n in names]
    full = process.extractOne(_name_key(vendor), keys, scorer=fuzz.ratio, processor=None,
                              score_cutoff=cutoff)
    assert result.fired == (full is not None)
