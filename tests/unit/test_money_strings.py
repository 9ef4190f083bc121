"""Amount strings are plain decimals: no exponents, spaces or non-ASCII digits."""

from __future__ import annotations

import pytest

from finbot.domain.errors import InvalidMoney
from finbot.domain.money import Currency, to_minor

USD = Currency.of("USD")


@pytest.mark.parametrize(("text", "minor"), [("1", 100), ("1.5", 150), ("0.01", 1),
                                             ("-2.50", -250), ("+3", 300)])
def test_plain_decimal_strings_convert_exactly(text: str, minor: int) -> None:
    assert to_minor(text, USD) == minor


@pytest.mark.parametrize("text", ["1e3", " 1", "1 ", "1.", ".5", "\u0661", "1_000", "", "0x10",
                                  "1.001", "NaN", "Infinity"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidMoney):
        to_minor(text, USD)
