"""``finbot bench gate``: guardrail speed, the full decision path, and audit verification.

Hard-guardrail evaluation is timed in-process on one core; the decision path (hard rules,
a scripted stand-in agent, soft rules, audit append, commit) in a scratch database; audit
verification over N records next to plain SHA-256 of the same bytes.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from finbot.bench.scratch import Backend, scratch_app
from finbot.domain.audit import GENESIS, make_record
from finbot.domain.decisions import ModelVersion, Proposal, snapshot_hash
from finbot.domain.policy import policy_from_mapping
from finbot.policy.guardrails import PaymentFacts, VendorFacts, hard_rules

Progress = Callable[[str], None]
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
POLICY = policy_from_mapping("bench", {"hard": {
    "max_single_payment": "25000", "max_daily_volume": "100000", "max_30d_volume": "1000000",
    "sanctioned_countries": ["KP", "IR", "SY", "CU"],
    "sanctioned_names": [f"Sanctioned Trading Company {n}" for n in range(200)]}})
VENDOR = VendorFacts("v-1", "Acme Office Supplies", "US", NOW - timedelta(days=400),
                     avg_daily_volume=Decimal("1000"), paid_before=True)
INVOICE = {"invoice_number": "INV-1", "amount": "1200.00", "currency": "USD", "vendor_id": "v-1"}
FACTS = PaymentFacts(INVOICE, Decimal("1200.00"), "USD", VENDOR, NOW,
                     po_amount=Decimal("1200.00"), payee_account="vendor:001:payable")


class _StandIn:
    agent_id = "bench-agent"

    def propose(self, snapshot: Mapping[str, Any]) -> Proposal:
        return Proposal(self.agent_id, ModelVersion("bench/1", "scripted", "0" * 64, "bench"),
                        snapshot, snapshot_hash(snapshot), "APPROVE", 0.95,
                        "INV-1 for 1200.00 USD matches PO-1 and the vendor's usual volume")


def run_gate_bench(*, backend: Backend, postgres_url: str, records: int = 1_000_000,
                   progress: Progress | None = None) -> dict[str, Any]:
    say = progress or (lambda _: None)
    say("hard guardrails: 20,000 evaluations")
    results: dict[str, Any] = {"backend": backend, **_hard_rules_speed(20_000)}
    with scratch_app(backend, postgres_url) as app:
        say("decision path: 500 decisions")
        results.update(_decision_path(app, 500))
        say(f"audit verify: generating {records:,} records")
        _generate_records(app, records, say)
        say("audit verify: verifying")
        results.update(_verify_speed(app, records))
    results["targets_met"] = {
        "hard_rules_p99_under_50us": results["hard_rules_p99_us"] < 50,
        "hard_rules_at_least_20000_per_s": results["hard_rules_per_s"] >= 20_000,
        "decision_path_p99_under_10ms": results["decision_path_p99_ms"] < 10,
        "audit_verify_under_30s_per_million": results["audit_verify_s_per_million"] < 30}
    return results


def _hard_rules_speed(count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        hard_rules(POLICY, FACTS)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return {"hard_rules_p50_us": round(statistics.median(samples), 2),
            "hard_rules_p99_us": round(statistics.quantiles(samples, n=100)[98], 2),
            "hard_rules_per_s": round(count / (sum(samples) / 1e6), 1)}


def _decision_path(app: Any, count: int) -> dict[str, float]:
    agent, samples = _StandIn(), []
    for n in range(count):
        start = time.perf_counter()
        app.decisions.decide(f"bench-{n}", policy=POLICY, facts=FACTS,
                             snapshot={"invoice": INVOICE, "n": n}, agent=agent)
        samples.append((time.perf_counter() - start) * 1000)
    return {"decision_path_p50_ms": round(statistics.median(samples), 3),
            "decision_path_p99_ms": round(statistics.quantiles(samples, n=100)[98], 3)}


def _generate_records(app: Any, count: int, say: Progress) -> None:
    """Append ``count`` valid records quickly (bulk INSERT of a correctly linked chain)."""
    with app.uow() as uow:
        seq, prev = uow.audit.head()
    batch: list[dict[str, Any]] = []
    for n in range(seq + 1, seq + count + 1):
        record = make_record(seq=n, record_id=f"gen-{n}", kind="note", decision_id=None,
                             created_at=n, data={"n": n, "text": "generated for the bench"},
                             prev_hash=prev)
        prev = record.hash
        batch.append(asdict(record))
        if len(batch) == 10_000 or n == seq + count:
            _insert(app, batch, n)
            batch = []
            if n % 100_000 == 0:
                say(f"generated {n:,} records")


def _insert(app: Any, rows: list[dict[str, Any]], last: int) -> None:
    with app.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (seq, record_id, kind, decision_id, created_at,"
                          " body, prev_hash, hash) VALUES (:seq, :record_id, :kind, "
                          ":decision_id, :created_at, :body, :prev_hash, :hash)"), rows)
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                     {"seq": last, "hash": rows[-1]["hash"]})


def _verify_speed(app: Any, count: int) -> dict[str, float]:
    start = time.perf_counter()
    problems = app.audit.verify(limit=1)
    elapsed = time.perf_counter() - start
    with app.engine.connect() as conn:
        bodies = [r[0] for r in conn.execute(text("SELECT body FROM audit_log ORDER BY seq"))]
    start = time.perf_counter()
    prev = GENESIS
    for body in bodies:
        prev = hashlib.sha256((prev + body).encode()).hexdigest()
    raw = time.perf_counter() - start
    return {"audit_records": count, "audit_verify_s": round(elapsed, 2),
            "audit_verify_s_per_million": round(elapsed / max(count, 1) * 1e6, 2),
            "sha256_only_s": round(raw, 2),
            "ratio_verify_vs_sha256": round(elapsed / raw, 2) if raw else 0.0,
            "audit_problems": len(problems)}
