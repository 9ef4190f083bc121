"""Deterministic fraud rules beside the model's score, so a reviewer sees a named pattern
(a fresh bank change, a split, a round sum) and not only a probability.

Every rule reports on every payment, passed or not, so the agent's transcript shows what
was looked at. Amounts are Decimal in the payment's currency; thresholds are not converted
between currencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from finbot.agents.findings import Finding, amount_text, finding, passed
from finbot.domain.errors import InvalidInput
from finbot.domain.money import Money

VELOCITY_24H = 5
BANK_CHANGE_DAYS = 14
BANK_CHANGE_REJECT_DAYS = 2
ROUND_UNIT = Decimal(1000)
DORMANT_DAYS = 180
INFLATION_FACTOR = 3


@dataclass(frozen=True)
class PaymentHistory:
    """What the platform knows about this vendor's earlier invoices and payments.

    ``amounts_3d`` and ``amounts_7d`` are the vendor's other invoices in those windows,
    this one excluded; ``None`` days mean it never happened.
    """

    amounts_7d: tuple[Decimal, ...]
    amounts_3d: tuple[Decimal, ...]
    days_since_bank_change: int | None
    days_since_last_payment: int | None
    payee_paid_before: bool
    vendor_median: Decimal | None
    invoices_24h: int
    bursts_24h: int = 0
    """Bursts of money requests on the API by this vendor's users (see MoneyVelocity)."""


@dataclass(frozen=True)
class _Payment:
    amount: Decimal
    currency: str
    history: PaymentHistory
    single_limit: Decimal
    high_value: Decimal

    def money(self, amount: Decimal) -> str:
        return amount_text(amount, self.currency)


def fraud_rules(amount: Decimal, currency: str, history: PaymentHistory, *,
                single_limit: Decimal, high_value: Decimal) -> list[Finding]:
    """One finding per rule, in a fixed order, for a payment of ``amount`` ``currency``."""
    Money.of(amount, currency)  # refuses floats, excess precision and unknown currencies
    if amount <= 0:
        raise InvalidInput("a payment amount must be positive", field="amount")
    payment = _Payment(amount, currency, history, single_limit, high_value)
    return [rule(payment) for rule in _RULES]


def _velocity(p: _Payment) -> Finding:
    count = p.history.invoices_24h
    said = (f"{count} invoice(s) from this vendor in 24 hours "
            f"({len(p.history.amounts_7d)} other(s) in 7 days)")
    if p.history.bursts_24h:
        said += (f"; {p.history.bursts_24h} burst(s) of money requests on the API by its "
                 "users in 24 hours")
    if count >= VELOCITY_24H:
        return finding("velocity", f"{said}, at or above {VELOCITY_24H}", severity="escalate")
    if p.history.bursts_24h:
        return finding("velocity", f"{said}, faster than people send them",
                       severity="escalate")
    return passed("velocity", said)


def _bank_change(p: _Payment) -> Finding:
    days = p.history.days_since_bank_change
    if days is None:
        return passed("bank_change_then_payment", "bank details never changed")
    said = f"bank details changed {days} day(s) before a payment of {p.money(p.amount)}"
    if days <= BANK_CHANGE_REJECT_DAYS and p.amount >= p.high_value:
        return finding("bank_change_then_payment", f"{said}, high value (from "
                       f"{p.money(p.high_value)})", severity="reject")
    if days <= BANK_CHANGE_DAYS:
        return finding("bank_change_then_payment", f"{said}, within {BANK_CHANGE_DAYS} days",
                       severity="escalate")
    return passed("bank_change_then_payment", f"{said}, outside the {BANK_CHANGE_DAYS}-day "
                  "window")


def _round_amount(p: _Payment) -> Finding:
    if p.amount >= ROUND_UNIT and p.amount % ROUND_UNIT == 0:
        return finding("round_amount", f"{p.money(p.amount)} is a multiple of "
                       f"{amount_text(ROUND_UNIT)}", severity="escalate")
    return passed("round_amount", f"{p.money(p.amount)} is not a round thousand")


def _split_invoices(p: _Payment) -> Finding:
    others, limit = p.history.amounts_3d, p.single_limit
    total, count = p.amount + sum(others, Decimal(0)), len(others) + 1
    each_under = p.amount < limit and all(a < limit for a in others)
    if others and each_under and total > limit:
        return finding("split_invoices", f"possible split of {p.money(total)} across {count} "
                       f"invoices in 3 days, each under the single-payment limit of "
                       f"{p.money(limit)}", severity="escalate")
    return passed("split_invoices", f"{count} invoice(s) in 3 days come to {p.money(total)} "
                  f"against the single-payment limit of {p.money(limit)}")


def _new_payee_high_value(p: _Payment) -> Finding:
    if p.history.payee_paid_before:
        return passed("new_payee_high_value", "payee account paid before")
    said = f"payee account never paid before, payment of {p.money(p.amount)}"
    if p.amount >= p.high_value:
        return finding("new_payee_high_value", f"{said} is high value (from "
                       f"{p.money(p.high_value)})", severity="escalate")
    return passed("new_payee_high_value", f"{said} is under {p.money(p.high_value)}")


def _dormant_vendor(p: _Payment) -> Finding:
    days, floor = p.history.days_since_last_payment, p.high_value / 2
    if days is None:
        return passed("dormant_vendor", "vendor never paid before (see new_payee_high_value)")
    said = f"last paid {days} day(s) ago, now {p.money(p.amount)}"
    if days >= DORMANT_DAYS and p.amount >= floor:
        return finding("dormant_vendor", f"{said}: back after {DORMANT_DAYS}+ days with at "
                       f"least {p.money(floor)}", severity="escalate")
    return passed("dormant_vendor", said)


def _inflated_amount(p: _Payment) -> Finding:
    median = p.history.vendor_median
    if median is None or median <= 0:
        return passed("inflated_amount", "no usual amount known for this vendor")
    said = (f"{p.money(p.amount)} is {(p.amount / median).quantize(Decimal('0.1'))} times "
            f"the vendor's median of {p.money(median)}")
    if p.amount > INFLATION_FACTOR * median:
        return finding("inflated_amount", f"{said}, over {INFLATION_FACTOR} times",
                       severity="escalate")
    return passed("inflated_amount", said)


_RULES: tuple[Callable[[_Payment], Finding], ...] = (
    _velocity, _bank_change, _round_amount, _split_invoices, _new_payee_high_value,
    _dormant_vendor, _inflated_amount)


def fraud_verdict_hint(probability: float, *, review_at: float, block_at: float) -> Finding:
    """The model's fraud probability as a finding: reject from ``block_at``, escalate from
    ``review_at``. A probability, not money, so a float is right here."""
    if not 0.0 <= review_at <= block_at <= 1.0:
        raise InvalidInput("thresholds need 0 <= review_at <= block_at <= 1",
                           field="review_at")
    if not 0.0 <= probability <= 1.0:  # also refuses NaN
        raise InvalidInput(f"a probability lies in [0, 1], not {probability}",
                           field="probability")
    said = f"model fraud probability {probability:.3f}"
    if probability >= block_at:
        return finding("fraud_model", f"{said} is at or above the block threshold "
                       f"{block_at:.3f}", severity="reject")
    if probability >= review_at:
        return finding("fraud_model", f"{said} is at or above the review threshold "
                       f"{review_at:.3f}", severity="escalate")
    return passed("fraud_model", f"{said} is below the review threshold {review_at:.3f}")
