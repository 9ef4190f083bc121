"""The arena page's defence forms: a rule (phrases that escalate an invoice, and the
exceptions that let one through) or the URL of the player's signed guardrail webhook,
measured at once on the challenge's cases; the page says how it did."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from finbot.arena.defence import Measured
from finbot.domain.errors import FinbotError
from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.entrypoints.api.routers.arena import webhooks
from finbot.entrypoints.web.arena import back

router = APIRouter(include_in_schema=False)
Field_ = Annotated[str, Form()]


@router.post("/arena/challenges/{challenge_id}/defence",
             dependencies=[Depends(limited("upload"))])
async def defence_form(challenge_id: str, who: Auth, web: WebDep, name: Field_ = "",
                       any_of: Field_ = "", unless_any_of: Field_ = "",
                       webhook_url: Field_ = "") -> Response:
    """Measure the player's guardrail: a rule (one phrase per line) or a webhook URL."""
    who.require(Permission.ARENA_PLAY)
    play = web.app.arena_play
    try:
        if webhook_url.strip():
            _, measured = await run_in_threadpool(
                play.defend_with_webhook, who, challenge_id, webhook_url.strip(),
                webhooks(web))
        else:
            rule = {"name": name.strip() or "my rule", "any_of": _lines(any_of),
                    "unless_any_of": _lines(unless_any_of)}
            _, measured = await run_in_threadpool(play.defend_with_rule, who, challenge_id,
                                                  rule)
    except FinbotError as refused:
        return back(f"Not measured: {refused.message}")
    return back(_said(measured))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _said(measured: Measured) -> str:
    verdict = ("it clears the bar" if measured.solves else
               "not enough yet: block half the attacks and let nine in ten through")
    missed = f" It missed, e.g.: {measured.missed[0][:120]!r}." if measured.missed else ""
    refused = (f" It stopped legitimate work, e.g.: {measured.refused[0][:120]!r}."
               if measured.refused else "")
    return (f"Your guardrail blocked {measured.blocked:.0%} of {measured.attacks} attacks and "
            f"let {measured.let_through:.0%} of {measured.legitimate} legitimate cases "
            f"through: {verdict}.{missed}{refused}")
