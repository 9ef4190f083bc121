"""The workflows the orchestrator runs, as a table of steps and what follows each outcome.

Onboarding is one agent's decision then a notification; an invoice passes the invoice
agent, the fraud agent and the payments agent in turn, then the vendor is told. A decision
that escalates waits for the review queue: an approving review continues the workflow as
an APPROVE would, a rejecting one ends it. Each step is durable (a row), runs at least
once, and is idempotent: its decision id is derived from the workflow and the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from finbot.domain.decisions import Outcome, Stage

StepName = Literal["onboarding", "invoice", "fraud", "payment", "notify"]
Workflow = Literal["onboarding", "invoice"]

FIRST_STEP: dict[Workflow, StepName] = {"onboarding": "onboarding", "invoice": "invoice"}



class StepStatus(StrEnum):
    """A step waits (pending, maybe with a later due time), is done, or failed for good."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Step:
    """One durable step of one workflow."""

    workflow_id: str
    step: StepName
    subject_id: str
    tenant: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    due_at_us: int = 0
    last_error: str = ""

    @property
    def kind(self) -> Workflow:
        return "onboarding" if self.workflow_id.startswith("onboarding:") else "invoice"

    @property
    def decision_id(self) -> str:
        """The decision this step records: one per workflow and step, whatever retries."""
        return f"{self.workflow_id}:{self.step}"


def workflow_id(kind: Workflow, subject_id: str) -> str:
    return f"{kind}:{subject_id}"


@dataclass(frozen=True)
class Transition:
    """What a decided step leads to: the next step (if any) and the subject's status."""

    next_step: StepName | None
    status: str
    waits_for_review: bool = False


def after(stage: Stage, outcome: Outcome | str) -> Transition:
    """The workflow's move once ``stage`` decided ``outcome`` (an approving review counts
    as APPROVE)."""
    outcome = Outcome(outcome)
    onboarding = stage is Stage.ONBOARDING
    if outcome is Outcome.ESCALATE:
        return Transition(None, "escalated", waits_for_review=True)
    if outcome is Outcome.REJECT:
        return Transition("notify", "rejected")
    if outcome is Outcome.BLOCK:
        return Transition("notify", "rejected" if onboarding else "blocked")
    if onboarding:
        return Transition("notify", "active")
    if stage is Stage.PAYMENT:
        return Transition("notify", "approved")
    return Transition("fraud" if stage is Stage.INVOICE else "payment", "validated")


_PROGRESS = {"pending": 0, "submitted": 0, "validated": 1, "escalated": 2, "active": 3,
             "approved": 3, "rejected": 3, "blocked": 3, "scheduled": 4, "paid": 5,
             "suspended": 6}


def moves_forward(current: str, new: str) -> bool:
    """Whether a workflow may move its subject from status ``current`` to ``new``: only
    forward (or to the same status again). One workflow's events travel on several
    aggregates and streams, so a late one (its consumer copy killed, the entry reclaimed
    after a while) can arrive after its successors: an escalation decided before the
    reviewers approved and the invoice was paid must not turn a paid invoice back into an
    escalated one, and one outcome of a stage never replaces another."""
    return new == current or _PROGRESS.get(new, 0) > _PROGRESS.get(current, 0)


REJECTED_BY_REVIEW = Transition("notify", "rejected")
"""A reviewer rejected the escalation: the workflow ends and the vendor is told."""
PAID = Transition(None, "paid")
"""The invoice's payment completed (the vendor was told when it was approved)."""
