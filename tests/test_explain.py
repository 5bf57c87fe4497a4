"""Per-record explanations: additivity, folding, batch independence, model files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unseen.detectors import BaseDetector
from unseen.errors import UnseenError
from unseen.explain import ColumnExplainer, global_importance
from unseen.explain.values import format_value
from unseen.pipeline import AnomalyPipeline

FAST = {"epochs": 8, "batch_size": 64}


def with_ids_and_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Add an id column and blank some src_bytes cells, so a missing indicator exists."""
    frame = frame.drop(columns=["label", "difficulty"]).reset_index(drop=True)
    frame.insert(0, "conn_id", [f"c{i}" for i in range(len(frame))])
    frame.loc[frame.index[::25], "src_bytes"] = np.nan
    return frame


@pytest.fixture(scope="module")
def training(nsl_kdd_train) -> pd.DataFrame:
    return with_ids_and_gaps(nsl_kdd_train[nsl_kdd_train["label"] == "normal"])


@pytest.fixture(scope="module")
def new_rows(nsl_kdd_test) -> pd.DataFrame:
    return with_ids_and_gaps(nsl_kdd_test.head(60))


def fit_pipeline(training: pd.DataFrame, detector: str, params: dict) -> AnomalyPipeline:
    pipeline = AnomalyPipeline(
        detector, detector_params=params, id_columns=["conn_id"], random_state=0
    )
    with pytest.warns(UserWarning, match="dropped column"):
        return pipeline.fit(training)


@pytest.fixture(scope="module")
def autoencoder(training) -> AnomalyPipeline:
    return fit_pipeline(training, "autoencoder", FAST)


@pytest.fixture(scope="module")
def knn(training) -> AnomalyPipeline:
    return fit_pipeline(training, "knn", {})


def test_explain_names_input_columns_only(autoencoder, new_rows):
    explanation = autoencoder.explain(new_rows.head(5))
    features = autoencoder.schema_.feature_names
    assert sorted(explanation["column"].unique()) == sorted(features)
    assert explanation.groupby("row").size().tolist() == [len(features)] * 5
    assert not explanation["column"].str.contains("=|:missing").any()


def test_reconstruction_sums_to_score(autoencoder, new_rows):
    explanation = autoencoder.explain(new_rows)
    totals = explanation.groupby("row")["contribution"].sum().to_numpy()
    np.testing.assert_allclose(totals, autoencoder.anomaly_score(new_rows), rtol=1e-9)
    assert explanation.attrs["method"] == "reconstruction"


def test_folding_sums_one_hot_and_indicator(autoencoder, new_rows):
    preprocessor = autoencoder.preprocessor_
    assert "src_bytes:missing" in preprocessor.feature_names_
    matrix, _ = preprocessor.transform(new_rows)
    errors = autoencoder.detector_.feature_errors(matrix)
    explanation = autoencoder.explain(new_rows).set_index(["row", "column"])
    for name in ("service", "src_bytes", "protocol_type"):
        owner = autoencoder.schema_.feature_names.index(name)
        expected = errors[:, preprocessor.feature_columns_ == owner].sum(axis=1)
        got = explanation.xs(name, level="column")["contribution"].sort_index().to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert (
        preprocessor.feature_columns_ == autoencoder.schema_.feature_names.index("service")
    ).sum() > 2


def test_top_k_ranked_with_ids(autoencoder, new_rows):
    explanation = autoencoder.explain(new_rows, top_k=3)
    assert list(explanation.columns) == [
        "row",
        "conn_id",
        "rank",
        "column",
        "contribution",
        "share",
        "observed",
        "expected",
    ]
    assert explanation.groupby("row")["rank"].apply(list).tolist() == [[1, 2, 3]] * len(new_rows)
    for _, group in explanation.groupby("row"):
        assert (np.diff(group["contribution"].to_numpy()) <= 0).all()
    assert explanation["share"].between(0, 1).all()
    assert explanation["conn_id"].iloc[0] == new_rows["conn_id"].iloc[0]


def test_observed_and_expected_values(autoencoder, new_rows):
    explanation = autoencoder.explain(new_rows.head(3)).set_index(["row", "column"])
    assert explanation.loc[(1, "service"), "observed"] == new_rows["service"].iloc[1]
    known = set(autoencoder.preprocessor_.params_["service"]["categories"]) | {"<other>"}
    assert set(explanation.xs("service", level="column")["expected"]) <= known
    assert isinstance(explanation.loc[(0, "src_bytes"), "expected"], float)


@pytest.mark.parametrize("name", ["autoencoder", "knn"])
def test_alone_equals_batch(name, autoencoder, knn, new_rows):
    pipeline = {"autoencoder": autoencoder, "knn": knn}[name]
    rows = new_rows.head(12)
    together = pipeline.explain(rows).sort_values(["row", "column"]).reset_index(drop=True)
    for position in (0, 5, 11):
        alone = pipeline.explain(rows.iloc[[position]]).sort_values("column")
        batch = together[together["row"] == position]
        assert alone["column"].tolist() == batch["column"].tolist()
        np.testing.assert_allclose(
            alone["contribution"].to_numpy(), batch["contribution"].to_numpy(), rtol=1e-5, atol=1e-9
        )
        for single, batched in zip(alone["expected"], batch["expected"], strict=True):
            if isinstance(single, float):
                assert single == pytest.approx(batched, rel=1e-4, abs=1e-5)
            else:
                assert single == batched


def test_unseen_category_row_explained(autoencoder, new_rows):
    row = new_rows.head(1).copy()
    row["service"] = "service_never_seen"
    explanation = autoencoder.explain(row).set_index("column")
    assert np.isfinite(explanation["contribution"]).all()
    assert explanation.loc["service", "observed"] == "service_never_seen"
    assert explanation["contribution"].sum() == pytest.approx(autoencoder.anomaly_score(row)[0])


def test_save_load_same_explanations(autoencoder, knn, new_rows, tmp_path):
    for pipeline in (autoencoder, knn):
        path = tmp_path / f"{pipeline.detector_.name}.unseen"
        pipeline.save(path)
        loaded = AnomalyPipeline.load(path)
        np.testing.assert_array_equal(
            loaded.explainer_.background_, pipeline.explainer_.background_
        )
        pd.testing.assert_frame_equal(loaded.explain(new_rows), pipeline.explain(new_rows))


def test_occlusion_sums_to_score(knn, new_rows):
    explanation = knn.explain(new_rows)
    assert explanation.attrs["method"] == "occlusion"
    totals = explanation.groupby("row")["contribution"].sum().to_numpy()
    scores = knn.anomaly_score(new_rows)
    explained = totals > 0
    assert explained.mean() > 0.8
    np.testing.assert_allclose(totals[explained], scores[explained], rtol=1e-9)
    assert (explanation["contribution"] >= 0).all()


def test_occlusion_expected_from_training_rows(knn, training, new_rows):
    explanation = knn.explain(new_rows, top_k=None)
    services = explanation[explanation["column"] == "service"]["expected"]
    assert set(services) <= set(training["service"])
    flags = explanation[explanation["column"] == "flag"]["expected"]
    assert set(flags) <= set(training["flag"])


def test_background_from_typical_training_rows(knn):
    background = knn.explainer_.background_
    assert background.shape == (256, knn.preprocessor_.n_features_out_)
    assert len(np.unique(background, axis=0)) > 100


def test_detect_reasons_only_for_flagged(autoencoder, nsl_kdd_test):
    rows = with_ids_and_gaps(nsl_kdd_test.head(200))
    result = autoencoder.detect(rows, top_k=2, reasons_for="flagged")
    flagged = result["is_anomaly"].to_numpy()
    assert 0 < flagged.sum() < len(rows)
    assert result.loc[~flagged, "reason_1"].isna().all()
    assert result.loc[~flagged, "reason_1_share"].isna().all()
    assert result.loc[flagged, "reason_1"].notna().all()
    top = autoencoder.explain(rows[flagged], top_k=1)
    assert result.loc[flagged, "reason_1"].tolist() == top["column"].tolist()
    assert result.loc[flagged, "reason_1_observed"].map(type).eq(str).all()


def test_detect_values_for_every_reason(autoencoder, nsl_kdd_test):
    rows = with_ids_and_gaps(nsl_kdd_test.head(50))
    result = autoencoder.detect(rows, top_k=2)
    top = autoencoder.explain(rows, top_k=2)
    second = top.groupby("row").nth(1).set_index("row")
    has_second = result["reason_2"].notna().to_numpy()
    assert has_second.any()
    observed = result.loc[has_second, "reason_2_observed"]
    assert observed.map(type).eq(str).all()
    assert result.loc[~has_second, "reason_2_expected"].isna().all()
    expected_text = second.loc[np.flatnonzero(has_second), "expected"].map(format_value)
    assert result.loc[has_second, "reason_2_expected"].tolist() == expected_text.tolist()


def test_detect_reasons_for_all_rows(autoencoder, new_rows):
    result = autoencoder.detect(new_rows, top_k=3)
    assert result["reason_3"].notna().all()
    assert (result["reason_1_share"] >= result["reason_2_share"]).all()


def test_detect_rejects_unknown_reasons_for(autoencoder, new_rows):
    with pytest.raises(UnseenError, match="reasons_for must be one of all, flagged, got 'some'"):
        autoencoder.detect(new_rows, reasons_for="some")


def test_global_importance(autoencoder, nsl_kdd_test):
    rows = with_ids_and_gaps(nsl_kdd_test.head(300))
    importance = global_importance(autoencoder, rows)
    assert sorted(importance.index) == sorted(autoencoder.schema_.feature_names)
    assert importance.attrs["n_rows"] == 300
    n_flagged = importance.attrs["n_flagged"]
    assert n_flagged == int(autoencoder.predict(rows).__eq__(-1).sum()) > 0
    assert importance["top_reason_flagged"].sum() == n_flagged
    assert importance["mean_share_flagged"].is_monotonic_decreasing
    assert importance["mean_share_all"].sum() == pytest.approx(1.0)
    sample = global_importance(autoencoder, rows, max_rows=50)
    assert sample.attrs["n_rows"] == 50


def test_global_importance_rejects_bad_max_rows(autoencoder, new_rows):
    with pytest.raises(UnseenError, match="max_rows must be a positive integer"):
        global_importance(autoencoder, new_rows, max_rows=0)


def test_old_model_file_explains_with_reference_row(autoencoder, new_rows, tmp_path):
    from safetensors.numpy import save as save_safetensors

    from unseen.io import model_file

    config, arrays = model_file.pipeline_to_state(autoencoder)
    del config["explainer"]
    arrays = {k: v for k, v in arrays.items() if not k.startswith(model_file.EXPLAINER_PREFIX)}
    config_json = model_file.json.dumps(config, sort_keys=True)
    metadata = {
        "format": model_file.FORMAT_NAME,
        "format_version": str(model_file.FORMAT_VERSION),
        "unseen_version": "0.1.0",
        "config": config_json,
        "sha256": model_file._digest(config_json, arrays),
    }
    path = tmp_path / "old.unseen"
    path.write_bytes(save_safetensors(arrays, metadata=metadata))
    loaded = AnomalyPipeline.load(path)
    assert loaded.explainer_.background_.shape == (1, autoencoder.preprocessor_.n_features_out_)
    pd.testing.assert_frame_equal(loaded.explain(new_rows), autoencoder.explain(new_rows))


def test_unfitted_explainer_raises(autoencoder, new_rows):
    matrix, _ = autoencoder.preprocessor_.transform(new_rows)
    with pytest.raises(UnseenError, match="not fitted"):
        ColumnExplainer().attribute(autoencoder.detector_, autoencoder.preprocessor_, matrix)


class SquaredDeviation(BaseDetector):
    """Squared deviation from the training median per feature, plus ``offset`` in the score."""

    name = "squared_deviation_for_tests"

    def __init__(self, offset=0.0):
        self.offset = offset

    def _fit(self, X):
        self.median_ = np.median(X, axis=0)

    def feature_errors(self, X):
        X = self._check_matrix(X).astype(np.float64)
        return (X - self.median_) ** 2

    def _anomaly_score(self, X):
        return self.feature_errors(X).sum(axis=1) + self.offset


@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_feature_errors_without_reconstruction(offset, training, new_rows):
    pipeline = AnomalyPipeline(SquaredDeviation(offset), id_columns=["conn_id"], random_state=0)
    with pytest.warns(UserWarning, match="dropped column"):
        pipeline.fit(training)
    explanation = pipeline.explain(new_rows.head(20))
    assert explanation.attrs["method"] == "feature_errors"
    totals = explanation.groupby("row")["contribution"].sum().to_numpy()
    np.testing.assert_allclose(totals, pipeline.anomaly_score(new_rows.head(20)), rtol=1e-9)
    services = explanation[explanation["column"] == "service"]["expected"]
    assert set(services) == {training["service"].mode()[0]}


def test_rules_name_rule_columns(training, new_rows):
    rules = [
        {"column": "src_bytes", "operator": ">", "value": 1000, "weight": 2},
        {"column": "service", "operator": "in", "value": ["private", "ecr_i"]},
    ]
    pipeline = AnomalyPipeline("rules", detector_params={"rules": rules}, id_columns=["conn_id"])
    with pytest.warns(UserWarning, match="dropped column"):
        pipeline.fit(training)
    explanation = pipeline.explain(new_rows, top_k=2)
    assert explanation.attrs["method"] == "rules"
    first = explanation[explanation["rank"] == 1].set_index("row")
    private = (new_rows["service"].isin(["private", "ecr_i"])).to_numpy()
    large = (new_rows["src_bytes"] > 1000).to_numpy()
    assert large.any()
    assert (private & ~large).any()
    for row in np.flatnonzero(large):
        assert first.loc[row, "column"] == "src_bytes"
        assert first.loc[row, "contribution"] == 2.0
    for row in np.flatnonzero(private & ~large):
        assert first.loc[row, "column"] == "service"


def test_forced_occlusion_for_autoencoder(autoencoder, new_rows, tmp_path):
    rows = new_rows.head(10)
    exact = autoencoder.explain(rows)
    occluded = autoencoder.explain(rows, method="occlusion")
    autoencoder.explainer_.method = "occlusion"
    try:
        autoencoder.save(tmp_path / "occlusion.unseen")
    finally:
        autoencoder.explainer_.method = "auto"
    assert occluded.attrs["method"] == "occlusion"
    assert exact.attrs["method"] == "reconstruction"
    totals = occluded.groupby("row")["contribution"].sum().to_numpy()
    scores = autoencoder.anomaly_score(rows)
    explained = totals > 0
    np.testing.assert_allclose(totals[explained], scores[explained], rtol=1e-6)
    loaded = AnomalyPipeline.load(tmp_path / "occlusion.unseen")
    assert loaded.explainer_.method == "occlusion"


def test_unknown_explainer_method_rejected(autoencoder, new_rows):
    explainer = ColumnExplainer(method="shap")
    explainer.background_ = autoencoder.explainer_.background_
    matrix, _ = autoencoder.preprocessor_.transform(new_rows)
    with pytest.raises(UnseenError, match="method must be one of auto, occlusion, got 'shap'"):
        explainer.attribute(autoencoder.detector_, autoencoder.preprocessor_, matrix)


def test_zero_share_columns_are_not_reasons():
    frame = pd.DataFrame({"a": np.arange(60.0), "b": np.arange(60.0) % 7})
    rules = [{"column": "a", "operator": ">", "value": 100}]
    pipeline = AnomalyPipeline(
        detector="rules", detector_params={"rules": rules}, target_fpr=0.1, random_state=0
    ).fit(frame)
    result = pipeline.detect(pd.DataFrame({"a": [500.0], "b": [1.0]}), top_k=2)
    assert result["reason_1"].iloc[0] == "a"
    assert result["reason_2"].iloc[0] is None
    assert np.isnan(result["reason_2_share"].iloc[0])
