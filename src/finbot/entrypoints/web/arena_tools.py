"""The arena page's tool forms: rewrite a tool's description (tool poisoning) and plant a
document on the sandbox's drive. Both are open in training mode only; in governed mode the
page hides them and a post is answered with why, never carried out."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from finbot.domain.errors import FinbotError
from finbot.domain.users import Permission, Principal
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.entrypoints.api.routers.arena_tools import workbench
from finbot.entrypoints.web.arena import back
from finbot.entrypoints.web.portal import Form_

router = APIRouter(include_in_schema=False)


@router.post("/arena/tools/description", dependencies=[Depends(limited("upload"))])
async def poison_form(who: Auth, web: WebDep, tool: Form_, description: Form_) -> Response:
    """Rewrite ``tool``'s description in the player's sandbox."""
    def poison() -> str:
        view = workbench(web).poison(who, tool, description)
        return f"{view.spec.name} now shows your description to the agents."
    return await _carried_out(who, poison, "Not changed")


@router.post("/arena/tools/files", dependencies=[Depends(limited("upload"))])
async def plant_form(who: Auth, web: WebDep, path: Form_, text: Form_) -> Response:
    """Plant a document at ``path`` on the player's sandbox drive."""
    def plant() -> str:
        return f"Planted: {workbench(web).plant(who, path, text).summary}."
    return await _carried_out(who, plant, "Not planted")


async def _carried_out(who: Principal, work: Callable[[], str], refused: str) -> Response:
    """Back to the arena page saying what ``work`` did, or why it was refused."""
    who.require(Permission.ARENA_PLAY)
    try:
        return back(await run_in_threadpool(work))
    except FinbotError as error:
        return back(f"{refused}: {error.message}")
