"""Playing the arena: the challenge board, starting a challenge, opening its hints, the
trail of an attempt, the scoreboard and the arena's activity. A player only ever reaches
their own plays: no player id appears in any path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from finbot.adapters.webhooks import SIGNATURE_HEADER, SignedPoster
from finbot.arena.play import Play
from finbot.arena.scoring import BADGES
from finbot.domain.errors import InvalidInput
from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.services.arena_play import Entry

router = APIRouter(prefix="/api/arena", tags=["arena"],
                   dependencies=[Depends(limited("default"))])


class PlayPublic(BaseModel):
    started_at_us: int
    hints_opened: int
    manipulated: dict[str, Any] | None
    money: dict[str, Any] | None
    solved_at_us: int | None
    points: int
    first_blood: bool
    defence: dict[str, Any] | None

    @classmethod
    def of(cls, play: Play) -> PlayPublic:
        return cls(started_at_us=play.started_at_us, hints_opened=play.hints_opened,
                   manipulated=play.manipulated.as_dict() if play.manipulated else None,
                   money=play.money.as_dict() if play.money else None,
                   solved_at_us=play.solved_at_us, points=play.points,
                   first_blood=play.first_blood,
                   defence=dict(play.defence) if play.defence else None)


class ChallengePublic(BaseModel):
    id: str
    title: str
    category: str
    brief: str
    surface: str
    agent: str
    difficulty: str
    points: int
    labels: dict[str, list[str]]
    prerequisites: list[str]
    locked_by: list[str]
    hints: list[dict[str, Any]]
    solved_when: dict[str, Any]
    play: PlayPublic | None

    @classmethod
    def of(cls, entry: Entry) -> ChallengePublic:
        c = entry.challenge
        return cls(id=c.id, title=c.title, category=c.category, brief=c.brief,
                   surface=c.surface, agent=c.agent, difficulty=c.difficulty, points=c.points,
                   labels=c.labels.model_dump(), prerequisites=list(c.prerequisites),
                   locked_by=list(entry.locked_by), hints=entry.hints,
                   solved_when=c.solved_when.model_dump(exclude_none=True),
                   play=PlayPublic.of(entry.play) if entry.play else None)


class StandingPublic(BaseModel):
    rank: int
    player: str
    score: int
    solved: int
    badges: list[str]


class HintOpened(BaseModel):
    text: str
    play: PlayPublic


@router.get("/challenges")
def list_challenges(who: Auth, web: WebDep) -> list[ChallengePublic]:
    """Every challenge with the caller's play of it: hints' costs (texts once opened),
    what still locks it, the facts seen so far and the solve."""
    return [ChallengePublic.of(e) for e in web.app.arena_play.board(who)]


@router.post("/challenges/{challenge_id}/start", dependencies=[Depends(limited("upload"))])
async def start_challenge(challenge_id: str, who: Auth, web: WebDep) -> PlayPublic:
    """Start a challenge (409 naming the prerequisites still to solve); from now on what
    the agents do in the caller's sandbox counts towards it. Starting again is harmless."""
    return PlayPublic.of(await run_in_threadpool(web.app.arena_play.start, who, challenge_id))


@router.post("/challenges/{challenge_id}/hints", dependencies=[Depends(limited("upload"))])
async def open_hint(challenge_id: str, who: Auth, web: WebDep) -> HintOpened:
    """Open the challenge's next hint; its cost comes off the solve's points."""
    play, text = await run_in_threadpool(web.app.arena_play.open_hint, who, challenge_id)
    return HintOpened(text=text, play=PlayPublic.of(play))


class Guardrail(BaseModel):
    """A defence: a rule (``name``, ``any_of`` phrases, optional ``unless_any_of``) for a
    rule challenge, or the URL of the player's webhook for a webhook challenge."""

    rule: dict[str, Any] | None = None
    webhook_url: str | None = Field(default=None, max_length=2000)


class Defended(BaseModel):
    measured: dict[str, Any]
    play: PlayPublic


@router.post("/challenges/{challenge_id}/defence", dependencies=[Depends(limited("upload"))])
async def defend(challenge_id: str, who: Auth, web: WebDep, body: Guardrail) -> Defended:
    """Measure a guardrail on the challenge's attacks and legitimate cases: the shares it
    blocked and let through (with examples of its misses) and the play as kept (the best
    guardrail once solved)."""
    play_service = web.app.arena_play
    if (body.rule is None) == (body.webhook_url is None):
        raise InvalidInput("send a rule or a webhook_url, one of the two", field="rule")
    if body.rule is not None:
        play, measured = await run_in_threadpool(play_service.defend_with_rule, who,
                                                 challenge_id, body.rule)
    else:
        play, measured = await run_in_threadpool(play_service.defend_with_webhook, who,
                                                 challenge_id, str(body.webhook_url),
                                                 webhooks(web))
    return Defended(measured=measured.as_dict(), play=PlayPublic.of(play))


def webhooks(web: WebDep) -> Callable[[str, bytes], SignedPoster]:
    """How a player's guardrail webhook is reached: the URL checked against the
    deployment's SSRF policy, every request signed."""
    allow = web.app.settings.webhook_allow_private

    def connect(url: str, secret: bytes) -> SignedPoster:
        return SignedPoster(url, secret, allow_private=allow)
    return connect


@router.get("/challenges/{challenge_id}/webhook-secret")
def webhook_secret(challenge_id: str, who: Auth, web: WebDep) -> dict[str, str]:
    """The secret the caller's webhook verifies FinBot's ``X-FinBot-Signature`` with
    (HMAC-SHA256 of ``"<t>.<body>"``; refuse a timestamp older than five minutes)."""
    return {"secret": web.app.arena_play.webhook_secret(who, challenge_id),
            "header": SIGNATURE_HEADER}


@router.get("/challenges/{challenge_id}/trail")
def attempt_trail(challenge_id: str, who: Auth, web: WebDep,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    """The attempt's trail in the caller's sandbox: what each agent saw, what it did and
    what the gate did; the tool calls; the findings."""
    return web.app.arena_play.trail(who, challenge_id, limit=limit)


@router.get("/scoreboard")
def scoreboard(who: Auth, web: WebDep,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[StandingPublic]:
    """Players by score (the formula in ``arena.scoring``), best first, with badges."""
    who.require(Permission.ARENA_PLAY)
    return [StandingPublic(rank=n, player=name, score=s.score, solved=s.solved,
                           badges=s.badges)
            for n, (s, name) in enumerate(web.app.arena_play.scoreboard(limit=limit), 1)]


@router.get("/badges")
def badges(who: Auth) -> dict[str, str]:
    """Each badge and what earns it."""
    who.require(Permission.ARENA_PLAY)
    return {name: why for name, (why, _) in BADGES.items()}


@router.get("/activity")
def activity(who: Auth, web: WebDep,
             limit: Annotated[int, Query(ge=1, le=200)] = 30) -> list[dict[str, Any]]:
    """The latest solves across the arena, newest first."""
    who.require(Permission.ARENA_PLAY)
    return web.app.arena_play.activity(limit=limit)
