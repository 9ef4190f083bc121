"""Redact personal and banking data from free text before it reaches an event, log or trace.

Checksummed identifiers (IBAN, card numbers) are confirmed with python-stdnum so that an
invoice number is not mistaken for one; each is replaced by a token that keeps only what
a reader needs to tell two apart (the kind and the last four characters).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stdnum import iban, luhn

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_EIN = re.compile(r"\b\d{2}-\d{7}\b")
_PHONE = re.compile(r"(?<![\w-])\+\d[\d ()-]{7,}\d\b")
_LONG_NUMBER = re.compile(r"\b\d{9,17}\b")


def _last4(value: str) -> str:
    return re.sub(r"[\s-]", "", value)[-4:]


def _valid_head(value: str, valid: Callable[[str], bool]) -> str | None:
    """The longest head of ``value`` that is ``valid``, cut at a space or hyphen: a pattern
    also takes the word or number that follows (``DE89… HTTP``), which must not hide it."""
    head = value
    while head:
        if valid(head):
            return head
        head = head[:max(head.rfind(" "), head.rfind("-"), 0)].rstrip(" -")
    return None


def _iban(match: re.Match[str]) -> str:
    value = match.group(0)
    head = _valid_head(value, iban.is_valid)
    return f"[iban …{_last4(head)}]{value[len(head):]}" if head else value


def _card_number(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return len(digits) >= 13 and luhn.is_valid(digits)


def _card(match: re.Match[str]) -> str:
    value = match.group(0)
    head = _valid_head(value, _card_number)
    return f"[card …{_last4(head)}]{value[len(head):]}" if head else value


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_EMAIL, lambda _m: "[email]"),
    (_IBAN, _iban),
    (_CARD, _card),
    (_SSN, lambda _m: "[ssn]"),
    (_EIN, lambda _m: "[tin]"),
    (_PHONE, lambda _m: "[phone]"),
    (_LONG_NUMBER, lambda m: f"[account …{m.group(0)[-4:]}]"),
)


def redact_text(text: str) -> str:
    """``text`` with e-mail addresses, IBANs, card numbers, SSNs, EINs, phone numbers and
    long account numbers replaced by tokens."""
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text
