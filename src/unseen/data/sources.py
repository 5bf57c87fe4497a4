"""Read tables from CSV, Parquet, pandas DataFrames and numpy arrays."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from unseen.errors import DataError

CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

HeaderOption = bool | Literal["infer"]


def table_format(path: str | os.PathLike) -> str:
    """Return ``"csv"`` or ``"parquet"`` from a file name, or raise ``DataError``."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataError(
        f"cannot tell the format of {str(path)!r}: use a file ending in "
        f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
    )


def read_table(
    source: str | os.PathLike | pd.DataFrame | np.ndarray,
    *,
    header: HeaderOption = "infer",
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read ``source`` into a DataFrame with string column names.

    Parameters
    ----------
    source : path, DataFrame or 2-D array
        CSV (optionally gzipped) or Parquet file, a DataFrame (copied), or an array
        whose columns are named ``x0, x1, ...`` unless ``columns`` is given.
    header : bool or "infer", default="infer"
        Whether a CSV file's first line contains column names. ``"infer"`` treats the
        first line as a header when none of its fields parses as a number and the
        fields are distinct; pass ``False`` for headerless files whose first row
        is all text.
    columns : list of str, optional
        Column names for headerless CSV files and arrays.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    elif isinstance(source, np.ndarray):
        frame = _frame_from_array(source, columns)
    elif isinstance(source, (str, os.PathLike)):
        frame = _read_file(Path(source), header, columns)
    else:
        raise DataError(
            f"cannot read a table from a {type(source).__name__}: pass a file path, "
            "a pandas DataFrame or a 2-D numpy array"
        )
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"duplicate column names {duplicated}: rename them so each is unique")
    return frame


def _frame_from_array(array: np.ndarray, columns: list[str] | None) -> pd.DataFrame:
    if array.ndim != 2:
        raise DataError(
            f"expected a 2-D array of shape (rows, columns), got {array.ndim} dimensions"
        )
    names = columns or [f"x{i}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise DataError(f"{len(names)} column names given for an array with {array.shape[1]}")
    return pd.DataFrame(array, columns=names)


def _read_file(path: Path, header: HeaderOption, columns: list[str] | None) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"file not found: {str(path)!r}")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder: pass a CSV or Parquet file")
    kind = table_format(path)
    if path.stat().st_size == 0:
        raise DataError(f"{str(path)!r} is empty: it has no header and no rows")
    if kind == "parquet":
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path, header, columns)
    if len(frame) == 0:
        raise DataError(f"{str(path)!r} has a header but no rows: pass a file with records")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"cannot read {str(path)!r} as Parquet: {exc}") from exc


def _read_csv(path: Path, header: HeaderOption, columns: list[str] | None) -> pd.DataFrame:
    first_lines = _peek_lines(path, 2)
    if not first_lines:
        raise DataError(f"{str(path)!r} is empty: it has no header and no rows")
    delimiter = _guess_delimiter(first_lines[0])
    has_header = _looks_like_header(first_lines[0], delimiter) if header == "infer" else header
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            header=0 if has_header else None,
            names=None if has_header else columns,
            skipinitialspace=True,
            low_memory=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{str(path)!r} is empty: it has no header and no rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse {str(path)!r} as CSV: {exc}") from exc
    if not has_header and columns is None:
        frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    # A leading unnamed column is the index that DataFrame.to_csv writes by default.
    if has_header and frame.columns[0].startswith("Unnamed: 0"):
        frame = frame.rename(columns={frame.columns[0]: "row_index"})
    return frame


def _guess_delimiter(line: str) -> str:
    """Return "," unless the first line has no comma but tabs, semicolons or pipes.

    Semicolons are the comma's stand-in where the comma is the decimal mark,
    so a file read with the wrong one would become one text column.
    """
    if "," in line:
        return ","
    for candidate in ("\t", ";", "|"):
        if candidate in line:
            return candidate
    return ","


def _peek_lines(path: Path, count: int) -> list[str]:
    opener = _open_gzip if str(path).lower().endswith(".gz") else _open_text
    with opener(path) as handle:
        lines = []
        for line in handle:
            if line.strip():
                lines.append(line.rstrip("\r\n"))
            if len(lines) == count:
                break
    return lines


def _open_text(path: Path) -> io.TextIOBase:
    return open(path, encoding="utf-8", errors="replace", newline="")


def _open_gzip(path: Path) -> io.TextIOBase:
    import gzip

    return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")


def _looks_like_header(line: str, delimiter: str) -> bool:
    fields = next(csv.reader([line], delimiter=delimiter))
    fields = [f.strip() for f in fields]
    if any(_is_number(f) for f in fields):
        return False
    if len(set(fields)) != len(fields):
        duplicated = sorted({f for f in fields if fields.count(f) > 1})
        raise DataError(
            f"the header names column(s) {duplicated} more than once: rename them so each "
            "is unique, or pass header=False (--no-header) if the first line is data"
        )
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
