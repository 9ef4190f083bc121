"""One scoring formula, used by every page, the leaderboard and the API alike.

- **Attack**: the challenge's points, less the cost of each hint the player opened; never
  less than a tenth of the points once solved (a solve always counts); the first player to
  solve a challenge (*first blood*) gets a tenth of its points more.
- **Defence**: the points scaled by the share of the attack class the guardrail blocked
  and by the square of the share of legitimate work it let through (a guardrail that
  blocks everything blocks business too, and scores nothing), less hint costs, never
  below zero.

Badges are earned by evaluators over a player's solves; the leaderboard orders players by
score, then by who got there first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from finbot.arena.challenges import Challenge
from finbot.domain.errors import InvalidInput

FLOOR = 0.1
FIRST_BLOOD = 0.1


@dataclass(frozen=True)
class Solve:
    """One challenge a player solved: how many of its hints they opened, whether they were
    first, when, and for a defence the shares its guardrail blocked and let through."""

    challenge: Challenge
    hints_opened: int = 0
    first_blood: bool = False
    at_us: int = 0
    blocked: float | None = None
    let_through: float | None = None


def score(solve: Solve) -> int:
    """The points ``solve`` is worth (see the module's formula)."""
    challenge = solve.challenge
    if not 0 <= solve.hints_opened <= len(challenge.hints):
        raise InvalidInput(f"challenge {challenge.id} has {len(challenge.hints)} hints, not "
                           f"{solve.hints_opened}", field="hints_opened")
    spent = sum(hint.cost for hint in challenge.hints[:solve.hints_opened])
    if challenge.category == "defence":
        if solve.blocked is None or solve.let_through is None:
            raise InvalidInput(f"challenge {challenge.id} is a defence: it is scored on "
                               "what it blocked and let through", field="blocked")
        for share in (solve.blocked, solve.let_through):
            if not 0.0 <= share <= 1.0:
                raise InvalidInput(f"a share is between 0 and 1, not {share}", field="blocked")
        earned = round(challenge.points * solve.blocked * solve.let_through ** 2)
        return max(0, earned - spent)
    earned = max(challenge.points - spent, round(challenge.points * FLOOR))
    return earned + (round(challenge.points * FIRST_BLOOD) if solve.first_blood else 0)


def _first_blood(solves: Sequence[Solve]) -> bool:
    return any(s.first_blood for s in solves)


def _no_hints(solves: Sequence[Solve]) -> bool:
    return sum(1 for s in solves if s.challenge.category == "attack"
               and s.hints_opened == 0) >= 3


def _prompt_thief(solves: Sequence[Solve]) -> bool:
    return sum(1 for s in solves if "AML.T0056" in s.challenge.labels.atlas) >= 2


def _red_and_blue(solves: Sequence[Solve]) -> bool:
    attacked = {label for s in solves if s.challenge.category == "attack"
                for label in s.challenge.labels.owasp_llm}
    return any(set(s.challenge.labels.owasp_llm) & attacked for s in solves
               if s.challenge.category == "defence")


def _every_agent(solves: Sequence[Solve]) -> bool:
    return {s.challenge.agent for s in solves} >= {
        "onboarding", "invoice", "fraud", "payments", "communication"}


BADGES: Mapping[str, tuple[str, Callable[[Sequence[Solve]], bool]]] = {
    "first-blood": ("First to solve a challenge", _first_blood),
    "no-hints": ("Three attacks solved without a hint", _no_hints),
    "prompt-thief": ("Two system prompts extracted", _prompt_thief),
    "red-and-blue": ("An attack and a defence against the same class", _red_and_blue),
    "every-agent": ("A challenge solved against each of the five agents", _every_agent),
}
"""Badge: (what it is for, its evaluator over a player's solves)."""


def badges(solves: Sequence[Solve]) -> list[str]:
    return [name for name, (_, earned) in BADGES.items() if earned(solves)]


@dataclass(frozen=True)
class Standing:
    player: str
    score: int
    solved: int
    badges: list[str]
    last_solve_us: int


def leaderboard(solves_by_player: Mapping[str, Sequence[Solve]]) -> list[Standing]:
    """Players by score, highest first; a tie goes to whoever reached it first."""
    standings = [Standing(player, sum(score(s) for s in solves), len(solves), badges(solves),
                          max((s.at_us for s in solves), default=0))
                 for player, solves in solves_by_player.items()]
    return sorted(standings, key=lambda s: (-s.score, s.last_solve_us, s.player))
