"""Scores one payment in well under a millisecond, with the features that drove the score.

``Scorer.score`` runs on the payment path, so it uses the numpy ``Forest`` rather than
``Booster.predict``; the booster stays available for exact TreeSHAP (``exact_attributions``)
when a reviewer or auditor wants it off the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from finbot.fraud.features import FEATURE_NAMES, PaymentContext, describe, feature_vector
from finbot.fraud.forest import Forest, compile_forest


@dataclass(frozen=True, slots=True)
class Score:
    """A fraud probability, the top feature contributions (raw log-odds) and the model used."""

    probability: float
    attributions: list[tuple[str, float]]
    model_version: str


class Scorer:
    """A loaded model version, ready to score payments."""

    def __init__(self, model_string: str, *, version: str, top: int = 5) -> None:
        self._booster = lgb.Booster(model_str=model_string)
        if tuple(self._booster.feature_name()) != FEATURE_NAMES:
            raise ValueError("model was trained on different features than FEATURE_NAMES")
        self._forest: Forest = compile_forest(self._booster.dump_model())
        self._version = version
        self._top = top

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def booster(self) -> lgb.Booster:
        return self._booster

    def score(self, ctx: PaymentContext) -> Score:
        x = np.array(feature_vector(ctx), dtype=np.float64)
        leaves = self._forest.leaves(x)
        raw = float(self._forest.value[leaves].sum())
        contributions = self._forest.path_contrib[leaves].sum(axis=0).tolist()
        return Score(self._forest.probability(raw), self._ranked(contributions), self._version)

    def _ranked(self, contributions: Sequence[float]) -> list[tuple[str, float]]:
        order = sorted(range(len(contributions)), key=lambda i: (-abs(contributions[i]), i))
        return [(FEATURE_NAMES[i], contributions[i]) for i in order[: self._top]]

    def raw_scores(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw log-odds per row of a feature matrix, as the numpy forest computes them."""
        leaves = self._forest.leaves_batch(np.asarray(matrix, dtype=np.float64))
        return np.asarray(self._forest.value[leaves].sum(axis=1), dtype=np.float64)

    def probabilities(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + np.exp(-self._forest.sigmoid * self.raw_scores(matrix))),
                          dtype=np.float64)

    def exact_attributions(self, ctx: PaymentContext) -> list[tuple[str, float]]:
        """LightGBM's TreeSHAP contributions, slower but exact; bias term left out."""
        x = np.array([feature_vector(ctx)], dtype=np.float64)
        contrib = np.asarray(self._booster.predict(x, pred_contrib=True))[0, :-1]
        return self._ranked([float(c) for c in contrib])

    def reasons(self, ctx: PaymentContext, score: Score) -> list[str]:
        """Plain-English phrases for the features behind ``score``, strongest first."""
        values = dict(zip(FEATURE_NAMES, feature_vector(ctx), strict=True))
        return [describe(name, values[name]) for name, _ in score.attributions]
