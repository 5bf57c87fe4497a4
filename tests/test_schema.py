"""Schema inference: column kinds, roles, dropped columns and bad values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unseen.data import ColumnKind, infer_schema
from unseen.errors import DataError


def kinds(schema) -> dict[str, ColumnKind]:
    return {c.name: c.kind for c in schema.features}


def test_nsl_kdd_kinds(nsl_kdd_train):
    schema = infer_schema(nsl_kdd_train, label_column="label", ignore_columns=["difficulty"])
    found = kinds(schema)
    assert found["protocol_type"] == ColumnKind.CATEGORICAL
    assert found["service"] == ColumnKind.CATEGORICAL
    assert found["logged_in"] == ColumnKind.BOOLEAN
    assert found["src_bytes"] == ColumnKind.NUMERIC
    assert "label" not in found
    assert "difficulty" not in found


def test_roles_kept_out_of_features():
    frame = pd.DataFrame({"id": range(50), "y": [0, 1] * 25, "skip": 1.0, "v": np.arange(50.0)})
    frame.loc[0, "skip"] = 2.0
    schema = infer_schema(frame, id_columns=["id"], label_column="y", ignore_columns=["skip"])
    assert schema.feature_names == ["v"]


def test_column_with_two_roles_rejected():
    frame = pd.DataFrame({"id": range(30), "v": np.arange(30.0)})
    with pytest.raises(DataError, match=r"\['id'\] named more than once"):
        infer_schema(frame, id_columns=["id"], label_column="id")


def test_constant_and_empty_columns_dropped_with_warning():
    frame = pd.DataFrame({"c": 1.0, "e": np.nan, "v": np.arange(30.0)})
    with pytest.warns(UserWarning, match="c \\(constant\\).*e \\(entirely missing\\)"):
        schema = infer_schema(frame)
    assert schema.feature_names == ["v"]
    assert schema.dropped_columns == {"c": "constant", "e": "entirely missing"}


def test_all_constant_rejected():
    frame = pd.DataFrame({"a": [1] * 30, "b": ["x"] * 30})
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable feature columns"):
        infer_schema(frame)


def test_numeric_column_with_text_rejected():
    values = [str(v) for v in range(40)] + ["n/a?"]
    with pytest.raises(DataError, match="'amount' is numeric but contains text such as 'n/a\\?'"):
        infer_schema(pd.DataFrame({"amount": values}))


def test_infinity_rejected():
    frame = pd.DataFrame({"amount": [1.0, np.inf, 3.0] * 10})
    with pytest.raises(DataError, match="'amount' contains 10 infinite value"):
        infer_schema(frame)


def test_unknown_named_column_rejected():
    with pytest.raises(DataError, match="\\['nope'\\] not found"):
        infer_schema(pd.DataFrame({"a": [1, 2]}), id_columns=["nope"])


def test_low_cardinality_codes_are_categorical():
    frame = pd.DataFrame({"code": [1, 2, 3] * 40, "amount": np.linspace(0, 1, 120)})
    assert kinds(infer_schema(frame))["code"] == ColumnKind.CATEGORICAL
    forced = infer_schema(frame, numeric_columns=["code"])
    assert kinds(forced)["code"] == ColumnKind.NUMERIC


def test_yes_no_text_is_boolean():
    frame = pd.DataFrame({"flag": ["Yes", "No"] * 10, "v": range(20)})
    column = infer_schema(frame).features[0]
    assert column.kind == ColumnKind.BOOLEAN
    assert column.true_value == "Yes"
