"""Infer and check the column schema of a table of records.

Each column gets one role: a feature (numeric, categorical or boolean), an id
kept in the output, the label used only for evaluation, or ignored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from unseen.errors import DataError

# Integer columns with at most this many distinct values are read as codes
# (categories) rather than quantities, when the table has enough rows for each
# level to be seen several times. Two-valued columns are boolean instead.
MAX_CODE_LEVELS = 6
MIN_ROWS_PER_CODE_LEVEL = 30
BOOLEAN_TEXT = {"true": True, "false": False, "yes": True, "no": False, "t": True, "f": False}


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


@dataclass
class Column:
    """One feature column: its name, kind and, for booleans, the value read as true."""

    name: str
    kind: ColumnKind
    true_value: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": str(self.kind), "true_value": self.true_value}

    @classmethod
    def from_dict(cls, data: dict) -> Column:
        return cls(data["name"], ColumnKind(data["kind"]), data.get("true_value"))


@dataclass
class Schema:
    """Feature columns in training order, plus the id, label and ignored columns."""

    features: list[Column]
    id_columns: list[str] = field(default_factory=list)
    label_column: str | None = None
    ignore_columns: list[str] = field(default_factory=list)
    dropped_columns: dict[str, str] = field(default_factory=dict)
    constant_values: dict[str, float | str] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    def to_dict(self) -> dict:
        return {
            "features": [c.to_dict() for c in self.features],
            "id_columns": list(self.id_columns),
            "label_column": self.label_column,
            "ignore_columns": list(self.ignore_columns),
            "dropped_columns": dict(self.dropped_columns),
            "constant_values": dict(self.constant_values),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls(
            features=[Column.from_dict(c) for c in data["features"]],
            id_columns=list(data.get("id_columns", [])),
            label_column=data.get("label_column"),
            ignore_columns=list(data.get("ignore_columns", [])),
            dropped_columns=dict(data.get("dropped_columns", {})),
            constant_values=dict(data.get("constant_values", {})),
        )

    def check_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the feature columns of ``frame`` in training order.

        Raises ``DataError`` naming every missing feature column. Columns the
        model was not trained on are ignored, and so are the label and id columns.
        """
        missing = [name for name in self.feature_names if name not in frame.columns]
        if missing:
            raise DataError(
                f"missing column(s) {missing} that the model was trained on: "
                "add them (empty cells are allowed) or refit on the new columns"
            )
        features = frame[self.feature_names]
        for column in self.features:
            if column.kind == ColumnKind.NUMERIC:
                check_numeric(features[column.name], column.name)
        return features


def infer_schema(
    frame: pd.DataFrame,
    *,
    id_columns: list[str] | None = None,
    label_column: str | None = None,
    ignore_columns: list[str] | None = None,
    categorical_columns: list[str] | None = None,
    numeric_columns: list[str] | None = None,
) -> Schema:
    """Infer feature kinds from a training table.

    Object, string and category columns are categorical; ``bool`` columns and
    columns with exactly two values such as 0/1 or yes/no are boolean; integer
    columns with 3 to ``MAX_CODE_LEVELS`` values are categorical codes when the
    table has ``MIN_ROWS_PER_CODE_LEVEL`` rows per level; all other numbers are
    numeric. ``categorical_columns`` and ``numeric_columns`` override the guess.
    Columns that are entirely missing or constant are dropped with a warning.
    """
    id_columns = list(id_columns or [])
    ignore_columns = list(ignore_columns or [])
    forced_categorical = set(categorical_columns or [])
    forced_numeric = set(numeric_columns or [])
    named = id_columns + ignore_columns + ([label_column] if label_column else [])
    named += sorted(forced_categorical | forced_numeric)
    unknown = [name for name in named if name not in frame.columns]
    if unknown:
        raise DataError(
            f"column(s) {unknown} not found in the table; available columns: "
            f"{_short_list(list(frame.columns))}"
        )
    roles = id_columns + ignore_columns + ([label_column] if label_column else [])
    repeated = sorted({name for name in roles if roles.count(name) > 1})
    if repeated:
        raise DataError(
            f"column(s) {repeated} named more than once among id, ignored and label "
            "columns: give each column one role"
        )
    both = forced_categorical & forced_numeric
    if both:
        raise DataError(f"column(s) {sorted(both)} named both categorical and numeric: pick one")

    reserved = set(id_columns) | set(ignore_columns) | {label_column}
    features: list[Column] = []
    dropped: dict[str, str] = {}
    constants: dict[str, float | str] = {}
    for name in frame.columns:
        if name in reserved:
            continue
        values = frame[name]
        _check_scalar(values, name)
        if values.isna().all():
            dropped[name] = "entirely missing"
            continue
        if values.nunique(dropna=False) <= 1:
            dropped[name] = "constant"
            constants[name] = _constant_value(values)
            continue
        if name in forced_categorical:
            features.append(Column(name, ColumnKind.CATEGORICAL))
        elif name in forced_numeric:
            check_numeric(values, name)
            features.append(Column(name, ColumnKind.NUMERIC))
        else:
            features.append(_infer_column(values, name))

    if dropped:
        warnings.warn(
            "dropped column(s) with nothing to learn: "
            + ", ".join(f"{name} ({why})" for name, why in dropped.items()),
            UserWarning,
            stacklevel=2,
        )
    if not features:
        raise DataError(
            "no usable feature columns: every column is an id, the label, ignored, "
            "constant or entirely missing; pass a table with at least one varying column"
        )
    return Schema(features, id_columns, label_column, ignore_columns, dropped, constants)


def _constant_value(values: pd.Series) -> float | str:
    value = values.iloc[0]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return float(value)
    return str(value)


def count_changed_constants(schema: Schema, frame: pd.DataFrame) -> dict[str, int]:
    """Count, per column that was constant in training, the rows where it now differs.

    Those columns are not features, so the detector cannot see such changes;
    reporting them keeps a new value in a formerly constant column visible.
    """
    changed = {}
    for name, constant in schema.constant_values.items():
        if name not in frame.columns:
            continue
        values = frame[name]
        if isinstance(constant, float):
            numbers = pd.to_numeric(values, errors="coerce")
            differs = values.notna() & ~np.isclose(numbers, constant, equal_nan=False)
        else:
            differs = values.notna() & (values.astype(str) != constant)
        if differs.any():
            changed[name] = int(differs.sum())
    return changed


def _check_scalar(values: pd.Series, name: str) -> None:
    """Raise ``DataError`` if a column contains lists, arrays or mappings (nested Parquet)."""
    if values.dtype != object:
        return
    nested = values.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
    if nested.any():
        row = nested.idxmax()
        raise DataError(
            f"column {name!r} contains nested values such as a {type(values[row]).__name__} "
            f"(row {row}): flatten it into scalar columns, or leave it out with ignore_columns "
            "(--ignore)"
        )


def _infer_column(values: pd.Series, name: str) -> Column:
    non_missing = values.dropna()
    distinct = non_missing.unique()
    if pd.api.types.is_bool_dtype(values):
        return Column(name, ColumnKind.BOOLEAN, "True")
    if pd.api.types.is_numeric_dtype(values):
        check_numeric(values, name)
        if len(distinct) == 2 and set(np.asarray(distinct, dtype=float)) == {0.0, 1.0}:
            return Column(name, ColumnKind.BOOLEAN, "1")
        is_integer = np.all(np.mod(np.asarray(distinct, dtype=float), 1) == 0)
        enough_rows = len(non_missing) >= MIN_ROWS_PER_CODE_LEVEL * len(distinct)
        if is_integer and 3 <= len(distinct) <= MAX_CODE_LEVELS and enough_rows:
            return Column(name, ColumnKind.CATEGORICAL)
        return Column(name, ColumnKind.NUMERIC)
    text = non_missing.astype(str).str.strip()
    lowered = set(text.str.lower())
    if len(lowered) == 2 and lowered <= set(BOOLEAN_TEXT):
        true_text = next(t for t in text.unique() if BOOLEAN_TEXT[t.lower()])
        return Column(name, ColumnKind.BOOLEAN, true_text)
    numeric = pd.to_numeric(text, errors="coerce")
    parsed_share = numeric.notna().mean()
    if parsed_share >= 0.9:
        bad = text[numeric.isna()]
        raise DataError(
            f"column {name!r} is numeric but contains text such as {bad.iloc[0]!r} "
            f"(row {bad.index[0]}): fix or blank those cells, or pass it in "
            "categorical_columns to treat every value as a category"
        )
    return Column(name, ColumnKind.CATEGORICAL)


def check_numeric(values: pd.Series, name: str) -> None:
    """Raise ``DataError`` if a numeric column contains text or infinities."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values[numeric.isna() & values.notna()]
        if len(bad):
            raise DataError(
                f"column {name!r} must be numeric but contains text such as "
                f"{str(bad.iloc[0])!r} (row {bad.index[0]}): fix or blank those cells"
            )
        values = numeric
    infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        first = values.index[np.argmax(infinite)]
        raise DataError(
            f"column {name!r} contains {int(infinite.sum())} infinite value(s), the first "
            f"at row {first}: replace them with finite numbers or empty cells"
        )


def _short_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
