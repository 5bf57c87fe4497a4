"""Loaded models: the pipeline, its record checks, its file identity and scoring."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from unseen.errors import UnseenError
from unseen.pipeline import AnomalyPipeline
from unseen.service.batching import MicroBatcher
from unseen.service.records import RecordValidator

logger = logging.getLogger(__name__)

# Model names appear in URLs and metric labels.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ScoreOptions(NamedTuple):
    """Per-request options of ``AnomalyPipeline.detect``; records batch only with equal ones."""

    top_k: int
    reasons_for: str


@dataclass
class LoadedModel:
    """A fitted pipeline served under ``name``."""

    name: str
    path: Path
    pipeline: AnomalyPipeline
    file_sha256: str
    validator: RecordValidator
    batcher: MicroBatcher | None = field(default=None, repr=False)

    def score_frame(
        self, frame: pd.DataFrame, options: ScoreOptions
    ) -> tuple[list[dict[str, Any]], dict]:
        """Run ``detect`` on ``frame``; return one plain result dict per row and the
        transform report."""
        result = self.pipeline.detect(frame, top_k=options.top_k, reasons_for=options.reasons_for)
        rows = result_rows(result, self.pipeline.schema_.id_columns, options.top_k)
        return rows, result.attrs["transform_report"]

    def score_rows(self, rows: list[dict[str, Any]], options: ScoreOptions) -> list[dict[str, Any]]:
        """Score records converted by ``RecordValidator.check_records`` (batcher entry point)."""
        results, _ = self.score_frame(self.validator.frame(rows), options)
        return results


def result_rows(result: pd.DataFrame, id_columns: list[str], top_k: int) -> list[dict[str, Any]]:
    """Convert ``detect`` output to dicts of plain Python values, one per row."""
    ids = [name for name in id_columns if name in result.columns]
    id_values = {name: _plain(result[name]) for name in ids}
    scores = result["anomaly_score"].astype(float).tolist()
    p_values = result["p_value"].astype(float).tolist()
    flags = result["is_anomaly"].astype(bool).tolist()
    reason_columns = []
    rank = 1
    while rank <= top_k and f"reason_{rank}" in result.columns:
        columns = result[f"reason_{rank}"].tolist()
        shares = result[f"reason_{rank}_share"].astype(float).tolist()
        observed = _optional_column(result, f"reason_{rank}_observed")
        expected = _optional_column(result, f"reason_{rank}_expected")
        reason_columns.append((columns, shares, observed, expected))
        rank += 1
    rows = []
    for index in range(len(result)):
        reasons = [
            {
                "column": columns[index],
                "share": shares[index],
                "observed": observed[index],
                "expected": expected[index],
            }
            for columns, shares, observed, expected in reason_columns
            if isinstance(columns[index], str)  # rows left unexplained have None
        ]
        rows.append(
            {
                "ids": {name: values[index] for name, values in id_values.items()},
                "anomaly_score": scores[index],
                "p_value": p_values[index],
                "is_anomaly": flags[index],
                "reasons": reasons,
            }
        )
    return rows


def _optional_column(result: pd.DataFrame, name: str) -> list[str | None]:
    if name not in result.columns:
        return [None] * len(result)
    return [value if isinstance(value, str) else None for value in result[name].tolist()]


def _plain(values: pd.Series) -> list[Any]:
    # NaN ids (a missing id in a float column) become null, which JSON can carry.
    return [None if isinstance(v, float) and np.isnan(v) else v for v in values.tolist()]


def parse_model_spec(spec: str) -> tuple[str, Path]:
    """Split ``name=path`` or a bare path (named after its stem) into (name, path)."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).stem, spec
    if not MODEL_NAME.match(name):
        raise UnseenError(
            f"invalid model name {name!r} in {spec!r}: use 1-64 letters, digits, '_', '.' "
            "or '-', starting with a letter or digit (give one as name=path)"
        )
    return name, Path(path)


def load_model(name: str, path: Path) -> LoadedModel:
    """Read, verify and prepare one model file; raises ``ModelFileError`` if invalid."""
    if not MODEL_NAME.match(name):
        raise UnseenError(f"invalid model name {name!r}: use letters, digits, '_', '.' or '-'")
    started = time.perf_counter()
    pipeline = AnomalyPipeline.load(path)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    model = LoadedModel(name, Path(path), pipeline, digest, RecordValidator(pipeline))
    logger.info(
        "loaded model %s from %s",
        name,
        path,
        extra={
            "event": "model_loaded",
            "model": name,
            "detector": pipeline.detector_.name,
            "n_features": len(pipeline.schema_.features),
            "sha256": digest,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return model
