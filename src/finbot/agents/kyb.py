"""Know-your-business checks on what a vendor declared, for the onboarding agent to read.

Each check is deterministic and answers in ``Finding`` values the agent reads through
read-only tools. Details use our own words, codes and keywords only, never the vendor's
free text, so a vendor cannot write something that reads back as a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import stdnum.bic
import stdnum.eu.vat
import stdnum.gb.vat
import stdnum.iban
import stdnum.us.ein
import stdnum.us.rtn
from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

Severity = Literal["reject", "escalate", "info"]
Failure = Literal["reject", "escalate"]

REQUIRED_DOCUMENTS: tuple[str, ...] = ("certificate_of_incorporation", "bank_letter")

PROHIBITED_INDUSTRIES: frozenset[str] = frozenset({
    "gambling", "casino", "sports betting", "weapon", "firearm", "ammunition",
    "arms dealing", "arms dealer", "cannabis", "marijuana", "narcotic",
    "adult entertainment", "pornography", "escort service", "escort agency",
    "cryptocurrency mixing", "crypto mixer", "money transmitting without licence",
    "money transmitting without license", "unlicensed money transmission", "shell company",
    "payday lending", "payday loan", "counterfeit goods", "human trafficking",
})
"""Lower-case keywords, matched as whole words; a plural "s"/"es" also matches."""

_KEYWORDS = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(PROHIBITED_INDUSTRIES, key=len,
                                                   reverse=True)) + r")(?:e?s)?\b")
_NOT_ALNUM = re.compile(r"[\W_]+")
_SEPARATORS = re.compile(r"[\s.\-/]")
_VAT_PREFIX = {"GR": "EL"}  # Greek VAT numbers carry EL, not the ISO country code
_REDIRECT = "payments would leave the vendor's country, a common sign of redirected payments"


@dataclass(frozen=True)
class Finding:
    """One check's result in words: passed ones are "info", failed ones reject or escalate."""

    check: str
    passed: bool
    severity: Severity
    detail: str

    def __post_init__(self) -> None:
        if self.passed != (self.severity == "info"):
            raise ValueError("a passed finding is 'info'; a failed one 'reject' or 'escalate'")

    @classmethod
    def passing(cls, check: str, detail: str) -> Finding:
        return cls(check, True, "info", detail)

    @classmethod
    def failing(cls, check: str, severity: Failure, detail: str) -> Finding:
        return cls(check, False, severity, detail)

    def as_dict(self) -> dict[str, object]:
        """The shape the model reads."""
        return {"check": self.check, "passed": self.passed, "severity": self.severity,
                "detail": self.detail}


def _in_words(error: ValidationError) -> str:
    text = str(error).rstrip(".")
    return text[:1].lower() + text[1:]


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _country_code(country: str) -> str | None:
    code = country.strip().upper()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def check_tax_id(tax_id: str, country: str) -> Finding:
    """Whether ``tax_id`` is a well-formed tax number of ``country`` (checksum and format).

    US: an EIN. EU: a VAT number, with the country prefix added when missing (EL for
    Greece). GB: a UK VAT number. Elsewhere: python-stdnum's VAT or TIN module for the
    country, if it has one; otherwise the id cannot be verified and a person must."""
    cc = _country_code(country)
    if not tax_id.strip():
        return Finding.failing("tax_id", "escalate", "no tax id declared")
    validator = _tax_validator(cc) if cc else None
    if cc is None or validator is None:
        return Finding.failing("tax_id", "escalate",
                               f"cannot verify a tax id for {cc or 'a malformed country code'}")
    label, validate = validator
    try:
        validate(tax_id)
    except ValidationError as error:
        return _foreign_vat(tax_id, cc) or Finding.failing(
            "tax_id", "reject", f"tax id is not a valid {label}: {_in_words(error)}")
    return Finding.passing("tax_id", f"tax id is a valid {label}")


def _tax_validator(cc: str) -> tuple[str, Callable[[str], object]] | None:
    if cc == "US":
        return "US EIN", stdnum.us.ein.validate
    if cc == "GB":
        return "UK VAT number", stdnum.gb.vat.validate
    if cc.lower() in stdnum.eu.vat.MEMBER_STATES:
        prefix = _VAT_PREFIX.get(cc, cc)
        return (f"{prefix} VAT number",
                lambda number: stdnum.eu.vat.validate(_with_prefix(number, prefix)))
    module = get_cc_module(cc, "vat") or get_cc_module(cc, "tin")
    return (f"{cc} tax number", module.validate) if module is not None else None


def _with_prefix(number: str, prefix: str) -> str:
    compact = _compact(number)
    return compact if compact.startswith(prefix) else prefix + compact


def _foreign_vat(tax_id: str, cc: str) -> Finding | None:
    """An escalation when the id is a valid VAT number of another EU state than ``cc``."""
    compact, own = _compact(tax_id), _VAT_PREFIX.get(cc, cc)
    if compact[:2] == own or not stdnum.eu.vat.is_valid(compact):
        return None
    return Finding.failing("tax_id", "escalate",
                           f"tax id is a valid VAT number of {compact[:2]}, "
                           f"but the vendor is registered in {cc}")


def check_bank_details(*, iban: str, bic: str, routing_number: str, account_number: str,
                       country: str) -> list[Finding]:
    """One finding per check on the declared bank account: IBAN (checksum, national format,
    country against the vendor's), BIC (format, country against the IBAN's) and US routing
    (ABA checksum) with account number (4 to 17 digits)."""
    if not (iban.strip() or routing_number.strip() or account_number.strip()):
        return [Finding.failing("bank_account", "reject", "no bank account declared: "
                                "neither an IBAN nor a US routing and account number")]
    cc = _country_code(country) or "(unknown)"
    findings: list[Finding] = []
    bank_country, whose = cc, "the vendor's"
    if iban.strip():
        iban_findings = _check_iban(iban, cc)
        findings += iban_findings
        if iban_findings[0].passed:
            bank_country, whose = _compact(iban)[:2], "the IBAN's"
    if bic.strip():
        findings += _check_bic(bic, bank_country, whose)
    if routing_number.strip() or account_number.strip():
        findings += _check_us_account(routing_number, account_number, cc)
    return findings


def _check_iban(iban: str, country: str) -> list[Finding]:
    try:
        number = stdnum.iban.validate(iban)
    except ValidationError as error:
        return [Finding.failing("iban", "reject", f"IBAN is invalid: {_in_words(error)}")]
    held_in = number[:2]
    return [Finding.passing("iban", f"IBAN has valid check digits and the {held_in} format"),
            _same_country("iban_country", f"IBAN country {held_in}", held_in, country,
                          "the vendor's", _REDIRECT)]


def _check_bic(bic: str, bank_country: str, whose: str) -> list[Finding]:
    try:
        code = stdnum.bic.validate(bic)
    except ValidationError as error:
        return [Finding.failing("bic", "reject", f"BIC is invalid: {_in_words(error)}")]
    return [Finding.passing("bic", "BIC is well formed"),
            _same_country("bic_country", f"BIC country {code[4:6]}", code[4:6], bank_country,
                          whose, "the bank code does not belong to a bank of the account")]


def _same_country(check: str, what: str, actual: str, expected: str, whose: str,
                  why: str) -> Finding:
    if actual == expected:
        return Finding.passing(check, f"{what} matches {whose} country")
    return Finding.failing(check, "escalate",
                           f"{what} differs from {whose} country {expected}: {why}")


def _check_us_account(routing_number: str, account_number: str, country: str) -> list[Finding]:
    findings = [_check_routing(routing_number), _check_account_number(account_number)]
    return [*findings, _same_country("bank_country", "US bank account", "US", country,
                                     "the vendor's", _REDIRECT)]


def _check_routing(routing_number: str) -> Finding:
    if not routing_number.strip():
        return Finding.failing("routing_number", "reject",
                               "an account number was declared without a routing number")
    try:
        stdnum.us.rtn.validate(routing_number)
    except ValidationError as error:
        return Finding.failing("routing_number", "reject",
                               f"routing number is not a valid ABA number: {_in_words(error)}")
    return Finding.passing("routing_number", "routing number has a valid ABA checksum")


def _check_account_number(account_number: str) -> Finding:
    digits = _compact(account_number)
    if not digits:
        return Finding.failing("account_number", "reject",
                               "a routing number was declared without an account number")
    if not (digits.isascii() and digits.isdigit() and 4 <= len(digits) <= 17):
        return Finding.failing("account_number", "reject",
                               f"account number must be 4 to 17 digits, not {len(digits)} "
                               f"characters{'' if digits.isdigit() else ' with non-digits'}")
    return Finding.passing("account_number", f"account number has {len(digits)} digits")


def _prohibited(text: str) -> list[str]:
    words = " ".join(_NOT_ALNUM.sub(" ", text.casefold()).split())
    return list(dict.fromkeys(match.group(1) for match in _KEYWORDS.finditer(words)))


def check_industry(industry: str, profile: str) -> Finding:
    """Reject when the declared industry names a prohibited activity; escalate when only the
    free-text profile does (profiles mention things loosely), or when no industry is given."""
    if hits := _prohibited(industry):
        return Finding.failing("industry", "reject",
                               f"declared industry is prohibited: {', '.join(hits)}")
    if hits := _prohibited(profile):
        return Finding.failing("industry", "escalate",
                               f"profile mentions prohibited activities: {', '.join(hits)}; "
                               "a reviewer should confirm what the business does")
    if not industry.strip():
        return Finding.failing("industry", "escalate", "no industry declared")
    return Finding.passing("industry", "industry and profile name no prohibited activity")


def check_documents(documents: Sequence[str]) -> Finding:
    """Escalate unless every required document kind was uploaded."""
    uploaded = {kind.strip().casefold() for kind in documents}
    if missing := [kind for kind in REQUIRED_DOCUMENTS if kind not in uploaded]:
        return Finding.failing("documents", "escalate",
                               f"missing required documents: {', '.join(missing)}")
    return Finding.passing("documents", "all required documents uploaded")


_FINDING_WEIGHTS: dict[Severity, int] = {"reject": 40, "escalate": 15, "info": 0}
_COUNTRY_WEIGHTS = ((0, ""), (10, "medium-risk country"), (20, "high-risk country"))
_SANCTIONS_BANDS = ((95.0, 60), (88.0, 35), (75.0, 10))


def risk_score(findings: Sequence[Finding], *, country_risk: int,
               sanctions_score: float) -> tuple[int, list[str]]:
    """A 0-100 onboarding risk score and one reason per contribution, in this order:

    - each failed finding: +40 if it rejects, +15 if it escalates; passed findings add 0.
      The ``sanctions_screening`` finding is skipped: ``sanctions_score`` carries it.
    - ``country_risk`` (0 low, 1 medium, 2 high, as in ``finbot.fraud.features``; clamped
      to that range): +0, +10, +20.
    - ``sanctions_score`` (best screening score, 0-100): +60 from 95 (the reject score),
      +35 from 88 (the default screening threshold), +10 from 75.

    The sum is capped at 100; the reasons still list every contribution."""
    contributions = [(_FINDING_WEIGHTS[f.severity], f"{f.check} ({f.severity}): {f.detail}")
                     for f in findings if not f.passed and f.check != "sanctions_screening"]
    contributions.append(_COUNTRY_WEIGHTS[min(max(country_risk, 0), 2)])
    band = next((points for floor, points in _SANCTIONS_BANDS if sanctions_score >= floor), 0)
    contributions.append((band, f"sanctions screening score {sanctions_score:.0f}"))
    counted = [(points, reason) for points, reason in contributions if points]
    return (min(sum(points for points, _ in counted), 100),
            [f"+{points} {reason}" for points, reason in counted])
