"""Fraud scoring for vendor payments: features, synthetic training data, a reproducible
LightGBM model, a sub-millisecond scorer and a versioned registry with model cards.

A score only ranks payments for review; the policy gate and humans decide what is paid.

Names are imported on first use: a process that needs only the features (the agents, the
gate) does not pay for scikit-learn and LightGBM at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finbot.fraud.card import render_card
    from finbot.fraud.dataset import LEGIT, Dataset, Payment, Vendor
    from finbot.fraud.features import (
        FEATURE_NAMES,
        PaymentContext,
        describe,
        feature_vector,
        just_under_limit,
    )
    from finbot.fraud.metadata import ModelInfo
    from finbot.fraud.metrics import Metrics, SegmentMetrics
    from finbot.fraud.registry import ModelRegistry, TamperedModel, UnknownModel
    from finbot.fraud.scorer import Score, Scorer
    from finbot.fraud.synthetic import PATTERNS, generate
    from finbot.fraud.training import TrainedModel, evaluate, train

_HOMES = {
    "Dataset": "finbot.fraud.dataset",
    "FEATURE_NAMES": "finbot.fraud.features",
    "LEGIT": "finbot.fraud.dataset",
    "Metrics": "finbot.fraud.metrics",
    "ModelInfo": "finbot.fraud.metadata",
    "ModelRegistry": "finbot.fraud.registry",
    "PATTERNS": "finbot.fraud.synthetic",
    "Payment": "finbot.fraud.dataset",
    "PaymentContext": "finbot.fraud.features",
    "Score": "finbot.fraud.scorer",
    "Scorer": "finbot.fraud.scorer",
    "SegmentMetrics": "finbot.fraud.metrics",
    "TamperedModel": "finbot.fraud.registry",
    "TrainedModel": "finbot.fraud.training",
    "UnknownModel": "finbot.fraud.registry",
    "Vendor": "finbot.fraud.dataset",
    "describe": "finbot.fraud.features",
    "evaluate": "finbot.fraud.training",
    "feature_vector": "finbot.fraud.features",
    "generate": "finbot.fraud.synthetic",
    "just_under_limit": "finbot.fraud.features",
    "render_card": "finbot.fraud.card",
    "train": "finbot.fraud.training",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'finbot.fraud' has no attribute {name!r}")
    return getattr(import_module(home), name)


__all__ = [
    "FEATURE_NAMES",
    "LEGIT",
    "PATTERNS",
    "Dataset",
    "Metrics",
    "ModelInfo",
    "ModelRegistry",
    "Payment",
    "PaymentContext",
    "Score",
    "Scorer",
    "SegmentMetrics",
    "TamperedModel",
    "TrainedModel",
    "UnknownModel",
    "Vendor",
    "describe",
    "evaluate",
    "feature_vector",
    "generate",
    "just_under_limit",
    "render_card",
    "train",
]
