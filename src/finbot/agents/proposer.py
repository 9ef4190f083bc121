"""An agent as the gate sees it: an id and a proposal for an input snapshot.

``ModelAgent`` runs an agent spec on the model the router picked for it, wrapped with the
call's identity, and turns the validated answer into a Proposal carrying the full input,
the tool calls, the model version (agent version, model, prompt hash, policy version) and
every model exchange, so the decision can be explained and replayed exactly; a payments
agent's proposal also carries the amount it says to pay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from finbot.agents.runner import AgentSpec, Tool, Verdict, run_agent
from finbot.domain.clock import now_us
from finbot.domain.decisions import ModelVersion, Proposal, snapshot_hash
from finbot.llm.context import CallContext, ContextualModel, EventSink, Price
from finbot.llm.model import Model
from finbot.observability.tracing import span


class ModelAgent:
    """A deciding agent backed by a model (see the module docstring)."""

    def __init__(self, spec: AgentSpec[Verdict], model: Model,
                 tools: Callable[[Mapping[str, Any]], Sequence[Tool]], *,
                 policy_version: Callable[[], str], sink: EventSink | None = None,
                 price: Price | None = None, clock: Callable[[], int] = now_us) -> None:
        self.agent_id = spec.agent_id
        self.spec = spec
        self.required_tools = spec.required_tools
        self._model = model
        self._tools = tools
        self._policy_version = policy_version
        self._sink = sink
        self._price = price
        self._clock = clock

    def propose(self, snapshot: Mapping[str, Any]) -> Proposal:
        started = self._clock()
        context = CallContext(self.agent_id, workflow_id=str(snapshot.get("workflow_id", "")),
                              tenant=str(snapshot.get("tenant", "")))
        model = ContextualModel(self._model, context, sink=self._sink, price=self._price)
        with span("agent.run", **{"finbot.agent_id": self.agent_id,
                                  "finbot.agent_version": self.spec.version,
                                  "finbot.model": self._model.name}):
            run = run_agent(self.spec, model, self._tools(snapshot), snapshot)
        version = ModelVersion(self.spec.version, self._model.name, self.spec.prompt_hash,
                               self._policy_version())
        return Proposal(self.agent_id, version, dict(snapshot), snapshot_hash(snapshot),
                        run.output.outcome, run.output.confidence, run.output.reasoning,
                        run.tool_calls, started, self._clock(),
                        tuple(e.to_json() for e in model.exchanges), _amount_of(run.output))


def _amount_of(verdict: Verdict) -> Decimal | None:
    """The amount a payments agent's verdict proposes to pay; None for the verdicts of the
    agents that only check (their schema has no amount)."""
    amount = getattr(verdict, "amount", None)
    return Decimal(amount) if amount is not None else None
