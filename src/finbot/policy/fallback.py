"""The rules-only fallback: what decides while an agent's circuit breaker is open.

It is deliberately conservative. It approves only a payment it can fully account for from
the gate's own facts (a payee paid before, a purchase order covering the amount, an amount
within the vendor's normal daily volume and under the new-payee threshold); anything else
escalates to a human. It never rejects: judging fraud is the agent's job, and the hard
guardrails still block whatever they would block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finbot.domain.decisions import ModelVersion, Outcome, Proposal, snapshot_hash
from finbot.domain.policy import Policy
from finbot.policy.guardrails import PaymentFacts

FALLBACK_AGENT_VERSION = "rules-only/1"
_RULES_TEXT = ("approve iff payee paid before, PO covers amount, amount within normal daily "
               "volume and under the new-payee threshold; else escalate")


def rules_only_proposal(policy: Policy, facts: PaymentFacts, snapshot: Mapping[str, Any], *,
                        agent_id: str, now_us: int) -> Proposal:
    """A proposal from the deterministic rules alone, in the shape an agent would give."""
    doubts = _doubts(policy, facts)
    if doubts:
        outcome, reasoning = Outcome.ESCALATE, "rules-only fallback escalates: " + "; ".join(
            doubts)
    else:
        outcome, reasoning = Outcome.APPROVE, (
            f"rules-only fallback approves {facts.amount} {facts.currency}: payee paid before, "
            f"purchase order {facts.po_amount} covers it, within the normal daily volume "
            f"{facts.vendor.avg_daily_volume}")
    version = ModelVersion(FALLBACK_AGENT_VERSION, "none", _rules_hash(), policy.version)
    return Proposal(agent_id, version, dict(snapshot), snapshot_hash(snapshot), outcome.value,
                    1.0, reasoning, started_at_us=now_us, proposed_at_us=now_us)


def rules_only_check(policy: Policy, snapshot: Mapping[str, Any], *, agent_id: str,
                     stage: str, now_us: int) -> Proposal:
    """While the agent of a check (onboarding, invoice, fraud) is out, no rule can stand in
    for its judgement: the item goes to a human."""
    version = ModelVersion(FALLBACK_AGENT_VERSION, "none", _rules_hash(), policy.version)
    return Proposal(agent_id, version, dict(snapshot), snapshot_hash(snapshot),
                    Outcome.ESCALATE.value, 1.0,
                    f"rules-only fallback escalates the {stage} check: its agent's circuit "
                    "breaker is open and no rule can stand in for its judgement",
                    started_at_us=now_us, proposed_at_us=now_us)


def _doubts(policy: Policy, facts: PaymentFacts) -> list[str]:
    policy, doubts = policy.limits_for(facts.currency), []
    if not facts.vendor.paid_before:
        doubts.append("this payee has never been paid")
    if facts.po_amount is None:
        doubts.append("no purchase order on file")
    elif facts.amount > facts.po_amount:
        doubts.append(f"{facts.amount} is over the purchase order {facts.po_amount}")
    if facts.amount > facts.vendor.avg_daily_volume:
        doubts.append(f"{facts.amount} is over the vendor's normal daily volume "
                      f"{facts.vendor.avg_daily_volume}")
    if facts.amount > policy.soft.new_payee_threshold:
        doubts.append(f"{facts.amount} is over {policy.soft.new_payee_threshold}, too much "
                      "to approve without an agent or a human")
    return doubts


def _rules_hash() -> str:
    return snapshot_hash({"rules": _RULES_TEXT})
