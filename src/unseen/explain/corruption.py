"""Planted single-column anomalies: a check that explanations find the column at fault.

``corrupt_one_column`` takes normal records and shifts one column per record
far outside what training saw. Because the damaged column is known, the share
of records whose first reason is that column measures how faithful the
explanations are (``top_column_hit_rate``). The shifts:

* numeric: the training maximum plus the width of the central 98% of training
  values (1st to 99th percentile), so the value lies outside the training
  range by a normal spread. Only values at or below the training median are
  shifted, so every shift crosses at least half the training range. A
  record already at the maximum would barely change, because tree ensembles
  score every value beyond the maximum like the maximum itself;
* categorical: the least frequent category that training kept (seen at least
  twice) other than the record's own, so the value is valid but implausible;
  only categories of at most 5% of training rows qualify;
* boolean: the minority value, only where it occurs in at most 5% of training
  rows and the record holds the majority value (otherwise a flip is normal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unseen.data.schema import ColumnKind, Schema
from unseen.errors import DataError

# A category or boolean value is only abnormal when it is rare in training.
MAX_MINORITY_RATE = 0.05


def corrupt_one_column(
    frame: pd.DataFrame,
    schema: Schema,
    training_frame: pd.DataFrame,
    random_state: int | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Return the rows of ``frame`` with one column shifted each, and those columns' names.

    The column is drawn uniformly per row among the columns that can be
    shifted there; rows where no column can be shifted are left out.
    ``training_frame`` gives the normal ranges and categories.
    """
    rng = np.random.default_rng(random_state)
    corrupted = frame.copy()
    shifts = {
        column.name: _shift(column, training_frame[column.name]) for column in schema.features
    }
    targets = np.full(len(frame), None, dtype=object)
    for position in range(len(frame)):
        candidates = [
            name for name, shift in shifts.items() if shift.applies(frame[name].iloc[position])
        ]
        if not candidates:
            continue
        name = candidates[rng.integers(len(candidates))]
        value = shifts[name].value(frame[name].iloc[position])
        if isinstance(value, float) and not pd.api.types.is_float_dtype(corrupted[name]):
            corrupted[name] = corrupted[name].astype(float)
        corrupted.iloc[position, corrupted.columns.get_loc(name)] = value
        targets[position] = name
    shifted = np.array([target is not None for target in targets], dtype=bool)
    if not shifted.any():
        raise DataError("no row has a column that can be shifted: pass more varied rows")
    return corrupted[shifted], pd.Series(
        targets[shifted], index=frame.index[shifted], name="corrupted_column"
    )


def top_column_hit_rate(explanation: pd.DataFrame, targets: pd.Series, within: int = 1) -> float:
    """Return the share of records whose corrupted column is among their first ``within`` reasons.

    ``explanation`` is the tidy table of ``AnomalyPipeline.explain`` for the
    corrupted rows, in the order of ``targets``.
    """
    top = explanation[explanation["rank"] <= within]
    expected = np.asarray(targets, dtype=object)[top["row"].to_numpy()]
    hits = pd.Series(top["column"].to_numpy() == expected).groupby(top["row"].to_numpy()).any()
    return float(hits.reindex(range(len(targets)), fill_value=False).mean())


class _Shift:
    def __init__(self, applies, value):
        self.applies = applies
        self.value = value


def _shift(column, training: pd.Series) -> _Shift:
    if column.kind == ColumnKind.NUMERIC:
        numbers = pd.to_numeric(training, errors="coerce").dropna().to_numpy(dtype=float)
        low, high = np.percentile(numbers, [1, 99])
        spread = high - low or numbers.max() - numbers.min() or 1.0
        shifted = float(numbers.max() + spread)
        median = float(np.median(numbers))
        return _Shift(
            lambda value: pd.notna(value) and float(value) <= median,
            lambda value: shifted,
        )
    counts = training.dropna().astype(str).value_counts()
    originals = {str(v): v for v in training.dropna().unique()}
    if column.kind == ColumnKind.CATEGORICAL:
        known_categories = counts[counts >= 2].sort_index(kind="stable").sort_values(kind="stable")
        rare = known_categories[known_categories / counts.sum() <= MAX_MINORITY_RATE].index
        return _Shift(
            lambda value: any(c != str(value) for c in rare),
            lambda value: originals[next(c for c in rare if c != str(value))],
        )
    majority, minority = counts.index[0], counts.index[-1]
    rare = len(counts) == 2 and counts.iloc[-1] / counts.sum() <= MAX_MINORITY_RATE
    return _Shift(
        lambda value: rare and str(value) == majority,
        lambda value: originals[minority],
    )
