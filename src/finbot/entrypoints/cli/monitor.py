"""``finbot monitor …``: decision-distribution drift, rates and bias of a current window
against a baseline window, and the check that raises alerts and trips breakers on drift."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.domain.clock import utc_datetime
from finbot.entrypoints.cli.common import console, errors, reports_errors
from finbot.services.monitoring import MonitorReport, MonitorService, Span

monitor_cli = typer.Typer(help="Drift, rates and bias of the agents' decisions.",
                          no_args_is_help=True)
_WHEN = "UTC date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00"
BASELINE_FROM = typer.Option(None, "--baseline-from", help=f"Baseline start ({_WHEN}); "
                             "default: 8 days ago.")
BASELINE_TO = typer.Option(None, "--baseline-to", help="Baseline end; default: a day ago.")
FROM = typer.Option(None, "--from", help="Current window start; default: a day ago.")
TO = typer.Option(None, "--to", help="Current window end; default: now.")
JSON = typer.Option(False, "--json", help="Print the report as JSON.")


@monitor_cli.command("report")
@reports_errors
def report(baseline_from: datetime | None = BASELINE_FROM,
           baseline_to: datetime | None = BASELINE_TO, from_: datetime | None = FROM,
           to: datetime | None = TO, as_json: bool = JSON) -> None:
    """Rates, per-agent drift (PSI, KS) and segment bias of the current window against
    the baseline. Changes nothing."""
    monitor = bootstrap().monitor
    found = monitor.report(**_spans(monitor, baseline_from, baseline_to, from_, to))
    _show(found, as_json=as_json)


@monitor_cli.command("check")
@reports_errors
def check(baseline_from: datetime | None = BASELINE_FROM,
          baseline_to: datetime | None = BASELINE_TO, from_: datetime | None = FROM,
          to: datetime | None = TO, as_json: bool = JSON) -> None:
    """Like report, then raise an event for each drifted stream and flagged segment and
    trip the breaker of each drifted agent. Exits 1 when it raised an alert (for cron)."""
    monitor = bootstrap().monitor
    result = monitor.check(**_spans(monitor, baseline_from, baseline_to, from_, to))
    _show(result.report, as_json=as_json)
    for agent in result.tripped:
        errors.print(f"tripped {agent}'s breaker: its decisions drifted")
    if result.events:
        errors.print(f"{result.events} alert(s) raised")
        raise typer.Exit(1)


def _spans(monitor: MonitorService, baseline_from: datetime | None,
           baseline_to: datetime | None, from_: datetime | None,
           to: datetime | None) -> dict[str, Span]:
    baseline, current = monitor.default_spans()
    return {"baseline": Span(_us(baseline_from, baseline.since_us),
                             _us(baseline_to, baseline.until_us)),
            "current": Span(_us(from_, current.since_us), _us(to, current.until_us))}


def _us(when: datetime | None, default: int) -> int:
    if when is None:
        return default
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1_000_000)


def report_data(found: MonitorReport) -> dict[str, Any]:
    """The report as plain JSON values."""
    return {"baseline": asdict(found.baseline), "current": asdict(found.current),
            "rates": asdict(found.rates), "baseline_rates": asdict(found.baseline_rates),
            "decisions": [{"outcome": o, "mode": m, "count": n}
                          for (o, m), n in sorted(found.counts.items())],
            "drift": [{**asdict(d), "drifted": d.drifted} for d in found.drift],
            "bias": [{**asdict(t), "flagged": t.flagged} for t in found.bias]}


def _show(found: MonitorReport, *, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(report_data(found)))
        return
    console.print(f"current {_when(found.current)}, baseline {_when(found.baseline)}")
    r = found.rates
    console.print(f"{r.decisions} acting decisions: " + ", ".join(
        f"{o} {share:.1%}" for o, share in r.shares.items()))
    console.print(f"{r.settled} settled reviews: override {_pct(r.override_rate)}, gate FP "
                  f"{_pct(r.gate_false_positive_rate)}, agent FN "
                  f"{_pct(r.agent_false_negative_rate)}, agent FP "
                  f"{_pct(r.agent_false_positive_rate)}")
    for s in r.latencies:
        console.print(f"  {s.stage}: p95 {s.p95_ms:.1f} ms, p99 {s.p99_ms:.1f} ms "
                      f"({s.decisions} timed)")
    table = Table("agent", "stream", "baseline", "current", "PSI", "KS p", "drifted")
    for d in found.drift:
        table.add_row(d.agent_id, d.stream, str(d.baseline_n), str(d.current_n),
                      f"{d.psi:.3f}", "-" if d.ks_p is None else f"{d.ks_p:.2g}",
                      "DRIFT" if d.drifted else "")
    console.print(table)
    for t in found.flagged:
        console.print(f"[red]bias[/red] {t.reason}")
    if not found.flagged:
        console.print(f"bias: {len(found.bias)} segments tested, none flagged")


def _when(span: Span) -> str:
    fmt = "%Y-%m-%d %H:%M"
    return (f"{utc_datetime(span.since_us).strftime(fmt)} .. "
            f"{utc_datetime(span.until_us).strftime(fmt)} UTC")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
