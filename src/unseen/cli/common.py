"""Helpers shared by the CLI commands: options, progress bars, output files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from unseen import progress
from unseen.errors import UnseenError
from unseen.io.atomic import atomic_path

console = Console(stderr=True)
stdout = Console()


@contextmanager
def progress_bars(quiet: bool) -> Iterator[None]:
    """Draw a progress bar on standard error for each task the library reports."""
    if quiet or not console.is_terminal:
        yield
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, int] = {}

    def update(task: str, completed: int, total: int | None) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total)
        bars.update(tasks[task], completed=completed, total=total)

    with bars, progress.progress_callback(update):
        yield


def parse_header(no_header: bool) -> bool | str:
    return False if no_header else "infer"


def parse_params(pairs: list[str]) -> dict:
    """Parse ``key=value`` pairs; values are read as JSON when they parse, else as text."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UnseenError(f"--param expects key=value, got {pair!r}")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV or Parquet by extension, atomically."""
    from unseen.data.sources import table_format

    kind = table_format(path)
    with atomic_path(path) as temporary:
        if kind == "parquet":
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
