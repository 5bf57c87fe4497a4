"""Global importance: which columns drive the alerts across a whole table."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from unseen.errors import UnseenError
from unseen.explain.table import attribute_frame

logger = logging.getLogger(__name__)

IMPORTANCE_COLUMNS = [
    "mean_share_flagged",
    "mean_contribution_flagged",
    "top_reason_flagged",
    "mean_share_all",
    "mean_contribution_all",
]


def global_importance(
    pipeline,
    X,
    max_rows: int | None = None,
    random_state: int | None = 0,
    method: str | None = None,
) -> pd.DataFrame:
    """Average the per-record attributions of ``X`` per input column.

    Returns one row per input column, sorted by ``mean_share_flagged`` (then
    ``mean_share_all``), with:

    * ``mean_share_flagged`` and ``mean_contribution_flagged``: the mean share
      of the score and mean contribution over rows the pipeline flags (NaN
      when no row is flagged);
    * ``top_reason_flagged``: how many flagged rows have this column as their
      first reason;
    * ``mean_share_all`` and ``mean_contribution_all``: the same over all
      explained rows.

    ``max_rows`` explains a random sample of that many rows (seeded by
    ``random_state``) instead of all of them, which bounds the cost of
    occlusion explanations. ``result.attrs`` contains ``n_rows``, ``n_flagged``
    and ``method``. ``method`` is passed to ``ColumnExplainer.attribute``.
    """
    frame, matrix, _ = pipeline.transform_table(X)
    if max_rows is not None:
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise UnseenError(f"max_rows must be a positive integer or None, got {max_rows!r}")
        if len(frame) > max_rows:
            rng = np.random.default_rng(random_state)
            keep = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
            logger.info("explaining a sample of %d of %d rows", max_rows, len(frame))
            frame, matrix = frame.iloc[keep], matrix[keep]
    attribution, _ = attribute_frame(pipeline, frame, matrix, method)
    flagged = pipeline.calibrator_.is_anomaly(attribution.scores)
    shares = attribution.shares
    contributions = attribution.contributions
    first_reason = attribution.ranking()[:, 0]
    table = pd.DataFrame(index=pd.Index(attribution.columns, name="column"))
    if flagged.any():
        table["mean_share_flagged"] = shares[flagged].mean(axis=0)
        table["mean_contribution_flagged"] = contributions[flagged].mean(axis=0)
    else:
        table["mean_share_flagged"] = np.nan
        table["mean_contribution_flagged"] = np.nan
    counts = np.bincount(first_reason[flagged], minlength=len(attribution.columns))
    table["top_reason_flagged"] = counts
    table["mean_share_all"] = shares.mean(axis=0)
    table["mean_contribution_all"] = contributions.mean(axis=0)
    table = table.sort_values(
        ["mean_share_flagged", "mean_share_all"], ascending=False, na_position="last"
    )
    table.attrs.update(
        {"n_rows": len(frame), "n_flagged": int(flagged.sum()), "method": attribution.method}
    )
    return table
