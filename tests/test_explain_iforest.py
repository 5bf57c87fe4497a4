"""Isolation-path explanations of the isolation forest (``unseen.explain.paths``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from unseen.detectors.sklearn_wrappers import average_path_length, forest_path_lengths
from unseen.explain.corruption import corrupt_one_column, top_column_hit_rate
from unseen.explain.paths import ISOLATION_PATHS, path_gains, stack_trees
from unseen.pipeline import AnomalyPipeline


def fit_iforest(train: pd.DataFrame) -> AnomalyPipeline:
    pipeline = AnomalyPipeline("iforest", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dropped constant columns
        return pipeline.fit(train)


@pytest.fixture(scope="module")
def nsl_kdd_normal(nsl_kdd_train) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = nsl_kdd_train[nsl_kdd_train["label"] == "normal"]
    rows = rows.drop(columns=["label", "difficulty"]).reset_index(drop=True)
    return rows.iloc[150:].reset_index(drop=True), rows.iloc[:150].reset_index(drop=True)


@pytest.fixture(scope="module")
def creditcard_normal(datasets_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = datasets_dir / "tabular" / "creditcard" / "creditcard_fraud_enriched_sample.csv"
    frame = pd.read_csv(path, index_col=0, nrows=4000)
    rows = frame[frame["Class"] == 0].drop(columns=["Class"]).reset_index(drop=True)
    return rows.iloc[150:2150].reset_index(drop=True), rows.iloc[:150].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(nsl_kdd_normal):
    train, test = nsl_kdd_normal
    pipeline = fit_iforest(train)
    corrupted, targets = corrupt_one_column(test, pipeline.schema_, train, random_state=0)
    return pipeline, corrupted, targets


def test_gains_telescope_to_path_shortening(fitted):
    pipeline, corrupted, _ = fitted
    detector = pipeline.detector_
    matrix, _ = pipeline.preprocessor_.transform(corrupted)
    net, positive = path_gains(matrix, stack_trees(detector.trees_), detector.n_features_in_)
    normal_depth = average_path_length(np.array([detector.max_samples_]))[0]
    shortening = len(detector.trees_) * normal_depth - forest_path_lengths(matrix, detector.trees_)
    np.testing.assert_allclose(net.sum(axis=1), shortening, rtol=1e-9, atol=1e-9)
    assert (positive >= net).all()
    assert (positive >= 0).all()


def test_contributions_are_nonnegative_and_sum_to_score(fitted):
    pipeline, corrupted, _ = fitted
    table = pipeline.explain(corrupted)
    assert table.attrs["method"] == ISOLATION_PATHS
    assert (table["contribution"] >= 0).all()
    totals = table.groupby("row")["contribution"].sum().to_numpy()
    np.testing.assert_allclose(totals, pipeline.anomaly_score(corrupted), rtol=1e-9)


def test_row_alone_matches_batch(fitted):
    pipeline, corrupted, _ = fitted
    batch = pipeline.explain(corrupted.iloc[:40])
    for position in (0, 17, 39):
        alone = pipeline.explain(corrupted.iloc[[position]])
        expected = batch[batch["row"] == position].reset_index(drop=True)
        np.testing.assert_array_equal(
            alone["contribution"].to_numpy(), expected["contribution"].to_numpy()
        )
        assert alone["column"].tolist() == expected["column"].tolist()
        assert alone["expected"].tolist() == expected["expected"].tolist()


def test_occlusion_stays_available(fitted):
    pipeline, corrupted, _ = fitted
    pipeline.explainer_.method = "occlusion"
    try:
        table = pipeline.explain(corrupted.iloc[:5], top_k=1)
    finally:
        pipeline.explainer_.method = "auto"
    assert table.attrs["method"] == "occlusion"


def test_finds_shifted_column_on_nsl_kdd(fitted):
    pipeline, corrupted, targets = fitted
    rate = top_column_hit_rate(pipeline.explain(corrupted, top_k=1), targets)
    assert rate >= 0.8, f"top-1 hit rate {rate:.1%}"


def test_credit_cards_keep_a_floor(creditcard_normal):
    # The forest barely reacts to these shifts on the credit card columns,
    # so 80% is out of reach here for both
    # methods (65% and 69% on this slice); see docs/explanations.md. This
    # floor guards against a regression.
    train, test = creditcard_normal
    pipeline = fit_iforest(train)
    corrupted, targets = corrupt_one_column(test, pipeline.schema_, train, random_state=0)
    paths = top_column_hit_rate(pipeline.explain(corrupted, top_k=1), targets)
    assert paths >= 0.6, f"top-1 hit rate {paths:.1%}"
