"""The player's own sandbox's tool servers: every tool's current description, tool
poisoning (rewrite one) and a document planted on the drive, both in training mode only
(403 ``arena_not_training`` otherwise). No sandbox id in any path: only the caller's."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from finbot.arena.tools.catalogue import WriteFile
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.entrypoints.api.routers.sandbox import sandbox_service
from finbot.services.arena_tools import MAX_DESCRIPTION, ArenaTools
from finbot.services.arena_workbench import ToolView, Workbench

router = APIRouter(prefix="/api/arena/tools", tags=["arena"],
                   dependencies=[Depends(limited("default"))])


def workbench(web: WebDep) -> Workbench:
    return Workbench(sandbox_service(web), ArenaTools(web.app.uow, web.app.outbox))


class ToolPublic(BaseModel):
    name: str
    server: str
    description: str
    shipped_description: str
    overridden: bool

    @classmethod
    def of(cls, view: ToolView) -> ToolPublic:
        return cls(name=view.spec.name, server=view.spec.server,
                   description=view.description,
                   shipped_description=view.spec.description, overridden=view.overridden)


class ToolsPublic(BaseModel):
    mode: str
    tools: list[ToolPublic]


class DescriptionChange(BaseModel):
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)


class PlantedPublic(BaseModel):
    path: str
    result: str


@router.get("")
def list_tools(who: Auth, web: WebDep) -> ToolsPublic:
    """The sandbox's mode and every tool with the description its agents read now."""
    sandbox, views = workbench(web).tools(who)
    return ToolsPublic(mode=sandbox.mode.value, tools=[ToolPublic.of(v) for v in views])


@router.put("/{tool}/description", dependencies=[Depends(limited("upload"))])
async def poison_tool(tool: str, body: DescriptionChange, who: Auth, web: WebDep
                      ) -> ToolPublic:
    """Rewrite a tool's description in the caller's sandbox (tool poisoning); the drift
    detector sees it, and a reset puts the shipped words back."""
    return ToolPublic.of(await run_in_threadpool(workbench(web).poison, who, tool,
                                                 body.description))


@router.post("/files", status_code=201, dependencies=[Depends(limited("upload"))])
async def plant_document(body: WriteFile, who: Auth, web: WebDep) -> PlantedPublic:
    """Plant a document on the caller's sandbox drive; agents read the files filed with
    their case (``invoices/<invoice number>/…``, ``vendors/<vendor id>/…``)."""
    result = await run_in_threadpool(workbench(web).plant, who, body.path, body.text)
    return PlantedPublic(path=body.path, result=result.summary)
