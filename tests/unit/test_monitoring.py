"""The monitor's statistics on known values: PSI, KS against scipy, Holm, the rates'
definitions, per-agent drift and the segment test."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from finbot.monitoring.bias import VendorFacts, age_band, amount_band, segment_tests
from finbot.monitoring.drift import PSI_ALERT, agent_drift
from finbot.monitoring.points import DecisionPoint, Settled, decision_point
from finbot.monitoring.rates import rates
from finbot.monitoring.stats import (
    holm,
    ks_p_value,
    nearest_rank,
    psi_of_counts,
    psi_of_shares,
    psi_of_values,
)

DAY = 86_400_000_000


def point(i: int, *, agent: str = "invoice-agent", outcome: str = "APPROVE",
          amount: float = 100.0, vendor: str = "v-1", mode: str = "live",
          confidence: float | None = 0.9) -> DecisionPoint:
    return DecisionPoint(f"d-{i}", 400 * DAY + i, agent, "invoice", mode, outcome, vendor,
                         amount, confidence, outcome, 1000 + i)


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi_of_counts({"APPROVE": 70, "ESCALATE": 30}, {"APPROVE": 7, "ESCALATE": 3}) == 0
    sample = [random.Random(1).gauss(100, 10) for _ in range(500)]
    assert psi_of_values(sample, sample) == pytest.approx(0.0)


def test_psi_matches_its_formula_on_a_known_pair() -> None:
    expected = (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.4 - 0.5) * math.log(0.4 / 0.5)
    assert psi_of_shares([0.5, 0.5], [0.6, 0.4]) == pytest.approx(expected)


def test_an_agent_suddenly_approving_everything_exceeds_the_threshold() -> None:
    assert psi_of_counts({"APPROVE": 50, "ESCALATE": 30, "REJECT": 20},
                         {"APPROVE": 100}) > PSI_ALERT


def test_amounts_shifted_tenfold_exceed_the_threshold() -> None:
    rng = random.Random(7)
    baseline = [rng.lognormvariate(5, 0.5) for _ in range(400)]
    assert psi_of_values(baseline, [v * 10 for v in baseline]) > PSI_ALERT


def test_ks_p_value_is_scipys_two_sample_test() -> None:
    rng = random.Random(3)
    a = [rng.gauss(0, 1) for _ in range(200)]
    b = [rng.gauss(0.3, 1) for _ in range(150)]
    assert ks_p_value(a, b) == pytest.approx(stats.ks_2samp(a, b).pvalue)
    assert ks_p_value([], b) == 1.0


def test_holm_adjusts_in_rank_order_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_nearest_rank_percentile() -> None:
    assert nearest_rank(list(range(1, 101)), 0.99) == 99
    assert nearest_rank([5], 0.95) == 5


def test_rates_define_override_and_label_errors_on_settled_escalations() -> None:
    points = [point(1), point(2, outcome="ESCALATE"), point(3, outcome="BLOCK"),
              point(4, outcome="REJECT", mode="shadow")]
    reviews = [Settled("a", approved=True, agent_outcome="APPROVE"),
               Settled("b", approved=False, agent_outcome="APPROVE"),
               Settled("c", approved=True, agent_outcome="REJECT"),
               Settled("d", approved=False, agent_outcome="ESCALATE")]
    found = rates(points, reviews)
    assert found.decisions == 3  # the shadow decision does not act
    assert found.shares["BLOCK"] == pytest.approx(1 / 3)
    assert found.override_rate == pytest.approx(2 / 3)  # b and c reversed the agent
    assert found.gate_false_positive_rate == pytest.approx(2 / 4)  # a and c were sound
    assert found.agent_false_negative_rate == pytest.approx(1 / 2)  # b, of a and b
    assert found.agent_false_positive_rate == pytest.approx(1.0)  # c
    assert [(s.stage, s.decisions) for s in found.latencies] == [("invoice", 4)]


def test_a_drill_is_no_decision_point() -> None:
    assert decision_point("d", 1, {"drill": True, "outcome": "APPROVE"}) is None
    found = decision_point("d", 1, {"agent_id": "a", "outcome": "APPROVE", "mode": "live",
                                    "payment": {"amount": "12.50", "vendor_id": "v"},
                                    "proposal": {"confidence": 0.8, "outcome": "APPROVE"}})
    assert found is not None
    assert found.amount == 12.5
    assert found.confidence == 0.8


def test_agent_drift_flags_the_shifted_agent_only() -> None:
    rng = random.Random(11)

    def stream(agent: str, *, scale: float = 1.0, always_approve: bool = False
               ) -> list[DecisionPoint]:
        return [point(i, agent=agent, amount=rng.uniform(100, 500) * scale,
                      outcome="APPROVE" if always_approve or i % 2 else "REJECT")
                for i in range(200)]
    baseline = stream("steady") + stream("moved")
    current = stream("steady") + stream("moved", scale=10, always_approve=True)
    drifted = {(d.agent_id, d.stream) for d in agent_drift(baseline, current) if d.drifted}
    assert drifted == {("moved", "outcome"), ("moved", "amount")}


def test_too_few_decisions_never_drift() -> None:
    assert not any(d.drifted for d in agent_drift(
        [point(i) for i in range(5)], [point(i, outcome="REJECT") for i in range(5)]))


def test_a_segment_blocked_far_more_often_is_flagged_and_a_fair_one_is_not() -> None:
    vendors = {"v-us": VendorFacts("US", 0), "v-br": VendorFacts("BR", 0),
               "v-de": VendorFacts("DE", 0)}
    points = [point(i, vendor=v, outcome="REJECT" if (v == "v-br" and i % 10 < 6)
                    or i % 10 == 0 else "APPROVE")
              for i in range(100) for v in vendors]
    tests = {(t.dimension, t.segment): t for t in segment_tests(points, vendors)}
    assert tests[("country", "BR")].flagged
    assert not tests[("country", "US")].flagged
    assert not tests[("country", "DE")].flagged


def test_bands() -> None:
    assert [amount_band(a) for a in (5, 100, 999.99, 1000, 25_000)] == [
        "<100", "100-1k", "100-1k", "1k-10k", "10k+"]
    assert [age_band(d * DAY) for d in (0, 29, 30, 364, 365)] == [
        "<30d", "<30d", "30-365d", "30-365d", "365d+"]
