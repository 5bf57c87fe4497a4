"""The background sample: a few typical training rows that stand in for "normal".

Occlusion replaces a column by its value in each background row and averages
the effect, so the reference is a spread of real normal values instead of one
median row that may not occur in the data (a median of every column at once).
The sample is drawn once at fit time and stored with the model, so every later
explanation uses the same reference.
"""

from __future__ import annotations

import numpy as np

from unseen.errors import UnseenError

DEFAULT_BACKGROUND_SIZE = 256
# Training data may contain some anomalies, so the rows with the highest
# training scores are not drawn. Keeping the lowest 90% leaves most of the
# variety of normal rows in the pool.
TYPICAL_QUANTILE = 0.9


def select_background(
    matrix: np.ndarray,
    scores: np.ndarray,
    size: int = DEFAULT_BACKGROUND_SIZE,
    random_state: int | None = None,
) -> np.ndarray:
    """Draw up to ``size`` encoded rows at random among the typical rows of ``matrix``.

    Typical rows are those whose anomaly score is at most the
    ``TYPICAL_QUANTILE`` quantile of ``scores``. Rows come back in their order
    in ``matrix``, so the same seed and data give the same sample.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise UnseenError(f"background_size must be an integer >= 1, got {size!r}")
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    if finite.any():
        cutoff = np.quantile(scores[finite], TYPICAL_QUANTILE)
        pool = np.flatnonzero(finite & (scores <= cutoff))
    else:
        pool = np.arange(len(matrix))
    rng = np.random.default_rng(random_state)
    chosen = np.sort(rng.choice(pool, size=min(int(size), pool.size), replace=False))
    return np.asarray(matrix[chosen], dtype=np.float32)
