"""Robust scaling, one-hot encoding and imputation for tabular records.

Numeric columns are centred on the training median and divided by the
interquartile range, then compressed with ``sign(z) * log1p(|z|)``. The
compression keeps the order of values but stops heavy-tailed counts (bytes,
amounts) from dominating the loss by many orders of magnitude. Categorical
columns become one-hot blocks with one extra slot for categories that were
rare in training or never seen. Missing values are imputed with the training
median (numeric) or mode (boolean); numeric columns that had missing values in
training also get a missing-value indicator feature. Categorical columns treat
missing as a category of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from unseen.data.schema import ColumnKind, Schema, count_changed_constants
from unseen.errors import NotFittedError

MISSING_CATEGORY = "<missing>"
# Categories seen fewer times than this in training share the "other" slot, so a
# one-off training value does not get a feature that the model cannot learn.
MIN_CATEGORY_COUNT = 2
MAX_CATEGORIES = 100


@dataclass
class TransformReport:
    """Counts of what a transform met that training did not: unseen categories, missing cells."""

    n_rows: int = 0
    unseen_categories: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    changed_constants: dict[str, int] = field(default_factory=dict)

    def merge(self, other: TransformReport) -> None:
        self.n_rows += other.n_rows
        for target, source in (
            (self.unseen_categories, other.unseen_categories),
            (self.missing_values, other.missing_values),
            (self.changed_constants, other.changed_constants),
        ):
            for name, count in source.items():
                target[name] = target.get(name, 0) + count

    def to_dict(self) -> dict:
        return {
            "n_rows": self.n_rows,
            "unseen_categories": dict(self.unseen_categories),
            "missing_values": dict(self.missing_values),
            "changed_constants": dict(self.changed_constants),
        }


class TabularPreprocessor:
    """Fit-once encoder from a ``Schema``'s feature columns to a float32 matrix.

    Attributes
    ----------
    feature_names_ : list of str
        Name of every encoded feature, such as ``"amount"``, ``"amount:missing"``
        or ``"protocol=tcp"``.
    feature_columns_ : ndarray of int
        For every encoded feature, the index of the schema feature column it
        came from; explanations sum per-feature values back to columns with it.
    """

    def __init__(self, schema: Schema):
        self.schema = schema

    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        features = self.schema.check_frame(frame)
        self.params_: dict[str, dict] = {}
        for column in self.schema.features:
            values = features[column.name]
            if column.kind == ColumnKind.NUMERIC:
                self.params_[column.name] = _fit_numeric(values)
            elif column.kind == ColumnKind.CATEGORICAL:
                self.params_[column.name] = _fit_categorical(values)
            else:
                self.params_[column.name] = _fit_boolean(values, column.true_value)
        self._build_feature_index()
        return self

    def _build_feature_index(self) -> None:
        names: list[str] = []
        owners: list[int] = []
        for index, column in enumerate(self.schema.features):
            params = self.params_[column.name]
            if column.kind == ColumnKind.CATEGORICAL:
                labels = [f"{column.name}={c}" for c in params["categories"]]
                labels.append(f"{column.name}=<other>")
            else:
                labels = [column.name]
                if params.get("has_missing_indicator"):
                    labels.append(f"{column.name}:missing")
            names.extend(labels)
            owners.extend([index] * len(labels))
        self.feature_names_ = names
        self.feature_columns_ = np.asarray(owners, dtype=np.int64)

    @property
    def n_features_out_(self) -> int:
        return len(self.feature_names_)

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, TransformReport]:
        """Encode ``frame``; return the matrix and what was unseen or missing."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this preprocessor is not fitted yet: call fit first")
        features = self.schema.check_frame(frame)
        report = TransformReport(n_rows=len(frame))
        report.changed_constants = count_changed_constants(self.schema, frame)
        blocks = []
        for column in self.schema.features:
            values = features[column.name]
            params = self.params_[column.name]
            n_missing = int(values.isna().sum())
            if n_missing:
                report.missing_values[column.name] = n_missing
            if column.kind == ColumnKind.NUMERIC:
                blocks.append(_transform_numeric(values, params))
            elif column.kind == ColumnKind.CATEGORICAL:
                block, unseen = _transform_categorical(values, params)
                blocks.append(block)
                if unseen:
                    report.unseen_categories[column.name] = unseen
            else:
                block, unseen = _transform_boolean(values, params)
                blocks.append(block)
                if unseen:
                    report.unseen_categories[column.name] = unseen
        matrix = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
        return matrix, report

    def expected_values(self, reconstruction: np.ndarray) -> list[list]:
        """Decode a reconstructed matrix back to one value per schema column and row.

        Numeric columns invert the scaling; categorical columns take the category
        with the largest reconstructed activation; booleans threshold at 0.5.
        """
        columns: list[list] = []
        for index, column in enumerate(self.schema.features):
            block = reconstruction[:, self.feature_columns_ == index]
            params = self.params_[column.name]
            if column.kind == ColumnKind.NUMERIC:
                scaled = np.sign(block[:, 0]) * np.expm1(np.abs(block[:, 0]))
                columns.append(list(scaled * params["scale"] + params["center"]))
            elif column.kind == ColumnKind.CATEGORICAL:
                labels = params["categories"] + ["<other>"]
                columns.append([labels[i] for i in np.argmax(block, axis=1)])
            else:
                columns.append([bool(v > 0.5) for v in block[:, 0]])
        return columns

    def reference_row(self) -> np.ndarray:
        """Return the encoding of a typical training row: medians, modes, nothing missing."""
        blocks = []
        for column in self.schema.features:
            params = self.params_[column.name]
            if column.kind == ColumnKind.CATEGORICAL:
                block = np.zeros(len(params["categories"]) + 1)
                categories = params["categories"]
                block[categories.index(params["mode"]) if params["mode"] in categories else -1] = 1
            elif column.kind == ColumnKind.NUMERIC:
                block = np.zeros(2 if params["has_missing_indicator"] else 1)
            else:
                block = np.array([params["mode"]])
            blocks.append(block)
        return np.concatenate(blocks).astype(np.float32)

    def to_dict(self) -> dict:
        return {"schema": self.schema.to_dict(), "params": self.params_}

    @classmethod
    def from_dict(cls, data: dict) -> TabularPreprocessor:
        preprocessor = cls(Schema.from_dict(data["schema"]))
        preprocessor.params_ = data["params"]
        preprocessor._build_feature_index()
        return preprocessor


def _fit_numeric(values: pd.Series) -> dict:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = numbers[~np.isnan(numbers)]
    center = float(np.median(present))
    q25, q75 = np.percentile(present, [25, 75])
    scale = float(q75 - q25)
    if scale <= 0:
        # Most values equal (sparse counts): fall back to the mean absolute deviation.
        scale = float(np.mean(np.abs(present - center)))
    if scale <= 0:
        scale = 1.0
    return {
        "center": center,
        "scale": scale,
        "has_missing_indicator": bool(np.isnan(numbers).any()),
    }


def _transform_numeric(values: pd.Series, params: dict) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(numbers)
    scaled = (np.where(missing, params["center"], numbers) - params["center"]) / params["scale"]
    # NOTE: the compression also shrinks extreme new values (40 IQRs out becomes
    # about 3.7), so detectors without their own large-value term, such as the
    # default ensemble, can miss a single column far outside the training range.
    compressed = np.sign(scaled) * np.log1p(np.abs(scaled))
    if params["has_missing_indicator"]:
        return np.stack([compressed, missing.astype(float)], axis=1)
    return compressed[:, None]


def _category_text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), MISSING_CATEGORY).astype(str)


def _fit_categorical(values: pd.Series) -> dict:
    counts = _category_text(values).value_counts()
    kept = counts[counts >= MIN_CATEGORY_COUNT].index[:MAX_CATEGORIES]
    return {"categories": sorted(str(c) for c in kept), "mode": str(counts.index[0])}


def _transform_categorical(values: pd.Series, params: dict) -> tuple[np.ndarray, int]:
    categories = params["categories"]
    lookup = {c: i for i, c in enumerate(categories)}
    codes = _category_text(values).map(lookup)
    other = codes.isna().to_numpy()
    block = np.zeros((len(values), len(categories) + 1))
    rows = np.arange(len(values))
    block[rows[~other], codes[~other].astype(int).to_numpy()] = 1.0
    block[other, len(categories)] = 1.0
    return block, int(other.sum())


def _boolean_text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # Format numbers so 1.0 (a column with gaps) matches 1 (one without).
        return values.map(lambda v: f"{v:g}" if pd.notna(v) else "nan").astype(str)
    return values.astype(str).str.strip().str.lower()


def _fit_boolean(values: pd.Series, true_value: str | None) -> dict:
    text = _boolean_text(values.dropna())
    true_text = (true_value or "1").lower()
    known = sorted(set(text))
    is_true = text == true_text
    return {"true": true_text, "known": known, "mode": float(is_true.mean() >= 0.5)}


def _transform_boolean(values: pd.Series, params: dict) -> tuple[np.ndarray, int]:
    text = _boolean_text(values)
    known = text.isin(params["known"]).to_numpy()
    result = np.where(known, (text == params["true"]).to_numpy(dtype=float), params["mode"])
    unseen = int((~known & values.notna().to_numpy()).sum())
    return result[:, None], unseen
