"""The arena's read-only pages: the trail of the player's attempt at a challenge (what each
agent saw, what it did, what the gate did; the tool calls; the findings; newest first) and
the scoreboard. A trail is the attacker's own text read back: the templates escape all of
it, and structured values are shown as indented JSON text, never as markup."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from finbot.arena.scoring import BADGES
from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.entrypoints.web.arena import LABELS, PLAYED_ON, facts_of, own_sandbox
from finbot.entrypoints.web.portal import page, templates

router = APIRouter(include_in_schema=False)


def pretty(value: Any) -> str:
    """``value`` as indented JSON text, a JSON document in a string too (the template
    escapes the result like any other text)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if not isinstance(parsed, dict | list):
            return value
        value = parsed
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


templates.env.filters["pretty"] = pretty


@router.get("/arena/challenges/{challenge_id}", dependencies=[Depends(limited("default"))])
def trail_page(request: Request, challenge_id: str, who: Auth, web: WebDep) -> HTMLResponse:
    """The challenge and, once started, the attempt's trail, newest first."""
    who.require(Permission.ARENA_PLAY)
    play = web.app.arena_play
    challenge = play.challenge(challenge_id)
    [entry] = [e for e in play.board(who) if e.challenge.id == challenge.id]
    sandbox = own_sandbox(web, who)
    trail = play.trail(who, challenge_id) if entry.play else None
    return page(request, "arena_trail.html", who, entry=entry, challenge=challenge,
                facts=facts_of(entry, sandbox.mode if sandbox else None), labels=LABELS,
                played_on=PLAYED_ON, sandbox=sandbox, trail=_newest_first(trail))


@router.get("/arena/scoreboard", dependencies=[Depends(limited("default"))])
def scoreboard_page(request: Request, who: Auth, web: WebDep) -> HTMLResponse:
    """Players by score with their badges, and what each badge is for."""
    who.require(Permission.ARENA_PLAY)
    return page(request, "arena_scoreboard.html", who,
                standings=web.app.arena_play.scoreboard(limit=100),
                badges={name: why for name, (why, _) in BADGES.items()})


def _newest_first(trail: dict[str, Any] | None) -> dict[str, Any] | None:
    if trail is None:
        return None
    return {**trail, "decisions": trail["decisions"][::-1],
            "tool_calls": sorted(trail["tool_calls"], key=lambda c: -c["at_us"]),
            "findings": sorted(trail["findings"], key=lambda f: -f["at_us"])}
