"""The monitor: read a baseline and a current window of the decision log, measure rates,
drift and bias, and raise what crossed its line.

``check`` is what runs on a schedule (`finbot monitor check`): each drifted stream and
each flagged segment becomes an event, and an agent with a drifted stream has its circuit
breaker tripped with a reason naming the drift, so the rules-only fallback decides until
someone who looked resets it. ``latest`` keeps the default windows' report for a few
minutes, for the metrics endpoint and the dashboard, which are read far more often than
the decisions change.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from finbot.domain.breakers import BreakerState
from finbot.domain.clock import now_us
from finbot.monitoring.bias import SegmentTest, VendorFacts, segment_tests
from finbot.monitoring.drift import StreamDrift, agent_drift
from finbot.monitoring.points import DecisionPoint, Settled, decision_point, settled
from finbot.monitoring.rates import Rates, rates, stage_times
from finbot.services.breakers import BreakerService
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory

DAY_US = 86_400_000_000
BASELINE_DAYS = 7
CACHE_US = 300_000_000


class MonitorReads(Protocol):
    """What the monitor reads (``adapters/db/monitor_queries.MonitorQueries``)."""

    def window(self, since_us: int, until_us: int
               ) -> list[tuple[str, str, int, dict[str, Any]]]: ...
    def decisions(self, decision_ids: Collection[str]) -> dict[str, dict[str, Any]]: ...
    def vendors(self, vendor_ids: Collection[str]) -> dict[str, VendorFacts]: ...


@dataclass(frozen=True)
class Span:
    """A window of time, [since_us, until_us)."""

    since_us: int
    until_us: int


@dataclass(frozen=True)
class MonitorReport:
    """Both windows measured: rates of each, drift between them, bias in the current."""

    baseline: Span
    current: Span
    rates: Rates
    baseline_rates: Rates
    counts: dict[tuple[str, str], int]  # current window's decisions by (outcome, mode)
    latencies_us: dict[str, list[int]]  # current window's agent time per stage, ascending
    drift: list[StreamDrift]
    bias: list[SegmentTest]

    @property
    def drifted(self) -> list[StreamDrift]:
        return [d for d in self.drift if d.drifted]

    @property
    def flagged(self) -> list[SegmentTest]:
        return [t for t in self.bias if t.flagged]


@dataclass(frozen=True)
class CheckResult:
    """What a check found and did: the report, the events raised, the breakers tripped."""

    report: MonitorReport
    events: int
    tripped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlatformGauges:
    """Figures of the moment: the review queue, the outbox, the breakers."""

    pending_reviews: int
    overdue_reviews: int
    unrelayed_events: int
    dead_letters: int
    breakers: dict[str, str]


class MonitorService:
    """Measures the decision log's windows and raises alerts on drift and bias."""

    def __init__(self, uow: UowFactory, reads: MonitorReads, breakers: BreakerService, *,
                 outbox: Outbox, home_tenant: str = "default",
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._reads = reads
        self._breakers = breakers
        self._outbox = outbox
        self._home = home_tenant
        self._clock = clock
        self._cached: tuple[int, MonitorReport] | None = None

    def default_spans(self) -> tuple[Span, Span]:
        """The last day against the seven days before it."""
        now = self._clock()
        current = Span(now - DAY_US, now)
        return Span(current.since_us - BASELINE_DAYS * DAY_US, current.since_us), current

    def report(self, *, baseline: Span | None = None,
               current: Span | None = None) -> MonitorReport:
        default_baseline, default_current = self.default_spans()
        baseline, current = baseline or default_baseline, current or default_current
        before, before_reviews = self._window(baseline)
        now, reviews = self._window(current)
        vendors = self._reads.vendors({p.vendor_id for p in now})
        return MonitorReport(baseline, current, rates(now, reviews),
                             rates(before, before_reviews), _counts(now), stage_times(now),
                             agent_drift(before, now), segment_tests(now, vendors))

    def latest(self) -> MonitorReport:
        """The default windows' report, measured at most every five minutes."""
        now = self._clock()
        if self._cached is None or now - self._cached[0] >= CACHE_US:
            self._cached = (now, self.report())
        return self._cached[1]

    def check(self, *, baseline: Span | None = None,
              current: Span | None = None) -> CheckResult:
        """Measure, announce every drifted stream and flagged segment, and trip the
        breaker of each drifted agent that is not open already."""
        report = self.report(baseline=baseline, current=current)
        events = self._announce(report)
        tripped = [agent for agent, reasons in _reasons_by_agent(report).items()
                   if self._trip(agent, reasons)]
        return CheckResult(report, events, tripped)

    def gauges(self) -> PlatformGauges:
        with self._uow() as uow:
            pending, overdue = uow.reviews.counts(self._clock())
            outbox = uow.outbox.stats()
        return PlatformGauges(pending, overdue, outbox["unrelayed"], outbox["dead_letters"],
                              {b.agent_id: b.state.value for b in self._breakers.status()})

    def _window(self, span: Span) -> tuple[list[DecisionPoint], list[Settled]]:
        rows = self._reads.window(span.since_us, span.until_us)
        points = [p for kind, decision_id, at, data in rows if kind == "decision"
                  and (p := decision_point(decision_id, at, data)) is not None]
        reviews = [(decision_id, data) for kind, decision_id, _, data in rows
                   if kind == "review"]
        decided = self._reads.decisions({d for d, _ in reviews})
        found = [settled(data, decided.get(d), d) for d, data in reviews]
        return points, [s for s in found if s is not None]

    def _announce(self, report: MonitorReport) -> int:
        drifted, flagged = report.drifted, report.flagged
        if not drifted and not flagged:
            return 0
        with self._uow() as uow:
            for d in drifted:
                self._outbox.emit_in(uow, "monitor.drift_detected", f"agent:{d.agent_id}", {
                    "agent_id": d.agent_id, "stream": d.stream, "psi": f"{d.psi:.4f}",
                    "ks_p_value": "" if d.ks_p is None else f"{d.ks_p:.3g}",
                    "baseline_n": d.baseline_n, "current_n": d.current_n}, tenant=self._home)
            for t in flagged:
                self._outbox.emit_in(uow, "monitor.bias_detected",
                                     f"segment:{t.dimension}:{t.segment}", {
                    "dimension": t.dimension, "segment": t.segment, "rate": f"{t.rate:.4f}",
                    "rest_rate": f"{t.rest_rate:.4f}", "adjusted_p": f"{t.adjusted_p:.3g}",
                    "decisions": t.decisions}, tenant=self._home)
            uow.commit()
        return len(drifted) + len(flagged)

    def _trip(self, agent_id: str, reasons: list[str]) -> bool:
        states = {b.agent_id: b.state for b in self._breakers.status()}
        if states.get(agent_id) is BreakerState.OPEN:
            return False
        self._breakers.trip(agent_id, "monitor: " + "; ".join(reasons))
        return True


def _reasons_by_agent(report: MonitorReport) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = defaultdict(list)
    for d in report.drifted:
        reasons[d.agent_id].append(d.reason)
    return dict(reasons)


def _counts(points: list[DecisionPoint]) -> dict[tuple[str, str], int]:
    return dict(Counter((p.outcome, p.mode) for p in points))

