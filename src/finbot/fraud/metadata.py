"""What is recorded about a model version, in one JSON-ready record shared by the registry's
``meta.json`` and the model card, so the two always tell the same story.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finbot.fraud.features import FEATURE_NAMES
from finbot.fraud.metrics import Metrics
from finbot.fraud.training import TrainedModel


@dataclass(frozen=True)
class ModelInfo:
    """A model version's identity, provenance, parameters and held-out metrics."""

    version: str
    model_hash: str
    data_hash: str
    params: dict[str, Any]
    seed: int
    sizes: dict[str, int]
    pattern_counts: dict[str, int]
    provenance: dict[str, Any]
    metrics: Metrics
    created_at: str
    feature_names: tuple[str, ...] = FEATURE_NAMES

    @classmethod
    def of(cls, trained: TrainedModel, metrics: Metrics, *, created_at: str) -> ModelInfo:
        test_rows = len(trained.test_set)
        sizes = {"rows": trained.train_rows + test_rows, "train_rows": trained.train_rows,
                 "test_rows": test_rows, "vendors": len(trained.test_set.vendors)}
        return cls(trained.version, trained.model_hash, trained.data_hash,
                   dict(trained.params), trained.seed, sizes, dict(trained.pattern_counts),
                   dict(trained.provenance), metrics, created_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "model_hash": self.model_hash,
            "data_hash": self.data_hash, "params": self.params, "seed": self.seed,
            "sizes": self.sizes, "pattern_counts": self.pattern_counts,
            "provenance": self.provenance, "metrics": self.metrics.to_dict(),
            "created_at": self.created_at, "feature_names": list(self.feature_names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        return cls(**{**data, "metrics": Metrics.from_dict(data["metrics"]),
                      "feature_names": tuple(data["feature_names"])})
