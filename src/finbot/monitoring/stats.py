"""The statistics the monitor rests on: population stability index, the two-sample
Kolmogorov-Smirnov test, nearest-rank percentiles and Holm's multiple-testing correction.

PSI compares two distributions over the same bins: sum over bins of (a - b) * ln(a / b),
with a and b the current and baseline shares. An empty bin's share is floored at
``PSI_FLOOR`` so a category that appears or vanishes counts heavily instead of dividing
by zero. Numeric values are binned by the baseline's deciles, so each baseline bin holds
about a tenth of the baseline and a shift shows as mass moving between bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as _scipy

PSI_FLOOR = 1e-4
DECILES = 10


def psi_of_shares(baseline: Sequence[float], current: Sequence[float]) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    total = 0.0
    for b, a in zip(baseline, current, strict=True):
        b, a = max(float(b), PSI_FLOOR), max(float(a), PSI_FLOOR)
        total += (a - b) * math.log(a / b)
    return total


def psi_of_counts(baseline: Mapping[str, int], current: Mapping[str, int]) -> float:
    """PSI of two categorical distributions given as counts per category; 0.0 when
    either side is empty (there is nothing to compare)."""
    keys = sorted(set(baseline) | set(current))
    b_total, a_total = sum(baseline.values()), sum(current.values())
    if not b_total or not a_total:
        return 0.0
    return psi_of_shares([baseline.get(k, 0) / b_total for k in keys],
                         [current.get(k, 0) / a_total for k in keys])


def psi_of_values(baseline: Sequence[float], current: Sequence[float], *,
                  bins: int = DECILES) -> float:
    """PSI of two numeric samples, binned by the baseline's quantiles (open-ended outer
    bins take whatever falls beyond the baseline's range)."""
    if not baseline or not current:
        return 0.0
    inner = np.unique(np.quantile(np.asarray(baseline, dtype=float),
                                  np.linspace(0, 1, bins + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    b_counts, _ = np.histogram(baseline, bins=edges)
    a_counts, _ = np.histogram(current, bins=edges)
    return psi_of_shares(list(b_counts / len(baseline)), list(a_counts / len(current)))


def ks_p_value(baseline: Sequence[float], current: Sequence[float]) -> float:
    """The two-sided two-sample Kolmogorov-Smirnov p-value (scipy's ``ks_2samp``); 1.0
    when either sample is empty."""
    if not baseline or not current:
        return 1.0
    return float(_scipy.ks_2samp(baseline, current).pvalue)


def worse_than_rest_p_value(adverse: int, total: int, rest_adverse: int,
                            rest_total: int) -> float:
    """One-sided Fisher exact p-value that a segment's adverse share (``adverse`` of
    ``total``) is higher than the rest's; exact for any counts, so no cell-size rule."""
    table = [[adverse, total - adverse], [rest_adverse, rest_total - rest_adverse]]
    return float(_scipy.fisher_exact(table, alternative="greater").pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input's order: comparing each to alpha
    keeps the chance of any false flag in the family at or below alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def nearest_rank(ordered: Sequence[int], fraction: float) -> int:
    """The nearest-rank percentile of an ascending, non-empty sequence."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
