"""The tidy explanation table: one row per (record, column)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from unseen.explain.attribution import Attribution
from unseen.explain.values import observed_values

TIDY_COLUMNS = ["row", "rank", "column", "contribution", "share", "observed", "expected"]


def attribute_frame(
    pipeline, frame: pd.DataFrame, matrix: np.ndarray, method: str | None = None
) -> tuple[Attribution, np.ndarray]:
    """Explain every row of ``frame`` (encoded as ``matrix``); also return the observed cells."""
    attribution = pipeline.explainer_.attribute(
        pipeline.detector_, pipeline.preprocessor_, matrix, raw_frame=frame, method=method
    )
    return attribution, observed_values(pipeline.schema_, frame)


def tidy_table(
    attribution: Attribution,
    observed: np.ndarray,
    top_k: int | None = None,
    ids: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Lay an attribution out as one row per (record, column), top columns first.

    ``row`` is the record's 0-based position in the explained table; the
    columns of ``ids`` (one row per record) are copied next to it.
    """
    n_rows, n_columns = attribution.contributions.shape
    k = n_columns if top_k is None else max(0, min(int(top_k), n_columns))
    order = attribution.ranking()[:, :k]
    records = np.repeat(np.arange(n_rows), k)
    columns = order.ravel()
    table = pd.DataFrame({"row": records})
    if ids is not None:
        for name in ids.columns:
            table[name] = ids[name].to_numpy()[records]
    table["rank"] = np.tile(np.arange(1, k + 1), n_rows)
    table["column"] = np.asarray(attribution.columns, dtype=object)[columns]
    table["contribution"] = attribution.contributions[records, columns]
    table["share"] = attribution.shares[records, columns]
    table["observed"] = observed[records, columns]
    table["expected"] = attribution.expected[records, columns]
    table.attrs["method"] = attribution.method
    return table


def explain_table(pipeline, X, top_k: int | None = None, method: str | None = None) -> pd.DataFrame:
    """Explain every row of ``X``: the tidy table that ``AnomalyPipeline.explain`` returns."""
    frame, matrix, _ = pipeline.transform_table(X)
    attribution, observed = attribute_frame(pipeline, frame, matrix, method)
    id_columns = [c for c in pipeline.schema_.id_columns if c in frame.columns]
    return tidy_table(attribution, observed, top_k, frame[id_columns] if id_columns else None)
