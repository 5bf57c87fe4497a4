"""Render a table of benchmark runs as one HTML page with per-detector charts."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from unseen._version import __version__
from unseen.errors import DataError
from unseen.report.figures import benchmark_figure, png_data_uri
from unseen.report.render import check_report_path, render_template, write_html

logger = logging.getLogger(__name__)

#: Columns ``write_benchmark_report`` requires, one row per run: text keys
#: ``dataset``, ``detector``, ``setting`` (such as "clean" or "unsupervised"),
#: integer ``seed``, and numbers ``auroc``, ``average_precision`` (both in
#: [0, 1]; NaN for a failed run), ``fit_seconds`` and ``rows_per_second``
#: (scoring throughput). Other columns are shown in the per-run table.
BENCHMARK_COLUMNS = (
    "dataset",
    "detector",
    "setting",
    "seed",
    "auroc",
    "average_precision",
    "fit_seconds",
    "rows_per_second",
)
KEY_COLUMNS = ("setting", "dataset", "detector")
METRIC_COLUMNS = ("auroc", "average_precision", "fit_seconds", "rows_per_second")
METRIC_NAMES = {"auroc": "AUROC", "average_precision": "Average precision"}


def summarize_benchmark(results: pd.DataFrame) -> pd.DataFrame:
    """Return mean and std over seeds of each metric per setting, dataset and detector."""
    _check_results(results)
    grouped = results.groupby(list(KEY_COLUMNS), sort=True)
    summary = grouped[list(METRIC_COLUMNS)].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary["runs"] = grouped.size()
    return summary.reset_index()


def write_benchmark_report(
    results_frame: pd.DataFrame, path: str | Path, title: str = "Benchmark results"
) -> None:
    """Write benchmark runs as a self-contained HTML page, atomically.

    The page has a mean-over-seeds table, one AUROC and one average-precision
    chart per setting (a bar per dataset and detector), and every run.
    ``results_frame`` needs the columns in ``BENCHMARK_COLUMNS``.
    """
    path = check_report_path(path)
    summary = summarize_benchmark(results_frame)
    charts = []
    for setting, rows in summary.groupby("setting", sort=True):
        for metric, metric_name in METRIC_NAMES.items():
            figure = benchmark_figure(rows, metric, metric_name)
            charts.append(
                {"setting": setting, "metric_name": metric_name, "uri": png_data_uri(figure)}
            )
    run_columns = list(BENCHMARK_COLUMNS) + [
        c for c in results_frame.columns if c not in BENCHMARK_COLUMNS
    ]
    runs = results_frame.sort_values(list(KEY_COLUMNS) + ["seed"], kind="stable")
    text = render_template(
        "benchmark.html.j2",
        title=title,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        unseen_version=__version__,
        n_runs=len(results_frame),
        n_datasets=results_frame["dataset"].nunique(),
        n_detectors=results_frame["detector"].nunique(),
        n_settings=results_frame["setting"].nunique(),
        summary=summary.to_dict("records"),
        charts=charts,
        run_columns=[str(c) for c in run_columns],
        runs=runs.rename(columns=str).to_dict("records"),
    )
    write_html(text, path)


def _check_results(results: pd.DataFrame) -> None:
    if not isinstance(results, pd.DataFrame):
        raise DataError(
            f"benchmark results must be a pandas DataFrame, got {type(results).__name__}"
        )
    missing = [c for c in BENCHMARK_COLUMNS if c not in results.columns]
    if missing:
        raise DataError(
            f"benchmark results are missing column(s) {missing}; expected {list(BENCHMARK_COLUMNS)}"
        )
    if len(results) == 0:
        raise DataError("benchmark results are empty: run at least one benchmark first")
    for column in METRIC_COLUMNS:
        if not pd.api.types.is_numeric_dtype(results[column]):
            raise DataError(
                f"benchmark column {column!r} must be numeric, got dtype {results[column].dtype}"
            )
