"""Per-agent circuit breakers: the sliding-window statistics and the rules that trip them.

A breaker is not a failure counter. It watches the share of each gate outcome over the
last minutes against the agent's own baseline (hourly shares over the past week): a jump
in blocks means the agent is being fed something new, a jump in approvals that it may be
gamed, and a shift of any outcome by more than N standard deviations is drift. It also
trips on a slow model (p99 latency) and on unusable proposals (error rate). Everything
here is pure: time is passed in, so the rules are tested without clocks or databases.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple

OUTCOMES = ("APPROVE", "REJECT", "ESCALATE", "BLOCK")
HOUR_US = 3_600_000_000
_SHARE_FLOOR = 0.01  # a constant baseline has stdev 0; any wobble would count as drift

TripRule = Literal["block_rate_spike", "allow_rate_spike", "latency_p99", "error_rate",
                   "distribution_drift"]


class BreakerState(StrEnum):
    """closed: the agent decides; open: the rules-only fallback does; half_open: a few
    probe decisions go to the agent to see whether it has recovered."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSettings:
    """Thresholds; shares are fractions (0.15 is fifteen percentage points)."""

    window_us: int = 5 * 60_000_000
    error_window_us: int = 60_000_000
    min_samples: int = 20
    block_rate_spike: float = 0.15
    allow_rate_spike: float = 0.20
    error_rate_max: float = 0.01
    p99_latency_budget_us: int = 10_000_000
    drift_sigma: float = 2.0
    noise_z: float = 3.0
    baseline_hours: int = 7 * 24
    baseline_min_hours: int = 3
    baseline_min_decisions_per_hour: int = 10
    open_for_us: int = 60_000_000
    half_open_probes: int = 10


class Observation(NamedTuple):
    """One live decision: the gate's outcome, the agent's latency (None when the agent
    was not asked) and whether its proposal was unusable."""

    at_us: int
    outcome: str
    latency_us: int | None
    error: bool


@dataclass(frozen=True)
class Baseline:
    """For each outcome, its share in each past hour; ``established`` once enough hours."""

    shares: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    hours: int = 0

    def mean(self, outcome: str) -> float:
        values = self.shares.get(outcome, ())
        return statistics.fmean(values) if values else 0.0

    def stdev(self, outcome: str) -> float:
        """Population standard deviation of the hourly shares (the hours are all we have)."""
        values = self.shares.get(outcome, ())
        return statistics.pstdev(values) if len(values) > 1 else 0.0

    @classmethod
    def from_counts(cls, counts: Mapping[int, Mapping[str, int]], *,
                    min_decisions: int) -> Baseline:
        """From hourly outcome counts; hours with too few decisions say nothing and are
        skipped."""
        hours = [c for c in counts.values() if sum(c.values()) >= min_decisions]
        shares = {o: tuple(c.get(o, 0) / sum(c.values()) for c in hours) for o in OUTCOMES}
        return cls(shares, len(hours))


@dataclass(frozen=True)
class WindowStats:
    """What the window shows now."""

    count: int
    shares: Mapping[str, float]
    error_count: int
    error_total: int
    p99_latency_us: int | None

    @property
    def error_rate(self) -> float:
        return self.error_count / self.error_total if self.error_total else 0.0


class Window:
    """The observations of the last ``window_us``, oldest first (they arrive in time
    order), and those of the last ``error_window_us`` for the error rate, with running
    counts and the latencies kept sorted: the stats, asked at every decision of a busy
    agent, cost O(log n) rather than a pass and a sort over the whole window."""

    def __init__(self, window_us: int, *, error_window_us: int) -> None:
        self._window_us = window_us
        self._error_window_us = min(error_window_us, window_us)
        self._items: deque[Observation] = deque()
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._latencies: list[int] = []  # sorted
        self._recent: deque[Observation] = deque()
        self._recent_errors = 0

    def add(self, observation: Observation) -> None:
        self._items.append(observation)
        self._counts[observation.outcome] = self._counts.get(observation.outcome, 0) + 1
        if observation.latency_us is not None:
            bisect.insort(self._latencies, observation.latency_us)
        self._recent.append(observation)
        self._recent_errors += observation.error

    def clear(self) -> None:
        self._items.clear()
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._latencies.clear()
        self._recent.clear()
        self._recent_errors = 0

    def __len__(self) -> int:
        return len(self._items)

    def stats(self, now_us: int) -> WindowStats:
        items = self._items
        while items and items[0].at_us <= now_us - self._window_us:
            gone = items.popleft()
            self._counts[gone.outcome] -= 1
            if gone.latency_us is not None:
                del self._latencies[bisect.bisect_left(self._latencies, gone.latency_us)]
        recent = self._recent
        while recent and recent[0].at_us <= now_us - self._error_window_us:
            self._recent_errors -= recent.popleft().error
        count = len(items)
        shares = {o: (n / count if count else 0.0) for o, n in self._counts.items()}
        return WindowStats(count, shares, self._recent_errors, len(recent),
                           _p99(self._latencies))


def _p99(ordered: list[int]) -> int | None:
    """Nearest-rank 99th percentile."""
    if not ordered:
        return None
    return ordered[max(math.ceil(0.99 * len(ordered)) - 1, 0)]


class Trip(NamedTuple):
    """One rule that fired, with the numbers, in words an operator can act on."""

    rule: TripRule
    detail: str


def check_trips(stats: WindowStats, baseline: Baseline,
                settings: BreakerSettings) -> list[Trip]:
    """Every rule that fires on this window; none below the minimum sample size, and the
    baseline rules only once the baseline is established."""
    trips: list[Trip] = []
    if stats.error_total >= settings.min_samples and (
            stats.error_rate > settings.error_rate_max):
        trips.append(Trip("error_rate", f"{stats.error_count} of {stats.error_total} proposals "
                          f"unusable ({stats.error_rate:.1%}, limit "
                          f"{settings.error_rate_max:.1%})"))
    if stats.count < settings.min_samples:
        return trips
    budget = settings.p99_latency_budget_us
    if stats.p99_latency_us is not None and stats.p99_latency_us > budget:
        trips.append(Trip("latency_p99", f"p99 latency {stats.p99_latency_us / 1000:.0f} ms "
                          f"over the {budget / 1000:.0f} ms budget"))
    if baseline.hours >= settings.baseline_min_hours:
        trips.extend(_spikes(stats, baseline, settings))
        trips.extend(_drift(stats, baseline, settings))
    return trips


def _spikes(stats: WindowStats, baseline: Baseline, settings: BreakerSettings) -> Iterable[Trip]:
    blocked = stats.shares["BLOCK"] + stats.shares["REJECT"]
    normal = baseline.mean("BLOCK") + baseline.mean("REJECT")
    if blocked - normal > settings.block_rate_spike and _beyond_noise(
            blocked - normal, normal, stats.count, settings):
        yield Trip("block_rate_spike", _rise("BLOCK/REJECT", blocked, normal,
                                             settings.block_rate_spike))
    allowed, usual = stats.shares["APPROVE"], baseline.mean("APPROVE")
    if allowed - usual > settings.allow_rate_spike and _beyond_noise(
            allowed - usual, usual, stats.count, settings):
        yield Trip("allow_rate_spike", _rise("APPROVE", allowed, usual,
                                             settings.allow_rate_spike))


def _beyond_noise(shift: float, mean: float, count: int, settings: BreakerSettings) -> bool:
    """Whether a share's shift from ``mean`` is more than ``noise_z`` standard errors of a
    share over ``count`` decisions (with a continuity correction, as counts are whole)."""
    noise = math.sqrt(mean * (1 - mean) / count) + 0.5 / count
    return shift > settings.noise_z * noise


def _rise(label: str, now: float, normal: float, limit: float) -> str:
    return (f"{label} share {now:.0%} in the window vs {normal:.0%} baseline "
            f"(+{(now - normal) * 100:.0f} points, limit +{limit * 100:.0f})")


def _drift(stats: WindowStats, baseline: Baseline, settings: BreakerSettings) -> Iterable[Trip]:
    """An outcome's share moved more than ``drift_sigma`` hour-to-hour deviations from its
    7-day mean, and by more than the window's own sampling noise could explain (at
    ``noise_z``): a small, noisy window alone never reads as drift."""
    for outcome in OUTCOMES:
        mean, share = baseline.mean(outcome), stats.shares[outcome]
        sigma = max(baseline.stdev(outcome), _SHARE_FLOOR)
        shift = abs(share - mean)
        if shift > settings.drift_sigma * sigma and _beyond_noise(shift, mean, stats.count,
                                                                  settings):
            yield Trip("distribution_drift",
                       f"{outcome} share {share:.0%} is {shift / sigma:.1f} sigma from its "
                       f"7-day mean {mean:.0%} (limit {settings.drift_sigma:g} sigma)")
            return


@dataclass(frozen=True)
class StoredBreaker:
    """A breaker's shared state, as every process reads it."""

    agent_id: str
    state: BreakerState
    changed_at_us: int
    reason: str
    version: int = 0


def cooled_down(stored: StoredBreaker, now_us: int, settings: BreakerSettings) -> bool:
    """An open breaker may let probes through once it has been open long enough."""
    return stored.state is BreakerState.OPEN and (
        now_us - stored.changed_at_us >= settings.open_for_us)


def unhealthy(observation: Observation, settings: BreakerSettings) -> bool:
    """A probe that failed: an unusable proposal or an answer over the latency budget."""
    return observation.error or (observation.latency_us or 0) > settings.p99_latency_budget_us
