"""Exact attributions for reconstruction detectors.

A reconstruction detector's ``feature_errors`` are per-feature terms that sum
to its anomaly score. Folding them per input column splits the score exactly,
and decoding the reconstruction gives the value the model expected in each
column (``TabularPreprocessor.expected_values``).
"""

from __future__ import annotations

import logging

import numpy as np

from unseen.data.schema import ColumnKind
from unseen.explain.attribution import fold_features

logger = logging.getLogger(__name__)


def reconstruction_contributions(
    feature_errors: np.ndarray, scores: np.ndarray, feature_columns: np.ndarray, n_columns: int
) -> np.ndarray:
    """Fold per-feature errors into columns; rescale only if they do not sum to the score.

    The detector contract says the errors sum to the score. A detector that
    adds a term outside the errors (a latent penalty, say) breaks that, and its
    folded errors are then rescaled to the score so shares stay meaningful.
    """
    folded = fold_features(feature_errors, feature_columns, n_columns)
    totals = folded.sum(axis=1)
    if np.allclose(totals, scores, rtol=1e-6, atol=1e-12):
        return folded
    logger.warning(
        "feature errors do not sum to the anomaly score (largest gap %.3g); "
        "contributions are rescaled to the score",
        float(np.max(np.abs(totals - scores))),
    )
    safe = np.where(totals != 0, totals, 1.0)
    return np.where(totals[:, None] != 0, folded / safe[:, None] * scores[:, None], 0.0)


def expected_from_reconstruction(preprocessor, reconstruction: np.ndarray) -> np.ndarray:
    """Decode a reconstruction into an object array of expected values (rows, columns)."""
    decoded = preprocessor.expected_values(np.asarray(reconstruction, dtype=np.float64))
    expected = np.empty((reconstruction.shape[0], len(decoded)), dtype=object)
    features = preprocessor.schema.features
    for index, (column, values) in enumerate(zip(features, decoded, strict=True)):
        if column.kind == ColumnKind.BOOLEAN:
            values = _boolean_labels(preprocessor.params_[column.name], values)
        expected[:, index] = values
    return expected


def _boolean_labels(params: dict, flags: list[bool]) -> list[str]:
    """Map decoded true/false flags back to the column's own spelling, such as "1"/"0"."""
    others = [value for value in params["known"] if value != params["true"]]
    false_text = others[0] if len(others) == 1 else "false"
    return [params["true"] if flag else false_text for flag in flags]
