"""Policy as data: the limits the gate enforces, with a version every decision records.

A policy is built from a plain mapping (the YAML or database form); a changed policy is a
new version, never an edit of an old one. Amounts are Decimal. The plain sections' amounts
are in the policy's ``base_currency`` (USD unless set); every other currency the company
pays in has its own amounts under ``currencies`` (all of them: a limit is never carried
over from another currency, where it would mean a different sum). A payment in a currency
the policy names no amounts for is blocked by the gate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from finbot.domain.audit import canonical_json, sha256_hex
from finbot.domain.errors import InvalidInput
from finbot.domain.money import ISO_4217_EXPONENTS


@dataclass(frozen=True)
class HardLimits:
    """Checked before any model is called; one firing means BLOCK."""

    max_single_payment: Decimal
    max_daily_volume: Decimal
    max_30d_volume: Decimal
    sanctioned_countries: frozenset[str] = frozenset()
    sanctioned_names: tuple[str, ...] = ()
    sanctioned_name_score: float = 90.0
    required_fields: tuple[str, ...] = ("invoice_number", "amount", "currency", "vendor_id")
    high_value_threshold: Decimal = Decimal("10000")
    min_vendor_age_days_for_high_value: int = 30
    bank_change_cooling_off_days: int = 7
    po_tolerance: Decimal = Decimal("0")


@dataclass(frozen=True)
class SoftLimits:
    """Checked after the agent; one firing turns APPROVE into ESCALATE."""

    velocity_multiplier: Decimal = Decimal("3")
    new_payee_threshold: Decimal = Decimal("5000")
    business_hours: tuple[int, int] = (7, 20)
    min_confidence: float = 0.8
    structuring_margin: Decimal = Decimal("0.10")
    split_window_days: int = 3


@dataclass(frozen=True)
class ReviewRules:
    """How escalations are reviewed: who must agree, and how fast."""

    four_eyes_above: Decimal = Decimal("10000")
    urgent_above: Decimal = Decimal("10000")
    sla_minutes_urgent: int = 60
    sla_minutes_normal: int = 480
    min_rationale_chars: int = 20


@dataclass(frozen=True)
class Policy:
    """A versioned set of limits; ``digest`` identifies its exact content."""

    version: str
    hard: HardLimits
    soft: SoftLimits = field(default_factory=SoftLimits)
    digest: str = ""
    review: ReviewRules = field(default_factory=ReviewRules)
    base_currency: str = "USD"
    currencies: Mapping[str, Policy] = field(default_factory=dict, hash=False)
    """The same policy with each other currency's amounts, by currency code."""

    def in_currency(self, code: str) -> Policy | None:
        """This policy with ``code``'s amounts; None when it sets none for ``code``."""
        return self if code == self.base_currency else self.currencies.get(code)

    def limits_for(self, code: str) -> Policy:
        """``in_currency(code)``, or the base amounts where the gate will block anyway (an
        agent's checks still run and report against some limit)."""
        return self.in_currency(code) or self


CURRENCY_AMOUNTS: dict[str, tuple[str, ...]] = {
    "hard": ("max_single_payment", "max_daily_volume", "max_30d_volume",
             "high_value_threshold"),
    "soft": ("new_payee_threshold",),
    "review": ("four_eyes_above", "urgent_above"),
}
"""The settings that are sums of money (the rest are counts, ratios and names): each
currency under ``currencies`` gives all of them."""


@lru_cache(maxsize=64)
def policy_from_json(version: str, text: str) -> Policy:
    """A stored policy (its canonical JSON text): parsed and validated once per distinct
    text, since a Policy is immutable and every decision reads the current one."""
    return policy_from_mapping(version, json.loads(text))


def policy_from_mapping(version: str, data: Mapping[str, Any]) -> Policy:
    """Build and check a policy from its plain form; unknown keys are an error."""
    sections = {name: dict(data.get(name, {})) for name in _SECTIONS}
    unknown = set(data) - set(_SECTIONS) - {"base_currency", "currencies"}
    for name, settings in sections.items():
        unknown |= set(settings) - set(_SECTIONS[name].__annotations__)
    if unknown:
        raise InvalidInput(f"unknown policy settings: {', '.join(sorted(unknown))}",
                           field="policy")
    try:
        built = {name: _SECTIONS[name](**{k: _coerce(k, v) for k, v in settings.items()})
                 for name, settings in sections.items()}
    except TypeError as error:
        raise InvalidInput(f"policy is incomplete: {error}", field="policy") from None
    base = _currency_code(data.get("base_currency", "USD"))
    amounts = _currency_amounts(data.get("currencies", {}), base)
    # A section added later is hashed only when present: a policy without it keeps the
    # digest it had before the section existed.
    hashed: dict[str, Any] = {k: v for k, v in sections.items() if k != "review" or k in data}
    hashed |= {k: data[k] for k in ("base_currency", "currencies") if k in data}
    digest = sha256_hex(canonical_json(hashed))
    policy = Policy(version, built["hard"], built["soft"], digest, built["review"], base)
    return replace(policy, currencies={
        code: replace(policy, base_currency=code, currencies={}, **{
            name: replace(getattr(policy, name), **values)
            for name, values in by_section.items()})
        for code, by_section in amounts.items()})


def _currency_code(value: object) -> str:
    if not isinstance(value, str) or value not in ISO_4217_EXPONENTS:
        raise InvalidInput(f"{value!r} is not an active ISO 4217 currency code",
                           field="policy")
    return value


def _currency_amounts(data: object, base: str) -> dict[str, dict[str, dict[str, Decimal]]]:
    """``currencies``: each code's amounts, checked complete, by section."""
    if not isinstance(data, Mapping):
        raise InvalidInput("policy currencies map a currency code to its amounts",
                           field="policy")
    wanted = {name for names in CURRENCY_AMOUNTS.values() for name in names}
    result: dict[str, dict[str, dict[str, Decimal]]] = {}
    for code, values in data.items():
        if _currency_code(code) == base:
            raise InvalidInput(f"{code} is the base currency: its amounts are the policy's "
                               "own", field="policy")
        if not isinstance(values, Mapping):
            raise InvalidInput(f"policy currency {code} maps settings to amounts",
                               field="policy")
        missing, extra = sorted(wanted - set(values)), sorted(set(values) - wanted)
        if missing or extra:
            raise InvalidInput(f"policy currency {code}: " + "; ".join(
                [f"missing {', '.join(missing)}"] * bool(missing)
                + [f"not an amount setting: {', '.join(extra)}"] * bool(extra)),
                field="policy")
        result[code] = {section: {name: _decimal(values[name]) for name in names}
                        for section, names in CURRENCY_AMOUNTS.items()}
    return result


_SECTIONS: dict[str, Any] = {"hard": HardLimits, "soft": SoftLimits, "review": ReviewRules}


def _coerce(name: str, value: Any) -> Any:
    """The typed form of one setting, by its name."""
    if name in _DECIMALS:
        return _decimal(value)
    if name == "sanctioned_countries":
        return frozenset(str(c).upper() for c in value)
    if name in ("sanctioned_names", "required_fields", "business_hours"):
        return tuple(value)
    return value


_DECIMALS = {"max_single_payment", "max_daily_volume", "max_30d_volume",
             "high_value_threshold", "po_tolerance", "velocity_multiplier",
             "new_payee_threshold", "structuring_margin", "four_eyes_above", "urgent_above"}


def _decimal(value: object) -> Decimal:
    if isinstance(value, float | bool):
        raise InvalidInput(f"policy amounts are decimal strings or integers, not {value!r}",
                           field="policy")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{value!r} is not an amount", field="policy") from None
