"""Occlusion against each row's nearest normal neighbours, for detectors without feature errors.

For a row ``x`` and a column ``c``, each reference row ``b`` gives the score
change ``s(x) - s(x with c's encoded features taken from b)``. The column's
raw effect is the mean change over the references, clipped at 0, because a
column whose replacement makes the row look more anomalous is no reason for
its score. Only ``anomaly_score`` is needed from the detector.

The references are the ``n_neighbors`` rows of the stored background pool
(typical training rows) nearest to ``x``. Columns depend on each other, so a
value copied from an unrelated normal row can itself look abnormal next to
the rest of ``x`` (a service with the wrong protocol). Near neighbours share
``x``'s context, so they replace a column with a value that is normal *for
rows like x*; this approximates the conditional distribution of the column
given the others by nearby training rows. The distance leaves out the
column that differs most, so one damaged column does not pull the choice
of neighbours towards rows that share its abnormal value.

Guarantees and limits:

* The raw effects are rescaled so a row's contributions sum to its score and
  stay proportional to the raw effects. A row where no single column lowers
  the score (its anomaly lies in an interaction of columns that one
  replacement cannot undo) gets all-zero contributions.
* Each row is explained on its own against the fixed pool, so a row gets
  the same explanation alone or in any batch, as long as the detector scores
  each row independently of the others in its batch.
* The cost is up to ``n_columns * n_neighbors`` scored rows per explained
  row; replacements that leave the row unchanged are not scored.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from unseen import progress

DEFAULT_NEIGHBORS = 16
# Rows per anomaly_score call; bounds memory at this many encoded rows.
MAX_STACKED_ROWS = 65_536


def nearest_references(
    matrix: np.ndarray, pool: np.ndarray, owners: np.ndarray, n_columns: int, n_neighbors: int
) -> np.ndarray:
    """Return, per row, the indices of its ``n_neighbors`` nearest pool rows.

    The distance is the squared Euclidean distance in the encoded space,
    summed per input column, without the column that differs most.
    """
    k = min(n_neighbors, len(pool))
    membership = np.zeros((len(owners), n_columns))
    membership[np.arange(len(owners)), owners] = 1.0
    chunk = max(1, MAX_STACKED_ROWS // len(pool))
    nearest = np.empty((len(matrix), k), dtype=np.int64)
    for start in range(0, len(matrix), chunk):
        rows = matrix[start : start + chunk].astype(np.float64)
        squared = (rows[:, None, :] - pool[None, :, :].astype(np.float64)) ** 2
        per_column = squared @ membership
        distance = per_column.sum(axis=2) - per_column.max(axis=2)
        # Stable sort so ties resolve to the lower pool index in any batch.
        nearest[start : start + chunk] = np.argsort(distance, axis=1, kind="stable")[:, :k]
    return nearest


def occlusion_effects(
    score: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    pool: np.ndarray,
    owners: np.ndarray,
    n_columns: int,
    base_scores: np.ndarray,
    n_neighbors: int = DEFAULT_NEIGHBORS,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean score drop, index of the best pool row) per row and column.

    ``score`` maps an encoded matrix to anomaly scores and ``base_scores`` are
    its scores on ``matrix``. The best pool row is the reference whose value
    lowered the score most; it gives the expected value of the column.
    """
    n_rows = matrix.shape[0]
    references = nearest_references(matrix, pool, owners, n_columns, n_neighbors)
    k = references.shape[1]
    effects = np.zeros((n_rows, n_columns))
    best = np.zeros((n_rows, n_columns), dtype=np.int64)
    chunk = max(1, MAX_STACKED_ROWS // k)
    for start in range(0, n_rows, chunk):
        rows = matrix[start : start + chunk]
        chosen = references[start : start + chunk]
        neighbours = pool[chosen]
        for column in range(n_columns):
            mask = owners == column
            replaced = np.repeat(rows[:, None, :], k, axis=1)
            replaced[:, :, mask] = neighbours[:, :, mask]
            changed = np.any(replaced[:, :, mask] != rows[:, None, mask], axis=2)
            # An unchanged row keeps its score, so only changed rows are scored.
            drops = np.zeros(changed.shape)
            if changed.any():
                base = np.broadcast_to(base_scores[start : start + chunk, None], changed.shape)
                # Neighbours often share a column's value (categories, counts), so
                # many replaced rows repeat; each distinct row is scored once.
                distinct, inverse = np.unique(replaced[changed], axis=0, return_inverse=True)
                drops[changed] = base[changed] - score(distinct)[inverse.ravel()]
            effects[start : start + chunk, column] = drops.mean(axis=1)
            best[start : start + chunk, column] = chosen[
                np.arange(len(rows)), np.argmax(drops, axis=1)
            ]
        progress.report("explaining rows", min(start + chunk, n_rows), n_rows)
    return effects, best


def scale_to_scores(effects: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Clip effects at 0 and rescale each row to sum to its score; all-zero rows stay 0."""
    positive = np.maximum(effects, 0.0)
    totals = positive.sum(axis=1, keepdims=True)
    safe = np.where(totals > 0, totals, 1.0)
    return np.where(totals > 0, positive / safe * scores[:, None], 0.0)
