"""The arena's tools as the agents of a sandbox hold them: each agent gets the few its job
needs, beside its own read-only tools, and every call goes through ``ArenaTools`` (logged
with the agent and the workflow, announced as ``tool.called``).

A tool is offered with the description the sandbox shows *now*: a description is part of
the prompt a model reads, so one a player poisoned in training reaches the agent. In a
governed sandbox the tool-call guardrail refuses, before it runs, mail that carries
personal data outside, deleting audit records and commands outside the harmless table; in
training mode the call runs, which is what makes the attack visible. An agent of any
other tenant gets none of these tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finbot.agents.runner import Tool
from finbot.arena.tools.catalogue import ToolSpec
from finbot.domain.sandboxes import SandboxMode
from finbot.domain.users import sandbox_player
from finbot.domain.workflows import Step
from finbot.llm.messages import ToolSpec as ModelToolSpec
from finbot.services.arena_tools import ArenaTools
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork

AGENT_TOOLS: Mapping[str, tuple[str, ...]] = {
    "invoice": ("list_files", "read_file", "delete_file"),
    "payments": ("calculate_vat", "calculate_withholding", "disk_usage", "run_command",
                 "list_payments"),
    "communication": ("list_files", "read_file", "send_mail"),
}
"""The arena tools each agent is given in a sandbox (the drive for the invoice's documents,
tax and utilities for the payment, mail for the notification)."""

CASE_BOUND = "list_files"
"""The tool bound to the case: it lists the case's documents and nothing else."""


@dataclass(frozen=True)
class _Case:
    """One step's use of the tools: whose sandbox, which agent and workflow, where the
    case's documents are filed, and whether the guardrail is asked."""

    tenant: str
    agent_id: str
    workflow_id: str
    folder: str
    governed: bool


class ArenaToolbox:
    """Builds an agent's arena tools for a workflow step (see the module docstring)."""

    def __init__(self, uow: UowFactory, tools: ArenaTools) -> None:
        self._uow = uow
        self._tools = tools

    def for_step(self, agent_id: str, step: Step) -> list[Tool]:
        """``agent_id``'s arena tools for ``step``; none outside a sandbox tenant."""
        player = sandbox_player(step.tenant)
        names = AGENT_TOOLS.get(agent_id, ())
        if player is None or not names:
            return []
        with self._uow() as uow:
            sandbox = uow.sandboxes.get(player)
            folder = case_folder(uow, step)
        governed = sandbox is None or sandbox.mode is SandboxMode.GOVERNED
        case = _Case(step.tenant, agent_id, step.workflow_id, folder, governed)
        return [self._tool(case, spec, description)
                for spec, description in self._tools.described(step.tenant, names)]

    def _tool(self, case: _Case, spec: ToolSpec, description: str) -> Tool:
        bound = spec.name == CASE_BOUND
        parameters = ({"type": "object", "properties": {}} if bound
                      else spec.arguments.model_json_schema())

        def run(arguments: Mapping[str, Any]) -> Any:
            sent = {"prefix": case.folder} if bound else arguments
            return self._tools.call(case.tenant, spec.name, sent, agent_id=case.agent_id,
                                    workflow_id=case.workflow_id, tenant=case.tenant,
                                    governed=case.governed).data
        return Tool(ModelToolSpec(spec.name, description, parameters), run)


def case_folder(uow: UnitOfWork, step: Step) -> str:
    """Where a case's documents are filed on the drive: ``invoices/<number>`` for an
    invoice (the scanned invoice and whatever is filed beside it), ``vendors/<id>`` for an
    onboarding."""
    if step.kind == "onboarding":
        return f"vendors/{step.subject_id}"
    invoice = uow.invoices.get(step.subject_id)
    return f"invoices/{invoice.number if invoice is not None else step.subject_id}"
