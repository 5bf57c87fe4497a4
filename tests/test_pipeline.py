"""The end-to-end pipeline on real data: contract, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from unseen.detectors import AutoencoderDetector
from unseen.errors import DataError, NotFittedError, UnseenError
from unseen.pipeline import MIN_TRAINING_ROWS, AnomalyPipeline

FAST = {"epochs": 8, "batch_size": 64}


def make_pipeline(**overrides) -> AnomalyPipeline:
    params = {
        "detector": "autoencoder",
        "detector_params": FAST,
        "label_column": "label",
        "ignore_columns": ["difficulty"],
        "random_state": 0,
    }
    params.update(overrides)
    return AnomalyPipeline(**params)


@pytest.fixture(scope="module")
def normal_rows(nsl_kdd_train) -> pd.DataFrame:
    return nsl_kdd_train[nsl_kdd_train["label"] == "normal"].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(normal_rows) -> AnomalyPipeline:
    with pytest.warns(UserWarning, match="dropped column"):
        return make_pipeline().fit(normal_rows)


def test_sklearn_sign_contract(fitted, nsl_kdd_test):
    rows = nsl_kdd_test.head(300)
    anomaly = fitted.anomaly_score(rows)
    np.testing.assert_allclose(fitted.score_samples(rows), -anomaly)
    np.testing.assert_allclose(fitted.decision_function(rows), fitted.threshold_ - anomaly)
    predicted = fitted.predict(rows)
    assert set(np.unique(predicted)) <= {-1, 1}
    np.testing.assert_array_equal(predicted == -1, fitted.decision_function(rows) < 0)


def test_attacks_score_higher_than_normal(fitted, nsl_kdd_test):
    from sklearn.metrics import roc_auc_score

    labels = (nsl_kdd_test["label"] != "normal").astype(int)
    assert roc_auc_score(labels, fitted.anomaly_score(nsl_kdd_test)) > 0.85


def test_get_set_params_and_clone(fitted):
    params = fitted.get_params()
    assert params["target_fpr"] == 0.01
    copy = clone(fitted)
    assert not hasattr(copy, "threshold_")
    copy.set_params(target_fpr=0.05)
    assert copy.target_fpr == 0.05


def test_init_stores_without_validating():
    pipeline = AnomalyPipeline(target_fpr=7.0)
    with pytest.raises(UnseenError, match="between 0 and 1"):
        pipeline.fit(pd.DataFrame({"a": range(30)}))


def test_same_seed_same_scores(normal_rows, nsl_kdd_test):
    first = make_pipeline().fit(normal_rows.head(400)).anomaly_score(nsl_kdd_test.head(200))
    second = make_pipeline().fit(normal_rows.head(400)).anomaly_score(nsl_kdd_test.head(200))
    np.testing.assert_array_equal(first, second)


def test_other_seed_other_scores(normal_rows, nsl_kdd_test):
    first = make_pipeline().fit(normal_rows.head(400)).anomaly_score(nsl_kdd_test.head(50))
    other = make_pipeline(random_state=1).fit(normal_rows.head(400))
    assert not np.array_equal(first, other.anomaly_score(nsl_kdd_test.head(50)))


def test_row_score_independent_of_batch(fitted, nsl_kdd_test):
    rows = nsl_kdd_test.head(100)
    together = fitted.anomaly_score(rows)
    alone = np.array([fitted.anomaly_score(rows.iloc[[i]])[0] for i in range(0, 100, 9)])
    np.testing.assert_allclose(alone, together[::9], rtol=1e-5)


def test_single_row_detect(fitted, nsl_kdd_test):
    result = fitted.detect(nsl_kdd_test.head(1))
    assert len(result) == 1
    assert {"anomaly_score", "p_value", "is_anomaly", "reason_1", "reason_1_share"} <= set(
        result.columns
    )
    assert 0 < result["p_value"].iloc[0] <= 1


def test_reason_shares_sum_to_at_most_one(fitted, nsl_kdd_test):
    result = fitted.detect(nsl_kdd_test.head(50), top_k=3)
    shares = result[["reason_1_share", "reason_2_share", "reason_3_share"]].sum(axis=1)
    assert (shares <= 1 + 1e-9).all()
    assert (result["reason_1_share"] >= result["reason_2_share"]).all()


def test_missing_training_column_named(fitted, nsl_kdd_test):
    with pytest.raises(DataError, match="missing column\\(s\\) \\['src_bytes'\\]"):
        fitted.anomaly_score(nsl_kdd_test.drop(columns=["src_bytes"]).head(5))


def test_extra_column_ignored(fitted, nsl_kdd_test):
    rows = nsl_kdd_test.head(20)
    extra = rows.assign(comment="new column")
    np.testing.assert_array_equal(fitted.anomaly_score(extra), fitted.anomaly_score(rows))


def test_unseen_category_scored_and_reported(fitted, nsl_kdd_test):
    rows = nsl_kdd_test.head(5).copy()
    rows["service"] = "service_never_seen"
    result = fitted.detect(rows)
    assert np.isfinite(result["anomaly_score"]).all()
    assert result.attrs["transform_report"]["unseen_categories"] == {"service": 5}


def test_text_in_numeric_column_at_score_time(fitted, nsl_kdd_test):
    rows = nsl_kdd_test.head(5).copy()
    rows["src_bytes"] = rows["src_bytes"].astype(object)
    rows.loc[rows.index[2], "src_bytes"] = "lots"
    with pytest.raises(DataError, match="'src_bytes' must be numeric but contains text"):
        fitted.anomaly_score(rows)


def test_infinity_at_score_time(fitted, nsl_kdd_test):
    rows = nsl_kdd_test.head(5).copy()
    rows["src_bytes"] = rows["src_bytes"].astype(float)
    rows.loc[rows.index[0], "src_bytes"] = -np.inf
    with pytest.raises(DataError, match="'src_bytes' contains 1 infinite value"):
        fitted.anomaly_score(rows)


def test_too_few_rows_names_minimum(normal_rows):
    with pytest.raises(DataError, match=f"at least {MIN_TRAINING_ROWS} rows, got 5"):
        make_pipeline().fit(normal_rows.head(5))


def test_fit_with_last_batch_of_one_row(normal_rows):
    detector = AutoencoderDetector(epochs=2, batch_size=16, random_state=0)
    matrix = np.random.default_rng(0).normal(size=(17, 5)).astype(np.float32)
    detector.fit(matrix)  # 17 rows, no validation split: batches of 16 and 1
    assert np.isfinite(detector.anomaly_score(matrix)).all()
    pipeline = make_pipeline(detector_params={"epochs": 2, "batch_size": 16})
    with pytest.warns(UserWarning):
        # 21 rows: 4 calibration rows and 17 training rows, too few for a validation split.
        pipeline.fit(normal_rows.head(21))
    assert np.isfinite(pipeline.anomaly_score(normal_rows.head(3))).all()


def test_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        AnomalyPipeline().anomaly_score(pd.DataFrame({"a": [1]}))


def test_entirely_missing_column_is_dropped(normal_rows, nsl_kdd_test):
    train = normal_rows.head(300).assign(notes=np.nan)
    with pytest.warns(UserWarning, match="notes \\(entirely missing\\)"):
        pipeline = make_pipeline().fit(train)
    assert "notes" not in pipeline.schema_.feature_names
    assert np.isfinite(pipeline.anomaly_score(nsl_kdd_test.head(5))).all()


def test_every_column_constant_rejected():
    frame = pd.DataFrame({"a": [1.0] * 40, "b": ["x"] * 40})
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable feature columns"):
        AnomalyPipeline().fit(frame)


def test_target_fpr_holds_on_clean_data(datasets_dir):
    """With no labels in training, the flagged share of held-out normal rows stays near target."""
    from conftest import read_nsl_kdd

    frame = read_nsl_kdd(datasets_dir, "KDDTrain+_20Percent.txt")
    normal = frame[frame["label"] == "normal"].sample(n=4000, random_state=0)
    train, holdout = normal.iloc[:2500], normal.iloc[2500:]
    target = 0.05
    with pytest.warns(UserWarning):
        pipeline = make_pipeline(target_fpr=target).fit(train)
    observed = pipeline.detect(holdout, top_k=0)["is_anomaly"].mean()
    n_calibration = pipeline.training_info_["n_calibration_rows"]
    spread = 3 * np.sqrt(target * (1 - target) * (1 / len(holdout) + 1 / n_calibration))
    assert observed <= target + spread
    assert observed >= target - spread


def test_default_bottleneck_narrower_than_input():
    from unseen.detectors.autoencoder import default_hidden_dims

    for n_features in (1, 2, 3, 6, 9, 20, 40, 500):
        hidden, bottleneck = default_hidden_dims(n_features)
        assert bottleneck < max(n_features, 3)
        assert 2 <= bottleneck <= 16
        assert hidden >= 2 * bottleneck
        assert hidden <= 64
    detector = AutoencoderDetector(epochs=1, random_state=0)
    detector.fit(np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32))
    assert detector.hidden_dims_ == [12, 3]
    assert detector.hidden_dims is None


def test_changed_constant_column_reported(normal_rows, nsl_kdd_test):
    train = normal_rows.head(300).assign(sensor=0.0)
    with pytest.warns(UserWarning, match="sensor \\(constant\\)"):
        pipeline = make_pipeline().fit(train)
    rows = nsl_kdd_test.head(4).assign(sensor=[0.0, 1e6, 0.0, 5.0])
    with pytest.warns(UserWarning, match="\\['sensor'\\] were constant in training"):
        result = pipeline.detect(rows, top_k=0)
    assert result.attrs["transform_report"]["changed_constants"] == {"sensor": 2}


def test_nested_column_rejected():
    frame = pd.DataFrame({"v": np.arange(30.0), "tags": [["a", "b"]] * 30})
    with pytest.raises(DataError, match="'tags' contains nested values such as a list"):
        AnomalyPipeline().fit(frame)


@pytest.mark.parametrize(
    ("param", "value"),
    [("epochs", 0), ("batch_size", -1), ("learning_rate", 0.0), ("weight_decay", -0.1)],
)
@pytest.mark.parametrize("detector", ["autoencoder", "vae", "gan", "deep_svdd"])
def test_torch_detectors_reject_bad_training_params(detector, param, value):
    from unseen.detectors import make_detector

    model = make_detector(detector, **{param: value})
    with pytest.raises(UnseenError, match=param):
        model.fit(np.zeros((30, 3), dtype=np.float32))
