"""Measure every detector's AUROC and average precision and write docs/detectors.md.

Protocols (labels only choose training rows and measure the result):
- NSL-KDD: fit on the normal rows of KDDTrain+_20Percent.txt, score all of KDDTest+.txt.
- ADBench ("clean" setting): datasets over 10,000 rows are subsampled to 10,000
  (stratified, seeded), split 70/30 stratified, the pipeline is fitted on the
  normal rows of the 70% part and scores the 30% part.

Every detector runs inside AnomalyPipeline (schema, preprocessing, conformal
calibration) with its defaults, except that neural detectors train for at most
``--epochs`` epochs to fit the time budget.
Results go to a CSV (one row per dataset and detector) and to the page.

Usage: nice -n 10 python benchmarks/detector_results.py [--seeds 0] [--epochs 30]
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
import torch
from sklearn.model_selection import train_test_split

from unseen.detectors import REGISTRY
from unseen.evaluation import binary_labels, evaluate_scores
from unseen.pipeline import AnomalyPipeline

ADBENCH = (
    "4_breastw",
    "6_cardio",
    "14_glass",
    "18_Ionosphere",
    "21_Lymphography",
    "23_mammography",
    "29_Pima",
    "30_satellite",
    "38_thyroid",
    "39_vertebral",
    "42_WBC",
    "43_WDBC",
    "45_wine",
    "28_pendigits",
)
DETECTORS = (
    "autoencoder",
    "vae",
    "gan",
    "deep_svdd",
    "robust_z",
    "iforest",
    "knn",
    "ecod",
    "robust_ensemble",
)
ENSEMBLE = "autoencoder+iforest"
NEURAL = ("autoencoder", "vae", "gan", "deep_svdd")
MAX_ROWS = 10_000
ROOT = Path(__file__).resolve().parents[1]


def nsl_kdd(root: Path, seed: int):
    folder = root / "tabular" / "nsl_kdd"
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    columns = [*names, "label", "difficulty"]
    train = pd.read_csv(folder / "KDDTrain+_20Percent.txt", header=None, names=columns)
    test = pd.read_csv(folder / "KDDTest+.txt", header=None, names=columns)
    train = train[train["label"] == "normal"].drop(columns=["label", "difficulty"])
    return train, test.drop(columns=["label", "difficulty"]), binary_labels(test["label"])


def adbench(root: Path, name: str, seed: int):
    with np.load(root / "tabular" / "adbench" / f"{name}.npz", allow_pickle=False) as data:
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
    if len(X) > MAX_ROWS:
        X, _, y, _ = train_test_split(X, y, train_size=MAX_ROWS, stratify=y, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    columns = [f"x{i}" for i in range(X.shape[1])]
    train = pd.DataFrame(X_train[y_train == 0], columns=columns)
    return train, pd.DataFrame(X_test, columns=columns), y_test


def detector_params(name: str, epochs: int) -> dict:
    if name in NEURAL:
        return {"epochs": min(epochs, REGISTRY[name]().epochs)}
    if name == ENSEMBLE:
        return {"autoencoder__epochs": min(epochs, REGISTRY["autoencoder"]().epochs)}
    return {}


def measure(detector: str, train, test, labels, seed: int, epochs: int) -> dict:
    pipeline = AnomalyPipeline(
        detector=detector,
        detector_params=detector_params(detector, epochs),
        target_fpr=0.05,
        random_state=seed,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train)
    fit_seconds = time.perf_counter() - start
    scores = pipeline.anomaly_score(test)
    metrics = evaluate_scores(labels, scores, pipeline.calibrator_.is_anomaly(scores))
    return {
        "auroc": metrics["auroc"],
        "average_precision": metrics["average_precision"],
        "fit_seconds": fit_seconds,
        "n_train": len(train),
        "n_test": len(test),
    }


def run(root: Path, seeds: list[int], epochs: int, csv_path: Path) -> pd.DataFrame:
    done = pd.read_csv(csv_path) if csv_path.exists() else pd.DataFrame()
    rows = done.to_dict("records")
    finished = {(r["dataset"], r["detector"], r["seed"]) for r in rows}
    loaders = [("nsl_kdd", nsl_kdd)] + [
        (name, lambda r, s, n=name: adbench(r, n, s)) for name in ADBENCH
    ]
    for seed in seeds:
        for dataset, loader in loaders:
            train, test, labels = loader(root, seed)
            for detector in (*DETECTORS, ENSEMBLE):
                if (dataset, detector, seed) in finished:
                    continue
                result = measure(detector, train, test, labels, seed, epochs)
                rows.append({"dataset": dataset, "detector": detector, "seed": seed, **result})
                print(
                    f"{dataset:>16} {detector:>20} seed {seed}: AUROC {result['auroc']:.3f} "
                    f"AP {result['average_precision']:.3f} ({result['fit_seconds']:.1f} s)",
                    flush=True,
                )
                pd.DataFrame(rows).to_csv(csv_path, index=False)
    return pd.DataFrame(rows)


PAGE = """# Detectors

Every detector behind `--detector NAME` (list them with `unseen detectors`),
measured on the same data under the same protocol. Higher is better; the best
value in each row is bold. Generated by `benchmarks/detector_results.py`; do
not edit by hand.

## Results

- Command: `{command}`
- Machine: {machine} (a shared 2-core machine; fit times are indicative only)
- Date: {date}
- Seeds: {seeds} (one split per dataset; with one seed, differences of a few
  thousandths are within split-to-split noise)
- Protocol: NSL-KDD fits on the normal rows of KDDTrain+_20Percent.txt and
  scores all of KDDTest+.txt. ADBench datasets ({n_datasets} datasets in total
  with NSL-KDD) follow the ADBench "clean" setting: over 10,000 rows are
  subsampled to 10,000, stratified 70/30 split, fit on the normal rows of the
  70% part, score the 30% part. Every detector runs inside `AnomalyPipeline`
  (calibrated on out-of-sample training scores where the detector has them,
  on 20% of training rows held out otherwise) with default hyper-parameters,
  except that neural detectors train for at most {epochs} epochs. The rules
  detector is not measured: its rules come from the user.
- Total fit time per detector: {timing}.

### AUROC

{auroc}

### Average precision

{average_precision}

## The detectors

Scores always follow one convention: higher means more anomalous
(`anomaly_score`), and `score_samples` is its negation as in scikit-learn.
Every detector stores its fitted state as JSON values and numeric arrays in
the safetensors model file, so loading a model never runs pickle.

**autoencoder**: dense autoencoder; score = mean squared reconstruction error
over encoded features, which splits exactly per feature for explanations.
It trains for 5 epochs with a trimmed loss: in each batch the 30% of rows
with the highest error are left out of the gradient (`trim_fraction=0.3`),
so anomalies hidden in unlabelled training rows are not learned. Set
`trim_fraction=0` for training data known to be clean. `scale_errors=True`
divides each feature's error by its training median.

**vae**: variational autoencoder (Kingma and Welling, 2014). Trains on the
negative ELBO: half the summed squared error plus `beta` times the KL term,
one reparameterised sample per row, log-variance clamped to [-10, 10] so
`exp` cannot overflow. Scoring decodes the posterior mean (z = mu) instead
of sampling, so a row's score is deterministic and independent of its batch;
the score is the mean squared error, so `feature_errors` folds exactly. A
NaN or infinite loss stops training with `TrainingError`.

**gan**: a GANomaly-style adversarial autoencoder (Akcay et al., 2018) with
the discriminator feature distance of ALAD (Zenati et al., 2018) in the
score. The encoder and generator reconstruct each row; the discriminator
separates real rows from reconstructions; the generator minimises
reconstruction error plus feature matching on the discriminator's last
hidden layer. The reconstruction term ties every generated row to a real
one, which is what keeps it from collapsing onto a few modes on tabular
data; feature matching, one-sided label smoothing (0.9) and Adam with
beta1 = 0.5 damp the usual oscillation. Score = reconstruction error /
its training median + `feature_weight` x feature distance / its training
median. Its own training loop reuses the shared seeding, validation split
and early stopping on validation reconstruction error.

**deep_svdd**: Deep SVDD (Ruff et al., 2018); score = squared distance of a
row's network output to a centre c. Guards against hypersphere collapse: no
bias terms in any layer, c fixed from the initial network's mean output with
coordinates within 0.1 of zero pushed to +/-0.1, and unbounded LeakyReLU
activations (a bounded activation could saturate onto c).

**robust_z**: per-feature robust z-scores, z = (x - median) / (1.4826 x MAD),
combined as the mean of z squared. The mean of squares uses every feature and
splits exactly into per-feature terms, which `max |z|` does not. Where the
MAD is 0 (a mostly-zero one-hot column), the scale falls back to 1.2533 x the
mean absolute deviation, and every scale is at least `min_scale` = 0.05.

**rules**: user rules on raw column values from a YAML or JSON file
(`--param rules_path=rules.yaml`) or a `rules` list: column, operator
(>, >=, <, <=, ==, !=, in, not in, is missing), value, optional weight and
name. Score = summed weight of the rules a row meets. The detector sets
`needs_raw_frame`, so the pipeline hands it the table as read next to the
encoded matrix: rules compare raw values exactly, including categories never
seen in training. A missing value meets only `is missing`. Unknown columns,
operators and keys are rejected at fit with the allowed choices; the model
file keeps the rules, not the path.

**iforest**: scikit-learn's `IsolationForest`; score = 2^(-mean path length /
c(max_samples)). The model file stores each tree's node arrays (children,
feature, threshold, node sizes, and the range of the split feature among the
subsample rows that reached each node) and scores from them with numpy.
Scoring is range-aware by default. A tree draws each cut uniformly between
the smallest and largest value at the node. Had a new value beyond that
range been among the node's rows, the cut would have split it off alone
with probability (distance past the range) / (distance past the range +
range width). The expected path length counts that chance at every node of
the row's path. The stored trees alone send any value past a node's maximum
down the maximum's branch, so a column pushed far outside its training range
barely moved the score. With range-aware scoring a shifted NSL-KDD column is
named first in 84.7% of rows instead of 74.7% (see
[explanations.md](explanations.md)). With `range_aware=False` the scores
equal scikit-learn's `-score_samples` bit for bit (a test checks it).
Training rows are scored out of bag for calibration.

**knn**: distance to the k-th nearest training row (k = 5), or with
`method="mean"` the mean distance to the k nearest, with scikit-learn's
`NearestNeighbors` (brute force, so a row's score does not depend on its
batch). At most 10,000 training rows are kept (a seeded subsample) and
stored in the model file. Training rows are scored leave-one-out.

**ecod**: ECOD (Li et al., TKDE 2022). Each feature's empirical CDF over the
training rows gives a value's left and right tail probability. A feature's
term is the larger of `-log` of the tail its training skewness points to and
the mean of `-log` of both tails. The score sums the terms, so it splits
exactly by feature. Tails of new rows are smoothed as `(1 + count) / (n + 1)`,
so values beyond the training range score finitely. They are counted against
training rows only, so a row's score does not depend on its batch (PyOD's
implementation recomputes the CDFs over training and new rows together).
At most 10,000 training rows are kept.

**robust_ensemble** (the default): a range-aware isolation forest, kNN mean
distance (k = 5), ECOD, and a second kNN measured only to the training rows
the first three do not rank in their top 10%. The score is the mean of a
row's two largest normalised ranks. Why each part, and the alternatives
measured on 30 ADBench files: [default-design.md](default-design.md) and the
module docstring of `unseen.detectors.robust_ensemble`.

**ensemble** (`--detector autoencoder+iforest`): fits each member on the same
rows, keeps its sorted training scores as a reference, and maps new scores to
normalised ranks against that reference (1 minus a p-value), with a bounded
tail beyond the largest reference score so extreme rows keep their order.
Combined by the mean (default), Fisher's method (`combine=fisher`), the
largest rank (`combine=max`) or the mean of the two largest (`combine=top2`).
References are members' out-of-sample training scores where they have them. Member
hyper-parameters go as `--param autoencoder__epochs=20`; a bare name goes to
every member that accepts it. Members are saved with prefixed array names.

Dependencies: torch for the neural detectors (the CPU build is enough),
scikit-learn for the isolation forest and neighbour search (the reference
implementations practitioners compare against), PyYAML for rules files
(YAML is what people write rules in by hand; JSON also works), safetensors
for the model file.
"""


def metric_table(results: pd.DataFrame, metric: str) -> str:
    order = [*DETECTORS, ENSEMBLE]
    table = results.pivot_table(index="dataset", columns="detector", values=metric, aggfunc="mean")
    table = table[[d for d in order if d in table.columns]]
    datasets = ["nsl_kdd", *[d for d in ADBENCH if d in table.index]]
    table = table.loc[[d for d in datasets if d in table.index]]
    lines = ["| dataset | " + " | ".join(table.columns) + " |"]
    lines.append("|---" * (len(table.columns) + 1) + "|")
    for dataset, row in table.iterrows():
        best = row.max()
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in row]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    means = table.mean()
    lines.append("| **mean** | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    ranks = table.rank(axis=1, ascending=False).mean()
    lines.append("| mean rank | " + " | ".join(f"{v:.2f}" for v in ranks) + " |")
    return "\n".join(lines)


def write_page(results: pd.DataFrame, out: Path, command: str, seeds: list[int], epochs: int):
    template = PAGE
    fit_time = results.groupby("detector")["fit_seconds"].sum()
    timing = ", ".join(f"{d} {fit_time[d]:.0f} s" for d in [*DETECTORS, ENSEMBLE] if d in fit_time)
    page = template.format(
        command=command,
        date=dt.date.today().isoformat(),
        machine=f"{os.cpu_count()} CPU cores, CPU only, {platform.platform()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}",
        seeds=", ".join(map(str, seeds)),
        epochs=epochs,
        n_datasets=results["dataset"].nunique(),
        auroc=metric_table(results, "auroc"),
        average_precision=metric_table(results, "average_precision"),
        timing=timing,
    )
    out.write_text(page, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--csv", type=Path, default=ROOT / "benchmarks" / "results" / "detectors.csv"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "detectors.md")
    args = parser.parse_args()
    # On a shared machine torch's default thread pool spins; one thread is faster.
    torch.set_num_threads(1)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    results = run(args.datasets, args.seeds, args.epochs, args.csv)
    command = (
        "nice -n 10 python benchmarks/detector_results.py "
        f"--seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs}"
    )
    write_page(results, args.out, command, args.seeds, args.epochs)


if __name__ == "__main__":
    main()
