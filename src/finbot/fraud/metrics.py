"""How well fraud scores rank payments, overall and per segment, as plain JSON-ready records.

Reviewers can only look at a fixed share of payments, so besides ROC-AUC and PR-AUC the
metrics report precision and recall when exactly that top share of scores is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class SegmentMetrics:
    """Metrics for one slice of payments; ``None`` where the slice cannot support a number."""

    count: int
    positives: int
    flagged: int
    roc_auc: float | None
    precision_at_budget: float | None
    recall_at_budget: float | None


@dataclass(frozen=True, slots=True)
class Metrics:
    """Overall and per-segment metrics at one review budget (share of payments reviewed)."""

    rows: int
    positives: int
    review_budget: float
    flagged: int
    roc_auc: float | None
    pr_auc: float | None
    precision_at_budget: float | None
    recall_at_budget: float | None
    by_country: dict[str, SegmentMetrics]
    by_vendor_size: dict[str, SegmentMetrics]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        segments = {key: {name: SegmentMetrics(**values) for name, values in data[key].items()}
                    for key in ("by_country", "by_vendor_size")}
        return cls(**{**data, **segments})


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _roc_auc(labels: NDArray[np.int64], scores: NDArray[np.float64]) -> float | None:
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def flag_top(scores: NDArray[np.float64], *, share: float) -> NDArray[np.bool_]:
    """Mask of the ``ceil(share * n)`` highest scores; ties go to the earlier row."""
    if not 0.0 < share <= 1.0:
        raise ValueError("review budget must be in (0, 1]")
    count = min(len(scores), math.ceil(share * len(scores)))
    mask = np.zeros(len(scores), dtype=np.bool_)
    mask[np.argsort(-scores, kind="stable")[:count]] = True
    return mask


def _segment(labels: NDArray[np.int64], scores: NDArray[np.float64],
             flagged: NDArray[np.bool_]) -> SegmentMetrics:
    positives = int(labels.sum())
    caught = int(labels[flagged].sum())
    return SegmentMetrics(len(labels), positives, int(flagged.sum()), _roc_auc(labels, scores),
                          _ratio(caught, int(flagged.sum())), _ratio(caught, positives))


def _by(keys: Sequence[str], labels: NDArray[np.int64], scores: NDArray[np.float64],
        flagged: NDArray[np.bool_]) -> dict[str, SegmentMetrics]:
    column = np.array(keys, dtype=object)
    return {key: _segment(labels[column == key], scores[column == key], flagged[column == key])
            for key in sorted(set(keys))}


def measure(labels: NDArray[np.int64], scores: NDArray[np.float64],
            segments: Sequence[tuple[str, str]], *, review_budget: float) -> Metrics:
    """Metrics for ``scores`` against ``labels``; segments are ``(country, vendor size)``."""
    flagged = flag_top(scores, share=review_budget)
    overall = _segment(labels, scores, flagged)
    pr_auc = float(average_precision_score(labels, scores)) if overall.positives else None
    return Metrics(
        rows=overall.count, positives=overall.positives, review_budget=review_budget,
        flagged=overall.flagged, roc_auc=overall.roc_auc, pr_auc=pr_auc,
        precision_at_budget=overall.precision_at_budget,
        recall_at_budget=overall.recall_at_budget,
        by_country=_by([s[0] for s in segments], labels, scores, flagged),
        by_vendor_size=_by([s[1] for s in segments], labels, scores, flagged),
    )
