"""Benchmark detectors on labelled data under the ADBench protocol, against PyOD peers."""

from unseen.bench.protocol import SETTINGS, LabelledData, Split, load_labelled, make_split
from unseen.bench.runner import RESULT_COLUMNS, RunResult, run_benchmark
from unseen.bench.summary import summarize, summary_markdown

__all__ = [
    "RESULT_COLUMNS",
    "SETTINGS",
    "LabelledData",
    "RunResult",
    "Split",
    "load_labelled",
    "make_split",
    "run_benchmark",
    "summarize",
    "summary_markdown",
]
