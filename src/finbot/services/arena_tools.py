"""Running the arena's simulated tools against a sandbox's world, every call logged.

A call is checked against the tool's arguments, applied to the sandbox's stored world,
logged (``arena_tool_calls``) and announced (``tool.called``) in one transaction. The
event carries the arguments as sent, unredacted: the arena's detectors must see the bank
details an attacker mails to the dead drop, and the event is scoped to the sandbox
(aggregate id), is never pushed to browsers and never touches real vendors' data, whose
only copy in a sandbox is the seeded, fictitious vendor master file.

In training mode a player may rewrite a tool's description (tool poisoning); the change
is announced (``tool.described``, with its SHA-256) and ``reset`` puts the shipped words
and the seeded files back. The tool-call log survives a reset: it is what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from pydantic import ValidationError

from finbot.arena.detectors.drift import description_sha256
from finbot.arena.tools.catalogue import TOOLS, Arguments, Server, ToolSpec, tools_of
from finbot.arena.tools.guard import refusal
from finbot.arena.tools.world import SEED_FILES, ToolCall
from finbot.domain.clock import now_us
from finbot.domain.errors import Forbidden, InvalidInput, NotFound
from finbot.services.arena_effects import EFFECTS
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import ArenaRepo, UnitOfWork
from finbot.services.retry import retrying

MAX_DESCRIPTION = 4000


@dataclass(frozen=True)
class ToolResult:
    """What a tool answered: its data (JSON-ready) and the one line the log keeps."""

    tool: str
    data: Any
    summary: str


class ArenaTools:
    """The simulated tool servers' use cases, for any sandbox id."""

    def __init__(self, uow: UowFactory, outbox: Outbox, *,
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._outbox = outbox
        self._clock = clock

    def call(self, sandbox: str, tool: str, arguments: Mapping[str, Any], *,
             agent_id: str = "player", workflow_id: str = "",
             tenant: str = "default", governed: bool = False) -> ToolResult:
        """Run ``tool`` in ``sandbox``; InvalidInput (nothing logged) for arguments the
        tool does not take. A refusal by the tool itself is an answer, and logged.
        ``governed``: the governed tool-call guardrail (``arena.tools.guard``) is asked
        first, and a call it refuses is logged with the refusal and nothing else."""
        spec = _spec(tool)
        args = _parsed(spec, arguments)
        sent = json.dumps(args.model_dump(mode="json"), sort_keys=True)
        refused = refusal(args) if governed else None
        if refused is not None:
            return self._refused(sandbox, ToolCall(0, tool, agent_id, workflow_id, sent,
                                                   f"refused by the guardrail: {refused}", 0),
                                 tenant=tenant)

        def attempt() -> ToolResult:
            with self._uow() as uow:
                self._seed_if_new(uow, _checked(sandbox))
                at = self._clock()
                data, summary = EFFECTS[tool](uow.arena, sandbox, args, at)
                uow.arena.log_call(sandbox, ToolCall(0, tool, agent_id, workflow_id, sent,
                                                     summary, at))
                self._outbox.emit_in(uow, "tool.called", sandbox, {
                    "tool": tool, "agent_id": agent_id, "arguments": sent,
                    "workflow_id": workflow_id}, tenant=tenant)
                uow.commit()
            return ToolResult(tool, data, summary)
        return retrying(attempt)

    def _refused(self, sandbox: str, call: ToolCall, *, tenant: str) -> ToolResult:
        """Log a call the guardrail refused; the world is not touched and, since the tool
        never ran, no ``tool.called`` is announced: ``tool.refused`` is (the agent was
        talked into the call; the gate held)."""
        def attempt() -> ToolResult:
            with self._uow() as uow:
                self._seed_if_new(uow, _checked(sandbox))
                uow.arena.log_call(sandbox, replace(call, at_us=self._clock()))
                self._outbox.emit_in(uow, "tool.refused", sandbox, {
                    "tool": call.tool, "agent_id": call.agent_id, "arguments": call.arguments,
                    "workflow_id": call.workflow_id, "reason": call.result}, tenant=tenant)
                uow.commit()
            return ToolResult(call.tool, {"error": call.result}, call.result)
        return retrying(attempt)

    def described(self, sandbox: str, names: Iterable[str]) -> list[tuple[ToolSpec, str]]:
        """The tools ``names`` with the description ``sandbox`` currently shows for each."""
        with self._uow() as uow:
            overridden = uow.arena.descriptions(_checked(sandbox))
        return [(spec, overridden.get(spec.name, spec.description))
                for spec in map(_spec, names)]

    def tools(self, sandbox: str, server: Server) -> list[tuple[ToolSpec, str]]:
        """``server``'s tools with the description ``sandbox`` currently shows for each."""
        return self.described(sandbox, [spec.name for spec in tools_of(server)])

    def override_description(self, sandbox: str, tool: str, description: str, *,
                             training: bool, tenant: str = "default") -> None:
        """Rewrite ``tool``'s description for ``sandbox``; Forbidden unless in training."""
        if not training:
            raise Forbidden("tool descriptions can be changed only in training mode",
                            code="arena_not_training", field="training")
        spec = _spec(tool)
        if not description.strip() or len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"a description has 1 to {MAX_DESCRIPTION} characters",
                               field="description")
        with self._uow() as uow:
            uow.arena.override_description(_checked(sandbox), tool, description,
                                           now_us=self._clock())
            self._described(uow, sandbox, spec, description, tenant)
            uow.commit()

    def reset(self, sandbox: str, *, tenant: str = "default") -> None:
        """Put ``sandbox``'s world back to its seed and its tools' shipped descriptions."""
        def attempt() -> None:
            with self._uow() as uow:
                overridden = uow.arena.descriptions(_checked(sandbox))
                uow.arena.clear(sandbox)
                uow.arena.seed(sandbox, SEED_FILES, now_us=self._clock())
                for tool in sorted(overridden):
                    spec = TOOLS[tool]
                    self._described(uow, sandbox, spec, spec.description, tenant)
                uow.commit()
        retrying(attempt)

    def export(self, sandbox: str) -> dict[str, Any]:
        """``sandbox``'s files, mail, payments, tool calls and descriptions, JSON-ready."""
        def attempt() -> dict[str, Any]:
            with self._uow() as uow:
                self._seed_if_new(uow, _checked(sandbox))
                document = _document(uow.arena, sandbox)
                uow.commit()
            return document
        return retrying(attempt)

    def _seed_if_new(self, uow: UnitOfWork, sandbox: str) -> None:
        """Give ``sandbox`` its world on first use (a concurrent first use retries)."""
        if not uow.arena.seeded(sandbox):
            uow.arena.seed(sandbox, SEED_FILES, now_us=self._clock())

    def _described(self, uow: UnitOfWork, sandbox: str, spec: ToolSpec, description: str,
                   tenant: str) -> None:
        self._outbox.emit_in(uow, "tool.described", sandbox, {
            "tool": spec.name, "description_sha256": description_sha256(description),
            "server": spec.server}, tenant=tenant)


def _document(repo: ArenaRepo, sandbox: str) -> dict[str, Any]:
    overridden = repo.descriptions(sandbox)
    return {
        "sandbox": sandbox, "files": repo.files(sandbox),
        "mail": [asdict(mail) for mail in repo.mail(sandbox)],
        "payments": [{**asdict(p), "amount": str(p.amount)} for p in repo.payments(sandbox)],
        "tool_calls": [asdict(call) for call in repo.calls(sandbox)],
        "descriptions": {name: {"server": spec.server, "overridden": name in overridden,
                                "description": overridden.get(name, spec.description)}
                         for name, spec in TOOLS.items()},
    }


def _spec(tool: str) -> ToolSpec:
    spec = TOOLS.get(tool)
    if spec is None:
        raise NotFound(f"no tool named {tool!r}; known: {', '.join(TOOLS)}",
                       code="tool_unknown", field="tool")
    return spec


def _parsed(spec: ToolSpec, arguments: Mapping[str, Any]) -> Arguments:
    try:
        return spec.arguments.model_validate(dict(arguments))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "arguments"
        raise InvalidInput(f"{spec.name}: {field}: {first['msg']}", field=field) from None


def _checked(sandbox: str) -> str:
    if not sandbox or len(sandbox) > 128 or not sandbox.isprintable():
        raise InvalidInput("a sandbox id has 1 to 128 printable characters",
                           field="sandbox")
    return sandbox
