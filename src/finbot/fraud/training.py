"""Trains the fraud model reproducibly and evaluates it, so every model version can be rebuilt
bit for bit from its seed and training data and its hash proves which model is running.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from finbot.fraud.dataset import Dataset
from finbot.fraud.features import FEATURE_NAMES
from finbot.fraud.metrics import Metrics, measure
from finbot.fraud.scorer import Scorer

DEFAULT_PARAMS: Mapping[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_iterations": 150,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
}
"""Defaults that a caller's ``params`` override; the reproducibility settings (deterministic,
one thread, row-wise histograms, every seed from ``seed``) are always applied on top."""
TEST_SHARE = 0.25


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained booster with everything needed to reproduce, register and explain it.

    ``data_hash`` is the digest of the whole dataset given to ``train``; the train/test split
    is derived from it and ``seed``, so the hash and seed pin down both sides.
    """

    booster: lgb.Booster
    model_string: str
    model_hash: str
    data_hash: str
    params: dict[str, Any]
    seed: int
    train_rows: int
    test_set: Dataset
    pattern_counts: dict[str, int]
    provenance: dict[str, Any]

    @property
    def version(self) -> str:
        return version_for(self.model_hash)

    def scorer(self) -> Scorer:
        return Scorer(self.model_string, version=self.version)


def version_for(model_hash: str) -> str:
    """A model's version id: ``fraud-`` and the first 12 hex digits of its hash."""
    return f"fraud-{model_hash[:12]}"


def model_hash(model_string: str) -> str:
    return hashlib.sha256(model_string.encode()).hexdigest()


def _reproducible(params: Mapping[str, Any] | None, seed: int) -> dict[str, Any]:
    return {**DEFAULT_PARAMS, **(params or {}), "deterministic": True, "num_threads": 1,
            "force_row_wise": True, "verbosity": -1, "seed": seed, "bagging_seed": seed,
            "feature_fraction_seed": seed, "data_random_seed": seed}


def split(dataset: Dataset, *, seed: int,
          test_share: float = TEST_SHARE) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Train and test row indices, stratified by label so both sides hold fraud."""
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(dataset.y == label))
        test.extend(int(r) for r in rows[: round(len(rows) * test_share)])
    test_rows = np.array(sorted(test), dtype=np.intp)
    train_rows = np.setdiff1d(np.arange(len(dataset)), test_rows).astype(np.intp)
    return train_rows, test_rows


def train(dataset: Dataset, *, seed: int, params: Mapping[str, Any] | None = None) -> TrainedModel:
    """Train on a seeded split of ``dataset``; same seed and data give the same model hash."""
    effective = _reproducible(params, seed)
    lgb_params = {k: v for k, v in effective.items() if k != "num_iterations"}
    train_rows, test_rows = split(dataset, seed=seed)
    data = lgb.Dataset(dataset.X[train_rows], label=dataset.y[train_rows],
                       feature_name=list(FEATURE_NAMES), params=lgb_params)
    booster = lgb.train(lgb_params, data, num_boost_round=int(effective["num_iterations"]))
    text = booster.model_to_string()
    return TrainedModel(booster, text, model_hash(text), dataset.digest(), effective, seed,
                        len(train_rows), dataset.subset(test_rows), dataset.pattern_counts(),
                        dict(dataset.provenance))


def evaluate(model: TrainedModel, dataset: Dataset, *, review_budget: float = 0.02) -> Metrics:
    """Metrics of ``model`` on every row of ``dataset``; pass ``model.test_set`` for held-out."""
    scores = np.asarray(model.booster.predict(dataset.X), dtype=np.float64)
    return measure(dataset.y, scores, dataset.segments, review_budget=review_budget)
