"""Measure how often explanations name a planted anomaly's column.

Normal rows of real datasets are split into training and held-out rows. Each
held-out row gets one column shifted far outside the training range (see
``unseen.explain.corruption``), and the score is the share of rows whose first
reason is that column ("top-1 hit rate"), per detector and dataset.

Usage (the default run takes about half an hour on 2 CPU cores):

    nice -n 10 python benchmarks/explanation_accuracy.py \
        --output benchmarks/results/explanation_accuracy.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from unseen.detectors import REGISTRY, make_detector
from unseen.errors import UnseenError
from unseen.explain.corruption import corrupt_one_column, top_column_hit_rate
from unseen.pipeline import AnomalyPipeline

DATASETS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
DETECTORS = [
    "autoencoder",
    "vae",
    "gan",
    "deep_svdd",
    "robust_z",
    "iforest",
    "knn",
    "ecod",
    "robust_ensemble",
    "autoencoder+iforest",
]
# Torch detectors train for this many epochs here (early stopping may end sooner),
# whatever their default; --epochs changes it.
MAX_EPOCHS = 30


def load_nsl_kdd(datasets: Path) -> pd.DataFrame:
    folder = datasets / "tabular" / "nsl_kdd"
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    frame = pd.read_csv(
        folder / "KDDTrain+_20Percent.txt", header=None, names=[*names, "label", "difficulty"]
    )
    return frame[frame["label"] == "normal"].drop(columns=["label", "difficulty"])


def load_adbench(datasets: Path, name: str) -> pd.DataFrame:
    with np.load(datasets / "tabular" / "adbench" / f"{name}.npz", allow_pickle=False) as data:
        features, labels = data["X"].astype(np.float64), data["y"].astype(int)
    columns = [f"x{i}" for i in range(features.shape[1])]
    return pd.DataFrame(features[labels == 0], columns=columns)


def load_creditcard(datasets: Path) -> pd.DataFrame:
    path = datasets / "tabular" / "creditcard" / "creditcard_fraud_enriched_sample.csv"
    frame = pd.read_csv(path, index_col=0)  # the first, unnamed column is a row number
    return frame[frame["Class"] == 0].drop(columns=["Class"])


LOADERS = {
    "nsl_kdd": load_nsl_kdd,
    "cardio": lambda d: load_adbench(d, "6_cardio"),
    "thyroid": lambda d: load_adbench(d, "38_thyroid"),
    "creditcard": load_creditcard,
}


def detector_params(name: str, epochs: int = MAX_EPOCHS) -> dict:
    params = {}
    for member in name.split("+"):
        known = REGISTRY[member]().get_params()
        if "epochs" in known:
            params[member] = {"epochs": epochs}
    if "+" in name:
        return {"member_params": params} if params else {}
    return params.get(name, {})


def split(frame: pd.DataFrame, n_train: int, n_test: int, seed: int):
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = min(n_test, len(frame) // 3)
    test = frame.iloc[np.sort(order[:n_test])].reset_index(drop=True)
    train = frame.iloc[np.sort(order[n_test : n_test + n_train])].reset_index(drop=True)
    return train, test


def run_one(
    detector: str, train: pd.DataFrame, test: pd.DataFrame, seed: int, epochs: int = MAX_EPOCHS
) -> dict:
    pipeline = AnomalyPipeline(
        detector, detector_params=detector_params(detector, epochs), random_state=seed
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train)
    fit_seconds = time.perf_counter() - started
    corrupted, targets = corrupt_one_column(test, pipeline.schema_, train, random_state=seed)
    started = time.perf_counter()
    explanation = pipeline.explain(corrupted, top_k=3)
    explain_seconds = time.perf_counter() - started
    comparison = {}
    if explanation.attrs["method"] != "occlusion":
        # The same fitted model explained by occlusion, for comparison.
        pipeline.explainer_.method = "occlusion"
        occluded = pipeline.explain(corrupted, top_k=1)
        comparison["top1_occlusion"] = top_column_hit_rate(occluded, targets, within=1)
        pipeline.explainer_.method = "auto"
    flagged = pipeline.predict(corrupted) == -1
    alerts = explanation[flagged[explanation["row"].to_numpy()]].copy()
    alerts["row"] = alerts["row"].map({row: i for i, row in enumerate(np.flatnonzero(flagged))})
    return {
        "method": explanation.attrs["method"],
        "top1": top_column_hit_rate(explanation, targets, within=1),
        "top3": top_column_hit_rate(explanation, targets, within=3),
        "flagged": float(flagged.mean()),
        "top1_flagged": (
            top_column_hit_rate(alerts, targets[flagged], within=1) if flagged.any() else None
        ),
        "n_rows": len(corrupted),
        "n_columns": len(pipeline.schema_.features),
        "fit_seconds": round(fit_seconds, 2),
        "explain_seconds": round(explain_seconds, 2),
        **comparison,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS_DIR)
    parser.add_argument("--only", nargs="*", default=list(LOADERS), help="dataset names")
    parser.add_argument("--detectors", nargs="*", default=DETECTORS)
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--test-rows", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--epochs", type=int, default=MAX_EPOCHS, help="training epochs of torch detectors"
    )
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    results = []
    for dataset in args.only:
        frame = LOADERS[dataset](args.datasets)
        train, test = split(frame, args.train_rows, args.test_rows, args.seed)
        for detector in args.detectors:
            try:
                make_detector(detector)
            except UnseenError as exc:
                print(f"skip {detector}: {exc}", file=sys.stderr)
                continue
            result = {"dataset": dataset, "detector": detector}
            result.update(run_one(detector, train, test, args.seed, args.epochs))
            results.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
            if args.output:
                args.output.parent.mkdir(parents=True, exist_ok=True)
                args.output.write_text(json.dumps(results, indent=2))
    pivot = pd.DataFrame(results).pivot(index="detector", columns="dataset", values="top1")
    print(markdown_table(pivot.reindex([d for d in args.detectors if d in pivot.index])))
    return 0


def markdown_table(table: pd.DataFrame) -> str:
    lines = ["| detector | " + " | ".join(table.columns) + " |"]
    lines.append("|---" * (len(table.columns) + 1) + "|")
    for name, row in table.iterrows():
        cells = ["" if pd.isna(v) else f"{v:.1%}" for v in row]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
