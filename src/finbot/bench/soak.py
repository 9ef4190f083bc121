"""``finbot bench soak``: a steady load on PostgreSQL + Redis for N minutes, with every
worker process's memory and the invoices' latency recorded each interval.

The run owns a private PostgreSQL and Redis and one ``finbot worker`` process of each
role (``finbot chaos`` has the same set-up, without the faults). The driver onboards
vendors, then submits clean invoices at a steady rate and plays the reviewers; an invoice's
latency runs from its submission to its final status (paid, rejected or blocked) as the
database stamped it. What must hold: no growth in memory after warm-up, a steady p99,
and zero errors (failed workflow steps, dead letters, crashed workers, refused
submissions, invoices left unfinished).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from finbot.adapters.redis.consumer import DEAD_LETTERS
from finbot.adapters.redis.streams import stream_key
from finbot.bench.samples import percentile
from finbot.bootstrap import App
from finbot.chaos.fleet import Fleet
from finbot.chaos.run import ChaosPlan, ChaosReport, Driver, private_platform
from finbot.domain.clock import now_us
from finbot.simulation import _invoice, prepare_company

Say = Callable[[str], None]
FINAL = ("paid", "rejected", "blocked")
MEMORY_SLACK = 0.10  # growth allowed after warm-up: 10% ...
MEMORY_SLACK_MB = 16.0  # ... or 16 MB, whichever is more (allocator noise)
P99_SLACK = 2.0  # the last third's p99 within twice the first third's


@dataclass(frozen=True)
class SoakPlan:
    minutes: float = 10.0
    rate: float = 5.0  # invoices per second
    vendors: int = 20
    interval_s: float = 60.0
    seed: int = 7


def run_soak(plan: SoakPlan, *, say: Say = lambda _: None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="finbot-soak-") as root, private_platform(
            Path(root), copies=1, prefix="finbot:soak:", say=say) as platform:
        return _Soak(plan, platform.app, platform.fleet, say).run()


class _Soak:
    def __init__(self, plan: SoakPlan, app: App, fleet: Fleet, say: Say) -> None:
        self.plan, self.app, self.fleet, self.say = plan, app, fleet, say
        chaos = ChaosPlan(vendors=plan.vendors, kills=0, redis_outage_s=0,
                          postgres_outage_s=0, seed=plan.seed)
        self.driver = Driver(chaos, app, fleet, None, None, ChaosReport(chaos), say)
        self.rng = random.Random(plan.seed)
        self.pending: dict[str, int] = {}  # invoice id -> submitted at (µs)
        self.latencies_ms: list[float] = []
        self.refused = 0

    def run(self) -> dict[str, Any]:
        prefix = f"soak{self.plan.seed}"
        self.driver.patiently(lambda: prepare_company(self.app))
        self.fleet.start_all()
        reviewers = threading.Thread(target=self.driver.reviewers, daemon=True)
        reviewers.start()
        try:
            vendors = self.driver.onboard(prefix)
            samples = self._load(prefix, vendors)
            unfinished = self._finish()
        finally:
            self.driver.stop.set()
            reviewers.join(timeout=30)
        codes = self.fleet.stop()
        errors = self._errors(unfinished, codes)
        return {"plan": asdict(self.plan), "samples": samples, "errors": errors,
                **_verdict(samples, errors)}

    def _load(self, prefix: str, vendors: list[Any]) -> list[dict[str, Any]]:
        """Invoices at the plan's rate; a sample at the end of every interval."""
        began = time.monotonic()
        count = max(1, round(self.plan.minutes * 60 / self.plan.interval_s))
        samples: list[dict[str, Any]] = []
        n = 0
        for number in range(1, count + 1):
            until = began + number * self.plan.interval_s
            while time.monotonic() < until:
                self._submit(prefix, vendors[n % len(vendors)], n)
                n += 1
                self._collect()
                ahead = min(began + n / self.plan.rate, until) - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            samples.append(self._sample(number, n))
            self.say(_line(samples[-1]))
        return samples

    def _submit(self, prefix: str, vendor: Any, n: int) -> None:
        invoice = _invoice(self.rng, f"{prefix}-i{n:07d}", vendor, f"S-{n:07d}", now_us())
        try:
            self.app.vendor_work.submit_invoice(invoice)
            self.pending[invoice.invoice_id] = invoice.submitted_at_us
        except Exception:  # counted: a soak must refuse nothing
            self.refused += 1

    def _collect(self) -> None:
        """Latencies of the invoices that reached a final status since the last look."""
        if not self.pending:
            return
        ids = list(self.pending)
        with self.app.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT invoice_id, status, updated_at FROM invoices WHERE invoice_id IN "
                f"({', '.join(f':i{k}' for k in range(len(ids)))})"),
                {f"i{k}": v for k, v in enumerate(ids)}).all()
        for invoice_id, status, updated_at in rows:
            if status in FINAL:
                submitted = self.pending.pop(invoice_id)
                self.latencies_ms.append((int(updated_at) - submitted) / 1000)

    def _sample(self, number: int, submitted: int) -> dict[str, Any]:
        latencies, self.latencies_ms = self.latencies_ms, []
        memory = {w.name: _rss_mb(w.process.pid) for w in self.fleet.workers
                  if w.process is not None and w.alive()}
        memory["driver"] = _rss_mb(os.getpid())
        return {"sample": number, "submitted": submitted, "finished": len(latencies),
                "waiting": len(self.pending),
                "p50_ms": _pct(latencies, 50), "p99_ms": _pct(latencies, 99),
                "rss_mb": memory}

    def _finish(self, *, timeout_s: float = 120.0) -> int:
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.5)
            self._collect()
        return len(self.pending)

    def _errors(self, unfinished: int, codes: dict[str, int | None]) -> dict[str, int]:
        with self.app.uow() as uow:
            failed = uow.workflows.counts().get("failed", 0)
            dead = uow.outbox.stats()["dead_letters"]
        assert self.app.redis is not None
        dead_stream: Any = self.app.redis.xlen(stream_key(
            DEAD_LETTERS, prefix=self.app.settings.events_prefix))
        dead += int(dead_stream)
        return {"refused_submissions": self.refused, "failed_steps": failed,
                "dead_letters": dead, "unfinished_invoices": unfinished,
                "crashed_workers": sum(code != 0 for code in codes.values())}


def _verdict(samples: list[dict[str, Any]], errors: dict[str, int]) -> dict[str, Any]:
    """Memory growth per process from the end of warm-up (the first third) to the last
    sample; the p99 of the last third against the first third's."""
    third = max(1, len(samples) // 3)
    warm, last = samples[min(third, len(samples) - 1)], samples[-1]
    growth = {name: round(last["rss_mb"].get(name, 0.0) - mb, 1)
              for name, mb in warm["rss_mb"].items()}
    allowed = {name: round(max(MEMORY_SLACK * mb, MEMORY_SLACK_MB), 1)
               for name, mb in warm["rss_mb"].items()}
    first = [s["p99_ms"] for s in samples[:third] if s["p99_ms"] is not None]
    later = [s["p99_ms"] for s in samples[-third:] if s["p99_ms"] is not None]
    p99_first = statistics.median(first) if first else None
    p99_last = statistics.median(later) if later else None
    steady = p99_first is not None and p99_last is not None and (
        p99_last <= P99_SLACK * p99_first)
    return {"memory_growth_mb": growth, "memory_allowed_mb": allowed,
            "p99_first_third_ms": p99_first, "p99_last_third_ms": p99_last,
            "targets_met": {"no_memory_growth": all(growth[n] <= allowed[n] for n in growth),
                            "p99_steady": steady,
                            "zero_errors": not any(errors.values())}}


def _pct(samples: list[float], pct: int) -> float | None:
    if len(samples) < 2:
        return round(samples[0], 1) if samples else None
    return percentile(samples, pct, digits=1)


def _rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _line(sample: dict[str, Any]) -> str:
    memory = ", ".join(f"{k} {v:.0f}" for k, v in sorted(sample["rss_mb"].items()))
    return (f"sample {sample['sample']}: {sample['submitted']} submitted, "
            f"{sample['finished']} finished, p50 {sample['p50_ms']} ms, "
            f"p99 {sample['p99_ms']} ms; RSS MB: {memory}")
