"""Turns the facts a payments platform knows about one invoice payment into model features.

Training and live scoring both go through ``feature_vector``, so the two can never disagree
about what a feature means; ``describe`` turns a feature value back into words for reviewers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from finbot.domain.money import ISO_4217_EXPONENTS

VendorSize = Literal["small", "medium", "large"]
VENDOR_SIZES: tuple[VendorSize, ...] = ("small", "medium", "large")

COUNTRY_RISK: dict[str, int] = {
    **dict.fromkeys(("US", "CA", "GB", "IE", "DE", "FR", "NL", "BE", "AT", "CH", "SE", "DK",
                     "NO", "FI", "ES", "IT", "PT", "AU", "NZ", "JP", "SG"), 0),
    **dict.fromkeys(("PL", "CZ", "IN", "MX", "BR", "AE", "TR", "CN", "HK", "ZA", "TH"), 1),
    **dict.fromkeys(("NG", "KP", "IR", "MM", "VN", "PH", "KE", "HT", "SS", "YE"), 2),
}
"""Illustrative risk buckets (0 low, 1 medium, 2 high) for synthetic data.

Not an official list: production must load the compliance team's own country table.
Countries missing from the table count as medium risk, since nothing is known about them.
"""

FEATURE_NAMES: tuple[str, ...] = (
    "log_amount",
    "amount_to_vendor_median",
    "round_amount",
    "days_since_bank_change",
    "bank_change_14d",
    "new_payee",
    "new_payee_high_value",
    "dormant_180d",
    "first_invoice",
    "invoices_last_7d",
    "near_limit",
    "same_amount_30d",
    "vendor_age_days",
    "country_risk",
    "vendor_size",
)

NO_HISTORY = -1.0
"""``amount_to_vendor_median`` when the vendor has never been paid: no ratio exists."""
NEVER_DAYS = 3650.0
"""``days_since_bank_change`` when details never changed: trees then treat it as long ago."""
HIGH_VALUE_MAJOR = 5_000
"""A payment at or above this many major units counts as high value (not FX-normalised)."""
_BANK_CHANGE_WINDOW_DAYS = 14
_DORMANT_DAYS = 180


@dataclass(frozen=True, slots=True)
class PaymentContext:
    """One invoice payment about to be scored, as facts the platform already holds.

    Amounts are integer minor units of ``currency``; ``None`` days mean "never happened".
    """

    amount_minor: int
    currency: str
    vendor_country: str
    vendor_age_days: int
    days_since_bank_change: int | None
    invoices_last_7d: int
    vendor_median_amount_minor: int
    days_since_last_invoice: int | None
    payee_paid_before: bool
    amount_just_under_limit: bool
    same_amount_count_30d: int
    vendor_size: VendorSize


def just_under_limit(amount_minor: int, limit_minor: int, *, margin_percent: int = 10) -> bool:
    """True when the amount is below the approval limit by at most ``margin_percent``."""
    return limit_minor * (100 - margin_percent) <= amount_minor * 100 < limit_minor * 100


def _major_unit(currency: str) -> int:
    # An unknown code is scored as a two-decimal currency: scoring must never block a payment.
    return int(10 ** ISO_4217_EXPONENTS.get(currency, 2))


def _roundness(amount_minor: int, unit: int) -> float:
    if amount_minor > 0 and amount_minor % (1000 * unit) == 0:
        return 2.0
    return 1.0 if amount_minor > 0 and amount_minor % (100 * unit) == 0 else 0.0


def _flag(condition: bool) -> float:
    return 1.0 if condition else 0.0


def feature_vector(ctx: PaymentContext) -> list[float]:
    """The features of ``ctx`` in ``FEATURE_NAMES`` order."""
    unit = _major_unit(ctx.currency)
    bank_days = ctx.days_since_bank_change
    median = ctx.vendor_median_amount_minor
    new_payee = not ctx.payee_paid_before
    last = ctx.days_since_last_invoice
    return [
        math.log10(1.0 + ctx.amount_minor / unit),
        ctx.amount_minor / median if median > 0 else NO_HISTORY,
        _roundness(ctx.amount_minor, unit),
        NEVER_DAYS if bank_days is None else float(min(bank_days, int(NEVER_DAYS))),
        _flag(bank_days is not None and bank_days <= _BANK_CHANGE_WINDOW_DAYS),
        _flag(new_payee),
        _flag(new_payee and ctx.amount_minor >= HIGH_VALUE_MAJOR * unit),
        _flag(last is not None and last > _DORMANT_DAYS),
        _flag(last is None),
        float(ctx.invoices_last_7d),
        _flag(ctx.amount_just_under_limit),
        float(ctx.same_amount_count_30d),
        float(ctx.vendor_age_days),
        float(COUNTRY_RISK.get(ctx.vendor_country, 1)),
        float(VENDOR_SIZES.index(ctx.vendor_size)),
    ]


def _yes_no(yes: str, no: str) -> Callable[[float], str]:
    return lambda value: yes if value >= 0.5 else no


def _amount(value: float) -> str:
    return f"amount of about {10 ** value - 1:,.0f} in major units"


def _ratio(value: float) -> str:
    if value < 0:
        return "first payment to this vendor, so no usual amount to compare with"
    return f"{value:.1f} times the vendor's usual amount"


def _round(value: float) -> str:
    return {2: "a round amount (a multiple of 1,000)",
            1: "a round amount (a multiple of 100)"}.get(round(value), "not a round amount")


def _bank_days(value: float) -> str:
    if value >= NEVER_DAYS:
        return "bank details never changed"
    days = round(value)
    return f"bank details changed {days} day{'' if days == 1 else 's'} ago"


def _count(template: str) -> Callable[[float], str]:
    return lambda value: template.format(n=round(value), s="" if round(value) == 1 else "s")


_DESCRIPTIONS: dict[str, Callable[[float], str]] = {
    "log_amount": _amount,
    "amount_to_vendor_median": _ratio,
    "round_amount": _round,
    "days_since_bank_change": _bank_days,
    "bank_change_14d": _yes_no("bank details changed in the last 14 days",
                               "no bank-detail change in the last 14 days"),
    "new_payee": _yes_no("payee account never paid before", "payee account paid before"),
    "new_payee_high_value": _yes_no("high-value payment to a payee never paid before",
                                    "not a high-value payment to a new payee"),
    "dormant_180d": _yes_no("vendor back after more than 180 days without invoices",
                            "vendor invoiced in the last 180 days"),
    "first_invoice": _yes_no("first invoice ever from this vendor",
                             "vendor has invoiced before"),
    "invoices_last_7d": _count("{n} invoice{s} from this vendor in the last 7 days"),
    "near_limit": _yes_no("amount just under the approval limit",
                          "amount not just under the approval limit"),
    "same_amount_30d": _count("{n} earlier invoice{s} with the same amount in 30 days"),
    "vendor_age_days": _count("vendor created {n} day{s} ago"),
    "country_risk": lambda value: ("low", "medium", "high")[min(max(round(value), 0), 2)]
    + "-risk vendor country",
    "vendor_size": lambda value: f"{VENDOR_SIZES[min(max(round(value), 0), 2)]} vendor",
}


def describe(name: str, value: float) -> str:
    """A short plain-English phrase for one feature value, e.g. "bank details changed 3 days ago".

    Raises ``KeyError`` for a name not in ``FEATURE_NAMES``.
    """
    return _DESCRIPTIONS[name](value)
