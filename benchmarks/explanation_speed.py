"""Time explaining rows against scoring them, with the autoencoder on NSL-KDD.

Scoring is ``pipeline.anomaly_score`` (encode and score). Explaining is
``pipeline.explain`` (encode, attribute every column, decode the expected
values and build the tidy table), with all columns and with the top 3. Each
is timed ``--repeats`` times in alternation and the median is reported.

Usage:

    nice -n 10 python benchmarks/explanation_speed.py \
        --output benchmarks/results/explanation_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from unseen.pipeline import AnomalyPipeline

DATASETS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def read_nsl_kdd(datasets: Path, file_name: str) -> pd.DataFrame:
    folder = datasets / "tabular" / "nsl_kdd"
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    frame = pd.read_csv(folder / file_name, header=None, names=[*names, "label", "difficulty"])
    return frame.drop(columns=["difficulty"])


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)

    train = read_nsl_kdd(args.datasets, "KDDTrain+_20Percent.txt")
    train = train[train["label"] == "normal"]
    rows = read_nsl_kdd(args.datasets, "KDDTest+.txt").head(args.rows)
    pipeline = AnomalyPipeline(
        "autoencoder", detector_params={"epochs": args.epochs}, label_column="label", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train)

    tasks = {
        "score": lambda: pipeline.anomaly_score(rows),
        "explain_all_columns": lambda: pipeline.explain(rows),
        "explain_top_3": lambda: pipeline.explain(rows, top_k=3),
    }
    for task in tasks.values():  # warm-up: first calls pay for imports and allocation
        task()
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(args.repeats):
        for name, task in tasks.items():
            times[name].append(timed(task))
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "rows": len(rows),
        "columns": len(pipeline.schema_.features),
        "encoded_features": pipeline.preprocessor_.n_features_out_,
        "median_seconds": medians,
        "ratio_explain_all_to_score": medians["explain_all_columns"] / medians["score"],
        "ratio_explain_top_3_to_score": medians["explain_top_3"] / medians["score"],
        "repeats": args.repeats,
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
