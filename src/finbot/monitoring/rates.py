"""Outcome rates, the human override rate, the gate's and agents' error rates as review
labels show them, and latency percentiles per stage.

Review labels only exist for escalations, so the errors they measure are these (each a
share of the settled escalations it names; None when there is none to count):

- gate false-positive rate: escalations a reviewer approved (the gate held a payment a
  person found sound);
- agent false-negative rate: of the settled escalations the agent had proposed to
  APPROVE, the share reviewers rejected (the agent would have paid; the gate caught it);
- agent false-positive rate: of those the agent had proposed to REJECT, the share
  reviewers approved;
- override rate: settled escalations whose verdict reversed the agent's APPROVE or REJECT
  (an agent that itself asked for a person, ESCALATE, made no recommendation to reverse).

The gate's false negatives (an APPROVE that should not have been) are not measurable from
labels, since approvals are not reviewed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from finbot.domain.decisions import Outcome
from finbot.monitoring.points import DecisionPoint, Settled
from finbot.monitoring.stats import nearest_rank

OUTCOMES = tuple(o.value for o in Outcome)


@dataclass(frozen=True)
class StageLatency:
    """One stage's agent time: decisions timed and the 95th and 99th percentiles."""

    stage: str
    decisions: int
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Rates:
    """A window's acting decisions (live and fallback) and settled reviews, summarised."""

    decisions: int
    shares: dict[str, float]
    settled: int
    override_rate: float | None
    gate_false_positive_rate: float | None
    agent_false_negative_rate: float | None
    agent_false_positive_rate: float | None
    latencies: list[StageLatency]


def rates(points: Sequence[DecisionPoint], reviews: Sequence[Settled]) -> Rates:
    acting = [p for p in points if p.acting]
    counts = Counter(p.outcome for p in acting)
    shares = {o: counts[o] / len(acting) if acting else 0.0 for o in OUTCOMES}
    recommended = [r for r in reviews if r.agent_outcome in ("APPROVE", "REJECT")]
    overridden = [r for r in recommended if r.approved != (r.agent_outcome == "APPROVE")]
    return Rates(len(acting), shares, len(reviews),
                 _share(len(overridden), len(recommended)),
                 _share(sum(r.approved for r in reviews), len(reviews)),
                 _share_where(reviews, "APPROVE", approved=False),
                 _share_where(reviews, "REJECT", approved=True),
                 stage_latencies(points))


def stage_times(points: Sequence[DecisionPoint]) -> dict[str, list[int]]:
    """Each stage's timed decisions' agent time in microseconds, ascending."""
    times: dict[str, list[int]] = defaultdict(list)
    for point in points:
        if point.latency_us is not None:
            times[point.stage].append(point.latency_us)
    return {stage: sorted(values) for stage, values in sorted(times.items())}


def stage_latencies(points: Sequence[DecisionPoint]) -> list[StageLatency]:
    """Nearest-rank p95 and p99 of each stage's agent time, in milliseconds."""
    return [StageLatency(stage, len(ordered), nearest_rank(ordered, 0.95) / 1000,
                         nearest_rank(ordered, 0.99) / 1000)
            for stage, ordered in stage_times(points).items()]


def _share_where(reviews: Sequence[Settled], agent_outcome: str, *,
                 approved: bool) -> float | None:
    those = [r for r in reviews if r.agent_outcome == agent_outcome]
    return _share(sum(r.approved == approved for r in those), len(those))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
