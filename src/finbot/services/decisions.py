"""The decision path: hard rules, then the agent, then soft rules, then the audit chain.

The agent only proposes. A hard rule that fires ends the path with BLOCK before the agent
is asked; a malformed, failing or late proposal escalates; an APPROVE that trips a soft
rule escalates. Every path ends in one decision record in the audit chain, carrying the
full input snapshot, the facts the rules judged (``policy.recorded``, so a replay judges
the same ones), every rule's result and the policy version that judged it.

A record is written in its own transaction, or, inside ``DecisionService.grouped``, with
the others made there: one transaction and one synced commit for several decisions (the
step runner's group commit). The log's order is the order the decisions were made in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from structlog.contextvars import bound_contextvars, get_contextvars

from finbot.domain.audit import AuditRecord, canonical_json
from finbot.domain.breakers import Observation
from finbot.domain.clock import now_us
from finbot.domain.decisions import (
    Mode,
    Outcome,
    Proposal,
    ProposalRejected,
    Stage,
    check_proposal,
)
from finbot.domain.errors import FinbotError
from finbot.domain.money import Money
from finbot.domain.policy import Policy
from finbot.domain.reviews import ReviewItem, new_item
from finbot.observability.tracing import carried, continued, span
from finbot.policy.fallback import rules_only_check, rules_only_proposal
from finbot.policy.guardrails import (
    WAIVED_IN_TRAINING,
    PaymentFacts,
    RuleResult,
    amount_rule,
    evidence_rules,
    hard_rules,
    judge,
    soft_rules,
)
from finbot.policy.recorded import facts_json
from finbot.services.audit import AuditLog
from finbot.services.breakers import BreakerService
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying

logger = logging.getLogger(__name__)
Along = Callable[[UnitOfWork, Mapping[str, Any]], None]
"""Writes a caller makes in a decision's own transaction, given the decision's record."""


class Agent(Protocol):
    """What the gate needs from an agent: an id and a proposal for an input snapshot."""

    agent_id: str

    def propose(self, snapshot: Mapping[str, Any]) -> Proposal: ...


@dataclass(frozen=True)
class Decision:
    """The gate's verdict as recorded in the audit chain."""

    decision_id: str
    outcome: Outcome
    mode: Mode
    rules: list[RuleResult]
    reasoning: str
    error: str | None
    record_seq: int | None
    """Its record's place in the chain; None while the record waits in a group (see
    ``DecisionService.grouped``)."""
    drill: bool = False
    stage: Stage = Stage.PAYMENT


class DecisionService:
    """Runs the decision path and records its result."""

    def __init__(self, uow: UowFactory, audit: AuditLog, *,
                 breakers: BreakerService | None = None, outbox: Outbox | None = None,
                 agent_timeout_s: float = 60.0, clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._outbox = outbox or Outbox(clock=clock)
        self._audit = audit
        self._breakers = breakers
        self._timeout_s = agent_timeout_s
        self._clock = clock

    def decide(self, decision_id: str, *, policy: Policy, facts: PaymentFacts,
               snapshot: Mapping[str, Any], agent: Agent, mode: Mode = Mode.LIVE,
               drill: bool = False, stage: Stage = Stage.PAYMENT,
               along: Along | None = None) -> Decision:
        """Decide one step: a payment (``stage`` payment, the only kind that may execute)
        or a check on the way to one. A ``drill`` decision is logged as such, never queued,
        counted or executable: it exists to prove the path (e.g. the breaker's fallback)
        works. ``along`` writes the caller's own bookkeeping in the decision's transaction
        (the orchestrator marks its step done), so the two commit together or not at all."""
        with bound_contextvars(decision_id=decision_id), span(
                "policy.gate", **{"finbot.decision_id": decision_id, "finbot.stage": stage.value,
                                  "finbot.mode": mode.value,
                                  "finbot.agent_id": agent.agent_id}) as gate:
            decision = self._decide(_Path(decision_id, policy, facts, mode, stage, drill,
                                          along), snapshot, agent)
            gate.set_attribute("finbot.outcome", decision.outcome.value)
        return decision

    def _decide(self, path: _Path, snapshot: Mapping[str, Any], agent: Agent) -> Decision:
        policy, facts, mode, stage = path.policy, path.facts, path.mode, path.stage
        hard = hard_rules(policy, facts, stage=stage)
        if enforced := _enforced(hard, mode):
            return self._blocked(path, agent, hard, enforced)
        if mode is Mode.LIVE and self._breakers is not None and (
                not self._breakers.allows_agent(agent.agent_id)):
            return self._fall_back(path, snapshot, agent)
        proposal, proposed, error, latency_us = self._ask(agent, snapshot)
        if proposal is None or proposed is None:
            return self._observed(agent, latency_us, self._record(
                path, Outcome.ESCALATE, hard, reasoning="the agent's proposal could not be used",
                agent=agent, proposal=proposal, error=error))
        outcome, rules = judge(policy, facts, proposed, float(proposal.confidence), stage=stage)
        checks = _proposal_rules(path, agent, proposal)
        if outcome is Outcome.APPROVE and any(r.fired for r in checks):
            outcome = Outcome.ESCALATE
        if mode is Mode.TRAINING:
            return self._trained(path, agent, proposal, proposed, outcome, checks)
        return self._observed(agent, latency_us, self._record(
            path, outcome, rules + checks, reasoning=proposal.reasoning, agent=agent,
            proposal=proposal))

    def _blocked(self, path: _Path, agent: Agent, rules: list[RuleResult],
                 enforced: list[RuleResult], *, proposal: Proposal | None = None) -> Decision:
        """BLOCK, naming the ``enforced`` hard rules that fired; ``rules``: all judged."""
        fired = "; ".join(f"{r.rule}: {r.detail}" for r in enforced)
        return self._observed(agent, None, self._record(
            path, Outcome.BLOCK, rules, reasoning=f"blocked by hard guardrail ({fired})",
            agent=agent, proposal=proposal))

    def _trained(self, path: _Path, agent: Agent, proposal: Proposal, proposed: Outcome,
                 governed: Outcome, checks: list[RuleResult]) -> Decision:
        """A training decision: the agent's own outcome stands (no soft rule, no evidence
        rule, no waived hard rule overrides it), and so does the amount it proposed: the
        payment recorded, which the sandbox pays, is the agent's, so an attack that
        inflated it shows in the sandbox's money. The hard rules training keeps judge that
        amount (the single-payment limit holds there too); what the production gate would
        have said, and the rules it would have enforced, are recorded beside it."""
        path = replace(path, facts=_paid(path.facts, proposal))
        hard = hard_rules(path.policy, path.facts, stage=path.stage)
        if enforced := _enforced(hard, path.mode):
            return self._blocked(path, agent, hard + checks, enforced, proposal=proposal)
        rules = [*hard, *soft_rules(path.policy, path.facts, float(proposal.confidence),
                                    stage=path.stage), *checks]
        waived = ([r.rule for r in rules if r.fired] if governed is not proposed else [])
        return self._record(path, proposed, rules, reasoning=proposal.reasoning, agent=agent,
                            proposal=proposal, training=(governed, waived))

    def _fall_back(self, path: _Path, snapshot: Mapping[str, Any], agent: Agent) -> Decision:
        """The agent's breaker is open: the rules-only fallback decides (mode = fallback).
        It knows payments only; a check on the way to one goes to a human."""
        if path.stage.pays:
            proposal = rules_only_proposal(path.policy, path.facts, snapshot,
                                           agent_id=agent.agent_id, now_us=self._clock())
        else:
            proposal = rules_only_check(path.policy, snapshot, agent_id=agent.agent_id,
                                        stage=path.stage.value, now_us=self._clock())
        outcome, rules = judge(path.policy, path.facts, Outcome(proposal.outcome),
                               proposal.confidence, stage=path.stage)
        return self._record(replace(path, mode=Mode.FALLBACK), outcome, rules,
                            reasoning=proposal.reasoning, agent=agent, proposal=proposal)

    def _observed(self, agent: Agent, latency_us: int | None, decision: Decision) -> Decision:
        """Show a live decision to the agent's breaker, which may trip on it, once its
        record is written (a trip's own record then follows the decision's in the log)."""
        breakers = self._breakers
        if breakers is None or decision.mode is not Mode.LIVE or decision.drill:
            return decision
        observation = Observation(self._clock(), decision.outcome.value, latency_us,
                                  decision.error is not None)
        group = self._open_group()
        if decision.record_seq is None and group is not None:
            group.then(decision.decision_id,
                       lambda: breakers.observe(agent.agent_id, observation))
        else:
            breakers.observe(agent.agent_id, observation)
        return decision

    def _ask(self, agent: Agent, snapshot: Mapping[str, Any]) -> tuple[
            Proposal | None, Outcome | None, str | None, int]:
        """The proposal, its checked outcome, or the error that makes it unusable; and how
        long the agent took, in microseconds."""
        started = time.monotonic()
        try:
            proposal = agent.propose(snapshot)
        except Exception as failure:  # any agent failure escalates; nothing executes
            error = f"agent_failed: {type(failure).__name__}: {failure}"
            return None, None, error, _since(started)
        latency_us = _since(started)
        if latency_us > self._timeout_s * 1_000_000:
            return proposal, None, "agent_timed_out", latency_us
        try:
            outcome = check_proposal(proposal, timeout_s=self._timeout_s)
        except ProposalRejected as rejected:
            return proposal, None, f"{rejected.code}: {rejected.message}", latency_us
        return proposal, outcome, None, latency_us

    def _record(self, path: _Path, outcome: Outcome, rules: list[RuleResult], *,
                reasoning: str, agent: Agent, proposal: Proposal | None = None,
                error: str | None = None,
                training: tuple[Outcome, list[str]] | None = None) -> Decision:
        decision_id, facts, mode, drill = path.decision_id, path.facts, path.mode, path.drill
        policy = path.policy.limits_for(facts.currency)
        data: dict[str, Any] = {
            "stage": path.stage.value,
            "mode": mode.value, "outcome": outcome.value, "reasoning": reasoning,
            "error": error, "agent_id": agent.agent_id,
            "policy": {"version": policy.version, "digest": policy.digest,
                       "currency": policy.base_currency,
                       "max_single_payment": str(policy.hard.max_single_payment)},
            "payment": {"vendor_id": facts.vendor.vendor_id, "amount": str(facts.amount),
                        "currency": facts.currency, "payee_account": facts.payee_account,
                        **({"invoice_id": str(facts.invoice["invoice_id"])}
                           if facts.invoice.get("invoice_id") else {})},
            "rules": [{"rule": r.rule, "fired": r.fired, "detail": r.detail} for r in rules],
            "proposal": _proposal_data(proposal),
            "facts": facts_json(facts),
        }
        if mode is Mode.TRAINING:  # the sandbox it may execute in; what governed would say
            data["payment"]["tenant"] = facts.vendor.tenant
            governed, waived = training or (outcome, [])
            data["training"] = {"governed_outcome": governed.value, "waived": waived}
        item = None
        if drill:
            data["drill"] = True
        elif outcome is Outcome.ESCALATE and mode.executes and mode is not Mode.TRAINING:
            item = new_item(policy.review, decision_id=decision_id,
                            vendor_id=facts.vendor.vendor_id, amount=facts.amount,
                            currency=facts.currency, reason=_escalation_reason(rules, error),
                            now_us=self._clock())
            data["review"] = {"required_approvals": item.required_approvals,
                              "priority": int(item.priority), "due_at": item.due_at_us}
        unwritten = _Unwritten(
            decision_id, data, _stored_json(data, proposal), item,
            agent.agent_id if mode is Mode.LIVE and not drill else None, outcome, path.along,
            facts.vendor.tenant, carried(), get_contextvars())
        group = self._open_group()
        if group is not None:
            group.add(unwritten)
            seq = None
        else:
            seq = self.write([unwritten])[0].seq
        return Decision(decision_id, outcome, mode, rules, reasoning, error, seq, drill,
                        path.stage)

    @contextmanager
    def grouped(self) -> Iterator[RecordGroup]:
        """Decisions this thread makes in the block are not written one by one: their
        records wait in the group until the caller writes it (``RecordGroup.write``) and
        at the block's end, then go in one transaction with one synced commit. A decision
        is in the log only once written, so the caller ends the work a decision belongs to
        (the step runner: its step) after the write, and bounds how long a record waits.
        A record that cannot be written is kept in the group's ``failed``."""
        group = RecordGroup(self)
        token = _GROUP.set(group)
        try:
            yield group
        finally:
            _GROUP.reset(token)
            group.write()

    def write_waiting(self) -> None:
        """Write now the records waiting in this thread's group, if one is open (for a
        caller that reads what they write)."""
        group = self._open_group()
        if group is not None:
            group.write()

    def _open_group(self) -> RecordGroup | None:
        """This thread's open group of this service's records, if any."""
        group = _GROUP.get()
        return group if group is not None and group.service is self else None

    def write(self, records: Sequence[_Unwritten]) -> list[AuditRecord]:
        """Write ``records`` in one transaction (retried on a transient conflict)."""
        written = retrying(lambda: self._append(records))
        for one, record in zip(records, written, strict=True):
            with continued(one.trace), bound_contextvars(**one.context):
                logger.info("decision recorded", extra={
                    "agent_id": one.data["agent_id"], "stage": one.data["stage"],
                    "outcome": one.outcome.value, "mode": one.data["mode"],
                    "record_seq": record.seq})
        return written

    def _append(self, records: Sequence[_Unwritten]) -> list[AuditRecord]:
        """Each decision's record, its queue item (an escalation), the agent's hourly
        outcome count (a live decision) and the caller's ``along``: one transaction for
        them all. Each record's writes continue the trace of the gate that decided it."""
        written = []
        with self._uow() as uow:
            for one in records:
                with continued(one.trace), bound_contextvars(**one.context), span(
                        "decision.record", **{
                        "finbot.decision_id": one.decision_id,
                        "finbot.outcome": one.outcome.value, "finbot.mode": one.data["mode"]}):
                    written.append(self._append_in(uow, one))
            uow.commit()
        return written

    def _append_in(self, uow: UnitOfWork, one: _Unwritten) -> AuditRecord:
        """One decision's writes; its events belong to the vendor's tenant (whose browsers
        are told)."""
        decision_id, data, item, tenant = one.decision_id, one.data, one.item, one.tenant
        record = self._audit.append_in(uow, "decision", decision_id, data,
                                       decision_id=decision_id, data_json=one.data_json)
        self._outbox.emit_in(uow, "decision.recorded", decision_id, version=2, payload={
            "decision_id": decision_id, "agent_id": data["agent_id"],
            "stage": data["stage"], "outcome": one.outcome.value, "mode": data["mode"],
            "vendor_id": data["payment"]["vendor_id"], "amount": data["payment"]["amount"],
            "currency": data["payment"]["currency"]}, tenant=tenant)
        if item is not None:
            uow.reviews.enqueue(item)
            self._outbox.emit_in(uow, "review.queued", decision_id, {
                "decision_id": decision_id, "vendor_id": item.vendor_id,
                "priority": int(item.priority), "due_at": item.due_at_us,
                "required_approvals": item.required_approvals}, tenant=tenant)
        if one.counted is not None and self._breakers is not None:
            self._breakers.count_in(uow, one.counted, one.outcome.value, self._clock())
        if one.along is not None:
            one.along(uow, data)
        return record


@dataclass(frozen=True)
class _Unwritten:
    """A decision made and not yet in the log: what its transaction writes."""

    decision_id: str
    data: dict[str, Any]
    data_json: str
    item: ReviewItem | None
    counted: str | None  # the live agent whose hourly outcome count it adds to
    outcome: Outcome
    along: Along | None
    tenant: str
    trace: str | None  # the gate's, which its writes and events continue
    context: dict[str, Any]  # the log context it was decided in (workflow, decision ids)


class RecordGroup:
    """Decision records waiting to be written together (see ``DecisionService.grouped``)."""

    def __init__(self, service: DecisionService) -> None:
        self.service = service
        self.failed: dict[str, Exception] = {}
        """Decisions whose record could not be written, by id, until the caller takes
        them."""
        self._waiting: list[_Unwritten] = []
        self._then: dict[str, Callable[[], None]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, record: _Unwritten) -> None:
        self._waiting.append(record)

    def then(self, decision_id: str, action: Callable[[], None]) -> None:
        """Run ``action`` once the decision's record is written (never if it is not)."""
        self._then[decision_id] = action

    def write(self) -> None:
        """Write the waiting records in one transaction. If it fails other than by a
        transient conflict, each is written alone, so one bad record holds back no other;
        one that still fails goes to ``failed``. Then what waited on each written record
        runs, in the log's order."""
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        try:
            self.service.write(waiting)
            written = waiting
        except Exception as failure:
            if len(waiting) == 1:
                self._failed(waiting[0], failure)
                written = []
            else:
                logger.warning("%d decision records could not be written together; "
                               "writing each alone", len(waiting), exc_info=True)
                written = [one for one in waiting if self._alone(one)]
        for one in written:
            action = self._then.pop(one.decision_id, None)
            if action is None:
                continue
            try:
                action()
            except Exception:  # the decision stands, written; its aftermath is logged
                logger.warning("after decision %s", one.decision_id, exc_info=True)

    def _alone(self, record: _Unwritten) -> bool:
        """Write ``record`` in its own transaction; whether it was written."""
        try:
            self.service.write([record])
        except Exception as failure:
            self._failed(record, failure)
            return False
        return True

    def _failed(self, record: _Unwritten, failure: Exception) -> None:
        logger.warning("decision %s could not be recorded", record.decision_id,
                       exc_info=failure)
        self.failed[record.decision_id] = failure
        self._then.pop(record.decision_id, None)


_GROUP: ContextVar[RecordGroup | None] = ContextVar("finbot_decision_group", default=None)
"""The group this thread's decisions wait in, while one is open."""


@dataclass(frozen=True)
class _Path:
    """What one decision is about, carried along the path to its record."""

    decision_id: str
    policy: Policy
    facts: PaymentFacts
    mode: Mode
    stage: Stage
    drill: bool
    along: Along | None = None


def _enforced(hard: list[RuleResult], mode: Mode) -> list[RuleResult]:
    """The hard rules that fired and that ``mode`` enforces (training waives some)."""
    return [r for r in hard if r.fired and (
        mode is not Mode.TRAINING or r.rule not in WAIVED_IN_TRAINING)]


def _proposal_rules(path: _Path, agent: Agent, proposal: Proposal) -> list[RuleResult]:
    """The rules about the proposal itself: the evidence an APPROVE must stand on and, for
    a payment, the amount it names against the amount due."""
    evidence = evidence_rules(proposal.tool_calls, getattr(agent, "required_tools", ()))
    if not path.stage.pays:
        return evidence
    return [*evidence, amount_rule(path.facts, proposal.amount)]


def _paid(facts: PaymentFacts, proposal: Proposal) -> PaymentFacts:
    """``facts`` with the amount the agent proposed (training pays the agent's number),
    unless it names none or one the currency cannot pay (not positive, or finer than its
    minor unit): then the amount due, which is what the gate pays everywhere else."""
    if proposal.amount is None or not _payable(proposal.amount, facts.currency):
        return facts
    return replace(facts, amount=proposal.amount)


def _payable(amount: Decimal, currency: str) -> bool:
    try:
        return Money.of(amount, currency).minor > 0
    except FinbotError:
        return False


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1_000_000)


def _escalation_reason(rules: list[RuleResult], error: str | None) -> str:
    if error:
        return f"the agent's proposal was unusable ({error})"
    fired = [f"{r.rule}: {r.detail}" for r in rules if r.fired]
    return "; ".join(fired) if fired else "the agent asked for a human decision"


def _proposal_data(proposal: Proposal | None) -> dict[str, Any] | None:
    """The proposal as the decision record stores it (see ``_stored_json`` for what the
    chain cannot store exactly)."""
    if proposal is None:
        return None
    version = proposal.model_version
    return {"model_version": {"agent_version": version.agent_version,
                              "model_name": version.model_name,
                              "prompt_hash": version.prompt_hash,
                              "policy_version": version.policy_version},
            "input_snapshot": dict(proposal.input_snapshot), "input_hash": proposal.input_hash,
            "outcome": str(proposal.outcome), "confidence": proposal.confidence,
            **({"amount": str(proposal.amount)} if proposal.amount is not None else {}),
            "reasoning": proposal.reasoning,
            "tool_calls": [{"name": c.name, "arguments": dict(c.arguments), "result": c.result}
                           for c in proposal.tool_calls],
            **({"model_exchanges": [dict(e) for e in proposal.exchanges]}
               if proposal.exchanges else {})}


def _stored_json(data: dict[str, Any], proposal: Proposal | None) -> str:
    """The decision's canonical JSON, made once (the audit record is built around it).
    An agent's output is untrusted and may hold NaN or objects the chain cannot store
    exactly: then each such field of its proposal is kept as its repr (in ``data`` too),
    and the record is still written."""
    try:
        return canonical_json(data)
    except (TypeError, ValueError):
        if proposal is None:
            raise
    stored = data["proposal"]
    data["reasoning"] = _jsonable(data["reasoning"])
    data["proposal"] = {
        **stored, "confidence": _jsonable(proposal.confidence),
        "reasoning": _jsonable(proposal.reasoning),
        "tool_calls": [{"name": c["name"], "arguments": _jsonable(c["arguments"]),
                        "result": _jsonable(c["result"])} for c in stored["tool_calls"]],
        **({"model_exchanges": _jsonable(stored["model_exchanges"])}
           if "model_exchanges" in stored else {})}
    return canonical_json(data)


def _jsonable(value: Any) -> Any:
    """The value if the audit chain can store it exactly, else its repr (an agent's output
    is untrusted and may hold NaN or objects; the record must still be written)."""
    return value if _stores(value) else repr(value)


def _stores(value: Any) -> bool:
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        return False
    return True
