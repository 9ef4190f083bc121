"""How the payments agent chooses a rail and a date for a payment it proposes; it never pays.

Business days are Monday to Friday and no holiday calendar is consulted, so a bank holiday
can make a payment a day later than planned. Cut-offs are read in UTC for simplicity;
fees and limits are illustrative, not any bank's price list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from finbot.agents.findings import amount_text
from finbot.domain.errors import InvalidInput

RailName = Literal["ach", "wire", "sepa", "sepa_instant"]

SEPA_COUNTRIES: frozenset[str] = frozenset({
    # The EU and EEA, then the other members of the scheme, then territories with their own
    # ISO codes. Serbia joined the scope in 2025 but its banks are not reachable before 2026.
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO", "CH", "GB", "MC", "SM", "VA", "AD", "AL", "ME", "MD", "MK",
    "AX", "GF", "GP", "MQ", "YT", "RE", "BL", "MF", "PM", "GI", "GG", "JE", "IM"})
"""Countries a SEPA transfer reaches (illustrative: the EPC's register is authoritative)."""

_DAY = timedelta(days=1)
_CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Rail:
    """A payment rail: what it carries, what it costs, how fast it settles.

    ``None`` lifts the restriction for ``currencies``, ``countries`` and ``max_amount``; a
    ``cutoff`` of ``None`` means the rail runs around the clock, weekends included, and
    ``settle_days`` then counts calendar days.
    """

    name: RailName
    currencies: frozenset[str] | None
    countries: frozenset[str] | None
    max_amount: Decimal | None
    fee: Decimal
    settle_days: int
    cutoff: time | None


DEFAULT_RAILS: tuple[Rail, ...] = (
    Rail("ach", frozenset({"USD"}), frozenset({"US"}), Decimal("1000000"), Decimal("0.25"),
         1, time(16, 45)),
    Rail("wire", None, None, None, Decimal("25"), 0, time(17, 0)),
    Rail("sepa", frozenset({"EUR"}), SEPA_COUNTRIES, None, Decimal("0.20"), 1, time(15, 0)),
    Rail("sepa_instant", frozenset({"EUR"}), SEPA_COUNTRIES, Decimal("100000"),
         Decimal("0.50"), 0, None),
)


@dataclass(frozen=True)
class RailChoice:
    """The rail proposed, when to send, when it lands, and why no other rail was taken."""

    rail: Rail
    send_on: date
    arrives_on: date
    fee: Decimal
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    """The day to send a payment, the amount to send, and why."""

    pay_by: date
    amount_after_discount: Decimal
    reason: str


def business_days_after(day: date, n: int) -> date:
    """The date ``n`` business days (Monday to Friday) after ``day``; ``day`` itself for 0.

    No holiday calendar: a bank holiday on a weekday counts as a business day.
    """
    if n < 0:
        raise InvalidInput("business days are counted forward from zero", field="n")
    while n:
        day += _DAY
        if day.weekday() < 5:
            n -= 1
    return day


def _on_or_after_business_day(day: date) -> date:
    return day if day.weekday() < 5 else business_days_after(day, 1)


def _latest_send_day(arrive_by: date, settle_days: int) -> date:
    """The last business day from which ``settle_days`` business days land by ``arrive_by``."""
    day = arrive_by
    while day.weekday() >= 5:
        day -= _DAY
    for _ in range(settle_days):
        day -= _DAY
        while day.weekday() >= 5:
            day -= _DAY
    return day


def _timing(rail: Rail, now: datetime) -> tuple[date, date]:
    today = now.date()
    if rail.cutoff is None:
        return today, today + rail.settle_days * _DAY
    in_time = today.weekday() < 5 and now.time() <= rail.cutoff
    send = today if in_time else _on_or_after_business_day(today + _DAY)
    return send, business_days_after(send, rail.settle_days)


def _ineligible(rail: Rail, amount: Decimal, currency: str, country: str) -> str | None:
    if rail.currencies is not None and currency not in rail.currencies:
        return f"{rail.name}: carries {', '.join(sorted(rail.currencies))} only, not {currency}"
    if rail.countries is not None and country not in rail.countries:
        return f"{rail.name}: does not reach {country}"
    if rail.max_amount is not None and amount > rail.max_amount:
        return (f"{rail.name}: {amount_text(amount, currency)} is over its limit of "
                f"{amount_text(rail.max_amount, currency)}")
    return None


def choose_rail(*, amount: Decimal, currency: str, country: str, now: datetime,
                must_arrive_by: date, rails: Sequence[Rail] = DEFAULT_RAILS) -> RailChoice:
    """The cheapest eligible rail that lands by ``must_arrive_by``; if none can, the fastest
    (then cheapest). A naive ``now`` is taken as UTC.

    Raises ``InvalidInput`` when no rail carries the currency to the country at this amount.
    """
    _require_positive(amount)
    at = now.astimezone(UTC) if now.tzinfo else now
    country = country.strip().upper()
    refused: list[str] = []
    options: list[RailChoice] = []
    for rail in rails:
        why = _ineligible(rail, amount, currency, country)
        if why:
            refused.append(why)
        else:
            options.append(RailChoice(rail, *_timing(rail, at), rail.fee, ()))
    if not options:
        raise InvalidInput(f"no rail carries {amount_text(amount, currency)} to {country}: "
                           + "; ".join(refused), field="currency")
    on_time = [o for o in options if o.arrives_on <= must_arrive_by]
    best = (min(on_time, key=lambda o: (o.fee, o.arrives_on)) if on_time
            else min(options, key=lambda o: (o.arrives_on, o.fee)))
    why_not = [_why_not(o, best, must_arrive_by, currency, late=not on_time)
               for o in options if o is not best]
    return RailChoice(best.rail, best.send_on, best.arrives_on, best.fee,
                      (_why_chosen(best, must_arrive_by, currency, late=not on_time),
                       *refused, *why_not))


def _why_chosen(best: RailChoice, due: date, currency: str, *, late: bool) -> str:
    how = "no rail arrives in time, so the fastest" if late else "the cheapest arriving"
    return (f"{best.rail.name}: {how} by {due}: sent {best.send_on}, arrives "
            f"{best.arrives_on}, fee {amount_text(best.fee, currency)}")


def _why_not(other: RailChoice, best: RailChoice, due: date, currency: str, *,
             late: bool) -> str:
    name, fee = other.rail.name, amount_text(other.fee, currency)
    if not late and other.arrives_on > due:
        return f"{name}: would arrive {other.arrives_on}, after {due}"
    if late and other.arrives_on > best.arrives_on:
        return f"{name}: would arrive {other.arrives_on}, later than {best.arrives_on}"
    if other.fee > best.fee:
        return f"{name}: fee {fee} against {amount_text(best.fee, currency)}"
    if other.arrives_on > best.arrives_on:
        return f"{name}: same fee, arrives later ({other.arrives_on})"
    return f"{name}: no cheaper or faster than {best.rail.name}, which is listed first"


def schedule(*, today: date, due_on: date, amount: Decimal, discount_percent: Decimal | None,
             discount_until: date | None, settle_days: int) -> Schedule:
    """When to send: just in time for ``due_on``, or by the early-payment discount's date
    while the discount can still be reached (arriving by ``discount_until``)."""
    _require_positive(amount)
    if settle_days < 0:
        raise InvalidInput("settlement takes zero or more business days", field="settle_days")
    full = amount.quantize(_CENTS, rounding=ROUND_HALF_EVEN)
    if due_on < today:
        return Schedule(today, full, f"overdue since {due_on}: pay today")
    missed = ""
    if discount_percent is not None or discount_until is not None:
        taken = _with_discount(today, due_on, full, discount_percent, discount_until,
                               settle_days)
        if isinstance(taken, Schedule):
            return taken
        missed = f"; {taken}"
    send = _latest_send_day(due_on, settle_days)
    if send < today:
        return Schedule(today, full, f"pay today: arriving by the due date {due_on} needed "
                        f"sending by {send} ({settle_days} business day(s) to settle){missed}")
    return Schedule(send, full, f"pay just in time: sent {send}, it arrives by the due date "
                    f"{due_on}{missed}")


def _with_discount(today: date, due_on: date, full: Decimal, percent: Decimal | None,
                   until: date | None, settle_days: int) -> Schedule | str:
    """The discounted schedule, or why the discount is out of reach."""
    if percent is None or until is None:
        raise InvalidInput("an early-payment discount needs both a percent and a date",
                           field="discount_percent")
    if not 0 < percent < 100:
        raise InvalidInput("a discount percent lies between 0 and 100",
                           field="discount_percent")
    send = _latest_send_day(min(until, due_on), settle_days)
    if send < today:
        return f"the {percent}% discount until {until} can no longer be reached"
    discounted = (full * (100 - percent) / 100).quantize(_CENTS, rounding=ROUND_HALF_EVEN)
    return Schedule(send, discounted, f"pay by {send} to take the {percent}% early-payment "
                    f"discount until {until}: {discounted:,} instead of {full:,}, saving "
                    f"{full - discounted:,}")


def _require_positive(amount: Decimal) -> None:
    # A float here is a bug upstream; refuse it rather than round it.
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"an amount is a positive Decimal, not {amount!r}", field="amount")
