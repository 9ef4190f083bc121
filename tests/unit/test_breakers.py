"""The breaker's rules on synthetic windows: each rule trips on its own, steady traffic
never trips, and nothing trips on too few decisions."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from finbot.domain.breakers import (
    OUTCOMES,
    Baseline,
    BreakerSettings,
    Observation,
    Window,
    check_trips,
)

SETTINGS = BreakerSettings(min_samples=20)
# A week of hours: 70% approve, 20% escalate, 8% reject, 2% block, with a little wobble.
STEADY = Baseline.from_counts(
    {h: {"APPROVE": 68 + h % 5, "ESCALATE": 20, "REJECT": 8, "BLOCK": 2} for h in range(168)},
    min_decisions=10)


def window_of(outcomes: list[str], *, latency_us: int = 50_000, errors: int = 0,
              start_us: int = 0) -> tuple[Window, int]:
    window = Window(SETTINGS.window_us, error_window_us=SETTINGS.error_window_us)
    at = start_us
    for i, outcome in enumerate(outcomes):
        at = start_us + i * 1_000_000 // max(len(outcomes), 1)
        window.add(Observation(at, outcome, latency_us, i < errors))
    return window, at


def trips(outcomes: list[str], baseline: Baseline = STEADY, **kw: int) -> set[str]:
    window, now = window_of(outcomes, **kw)
    stats = window.stats(now)
    return {t.rule for t in check_trips(stats, baseline, SETTINGS)}


def mix(approve: int, escalate: int, reject: int, block: int) -> list[str]:
    return ["APPROVE"] * approve + ["ESCALATE"] * escalate + ["REJECT"] * reject + (
        ["BLOCK"] * block)


def test_traffic_like_the_baseline_trips_nothing() -> None:
    assert trips(mix(70, 20, 8, 2)) == set()


def test_a_block_rate_spike_opens_the_breaker() -> None:
    assert "block_rate_spike" in trips(mix(50, 15, 10, 25))


def test_an_allow_rate_spike_opens_the_breaker_because_the_model_may_be_gamed() -> None:
    assert "allow_rate_spike" in trips(mix(97, 2, 1, 0))


def test_an_error_rate_over_one_percent_opens_the_breaker() -> None:
    assert "error_rate" in trips(mix(70, 20, 8, 2), errors=2)
    assert "error_rate" not in trips(mix(70, 20, 8, 2), errors=1)


def test_a_slow_model_opens_the_breaker() -> None:
    assert trips(mix(70, 20, 8, 2), latency_us=11_000_000) == {"latency_p99"}


def test_drift_in_any_outcome_opens_the_breaker() -> None:
    assert "distribution_drift" in trips(mix(62, 36, 2, 0))


def test_nothing_trips_below_the_minimum_sample_size() -> None:
    assert trips(["BLOCK"] * 19, errors=19, latency_us=60_000_000) == set()


def test_spike_and_drift_rules_wait_for_an_established_baseline() -> None:
    thin = Baseline.from_counts({0: {"APPROVE": 50}, 1: {"APPROVE": 3}}, min_decisions=10)
    assert thin.hours == 1
    assert trips(mix(0, 0, 0, 100), baseline=thin) == set()


def test_old_observations_leave_the_window() -> None:
    window, _ = window_of(["BLOCK"] * 50)
    later = SETTINGS.window_us + 2_000_000
    window.add(Observation(later, "APPROVE", 1, False))
    stats = window.stats(later)
    assert stats.count == 1
    assert stats.shares["APPROVE"] == 1.0


def test_p99_is_the_nearest_rank() -> None:
    window = Window(SETTINGS.window_us, error_window_us=10**9)
    for i in range(1, 201):
        window.add(Observation(i, "APPROVE", i * 1000, False))
    assert window.stats(200).p99_latency_us == 198_000


@given(st.integers(min_value=1, max_value=20))
def test_a_window_shaped_exactly_like_the_baseline_never_trips(scale: int) -> None:
    assert trips(mix(70 * scale, 20 * scale, 8 * scale, 2 * scale)) == set()


def test_chance_alone_rarely_trips_a_steady_agent() -> None:
    chance = random.Random(7)
    windows = [chance.choices(["APPROVE", "ESCALATE", "REJECT", "BLOCK"], weights=[70, 20, 8, 2],
                              k=chance.randint(20, 600)) for _ in range(300)]
    false_alarms = sum(bool(trips(w)) for w in windows)
    assert false_alarms <= 6  # at most 2% of windows, measured ~0.5%


@given(st.lists(st.tuples(st.integers(0, 3_000_000), st.sampled_from(OUTCOMES),
                          st.one_of(st.none(), st.integers(0, 5_000)), st.booleans(),
                          st.booleans()), max_size=200))
def test_the_windows_running_stats_equal_a_recount(steps: list[tuple[
        int, str, int | None, bool, bool]]) -> None:
    """Observations in time order, stats asked now and then: the running counts, sorted
    latencies and recent errors say what counting the window afresh says."""
    window, kept, at = Window(1_000_000, error_window_us=300_000), [], 0
    for gap, outcome, latency, error, ask in steps:
        at += gap // 10
        observation = Observation(at, outcome, latency, error)
        window.add(observation)
        kept.append(observation)
        if ask:
            live = [o for o in kept if o.at_us > at - 1_000_000]
            recent = [o for o in live if o.at_us > at - 300_000]
            latencies = sorted(o.latency_us for o in live if o.latency_us is not None)
            stats = window.stats(at)
            assert (stats.count, stats.error_count, stats.error_total) == (
                len(live), sum(o.error for o in recent), len(recent))
            assert stats.shares == {o: sum(x.outcome == o for x in live) / len(live)
                                    for o in OUTCOMES}
            assert stats.p99_latency_us == (
                latencies[max(math.ceil(0.99 * len(latencies)) - 1, 0)] if latencies else None)
