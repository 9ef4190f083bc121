"""A model-fault run: every agent talks to a misbehaving OpenAI-compatible provider
(``model_server``) over HTTP through FinBot's real provider, while a seeded simulation
onboards vendors and submits invoices. What must hold: each fault is retried or ends in an
escalation (no workflow is left half-way), the breakers trip on the error rate, and nothing
is paid without an approved decision (the same ledger-effect and payment checks as the
process chaos run)."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from finbot.adapters.db.tables import outbox
from finbot.bootstrap import App, bootstrap
from finbot.chaos.checks import run_checks
from finbot.chaos.model_server import FAULTS, FaultyModelServer
from finbot.config import Settings
from finbot.simulation import simulate

Say = Callable[[str], None]


@dataclass(frozen=True)
class ModelChaosPlan:
    rate: float = 0.3  # share of model calls that go wrong
    faults: tuple[str, ...] = FAULTS
    vendors: int = 10
    invoices: int = 100
    fraud_rate: float = 0.1
    seed: int = 7
    client_timeout_s: float = 1.0
    client_retries: int = 1


@dataclass
class ModelChaosReport:
    plan: ModelChaosPlan
    served: Counter[str] = field(default_factory=Counter)
    summary: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    breaker_trips: Counter[str] = field(default_factory=Counter)  # by agent
    failed_calls: int = 0  # model calls the agents saw fail (after the client's retries)

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "plan": asdict(self.plan), "served": dict(self.served),
                "summary": self.summary, "problems": self.problems, "counts": self.counts,
                "breaker_trips": dict(self.breaker_trips), "failed_calls": self.failed_calls}


def run_model_chaos(plan: ModelChaosPlan, *, say: Say = lambda _: None) -> ModelChaosReport:
    report = ModelChaosReport(plan)
    with tempfile.TemporaryDirectory(prefix="finbot-model-chaos-") as root, \
            FaultyModelServer(rate=plan.rate, faults=plan.faults, seed=plan.seed,
                              hang_s=plan.client_timeout_s * 2) as server:
        say(f"a model server at {server.url} failing {plan.rate:.0%} of calls "
            f"({', '.join(plan.faults)})")
        settings = Settings(
            database_url=f"sqlite:///{Path(root) / 'chaos.db'}", data_dir=Path(root),
            redis_url=None, llm_provider="openai-compatible", llm_base_url=server.url,
            llm_model="offline-behind-faults", llm_timeout_s=plan.client_timeout_s,
            llm_max_retries=plan.client_retries, llm_fallback_offline=False)
        app = bootstrap(settings)
        try:
            summary = simulate(app, vendors=plan.vendors, invoices=plan.invoices,
                               fraud_rate=plan.fraud_rate, seed=plan.seed,
                               progress=lambda stage, done, total: say(
                                   f"{stage}: {done}/{total}"))
            report.summary = summary.to_dict()
            report.problems, report.counts = run_checks(app, list(summary.labels),
                                                        pending_grace_us=0)
            report.breaker_trips, report.failed_calls = _model_trouble(app)
        finally:
            app.close()
        report.served = Counter(server.served)
    if not sum(report.served[f] for f in plan.faults) and plan.rate > 0:
        report.problems["faults_served"] = ["no fault reached the agents"]
    return report


def _model_trouble(app: App) -> tuple[Counter[str], int]:
    """Breaker trips by agent and model calls that failed, from the announced events."""
    trips: Counter[str] = Counter()
    failed = 0
    with app.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.type, outbox.c.payload).where(
            outbox.c.type.in_(("breaker.changed", "llm.responded"))))
        for kind, payload in rows:
            data = _json(payload)
            if kind == "breaker.changed" and data.get("to_state") == "open":
                trips[str(data.get("agent_id"))] += 1
            elif kind == "llm.responded" and data.get("error"):
                failed += 1
    return trips, failed


def _json(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, dict) else {}
