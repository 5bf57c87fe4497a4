"""Time ``unseen report`` on 100,000 scored rows of real network-connection data.

Protocol: fit the autoencoder pipeline (10 epochs) on 10,000 normal rows of
NSL-KDD KDDTrain+_20Percent.txt (41 columns, 3 categorical). Then build the
full report for 100,000 rows drawn with replacement, seeded, from KDDTest+.txt
and KDDTrain+_20Percent.txt together, with the attack label as the label
column. The timed part covers scoring, explanations of the top 20 and of up
to 10,000 flagged rows, figures, HTML and the atomic write; fitting is not
timed. Two alarm rules are
timed: the default target false-positive rate of 1%, and a contamination of
40%, which flags tens of thousands of rows, so column importance works on
its largest sample.

Usage (about 4 minutes on 2 CPU cores):

    nice -n 10 python benchmarks/report_speed.py --output benchmarks/results/report_speed.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from unseen.pipeline import AnomalyPipeline
from unseen.report.gather import gather_report
from unseen.report.page import render_report
from unseen.report.render import write_html

REPO_ROOT = Path(__file__).resolve().parents[1]
ALARM_RULES = {
    "target_fpr=0.01": {"target_fpr": 0.01},
    "contamination=0.4": {"contamination": 0.4},
}


def read_nsl_kdd(folder: Path, file_name: str) -> pd.DataFrame:
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    return pd.read_csv(folder / file_name, header=None, names=[*names, "label", "difficulty"])


def load_tables(datasets: Path, n_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = datasets / "tabular" / "nsl_kdd"
    train = read_nsl_kdd(folder, "KDDTrain+_20Percent.txt")
    test = read_nsl_kdd(folder, "KDDTest+.txt")
    normal = train[train["label"] == "normal"].drop(columns=["label", "difficulty"])
    fit_rows = normal.sample(n=10_000, random_state=seed).reset_index(drop=True)
    fit_rows.insert(0, "connection_id", -1 - np.arange(len(fit_rows)))
    pool = pd.concat([test, train], ignore_index=True).drop(columns=["difficulty"])
    scored = pool.sample(n=n_rows, replace=True, random_state=seed).reset_index(drop=True)
    scored.insert(0, "connection_id", np.arange(n_rows))
    return fit_rows, scored


def time_report(pipeline, scored: pd.DataFrame, folder: Path) -> dict:
    """Return seconds spent gathering, rendering and writing one report."""
    started = time.perf_counter()
    report = gather_report(pipeline, scored, label="label", top_k=20)
    gathered = time.perf_counter()
    html = render_report(report)
    rendered = time.perf_counter()
    write_html(html, folder / "report.html")
    written = time.perf_counter()
    return {
        "gather_seconds": gathered - started,
        "render_seconds": rendered - gathered,
        "write_seconds": written - rendered,
        "total_seconds": written - started,
        "n_flagged": report.n_flagged,
        "n_importance_rows": report.n_importance_rows,
        "html_bytes": len(html.encode("utf-8")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_datasets = os.environ.get(
        "UNSEEN_DATASETS", str(REPO_ROOT / ".." / "shared" / "datasets")
    )
    parser.add_argument("--datasets", type=Path, default=Path(default_datasets))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="JSON results file.")
    args = parser.parse_args()

    fit_rows, scored = load_tables(args.datasets, args.rows, args.seed)
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only",
        "python": platform.python_version(),
        "rows": args.rows,
        "columns": scored.shape[1],
        "scenarios": {},
    }
    for rule, rule_params in ALARM_RULES.items():
        pipeline = AnomalyPipeline(
            detector="autoencoder",
            id_columns=["connection_id"],
            detector_params={"epochs": 10},
            random_state=args.seed,
            **rule_params,
        ).fit(fit_rows)
        runs = []
        with tempfile.TemporaryDirectory() as folder:
            for repeat in range(args.repeats):
                run = time_report(pipeline, scored, Path(folder))
                runs.append(run)
                print(
                    f"{rule} run {repeat + 1}: " + ", ".join(f"{k}={v:.3g}" for k, v in run.items())
                )
        totals = [run["total_seconds"] for run in runs]
        result["scenarios"][rule] = {
            "detector": pipeline.detector_.name,
            "median_total_seconds": statistics.median(totals),
            "max_total_seconds": max(totals),
            "runs": runs,
        }
    print(json.dumps(result, indent=2))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
