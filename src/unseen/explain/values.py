"""Observed cell values and their display text."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd


def observed_values(schema, frame: pd.DataFrame) -> np.ndarray:
    """Return the raw feature cells of ``frame`` as an object array (rows, columns)."""
    features = schema.check_frame(frame)
    observed = np.empty(features.shape, dtype=object)
    for index, name in enumerate(schema.feature_names):
        observed[:, index] = features[name].astype(object).where(features[name].notna(), None)
    return observed


def format_value(value) -> str:
    """Return a short text for a cell: numbers to 6 significant digits, missing as ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Real):
        return f"{float(value):.6g}"
    return str(value)
