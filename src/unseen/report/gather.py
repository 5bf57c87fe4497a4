"""Collect what a report shows from a fitted pipeline and a table to score.

Only aggregates leave this module, with one exception: the ``top_k``
highest-scoring records, whose ids, label and reason-column values the report
lists on purpose. No other row's values are kept in ``ReportData``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from unseen._version import __version__
from unseen.errors import DataError, UnseenError

logger = logging.getLogger(__name__)

# Column importance averages contributions over at most this many flagged rows,
# drawn at random, so the report's cost stays flat when many rows are flagged.
MAX_IMPORTANCE_ROWS = 10_000
# The page lists each record with its reasons; for more rows `unseen score` writes a table.
MAX_TOP_K = 1_000
IMPORTANCE_COLUMNS = ("mean_share_flagged", "mean_contribution_flagged", "top_reason_flagged")


@dataclass
class Reason:
    """One column's part in a record's anomaly score."""

    column: str
    share: float
    value: Any
    expected: Any
    note: str = ""


@dataclass
class TopRecord:
    """One of the highest-scoring records, with its ids and top reasons."""

    row: int
    ids: dict[str, Any]
    anomaly_score: float
    p_value: float
    is_anomaly: bool
    label: Any
    is_labelled_anomaly: bool | None
    reasons: list[Reason]


@dataclass
class ReportData:
    """Everything a scoring report shows, gathered once and rendered elsewhere.

    ``scores`` (and ``labels``, when the data has a label column) cover every
    scored row because the figures need them. They are numbers without row
    identity. ``top_records`` is the only per-record content.
    """

    title: str
    source: str
    created_at: str
    unseen_version: str
    n_rows: int
    columns: list[str]
    model: dict[str, Any]
    threshold: float
    scores: np.ndarray
    n_flagged: int
    top_k: int
    top_records: list[TopRecord]
    importance: pd.DataFrame
    n_importance_rows: int
    transform_report: dict[str, Any]
    label_column: str | None = None
    labels: np.ndarray | None = None
    metrics: dict[str, Any] | None = None
    metrics_note: str = ""
    id_columns: list[str] = field(default_factory=list)


def gather_report(
    pipeline,
    data,
    *,
    label: str | None = None,
    normal_values: list[str] | None = None,
    top_k: int = 20,
    n_reasons: int = 3,
    k: int | None = None,
    title: str | None = None,
    source: str | None = None,
    random_state: int = 0,
) -> ReportData:
    """Score ``data`` with ``pipeline`` and collect the report's contents.

    Parameters
    ----------
    pipeline : AnomalyPipeline
        A fitted pipeline.
    data : DataFrame or path
        The table to score, read with ``unseen.data.read_table``.
    label : str, optional
        Label column for detection-quality metrics. Defaults to the
        pipeline's label column when ``data`` has it.
    normal_values : list of str, optional
        Label values that mean normal, for text labels.
    top_k : int, default=20
        Number of highest-scoring records listed; no other record appears.
    n_reasons : int, default=3
        Reasons (columns) shown per listed record.
    k : int, optional
        k for precision at k; defaults to the number of labelled anomalies.
    random_state : int, default=0
        Seed of the sample of flagged rows used for column importance.
    """
    from unseen.data import read_table
    from unseen.evaluation import binary_labels

    if not 1 <= top_k <= MAX_TOP_K:
        raise UnseenError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k!r}")
    if n_reasons < 1:
        raise UnseenError(f"n_reasons must be at least 1, got {n_reasons!r}")
    frame = read_table(data)
    label = _resolve_label(pipeline, frame, label)
    labels = binary_labels(frame[label], normal_values) if label is not None else None

    result = pipeline.detect(frame, top_k=0)
    scores = result["anomaly_score"].to_numpy(dtype=np.float64)
    flags = result["is_anomaly"].to_numpy(dtype=bool)
    order = np.argsort(-scores, kind="stable")[:top_k]
    metrics, metrics_note = _metrics(labels, scores, flags, k, order)

    rng = np.random.default_rng(random_state)
    flagged = np.flatnonzero(flags)
    if len(flagged) > MAX_IMPORTANCE_ROWS:
        flagged = np.sort(rng.choice(flagged, MAX_IMPORTANCE_ROWS, replace=False))
    top_records = _top_records(pipeline, frame, result, labels, label, order, n_reasons)
    importance = _importance(pipeline, frame.iloc[flagged])

    summary = pipeline.summary()
    return ReportData(
        title=title or "Anomaly report",
        source=source or (str(data) if not isinstance(data, pd.DataFrame) else "table"),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        unseen_version=__version__,
        n_rows=len(frame),
        columns=[str(c) for c in frame.columns],
        model=summary,
        threshold=float(pipeline.threshold_),
        scores=scores,
        n_flagged=int(flags.sum()),
        top_k=top_k,
        top_records=top_records,
        importance=importance,
        n_importance_rows=len(flagged),
        transform_report=result.attrs["transform_report"],
        label_column=label,
        labels=labels,
        metrics=metrics,
        metrics_note=metrics_note,
        id_columns=[c for c in summary["id_columns"] if c in frame.columns],
    )


def _resolve_label(pipeline, frame: pd.DataFrame, label: str | None) -> str | None:
    if label is not None:
        if label not in frame.columns:
            raise DataError(
                f"label column {label!r} not found; available: {list(frame.columns)[:12]}"
            )
        return label
    fitted_label = pipeline.schema_.label_column
    if fitted_label is not None and fitted_label in frame.columns:
        logger.info("using the model's label column %r for metrics", fitted_label)
        return fitted_label
    return None


def _metrics(labels, scores, flags, k, order) -> tuple[dict | None, str]:
    from unseen.evaluation import evaluate_scores

    if labels is None:
        return None, ""
    try:
        metrics = evaluate_scores(labels, scores, flags, k)
    except DataError as exc:
        # A report on one-class data is still useful, so it states why metrics are absent.
        logger.warning("no detection metrics: %s", exc)
        return None, str(exc)
    metrics["precision_at_top_k"] = float(labels[order].mean())
    return metrics, ""


def _importance(pipeline, flagged_rows: pd.DataFrame) -> pd.DataFrame:
    """Return per-column mean share, mean contribution and first-reason count over flagged rows."""
    from unseen.explain import global_importance

    if len(flagged_rows) == 0:
        return pd.DataFrame(columns=["column", *IMPORTANCE_COLUMNS])
    table = global_importance(pipeline, flagged_rows)
    return table[list(IMPORTANCE_COLUMNS)].reset_index()


def _top_records(pipeline, frame, result, labels, label, order, n_reasons) -> list[TopRecord]:
    explained = pipeline.explain(frame.iloc[order], top_k=n_reasons)
    id_columns = [c for c in pipeline.schema_.id_columns if c in frame.columns]
    records = []
    for position, row in enumerate(order):
        reasons = [
            Reason(
                column=item.column,
                share=float(item.share),
                value=item.observed,
                expected=item.expected,
                note=_value_note(pipeline, item.column, item.observed),
            )
            for item in explained[explained["row"] == position].itertuples()
        ]
        records.append(
            TopRecord(
                row=int(row) + 1,
                ids={c: frame[c].iloc[row] for c in id_columns},
                anomaly_score=float(result["anomaly_score"].iloc[row]),
                p_value=float(result["p_value"].iloc[row]),
                is_anomaly=bool(result["is_anomaly"].iloc[row]),
                label=frame[label].iloc[row] if label is not None else None,
                is_labelled_anomaly=bool(labels[row]) if labels is not None else None,
                reasons=reasons,
            )
        )
    return records


def _value_note(pipeline, column: str, value) -> str:
    """Return what makes ``value`` unusual by itself: missing, or not a training category."""
    params = pipeline.preprocessor_.params_[column]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    if "categories" in params and str(value) not in params["categories"]:
        # Categories seen fewer than twice in training share the "<other>" slot too.
        return "outside the training categories"
    return ""
