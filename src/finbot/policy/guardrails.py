"""The gate's guardrails: hard rules before the agent (BLOCK), soft rules after (ESCALATE).

Every rule is evaluated every time and reported with its result, because the decision log
records all of them, not just the one that fired. Rules read only the facts handed in.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapidfuzz import fuzz, process, utils

from finbot.domain.decisions import Outcome, Stage, ToolCall
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
    tenant: str = "default"


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


class RuleResult(NamedTuple):
    """One guardrail's verdict, in words a reviewer can read.

    The sentence is formatted only when read: the gate evaluates every rule on every
    payment, and formatting Decimals was most of a rule's cost."""

    rule: str
    fired: bool
    template: str
    args: tuple[Any, ...] = ()

    @property
    def detail(self) -> str:
        return self.template.format(*self.args) if self.args else self.template


Rule = Callable[[Policy, PaymentFacts], RuleResult]


def _max_single(p: Policy, f: PaymentFacts) -> RuleResult:
    limit = p.hard.max_single_payment
    return RuleResult("max_single_payment", f.amount > limit, "{} {} against a limit of {}",
                      (f.amount, f.currency, limit))


def _daily_volume(p: Policy, f: PaymentFacts) -> RuleResult:
    total, limit = f.volume_today + f.amount, p.hard.max_daily_volume
    return RuleResult("max_daily_volume", total > limit,
                      "{} today with this payment against a limit of {}", (total, limit))


def _volume_30d(p: Policy, f: PaymentFacts) -> RuleResult:
    total, limit = f.volume_30d + f.amount, p.hard.max_30d_volume
    return RuleResult("max_30d_volume", total > limit,
                      "{} in 30 days with this payment against a limit of {}", (total, limit))


def _sanctioned_country(p: Policy, f: PaymentFacts) -> RuleResult:
    country = f.vendor.country.upper()
    return RuleResult("sanctioned_country", country in p.hard.sanctioned_countries,
                      "vendor country {}", (country,))


def _name_key(name: str) -> str:
    """Lower case, no punctuation, words sorted: word order and "L.L.C." vs "LLC" barely
    move the score, and plain edit-distance ratio on these keys is ten times faster than
    rapidfuzz's token-set scorer."""
    return " ".join(sorted(utils.default_process(name).split()))


@dataclass(frozen=True)
class _NameIndex:
    """Sanctioned-name keys sorted by length, for a length-window prefilter."""

    lengths: tuple[int, ...]
    keys: tuple[str, ...]
    names: tuple[str, ...]


@lru_cache(maxsize=64)
def _name_index(names: tuple[str, ...]) -> _NameIndex:
    ordered = sorted((len(_name_key(n)), _name_key(n), n) for n in names)
    return _NameIndex(tuple(o[0] for o in ordered), tuple(o[1] for o in ordered),
                      tuple(o[2] for o in ordered))


def _sanctioned_name(p: Policy, f: PaymentFacts) -> RuleResult:
    # ratio = 2*matches/(len1+len2), so a score >= c needs len2 within
    # [len1*c/(200-c), len1*(200-c)/c]: only names of such lengths can match.
    index, key, cutoff = _name_index(p.hard.sanctioned_names), _name_key(f.vendor.name), (
        p.hard.sanctioned_name_score)
    low = bisect_left(index.lengths, len(key) * cutoff / (200 - cutoff))
    high = bisect_right(index.lengths, len(key) * (200 - cutoff) / max(cutoff, 1))
    match = process.extractOne(key, index.keys[low:high], scorer=fuzz.ratio, processor=None,
                               score_cutoff=cutoff)
    if match is None:
        return RuleResult("sanctioned_name", False, "no sanctioned name is similar")
    return RuleResult("sanctioned_name", True, "vendor name matches sanctioned {!r} ({:.0f}%)",
                      (index.names[low + match[2]], match[1]))


def _required_fields(p: Policy, f: PaymentFacts) -> RuleResult:
    missing = [name for name in p.hard.required_fields if f.invoice.get(name) in (None, "")]
    if missing:
        return RuleResult("required_fields", True, "missing: {}", (", ".join(missing),))
    return RuleResult("required_fields", False, "all present")


def _vendor_age(p: Policy, f: PaymentFacts) -> RuleResult:
    age = (f.now - f.vendor.created_at).days
    high = f.amount >= p.hard.high_value_threshold
    fired = high and age < p.hard.min_vendor_age_days_for_high_value
    return RuleResult("min_vendor_age_for_high_value", fired,
                      "vendor is {} days old; high value from {} needs {}",
                      (age, p.hard.high_value_threshold,
                       p.hard.min_vendor_age_days_for_high_value))


def _bank_cooling_off(p: Policy, f: PaymentFacts) -> RuleResult:
    changed = f.vendor.bank_changed_at
    if changed is None:
        return RuleResult("bank_change_cooling_off", False, "bank details never changed")
    days = (f.now - changed).days
    return RuleResult("bank_change_cooling_off", days < p.hard.bank_change_cooling_off_days,
                      "bank details changed {} days ago", (days,))


def _over_po(p: Policy, f: PaymentFacts) -> RuleResult:
    if f.po_amount is None:
        return RuleResult("invoice_over_po", False, "no purchase order on file")
    allowed = f.po_amount * (1 + p.hard.po_tolerance)
    return RuleResult("invoice_over_po", f.amount > allowed,
                      "{} against purchase order {}", (f.amount, f.po_amount))


HARD_RULES: tuple[Rule, ...] = (_required_fields, _max_single, _daily_volume, _volume_30d,
                                _sanctioned_country, _sanctioned_name, _vendor_age,
                                _bank_cooling_off, _over_po)


_WITHOUT_AMOUNTS: tuple[Rule, ...] = tuple(
    rule for rule in HARD_RULES
    if rule not in {_max_single, _daily_volume, _volume_30d, _vendor_age})
"""The hard rules that do not compare the payment with an amount set in the policy."""

WAIVED_IN_TRAINING = frozenset({"invoice_over_po", "bank_change_cooling_off",
                                "min_vendor_age_for_high_value", "max_daily_volume",
                                "max_30d_volume"})
"""The hard rules an arena sandbox in training mode does not enforce, so that a
manipulated agent can move sandbox money past them. The rest hold even there: the
single-payment limit, sanctions, required fields and the policy's currencies."""

ONBOARDING_HARD_RULES: tuple[Rule, ...] = (_sanctioned_country, _sanctioned_name)
"""Onboarding decides about a vendor, not a payment: only the rules about the party."""


def hard_rules(policy: Policy, facts: PaymentFacts, *,
               stage: Stage = Stage.PAYMENT) -> list[RuleResult]:
    """Every hard rule's result; any fired means BLOCK and no model is called. Amounts are
    judged against the policy's amounts in the payment's currency; a currency the policy
    sets none for fires ``currency_limits``, and the rules that compare the payment with
    the policy's amounts are left out then (they would compare two currencies)."""
    if stage is Stage.ONBOARDING:
        return [rule(policy, facts) for rule in ONBOARDING_HARD_RULES]
    limits = policy.in_currency(facts.currency)
    rules = HARD_RULES if limits is not None else _WITHOUT_AMOUNTS
    return [_currency_limits(policy, facts.currency, limits),
            *(rule(limits or policy, facts) for rule in rules)]


def _currency_limits(policy: Policy, currency: str, limits: Policy | None) -> RuleResult:
    if limits is None:
        return RuleResult("currency_limits", True, "the policy sets no amounts for {} "
                          "(it pays in {})", (currency, ", ".join(
                              sorted({policy.base_currency, *policy.currencies}))))
    return RuleResult("currency_limits", False, "amounts in {}", (currency,))


def soft_rules(policy: Policy, facts: PaymentFacts, confidence: float, *,
               stage: Stage = Stage.PAYMENT) -> list[RuleResult]:
    """Every soft rule's result; any fired turns an APPROVE into ESCALATE. The rules about
    a payment's shape and timing judge the payment decision; the checks before it answer
    to the confidence rule alone (one escalation per invoice, not one per agent)."""
    if not stage.pays:
        return [_low_confidence(policy, confidence)]
    policy = policy.limits_for(facts.currency)
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
        _low_confidence(policy, confidence),
        _structuring(policy, facts),
    ]
    return results


def _low_confidence(policy: Policy, confidence: float) -> RuleResult:
    minimum = policy.soft.min_confidence
    return RuleResult("low_confidence", confidence < minimum,
                      f"agent confidence {confidence:.2f} (minimum {minimum:.2f})")


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


def evidence_rules(tool_calls: Sequence[ToolCall],
                   required: Collection[str]) -> list[RuleResult]:
    """An APPROVE must stand on the agent's own checks: every check the agent is required
    to run was run, and none of the checks it ran reported a failure. The results come
    from FinBot's tools, not from the model, so a model talked into approving by injected
    text cannot also talk away what its tools found."""
    called = {call.name for call in tool_calls}
    missing = sorted(set(required) - called)
    failed = [detail for call in tool_calls for detail in failed_checks(call.result)]
    return [
        RuleResult("evidence_missing", bool(missing),
                   "checks not run: {}" if missing else "every required check ran",
                   (", ".join(missing),) if missing else ()),
        RuleResult("evidence_contradicts", bool(failed),
                   "the agent's own checks failed: {}" if failed else
                   "no check the agent ran failed", ("; ".join(failed[:5]),) if failed else ()),
    ]


AMOUNT_RULE = "amount_matches_invoice"


def amount_rule(facts: PaymentFacts, proposed: Decimal | None) -> RuleResult:
    """A payment proposal must name the amount due (``facts.amount``, worked out from the
    invoice, never taken from the agent): any other amount, larger or smaller, can only
    come from what the agent read, so it escalates an APPROVE. A proposal naming no amount
    (the rules-only fallback, an agent version before amounts) has nothing to compare and
    passes: the gate records, and the executor pays, the amount due then."""
    if proposed is None:
        return RuleResult(AMOUNT_RULE, False, "no amount proposed: the amount due {} {} "
                          "stands", (facts.amount, facts.currency))
    return RuleResult(AMOUNT_RULE, proposed != facts.amount,
                      "the agent proposed {} {} against the amount due {}",
                      (proposed, facts.currency, facts.amount))


def failed_checks(result: Any) -> list[str]:
    """The details of failed checks anywhere in a tool's result."""
    if isinstance(result, Mapping):
        if result.get("passed") is False and "check" in result:
            return [f"{result['check']}: {result.get('detail', '')}"]
        return [d for value in result.values() for d in failed_checks(value)]
    if isinstance(result, list):
        return [d for item in result for d in failed_checks(item)]
    return []


def judge(policy: Policy, facts: PaymentFacts, proposed: Outcome | None,
          confidence: float, *, stage: Stage = Stage.PAYMENT) -> tuple[Outcome, list[RuleResult]]:
    """The gate's verdict: BLOCK on a hard rule (``proposed`` is None: no model was asked),
    ESCALATE when an APPROVE trips a soft rule, else the agent's outcome."""
    hard = hard_rules(policy, facts, stage=stage)
    if any(r.fired for r in hard):
        return Outcome.BLOCK, hard
    if proposed is None:
        raise ValueError("no hard rule fired: the agent must be asked before judging")
    soft = soft_rules(policy, facts, confidence, stage=stage)
    if proposed is Outcome.APPROVE and any(r.fired for r in soft):
        return Outcome.ESCALATE, hard + soft
    return proposed, hard + soft
