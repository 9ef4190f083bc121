"""The breaker drill: trip an agent's breaker on purpose, prove the rules-only fallback
decides in its place without the agent being asked, then reset it.

An untested breaker does not fire when it is needed. The drill runs the real decision path
against the real log; its decision is marked as a drill, so it is never queued, counted or
executable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from finbot.domain.breakers import BreakerState
from finbot.domain.clock import now_us
from finbot.domain.decisions import Mode, Proposal
from finbot.domain.errors import Conflict
from finbot.domain.policy import Policy
from finbot.policy.guardrails import PaymentFacts, VendorFacts
from finbot.services.breakers import BreakerService
from finbot.services.decisions import DecisionService


@dataclass
class DrillReport:
    """Each step of the drill and whether it held."""

    agent_id: str
    steps: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(ok for _, ok in self.steps)

    def check(self, step: str, ok: bool) -> None:
        self.steps.append((step, ok))


class _MustNotBeAsked:
    """Stands in for the agent during the drill; being asked is the failure we test for."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.calls = 0

    def propose(self, snapshot: Mapping[str, Any]) -> Proposal:
        self.calls += 1
        raise RuntimeError("the agent was asked while its breaker was open")


def run_drill(agent_id: str, *, breakers: BreakerService, decisions: DecisionService,
              policy: Policy) -> DrillReport:
    """Trip, decide through the fallback, reset; refuses to drill an already open breaker."""
    if not breakers.allows_agent(agent_id):
        raise Conflict(f"the breaker of {agent_id} is already open; reset it before a drill",
                       field="agent")
    report = DrillReport(agent_id)
    tripped = breakers.trip(agent_id, "drill: deliberately tripped")
    report.check("breaker opens", tripped.state is BreakerState.OPEN)
    report.check("agent is pulled out of the loop", not breakers.allows_agent(agent_id))
    agent = _MustNotBeAsked(agent_id)
    facts = _drill_facts(policy)
    decision = decisions.decide(f"drill:{agent_id}:{now_us()}", policy=policy, facts=facts,
                                snapshot={"drill": True, "invoice": dict(facts.invoice)},
                                agent=agent, drill=True)
    report.check("rules-only fallback decides (mode = fallback)",
                 decision.mode is Mode.FALLBACK)
    report.check("the agent is never asked", agent.calls == 0)
    reset = breakers.reset(agent_id, "drill: reset after a successful fallback")
    report.check("breaker closes again", reset.state is BreakerState.CLOSED)
    report.check("agent is back in the loop", breakers.allows_agent(agent_id))
    return report


def _drill_facts(policy: Policy) -> PaymentFacts:
    """A small, well-documented payment the fallback can judge on its own."""
    now = datetime.now(UTC)
    amount = min(Decimal("100.00"), policy.hard.max_single_payment)
    vendor = VendorFacts("drill-vendor", "Drill Vendor", "US", now - timedelta(days=365),
                         paid_before=True, avg_daily_volume=amount * 10)
    invoice = {"invoice_number": "DRILL-1", "amount": str(amount),
               "currency": policy.base_currency, "vendor_id": "drill-vendor"}
    return PaymentFacts(invoice, amount, policy.base_currency, vendor, now, po_amount=amount,
                        payee_account="drill:no-account")
