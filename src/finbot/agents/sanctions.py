"""Screening names against a sanctions list published in OFAC's SDN.CSV / ALT.CSV format.

Names are compared as keys: transliterated to ASCII, case-folded, without punctuation or
legal-form words, words sorted. So "Мухаммад", "Müller", "Karim Rahimi" and "Volkov
Holdings Ltd." meet their listed spellings. The list's keys are built once, when loaded.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Literal

from anyascii import anyascii
from rapidfuzz import fuzz, process

from finbot.agents.kyb import Finding
from finbot.domain.errors import InvalidInput

PartyKind = Literal["individual", "entity", "vessel", "aircraft"]

DEFAULT_THRESHOLD = 88.0
"""A screening score from which a name is reported as a possible match."""
REJECT_SCORE = 95.0
"""A score from which a match rejects outright rather than escalating to a person."""
PARTIAL_NAME_CAP = 94.0
"""The highest score a match on an individual's first and last name alone may reach: with
middle names missing, a person must compare dates of birth, so it escalates."""

_KINDS: dict[str, PartyKind] = {"": "entity", "individual": "individual",
                                "vessel": "vessel", "aircraft": "aircraft"}
_NOISE_WORDS = frozenset({
    "llc", "ltd", "limited", "inc", "incorporated", "co", "company", "corp", "corporation",
    "gmbh", "ag", "sa", "plc", "bv", "nv", "llp", "lp", "kg", "srl", "spa", "sarl", "sas",
    "ltda", "pty", "pvt", "oy", "kft", "ooo", "oao", "zao", "pao", "jsc", "ojsc", "cjsc",
    "pjsc", "ao", "fze", "fzco", "and", "the",
})
"""Legal forms and joining words: "Global Trading LLC" is "GLOBAL TRADING CO"."""
_JOINED = re.compile(r"[.'`]")  # "L.L.C." is "llc" and "O'Neil" is "oneil", not two words
_SEPARATORS = re.compile(r"[\W_]+")
_PROGRAM_SEPARATORS = re.compile(r"[\];]")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class SanctionedParty:
    """One listed entry: who or what is sanctioned, under which programs, and other names."""

    entry_id: int
    name: str
    kind: PartyKind
    programs: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """A listed party whose name or alias resembles a screened name, with the score."""

    party: SanctionedParty
    matched_name: str
    score: float

    def as_finding(self) -> Finding:
        """The match as a failed screening finding: reject from REJECT_SCORE, else escalate."""
        party, via = self.party, ("its listed name" if self.matched_name == self.party.name
                                  else f"its alias {self.matched_name!r}")
        return Finding.failing(
            "sanctions_screening", "reject" if self.score >= REJECT_SCORE else "escalate",
            f"name resembles the sanctioned {party.kind} {party.name!r} (SDN entry "
            f"{party.entry_id}, programs {', '.join(party.programs) or 'not given'}) through "
            f"{via}, score {self.score:.0f} of 100")


def parse_sdn(text: str, *, aliases: str | None = None) -> list[SanctionedParty]:
    """The parties in an SDN.CSV text, with the names of an ALT.CSV text as their aliases.

    Raises InvalidInput naming the line of the first malformed row."""
    parties: dict[int, SanctionedParty] = {}
    for line, row in _rows(text, columns=12, field="sdn"):
        party = _party(line, row)
        if party.entry_id in parties:
            raise InvalidInput(f"line {line}: entry {party.entry_id} is listed twice",
                               field="sdn")
        parties[party.entry_id] = party
    names = _aliases(aliases, parties) if aliases else {}
    return [replace(p, aliases=tuple(names.get(p.entry_id, ()))) for p in parties.values()]


def _rows(text: str, *, columns: int, field: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            # OFAC ends its files with a Ctrl-Z line; blank lines carry nothing either.
            if not any(cell.strip(" \x1a") for cell in row):
                continue
            if len(row) != columns:
                raise InvalidInput(f"line {reader.line_num}: expected {columns} columns, "
                                   f"found {len(row)}", field=field)
            yield reader.line_num, [_value(cell) for cell in row]
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: {error}", field=field) from error


def _value(cell: str) -> str:
    value = cell.strip()
    return "" if value == "-0-" else value


def _entry_id(line: int, value: str, field: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise InvalidInput(f"line {line}: ent_num {value!r} is not an integer", field=field)
    return int(value)


def _party(line: int, row: list[str]) -> SanctionedParty:
    entry_id, name, kind = _entry_id(line, row[0], "sdn"), row[1], _KINDS.get(row[2].lower())
    if not name:
        raise InvalidInput(f"line {line}: entry {entry_id} has no name", field="sdn")
    if kind is None:
        raise InvalidInput(f"line {line}: unknown SDN_Type {row[2]!r}", field="sdn")
    programs = (p.strip(" [") for p in _PROGRAM_SEPARATORS.split(row[3]))
    return SanctionedParty(entry_id, name, kind, tuple(p for p in programs if p))


def _aliases(text: str, parties: dict[int, SanctionedParty]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    for line, row in _rows(text, columns=5, field="aliases"):
        entry_id = _entry_id(line, row[0], "aliases")
        if entry_id not in parties:
            raise InvalidInput(f"line {line}: alias of unknown entry {entry_id}",
                               field="aliases")
        if not row[3]:
            raise InvalidInput(f"line {line}: alias {row[1]} has no name", field="aliases")
        names.setdefault(entry_id, []).append(row[3])
    return names


def name_key(name: str) -> str:
    """``name`` as screening compares it: ASCII, case-folded, without punctuation, legal
    forms or joining words, words sorted ("Müller & Co. GmbH" becomes "muller")."""
    words = _SEPARATORS.sub(" ", _JOINED.sub("", anyascii(name).casefold())).split()
    return " ".join(sorted([w for w in words if w not in _NOISE_WORDS] or words))


def _keys(party: SanctionedParty, listed: str) -> Iterator[tuple[str, float]]:
    """Each key a listed name is found by, with the highest score it may give."""
    yield name_key(listed), 100.0
    last, comma, given = listed.partition(",")
    if party.kind == "individual" and comma and len(given.split()) > 1:
        yield name_key(f"{given.split()[0]} {last}"), PARTIAL_NAME_CAP


class SanctionsList:
    """A sanctions list ready for screening: every listed name's key is computed once."""

    def __init__(self, parties: Iterable[SanctionedParty]) -> None:
        self.parties = tuple(parties)
        found_by = [(index, listed, key, cap)
                    for index, party in enumerate(self.parties)
                    for listed in (party.name, *party.aliases)
                    for key, cap in _keys(party, listed) if key]
        self._keys = [key for _, _, key, _ in found_by]
        self._names = [(index, listed, cap) for index, listed, _, cap in found_by]

    def __len__(self) -> int:
        return len(self.parties)

    def screen(self, name: str, *, threshold: float = DEFAULT_THRESHOLD,
               limit: int = 3) -> list[Match]:
        """Up to ``limit`` listed parties whose name or an alias scores ``threshold`` or
        more against ``name``, best first, each party once at its best score."""
        key = name_key(name)
        if not key:
            raise InvalidInput("a name to screen needs letters or digits", field="name")
        # fuzz.ratio on word-sorted keys is token_sort_ratio without sorting again per
        # comparison. Not WRatio or token_set_ratio: they score a name contained in a longer
        # one at 90 or 100 (partial or subset match), so a vendor named "Trading" would hit
        # every "... TRADING" on the list. The plain ratio charges for each differing word
        # by its length.
        hits = process.extract(key, self._keys, scorer=fuzz.ratio, processor=None,
                               score_cutoff=threshold, limit=None)
        best: dict[int, Match] = {}
        for _, score, at in sorted(hits, key=lambda hit: (-hit[1], hit[2])):
            index, listed, cap = self._names[at]
            capped = min(score, cap)
            if capped >= threshold and (index not in best or capped > best[index].score):
                best[index] = Match(self.parties[index], listed, capped)
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.party.entry_id))
        return ranked[:limit]


def screen_finding(sanctions: SanctionsList, name: str, *,
                   threshold: float = DEFAULT_THRESHOLD) -> Finding:
    """The screening of ``name`` as one finding: the best match, or a passed check."""
    try:
        matches = sanctions.screen(name, threshold=threshold)
    except InvalidInput as error:
        return Finding.failing("sanctions_screening", "escalate", error.message)
    if not matches:
        return Finding.passing("sanctions_screening",
                               f"no listed name scores {threshold:.0f} or more")
    finding = matches[0].as_finding()
    if len(matches) > 1:
        others = ", ".join(repr(m.party.name) for m in matches[1:])
        finding = replace(finding, detail=f"{finding.detail}; also similar: {others}")
    return finding


def sample_parties() -> list[SanctionedParty]:
    """The parties of the sample list shipped in ``finbot.agents.data``, for demos, tests
    and until a real list is imported. Every one is made up; production imports OFAC's
    published SDN.CSV and ALT.CSV."""
    return list(_sample())


def load_sample() -> SanctionsList:
    """The shipped sample list, ready for screening."""
    return SanctionsList(_sample())


@lru_cache(maxsize=1)
def _sample() -> tuple[SanctionedParty, ...]:
    data = resources.files("finbot.agents.data")
    return tuple(parse_sdn(data.joinpath("sdn_sample.csv").read_text(encoding="utf-8"),
                           aliases=data.joinpath("alt_sample.csv").read_text(encoding="utf-8")))
