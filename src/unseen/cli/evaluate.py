"""``unseen evaluate``: measure a saved model against labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from unseen.calibration import threshold_or_none
from unseen.cli.common import parse_header, progress_bars, stdout
from unseen.errors import DataError

METRIC_LABELS = {
    "n_rows": "rows",
    "n_anomalies": "labelled anomalies",
    "auroc": "AUROC",
    "average_precision": "average precision",
    "precision_at_k": "precision at k",
    "recall_at_threshold": "recall at threshold",
    "false_positive_rate_at_threshold": "false-positive rate at threshold",
    "precision_at_threshold": "precision at threshold",
    "true_positives": "true positives",
    "false_positives": "false positives",
    "true_negatives": "true negatives",
    "false_negatives": "false negatives",
}


def evaluate_pipeline(pipeline, frame, label: str, normal_values=None, k=None) -> dict:
    """Score ``frame`` and compare it with its ``label`` column."""
    from unseen.evaluation import binary_labels, evaluate_scores

    if label not in frame.columns:
        raise DataError(f"label column {label!r} not found; available: {list(frame.columns)[:12]}")
    labels = binary_labels(frame[label], normal_values)
    result = pipeline.detect(frame, top_k=0)
    return evaluate_scores(labels, result["anomaly_score"], result["is_anomaly"], k)


def render_metrics(metrics: dict, title: str) -> Table:
    table = Table(title=title, show_header=False)
    for key, name in METRIC_LABELS.items():
        value = metrics[key]
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        if key == "precision_at_k":
            name = f"precision at k={metrics['k']}"
        table.add_row(name, text)
    return table


def evaluate_command(
    model: Annotated[Path, typer.Argument(help="Model file written by `unseen fit`.")],
    data: Annotated[Path, typer.Argument(help="Labelled table: CSV or Parquet.")],
    label: Annotated[str, typer.Option(help="Label column (1/0, or text with --normal-value).")],
    normal_value: Annotated[
        list[str], typer.Option(help="Label value meaning normal (text labels).")
    ] = [],  # noqa: B006
    k: Annotated[
        int | None,
        typer.Option(help="k for precision at k; default: number of anomalies.", min=1),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write an HTML report (as `unseen report`) here.")
    ] = None,
    no_header: Annotated[bool, typer.Option(help="The CSV file has no header line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Report AUROC, average precision, precision at k and counts at the threshold."""
    from unseen.data import read_table
    from unseen.pipeline import AnomalyPipeline
    from unseen.report import write_report
    from unseen.report.render import check_report_path

    if html is not None:
        check_report_path(html)  # reject a wrong file name before any work
    pipeline = AnomalyPipeline.load(model)
    frame = read_table(data, header=parse_header(no_header))
    with progress_bars(quiet):
        metrics = evaluate_pipeline(pipeline, frame, label, normal_value or None, k)
        if html is not None:
            options = {"label": label, "normal_values": normal_value or None, "k": k}
            write_report(pipeline, frame, html, source=data.name, **options)
    metrics["threshold"] = threshold_or_none(pipeline.threshold_)
    metrics["alarm_rule"] = pipeline.calibrator_.rule.describe()
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        stdout.print(render_metrics(metrics, f"{data.name}: {metrics['alarm_rule']}"))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
