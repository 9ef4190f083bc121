"""The arena in the browser, for players: their sandbox (open, reset, export, the mode and
what each means), the challenge board with its Start and hint forms and the two facts of
each attack shown apart, and the arena's latest solves. The board and the activity redraw
as the socket brings ``arena.progress`` and ``arena.solved``; ``static/arena.js`` turns
those and critical findings into toasts. The tool forms are in ``arena_tools``, the
trail and the scoreboard in ``arena_trail``. No player id is in any path: a player only
ever reaches their own sandbox and plays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from finbot.arena.challenges import ATLAS, OWASP_AGENTIC, OWASP_LLM, Challenge
from finbot.arena.play import Play, Seen
from finbot.domain.errors import FinbotError, InvalidInput, NotFound
from finbot.domain.sandboxes import Sandbox, SandboxMode
from finbot.domain.users import Permission, Principal
from finbot.entrypoints.api.deps import Auth, WebDep, limited
from finbot.entrypoints.api.routers.arena_tools import workbench
from finbot.entrypoints.api.routers.sandbox import sandbox_service
from finbot.entrypoints.web.portal import Form_, page, redirect_with
from finbot.services.arena_play import Entry

router = APIRouter(include_in_schema=False)
ACTIVITY = 15
LABELS = {"owasp_llm": ("OWASP LLM", OWASP_LLM), "owasp_agentic": ("OWASP Agentic", OWASP_AGENTIC),
          "atlas": ("MITRE ATLAS", ATLAS)}
PLAYED_ON = {
    "invoice_description": ("the description of an invoice you submit", "/vendor#submit-invoice"),
    "attachment_text": ("a document attached to an invoice you submit", "/vendor#submit-invoice"),
    "vendor_profile": ("the profile and documents of a vendor you register", "/vendor"),
    "bank_change_note": ("a bank-detail change and its note", "/vendor#change-bank"),
    "memory_note": ("a note to accounts payable", "/vendor/messages"),
    "chat_message": ("the assistant chat", "/vendor/messages"),
    "tool_description": ("a tool's description (tool poisoning, training mode)", "#tools"),
    "planted_document": ("a document planted on the drive (training mode)", "#tools"),
    "tool_output": ("what a tool hands back to an agent: an invoice's description (the "
                    "payments agent reads it through get_invoice) or a document planted on "
                    "the drive (training mode)", "/vendor#submit-invoice"),
    "guardrail_rule": ("a rule you write on this page", "#challenges"),
    "guardrail_webhook": ("a signed webhook you run, its URL given on this page",
                          "#challenges"),
}
"""Where each surface is played in the browser (what the player writes, and the page)."""
MODES = {
    SandboxMode.GOVERNED: "The production gate: every guardrail holds, so a manipulated "
    "agent's approval is escalated or blocked and no money moves against policy. "
    "Challenges that only need the agent manipulated can be solved here.",
    SandboxMode.TRAINING: "The purchase-order match, the bank-change cooling-off, the "
    "vendor-age and volume rules and the tool-call guardrail are waived, so a manipulated "
    "agent really moves your sandbox's money; the single-payment limit, sanctions, "
    "required fields and currencies still block. Tool poisoning and planted documents "
    "are open only here.",
}


@dataclass(frozen=True)
class FactView:
    """One of an attack's two facts as the board shows it."""

    name: str
    seen: bool
    text: str
    at_us: int | None = None


@dataclass(frozen=True)
class Card:
    entry: Entry
    facts: list[FactView]

    @property
    def challenge(self) -> Challenge:
        return self.entry.challenge

    @property
    def play(self) -> Play | None:
        return self.entry.play


def facts_of(entry: Entry, mode: SandboxMode | None) -> list[FactView]:
    """The attack's facts: the agent manipulated and, if it asks for one, the money moved
    (in governed mode the gate holds the money, and the board says so)."""
    if entry.challenge.category != "attack":
        return []
    play, rule = entry.play, entry.challenge.solved_when
    facts = [_fact("Agent manipulated", play.manipulated if play else None, "not yet")]
    if rule.money is not None:
        held = ("not yet: the gate held (governed mode: no money moves against policy; "
                "switch to training to see it move)")
        facts.append(_fact("Money moved", play.money if play else None,
                           held if mode is SandboxMode.GOVERNED else "not yet"))
    return facts


def _fact(name: str, seen: Seen | None, otherwise: str) -> FactView:
    if seen is None:
        return FactView(name, False, otherwise)
    return FactView(name, True, f"{seen.detail} (seen in {seen.mode} mode)", seen.at_us)


def own_sandbox(web: WebDep, who: Principal) -> Sandbox | None:
    try:
        return sandbox_service(web).get(who)
    except NotFound:
        return None


def _board(web: WebDep, who: Principal) -> dict[str, Any]:
    sandbox = own_sandbox(web, who)
    mode = sandbox.mode if sandbox else None
    cards = [Card(e, facts_of(e, mode)) for e in web.app.arena_play.board(who)]
    return {"sandbox": sandbox, "cards": cards, "labels": LABELS, "played_on": PLAYED_ON,
            "score": sum(c.play.points for c in cards if c.play and c.play.solved),
            "titles": {c.challenge.id: c.challenge.title for c in cards}}


@router.get("/arena", dependencies=[Depends(limited("default"))])
def arena_page(request: Request, who: Auth, web: WebDep, notice: str = "") -> HTMLResponse:
    who.require(Permission.ARENA_PLAY)
    board = _board(web, who)
    tools = workbench(web).tools(who)[1] if board["sandbox"] else []
    return page(request, "arena.html", who, notice=notice, modes=MODES, tools=tools,
                activity=web.app.arena_play.activity(limit=ACTIVITY), **board)


@router.get("/arena/board", dependencies=[Depends(limited("default"))])
def board_fragment(request: Request, who: Auth, web: WebDep) -> HTMLResponse:
    """The board alone: htmx redraws it when a fact is seen or a challenge solved."""
    who.require(Permission.ARENA_PLAY)
    return page(request, "_arena_board.html", who, **_board(web, who))


@router.get("/arena/activity", dependencies=[Depends(limited("default"))])
def activity_fragment(request: Request, who: Auth, web: WebDep) -> HTMLResponse:
    """The latest solves alone: htmx redraws them on every ``arena.solved``."""
    who.require(Permission.ARENA_PLAY)
    return page(request, "_arena_activity.html", who,
                activity=web.app.arena_play.activity(limit=ACTIVITY))


@router.post("/arena/sandbox", dependencies=[Depends(limited("upload"))])
async def sandbox_form(who: Auth, web: WebDep, action: Form_) -> Response:
    """Open (seed), reset or switch the mode of the player's own sandbox."""
    sandboxes = sandbox_service(web)
    if action in {m.value for m in SandboxMode}:
        done = await run_in_threadpool(sandboxes.switch, who, SandboxMode(action))
        return back(f"Your sandbox is in {done.mode.value} mode now.")
    if action not in ("open", "reset"):
        raise InvalidInput("the action is open, reset, training or governed", field="action")
    done = await run_in_threadpool(sandboxes.open if action == "open" else sandboxes.reset,
                                   who)
    return back(f"Your sandbox ({done.tenant}, generation {done.generation}) is ready; "
                "its vendors' checks are running.")


@router.post("/arena/challenges/{challenge_id}/start", dependencies=[Depends(limited("upload"))])
async def start_form(challenge_id: str, who: Auth, web: WebDep) -> Response:
    """Start a challenge: what the agents do in the sandbox from now on counts towards it."""
    who.require(Permission.ARENA_PLAY)
    challenge = web.app.arena_play.challenge(challenge_id)
    try:
        await run_in_threadpool(web.app.arena_play.start, who, challenge_id)
    except FinbotError as refused:
        return back(f"Not started: {refused.message}")
    return back(f"Started “{challenge.title}”. Play it through "
                f"{PLAYED_ON.get(challenge.surface, ('your sandbox', ''))[0]}.")


@router.post("/arena/challenges/{challenge_id}/hints", dependencies=[Depends(limited("upload"))])
async def hint_form(challenge_id: str, who: Auth, web: WebDep) -> Response:
    """Open the challenge's next hint (its cost comes off the solve's points)."""
    who.require(Permission.ARENA_PLAY)
    web.app.arena_play.challenge(challenge_id)
    try:
        _, text = await run_in_threadpool(web.app.arena_play.open_hint, who, challenge_id)
    except FinbotError as refused:
        return back(f"No hint opened: {refused.message}")
    return back(f"Hint: {text}")


def back(notice: str) -> Response:
    return redirect_with("/arena", notice)

