"""The orchestrator's step runner: takes due workflow steps and runs each once to its end.

A step is leased (so one runner holds it; the lease is renewed while the step runs, and
lapses soon after a runner dies), then run with no transaction open: the agent
reads through its read-only views and the model is asked while nothing is locked. A
deciding step ends in the gate's decision record, whose id is the step's; the step is
marked done, with the model's request/response events, in that record's own transaction,
so a step is never decided without being marked nor marked without its decision (and a
step that finds its decision already logged does not ask again). The decisions of
consecutive steps are written together (group commit: up to ``GROUP_SIZE`` records in one
transaction, written before one more step would keep the first past ``GROUP_WAIT_S``); a
step ends, and its lease is let go, only once its decision is written. A failing step is
retried with backoff and, after ``max_attempts``, marked failed with its error and
announced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from structlog.contextvars import bound_contextvars

from finbot.agents import communication
from finbot.agents.ports import AgentTools, remembered
from finbot.agents.proposer import ModelAgent
from finbot.agents.rails import schedule
from finbot.agents.runner import AgentSpec, Tool, Verdict
from finbot.domain.clock import DAY_US, now_us, utc_datetime
from finbot.domain.decisions import Mode, Stage
from finbot.domain.errors import NotFound
from finbot.domain.events import BUSINESS
from finbot.domain.invoices import Invoice, InvoiceStatus, InvoiceSummary
from finbot.domain.users import sandbox_player
from finbot.domain.vendors import Author, Message, Note, Vendor
from finbot.domain.workflows import Step, StepStatus
from finbot.llm.context import CallContext, EventSink, contextual_model
from finbot.llm.model import Model
from finbot.llm.router import ModelRouter
from finbot.observability.tracing import continued, span
from finbot.policy.guardrails import PaymentFacts, VendorFacts
from finbot.services.contest import Contest, Entrants
from finbot.services.decisions import Agent, Along, DecisionService, RecordGroup
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.policies import PolicyStore
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying

logger = logging.getLogger(__name__)
_COUNTED = frozenset({InvoiceStatus.APPROVED, InvoiceStatus.SCHEDULED, InvoiceStatus.PAID})

ToolFactory = Callable[[Mapping[str, Any]], Sequence[Tool]]
ArenaTooling = Callable[[str, Step], Sequence[Tool]]
"""An agent's extra tools for a step (the arena's tools in a sandbox; none elsewhere)."""


@dataclass(frozen=True)
class DecidingAgent:
    """One deciding agent as the orchestrator runs it: its spec, its tools (made from the
    step's views) and its stage."""

    spec: AgentSpec[Verdict]
    tools: Callable[[AgentTools], ToolFactory]
    stage: Stage


def payable_account(vendor_id: str, currency: str) -> str:
    """The ledger account that holds what the company owes ``vendor_id`` in ``currency``
    (a ledger account holds one currency: a vendor paid in two has two)."""
    return f"vendor:{vendor_id}:payable:{currency}"


GROUP_SIZE = 4
GROUP_WAIT_S = 0.010
"""The step runner writes its decisions in groups of up to ``GROUP_SIZE`` (one synced
commit for several), and writes a group before one more step, taking as long as the last
one, would keep its first decision out of the log past ``GROUP_WAIT_S``."""

LEASE_S = 30.0
"""How long a runner holds a step without renewing it: a runner killed mid-step leaves
its step to another one this long after its last renewal."""


class LeaseKeeper:
    """Renews the leases of the steps a runner holds, every third of ``lease_us``, until
    each is ``finished``: a slow model never lets another runner start a step this one
    holds (running or waiting its turn), while a runner that dies gives them up within
    one lease."""

    def __init__(self, uow: UowFactory, steps: Sequence[Step], *, lease_us: int,
                 clock: Callable[[], int] = now_us) -> None:
        self._uow, self._lease_us, self._clock = uow, lease_us, clock
        self._held = {(s.workflow_id, s.step): s for s in steps}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="finbot-lease",
                                        daemon=True)

    def __enter__(self) -> LeaseKeeper:
        if self._held:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def finished(self, step: Step) -> None:
        with self._lock:
            self._held.pop((step.workflow_id, step.step), None)

    def _renew(self) -> None:
        while not self._done.wait(self._lease_us / 3_000_000):
            with self._lock:
                held = list(self._held.values())
            try:
                with self._uow() as uow:
                    now = self._clock()
                    for step in held:
                        uow.workflows.renew(step, now_us=now, until_us=now + self._lease_us)
                    uow.commit()
            except Exception:  # the database is away: the next renewal tries again
                logger.warning("could not renew the leases of %d steps", len(held))


class StepRunner:
    """Runs due workflow steps (see the module docstring)."""

    def __init__(self, uow: UowFactory, decisions: DecisionService, policies: PolicyStore,
                 models: ModelRouter, agent_tools: AgentTools,
                 agents: Mapping[str, DecidingAgent], *, outbox: Outbox | None = None,
                 max_attempts: int = 5, lease_s: float = LEASE_S, backoff_s: float = 1.0,
                 clock: Callable[[], int] = now_us,
                 arena: ArenaTooling = lambda agent_id, step: (),
                 contest: Contest | None = None, reader: UowFactory | None = None,
                 group_size: int = GROUP_SIZE, group_wait_s: float = GROUP_WAIT_S) -> None:
        """``reader``: units of work for the step's single reads, which take no write
        lock (default ``uow``). ``group_size`` and ``group_wait_s``: see ``GROUP_SIZE``
        (1 writes each decision alone)."""
        self._uow = uow
        self._reader = reader or uow
        self._decisions = decisions
        self._policies = policies
        self._models = models
        self._tools = agent_tools
        self._agents = agents
        self._outbox = outbox or Outbox(clock=clock)
        self._max_attempts = max_attempts
        self._lease_us = int(lease_s * 1_000_000)
        self._backoff_us = int(backoff_s * 1_000_000)
        self._clock = clock
        self._arena = arena
        self._contest = contest
        self._group_size = max(1, group_size)
        self._group_wait_s = group_wait_s
        self.done = 0  # steps taken by ``run``

    def run_due(self, *, limit: int = 50, timed: list[float] | None = None) -> int:
        """Run the steps due now; how many were taken. Their decisions are written in
        groups (see the module docstring). ``timed`` gets each step's time in
        milliseconds, from its start to its decision's commit (the bench's per-decision
        latency)."""
        leased = self._lease(limit)
        with LeaseKeeper(self._uow, [step for step, _ in leased], lease_us=self._lease_us,
                         clock=self._clock) as keeper, self._decisions.grouped() as group:
            ran: list[tuple[Step, float, bool]] = []  # since the group was last written
            for step, trace in leased:
                began = time.perf_counter()
                with continued(trace), bound_contextvars(workflow_id=step.workflow_id,
                                                         decision_id=step.decision_id), span(
                        "workflow.step", **{"finbot.workflow_id": step.workflow_id,
                                            "finbot.step": step.step}):
                    ran.append((step, began, self._run(step)))
                now = time.perf_counter()  # one more step as long as this one would take
                if len(group) >= self._group_size or (
                        now - ran[0][1] + now - began >= self._group_wait_s):
                    self._written(group, ran, keeper, timed)
            self._written(group, ran, keeper, timed)
        return len(leased)

    def _written(self, group: RecordGroup, ran: list[tuple[Step, float, bool]],
                 keeper: LeaseKeeper, timed: list[float] | None) -> None:
        """Write the decisions waiting in ``group``, then end the steps ``ran``: one whose
        decision could not be written is retried, or failed, as any failing step."""
        group.write()
        ended = time.perf_counter()
        for step, began, ok in ran:
            failure = group.failed.pop(step.decision_id, None)
            if failure is not None:
                self._failing(step, failure)
            elif ok:
                logger.info("workflow step done", extra={"step": step.step,
                                                         "workflow_id": step.workflow_id})
            keeper.finished(step)
            if timed is not None:
                timed.append((ended - began) * 1e3)
        ran.clear()
        group.failed.clear()  # a shadow's: logged by the group, never the step's failure

    def run(self, stop: threading.Event, *, idle_s: float = 0.05) -> None:
        while not stop.is_set():
            ran = self.run_due()
            self.done += ran
            if not ran:
                stop.wait(idle_s)

    def _lease(self, limit: int) -> list[tuple[Step, str | None]]:
        """The due steps this runner now holds, each with the trace its workflow continues:
        the one its subject's first event (invoice.submitted, vendor.registered) carried."""
        now = self._clock()
        with self._uow() as uow:
            due = uow.workflows.due(now_us=now, limit=limit)
            leased = [(s, uow.outbox.first_trace(BUSINESS, s.subject_id)) for s in due
                      if uow.workflows.lease(s, now_us=now, until_us=now + self._lease_us)]
            uow.commit()
        return leased

    def _run(self, step: Step) -> bool:
        """Run ``step``; whether it ran without failing (its decision may wait in the
        group)."""
        events: list[tuple[str, Mapping[str, Any]]] = []
        try:
            self._perform(step, events)
        except Exception as failure:  # the step is retried, then failed; the error is kept
            self._failing(step, failure)
            return False
        return True

    def _failing(self, step: Step, failure: Exception) -> None:
        logger.warning("workflow step %s failed", step.decision_id, exc_info=failure)
        error = f"{type(failure).__name__}: {failure}"
        retrying(lambda: self._failed(step, error))

    def _perform(self, step: Step, events: list[tuple[str, Mapping[str, Any]]]) -> None:
        def sink(type_: str, payload: Mapping[str, Any]) -> None:
            events.append((type_, payload))
        if step.step == "notify":
            message = self._notify(step, sink)
            retrying(lambda: self._done(step, events, message))
            return
        with self._reader() as uow:
            decided = uow.audit.by_id(step.decision_id) is not None
        if decided:  # recorded by an earlier run whose step was not marked: never ask twice
            retrying(lambda: self._done(step, events, None))
        else:  # the step is marked done in the decision's own transaction
            self._decide(step, sink, lambda uow, decided: self._decided_in(uow, step, events,
                                                                           decided))

    def _decide(self, step: Step, sink: Callable[[str, Mapping[str, Any]], None],
                along: Along) -> None:
        agent = self._agents[step.step]
        reads = remembered(self._tools)  # the gate's facts and the tools share one read
        policy = reads.policy.current()
        facts, snapshot = self.facts(step, reads)
        mode = self._mode(step.tenant)

        def propose(deciding: DecidingAgent, model: Model, events: EventSink | None) -> Agent:
            own, extra = deciding.tools(reads), self._arena(agent.spec.agent_id, step)
            return ModelAgent(deciding.spec, model, lambda task: [*own(task), *extra],
                              policy_version=lambda: policy.version, sink=events,
                              price=self._models.price_of(model), clock=self._clock)

        def decide(decision_id: str, deciding: Agent, as_: Mode, then: Along | None) -> object:
            return self._decisions.decide(decision_id, policy=policy, facts=facts,
                                          snapshot=snapshot, agent=deciding, stage=agent.stage,
                                          along=then, mode=as_)
        if self._contest is not None and mode is Mode.LIVE and (
                sandbox_player(step.tenant) is None):  # challengers meet live work only
            self._contest.run(step, agent, Entrants(propose, decide,
                                                    self._decisions.write_waiting), sink,
                              along)
        else:
            model = self._models.model_for(agent.spec.agent_id)
            decide(step.decision_id, propose(agent, model, sink), mode, along)

    def _mode(self, tenant: str) -> Mode:
        """Live, or training for an arena sandbox its player switched to training."""
        player = sandbox_player(tenant)
        if player is None:
            return Mode.LIVE
        with self._reader() as uow:
            sandbox = uow.sandboxes.get(player)
        return sandbox.mode.decisions if sandbox is not None else Mode.LIVE

    def _notify(self, step: Step, sink: Callable[[str, Mapping[str, Any]], None]) -> Message:
        vendor_id, outcome = self._notice(step)
        model = contextual_model(self._models, CallContext(
            "communication", workflow_id=step.workflow_id, tenant=step.tenant), sink=sink)
        turn = communication.notification(model, self._tools, vendor_id=vendor_id,
                                          subject=step.subject_id, outcome=outcome,
                                          extra=self._arena("communication", step))
        return Message(vendor_id, step.workflow_id, "notification", "communication",
                       turn.text[:4000] or f"Update on {step.subject_id}: {outcome}",
                       self._clock())

    def _notice(self, step: Step) -> tuple[str, str]:
        with self._reader() as uow:
            if step.kind == "onboarding":
                vendor = uow.vendors.get(step.subject_id)
                return step.subject_id, vendor.status.value if vendor else "unknown"
            invoice = uow.invoices.get(step.subject_id)
        if invoice is None:
            raise NotFound(f"no invoice {step.subject_id!r}", field="invoice_id")
        return invoice.vendor_id, invoice.status.value

    def facts(self, step: Step, reads: AgentTools, *,
              as_of_us: int | None = None) -> tuple[PaymentFacts, dict[str, Any]]:
        """The gate's facts and the agent's input snapshot for ``step``, as of now or, for
        a replay, as of the decision's own ``as_of_us``."""
        now = self._clock() if as_of_us is None else as_of_us
        if step.kind == "onboarding":
            vendor = _vendor(reads, step.subject_id)
            return onboarding_facts(vendor, now), {
                "workflow_id": step.workflow_id, "tenant": step.tenant,
                "vendor_id": vendor.vendor_id, "as_of_us": now}
        invoice = reads.invoices.invoice(step.subject_id)
        if invoice is None:
            raise NotFound(f"no invoice {step.subject_id!r}", field="invoice_id")
        vendor = _vendor(reads, invoice.vendor_id)
        history = reads.invoices.history(vendor.vendor_id, since_us=now - 30 * DAY_US,
                                         limit=2000, excluding=invoice.invoice_id)
        po = reads.vendors.purchase_order(invoice.po_number) if invoice.po_number else None
        facts = invoice_facts(invoice, vendor, history, now_us=now,
                              po_amount=po.amount if po else None)
        return facts, {"workflow_id": step.workflow_id, "tenant": step.tenant,
                       "invoice_id": invoice.invoice_id, "vendor_id": vendor.vendor_id,
                       "invoice_number": invoice.number, "amount": str(facts.amount),
                       "currency": invoice.currency, "as_of_us": now}

    def _done(self, step: Step, events: list[tuple[str, Mapping[str, Any]]],
              message: Message | None) -> None:
        with self._uow() as uow:
            self._done_in(uow, step, events, message)
            uow.commit()

    def _decided_in(self, uow: UnitOfWork, step: Step,
                    events: list[tuple[str, Mapping[str, Any]]],
                    decision: Mapping[str, Any]) -> None:
        """A deciding step's end, in its decision's transaction: done, and a decision that
        stopped the workflow remembered as an agent's note on the vendor for the agents
        that look at the vendor later. The note holds what the gate recorded (stage,
        outcome, the rules that fired), never the model's own words, which injected text
        may have shaped."""
        self._done_in(uow, step, events, None)
        if decision["outcome"] == "APPROVE":
            return
        fired = [r["rule"] for r in decision["rules"] if r["fired"]]
        uow.vendors.add_note(Note(
            decision["payment"]["vendor_id"], Author.AGENT, decision["agent_id"],
            f"{step.step} decision on {step.subject_id}: {decision['outcome']}"
            + (f" (rules fired: {', '.join(fired)})" if fired else ""), self._clock()))

    def _done_in(self, uow: UnitOfWork, step: Step,
                 events: list[tuple[str, Mapping[str, Any]]], message: Message | None) -> None:
        """The step's end: the model's request/response events, the message it wrote (a
        notification), and the step marked done."""
        self._outbox.emit_many_in(uow, step.workflow_id, events, tenant=step.tenant)
        if message is not None:
            uow.vendors.add_message(message)
            self._outbox.emit_in(uow, "vendor.notified", message.vendor_id, {
                "vendor_id": message.vendor_id, "subject_id": step.subject_id},
                tenant=step.tenant)
        uow.workflows.finish(step, StepStatus.DONE, now_us=self._clock())

    def _failed(self, step: Step, error: str) -> None:
        now = self._clock()
        attempts = step.attempts + 1
        with self._uow() as uow:
            if attempts >= self._max_attempts:
                uow.workflows.finish(step, StepStatus.FAILED, now_us=now, error=error)
                self._outbox.emit_in(uow, "workflow.failed", step.workflow_id, {
                    "workflow_id": step.workflow_id, "step": step.step,
                    "error": error[:500]}, tenant=step.tenant)
            else:
                uow.workflows.finish(step, StepStatus.PENDING, now_us=now, error=error,
                                     retry_at_us=now + self._backoff_us * 2 ** (attempts - 1))
            uow.commit()


def _vendor(reads: AgentTools, vendor_id: str) -> Vendor:
    vendor = reads.vendors.vendor(vendor_id)
    if vendor is None:
        raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
    return vendor


def _vendor_facts(vendor: Vendor, history: Sequence[InvoiceSummary], now_us: int
                  ) -> VendorFacts:
    paid = [i for i in history if i.status in _COUNTED]
    return VendorFacts(
        vendor.vendor_id, vendor.legal_name, vendor.country, utc_datetime(vendor.created_at_us),
        vendor.timezone,
        utc_datetime(vendor.bank_changed_at_us) if vendor.bank_changed_at_us else None,
        sum((i.amount for i in paid), Decimal("0")) / 30, bool(paid), vendor.tenant)


def onboarding_facts(vendor: Vendor, now_us: int) -> PaymentFacts:
    """What the gate judges an onboarding by: the party (sanctions), not a payment."""
    return PaymentFacts({"vendor_id": vendor.vendor_id}, Decimal("0"), "USD",
                        _vendor_facts(vendor, (), now_us), utc_datetime(now_us))


def invoice_facts(invoice: Invoice, vendor: Vendor, history: Sequence[InvoiceSummary], *,
                  now_us: int, po_amount: Decimal | None) -> PaymentFacts:
    """The gate's facts for paying ``invoice``: the amount due (after an early-payment
    discount still reachable), the vendor, its last 30 days' approved invoices."""
    now = utc_datetime(now_us)
    amount = schedule(today=now.date(), due_on=invoice.due_on, amount=invoice.amount,
                      discount_percent=invoice.discount_percent,
                      discount_until=invoice.discount_until, settle_days=1).amount_after_discount
    counted = [i for i in history if i.status in _COUNTED and i.currency == invoice.currency]
    today = now_us - now_us % DAY_US
    return PaymentFacts(
        {"invoice_id": invoice.invoice_id, "invoice_number": invoice.number,
         "amount": str(invoice.amount), "currency": invoice.currency,
         "vendor_id": invoice.vendor_id},
        amount, invoice.currency, _vendor_facts(vendor, counted, now_us), now,
        volume_today=sum((i.amount for i in counted if i.submitted_at_us >= today), Decimal(0)),
        volume_30d=sum((i.amount for i in counted), Decimal(0)), po_amount=po_amount,
        recent_payments=tuple((utc_datetime(i.submitted_at_us), i.amount) for i in counted),
        payee_account=payable_account(vendor.vendor_id, invoice.currency))


