"""The fraud model: reproducible data and training, useful scores, fast explanations, and a
registry that never loads a model other than the one it saved."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from finbot.fraud import (
    FEATURE_NAMES,
    LEGIT,
    PATTERNS,
    Dataset,
    Metrics,
    ModelRegistry,
    PaymentContext,
    Scorer,
    TamperedModel,
    TrainedModel,
    UnknownModel,
    describe,
    evaluate,
    feature_vector,
    generate,
    just_under_limit,
    train,
)
from finbot.fraud.forest import compile_forest

SEED = 7
CREATED_AT = "2025-01-01T00:00:00+00:00"
ORDINARY = PaymentContext(
    amount_minor=412_300, currency="USD", vendor_country="US", vendor_age_days=900,
    days_since_bank_change=None, invoices_last_7d=0, vendor_median_amount_minor=400_000,
    days_since_last_invoice=30, payee_paid_before=True, amount_just_under_limit=False,
    same_amount_count_30d=0, vendor_size="medium",
)
REDIRECT = replace(ORDINARY, days_since_bank_change=3, payee_paid_before=False,
                   amount_minor=780_000)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(vendors=300, invoices=6000, fraud_rate=0.04, seed=SEED)


@pytest.fixture(scope="module")
def trained(dataset: Dataset) -> TrainedModel:
    return train(dataset, seed=SEED)


@pytest.fixture(scope="module")
def metrics(trained: TrainedModel) -> Metrics:
    return evaluate(trained, trained.test_set)


@pytest.fixture(scope="module")
def scorer(trained: TrainedModel) -> Scorer:
    return trained.scorer()


def test_the_same_seed_gives_identical_data_and_an_identical_model(
        dataset: Dataset, trained: TrainedModel) -> None:
    again = generate(vendors=300, invoices=6000, fraud_rate=0.04, seed=SEED)
    retrained = train(again, seed=SEED)
    assert again.digest() == dataset.digest() == trained.data_hash
    assert retrained.model_string == trained.model_string
    assert retrained.model_hash == trained.model_hash


def test_a_different_seed_gives_different_data() -> None:
    first = generate(vendors=40, invoices=400, fraud_rate=0.05, seed=1)
    second = generate(vendors=40, invoices=400, fraud_rate=0.05, seed=2)
    assert first.digest() != second.digest()


def test_generated_fraud_rate_is_near_the_requested_one_and_every_pattern_appears(
        dataset: Dataset) -> None:
    assert len(dataset) == 6000
    assert abs(float(dataset.y.mean()) - 0.04) < 0.005
    assert set(dataset.pattern_counts()) == {LEGIT, *PATTERNS}
    assert all(p.label == int(p.pattern != LEGIT) for p in dataset.payments)


def test_invoice_records_keep_money_in_integer_minor_units(dataset: Dataset) -> None:
    contexts = [p.context for p in dataset.payments]
    assert all(type(c.amount_minor) is int for c in contexts)
    assert all(type(c.vendor_median_amount_minor) is int for c in contexts)


def test_the_model_ranks_held_out_fraud_far_above_chance(metrics: Metrics) -> None:
    assert metrics.rows == 1500
    assert (metrics.roc_auc or 0.0) > 0.85
    assert (metrics.pr_auc or 0.0) > 0.5
    assert metrics.flagged == 30


def test_per_segment_metrics_cover_every_country_and_vendor_size(
        trained: TrainedModel, metrics: Metrics) -> None:
    countries = {country for country, _ in trained.test_set.segments}
    assert set(metrics.by_country) == countries
    assert set(metrics.by_vendor_size) == {"small", "medium", "large"}
    assert sum(m.count for m in metrics.by_country.values()) == metrics.rows
    assert Metrics.from_dict(json.loads(json.dumps(metrics.to_dict()))) == metrics


def test_a_payee_redirect_scores_higher_than_an_ordinary_payment(scorer: Scorer) -> None:
    assert scorer.score(REDIRECT).probability > 5 * scorer.score(ORDINARY).probability


def test_attributions_name_the_bank_change_behind_a_redirect(scorer: Scorer) -> None:
    score = scorer.score(REDIRECT)
    names = [name for name, _ in score.attributions]
    assert {"days_since_bank_change", "bank_change_14d"} & set(names)
    assert [abs(c) for _, c in score.attributions] == sorted(
        (abs(c) for _, c in score.attributions), reverse=True)
    assert any(reason.startswith("bank details changed")
               for reason in scorer.reasons(REDIRECT, score))


def test_the_fast_scorer_matches_lightgbm_to_1e_9(
        scorer: Scorer, trained: TrainedModel, dataset: Dataset) -> None:
    rows = dataset.X[::20]
    expected = np.asarray(trained.booster.predict(rows))
    assert np.max(np.abs(scorer.probabilities(rows) - expected)) < 1e-9
    one_by_one = [scorer.score(p.context).probability for p in dataset.payments[::20]]
    assert np.max(np.abs(np.array(one_by_one) - expected)) < 1e-9


def test_attributions_add_up_to_the_raw_score(trained: TrainedModel, dataset: Dataset) -> None:
    forest = compile_forest(trained.booster.dump_model())
    raw = np.asarray(trained.booster.predict(dataset.X[:200], raw_score=True))
    for x, expected in zip(dataset.X[:200], raw, strict=True):
        leaves = forest.leaves(x)
        assert forest.bias + forest.path_contrib[leaves].sum() == pytest.approx(expected)


def test_scoring_one_payment_stays_well_under_a_few_milliseconds(
        scorer: Scorer, dataset: Dataset) -> None:
    contexts = [p.context for p in dataset.payments[:2000]]
    for ctx in contexts[:100]:
        scorer.score(ctx)
    timings = []
    for ctx in contexts:
        start = time.perf_counter()
        scorer.score(ctx)
        timings.append(time.perf_counter() - start)
    assert np.percentile(timings, 99) < 0.005


def test_features_and_their_descriptions_line_up() -> None:
    values = feature_vector(REDIRECT)
    assert len(values) == len(FEATURE_NAMES)
    assert describe("days_since_bank_change", 3.0) == "bank details changed 3 days ago"
    assert all(describe(name, value) for name, value in zip(FEATURE_NAMES, values, strict=True))
    assert just_under_limit(950_000, 1_000_000)
    assert not just_under_limit(1_000_000, 1_000_000)
    assert not just_under_limit(899_999, 1_000_000)


def test_the_registry_round_trips_a_model(
        tmp_path: Path, trained: TrainedModel, metrics: Metrics, scorer: Scorer,
        dataset: Dataset) -> None:
    registry = ModelRegistry(tmp_path)
    info = registry.save(trained, metrics, created_at=CREATED_AT)
    loaded = registry.load(info.version)
    assert info.version == trained.version == loaded.model_version
    assert registry.versions() == [info.version]
    assert registry.info(info.version) == registry.latest() == info
    for payment in dataset.payments[:50]:
        assert loaded.score(payment.context).probability == scorer.score(
            payment.context).probability


def test_saving_the_same_model_again_returns_the_stored_version(
        tmp_path: Path, trained: TrainedModel, metrics: Metrics) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.save(trained, metrics, created_at=CREATED_AT)
    second = registry.save(trained, metrics, created_at="2030-06-30T12:00:00+00:00")
    assert second == first
    assert registry.versions() == [first.version]


def test_the_registry_refuses_a_tampered_model_file(
        tmp_path: Path, trained: TrainedModel, metrics: Metrics) -> None:
    registry = ModelRegistry(tmp_path)
    info = registry.save(trained, metrics, created_at=CREATED_AT)
    model_file = tmp_path / info.version / "model.txt"
    model_file.write_text(model_file.read_text().replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(TamperedModel):
        registry.load(info.version)


def test_unknown_versions_raise_unknown_model(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(UnknownModel):
        registry.load("fraud-000000000000")
    with pytest.raises(UnknownModel):
        registry.info("../../etc")
    with pytest.raises(UnknownModel):
        registry.latest()


def test_the_model_card_names_the_data_hash_and_per_segment_metrics(
        tmp_path: Path, trained: TrainedModel, metrics: Metrics) -> None:
    registry = ModelRegistry(tmp_path)
    card = registry.card(registry.save(trained, metrics, created_at=CREATED_AT).version)
    assert trained.data_hash in card
    assert trained.model_hash in card
    assert "| country=US |" in card
    assert "| vendor_size=large |" in card
    assert all(pattern in card for pattern in PATTERNS)
    assert "never decides alone" in card
