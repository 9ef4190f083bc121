"""The gate's guardrails: hard rules before the agent (BLOCK), soft rules after (ESCALATE).

Every rule is evaluated every time and reported with its result, because the decision log
records all of them, not just the one that fired. Rules read only the facts handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapidfuzz import fuzz, process, utils

from finbot.domain.decisions import Outcome
from finbot.domain.policy import Policy


@dataclass(frozen=True)
class VendorFacts:
    """What the gate knows about the payee, from the vendor record (never from the agent)."""

    vendor_id: str
    name: str
    country: str
    created_at: datetime
    timezone: str = "UTC"
    bank_changed_at: datetime | None = None
    avg_daily_volume: Decimal = Decimal("0")
    paid_before: bool = False


@dataclass(frozen=True)
class PaymentFacts:
    """One payment the gate is asked about, with the history it needs."""

    invoice: Mapping[str, Any]
    amount: Decimal
    currency: str
    vendor: VendorFacts
    now: datetime
    volume_today: Decimal = Decimal("0")
    volume_30d: Decimal = Decimal("0")
    po_amount: Decimal | None = None
    recent_payments: Sequence[tuple[datetime, Decimal]] = field(default_factory=tuple)
    payee_account: str | None = None


@dataclass(frozen=True)
class RuleResult:
    """One guardrail's verdict, in words a reviewer can read."""

    rule: str
    fired: bool
    detail: str


Rule = Callable[[Policy, PaymentFacts], RuleResult]


def _max_single(p: Policy, f: PaymentFacts) -> RuleResult:
    limit = p.hard.max_single_payment
    return RuleResult("max_single_payment", f.amount > limit,
                      f"{f.amount} {f.currency} against a limit of {limit}")


def _daily_volume(p: Policy, f: PaymentFacts) -> RuleResult:
    total, limit = f.volume_today + f.amount, p.hard.max_daily_volume
    return RuleResult("max_daily_volume", total > limit,
                      f"{total} today with this payment against a limit of {limit}")


def _volume_30d(p: Policy, f: PaymentFacts) -> RuleResult:
    total, limit = f.volume_30d + f.amount, p.hard.max_30d_volume
    return RuleResult("max_30d_volume", total > limit,
                      f"{total} in 30 days with this payment against a limit of {limit}")


def _sanctioned_country(p: Policy, f: PaymentFacts) -> RuleResult:
    country = f.vendor.country.upper()
    return RuleResult("sanctioned_country", country in p.hard.sanctioned_countries,
                      f"vendor country {country}")


def _name_key(name: str) -> str:
    """Lower case, no punctuation, words sorted: word order and "L.L.C." vs "LLC" barely
    move the score, and plain edit-distance ratio on these keys is ten times faster than
    rapidfuzz's token-set scorer."""
    return " ".join(sorted(utils.default_process(name).split()))


@lru_cache(maxsize=64)
def _name_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_name_key(n) for n in names)


def _sanctioned_name(p: Policy, f: PaymentFacts) -> RuleResult:
    names = p.hard.sanctioned_names
    match = process.extractOne(_name_key(f.vendor.name), _name_keys(names),
                               scorer=fuzz.ratio, processor=None,
                               score_cutoff=p.hard.sanctioned_name_score)
    if match is None:
        return RuleResult("sanctioned_name", False, "no sanctioned name is similar")
    return RuleResult("sanctioned_name", True,
                      f"vendor name matches sanctioned {names[match[2]]!r} ({match[1]:.0f}%)")


def _required_fields(p: Policy, f: PaymentFacts) -> RuleResult:
    missing = [name for name in p.hard.required_fields if f.invoice.get(name) in (None, "")]
    return RuleResult("required_fields", bool(missing),
                      f"missing: {', '.join(missing)}" if missing else "all present")


def _vendor_age(p: Policy, f: PaymentFacts) -> RuleResult:
    age = (f.now - f.vendor.created_at).days
    high = f.amount >= p.hard.high_value_threshold
    fired = high and age < p.hard.min_vendor_age_days_for_high_value
    return RuleResult("min_vendor_age_for_high_value", fired,
                      f"vendor is {age} days old; high value from "
                      f"{p.hard.high_value_threshold} needs "
                      f"{p.hard.min_vendor_age_days_for_high_value}")


def _bank_cooling_off(p: Policy, f: PaymentFacts) -> RuleResult:
    changed = f.vendor.bank_changed_at
    if changed is None:
        return RuleResult("bank_change_cooling_off", False, "bank details never changed")
    days = (f.now - changed).days
    return RuleResult("bank_change_cooling_off", days < p.hard.bank_change_cooling_off_days,
                      f"bank details changed {days} days ago")


def _over_po(p: Policy, f: PaymentFacts) -> RuleResult:
    if f.po_amount is None:
        return RuleResult("invoice_over_po", False, "no purchase order on file")
    allowed = f.po_amount * (1 + p.hard.po_tolerance)
    return RuleResult("invoice_over_po", f.amount > allowed,
                      f"{f.amount} against purchase order {f.po_amount}")


HARD_RULES: tuple[Rule, ...] = (_required_fields, _max_single, _daily_volume, _volume_30d,
                                _sanctioned_country, _sanctioned_name, _vendor_age,
                                _bank_cooling_off, _over_po)


def hard_rules(policy: Policy, facts: PaymentFacts) -> list[RuleResult]:
    """Every hard rule's result; any fired means BLOCK and no model is called."""
    return [rule(policy, facts) for rule in HARD_RULES]


def soft_rules(policy: Policy, facts: PaymentFacts, confidence: float) -> list[RuleResult]:
    """Every soft rule's result; any fired turns an APPROVE into ESCALATE."""
    s, amount = policy.soft, facts.amount
    normal = facts.vendor.avg_daily_volume
    results = [
        RuleResult("velocity", normal > 0 and facts.volume_today + amount
                   > normal * s.velocity_multiplier,
                   _velocity_detail(facts.volume_today + amount, normal)),
        RuleResult("first_payment_to_new_payee",
                   not facts.vendor.paid_before and amount > s.new_payee_threshold,
                   f"first payment to this payee: {amount} (threshold {s.new_payee_threshold})"
                   if not facts.vendor.paid_before else "payee paid before"),
        _unusual_hours(policy, facts),
        RuleResult("low_confidence", confidence < s.min_confidence,
                   f"agent confidence {confidence:.2f} (minimum {s.min_confidence:.2f})"),
        _structuring(policy, facts),
    ]
    return results


def _velocity_detail(total: Decimal, normal: Decimal) -> str:
    if normal <= 0:
        return "no normal volume on record yet"
    return f"{total} today is {((total / normal - 1) * 100):.0f}% over the daily average {normal}"


def _unusual_hours(policy: Policy, facts: PaymentFacts) -> RuleResult:
    try:
        local = facts.now.astimezone(ZoneInfo(facts.vendor.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return RuleResult("unusual_hours", True,
                          f"unknown vendor time zone {facts.vendor.timezone!r}")
    start, end = policy.soft.business_hours
    return RuleResult("unusual_hours", not start <= local.hour < end,
                      f"{local:%H:%M} in the vendor's time zone ({facts.vendor.timezone})")


def _structuring(policy: Policy, facts: PaymentFacts) -> RuleResult:
    limit, margin = policy.hard.max_single_payment, policy.soft.structuring_margin
    just_under = limit * (1 - margin) <= facts.amount <= limit
    since = facts.now - timedelta(days=policy.soft.split_window_days)
    window = [a for t, a in facts.recent_payments if t >= since]
    split = bool(window) and sum(window, facts.amount) > limit
    detail = (f"{facts.amount} is within {margin * 100:.0f}% under the {limit} limit"
              if just_under else f"{len(window)} other payments in "
                                 f"{policy.soft.split_window_days} days")
    if split:
        detail = (f"{sum(window, facts.amount)} across {len(window) + 1} payments in "
                  f"{policy.soft.split_window_days} days exceeds the {limit} single limit")
    return RuleResult("structuring", just_under or split, detail)


def judge(policy: Policy, facts: PaymentFacts, proposed: Outcome | None,
          confidence: float) -> tuple[Outcome, list[RuleResult]]:
    """The gate's verdict: BLOCK on a hard rule (``proposed`` is None: no model was asked),
    ESCALATE when an APPROVE trips a soft rule, else the agent's outcome."""
    hard = hard_rules(policy, facts)
    if any(r.fired for r in hard):
        return Outcome.BLOCK, hard
    if proposed is None:
        raise ValueError("no hard rule fired: the agent must be asked before judging")
    soft = soft_rules(policy, facts, confidence)
    if proposed is Outcome.APPROVE and any(r.fired for r in soft):
        return Outcome.ESCALATE, hard + soft
    return proposed, hard + soft
