"""The spine's central property: no sequence of proposals, reviews, breaker trips and
payment attempts ever moves money without an approved decision in the log.

The test keeps its own model of which decisions are approved (from the gate's verdicts and
the reviews that were accepted) and, after every step, compares it with what the ledger
shows: every completed payment names a decision the model approved, for exactly the
decided amount, and the payee's posted debits are exactly those payments.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.decisions import Mode, Outcome
from finbot.domain.errors import FinbotError
from finbot.domain.ledger import AccountFlag, TransferRequest
from finbot.domain.reviews import ReviewStatus
from finbot.services.breakers import BreakerService
from finbot.services.decisions import DecisionService
from tests.stand_ins import FACTS, INVOICE, ScriptedAgent

PAYABLE, BANK = "vendor:001:payable:USD", "company:bank"
# Small; above the four-eyes amount (1000 in the policy below); over the hard limit.
AMOUNTS = ("50.00", "1200.00", "20000.00")
WHY = "checked against the contract and the purchase order"

decide = st.tuples(st.just("decide"), st.sampled_from(AMOUNTS),
                   st.sampled_from(["APPROVE"] * 3 + ["REJECT", "ESCALATE", "PAY", ""]),
                   st.sampled_from([0.95, 0.95, 0.3]),
                   st.sampled_from([Mode.LIVE, Mode.LIVE, Mode.SHADOW]))
review = st.tuples(st.just("review"), st.integers(0, 3), st.sampled_from(["ann", "bob", "eve"]),
                   st.sampled_from(["APPROVE", "APPROVE", "REJECT"]))
breaker = st.tuples(st.just("breaker"), st.sampled_from(["trip", "reset"]))
# A payment aims at any decision, or (to reach the paying paths often) at one the model
# believes approved; either way the gate, not the test, decides whether it runs.
pay = st.tuples(st.just("pay"), st.integers(0, 3), st.booleans(),
                st.sampled_from(["as decided"] * 3 + ["49.99", "1200.00"]))
steps = st.lists(st.one_of(decide, review, review, breaker, pay, pay), min_size=6,
                 max_size=24)


class World:
    """A fresh database, the gate, and the test's own record of what is approved."""

    def __init__(self, template: Path) -> None:
        self.dir = Path(tempfile.mkdtemp())
        shutil.copy(template, self.dir / "finbot.db")
        self.app: App = bootstrap(Settings(environment="test", data_dir=self.dir,
                                           database_url=f"sqlite:///{self.dir / 'finbot.db'}"),
                                  run_migrations=False)
        self.app.policies.publish({"hard": {"max_single_payment": "10000",
                                            "max_daily_volume": "1000000",
                                            "max_30d_volume": "10000000"},
                                   "review": {"four_eyes_above": "1000"}})
        self.app.reviews.add_member("eve", "v-1")  # eve works for the vendor
        self.breakers = BreakerService(self.app.uow, self.app.audit)
        self.gate = DecisionService(self.app.uow, self.app.audit, breakers=self.breakers)
        self.decided: list[tuple[str, str]] = []  # (decision id, amount)
        self.approved: set[str] = set()
        self.reviewed: set[str] = set()
        self.paid: dict[str, str] = {}  # decision id -> amount, for completed payments
        self._open_books()

    def _open_books(self) -> None:
        ledger = self.app.ledger
        ledger.open_account(BANK, name="Bank", type="asset", currency="USD")
        ledger.open_account("company:expenses", name="Expenses", type="expense", currency="USD")
        ledger.open_account(PAYABLE, name="Vendor 1", type="liability", currency="USD",
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
        ledger.transfer(TransferRequest("owed", "company:expenses", PAYABLE, "1000000", "USD"))

    def step(self, action: tuple[object, ...]) -> None:
        getattr(self, f"_{action[0]}")(*action[1:])

    def _decide(self, amount: str, outcome: str, confidence: float, mode: Mode) -> None:
        decision_id = f"d-{len(self.decided)}"
        agent = ScriptedAgent(outcome=outcome, confidence=confidence,
                              **({"reasoning": ""} if outcome == "" else {}))
        decision = self.gate.decide(
            decision_id, policy=self.app.policies.current(), agent=agent, mode=mode,
            facts=replace(FACTS, amount=Decimal(amount), payee_account=PAYABLE),
            snapshot={"invoice": INVOICE})
        self.decided.append((decision_id, amount))
        if decision.outcome is Outcome.APPROVE and decision.mode is not Mode.SHADOW:
            self.approved.add(decision_id)

    def _review(self, index: int, reviewer: str, verdict: str) -> None:
        if not self.decided:
            return
        decision_id = self.decided[index % len(self.decided)][0]
        try:
            item = self.app.reviews.review(decision_id, reviewer_id=reviewer, verdict=verdict,
                                           rationale=WHY)
        except FinbotError:
            return  # refused (not queued, settled, same reviewer, conflict): changes nothing
        assert reviewer != "eve", "a vendor's own member reviewed its decision"
        if item.status is ReviewStatus.APPROVED:
            self.approved.add(decision_id)
            self.reviewed.add(decision_id)

    def _breaker(self, action: str) -> None:
        getattr(self.breakers, action)("invoice-agent", f"property test: {action}")

    def _pay(self, index: int, aim_at_approved: bool, amount: str) -> None:
        pool = ([d for d in self.decided if d[0] in self.approved] if aim_at_approved
                else []) or self.decided or [("never-decided", "50.00")]
        decision_id, decided = pool[index % len(pool)]
        amount = decided if amount == "as decided" else amount
        try:
            saga = self.app.payments.execute_payment(
                f"pay-{decision_id}-{amount}", payee_account=PAYABLE, source_account=BANK,
                amount=amount, currency="USD", decision_id=decision_id)
        except FinbotError:
            return
        if saga.state.value == "completed":
            self.paid[decision_id] = amount

    def check(self) -> None:
        decided = dict(self.decided)
        for decision_id, amount in self.paid.items():
            assert decision_id in self.approved, f"{decision_id} paid without approval"
            assert Decimal(amount) == Decimal(decided[decision_id]), "paid another amount"
        debits = self.app.queries.account(PAYABLE).balances
        total = sum((Decimal(a) for a in self.paid.values()), Decimal(0))
        assert Decimal(debits.debits_posted) / 100 == total
        assert debits.debits_pending == 0

    def close(self) -> None:
        self.app.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_no_sequence_moves_money_without_an_approved_decision(
        sqlite_template: Path, actions: list[tuple[object, ...]]) -> None:
    world = World(sqlite_template)
    try:
        for action in actions:
            world.step(action)
            world.check()
        assert world.app.audit.verify() == []
        event(f"payments completed: {min(len(world.paid), 2)}+")
        event(f"reviewed payments: {bool(set(world.paid) & world.reviewed)}")
    finally:
        world.close()
