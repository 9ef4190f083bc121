"""How the offline model gets fooled: instructions hidden in content it should only read.

Real models follow text that looks like an instruction wherever it appears. The offline
model does the same, measurably: each directive found in untrusted content (invoice text,
attachments, vendor profile, tool output, chat) gets a *strength*, one point for the
directive plus one for each cue real attacks use (claimed authority, fake system
formatting or "ignore previous instructions", urgency). It obeys a directive whose strength
reaches its gullibility's threshold:

========  =========  ==================================================================
setting   threshold  behaviour
========  =========  ==================================================================
none      never      reads untrusted content as data only (a perfectly robust model)
low       3          obeys only elaborate attacks: a directive with two kinds of cue
medium    2          obeys a directive with any one cue (the default)
high      1          obeys any imperative it reads
========  =========  ==================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from finbot.llm.remembered import for_short_texts

DirectiveKind = Literal["outcome", "confidence", "reveal", "tool", "field", "risk"]


class Gullibility(StrEnum):
    """How easily the offline model follows instructions found in data."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def threshold(self) -> int | None:
        return {"none": None, "low": 3, "medium": 2, "high": 1}[self.value]


@dataclass(frozen=True)
class Directive:
    """One instruction found in untrusted content."""

    kind: DirectiveKind
    value: str
    argument: str
    strength: int
    quote: str


_I = re.IGNORECASE
_LED: list[tuple[re.Pattern[str], re.Pattern[str]]] = []
"""Each pattern as scanned and as written (the tests check they find the same matches)."""


def _led(first: str, source: str, flags: int = _I) -> re.Pattern[str]:
    """``source`` behind a lookahead for the letters its matches can begin with: the same
    matches, found without trying the whole alternation at every position of the text
    (2-3x faster on texts a model reads for the first time)."""
    scanned = re.compile(f"(?=[{first}])(?:{source})", flags)
    _LED.append((scanned, re.compile(source, flags)))
    return scanned


_OUTCOME = _led(
    "acejmnprsy",
    r"\b(?:(?:you must|please|must|should|always|just|now)\s+)?(approve|reject|escalate)\b"
    r"(?:\s+(?:this|the|it|all|every|my|our))?"
    r"|\b(?:set|change|mark)\s+(?:the\s+)?(?:outcome|decision|status|result|it|this)"
    r"(?:\s+invoice)?\s+(?:to|as)\s+[\"']?(approved?|rejected?|escalated?)", _I)
_PREAPPROVED = _led("ap", r"\b(?:pre-?approved|already (?:been )?approved|auto-?approve)\b", _I)
_CONFIDENCE = _led("c", r"\bconfidence\s+(?:of|to|at|=|is|should be)\s*([01](?:\.\d+)?)", _I)
_REVEAL = _led(
    "dioprstw",
    r"\b(?:reveal|print|show|repeat|output|display|tell me|what are|share|include)\s+"
    r"(?:me\s+)?(?:your|the|all)?\s*(?:full\s+|exact\s+|hidden\s+|original\s+)?"
    r"(?:system\s+prompt|instructions|prompt|rules you were given)", _I)
_TOOL = _led(
    "ceiru",
    r"\b(?:call|use|run|invoke|execute)\s+(?:the\s+)?(?:tool\s+|function\s+)?[`'\"]?"
    r"([a-z][a-z0-9_]*)[`'\"]?(?:\s+tool)?(?:\s+(?:with|using)\s+(\{.*?\}|[^\n]*?)"
    r"(?=\.(?:\s|$)|[\n\"]|[,;]\s*(?:and\s+)?then\s|$))?", _I)
_ACCOUNT = r"([A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30}|\d{6,17})"
_SET_FIELD = _led(
    "cmsu",
    r"\b(?:set|change|update|use|make)\s+(?:the\s+)?(?:payment\s+|invoice\s+)?"
    r"(amount|total|payee account|payee|iban|bank account|account number|account)"
    r"\s+(?:to|=|:|as)?\s*(?:USD|EUR|GBP|\$|€|£)?\s*"
    r"([A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30}|\d[\d,]*(?:\.\d+)?)", _I)
_REDIRECT = _led(
    "prstw",
    r"\b(?:pay|send|transfer|wire|remit|route)\s+(?:the\s+)?(?:payment|funds|money|it|"
    r"this)?\s*(?:to|into)\s+(?:the\s+)?(?:new\s+)?(?:account|iban|bank account)?\s*"
    r"(?:number\s+)?" + _ACCOUNT, _I)
_RISK = _led(
    "fr",
    r"\b(?:risk|fraud)(?:\s+(?:score|level|rating))?\s+(?:is|should be|=|must be|to)\s+"
    r"(low|none|zero|minimal|0(?:\.\d+)?)", _I)

_AUTHORITY = _led(
    "acdfmops",
    r"\b(?:system|admin(?:istrator)?|ceo|cfo|controller|compliance(?: team)?|finbot team|"
    r"security team|developer|supervisor|management|authori[sz]ed|override|policy update|"
    r"official)\b", _I)
_FORMATTING = re.compile(
    r"(?:^|\n)\s*(?:system|assistant|instruction)s?\s*:|###|\[/?INST\]|<\|[a-z_]+\|>|"
    r"\bignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|other) "
    r"(?:instructions|rules|guidelines)|\bnew instructions\b|\bIMPORTANT\b|"
    r"\bdisregard\b|\bforget (?:your|all|previous)", _I)
_URGENCY = _led("adirtuw", r"\b(?:urgent(?:ly)?|immediately|asap|right now|time[- ]critical|"
                      r"deadline|without delay)\b", _I)


_LEADS = _led(
    "acdefimoprstuw",
    r"\b(?:approve|reject|escalate|set|change|mark|pre-?approved|already|auto-?approve|"
    r"confidence|reveal|print|show|repeat|output|display|tell|what|share|include|call|use|"
    r"run|invoke|execute|update|make|pay|send|transfer|wire|remit|route|risk|fraud)", _I)
"""Each directive pattern's first word without its closing boundary, so a text none of
them starts in holds no directive (the scan of most data stops at this one search)."""


def find_directives(text: str, *, tools: frozenset[str] = frozenset()) -> list[Directive]:
    """Every directive in ``text``, each with its strength (see the module docstring)."""
    return list(_scan(text, tools))


@for_short_texts(maxsize=4096)
def _scan(text: str, tools: frozenset[str]) -> tuple[Directive, ...]:
    if _LEADS.search(text) is None:
        return ()
    found = _outcomes(text) + _others(text, tools)
    if not found:
        return ()
    cues = (bool(_AUTHORITY.search(text)) + bool(_FORMATTING.search(text))
            + bool(_URGENCY.search(text)))
    return tuple(Directive(kind, value, argument, 1 + cues, quote)
                 for kind, value, argument, quote in found)


def _outcomes(text: str) -> list[tuple[DirectiveKind, str, str, str]]:
    found: list[tuple[DirectiveKind, str, str, str]] = []
    for match in _OUTCOME.finditer(text):
        word = (match.group(1) or match.group(2)).lower()
        found.append(("outcome", _OUTCOMES[word[:4]], "", _quote(text, match)))
    found += [("outcome", "approve", "", _quote(text, m)) for m in _PREAPPROVED.finditer(text)]
    return found


_OUTCOMES = {"appr": "approve", "reje": "reject", "esca": "escalate"}


def _others(text: str, tools: frozenset[str]) -> list[tuple[DirectiveKind, str, str, str]]:
    found: list[tuple[DirectiveKind, str, str, str]] = []
    found += [("confidence", m.group(1), "", _quote(text, m)) for m in _CONFIDENCE.finditer(text)]
    found += [("reveal", "system_prompt", "", _quote(text, m)) for m in _REVEAL.finditer(text)]
    found += [("tool", m.group(1), (m.group(2) or "").strip(), _quote(text, m))
              for m in _TOOL.finditer(text) if m.group(1) in tools]
    found += [("field", _field_name(m.group(1)), m.group(2).strip(), _quote(text, m))
              for m in _SET_FIELD.finditer(text)]
    found += [("field", "payee_account", m.group(1).strip(), _quote(text, m))
              for m in _REDIRECT.finditer(text)]
    found += [("risk", "low", "", _quote(text, m)) for m in _RISK.finditer(text)]
    return found


def _field_name(named: str) -> str:
    return "amount" if named.lower() in ("amount", "total") else "payee_account"


_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n")


def _quote(text: str, match: re.Match[str]) -> str:
    """The sentence around a match, whole words only, at most ~160 characters."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, match.start())]
    start = max(ends[-1] if ends else 0, match.start() - 80)
    after = _SENTENCE_END.search(text, match.end())
    stop = min(after.start() + 1 if after else len(text), match.end() + 80)
    return " ".join(text[start:stop].split())


def obeyed(directives: list[Directive], gullibility: Gullibility) -> list[Directive]:
    """The directives this model follows, strongest first (ties: first found)."""
    threshold = gullibility.threshold
    if threshold is None:
        return []
    chosen: dict[tuple[str, str], Directive] = {}
    for directive in sorted(directives, key=lambda d: -d.strength):
        if directive.strength >= threshold:
            chosen.setdefault((directive.kind, directive.value), directive)
    return list(chosen.values())
