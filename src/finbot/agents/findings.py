"""The one shape every agent check reports in, since that is what the model reads back.

A finding is a plain dict (``check``, ``passed``, ``severity``, ``detail``) so it travels as
a tool result unchanged; a failed one is a ``reject`` or an ``escalate``, a passed one is
``info``. Details name the invoice numbers, amounts and dates involved.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal, TypedDict

from finbot.domain.money import ISO_4217_EXPONENTS

Severity = Literal["reject", "escalate", "info"]
FailSeverity = Literal["reject", "escalate"]


class Finding(TypedDict):
    """One check's outcome, as a tool result the model reads."""

    check: str
    passed: bool
    severity: Severity
    detail: str


def finding(check: str, detail: str, *, severity: FailSeverity) -> Finding:
    """A failed check: the item must be rejected or shown to a human."""
    return {"check": check, "passed": False, "severity": severity, "detail": detail}


def passed(check: str, detail: str) -> Finding:
    """A check that found nothing wrong, saying what it looked at."""
    return {"check": check, "passed": True, "severity": "info", "detail": detail}


def amount_text(amount: Decimal, currency: str | None = None) -> str:
    """An amount as people read it: ``"12,000.50 EUR"``, at the currency's decimal places.

    Without a currency the digits are shown as given, only grouped (``"12,000.5"``).
    """
    if currency is None:
        return f"{amount:,}"
    places = Decimal(1).scaleb(-ISO_4217_EXPONENTS.get(currency, 2))
    return f"{amount.quantize(places, rounding=ROUND_HALF_EVEN):,} {currency}"
