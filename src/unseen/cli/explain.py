"""``unseen explain``: show which columns made a record anomalous, or drive alerts overall."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from unseen.calibration import threshold_or_none
from unseen.cli.common import console, parse_header, progress_bars, stdout
from unseen.errors import DataError, UnseenError


def locate_row(pipeline, frame: pd.DataFrame, row_id: str) -> int:
    """Return the position of the record named ``row_id``.

    With an id column in the model, ``row_id`` is matched against it (as text,
    or as a number for numeric ids); without one it is a 0-based position.
    """
    id_columns = pipeline.schema_.id_columns
    if not id_columns:
        return _position(row_id, len(frame))
    name = id_columns[0]
    if name not in frame.columns:
        raise DataError(f"id column {name!r} of the model is not in the data; add it to DATA")
    values = frame[name]
    matches = values.astype(str).to_numpy() == row_id
    if pd.api.types.is_numeric_dtype(values):
        number = pd.to_numeric(pd.Series([row_id]), errors="coerce").iloc[0]
        if pd.notna(number):
            matches |= values.to_numpy() == number
    positions = np.flatnonzero(matches)
    if positions.size == 0:
        raise UnseenError(
            f"no row has {name} = {row_id!r} ({len(frame)} rows searched): "
            f"pass a value of the {name!r} column"
        )
    if positions.size > 1:
        console.print(
            f"note: {positions.size} rows have {name} = {row_id!r}; "
            f"explaining the first, at position {positions[0]}"
        )
    return int(positions[0])


def _position(row_id: str, n_rows: int) -> int:
    try:
        position = int(row_id)
    except ValueError:
        raise UnseenError(
            f"--row must be a 0-based row position because the model has no id column, "
            f"got {row_id!r}"
        ) from None
    if not 0 <= position < n_rows:
        raise UnseenError(
            f"row position {position} not found: the data has {n_rows} rows (0 to {n_rows - 1})"
        )
    return position


def explain_record(
    pipeline, frame: pd.DataFrame, position: int, top_k: int, method: str | None = None
) -> dict:
    """Explain the record at ``position`` alone; return a JSON-compatible description."""
    from unseen.explain.table import attribute_frame

    record = frame.iloc[[position]]
    matrix, _ = pipeline.preprocessor_.transform(record)
    attribution, observed = attribute_frame(pipeline, record, matrix, method)
    score = float(attribution.scores[0])
    shares = attribution.shares[0]
    # A column that contributed nothing is no reason, so it is not listed.
    order = [index for index in attribution.ranking()[0, :top_k] if shares[index] > 0]
    id_values = {
        name: _plain(record[name].iloc[0])
        for name in pipeline.schema_.id_columns
        if name in record.columns
    }
    return {
        "row": position,
        "ids": id_values,
        "anomaly_score": score,
        "p_value": float(pipeline.calibrator_.p_values([score])[0]),
        "is_anomaly": bool(pipeline.calibrator_.is_anomaly([score])[0]),
        "threshold": threshold_or_none(pipeline.threshold_),
        "method": attribution.method,
        "columns": [
            {
                "rank": rank + 1,
                "column": attribution.columns[index],
                "observed": _plain(observed[0, index]),
                "expected": _plain(attribution.expected[0, index]),
                "contribution": float(attribution.contributions[0, index]),
                "share": float(shares[index]),
            }
            for rank, index in enumerate(order)
        ],
    }


def render_record(record: dict) -> Table:
    from unseen.explain.values import format_value

    name = ", ".join(f"{k}={v}" for k, v in record["ids"].items()) or f"row {record['row']}"
    verdict = "ANOMALY" if record["is_anomaly"] else "normal"
    table = Table(
        title=f"{name}: {verdict}",
        caption=(
            f"anomaly score {record['anomaly_score']:.6g} "
            f"(threshold {_threshold_text(record['threshold'])}), "
            f"p-value {record['p_value']:.4g}; contributions by {record['method']}"
        ),
    )
    table.add_column("#", justify="right")
    table.add_column("column", overflow="fold")
    table.add_column("observed", justify="right")
    table.add_column("expected", justify="right")
    table.add_column("contribution", justify="right")
    table.add_column("share", justify="right")
    for entry in record["columns"]:
        table.add_row(
            str(entry["rank"]),
            entry["column"],
            format_value(entry["observed"]),
            format_value(entry["expected"]),
            f"{entry['contribution']:.4g}",
            f"{entry['share']:.1%}",
        )
    return table


def render_importance(importance: pd.DataFrame, top_k: int, title: str) -> Table:
    attrs = importance.attrs
    table = Table(
        title=title,
        caption=(
            f"{attrs['n_flagged']} of {attrs['n_rows']} rows flagged; "
            f"contributions by {attrs['method']}"
        ),
    )
    for header in ("column", "share (flagged)", "top reason (flagged)", "share (all rows)"):
        table.add_column(header, justify="left" if header == "column" else "right", overflow="fold")
    for column, entry in importance.head(top_k).iterrows():
        flagged_share = entry["mean_share_flagged"]
        table.add_row(
            str(column),
            "-" if pd.isna(flagged_share) else f"{flagged_share:.1%}",
            str(int(entry["top_reason_flagged"])),
            f"{entry['mean_share_all']:.1%}",
        )
    return table


def _plain(value):
    """Return a JSON-compatible Python value for a cell."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def explain_command(
    model: Annotated[Path, typer.Argument(help="Model file written by `unseen fit`.")],
    data: Annotated[Path, typer.Argument(help="Table holding the records: CSV or Parquet.")],
    row: Annotated[
        str | None,
        typer.Option(
            help="Record to explain: a value of the model's id column, or a 0-based row "
            "position when the model has no id column."
        ),
    ] = None,
    global_view: Annotated[
        bool,
        typer.Option("--global", help="Rank the columns that drive alerts across all of DATA."),
    ] = False,
    top_k: Annotated[int, typer.Option(help="Columns listed.", min=1)] = 10,
    max_rows: Annotated[
        int | None,
        typer.Option(help="With --global: explain a random sample of this many rows.", min=1),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="'occlusion' explains reconstruction models by occlusion instead of their "
            "exact error split; default: the model's method."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_header: Annotated[bool, typer.Option(help="The CSV file has no header line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Explain one record (--row) or the whole table (--global) column by column."""
    from unseen.data import read_table
    from unseen.explain import global_importance
    from unseen.pipeline import AnomalyPipeline

    if (row is None) == (not global_view):
        raise UnseenError("pass exactly one of --row ID and --global")
    pipeline = AnomalyPipeline.load(model)
    frame = read_table(data, header=parse_header(no_header))
    if len(frame) == 0:
        raise DataError(f"{str(data)!r} has no rows to explain")
    with progress_bars(quiet):
        if row is not None:
            position = locate_row(pipeline, frame, row)
            record = explain_record(pipeline, frame, position, top_k, method)
            output = record if as_json else render_record(record)
        else:
            importance = global_importance(pipeline, frame, max_rows=max_rows, method=method)
            if as_json:
                output = _importance_json(importance, top_k)
            else:
                output = render_importance(importance, top_k, f"{data.name}: columns behind alerts")
    if as_json:
        print(json.dumps(output, indent=2))
    else:
        stdout.print(output)


def _importance_json(importance: pd.DataFrame, top_k: int) -> dict:
    head = importance.head(top_k).reset_index()
    rows = [{k: _plain(v) for k, v in entry.items()} for entry in head.to_dict("records")]
    return {**importance.attrs, "columns": rows}


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_command)


def _threshold_text(threshold: float | None) -> str:
    return "none reachable, nothing is flagged" if threshold is None else f"{threshold:.6g}"
