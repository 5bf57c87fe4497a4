"""Build the scoring report page from a pipeline and a table."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

from unseen.report.figures import (
    png_data_uri,
    precision_recall_figure,
    roc_figure,
    score_histogram,
    uses_log_scale,
)
from unseen.report.gather import ReportData, gather_report
from unseen.report.render import check_report_path, render_template, write_html

logger = logging.getLogger(__name__)

# Columns listed under "Columns that drive alerts"; the rest are counted only.
MAX_IMPORTANCE_COLUMNS = 25


def render_report(report: ReportData) -> str:
    """Draw the figures for ``report`` and return the page as one HTML string."""
    started = time.perf_counter()
    figures = {
        "histogram": png_data_uri(score_histogram(report.scores, report.threshold, report.labels))
    }
    if report.metrics is not None:
        figures["roc"] = png_data_uri(roc_figure(report.labels, report.scores, report.metrics))
        figures["pr"] = png_data_uri(
            precision_recall_figure(report.labels, report.scores, report.metrics)
        )
    logger.info("drew %d figures in %.2f s", len(figures), time.perf_counter() - started)

    importance = report.importance.head(MAX_IMPORTANCE_COLUMNS)
    importance_scale = float(importance["mean_share_flagged"].max()) if len(importance) else 1.0
    kinds = Counter(feature["kind"] for feature in report.model["features"])
    transform = report.transform_report
    labels_summary = None
    if report.labels is not None:
        n_anomalies = int(report.labels.sum())
        labels_summary = {"n_anomalies": n_anomalies, "share": n_anomalies / report.n_rows}
    return render_template(
        "report.html.j2",
        title=report.title,
        source=report.source,
        created_at=report.created_at,
        unseen_version=report.unseen_version,
        n_rows=report.n_rows,
        columns=report.columns,
        n_flagged=report.n_flagged,
        flagged_share=report.n_flagged / report.n_rows,
        threshold=report.threshold,
        model=report.model,
        training=report.model["training"],
        features=report.model["features"],
        feature_kinds=", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())),
        figures=figures,
        log_scale=uses_log_scale(report.scores),
        label_column=report.label_column,
        labels_summary=labels_summary,
        metrics=report.metrics,
        metrics_note=report.metrics_note,
        id_columns=report.id_columns,
        top_records=report.top_records,
        importance=importance.to_dict("records"),
        importance_scale=importance_scale if importance_scale > 0 else 1.0,
        importance_hidden=max(0, len(report.importance) - MAX_IMPORTANCE_COLUMNS),
        n_importance_rows=report.n_importance_rows,
        transform_report=transform,
        quality_columns=sorted(
            set(transform["unseen_categories"]) | set(transform["missing_values"])
        ),
    )


def write_report(pipeline, data, path: str | Path, **options) -> ReportData:
    """Score ``data``, render the report and write it to ``path`` atomically.

    ``options`` go to ``gather_report`` (label, normal_values, top_k,
    n_reasons, k, title, source). Returns the gathered ``ReportData``.
    """
    path = check_report_path(path)
    started = time.perf_counter()
    report = gather_report(pipeline, data, **options)
    logger.info(
        "scored and explained %d rows in %.2f s", report.n_rows, time.perf_counter() - started
    )
    write_html(render_report(report), path)
    return report
