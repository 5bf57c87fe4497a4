"""Run detectors on labelled datasets under the protocol and collect one row per run.

A candidate is either ``unseen:<registered name>``, fitted as a whole
``AnomalyPipeline`` (schema, preprocessing, detector and conformal
calibration), or ``pyod:<peer name>``, fitted on the matrices of a
preprocessor fitted on the same training split. Fit time covers everything
up to a model that can flag rows. Scoring speed is measured on the test
split repeated to at least ``SCORING_ROWS`` rows, from table to scores.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from unseen.bench.measure import measure
from unseen.bench.peers import PEERS, peer_factory, pyod_available
from unseen.bench.protocol import DEFAULT_MAX_ROWS, SETTINGS, LabelledData, Split, make_split
from unseen.data import infer_schema
from unseen.detectors import make_detector
from unseen.errors import UnseenError
from unseen.preprocessing import TabularPreprocessor

logger = logging.getLogger(__name__)

SCORING_ROWS = 20_000


@dataclass
class RunResult:
    """One detector on one dataset, seed and setting; the columns of the results CSV."""

    dataset: str
    setting: str
    seed: int
    detector: str
    n_train: int
    n_train_anomalies: int
    n_test: int
    n_test_anomalies: int
    n_features: int
    auroc: float = float("nan")
    average_precision: float = float("nan")
    fit_seconds: float = float("nan")
    score_rows_per_second: float = float("nan")
    fit_peak_rss_mb: float = float("nan")
    error: str = ""


RESULT_COLUMNS = [f.name for f in fields(RunResult)]


def resolve_candidates(names: Iterable[str]) -> list[str]:
    """Check ``unseen:NAME`` / ``pyod:NAME`` candidates; a bare name means ``unseen:``."""
    resolved = []
    for raw in names:
        source, sep, name = raw.partition(":")
        if not sep:
            source, name = "unseen", raw
        if source == "unseen":
            make_detector(name)  # raises UnseenError naming the registered detectors
        elif source == "pyod":
            if name not in PEERS:
                raise UnseenError(f"unknown PyOD peer {name!r}; choose from: {', '.join(PEERS)}")
            if not pyod_available():
                raise UnseenError("PyOD peers need the bench extra: pip install 'unseen[bench]'")
        else:
            raise UnseenError(f"candidate {raw!r} must look like unseen:NAME or pyod:NAME")
        resolved.append(f"{source}:{name}")
    return resolved


def _repeat_to(frame: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    repeats = max(1, -(-n_rows // len(frame)))
    return pd.concat([frame] * repeats, ignore_index=True)


def _run_unseen(name: str, split: Split, result: RunResult) -> np.ndarray:
    from unseen.pipeline import AnomalyPipeline

    pipeline = AnomalyPipeline(detector=name, random_state=split.seed)
    with measure() as fitting:
        pipeline.fit(split.train)
    result.fit_seconds, result.fit_peak_rss_mb = fitting.seconds, fitting.peak_rss_growth_mb
    scores = pipeline.anomaly_score(split.test)
    timing_rows = _repeat_to(split.test, SCORING_ROWS)
    with measure() as scoring:
        pipeline.anomaly_score(timing_rows)
    result.score_rows_per_second = len(timing_rows) / scoring.seconds
    return scores


def _run_peer(name: str, split: Split, result: RunResult) -> np.ndarray:
    make = peer_factory(name)
    with measure() as fitting:
        preprocessor = TabularPreprocessor(infer_schema(split.train)).fit(split.train)
        train_matrix, _ = preprocessor.transform(split.train)
        detector = make(train_matrix.shape[1], split.seed)
        detector.fit(train_matrix)
    result.fit_seconds, result.fit_peak_rss_mb = fitting.seconds, fitting.peak_rss_growth_mb
    scores = detector.decision_function(preprocessor.transform(split.test)[0])
    timing_rows = _repeat_to(split.test, SCORING_ROWS)
    with measure() as scoring:
        detector.decision_function(preprocessor.transform(timing_rows)[0])
    result.score_rows_per_second = len(timing_rows) / scoring.seconds
    return np.asarray(scores, dtype=np.float64)


def run_one(candidate: str, split: Split) -> RunResult:
    """Fit and evaluate one candidate on one split; failures are recorded, not raised."""
    source, _, name = candidate.partition(":")
    result = RunResult(
        dataset=split.dataset,
        setting=split.setting,
        seed=split.seed,
        detector=candidate,
        n_train=len(split.train),
        n_train_anomalies=split.n_train_anomalies,
        n_test=len(split.test),
        n_test_anomalies=int(split.test_labels.sum()),
        n_features=split.train.shape[1],
    )
    try:
        run = _run_unseen if source == "unseen" else _run_peer
        with warnings.catch_warnings():
            # Small-data warnings (few calibration rows, constant columns) would
            # repeat for every run and say nothing about ranking quality.
            warnings.simplefilter("ignore")
            scores = run(name, split, result)
        if not np.isfinite(scores).all():
            raise UnseenError("the detector returned non-finite scores")
        result.auroc = float(roc_auc_score(split.test_labels, scores))
        result.average_precision = float(average_precision_score(split.test_labels, scores))
    except Exception as exc:  # one failing detector must not end a long benchmark
        logger.warning("%s failed on %s: %s", candidate, split.dataset, exc)
        result.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
    return result


def _done_keys(path: Path) -> set[tuple]:
    if not path.exists() or path.stat().st_size == 0:
        return set()
    done = pd.read_csv(path)
    return {
        (row.dataset, row.setting, int(row.seed), row.detector)
        for row in done.itertuples(index=False)
    }


def run_benchmark(
    datasets: Iterable[LabelledData],
    candidates: list[str],
    *,
    seeds: Iterable[int] = (0,),
    settings: Iterable[str] = SETTINGS,
    max_rows: int = DEFAULT_MAX_ROWS,
    results_path: str | os.PathLike | None = None,
    resume: bool = False,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Run every candidate on every dataset, seed and setting; return one row per run.

    With ``results_path`` each row is appended to that CSV as soon as it is
    measured, so a long run can be watched; ``resume=True`` skips the runs
    the file already contains and returns old and new rows together. ``threads``
    sets torch's thread count for unseen and PyOD alike (None leaves it).
    """
    candidates = resolve_candidates(candidates)
    if threads is not None:
        torch.set_num_threads(threads)
    settings, seeds = list(settings), list(seeds)
    path = Path(results_path) if results_path is not None else None
    done = _done_keys(path) if path is not None and resume else set()
    if path is not None and not resume:
        path.unlink(missing_ok=True)
    rows: list[dict] = []
    for data in datasets:
        for seed in seeds:
            for setting in settings:
                split = make_split(data, seed, setting, max_rows)
                for candidate in candidates:
                    if (data.name, setting, seed, candidate) in done:
                        continue
                    row = asdict(run_one(candidate, split))
                    logger.info(
                        "%s %s seed %d %s: AUROC %.4f, fit %.2fs",
                        data.name,
                        setting,
                        seed,
                        candidate,
                        row["auroc"],
                        row["fit_seconds"],
                    )
                    rows.append(row)
                    if path is not None:
                        _append_row(path, row)
    new = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    if path is not None and resume and done:
        return pd.read_csv(path, keep_default_na=False, na_values=["", "nan"])
    return new


def _append_row(path: Path, row: dict) -> None:
    new_file = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        if new_file:
            writer.writeheader()
        writer.writerow(row)
