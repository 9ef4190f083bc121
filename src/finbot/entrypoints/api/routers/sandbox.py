"""An arena player's sandbox: opened (and seeded) once, shown, reset to a new generation,
exported whole. Only the player's own sandbox is ever reachable: there is no sandbox id
in any path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from finbot.domain.sandboxes import Sandbox, SandboxMode
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.services.arena_tools import ArenaTools
from finbot.services.sandboxes import SandboxService

router = APIRouter(prefix="/api/arena/sandbox", tags=["arena"],
                   dependencies=[Depends(limited("default"))])


class SandboxPublic(BaseModel):
    tenant: str
    mode: str
    generation: int
    vendor_ids: list[str]
    created_at_us: int
    reset_at_us: int | None

    @classmethod
    def of(cls, sandbox: Sandbox) -> SandboxPublic:
        return cls(tenant=sandbox.tenant, mode=sandbox.mode.value,
                   generation=sandbox.generation, vendor_ids=list(sandbox.vendor_ids()),
                   created_at_us=sandbox.created_at_us, reset_at_us=sandbox.reset_at_us)


def sandbox_service(web: WebDep) -> SandboxService:
    app = web.app
    return SandboxService(app.uow, app.ledger, app.vendor_work,
                          ArenaTools(app.uow, app.outbox), home_tenant=app.settings.home_tenant)


@router.get("")
def show_sandbox(who: Auth, web: WebDep) -> SandboxPublic:
    """The caller's sandbox (404 until opened)."""
    return SandboxPublic.of(sandbox_service(web).get(who))


@router.post("", dependencies=[Depends(limited("upload"))])
async def open_sandbox(who: Auth, web: WebDep) -> SandboxPublic:
    """Open the caller's sandbox, seeded with its own money, vendors and tools; the same
    one if it is open already."""
    return SandboxPublic.of(await run_in_threadpool(sandbox_service(web).open, who))


@router.post("/reset", dependencies=[Depends(limited("upload"))])
async def reset_sandbox(who: Auth, web: WebDep) -> SandboxPublic:
    """Start a new generation: fresh vendors, the bank topped back up, the tools re-seeded;
    the old generation stays on the record (nothing is deleted)."""
    return SandboxPublic.of(await run_in_threadpool(sandbox_service(web).reset, who))


class ModeSwitch(BaseModel):
    mode: SandboxMode


@router.post("/mode", dependencies=[Depends(limited("upload"))])
async def switch_mode(who: Auth, web: WebDep, body: ModeSwitch) -> SandboxPublic:
    """Switch the sandbox between ``governed`` (the production gate) and ``training``
    (soft and selected hard guardrails waived, so a manipulated agent really moves sandbox
    money); decisions made from now on are made in the new mode."""
    return SandboxPublic.of(await run_in_threadpool(sandbox_service(web).switch, who,
                                                    body.mode))


@router.get("/export")
def export_sandbox(who: Auth, web: WebDep) -> dict[str, Any]:
    """Everything of the caller's sandbox as one JSON document."""
    return sandbox_service(web).export(who)
