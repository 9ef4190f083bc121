"""Whether a segment of vendors is held back more often than the rest.

Each acting decision (live or fallback) is adverse when BLOCK or REJECT. Decisions are
segmented three ways: the vendor's country, the amount's band (in the payment's own
currency units: <100, 100-1k, 1k-10k, 10k+) and the vendor's age when decided (<30 days,
30-365 days, 365+ days). Each segment with at least ``MIN_SEGMENT`` decisions, against
a rest of at least as many, is tested with a one-sided Fisher exact test (is its adverse
share higher than the rest's?). The p-values of all segments tested together are
corrected by Holm's method, so the chance of flagging any fair segment stays at or below
``ALPHA``; a segment is flagged when its adjusted p-value is below ``ALPHA``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from finbot.monitoring.points import DecisionPoint
from finbot.monitoring.stats import holm, worse_than_rest_p_value

ADVERSE = frozenset({"BLOCK", "REJECT"})
MIN_SEGMENT = 20
ALPHA = 0.01
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class VendorFacts:
    """What segments a vendor: its country and when it was registered."""

    country: str
    created_at_us: int


@dataclass(frozen=True)
class SegmentTest:
    """One segment's adverse share against the rest's, and its test."""

    dimension: str
    segment: str
    decisions: int
    adverse: int
    rate: float
    rest_rate: float
    p_value: float
    adjusted_p: float = 1.0

    @property
    def flagged(self) -> bool:
        return self.adjusted_p < ALPHA and self.rate > self.rest_rate

    @property
    def reason(self) -> str:
        return (f"{self.dimension} {self.segment}: {self.rate:.0%} blocked or rejected "
                f"against {self.rest_rate:.0%} for the rest (Holm-adjusted p="
                f"{self.adjusted_p:.2g})")


def amount_band(amount: float) -> str:
    for limit, band in ((100, "<100"), (1_000, "100-1k"), (10_000, "1k-10k")):
        if amount < limit:
            return band
    return "10k+"


def age_band(age_us: int) -> str:
    days = age_us / DAY_US
    return "<30d" if days < 30 else "30-365d" if days < 365 else "365d+"


def segment_tests(points: Sequence[DecisionPoint], vendors: Mapping[str, VendorFacts]
                  ) -> list[SegmentTest]:
    """Every testable segment of every dimension, with Holm-adjusted p-values."""
    acting = [p for p in points if p.acting and p.vendor_id in vendors]
    dimensions: dict[str, Callable[[DecisionPoint], str]] = {
        "country": lambda p: vendors[p.vendor_id].country,
        "amount": lambda p: amount_band(p.amount),
        "vendor_age": lambda p: age_band(p.at_us - vendors[p.vendor_id].created_at_us)}
    tests = [t for name, key in dimensions.items() for t in _dimension(name, acting, key)]
    return [replace(t, adjusted_p=a) for t, a in zip(tests, holm([t.p_value for t in tests]),
                                                      strict=True)]


def _dimension(name: str, points: Sequence[DecisionPoint],
               key: Callable[[DecisionPoint], str]) -> list[SegmentTest]:
    totals, adverse = Counter[str](), Counter[str]()
    for point in points:
        segment = key(point)
        totals[segment] += 1
        adverse[segment] += point.outcome in ADVERSE
    all_n, all_adverse = sum(totals.values()), sum(adverse.values())
    tests = []
    for segment in sorted(totals):
        n, bad = totals[segment], adverse[segment]
        rest_n, rest_bad = all_n - n, all_adverse - bad
        if n >= MIN_SEGMENT and rest_n >= MIN_SEGMENT:
            tests.append(SegmentTest(name, segment, n, bad, bad / n, rest_bad / rest_n,
                                     worse_than_rest_p_value(bad, n, rest_bad, rest_n)))
    return tests
