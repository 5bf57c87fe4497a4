"""``unseen score``: score a table with a saved model and write the results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.common import console, parse_header, progress_bars, write_table


def score_command(
    model: Annotated[Path, typer.Argument(help="Model file written by `unseen fit`.")],
    data: Annotated[Path, typer.Argument(help="Table to score: CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Results file, .csv or .parquet.")],
    top_k: Annotated[int, typer.Option(help="Reasons (top columns) listed per row.", min=0)] = 3,
    no_header: Annotated[bool, typer.Option(help="The CSV file has no header line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Score every row of DATA: anomaly score, p-value, flag and top reasons."""
    from unseen.data import read_table
    from unseen.data.sources import table_format
    from unseen.pipeline import AnomalyPipeline

    table_format(output)  # reject an unknown output extension before any work
    pipeline = AnomalyPipeline.load(model)
    frame = read_table(data, header=parse_header(no_header))
    with progress_bars(quiet):
        result = pipeline.detect(frame, top_k=top_k)
    write_table(result, output)
    if not quiet:
        report = result.attrs["transform_report"]
        flagged = int(result["is_anomaly"].sum())
        console.print(
            f"scored {len(result)} rows, flagged {flagged} "
            f"({flagged / len(result):.2%}) at threshold {pipeline.threshold_:.6g}; wrote {output}"
        )
        if report["unseen_categories"]:
            console.print(f"unseen categories per column: {report['unseen_categories']}")
        if report["missing_values"]:
            console.print(f"missing values per column: {report['missing_values']}")


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
