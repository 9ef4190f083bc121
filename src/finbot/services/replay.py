"""Re-run a past decision and say whether it comes out the same: the regulator's "would you
decide it again?".

The agent is the same code on a ``ReplayModel`` answering from the exchanges the record
kept, its tools answering from the results the record kept, under the policy version the
record names, and its proposal goes through the same gate (``DecisionService.decide``)
judging the facts the record kept. Nothing is written: the gate's transaction is aborted
from inside, after the record it would append has been read, so the audit append, its
events, the review item and the breaker's count are all rolled back. A decision kept
without exchanges cannot be replayed byte for byte; its recorded proposal is put through
the gate's rules again instead, and the result says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, cast

from finbot.agents.ports import AgentTools, remembered
from finbot.agents.proposer import ModelAgent
from finbot.agents.runner import Tool
from finbot.domain.decisions import Mode, ModelVersion, Proposal, ToolCall
from finbot.domain.errors import NotFound
from finbot.domain.workflows import Step, StepName
from finbot.llm.recording import Exchange, ReplayDiverged, ReplayModel, first_difference
from finbot.policy.recorded import facts_from_json
from finbot.services.audit import AuditLog
from finbot.services.breakers import BreakerService
from finbot.services.decisions import Agent, DecisionService
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.orchestrator import DecidingAgent, StepRunner, ToolFactory
from finbot.services.policies import PolicyStore
from finbot.services.ports import UnitOfWork

Method = Literal["recorded exchanges", "gate rules on the recorded proposal"]


@dataclass(frozen=True)
class Difference:
    """One place the replay came out otherwise than the record."""

    what: str
    recorded: Any
    replayed: Any
    why: str


@dataclass(frozen=True)
class ReplayResult:
    """A replay's answer: identical, or every difference with its reason."""

    decision_id: str
    method: Method
    policy_version: str
    recorded_outcome: str
    replayed_outcome: str
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "identical": self.identical,
                "method": self.method, "policy_version": self.policy_version,
                "recorded_outcome": self.recorded_outcome,
                "replayed_outcome": self.replayed_outcome, "notes": self.notes,
                "differences": [vars(d) for d in self.differences]}


class Replayer:
    """Re-runs recorded decisions through the agent and gate code, writing nothing."""

    def __init__(self, uow: UowFactory, audit: AuditLog, policies: PolicyStore,
                 steps: StepRunner, tools: AgentTools,
                 agents: Mapping[str, DecidingAgent]) -> None:
        self._uow = uow
        self._audit = audit
        self._policies = policies
        self._steps = steps
        self._tools = tools
        self._agents = agents

    def replay(self, decision_id: str, *, policy_version: str | None = None) -> ReplayResult:
        """Replay the logged decision ``decision_id`` (NotFound for any other id), under
        its own policy version or ``policy_version`` to see what another would change."""
        with self._uow() as uow:
            record = uow.audit.by_id(decision_id)
        if record is None or record.kind != "decision":
            raise NotFound(f"no decision {decision_id!r}", field="decision_id")
        return self.replay_record(decision_id, record.data, policy_version=policy_version)

    def replay_record(self, decision_id: str, data: Mapping[str, Any], *,
                      policy_version: str | None = None) -> ReplayResult:
        """Replay a decision record's ``data`` as if it were logged under ``decision_id``."""
        version = policy_version or str(data["policy"]["version"])
        step = _step_of(decision_id, data)
        deciding = self._agent_for(step)
        proposal = data.get("proposal") or {}
        exchanges = [Exchange.from_json(e) for e in proposal.get("model_exchanges") or ()]
        snapshot = proposal.get("input_snapshot")
        reads = remembered(self._tools)
        facts, fresh = self._steps.facts(step, reads, as_of_us=_as_of(snapshot))
        if data.get("facts"):  # the facts the rules judged then, not today's history
            facts = facts_from_json(data["facts"])
        policy = self._policies.get(version)
        model = ReplayModel(exchanges) if exchanges else None
        tools = _answered_from(deciding.tools(reads), proposal.get("tool_calls") or ())
        agent: Agent = (ModelAgent(deciding.spec, model, tools,
                                 policy_version=lambda: version)
                      if model is not None else _Recorded(deciding, proposal))
        service = DecisionService(self._uow, self._audit, outbox=Outbox(),
                                  breakers=_Refusing() if data["mode"] == "fallback" else None)
        replayed = _judged(service, decision_id, policy=policy, facts=facts,
                           snapshot=snapshot or fresh, agent=agent, stage=deciding.stage,
                           mode=Mode(data["mode"]), drill=bool(data.get("drill")))
        differences = _compare(data, replayed)
        if model is not None and not model.exhausted and not differences:
            differences.append(Difference("model calls", len(exchanges), "fewer", (
                "the re-run finished before using every recorded exchange")))
        method: Method = ("recorded exchanges" if model is not None
                          else "gate rules on the recorded proposal")
        return ReplayResult(decision_id, method, version,
                            str(data["outcome"]), str(replayed["outcome"]), differences,
                            _notes(data, model is not None, version))

    def _agent_for(self, step: Step) -> DecidingAgent:
        deciding = self._agents.get(step.step)
        if deciding is None:
            raise NotFound(f"no deciding agent for step {step.step!r}", field="decision_id")
        return deciding


class _Captured(Exception):
    """Raised inside the gate's transaction to roll it back, carrying the record's data."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__("replayed decision captured")
        self.data = dict(data)


class _Refusing(BreakerService):
    """An open breaker for a fallback decision's replay: the rules-only fallback decides."""

    def __init__(self) -> None:  # nothing to read or count: a replay observes nothing
        pass

    def allows_agent(self, agent_id: str) -> bool:
        return False


class _Recorded:
    """The agent as the record shows it: its recorded proposal, or, where none was kept
    (a BLOCK, an unusable proposal), a refusal the gate turns into an escalation."""

    def __init__(self, deciding: DecidingAgent, proposal: Mapping[str, Any]) -> None:
        self.agent_id = deciding.spec.agent_id
        self.required_tools = deciding.spec.required_tools
        self._proposal = proposal

    def propose(self, snapshot: Mapping[str, Any]) -> Proposal:
        if not self._proposal:
            raise ReplayDiverged("the decision was made without a usable proposal, so "
                                 "nothing recorded can answer for the agent")
        return _proposal_from(self.agent_id, self._proposal)


def _answered_from(factory: ToolFactory, calls: Sequence[Mapping[str, Any]]) -> ToolFactory:
    """The agent's tools, each answering a call with what the recording says it answered
    then (the same call: name and arguments): today's records may have moved on (the
    invoice since paid), and the model was shown then's answers. A call the recording
    does not hold is a divergence."""
    answers = {(str(c["name"]), _key(c.get("arguments"))): c.get("result") for c in calls}

    def for_task(task: Mapping[str, Any]) -> Sequence[Tool]:
        def answering(name: str) -> Callable[[Mapping[str, Any]], Any]:
            def run(arguments: Mapping[str, Any]) -> Any:
                key = (name, _key(arguments))
                if key not in answers:
                    raise ReplayDiverged(f"the re-run called {name} with {dict(arguments)}, "
                                         "which the recording does not hold")
                return answers[key]
            return run
        return [Tool(t.spec, answering(t.spec.name)) for t in factory(task)]
    return for_task


def _key(arguments: Any) -> str:
    return json.dumps(arguments or {}, sort_keys=True, default=str)


def _judged(service: DecisionService, decision_id: str, **decide: Any) -> dict[str, Any]:
    """The record data the gate would have appended, its transaction rolled back."""
    def capture(uow: UnitOfWork, data: Mapping[str, Any]) -> None:
        raise _Captured(data)
    try:
        service.decide(f"{decision_id}:replay", along=capture, **decide)
    except _Captured as captured:
        return captured.data
    raise AssertionError("the gate returned without writing its record")


def _step_of(decision_id: str, data: Mapping[str, Any]) -> Step:
    """The workflow step a decision id names (``<kind>:<subject>:<step>``)."""
    workflow, _, step = decision_id.rpartition(":")
    kind, _, subject = workflow.partition(":")
    if kind not in {"onboarding", "invoice"} or not subject or not step:
        raise NotFound(f"decision {decision_id!r} is not a workflow step's, so there is no "
                       "agent to replay it with", field="decision_id")
    tenant = str(((data.get("proposal") or {}).get("input_snapshot") or {}).get(
        "tenant", data["payment"].get("tenant", "default")))
    return Step(workflow, cast(StepName, step), subject, tenant)


def _as_of(snapshot: Mapping[str, Any] | None) -> int | None:
    """The decision's own time: its snapshot's, else none known (the facts of today)."""
    at = (snapshot or {}).get("as_of_us")
    return int(at) if isinstance(at, int) else None


def _proposal_from(agent_id: str, data: Mapping[str, Any]) -> Proposal:
    version = data["model_version"]
    return Proposal(
        agent_id, ModelVersion(version["agent_version"], version["model_name"],
                               version["prompt_hash"], version["policy_version"]),
        data["input_snapshot"], data["input_hash"], data["outcome"], data["confidence"],
        data["reasoning"], tuple(ToolCall(c["name"], c["arguments"], c["result"])
                                 for c in data["tool_calls"]),
        amount=Decimal(data["amount"]) if data.get("amount") is not None else None)


def _compare(recorded: Mapping[str, Any], replayed: Mapping[str, Any]) -> list[Difference]:
    found: list[Difference] = []
    if recorded.get("error") != replayed.get("error"):
        found.append(Difference("error", recorded.get("error"), replayed.get("error"),
                                _why_error(replayed.get("error"))))
    if recorded["outcome"] != replayed["outcome"]:
        found.append(Difference("outcome", recorded["outcome"], replayed["outcome"],
                                "the gate's verdict changed"))
    found += _rule_differences(recorded["rules"], replayed["rules"])
    old, new = _comparable(recorded.get("proposal")), _comparable(replayed.get("proposal"))
    if old != new and replayed.get("proposal") is not None:
        found.append(Difference("proposal", old, new, "the agent proposed otherwise, first "
                                f"at {first_difference(old, new, 'proposal')}"))
    return found


def _why_error(error: Any) -> str:
    if isinstance(error, str) and "ReplayDiverged" in error:
        return "the re-run asked the model something the recording does not hold: " + (
            error.split("ReplayDiverged: ", 1)[-1])
    return "the agent's proposal was usable in one run and not in the other"


def _rule_differences(recorded: Sequence[Mapping[str, Any]],
                      replayed: Sequence[Mapping[str, Any]]) -> list[Difference]:
    old = {r["rule"]: r for r in recorded}
    new = {r["rule"]: r for r in replayed}
    found = []
    for rule in [*old, *(r for r in new if r not in old)]:
        before, after = old.get(rule), new.get(rule)
        if before is None or after is None:
            found.append(Difference(f"rule {rule}", before, after, "the rule was "
                                    + ("not evaluated" if after is None else "not evaluated "
                                       "when decided")))
        elif (before["fired"], before["detail"]) != (after["fired"], after["detail"]):
            found.append(Difference(f"rule {rule}", before, after, (
                "it fired now and not then" if after["fired"] and not before["fired"] else
                "it fired then and not now" if before["fired"] and not after["fired"] else
                "its facts changed")))
    return found


def _comparable(proposal: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A proposal without what differs between runs by nature (each call's latency)."""
    if proposal is None:
        return None
    kept = dict(proposal)
    if "model_exchanges" in kept:
        kept["model_exchanges"] = [{k: v for k, v in e.items() if k != "latency_us"}
                                   for e in kept["model_exchanges"]]
    return kept


def _notes(data: Mapping[str, Any], exact: bool, version: str) -> list[str]:
    notes = []
    if not exact:
        notes.append("this decision was made without recorded model exchanges, so it cannot "
                     "be replayed byte for byte: the gate's rules were run again on the "
                     "recorded proposal instead")
    if version != str(data["policy"]["version"]):
        notes.append(f"replayed under policy {version}, not the decision's own "
                     f"{data['policy']['version']}")
    if not data.get("facts"):
        notes.append("the record predates kept facts: the gate's facts were rebuilt from "
                     "today's records as of the decision's time; history that changed "
                     "since (an invoice paid later) can change them")
    return notes
