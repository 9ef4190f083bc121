"""Reading latency samples the same way in every benchmark."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], pct: int, *, digits: int) -> float:
    """The ``pct``-th percentile of ``samples`` (100: the maximum), rounded."""
    value = statistics.quantiles(samples, n=100)[pct - 1] if pct < 100 else max(samples)
    return round(value, digits)
