"""Measure the autoencoder pipeline on the real data sets quoted in the README.

Protocols (labels are used only to choose training rows and to measure):
- NSL-KDD: fit on the normal rows of KDDTrain+_20Percent.txt, score KDDTest+.txt.
- Credit card sample: stratified 50/50 split, fit on the normal rows of one half.
- ADBench cardio, thyroid, mammography: stratified 70/30 split, fit on the normal
  rows of the 70% part (the "clean" ADBench setting), score the 30% part.

Usage: python benchmarks/core_results.py [--datasets DIR] [--out docs/core-results.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from unseen.evaluation import binary_labels, evaluate_scores
from unseen.pipeline import AnomalyPipeline

ADBENCH = ("6_cardio", "38_thyroid", "23_mammography")


def nsl_kdd(root: Path):
    folder = root / "tabular" / "nsl_kdd"
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    columns = [*names, "label", "difficulty"]
    train = pd.read_csv(folder / "KDDTrain+_20Percent.txt", header=None, names=columns)
    test = pd.read_csv(folder / "KDDTest+.txt", header=None, names=columns)
    train = train[train["label"] == "normal"].drop(columns=["label", "difficulty"])
    return train, test.drop(columns=["label", "difficulty"]), binary_labels(test["label"])


def credit_card(root: Path):
    frame = pd.read_csv(root / "tabular" / "creditcard" / "creditcard_fraud_enriched_sample.csv")
    frame = frame.drop(columns=[frame.columns[0]])
    train, test = train_test_split(frame, test_size=0.5, stratify=frame["Class"], random_state=0)
    train = train[train["Class"] == 0].drop(columns=["Class"])
    return train, test.drop(columns=["Class"]), test["Class"].to_numpy()


def adbench(root: Path, name: str):
    with np.load(root / "tabular" / "adbench" / f"{name}.npz", allow_pickle=False) as data:
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    return pd.DataFrame(X_train[y_train == 0]), pd.DataFrame(X_test), y_test


def measure(name: str, train: pd.DataFrame, test: pd.DataFrame, labels: np.ndarray) -> dict:
    pipeline = AnomalyPipeline(detector="autoencoder", target_fpr=0.01, random_state=0)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train)
    fit_seconds = time.perf_counter() - started
    result = pipeline.detect(test, top_k=0)
    metrics = evaluate_scores(labels, result["anomaly_score"], result["is_anomaly"])
    return {
        "dataset": name,
        "training rows": len(train),
        "test rows": len(test),
        "test anomalies": metrics["n_anomalies"],
        "AUROC": round(metrics["auroc"], 3),
        "average precision": round(metrics["average_precision"], 3),
        "recall at 1% FPR rule": round(metrics["recall_at_threshold"], 3),
        "observed FPR": round(metrics["false_positive_rate_at_threshold"], 4),
        "fit seconds": round(fit_seconds, 1),
    }


def markdown_table(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(value) for value in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", default=os.environ.get("UNSEEN_DATASETS", "../shared/datasets")
    )
    parser.add_argument("--out", default="docs/core-results.md")
    args = parser.parse_args()
    root = Path(args.datasets)
    rows = [measure("NSL-KDD", *nsl_kdd(root)), measure("credit card sample", *credit_card(root))]
    rows += [measure(f"ADBench {name}", *adbench(root, name)) for name in ADBENCH]
    table = pd.DataFrame(rows)
    header = [
        "# Core results: the autoencoder pipeline on real data",
        "",
        f"Measured on {dt.date.today().isoformat()} with `python benchmarks/core_results.py` on "
        f"{platform.machine()} Linux, {os.cpu_count()} cores, CPU only, shared machine.",
        "Autoencoder at its defaults, seed 0, alarm rule: target false-positive rate 0.01.",
        "Protocols are in the script's docstring; labels only pick training rows and measure.",
        "",
        "",
    ]
    text = "\n".join(header) + markdown_table(table) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
