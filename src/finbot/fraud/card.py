"""Writes the Markdown model card stored next to every model version, so anyone deciding
whether to trust a score can see what the model was trained on, how well it did, and where
it is known to be weak.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finbot.fraud.metadata import ModelInfo
from finbot.fraud.metrics import SegmentMetrics

MIN_POSITIVES = 5
"""Below this many fraud cases in a segment its metrics are too noisy to rely on."""
MIN_ROWS = 50
"""Below this many held-out payments a segment is called thinly covered."""


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _segment_rows(title: str, segments: Mapping[str, SegmentMetrics]) -> list[str]:
    return [f"| {title}={name} | {m.count} | {m.positives} | {m.flagged} | "
            f"{_number(m.roc_auc)} | {_number(m.precision_at_budget)} | "
            f"{_number(m.recall_at_budget)} |" for name, m in segments.items()]


def _metrics_section(info: ModelInfo) -> list[str]:
    m = info.metrics
    return [
        f"## Metrics (held-out payments, review budget {m.review_budget:.1%})", "",
        f"- Payments: {m.rows}, fraud: {m.positives}, flagged for review: {m.flagged}",
        f"- ROC-AUC: {_number(m.roc_auc)}; PR-AUC (average precision): {_number(m.pr_auc)}",
        f"- Precision at budget: {_number(m.precision_at_budget)}; "
        f"recall at budget: {_number(m.recall_at_budget)}", "",
        "| Segment | Payments | Fraud | Flagged | ROC-AUC | Precision@budget | Recall@budget |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *_segment_rows("country", m.by_country),
        *_segment_rows("vendor_size", m.by_vendor_size), "",
    ]


def _data_section(info: ModelInfo) -> list[str]:
    source = ", ".join(f"{k}={v}" for k, v in info.provenance.items()) or "not recorded"
    return [
        "## Training data", "",
        f"- Source: {source}",
        f"- Seed (split and training): {info.seed}",
        f"- Payments: {info.sizes['rows']} ({info.sizes['train_rows']} train, "
        f"{info.sizes['test_rows']} held out), vendors: {info.sizes['vendors']}",
        f"- Training data hash (SHA-256): `{info.data_hash}`", "",
        "| Pattern | Payments |", "|---|---:|",
        *(f"| {name} | {count} |" for name, count in info.pattern_counts.items()), "",
    ]


def _params_section(params: Mapping[str, Any], features: tuple[str, ...]) -> list[str]:
    return ["## Parameters", "", "| Parameter | Value |", "|---|---|",
            *(f"| {key} | {value} |" for key, value in sorted(params.items())), "",
            f"Features, in order: {', '.join(f'`{name}`' for name in features)}.", ""]


def _thin(info: ModelInfo) -> tuple[list[str], list[str]]:
    segments = [(f"{kind}={name}", m) for kind, group in
                (("country", info.metrics.by_country),
                 ("vendor_size", info.metrics.by_vendor_size)) for name, m in group.items()]
    few_positives = [name for name, m in segments if m.positives < MIN_POSITIVES]
    few_rows = [name for name, m in segments if m.count < MIN_ROWS]
    return few_positives, few_rows


def _failure_section(info: ModelInfo) -> list[str]:
    few_positives, few_rows = _thin(info)
    return [
        "## Known failure modes", "",
        "- Novel fraud: the model only learned the patterns listed above; a scheme absent "
        "from training data (e.g. a compromised approver, or slow drift of amounts) can "
        "score low.",
        "- Synthetic data: metrics come from generated payments and overstate how well "
        "the model will do on real ones until it is validated on labelled production data.",
        f"- Segments with fewer than {MIN_POSITIVES} fraud cases held out, whose metrics "
        f"are not reliable: {', '.join(few_positives) or 'none'}.",
        f"- Segments with fewer than {MIN_ROWS} held-out payments: "
        f"{', '.join(few_rows) or 'none'}.",
        "- Drift: new vendors, changed approval limits, currency mixes (amounts are not "
        "FX-normalised) or a new country-risk table shift the features; re-evaluate and "
        "retrain when they change.",
        "- Explanations: per-payment attributions are Saabas-style path contributions, a "
        "fast approximation of SHAP values, and describe the model, not the truth.", "",
    ]


def render_card(info: ModelInfo) -> str:
    """The Markdown model card for ``info``."""
    lines = [
        f"# Fraud model {info.version}", "", f"Created {info.created_at}.", "",
        "## What it does", "",
        "Scores an invoice payment that is about to be made with the probability that it is "
        "fraudulent (LightGBM gradient-boosted trees), and names the features that drove "
        "the score so a reviewer can see why.", "",
        "## Intended use", "",
        "Ranking vendor payments for human review. The model never decides alone: the "
        "policy gate and human reviewers decide whether money moves. A low score never "
        "bypasses other controls. Not for judging vendors or people outside payment review.",
        "",
        *_data_section(info), *_params_section(info.params, info.feature_names),
        *_metrics_section(info), *_failure_section(info),
        "## Integrity", "",
        f"- Model hash (SHA-256 of `model.txt`): `{info.model_hash}`",
        f"- Training data hash (SHA-256): `{info.data_hash}`", "",
    ]
    return "\n".join(lines)
