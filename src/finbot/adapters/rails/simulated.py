"""A simulated ACH/wire/SEPA-like rail with latency, refusals, timeouts and lost answers.

Its memory of payments lives in the ``rail_sim_payments`` table, committed before it
answers, so it behaves like a real bank across crashes of FinBot: a key it has seen
always gets its first outcome, and a payment is never made twice. It recalls an accepted
payment within ``recall_window_s`` of making it (ACH-like: five days by default; zero
means it cannot recall), remembering the answer under ``recall:<key>``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from finbot.adapters.db.tables import rail_sim_payments as payments
from finbot.domain.clock import now_us
from finbot.execution.rail import PaymentRail, RailOutcome, RailResult


@dataclass(frozen=True)
class RailBehaviour:
    """How the simulated rail misbehaves; rates are probabilities per new payment."""

    latency_ms: float = 0.0
    failure_rate: float = 0.0
    timeout_rate: float = 0.0
    unknown_rate: float = 0.0
    seed: int | None = None
    recall_window_s: float = 5 * 24 * 3600


class SimulatedRail(PaymentRail):
    """Deterministic for a given seed; thread-safe."""

    def __init__(self, engine: Engine, behaviour: RailBehaviour | None = None) -> None:
        self._engine = engine
        self.behaviour = behaviour or RailBehaviour()
        self._rng = random.Random(self.behaviour.seed)
        self._lock = threading.Lock()

    def send(self, *, key: str, payee: str, amount_minor: int, currency: str) -> RailResult:
        self._wait()
        known = self._recorded(key)
        if known is not None:
            return self._replay(known, amount_minor, currency)
        with self._lock:
            roll = self._rng.random()
        b = self.behaviour
        if roll < b.timeout_rate:
            return RailResult(RailOutcome.UNKNOWN, reason="timed out before reaching the rail")
        refused = roll < b.timeout_rate + b.failure_rate
        outcome = RailOutcome.REJECTED if refused else RailOutcome.ACCEPTED
        recorded = self._record(key, payee, amount_minor, currency, outcome)
        if recorded.outcome is RailOutcome.ACCEPTED and (
                roll >= 1 - b.unknown_rate):
            return RailResult(RailOutcome.UNKNOWN, reason="answer lost after the rail paid")
        return recorded

    def status(self, key: str) -> RailResult:
        self._wait()
        known = self._recorded(key)
        if known is None:
            return RailResult(RailOutcome.NOT_FOUND)
        return self._replay(known, int(str(known["amount"])), str(known["currency"]))

    def recall(self, key: str) -> RailResult:
        self._wait()
        recall_key = f"recall:{key}"
        known = self._recorded(recall_key)
        if known is not None:
            return self._replay(known, int(str(known["amount"])), str(known["currency"]))
        paid = self._recorded(key)
        if paid is None or paid["outcome"] != RailOutcome.ACCEPTED:
            return RailResult(RailOutcome.REJECTED, reason="the rail made no such payment")
        in_window = now_us() - int(paid["created_at"]) <= self.behaviour.recall_window_s * 1e6
        outcome = RailOutcome.ACCEPTED if in_window else RailOutcome.REJECTED
        reason = None if in_window else "the recall window has passed"
        return self._record(recall_key, str(paid["payee"]), int(paid["amount"]),
                            str(paid["currency"]), outcome, reason=reason)

    def recalled(self, key: str) -> bool:
        """Whether the payment under ``key`` was recalled; used by tests and audits."""
        known = self._recorded(f"recall:{key}")
        return known is not None and known["outcome"] == RailOutcome.ACCEPTED

    def payments_for(self, key: str) -> int:
        """How many times the rail paid for ``key`` (0 or 1); used by tests and audits."""
        known = self._recorded(key)
        return int(known is not None and known["outcome"] == RailOutcome.ACCEPTED)

    def _wait(self) -> None:
        if self.behaviour.latency_ms:
            time.sleep(self.behaviour.latency_ms / 1000)

    def _recorded(self, key: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(payments).where(payments.c.key == key)).mappings().first()
        return dict(row) if row else None

    def _record(self, key: str, payee: str, amount: int, currency: str,
                outcome: RailOutcome, *, reason: str | None = None) -> RailResult:
        reference = f"rail-{uuid.uuid4().hex[:16]}"
        if outcome is RailOutcome.REJECTED and reason is None:
            reason = "payee account closed"
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(payments).values(
                    key=key, payee=payee, amount=amount, currency=currency,
                    outcome=outcome.value, reference=reference, reason=reason,
                    created_at=now_us()))
        except IntegrityError:  # a concurrent retry with the same key got there first
            known = self._recorded(key)
            assert known is not None
            return self._replay(known, amount, currency)
        return RailResult(outcome, reference, reason)

    @staticmethod
    def _replay(known: dict[str, Any], amount: int, currency: str) -> RailResult:
        if known["amount"] != amount or known["currency"] != currency:
            return RailResult(RailOutcome.REJECTED,
                              reason="idempotency key reused with a different payment")
        return RailResult(RailOutcome(str(known["outcome"])), str(known["reference"]),
                          known["reason"] if isinstance(known["reason"], str) else None)
