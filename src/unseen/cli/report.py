"""``unseen report``: score a table and write a self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.common import console, parse_header, progress_bars


def report_command(
    model: Annotated[Path, typer.Argument(help="Model file written by `unseen fit`.")],
    data: Annotated[Path, typer.Argument(help="Table to score: CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Report file to write (.html).")],
    label: Annotated[
        str | None, typer.Option(help="Label column for ROC, precision-recall and counts.")
    ] = None,
    normal_value: Annotated[
        list[str], typer.Option(help="Label value meaning normal (text labels).")
    ] = [],  # noqa: B006 (typer reads list defaults without mutating them)
    top_k: Annotated[
        int, typer.Option(help="Highest-scoring records listed; no other record is shown.", min=1)
    ] = 20,
    reasons: Annotated[int, typer.Option(help="Reason columns shown per record.", min=1)] = 3,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    no_header: Annotated[bool, typer.Option(help="The CSV file has no header line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Score DATA and write an HTML report: scores, metrics, top records, reasons."""
    from unseen.data import read_table
    from unseen.pipeline import AnomalyPipeline
    from unseen.report import write_report
    from unseen.report.render import check_report_path

    check_report_path(output)  # reject a wrong file name before any work
    pipeline = AnomalyPipeline.load(model)
    frame = read_table(data, header=parse_header(no_header))
    with progress_bars(quiet):
        report = write_report(
            pipeline,
            frame,
            output,
            label=label,
            normal_values=normal_value or None,
            top_k=top_k,
            n_reasons=reasons,
            title=title,
            source=data.name,
        )
    if not quiet:
        console.print(
            f"scored {report.n_rows} rows, flagged {report.n_flagged}; "
            f"listed the top {len(report.top_records)}; wrote {output}"
        )


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
