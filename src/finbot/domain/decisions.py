"""What an agent may hand back: a decision proposal, and the checks it must pass.

An agent reads, reasons and emits a proposal; it never acts. A proposal carries the full
input the agent saw (not references), that input's SHA-256, the outcome, a confidence,
plain-English reasoning and the tool calls made, under a model version that names the
agent version, model, prompt hash and policy version. A malformed or late proposal is
refused with a specific code; the gate then escalates the item and nothing executes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from finbot.domain.audit import canonical_json, sha256_hex
from finbot.domain.errors import InvalidInput

MIN_REASONING_CHARS = 20


class Outcome(StrEnum):
    """APPROVE, REJECT and ESCALATE come from agents; BLOCK only from a hard guardrail."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"
    ESCALATE = "ESCALATE"
    BLOCK = "BLOCK"


AGENT_OUTCOMES = frozenset({Outcome.APPROVE, Outcome.REJECT, Outcome.ESCALATE})


class Mode(StrEnum):
    """live: may execute; shadow: logged, never executed; fallback: rules-only decisions;
    training: an arena sandbox's decision with the soft and selected hard guardrails waived
    (what the production gate would have said is recorded beside it), executable only
    inside that sandbox's tenant."""

    LIVE = "live"
    SHADOW = "shadow"
    FALLBACK = "fallback"
    TRAINING = "training"

    @property
    def executes(self) -> bool:
        """Whether a decision in this mode may lead to a payment (shadow never does)."""
        return self is not Mode.SHADOW


class Stage(StrEnum):
    """Which agent's decision a record is. Only a ``payment`` decision names a payment
    that may execute; the others are checks a workflow must pass to get there."""

    ONBOARDING = "onboarding"
    INVOICE = "invoice"
    FRAUD = "fraud"
    PAYMENT = "payment"

    @property
    def pays(self) -> bool:
        return self is Stage.PAYMENT


class ProposalRejected(InvalidInput):
    """Raised when a proposal is malformed, inconsistent or late; the item escalates."""

    code = "proposal_rejected"


@dataclass(frozen=True)
class ModelVersion:
    """Everything that, if changed, could change a decision."""

    agent_version: str
    model_name: str
    prompt_hash: str
    policy_version: str

    @property
    def label(self) -> str:
        return (f"{self.agent_version}/{self.model_name}/{self.prompt_hash[:12]}/"
                f"{self.policy_version}")


@dataclass(frozen=True)
class ToolCall:
    """One read-only tool call the agent made, with what it returned."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    result: Any = None


@dataclass(frozen=True)
class Proposal:
    """An agent's decision, not yet judged by the gate."""

    agent_id: str
    model_version: ModelVersion
    input_snapshot: Mapping[str, Any]
    input_hash: str
    outcome: str
    confidence: float
    reasoning: str
    tool_calls: Sequence[ToolCall] = ()
    started_at_us: int = 0
    proposed_at_us: int = 0
    exchanges: Sequence[Mapping[str, Any]] = ()
    """Every model request and response behind the proposal, for an exact replay."""
    amount: Decimal | None = None
    """The amount a payment proposal says to pay; None from an agent that names none (a
    check, the rules-only fallback, an older payments agent). The gate compares it with
    the amount due and never pays it outside an arena sandbox's training mode."""


def snapshot_hash(snapshot: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the full input the agent saw."""
    return sha256_hex(canonical_json(snapshot))


def check_proposal(proposal: Proposal, *, timeout_s: float) -> Outcome:
    """The proposal's outcome if it is well formed and on time; else ProposalRejected."""
    outcome = _outcome(proposal.outcome)
    if not isinstance(proposal.input_snapshot, Mapping) or not proposal.input_snapshot:
        raise ProposalRejected("the proposal carries no input snapshot",
                               code="snapshot_missing", field="input_snapshot")
    if snapshot_hash(proposal.input_snapshot) != proposal.input_hash:
        raise ProposalRejected("the input hash does not match the input snapshot",
                               code="input_hash_mismatch", field="input_hash")
    _check_confidence(proposal.confidence)
    _check_reasoning(proposal.reasoning)
    if proposal.proposed_at_us - proposal.started_at_us > timeout_s * 1_000_000:
        raise ProposalRejected(f"the agent answered after its {timeout_s:g} s timeout",
                               code="agent_timed_out", field="proposed_at")
    return outcome


_AGENT_OUTCOMES_BY_NAME = {o.value: o for o in AGENT_OUTCOMES}


def _outcome(value: object) -> Outcome:
    outcome = _AGENT_OUTCOMES_BY_NAME.get(value) if isinstance(value, str) else None
    if outcome is None:
        raise ProposalRejected(f"{value!r} is not an outcome an agent may propose",
                               code="outcome_unknown", field="outcome")
    return outcome


def _check_confidence(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            not math.isfinite(value) or not 0 <= value <= 1):
        raise ProposalRejected(f"confidence must be a number from 0 to 1, not {value!r}",
                               code="confidence_out_of_range", field="confidence")


def _check_reasoning(value: object) -> None:
    if not isinstance(value, str) or len(value.strip()) < MIN_REASONING_CHARS:
        raise ProposalRejected("the proposal must explain itself in plain words, naming the "
                               "facts it relied on", code="reasoning_missing",
                               field="reasoning")
