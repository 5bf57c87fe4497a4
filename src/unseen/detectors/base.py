"""The contract every detector implements.

A detector learns from a numeric matrix (the preprocessor's output) and scores
rows with ``anomaly_score``: higher means more anomalous. ``score_samples``
keeps scikit-learn's outlier-detector meaning (higher means more normal) and
is its negation. Thresholds, p-values and ``predict`` live in
``unseen.pipeline.AnomalyPipeline``, which calibrates a detector's scores.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from unseen.errors import DataError, NotFittedError, UnseenError


class BaseDetector(BaseEstimator):
    """Base class for detectors: scikit-learn parameters plus a safe fitted state.

    Subclasses set ``name`` and ``summary``, implement ``_fit`` and
    ``_anomaly_score``, and list fitted state in ``get_state``/``set_state`` as
    JSON-compatible values and named numpy arrays, so model files never need
    pickle.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    min_rows: ClassVar[int] = 2

    def fit(self, X: np.ndarray, y: None = None) -> BaseDetector:
        """Learn what normal rows look like from ``X`` (labels are not used)."""
        X = self._check_matrix(X, fitting=True)
        if X.shape[0] < self.min_rows:
            raise DataError(
                f"{type(self).__name__} needs at least {self.min_rows} rows to fit, "
                f"got {X.shape[0]}: pass more training rows"
            )
        self.n_features_in_ = X.shape[1]
        self._fit(X)
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        """Return one score per row; higher means more anomalous."""
        X = self._check_matrix(X)
        return np.asarray(self._anomaly_score(X), dtype=np.float64)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Return the negated anomaly score: higher means more normal (scikit-learn)."""
        return -self.anomaly_score(X)

    def feature_errors(self, X: np.ndarray) -> np.ndarray | None:
        """Return per-feature terms that sum to the anomaly score, or None.

        Reconstruction models return their per-feature errors; other detectors
        return None and are explained by ``unseen.explain``.
        """
        return None

    def has_out_of_sample_scores(self) -> bool:
        """Return True if ``fit`` also scores each training row without that row's influence."""
        return type(self).out_of_sample_scores is not BaseDetector.out_of_sample_scores

    def out_of_sample_scores(self) -> np.ndarray | None:
        """Return the training rows' out-of-sample scores from the last ``fit``, or None.

        Row ``i``'s score is computed as if row ``i`` had not been trained on
        (leave-one-out for kNN, out-of-bag trees for the isolation forest), so
        it is distributed like the score of a new row from the same data.
        ``AnomalyPipeline`` calibrates on these instead of holding rows out.
        They exist only after ``fit`` in this process; model files do not store them.
        """
        return None

    def reconstruct(self, X: np.ndarray) -> np.ndarray | None:
        """Return the model's reconstruction of ``X``, or None without a decoder."""
        return None

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return the fitted state as (JSON-compatible values, named arrays)."""
        raise NotImplementedError

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore the fitted state written by ``get_state``."""
        raise NotImplementedError

    def _fit(self, X: np.ndarray) -> None:
        raise NotImplementedError

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")

    def _check_matrix(self, X: np.ndarray, fitting: bool = False) -> np.ndarray:
        if not fitting:
            self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise DataError(f"expected a 2-D matrix of shape (rows, features), got shape {X.shape}")
        if X.shape[0] == 0:
            raise DataError("no rows to process: pass at least one row")
        if not np.isfinite(X).all():
            raise DataError("the matrix contains NaN or infinite values: impute them first")
        if not fitting and X.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_in_}"
            )
        return X


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum``; raise ``UnseenError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UnseenError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> float:
    """Return ``value`` if it is a number in the open interval (low, high)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        raise UnseenError(f"{name} must be a number between {low} and {high}, got {value!r}")
    return float(value)
