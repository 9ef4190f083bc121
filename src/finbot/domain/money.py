"""Money as integer minor units of an ISO 4217 currency; floats are refused everywhere.

A ``Money`` value never holds a float: amounts come in as ``Decimal``, ``int`` minor
units or decimal strings, and are checked against the currency's number of decimal
places and against the 64-bit range the ledger stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from finbot.domain.errors import InvalidMoney, UnknownCurrency

_DECIMAL_STRING = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
MAX_MINOR = 2**63 - 1
"""The largest amount in minor units the ledger can store (signed 64-bit)."""

_ZERO_DECIMALS = (
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF XAG XAU XDR "
    "XPD XPT XSU XUA XBA XBB XBC XBD XTS"
)
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
    "SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD "
    "TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)


def _exponents() -> dict[str, int]:
    table: dict[str, int] = {}
    for exponent, codes in ((0, _ZERO_DECIMALS), (2, _TWO_DECIMALS), (3, _THREE_DECIMALS),
                            (4, _FOUR_DECIMALS)):
        table.update(dict.fromkeys(codes.split(), exponent))
    return table


ISO_4217_EXPONENTS: dict[str, int] = _exponents()
"""Active ISO 4217 codes and their number of minor-unit decimal places."""


@dataclass(frozen=True, slots=True)
class Currency:
    """An active ISO 4217 currency and its number of decimal places."""

    code: str
    exponent: int

    @classmethod
    def of(cls, code: str) -> Currency:
        if not isinstance(code, str) or code not in ISO_4217_EXPONENTS:
            raise UnknownCurrency(f"{code!r} is not an active ISO 4217 currency code",
                                  field="currency")
        return cls(code, ISO_4217_EXPONENTS[code])

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in integer minor units of one currency (cents for USD, yen for JPY)."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise InvalidMoney("money must be integer minor units, never a float",
                               field="amount")
        if abs(self.minor) > MAX_MINOR:
            raise InvalidMoney(f"amount exceeds the ledger's range of {MAX_MINOR} minor units",
                               field="amount")

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str | Currency) -> Money:
        """Parse a major-unit amount such as ``Decimal("12.34")`` or ``"12.34"``."""
        cur = currency if isinstance(currency, Currency) else Currency.of(currency)
        return cls(to_minor(amount, cur), cur)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-self.currency.exponent)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise InvalidMoney(f"cannot combine {self.currency} with {other.currency}",
                               field="currency")

    def __str__(self) -> str:
        return f"{self.amount:.{self.currency.exponent}f} {self.currency.code}"


def to_minor(amount: Decimal | int | str, currency: Currency) -> int:
    """Convert a major-unit amount to minor units, refusing floats and excess precision."""
    if type(amount) is str:
        minor = plain_decimal_string(amount, currency.exponent)
        if minor is not None:
            return minor
    if isinstance(amount, (bool, float)):
        raise InvalidMoney("amounts must be Decimal, int or a decimal string, never a float",
                           field="amount")
    if isinstance(amount, str) and not _DECIMAL_STRING.fullmatch(amount):
        raise InvalidMoney(f"{amount!r} is not a plain decimal amount such as 12.34",
                           field="amount")
    try:
        value = Decimal(amount) if isinstance(amount, (int, str)) else amount
    except InvalidOperation:
        raise InvalidMoney(f"{amount!r} is not a decimal amount", field="amount") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidMoney(f"{amount!r} is not a finite decimal amount", field="amount")
    scaled = value.scaleb(currency.exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidMoney(
            f"{currency.code} has {currency.exponent} decimal places; {amount} has more",
            field="amount")
    minor = int(scaled)
    if abs(minor) > MAX_MINOR:
        raise InvalidMoney(f"amount exceeds the ledger's range of {MAX_MINOR} minor units",
                           field="amount")
    return minor


def plain_decimal_string(text: str, exponent: int) -> int | None:
    """Minor units of a plain ``"123.45"`` string within range, without Decimal; else None.

    The ledger parses thousands of amounts per batch; anything unusual (signs, exponents,
    spaces, too many places) returns None and takes the Decimal path with its errors.
    """
    whole, dot, fraction = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or len(whole) > 19:
        return None
    if dot and not (fraction.isascii() and fraction.isdigit() and len(fraction) <= exponent):
        return None
    minor = int(whole) * 10**exponent + (int(fraction.ljust(exponent, "0")) if fraction else 0)
    return minor if minor <= MAX_MINOR else None
