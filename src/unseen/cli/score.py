"""``unseen score``: score a table with a saved model and write the results.

A Parquet file with more rows than ``--batch-rows`` is streamed: read, scored
and written one batch at a time, so memory stays flat however long the file
is. Scores do not depend on the batch (every detector scores rows
independently), so streamed and in-memory results are the same.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.common import console, parse_header, progress_bars, write_table
from unseen.io.atomic import atomic_path

DEFAULT_BATCH_ROWS = 100_000


def score_command(
    model: Annotated[Path, typer.Argument(help="Model file written by `unseen fit`.")],
    data: Annotated[Path, typer.Argument(help="Table to score: CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Results file, .csv or .parquet.")],
    top_k: Annotated[int, typer.Option(help="Reasons (top columns) listed per row.", min=0)] = 3,
    reasons_for: Annotated[
        str, typer.Option(help="Rows that get reasons: 'flagged' (faster) or 'all'.")
    ] = "flagged",
    batch_rows: Annotated[
        int, typer.Option(help="Parquet files longer than this are scored in batches.", min=1)
    ] = DEFAULT_BATCH_ROWS,
    no_header: Annotated[bool, typer.Option(help="The CSV file has no header line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Score every row of DATA: anomaly score, p-value, flag and top reasons."""
    from unseen.data import read_table
    from unseen.data.sources import table_format
    from unseen.pipeline import AnomalyPipeline

    table_format(output)  # reject an unknown output extension before any work
    pipeline = AnomalyPipeline.load(model)
    started = time.perf_counter()
    if _parquet_rows(data) > batch_rows:
        n_rows, flagged, report = _score_in_batches(
            pipeline, data, output, batch_rows, top_k, reasons_for, quiet
        )
    else:
        frame = read_table(data, header=parse_header(no_header))
        with progress_bars(quiet):
            result = pipeline.detect(frame, top_k=top_k, reasons_for=reasons_for)
        write_table(result, output)
        n_rows, flagged = len(result), int(result["is_anomaly"].sum())
        report = result.attrs["transform_report"]
    seconds = time.perf_counter() - started
    if not quiet:
        console.print(
            f"scored {n_rows} rows, flagged {flagged} "
            f"({flagged / n_rows:.2%}) at threshold {pipeline.threshold_:.6g}; wrote {output} "
            f"({n_rows / seconds:,.0f} rows/s)"
        )
        if not math.isfinite(pipeline.threshold_):
            console.print(
                "warning: this model's threshold is infinite, so it can never flag a row: "
                "refit on more rows or with a higher --target-fpr"
            )
        if report["unseen_categories"]:
            console.print(f"unseen categories per column: {report['unseen_categories']}")
        if report.get("changed_constants"):
            console.print(
                f"values in columns that were constant in training: {report['changed_constants']}"
            )
        if report["missing_values"]:
            console.print(f"missing values per column: {report['missing_values']}")


def _parquet_rows(path: Path) -> int:
    """Return the row count of a Parquet file from its footer, or 0 for anything else."""
    from unseen.data.sources import table_format

    if not path.is_file() or table_format(path) != "parquet":
        return 0
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _score_in_batches(pipeline, data, output, batch_rows, top_k, reasons_for, quiet):
    """Stream ``data`` through ``pipeline.detect`` into a temporary file, then rename it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from unseen.data import read_table
    from unseen.data.sources import table_format
    from unseen.preprocessing.tabular import TransformReport

    source = pq.ParquetFile(data)
    as_parquet = table_format(output) == "parquet"
    writer = None
    schema = None
    report = TransformReport()
    n_rows = flagged = 0
    with atomic_path(output) as temporary:
        try:
            with progress_bars(quiet):
                for batch in source.iter_batches(batch_size=batch_rows):
                    frame = read_table(batch.to_pandas())
                    result = pipeline.detect(frame, top_k=top_k, reasons_for=reasons_for)
                    part = result.attrs["transform_report"]
                    report.merge(TransformReport(**part))
                    n_rows += len(result)
                    flagged += int(result["is_anomaly"].sum())
                    if as_parquet:
                        table = pa.Table.from_pandas(result, preserve_index=False)
                        if writer is None:
                            schema = _concrete_schema(table.schema)
                            writer = pq.ParquetWriter(temporary, schema)
                        writer.write_table(table.cast(schema))
                    else:
                        header = n_rows == len(result)
                        result.to_csv(temporary, mode="a", header=header, index=False)
        finally:
            if writer is not None:
                writer.close()
    return n_rows, flagged, report.to_dict()


def _concrete_schema(schema):
    """Type the all-null columns a batch without flagged rows leaves (its reasons)."""
    import pyarrow as pa

    def concrete(f):
        if not pa.types.is_null(f.type):
            return f
        return pa.field(f.name, pa.float64() if f.name.endswith("_share") else pa.string())

    return pa.schema([concrete(f) for f in schema], metadata=schema.metadata)


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
