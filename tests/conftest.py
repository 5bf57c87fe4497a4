"""Shared fixtures: the real-data folder and small slices of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

# The models in tests are small; one intra-op thread avoids oversubscribing the
# cores when pytest shares the machine with other work.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS_ENV = "UNSEEN_DATASETS"


def datasets_path() -> Path:
    """Return the real-data folder: $UNSEEN_DATASETS or ../shared/datasets from the repo root."""
    configured = os.environ.get(DATASETS_ENV)
    return Path(configured) if configured else (REPO_ROOT / ".." / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = datasets_path()
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path}; set {DATASETS_ENV} to their folder")
    return path


def read_nsl_kdd(datasets: Path, file_name: str, n_rows: int | None = None) -> pd.DataFrame:
    """Read an NSL-KDD file with its column names (the files have no header)."""
    folder = datasets / "tabular" / "nsl_kdd"
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    return pd.read_csv(
        folder / file_name, header=None, names=[*names, "label", "difficulty"], nrows=n_rows
    )


@pytest.fixture(scope="session")
def nsl_kdd_train(datasets_dir) -> pd.DataFrame:
    """3,000 rows of KDDTrain+_20Percent.txt, normal and attack."""
    return read_nsl_kdd(datasets_dir, "KDDTrain+_20Percent.txt", 3000)


@pytest.fixture(scope="session")
def nsl_kdd_test(datasets_dir) -> pd.DataFrame:
    """2,000 rows of KDDTest+.txt."""
    return read_nsl_kdd(datasets_dir, "KDDTest+.txt", 2000)


def load_adbench(datasets: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (X, y) from an ADBench .npz file such as ``6_cardio``."""
    with np.load(datasets / "tabular" / "adbench" / f"{name}.npz", allow_pickle=False) as data:
        return data["X"].astype(np.float64), data["y"].astype(int)


@pytest.fixture(scope="session")
def cardio(datasets_dir) -> tuple[np.ndarray, np.ndarray]:
    """ADBench cardio: 1,831 rows x 21 features, 9.6% anomalies."""
    return load_adbench(datasets_dir, "6_cardio")
