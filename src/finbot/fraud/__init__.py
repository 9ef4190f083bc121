"""Fraud scoring for vendor payments: features, synthetic training data, a reproducible
LightGBM model, a sub-millisecond scorer and a versioned registry with model cards.

A score only ranks payments for review; the policy gate and humans decide what is paid.
"""

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
