"""How the staff pages write ledger amounts and instants: integer minor units with their
currency (never through a float), and the datetime-local field's value as microseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from finbot.domain.clock import utc_datetime
from finbot.domain.errors import InvalidInput
from finbot.domain.money import Currency, Money, to_minor


def minor_text(minor: int, currency: str) -> str:
    """``minor`` units of ``currency`` for a page: ``1,200.00 USD``, ``-5 JPY``."""
    money = Money(int(minor), Currency.of(currency))
    return f"{money.amount:,.{money.currency.exponent}f} {money.currency.code}"


def amount_text(amount: Decimal | str, currency: str) -> str:
    """A major-unit amount as recorded in a decision (``"1200.00"``), written the same way."""
    cur = Currency.of(currency)
    return minor_text(to_minor(amount, cur), cur.code)


def instant_us(text: str, *, field: str) -> int:
    """A UTC ``YYYY-MM-DDTHH:MM`` (the datetime-local input) or a date, in microseconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date and time such as 2026-11-30T17:00",
                           field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def field_value(us: int) -> str:
    """Microseconds as the datetime-local input's value (UTC, to the minute)."""
    return utc_datetime(us).strftime("%Y-%m-%dT%H:%M")
