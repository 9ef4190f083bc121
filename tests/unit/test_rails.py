"""Choosing a rail and a date: cheapest in time, cut-offs and weekends move the send date,
SEPA instant's limit, and paying just in time unless a discount is still reachable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from finbot.agents.rails import (
    DEFAULT_RAILS,
    RailChoice,
    business_days_after,
    choose_rail,
    schedule,
)
from finbot.domain.errors import InvalidInput

MONDAY = date(2026, 6, 1)
FRIDAY = date(2026, 6, 5)
SATURDAY = date(2026, 6, 6)
NEXT_MONDAY = date(2026, 6, 8)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _choose(amount: str, currency: str, country: str, now: datetime,
            must_arrive_by: date) -> RailChoice:
    return choose_rail(amount=Decimal(amount), currency=currency, country=country, now=now,
                       must_arrive_by=must_arrive_by)


def test_business_days_skip_the_weekend() -> None:
    assert business_days_after(FRIDAY, 1) == NEXT_MONDAY
    assert business_days_after(MONDAY, 5) == NEXT_MONDAY
    assert business_days_after(SATURDAY, 1) == NEXT_MONDAY


def test_zero_business_days_after_a_day_is_that_day() -> None:
    assert business_days_after(MONDAY, 0) == MONDAY


def test_business_days_are_not_counted_backwards() -> None:
    with pytest.raises(InvalidInput):
        business_days_after(MONDAY, -1)


def test_a_dollar_payment_with_time_to_spare_goes_by_ach() -> None:
    choice = _choose("2500.00", "USD", "US", _at(MONDAY, 10), FRIDAY)
    assert (choice.rail.name, choice.send_on, choice.arrives_on) == ("ach", MONDAY,
                                                                     date(2026, 6, 2))
    assert choice.fee == Decimal("0.25")
    assert choice.reasons[0].startswith("ach: the cheapest arriving by 2026-06-05")
    assert "wire: fee 25.00 USD against 0.25 USD" in choice.reasons
    assert "sepa: carries EUR only, not USD" in choice.reasons


def test_after_the_ach_cutoff_the_send_date_moves_to_the_next_business_day() -> None:
    choice = _choose("2500.00", "USD", "US", _at(MONDAY, 16, 46), FRIDAY)
    assert (choice.rail.name, choice.send_on, choice.arrives_on) == ("ach", date(2026, 6, 2),
                                                                     date(2026, 6, 3))


def test_at_the_cutoff_minute_the_payment_still_goes_today() -> None:
    assert _choose("2500.00", "USD", "US", _at(MONDAY, 16, 45), FRIDAY).send_on == MONDAY


def test_the_cutoff_is_read_in_utc_whatever_the_clock_of_now() -> None:
    berlin_evening = datetime(2026, 6, 1, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    assert _choose("2500.00", "USD", "US", berlin_evening, FRIDAY).send_on == MONDAY


def test_on_a_weekend_a_cutoff_rail_sends_on_monday() -> None:
    choice = _choose("2500.00", "USD", "US", _at(SATURDAY, 9), date(2026, 6, 12))
    assert (choice.rail.name, choice.send_on, choice.arrives_on) == ("ach", NEXT_MONDAY,
                                                                     date(2026, 6, 9))


def test_a_dollar_payment_due_today_goes_by_wire() -> None:
    choice = _choose("2500.00", "USD", "US", _at(MONDAY, 10), MONDAY)
    assert (choice.rail.name, choice.arrives_on) == ("wire", MONDAY)
    assert "ach: would arrive 2026-06-02, after 2026-06-01" in choice.reasons


def test_when_no_rail_can_arrive_in_time_the_fastest_is_chosen() -> None:
    choice = _choose("2500.00", "USD", "US", _at(MONDAY, 18), MONDAY)
    assert (choice.rail.name, choice.send_on, choice.arrives_on) == ("wire", date(2026, 6, 2),
                                                                     date(2026, 6, 2))
    assert "no rail arrives in time" in choice.reasons[0]
    assert "ach: would arrive 2026-06-03, later than 2026-06-02" in choice.reasons


def test_a_euro_payment_with_a_day_to_spare_goes_by_sepa() -> None:
    choice = _choose("2500.00", "EUR", "DE", _at(MONDAY, 10), date(2026, 6, 2))
    assert (choice.rail.name, choice.fee) == ("sepa", Decimal("0.20"))
    assert "sepa_instant: fee 0.50 EUR against 0.20 EUR" in choice.reasons


def test_a_euro_payment_due_today_goes_by_sepa_instant_even_on_a_saturday() -> None:
    choice = _choose("2500.00", "EUR", "fr", _at(SATURDAY, 22), SATURDAY)
    assert (choice.rail.name, choice.send_on, choice.arrives_on) == ("sepa_instant", SATURDAY,
                                                                     SATURDAY)


def test_over_the_sepa_instant_limit_an_urgent_payment_falls_back_to_wire() -> None:
    choice = _choose("150000.00", "EUR", "NL", _at(MONDAY, 10), MONDAY)
    assert choice.rail.name == "wire"
    assert ("sepa_instant: 150,000.00 EUR is over its limit of 100,000.00 EUR"
            in choice.reasons)


def test_over_the_sepa_instant_limit_a_payment_with_time_falls_back_to_sepa() -> None:
    assert _choose("150000.00", "EUR", "NL", _at(MONDAY, 10), FRIDAY).rail.name == "sepa"


def test_euros_to_a_country_outside_sepa_go_by_wire() -> None:
    choice = _choose("2500.00", "EUR", "US", _at(MONDAY, 10), FRIDAY)
    assert choice.rail.name == "wire"
    assert "sepa: does not reach US" in choice.reasons


def test_no_eligible_rail_is_refused_naming_currency_and_country() -> None:
    without_wire = [rail for rail in DEFAULT_RAILS if rail.name != "wire"]
    with pytest.raises(InvalidInput, match=r"no rail carries 250,000 JPY to JP"):
        choose_rail(amount=Decimal("250000"), currency="JPY", country="JP",
                    now=_at(MONDAY, 10), must_arrive_by=FRIDAY, rails=without_wire)


def test_without_a_discount_the_payment_is_sent_just_in_time() -> None:
    plan = schedule(today=MONDAY, due_on=date(2026, 6, 12), amount=Decimal("1000.00"),
                    discount_percent=None, discount_until=None, settle_days=1)
    assert (plan.pay_by, plan.amount_after_discount) == (date(2026, 6, 11), Decimal("1000.00"))
    assert plan.reason.startswith("pay just in time")


def test_a_due_date_after_a_weekend_is_paid_on_the_friday_before() -> None:
    plan = schedule(today=MONDAY, due_on=NEXT_MONDAY, amount=Decimal("1000.00"),
                    discount_percent=None, discount_until=None, settle_days=1)
    assert plan.pay_by == FRIDAY


def test_a_reachable_discount_is_taken_and_its_saving_stated() -> None:
    plan = schedule(today=MONDAY, due_on=date(2026, 6, 30), amount=Decimal("1000.00"),
                    discount_percent=Decimal("2"), discount_until=FRIDAY, settle_days=1)
    assert (plan.pay_by, plan.amount_after_discount) == (date(2026, 6, 4), Decimal("980.00"))
    assert "saving 20.00" in plan.reason


def test_a_missed_discount_falls_back_to_just_in_time_and_says_so() -> None:
    plan = schedule(today=MONDAY, due_on=date(2026, 6, 30), amount=Decimal("1000.00"),
                    discount_percent=Decimal("2"), discount_until=MONDAY, settle_days=1)
    assert (plan.pay_by, plan.amount_after_discount) == (date(2026, 6, 29), Decimal("1000.00"))
    assert "the 2% discount until 2026-06-01 can no longer be reached" in plan.reason


def test_an_overdue_invoice_is_paid_today() -> None:
    plan = schedule(today=MONDAY, due_on=date(2026, 5, 20), amount=Decimal("1000.00"),
                    discount_percent=Decimal("2"), discount_until=date(2026, 5, 10),
                    settle_days=1)
    assert (plan.pay_by, plan.amount_after_discount) == (MONDAY, Decimal("1000.00"))
    assert plan.reason == "overdue since 2026-05-20: pay today"


def test_a_due_date_too_close_to_make_is_paid_today() -> None:
    plan = schedule(today=MONDAY, due_on=MONDAY, amount=Decimal("1000.00"),
                    discount_percent=None, discount_until=None, settle_days=1)
    assert plan.pay_by == MONDAY
    assert "needed sending by 2026-05-29" in plan.reason


def test_amounts_are_rounded_to_cents_half_to_even() -> None:
    whole = schedule(today=MONDAY, due_on=FRIDAY, amount=Decimal("1000.125"),
                     discount_percent=None, discount_until=None, settle_days=0)
    assert whole.amount_after_discount == Decimal("1000.12")
    plan = schedule(today=MONDAY, due_on=FRIDAY, amount=Decimal("1000.125"),
                    discount_percent=Decimal("1.5"), discount_until=FRIDAY, settle_days=0)
    assert plan.amount_after_discount == Decimal("985.12")


def test_a_discount_without_a_date_is_refused() -> None:
    with pytest.raises(InvalidInput):
        schedule(today=MONDAY, due_on=FRIDAY, amount=Decimal("1000.00"),
                 discount_percent=Decimal("2"), discount_until=None, settle_days=1)


def test_a_float_amount_is_refused() -> None:
    with pytest.raises(InvalidInput):
        schedule(today=MONDAY, due_on=FRIDAY, amount=1000.0,  # type: ignore[arg-type]
                 discount_percent=None, discount_until=None, settle_days=1)
