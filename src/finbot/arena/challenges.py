"""The arena's challenges, loaded from YAML and checked as a whole before anyone plays.

A challenge names the untrusted surface it is played through, the agent it targets, its
labels in three catalogues (OWASP Top 10 for LLM Applications 2025, OWASP Agentic AI
threats T1-T15, MITRE ATLAS), its difficulty and points, hints with what each costs, the
challenges to solve first, and what counts as solved. Attack challenges record two facts
apart: ``manipulated`` (the agent did what the attack asked) and ``money`` (the policy
violation the attack aims at, which in governed mode must never happen). Defence
challenges are solved by a guardrail that ``blocks`` a class of attacks and ``lets
through`` a class of legitimate work, and are scored on both.

The shipped catalogue is ``data/challenges.yaml``; ``load_challenges`` reads it or any
other file and refuses, naming the challenge and field, whatever would make the arena
unplayable: an unknown label, surface or agent, a prerequisite that does not exist or a
cycle of them, hints that cost the whole prize.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from finbot.arena.defence import CASES, GUARDRAILS
from finbot.arena.evaluators import MANIPULATED, MONEY
from finbot.domain.errors import InvalidInput

OWASP_LLM = {
    "LLM01": "Prompt Injection", "LLM02": "Sensitive Information Disclosure",
    "LLM03": "Supply Chain", "LLM04": "Data and Model Poisoning",
    "LLM05": "Improper Output Handling", "LLM06": "Excessive Agency",
    "LLM07": "System Prompt Leakage", "LLM08": "Vector and Embedding Weaknesses",
    "LLM09": "Misinformation", "LLM10": "Unbounded Consumption",
}
"""OWASP Top 10 for LLM Applications, 2025."""

OWASP_AGENTIC = {
    "T1": "Memory Poisoning", "T2": "Tool Misuse", "T3": "Privilege Compromise",
    "T4": "Resource Overload", "T5": "Cascading Hallucination Attacks",
    "T6": "Intent Breaking and Goal Manipulation", "T7": "Misaligned and Deceptive Behaviors",
    "T8": "Repudiation and Untraceability", "T9": "Identity Spoofing and Impersonation",
    "T10": "Overwhelming Human in the Loop", "T11": "Unexpected RCE and Code Attacks",
    "T12": "Agent Communication Poisoning", "T13": "Rogue Agents in Multi-Agent Systems",
    "T14": "Human Attacks on Multi-Agent Systems", "T15": "Human Manipulation",
}
"""OWASP Agentic AI, threats and mitigations."""

ATLAS = {
    "AML.T0050": "Command and Scripting Interpreter", "AML.T0051": "LLM Prompt Injection",
    "AML.T0051.000": "LLM Prompt Injection: Direct",
    "AML.T0051.001": "LLM Prompt Injection: Indirect", "AML.T0053": "LLM Plugin Compromise",
    "AML.T0054": "LLM Jailbreak", "AML.T0056": "Extract LLM System Prompt",
    "AML.T0057": "LLM Data Leakage", "AML.T0068": "LLM Prompt Obfuscation",
    "AML.T0070": "RAG Poisoning", "AML.M0015": "Adversarial Input Detection",
    "AML.M0019": "Control Access to ML Models and Data in Production",
}
"""The MITRE ATLAS techniques (T) and mitigations (M) the challenges name."""

Surface = Literal[
    "invoice_description", "attachment_text", "vendor_profile", "bank_change_note",
    "chat_message", "tool_output", "memory_note", "tool_description", "planted_document",
    "guardrail_rule", "guardrail_webhook"]
Agent = Literal["onboarding", "invoice", "fraud", "payments", "communication"]
Difficulty = Literal["easy", "medium", "hard"]


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owasp_llm: tuple[str, ...] = Field(min_length=1)
    owasp_agentic: tuple[str, ...] = Field(min_length=1)
    atlas: tuple[str, ...] = Field(min_length=1)

    @field_validator("owasp_llm", "owasp_agentic", "atlas")
    @classmethod
    def _known(cls, labels: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        catalogue = {"owasp_llm": OWASP_LLM, "owasp_agentic": OWASP_AGENTIC,
                     "atlas": ATLAS}[info.field_name or ""]
        unknown = [label for label in labels if label not in catalogue]
        if unknown:
            raise ValueError(f"unknown label(s) {', '.join(unknown)}")
        return labels


class Hint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=500)
    cost: int = Field(ge=0)


class SolvedWhen(BaseModel):
    """What counts as solved: for an attack, what the agent must be seen doing (and the
    money effect it aims at, if any); for a defence, the attacks its guardrail must block
    and the legitimate work it must let through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manipulated: str | None = None
    money: str | None = None
    undetected: bool = False
    blocks: str | None = None
    lets_through: str | None = None


class Challenge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")
    title: str = Field(min_length=1, max_length=120)
    category: Literal["attack", "defence"]
    brief: str = Field(min_length=1, max_length=2000)
    surface: Surface
    agent: Agent
    labels: Labels
    difficulty: Difficulty
    points: int = Field(gt=0, le=10_000)
    hints: tuple[Hint, ...] = ()
    prerequisites: tuple[str, ...] = ()
    solved_when: SolvedWhen

    @property
    def hint_budget(self) -> int:
        return sum(hint.cost for hint in self.hints)


MIN_CHALLENGES = 20


def load_challenges(path: Path | None = None) -> tuple[Challenge, ...]:
    """The challenges in ``path`` (the shipped catalogue by default), checked as a whole;
    InvalidInput naming the challenge and the field for anything unplayable."""
    text = path.read_text() if path else resources.files("finbot.arena").joinpath(
        "data/challenges.yaml").read_text()
    where = str(path) if path else "the shipped catalogue"
    try:
        rows = yaml.safe_load(text)
    except yaml.YAMLError as bad:
        raise InvalidInput(f"{where} is not YAML: {bad}", field="challenges") from None
    if not isinstance(rows, list):
        raise InvalidInput(f"{where} must be a list of challenges", field="challenges")
    challenges = tuple(_challenge(row, n, where) for n, row in enumerate(rows, start=1))
    check_catalogue(challenges)
    return challenges


@cache
def shipped_challenges() -> tuple[Challenge, ...]:
    return load_challenges()


def check_catalogue(challenges: Sequence[Challenge]) -> None:
    """The rules that hold between challenges: unique ids, prerequisites that exist and
    form no cycle, hints that leave something to win, what each category needs to be
    judged, and enough challenges to make an arena."""
    by_id: dict[str, Challenge] = {}
    for challenge in challenges:
        if challenge.id in by_id:
            raise InvalidInput(f"challenge id {challenge.id!r} is used twice", field="id")
        by_id[challenge.id] = challenge
    for challenge in challenges:
        _check_one(challenge, by_id)
    _refuse_cycles(by_id)
    if len(challenges) < MIN_CHALLENGES:
        raise InvalidInput(f"an arena needs at least {MIN_CHALLENGES} challenges, "
                           f"not {len(challenges)}", field="challenges")


def _challenge(row: object, n: int, where: str) -> Challenge:
    name = row.get("id", f"#{n}") if isinstance(row, Mapping) else f"#{n}"
    try:
        return Challenge.model_validate(row)
    except ValidationError as bad:
        first = bad.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}, challenge {name}: {field}: {first['msg']}",
                           field=field or "challenges") from None


def _check_one(challenge: Challenge, by_id: Mapping[str, Challenge]) -> None:
    said = f"challenge {challenge.id}"
    missing = [p for p in challenge.prerequisites if p not in by_id]
    if missing:
        raise InvalidInput(f"{said}: unknown prerequisite(s) {', '.join(missing)}",
                           field="prerequisites")
    if challenge.hint_budget >= challenge.points:
        raise InvalidInput(f"{said}: its hints cost {challenge.hint_budget}, the whole "
                           f"{challenge.points} points", field="hints")
    rule = challenge.solved_when
    if challenge.category == "attack" and rule.manipulated is None:
        raise InvalidInput(f"{said}: an attack is solved when the agent is manipulated; "
                           "say how (solved_when.manipulated)", field="solved_when")
    for kind, key, known in (("manipulated", rule.manipulated, MANIPULATED),
                             ("money", rule.money, MONEY)):
        if key is not None and key not in known:
            raise InvalidInput(f"{said}: solved_when.{kind} {key!r} is not a fact the arena "
                               f"observes (one of: {', '.join(sorted(known))})",
                               field="solved_when")
    for named in (rule.blocks, rule.lets_through):
        if named is not None and named not in CASES:
            raise InvalidInput(f"{said}: no case set named {named!r} (one of: "
                               f"{', '.join(sorted(CASES))})", field="solved_when")
    if challenge.category == "defence" and challenge.surface not in GUARDRAILS:
        raise InvalidInput(f"{said}: a defence is played through "
                           f"{' or '.join(sorted(GUARDRAILS))}", field="surface")
    if challenge.category == "defence" and (rule.blocks is None or rule.lets_through is None):
        raise InvalidInput(f"{said}: a defence names what it blocks and what it lets "
                           "through (solved_when.blocks, .lets_through)", field="solved_when")


def _refuse_cycles(by_id: Mapping[str, Challenge]) -> None:
    done: set[str] = set()

    def visit(challenge_id: str, path: tuple[str, ...]) -> None:
        if challenge_id in path:
            cycle = " -> ".join((*path[path.index(challenge_id):], challenge_id))
            raise InvalidInput(f"prerequisites go round in a circle: {cycle}",
                               field="prerequisites")
        if challenge_id in done:
            return
        for before in by_id[challenge_id].prerequisites:
            visit(before, (*path, challenge_id))
        done.add(challenge_id)

    for challenge_id in by_id:
        visit(challenge_id, ())
