"""Top-k reason columns added to ``AnomalyPipeline.detect`` output."""

from __future__ import annotations

import numpy as np
import pandas as pd

from unseen.errors import UnseenError
from unseen.explain.table import attribute_frame
from unseen.explain.values import format_value

REASONS_FOR = ("all", "flagged")


def add_reasons(
    result: pd.DataFrame,
    pipeline,
    frame: pd.DataFrame,
    matrix: np.ndarray,
    top_k: int,
    explained: np.ndarray,
) -> None:
    """Add ``reason_i``, ``reason_i_share``, ``reason_i_observed`` and ``reason_i_expected``.

    Only rows where the boolean mask ``explained`` is true are explained; the
    others, and ranks whose column contributed nothing, get no reason (None)
    and a NaN share. Observed and expected values are text because one output
    column mixes values of different input columns.
    """
    names = np.asarray(pipeline.schema_.feature_names, dtype=object)
    top_k = min(top_k, len(names))
    n_rows = len(result)
    reasons = [np.full(n_rows, None, dtype=object) for _ in range(top_k)]
    shares = [np.full(n_rows, np.nan) for _ in range(top_k)]
    observed_text = [np.full(n_rows, None, dtype=object) for _ in range(top_k)]
    expected_text = [np.full(n_rows, None, dtype=object) for _ in range(top_k)]
    positions = np.flatnonzero(explained)
    if positions.size:
        attribution, observed = attribute_frame(pipeline, frame.iloc[positions], matrix[positions])
        order = attribution.ranking()[:, :top_k]
        local = np.arange(positions.size)
        for rank in range(top_k):
            column = order[:, rank]
            rank_shares = attribution.shares[local, column]
            # A column that contributed nothing is no reason, so it is left out.
            has_reason = rank_shares > 0
            contributed = positions[has_reason]
            reasons[rank][contributed] = names[column[has_reason]]
            shares[rank][contributed] = rank_shares[has_reason]
            observed_text[rank][contributed] = [
                format_value(v) for v in observed[local, column][has_reason]
            ]
            expected_text[rank][contributed] = [
                format_value(v) for v in attribution.expected[local, column][has_reason]
            ]
    for rank in range(top_k):
        result[f"reason_{rank + 1}"] = reasons[rank]
        result[f"reason_{rank + 1}_share"] = shares[rank]
        result[f"reason_{rank + 1}_observed"] = observed_text[rank]
        result[f"reason_{rank + 1}_expected"] = expected_text[rank]


def rows_to_explain(reasons_for: str, is_anomaly: np.ndarray) -> np.ndarray:
    """Return the mask of rows that get reasons: all rows or only flagged ones."""
    if reasons_for not in REASONS_FOR:
        raise UnseenError(
            f"reasons_for must be one of {', '.join(REASONS_FOR)}, got {reasons_for!r}"
        )
    if reasons_for == "flagged":
        return np.asarray(is_anomaly, dtype=bool)
    return np.ones(len(is_anomaly), dtype=bool)
