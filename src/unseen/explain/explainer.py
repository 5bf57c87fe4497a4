"""The fitted explainer that a pipeline stores next to its detector.

``ColumnExplainer`` picks the attribution method for a detector:

* reconstruction detectors (``feature_errors`` is not None) are split exactly
  by their per-feature errors, and the expected values come from decoding
  their reconstruction;
* detectors that read raw columns (``needs_raw_frame``, the rules detector)
  report the weight of the rules each column met, and the expected value is
  the training median or mode;
* the isolation forest is split along each row's isolation paths
  (``unseen.explain.paths``), compared with the row's nearest background row;
* every other detector (kNN, discriminator and distance
  scores, ensembles) is explained by occlusion against the row's nearest
  neighbours in a pool of typical training rows (the background), which
  ``fit`` draws and the model file stores.

Explanations depend only on the frozen detector and the stored background, so
any row, seen in training or not, can be explained on its own.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from unseen.detectors.sklearn_wrappers import IsolationForestDetector
from unseen.errors import ModelFileError, NotFittedError, UnseenError
from unseen.explain.attribution import (
    FEATURE_ERRORS,
    OCCLUSION,
    RECONSTRUCTION,
    RULES,
    Attribution,
)
from unseen.explain.background import DEFAULT_BACKGROUND_SIZE, select_background
from unseen.explain.occlusion import DEFAULT_NEIGHBORS, occlusion_effects, scale_to_scores
from unseen.explain.paths import ISOLATION_PATHS, isolation_path_attribution
from unseen.explain.reconstruction import (
    expected_from_reconstruction,
    reconstruction_contributions,
)

logger = logging.getLogger(__name__)

BACKGROUND_KEY = "background"
CONTRACT_CHECK_ROWS = 64
METHODS = ("auto", "occlusion")


class ColumnExplainer:
    """Attribute anomaly scores to the input columns of a fitted pipeline.

    Parameters
    ----------
    background_size : int, default=256
        Typical training rows kept as the pool of occlusion references.
    n_neighbors : int, default=16
        Pool rows nearest to an explained row that occlusion averages over.
    method : {"auto", "occlusion"}, default="auto"
        "auto" picks the method from the detector as described above;
        "occlusion" uses occlusion for every detector that scores encoded
        rows, which trades the exact error split of reconstruction models for
        robustness to errors that spread to correlated columns, and the
        isolation-path split of the isolation forest for single-column
        replacement.
    random_state : int or None, default=None
        Seed for drawing the background rows.

    Attributes
    ----------
    background_ : ndarray of shape (n_background, n_features)
        Encoded background rows (float32).
    """

    def __init__(
        self,
        background_size: int = DEFAULT_BACKGROUND_SIZE,
        n_neighbors: int = DEFAULT_NEIGHBORS,
        random_state=None,
        method: str = "auto",
    ):
        self.background_size = background_size
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.method = method

    def fit(
        self, detector, train_matrix: np.ndarray, raw_frame: pd.DataFrame | None = None
    ) -> ColumnExplainer:
        """Draw the background from the rows a fitted ``detector`` was trained on.

        ``raw_frame`` is the training table as read, for detectors that score
        raw columns.
        """
        if _needs_raw_frame(detector):
            # Rule hits do not measure how typical a row is, so rows are drawn uniformly.
            scores = np.zeros(len(train_matrix))
        else:
            scores = detector.anomaly_score(train_matrix)
        self.background_ = select_background(
            train_matrix, scores, self.background_size, self.random_state
        )
        return self

    def attribute(
        self,
        detector,
        preprocessor,
        matrix: np.ndarray,
        raw_frame: pd.DataFrame | None = None,
        method: str | None = None,
    ) -> Attribution:
        """Explain every row of an encoded ``matrix`` with the fitted ``detector``.

        ``raw_frame`` contains the same rows as read; only detectors that score
        raw columns need it. ``method`` overrides the ``method`` parameter for
        this call.
        """
        method = self.method if method is None else method
        if not hasattr(self, "background_"):
            raise NotFittedError("this ColumnExplainer is not fitted yet: call fit first")
        if method not in METHODS:
            raise UnseenError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        matrix = np.asarray(matrix, dtype=np.float32)
        columns = list(preprocessor.schema.feature_names)
        owners = preprocessor.feature_columns_
        if _needs_raw_frame(detector):
            scores = detector.anomaly_score(matrix, raw_frame=raw_frame)
            contributions = detector.column_contributions(raw_frame, columns)
            expected = self._typical(preprocessor, len(matrix))
            return Attribution(columns, scores, contributions, expected, RULES)
        if method == "auto" and isinstance(detector, IsolationForestDetector):
            scores, contributions, nearest = isolation_path_attribution(
                detector, matrix, self.background_, owners, len(columns)
            )
            background_values = expected_from_reconstruction(preprocessor, self.background_)
            return Attribution(
                columns, scores, contributions, background_values[nearest], ISOLATION_PATHS
            )
        errors = detector.feature_errors(matrix) if method == "auto" else None
        if errors is not None:
            scores = _scores_from_errors(detector, matrix, errors)
            contributions = reconstruction_contributions(errors, scores, owners, len(columns))
            reconstruction = detector.reconstruct(matrix)
            if reconstruction is None:
                # Per-feature errors without a decoder (robust z-scores): the
                # expected value is the typical training value.
                return Attribution(
                    columns,
                    scores,
                    contributions,
                    self._typical(preprocessor, len(matrix)),
                    FEATURE_ERRORS,
                )
            expected = expected_from_reconstruction(preprocessor, reconstruction)
            return Attribution(columns, scores, contributions, expected, RECONSTRUCTION)
        scores = detector.anomaly_score(matrix)
        effects, best = occlusion_effects(
            detector.anomaly_score,
            matrix,
            self.background_,
            owners,
            len(columns),
            scores,
            self.n_neighbors,
        )
        background_values = expected_from_reconstruction(preprocessor, self.background_)
        expected = np.take_along_axis(background_values, best, axis=0)
        contributions = scale_to_scores(effects, scores)
        return Attribution(columns, scores, contributions, expected, OCCLUSION)

    @staticmethod
    def _typical(preprocessor, n_rows: int) -> np.ndarray:
        """Return the training medians and modes, repeated for ``n_rows`` rows."""
        typical = expected_from_reconstruction(preprocessor, preprocessor.reference_row()[None])
        return np.repeat(typical, n_rows, axis=0)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return (JSON-compatible values, named arrays) for a model file."""
        values = {
            "background_size": self.background_size,
            "n_neighbors": self.n_neighbors,
            "random_state": self.random_state,
            "method": self.method,
        }
        return values, {BACKGROUND_KEY: np.ascontiguousarray(self.background_)}

    @classmethod
    def from_state(cls, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> ColumnExplainer:
        """Rebuild an explainer written by ``get_state``."""
        explainer = cls(
            values["background_size"],
            values.get("n_neighbors", DEFAULT_NEIGHBORS),
            values.get("random_state"),
            values.get("method", "auto"),
        )
        background = np.asarray(arrays[BACKGROUND_KEY], dtype=np.float32)
        if background.ndim != 2 or background.shape[0] == 0:
            raise ModelFileError(
                f"the explanation background has shape {background.shape}; "
                "expected (rows, features)"
            )
        explainer.background_ = background
        return explainer

    @classmethod
    def from_reference_row(cls, reference_row: np.ndarray) -> ColumnExplainer:
        """Build an explainer whose background is one typical row (medians, modes).

        Model files written before the background sample existed load with it.
        """
        explainer = cls(background_size=1, n_neighbors=1)
        explainer.background_ = np.asarray(reference_row, dtype=np.float32)[None, :]
        return explainer


def _needs_raw_frame(detector) -> bool:
    return bool(getattr(detector, "needs_raw_frame", False))


def _scores_from_errors(detector, matrix: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Return the anomaly scores, as row sums of ``errors`` when the detector honours that.

    Per the detector contract, per-feature errors sum to the score, which
    saves a second pass through the model. The contract is checked on the
    first ``CONTRACT_CHECK_ROWS`` rows; a detector that breaks it is scored in
    full, and ``reconstruction_contributions`` rescales its errors.
    """
    sample = matrix[:CONTRACT_CHECK_ROWS]
    totals = errors.sum(axis=1)
    if np.allclose(totals[: len(sample)], detector.anomaly_score(sample), rtol=1e-6, atol=1e-12):
        return totals
    return detector.anomaly_score(matrix)
