"""A player's attempt at a challenge: started once its prerequisites are solved, hints
opened one at a time (each costs points), and the two facts an attack is judged by kept
apart — *agent manipulated* and *money moved in violation of policy* — each with when,
on what and in which sandbox mode it was seen. Pure rules; the play service stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from finbot.arena.challenges import Challenge
from finbot.arena.defence import Measured
from finbot.arena.evaluators import Fact, meets
from finbot.domain.errors import Conflict, InvalidInput

ARENA_FEED = "arena"
"""The tenant of the arena's public activity (solves): every player's browser hears it.
Not a sandbox tenant (those are ``arena:<player>``), and it holds nothing else."""


@dataclass(frozen=True)
class Seen:
    """One fact as a play keeps it: when, on what (a decision, payment, vendor or tool call
    id), in which sandbox mode, and what it was."""

    at_us: int
    subject: str
    mode: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"at_us": self.at_us, "subject": self.subject, "mode": self.mode,
                "detail": self.detail}

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Seen | None:
        if not value:
            return None
        return cls(int(value["at_us"]), str(value["subject"]), str(value["mode"]),
                   str(value["detail"]))


@dataclass(frozen=True)
class Play:
    player_id: str
    challenge_id: str
    started_at_us: int
    hints_opened: int = 0
    manipulated: Seen | None = None
    money: Seen | None = None
    solved_at_us: int | None = None
    points: int = 0
    first_blood: bool = False
    defence: Mapping[str, Any] | None = None
    """A defence's best guardrail so far: what it was (a rule, or a webhook's URL) and
    how it measured (``defence.Measured.as_dict``)."""

    @property
    def solved(self) -> bool:
        return self.solved_at_us is not None

    @property
    def shares(self) -> tuple[float | None, float | None]:
        """A defence's (blocked, let_through) as scored; (None, None) for an attack."""
        measured = (self.defence or {}).get("measured") or {}
        return measured.get("blocked"), measured.get("let_through")


def check_startable(challenge: Challenge, solved: Collection[str]) -> None:
    """Refuse a challenge whose prerequisites are not all solved yet, naming them."""
    missing = [p for p in challenge.prerequisites if p not in solved]
    if missing:
        raise Conflict(f"solve {', '.join(missing)} first", field="challenge_id")


def with_hint(play: Play, challenge: Challenge) -> Play:
    """``play`` with its next hint opened; InvalidInput when every hint is open or the
    challenge is solved (a hint after the solve would only cost points)."""
    if play.solved:
        raise Conflict("the challenge is solved: no hint can help now", field="hint")
    if play.hints_opened >= len(challenge.hints):
        raise InvalidInput(f"challenge {challenge.id} has no more hints", field="hint")
    return replace(play, hints_opened=play.hints_opened + 1)


def observed(play: Play, challenge: Challenge, facts: Collection[Fact], *, at_us: int,
             mode: str) -> Play:
    """``play`` with the first sighting of each of its challenge's facts among ``facts``
    (later sightings change nothing)."""
    rule = challenge.solved_when
    manipulated, money = play.manipulated, play.money
    if manipulated is None and (fact := meets("manipulated", rule.manipulated,
                                              challenge.agent, facts)):
        manipulated = Seen(at_us, fact.subject, mode, fact.detail)
    if money is None and (fact := meets("money", rule.money, challenge.agent, facts)):
        money = Seen(at_us, fact.subject, mode, fact.detail)
    return replace(play, manipulated=manipulated, money=money)


def complete(play: Play, challenge: Challenge, *, detected: bool) -> bool:
    """Whether an attack's play has every fact its challenge asks for: the manipulation,
    the money effect if it names one, and no detector hit if it must go undetected.
    A defence is judged on its guardrail, never by these facts."""
    rule = challenge.solved_when
    if challenge.category != "attack" or play.solved or play.manipulated is None:
        return False
    if rule.money is not None and play.money is None:
        return False
    return not (rule.undetected and detected)


def defended(play: Play, challenge: Challenge, guardrail: Mapping[str, Any],
             measured: Measured, *, at_us: int, points: Callable[[Play], int]) -> Play:
    """``play`` after a guardrail was measured (``points`` scores a play): solved the
    first time a guardrail clears the bar; once solved, a guardrail is kept only when it
    scores better than the best so far; before that, the latest one is kept."""
    if challenge.category != "defence":
        raise InvalidInput(f"challenge {challenge.id} is an attack: it is solved by what the "
                           "agents do, not by a guardrail", field="challenge_id")
    tried = replace(play, defence={"guardrail": dict(guardrail),
                                   "measured": measured.as_dict()},
                    solved_at_us=play.solved_at_us or (at_us if measured.solves else None))
    if not tried.solved:
        return tried
    tried = replace(tried, points=points(tried))
    return tried if not play.solved or tried.points > play.points else play
