"""Preprocessing: fitted on training rows only, robust to unseen and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unseen.data import infer_schema
from unseen.errors import DataError
from unseen.preprocessing import TabularPreprocessor


@pytest.fixture()
def fitted(nsl_kdd_train):
    frame = nsl_kdd_train.drop(columns=["label", "difficulty"])
    with pytest.warns(UserWarning):
        schema = infer_schema(frame)
    return TabularPreprocessor(schema).fit(frame), frame


def test_feature_index_covers_every_feature(fitted):
    preprocessor, frame = fitted
    matrix, _ = preprocessor.transform(frame.head(10))
    assert matrix.shape == (10, preprocessor.n_features_out_)
    assert len(preprocessor.feature_columns_) == preprocessor.n_features_out_
    assert matrix.dtype == np.float32
    assert np.isfinite(matrix).all()


def test_unseen_category_counted_not_crashing(fitted):
    preprocessor, frame = fitted
    rows = frame.head(3).copy()
    rows["service"] = ["never_seen_service", "http", "another_new_one"]
    matrix, report = preprocessor.transform(rows)
    other = preprocessor.feature_names_.index("service=<other>")
    assert matrix[:, other].tolist() == [1.0, 0.0, 1.0]
    assert report.unseen_categories == {"service": 2}


def test_missing_values_imputed_and_reported(fitted):
    preprocessor, frame = fitted
    rows = frame.head(4).copy()
    rows.loc[rows.index[0], "src_bytes"] = np.nan
    rows.loc[rows.index[1], "protocol_type"] = None
    matrix, report = preprocessor.transform(rows)
    assert np.isfinite(matrix).all()
    assert report.missing_values == {"src_bytes": 1, "protocol_type": 1}


def test_missing_indicator_when_training_had_gaps():
    frame = pd.DataFrame({"v": [1.0, np.nan, 3.0, 4.0] * 10, "w": np.arange(40.0)})
    preprocessor = TabularPreprocessor(infer_schema(frame)).fit(frame)
    assert "v:missing" in preprocessor.feature_names_
    matrix, _ = preprocessor.transform(frame.head(2))
    indicator = preprocessor.feature_names_.index("v:missing")
    assert matrix[:, indicator].tolist() == [0.0, 1.0]


def test_scaling_uses_training_statistics_only():
    train = pd.DataFrame({"v": np.arange(100.0)})
    preprocessor = TabularPreprocessor(infer_schema(train)).fit(train)
    median_row, _ = preprocessor.transform(pd.DataFrame({"v": [49.5]}))
    assert median_row[0, 0] == pytest.approx(0.0)
    far, _ = preprocessor.transform(pd.DataFrame({"v": [1e9]}))
    assert far[0, 0] > 10


def test_expected_values_invert_scaling(fitted):
    preprocessor, frame = fitted
    matrix, _ = preprocessor.transform(frame.head(5))
    decoded = preprocessor.expected_values(matrix)
    names = preprocessor.schema.feature_names
    src_bytes = decoded[names.index("src_bytes")]
    np.testing.assert_allclose(src_bytes, frame["src_bytes"].head(5), rtol=1e-4, atol=1e-3)
    assert decoded[names.index("protocol_type")] == frame["protocol_type"].head(5).tolist()


def test_missing_training_column_named(fitted):
    preprocessor, frame = fitted
    with pytest.raises(DataError, match="missing column\\(s\\) \\['service'\\]"):
        preprocessor.transform(frame.drop(columns=["service"]).head(2))


def test_state_round_trip(fitted):
    preprocessor, frame = fitted
    restored = TabularPreprocessor.from_dict(preprocessor.to_dict())
    np.testing.assert_array_equal(
        restored.transform(frame.head(50))[0], preprocessor.transform(frame.head(50))[0]
    )
