"""The evaluation protocol: labelled datasets, subsampling and train/test splits.

It follows ADBench (Han et al., NeurIPS 2022): a stratified 70/30 split per
seed, files over ``max_rows`` rows subsampled (stratified, seeded) first, and
two training settings. ``unsupervised`` trains on the whole training split,
anomalies included, as a user with unlabelled data would; ``clean`` trains on
its normal rows only (novelty detection). Labels never reach a detector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from unseen.data import read_table
from unseen.errors import DataError, UnseenError

SETTINGS = ("unsupervised", "clean")
DEFAULT_MAX_ROWS = 10_000
TEST_FRACTION = 0.3


@dataclass
class LabelledData:
    """A feature table and its 0/1 labels (1 = anomaly)."""

    name: str
    features: pd.DataFrame
    labels: np.ndarray


@dataclass
class Split:
    """One seed's split of a dataset; ``train`` is already reduced for the setting."""

    dataset: str
    seed: int
    setting: str
    train: pd.DataFrame
    test: pd.DataFrame
    test_labels: np.ndarray
    n_train_anomalies: int


def load_labelled(path: str | os.PathLike, label: str | None = None) -> LabelledData:
    """Read an ADBench ``.npz`` file (``X``, ``y``) or a CSV/Parquet table with a label column."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data or "y" not in data:
                raise DataError(f"{str(path)!r} must hold arrays 'X' and 'y' (ADBench layout)")
            features = read_table(np.asarray(data["X"], dtype=np.float64))
            labels = np.asarray(data["y"])
    else:
        if label is None:
            raise UnseenError(
                f"{str(path)!r} is a table: name its 0/1 anomaly label column with --label"
            )
        frame = read_table(path)
        if label not in frame.columns:
            raise DataError(f"label column {label!r} is not in {str(path)!r}")
        labels = frame.pop(label).to_numpy()
        features = frame
    return LabelledData(path.stem, features, check_labels(labels, path.stem))


def check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Return labels as 0/1 ints; raise ``DataError`` unless both classes are present."""
    values = pd.Series(labels)
    if values.isna().any() or not set(pd.unique(values)) <= {0, 1}:
        raise DataError(f"labels of {name!r} must be 0 (normal) and 1 (anomaly), without gaps")
    labels = values.astype(int).to_numpy()
    if labels.sum() < 2 or (labels == 0).sum() < 2:
        raise DataError(f"{name!r} needs at least two normal and two anomalous rows to evaluate")
    return labels


def subsample(data: LabelledData, max_rows: int, seed: int) -> LabelledData:
    """Keep at most ``max_rows`` rows, stratified by label, with a seeded draw."""
    if len(data.labels) <= max_rows:
        return data
    keep, _ = train_test_split(
        np.arange(len(data.labels)), train_size=max_rows, stratify=data.labels, random_state=seed
    )
    keep = np.sort(keep)
    features = data.features.iloc[keep].reset_index(drop=True)
    return LabelledData(data.name, features, data.labels[keep])


def make_split(
    data: LabelledData, seed: int, setting: str, max_rows: int = DEFAULT_MAX_ROWS
) -> Split:
    """Subsample, split 70/30 stratified by label, and keep the rows the setting trains on."""
    if setting not in SETTINGS:
        raise UnseenError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    try:
        data = subsample(data, max_rows, seed)
        train_rows, test_rows = train_test_split(
            np.arange(len(data.labels)),
            test_size=TEST_FRACTION,
            stratify=data.labels,
            random_state=seed,
        )
    except ValueError as exc:
        # scikit-learn cannot stratify a class with fewer than two rows per part.
        raise DataError(
            f"cannot split {data.name!r} ({int(data.labels.sum())} anomalies in "
            f"{len(data.labels)} rows, at most {max_rows} kept) 70/30 by label: {exc}; "
            "raise --max-rows or use a larger file"
        ) from None
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    train_labels = data.labels[train_rows]
    if setting == "clean":
        train_rows = train_rows[train_labels == 0]
    return Split(
        dataset=data.name,
        seed=seed,
        setting=setting,
        train=data.features.iloc[train_rows].reset_index(drop=True),
        test=data.features.iloc[test_rows].reset_index(drop=True),
        test_labels=data.labels[test_rows],
        n_train_anomalies=int(data.labels[train_rows].sum()),
    )
