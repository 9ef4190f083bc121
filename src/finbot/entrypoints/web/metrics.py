"""GET /metrics: the platform's figures in Prometheus' text format (``prometheus_client``).

Who may read it: a scraper sending ``Authorization: Bearer <FINBOT_METRICS_TOKEN>`` (when
that setting is set), or a signed-in member of the home tenant's staff (decision
readers: reviewer, admin, auditor). Nobody else: anonymous callers get 401, vendor users,
players and other tenants' staff 403, since the figures are the whole platform's.

The figures are read when scraped. Window figures (decisions, latency, rates, drift,
bias) are the monitor's default windows (the last day against the seven before),
measured at most every five minutes; they are gauges of that window, so query them as
they are (``histogram_quantile`` over the latency buckets, no ``rate()``). Queue, outbox,
consumer lag and breaker figures are of the moment. No label names a vendor.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from finbot.adapters.redis.consumer import DEAD_LETTERS
from finbot.adapters.redis.streams import GroupState, group_states, stream_key
from finbot.bootstrap import App
from finbot.domain.breakers import BreakerState
from finbot.domain.clock import now_us
from finbot.domain.errors import Forbidden, Unauthenticated
from finbot.domain.events import STREAMS
from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import WebDep, limited_by_address, principal
from finbot.services.monitoring import MonitorReport, MonitorService

router = APIRouter(include_in_schema=False)
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


async def metrics_reader(request: Request, web: WebDep) -> None:
    """Let the scrape token's bearer or the home tenant's signed-in staff through."""
    token = web.app.settings.metrics_token
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if token is not None and scheme.lower() == "bearer" and hmac.compare_digest(
            sent.strip().encode(), token.get_secret_value().encode()):
        return
    try:
        who = await principal(request, web)
    except Unauthenticated as missing:  # a scraper is no browser: 401, not a trip to /login
        raise HTTPException(401, missing.message,
                            headers={"WWW-Authenticate": "Bearer"}) from None
    who.require(Permission.DECISIONS_READ)
    if who.tenant != web.app.settings.home_tenant:
        raise Forbidden("the platform's metrics are the operating tenant's", field="tenant")


@router.get("/metrics", dependencies=[Depends(limited_by_address("default")),
                                      Depends(metrics_reader)])
def metrics(web: WebDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(web.app.monitor))
    registry.register(SpineCollector(web.app))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class PlatformCollector(Collector):
    """Reads the monitor's report and the platform's gauges at each scrape."""

    def __init__(self, monitor: MonitorService) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        report, gauges = self._monitor.latest(), self._monitor.gauges()
        yield from _decisions(report)
        yield from _rates(report)
        yield from _drift_and_bias(report)
        breakers = GaugeMetricFamily("finbot_breaker_state", "1 for each agent breaker's "
                                     "current state, else 0", labels=["agent_id", "state"])
        for agent, state in sorted(gauges.breakers.items()):
            for each in BreakerState:
                breakers.add_metric([agent, each.value], 1.0 if each.value == state else 0.0)
        yield breakers
        yield from _gauges(
            ("finbot_review_queue_depth", "Escalations waiting for review",
             gauges.pending_reviews),
            ("finbot_review_sla_breaches", "Waiting escalations past their SLA due time",
             gauges.overdue_reviews),
            ("finbot_outbox_unrelayed", "Outbox events not yet relayed to the event stream "
             "(with FINBOT_REDIS_URL; embedded consumers read the outbox)",
             gauges.unrelayed_events),
            ("finbot_dead_letters", "Events a consumer could not apply", gauges.dead_letters))


def _gauges(*figures: tuple[str, str, float | None]) -> Iterator[Metric]:
    """One unlabelled gauge per figure that has a value."""
    for name, text, value in figures:
        if value is not None:
            yield GaugeMetricFamily(name, text, value=float(value))


def _decisions(report: MonitorReport) -> Iterator[Metric]:
    decided = GaugeMetricFamily("finbot_decisions", "Decisions in the last day, by outcome "
                                "and mode", labels=["outcome", "mode"])
    for (outcome, mode), count in sorted(report.counts.items()):
        decided.add_metric([outcome, mode], float(count))
    yield decided
    latency = HistogramMetricFamily("finbot_agent_latency_seconds", "The agents' model time "
                                    "per decision in the last day, by stage",
                                    labels=["stage"])
    for stage, times in sorted(report.latencies_us.items()):
        seconds = [t / 1_000_000 for t in times]
        buckets = [(str(b), float(sum(s <= b for s in seconds))) for b in LATENCY_BUCKETS_S]
        latency.add_metric([stage], [*buckets, ("+Inf", float(len(seconds)))],
                           sum_value=sum(seconds))
    yield latency


def _rates(report: MonitorReport) -> Iterator[Metric]:
    r = report.rates
    shares = GaugeMetricFamily("finbot_outcome_share", "Share of the last day's acting "
                               "decisions with each outcome", labels=["outcome"])
    for outcome, share in r.shares.items():
        shares.add_metric([outcome], share)
    yield shares
    yield from _gauges(
        ("finbot_override_rate", "Settled escalations reversing the agent's verdict",
         r.override_rate),
        ("finbot_gate_false_positive_rate", "Settled escalations reviewers approved",
         r.gate_false_positive_rate),
        ("finbot_agent_false_negative_rate", "Agent APPROVEs among settled escalations "
         "that reviewers rejected", r.agent_false_negative_rate),
        ("finbot_agent_false_positive_rate", "Agent REJECTs among settled escalations "
         "that reviewers approved", r.agent_false_positive_rate))


def _drift_and_bias(report: MonitorReport) -> Iterator[Metric]:
    psi = GaugeMetricFamily("finbot_drift_psi", "PSI of the last day against the seven "
                            "before, per agent and stream", labels=["agent_id", "stream"])
    drifted = GaugeMetricFamily("finbot_drift_alert", "1 when the stream has drifted",
                                labels=["agent_id", "stream"])
    for d in report.drift:
        psi.add_metric([d.agent_id, d.stream], d.psi)
        drifted.add_metric([d.agent_id, d.stream], 1.0 if d.drifted else 0.0)
    yield psi
    yield drifted
    bias = GaugeMetricFamily("finbot_bias_alerts", "Segments flagged as blocked or rejected "
                             "significantly more often than the rest",
                             labels=["dimension", "segment"])
    for t in report.flagged:
        bias.add_metric([t.dimension, t.segment], 1.0)
    yield bias


class SpineCollector(Collector):
    """The event spine's lag at each scrape: per consumer group, the events it has yet to
    take (embedded: outbox rows past its offset; with Redis: each stream's XINFO GROUPS
    lag, and entries delivered but not acknowledged), how old the oldest of them is, how
    old the oldest event the relay has yet to publish is, and the dead-letter stream's
    length (embedded consumers keep theirs in the table ``finbot_dead_letters`` counts)."""

    def __init__(self, app: App) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        labels = ["consumer", "stream"]
        lag = GaugeMetricFamily("finbot_consumer_lag", "Events a consumer group has yet "
                                "to take", labels=labels)
        age = GaugeMetricFamily("finbot_consumer_lag_seconds", "Age of the oldest event "
                                "an embedded consumer has yet to take", labels=labels)
        pending = GaugeMetricFamily("finbot_consumer_pending", "Stream entries delivered "
                                    "to a consumer group and not yet acknowledged",
                                    labels=labels)
        now = now_us()
        if self._app.redis is None:
            for name, (count, oldest) in self._backlogs().items():
                lag.add_metric([name, "outbox"], float(count))
                age.add_metric([name, "outbox"], _seconds(now, oldest))
        else:
            for stream, state in self._groups():
                if state.lag is not None:
                    lag.add_metric([state.group, stream], float(state.lag))
                pending.add_metric([state.group, stream], float(state.pending))
        yield from (lag, age, pending)
        if self._app.redis is not None:
            with self._app.uow() as uow:
                oldest = uow.outbox.oldest_unrelayed()
            yield GaugeMetricFamily("finbot_outbox_lag_seconds", "Age of the oldest event "
                                    "not yet relayed to the event stream",
                                    value=_seconds(now, oldest))
            dead = stream_key(DEAD_LETTERS, prefix=self._app.settings.events_prefix)
            yield GaugeMetricFamily("finbot_stream_dead_letters", "Entries consumer groups "
                                    "gave up on, in the dead-letter stream",
                                    value=float(self._app.redis.xlen(dead)))

    def _backlogs(self) -> dict[str, tuple[int, int | None]]:
        with self._app.uow() as uow:
            return {name: uow.outbox.backlog(uow.outbox.offset(name))
                    for name in sorted(self._app.consumers)}

    def _groups(self) -> Iterator[tuple[str, GroupState]]:
        assert self._app.redis is not None
        for stream in STREAMS:
            key = stream_key(stream, prefix=self._app.settings.events_prefix)
            for state in group_states(self._app.redis, key):
                yield stream, state


def _seconds(now: int, oldest: int | None) -> float:
    return 0.0 if oldest is None else max(0.0, (now - oldest) / 1_000_000)
