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
    """Add ``reason_i``/``reason_i_share`` and reason 1's observed and expected values.

    Only rows where the boolean mask ``explained`` is true are explained; the
    others, and ranks whose column contributed nothing, get no reason (None)
    and a NaN share. Observed and expected values
    are text because one output column mixes values of different input columns.
    """
    names = np.asarray(pipeline.schema_.feature_names, dtype=object)
    top_k = min(top_k, len(names))
    n_rows = len(result)
    reasons = [np.full(n_rows, None, dtype=object) for _ in range(top_k)]
    shares = [np.full(n_rows, np.nan) for _ in range(top_k)]
    observed_text = np.full(n_rows, None, dtype=object)
    expected_text = np.full(n_rows, None, dtype=object)
    positions = np.flatnonzero(explained)
    if positions.size:
        attribution, observed = attribute_frame(pipeline, frame.iloc[positions], matrix[positions])
        order = attribution.ranking()[:, :top_k]
        local = np.arange(positions.size)
        for rank in range(top_k):
            rank_shares = attribution.shares[local, order[:, rank]]
            # A column that contributed nothing is no reason, so it is left out.
            contributed = positions[rank_shares > 0]
            reasons[rank][contributed] = names[order[rank_shares > 0, rank]]
            shares[rank][contributed] = rank_shares[rank_shares > 0]
        first = order[:, 0]
        has_reason = attribution.shares[local, first] > 0
        observed_text[positions[has_reason]] = [
            format_value(v) for v in observed[local, first][has_reason]
        ]
        expected_text[positions[has_reason]] = [
            format_value(v) for v in attribution.expected[local, first][has_reason]
        ]
    for rank in range(top_k):
        result[f"reason_{rank + 1}"] = reasons[rank]
        result[f"reason_{rank + 1}_share"] = shares[rank]
    if top_k:
        result["reason_1_observed"] = observed_text
        result["reason_1_expected"] = expected_text


def rows_to_explain(reasons_for: str, is_anomaly: np.ndarray) -> np.ndarray:
    """Return the mask of rows that get reasons: all rows or only flagged ones."""
    if reasons_for not in REASONS_FOR:
        raise UnseenError(
            f"reasons_for must be one of {', '.join(REASONS_FOR)}, got {reasons_for!r}"
        )
    if reasons_for == "flagged":
        return np.asarray(is_anomaly, dtype=bool)
    return np.ones(len(is_anomaly), dtype=bool)
