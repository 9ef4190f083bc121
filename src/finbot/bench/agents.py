"""``finbot bench agents``: fraud scoring and the offline-model decision path.

Fraud scoring is timed per call in-process next to the raw baseline of LightGBM's own
single-row ``predict`` of the same model (probability only, no attributions). The
decision path runs a model-backed agent on the offline model with in-memory read-only
tools through the gate into the audit log of a scratch database (the invoice workflow's
submission and orchestration steps are not part of it yet).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from finbot.agents.proposer import ModelAgent
from finbot.agents.runner import AgentSpec, Tool, Verdict
from finbot.bench.gate import FACTS, POLICY
from finbot.bench.samples import percentile
from finbot.bench.scratch import Backend, scratch_app
from finbot.fraud import feature_vector, generate, train
from finbot.llm.messages import ToolSpec
from finbot.llm.offline import OfflineModel

Progress = Callable[[str], None]
_SPEC = AgentSpec("bench-invoice", "bench-invoice/1", (
    "You are the invoice agent. Read the invoice and its checks with your tools. Reject "
    "when a check fails, escalate on a risk signal, approve otherwise."), Verdict)


def run_agents_bench(*, backend: Backend, postgres_url: str, scores: int = 5_000,
                     decisions: int = 1_000, progress: Progress | None = None) -> dict[str, Any]:
    say = progress or (lambda _: None)
    say("fraud model: training on 6,000 synthetic payments")
    dataset = generate(vendors=300, invoices=6000, fraud_rate=0.02, seed=7)
    trained = train(dataset, seed=7)
    contexts = [p.context for p in dataset.payments[:scores]]
    say(f"fraud scoring: {len(contexts)} payments x 3 rounds, next to LightGBM predict")
    results: dict[str, Any] = {"backend": backend, **_scoring(trained, contexts)}
    with scratch_app(backend, postgres_url) as app:
        say(f"offline-model decision path: {decisions} decisions")
        results.update(_decision_path(app, decisions))
    results["targets_met"] = {
        "fraud_score_p99_under_1ms": results["fraud_score_p99_us"] < 1000,
        "offline_decisions_at_least_200_per_s": results["offline_decisions_per_s"] >= 200,
        "offline_decision_p99_under_20ms": results["offline_decision_p99_ms"] < 20}
    return results


def _scoring(trained: Any, contexts: Sequence[Any]) -> dict[str, Any]:
    scorer, booster = trained.scorer(), trained.booster
    ours: list[float] = []
    raw: list[float] = []
    for _ in range(3):
        ours += _timed(lambda ctx: scorer.score(ctx), contexts)
        raw += _timed(lambda ctx: booster.predict(
            np.array([feature_vector(ctx)], dtype=np.float64)), contexts)
    ours_p99, raw_p99 = percentile(ours, 99, digits=1), percentile(raw, 99, digits=1)
    return {"fraud_score_p50_us": percentile(ours, 50, digits=1),
            "fraud_score_p99_us": ours_p99,
            "raw_lightgbm_predict_p50_us": percentile(raw, 50, digits=1),
            "raw_lightgbm_predict_p99_us": raw_p99,
            "raw_predict_p99_over_fraud_score_p99": round(raw_p99 / ours_p99, 2),
            "fraud_score_with_attributions": True}


def _timed(call: Callable[[Any], Any], items: Sequence[Any]) -> list[float]:
    out = []
    for item in items:
        started = time.perf_counter()
        call(item)
        out.append((time.perf_counter() - started) * 1e6)
    return out


def _tools(snapshot: Mapping[str, Any]) -> Sequence[Tool]:
    invoice = {**FACTS.invoice, "invoice_id": snapshot["invoice_id"],
               "description": "Office supplies, November"}
    schema = {"type": "object", "properties": {"invoice_id": {"type": "string"}},
              "required": ["invoice_id"]}
    return (Tool(ToolSpec("get_invoice", "The invoice", schema), lambda _a: invoice),
            Tool(ToolSpec("check_invoice", "Checks on the invoice", schema),
                 lambda _a: {"checks": [{"check": "arithmetic", "passed": True},
                                        {"check": "po_match", "passed": True}]}))


def _decision_path(app: Any, count: int) -> dict[str, Any]:
    agent = ModelAgent(_SPEC, OfflineModel(), _tools, policy_version=lambda: POLICY.version)
    latencies = []
    started = time.perf_counter()
    for n in range(count):
        began = time.perf_counter()
        decision = app.decisions.decide(f"bench-agent-{n}", policy=POLICY, facts=FACTS,
                                        snapshot={"invoice_id": f"inv-{n}"}, agent=agent)
        latencies.append((time.perf_counter() - began) * 1e3)
        assert decision.outcome.value in ("APPROVE", "ESCALATE"), json.dumps(decision.rules)
    elapsed = time.perf_counter() - started
    return {"offline_decisions_per_s": round(count / elapsed, 1),
            "offline_decision_p50_ms": percentile(latencies, 50, digits=1),
            "offline_decision_p99_ms": percentile(latencies, 99, digits=1)}
