"""The dashboard's charts, drawn on the server from the decision log: the share of each
outcome per hour, and the 99th-percentile agent time per stage. Geometry is computed
here and drawn as inline SVG by the template, with the same numbers in a table.

Latency is what the decision records hold: each model exchange's time, summed per
decision. The gate's own time and the wait in the step queue are not recorded, so a
decision the hard rules blocked (no model asked) has no latency and is not counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from finbot.domain.audit import AuditRecord
from finbot.domain.decisions import Outcome
from finbot.monitoring.points import model_time_us
from finbot.monitoring.stats import nearest_rank

HOUR_US = 3_600_000_000
OUTCOMES = tuple(o.value for o in Outcome)
COLOURS = {"APPROVE": "#1a7f37", "ESCALATE": "#bf8700", "REJECT": "#b42318",
           "BLOCK": "#57606a"}
WIDTH, HEIGHT = 480, 120


@dataclass(frozen=True)
class Hour:
    """One hour's decisions by outcome, and their bars' geometry (share of the hour)."""

    start_us: int
    counts: dict[str, int]
    x: float
    bars: list[tuple[str, float, float]]  # outcome, y, height

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class StageLatency:
    stage: str
    p99_ms: float
    decisions: int
    width: float


def outcome_hours(records: Sequence[AuditRecord], *, now_us: int, hours: int = 24
                  ) -> list[Hour]:
    """The last ``hours`` hours, oldest first, each with its outcome counts and bars."""
    first = now_us - now_us % HOUR_US - (hours - 1) * HOUR_US
    counted: dict[int, Counter[str]] = defaultdict(Counter)
    for record in records:
        if record.created_at >= first:
            counted[(record.created_at - first) // HOUR_US][str(record.data["outcome"])] += 1
    step = WIDTH / hours
    return [_hour(first + i * HOUR_US, counted[i], x=i * step) for i in range(hours)]


def _hour(start_us: int, counts: Counter[str], *, x: float) -> Hour:
    total, y, bars = sum(counts.values()), float(HEIGHT), []
    for outcome in OUTCOMES:
        if counts[outcome]:
            height = HEIGHT * counts[outcome] / total
            y -= height
            bars.append((outcome, round(y, 2), round(height, 2)))
    return Hour(start_us, {o: counts[o] for o in OUTCOMES}, x, bars)


def stage_latencies(records: Sequence[AuditRecord]) -> list[StageLatency]:
    """The nearest-rank 99th percentile of each stage's agent time, in milliseconds."""
    times: dict[str, list[int]] = defaultdict(list)
    for record in records:
        spent = model_time_us(record.data)
        if spent is not None:
            times[str(record.data.get("stage", "payment"))].append(spent)
    p99 = {stage: nearest_rank(sorted(values), 0.99) / 1000 for stage, values in times.items()}
    slowest = max(p99.values(), default=0.0) or 1.0
    return [StageLatency(stage, round(p99[stage], 1), len(times[stage]),
                         round(WIDTH * p99[stage] / slowest, 2)) for stage in sorted(times)]
