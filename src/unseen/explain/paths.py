"""Isolation-path attributions for the isolation forest.

An isolation forest scores a row by how few random splits it takes to isolate
it, so the splits on the row's own path are what the score is made of. This
module credits each split on the path to its split feature, in the spirit of
DIFFI (Carletti, Terzi and Susto, "Interpretable Anomaly Detection with
DIFFI: Depth-based Feature Importance of Isolation Forest", Engineering
Applications of Artificial Intelligence, 2023), which weights splits by how
early and how unevenly they separate a point from the rest.

The weight used here is the *path-length gain* of a split. Every node ``v``
of a tree has an expected isolation depth for the rows that reach it,
``E(v) = depth(v) - 1 + c(n(v))``, where ``n(v)`` is the number of training
rows (of the tree's subsample) that reached ``v`` and ``c`` is the average
path length of Liu, Ting and Zhou (2008). At the root this is ``c(psi)``, the
normal depth; at a leaf it is the row's path length ``h(x)`` as the score
counts it. A split from ``v`` to the child ``w`` the row follows gains
``E(v) - E(w) = c(n(v)) - 1 - c(n(w))``: positive when the row lands among
few training rows (the split isolates it), negative when it stays with the
bulk. The gains along a path telescope to ``c(psi) - h(x)``, so summed over
trees they split the row's shortening of the average path, which is what
the score ``2 ** (-mean h / c(psi))`` measures, exactly into features. This
is the path decomposition of Saabas ("Interpreting random forests", 2014)
applied to the expected isolation depth. Compared with DIFFI's local weights
(the same weight ``1 / h(x)`` for every split of a path), a split near the
root that cuts a row off from most of the subsample counts much more than a
late split between two near-identical rows, and a split that leaves the row
in the bulk counts against its feature.

Gains alone also credit features that isolate every row a little, such as
heavy-tailed counts where random cuts often land in the tail. So a row's
gains are compared with those of its nearest typical training row (the
background pool of ``unseen.explain.background``, with the neighbour
distance of ``unseen.explain.occlusion`` that leaves out the column that
differs most). The differences sum to ``h(b) - h(x)`` over the trees: how
much shorter the row's paths are than its neighbour's, feature by feature.
They are folded into input columns, clipped at 0 (a column whose splits
isolate the row no sooner than its neighbour is no reason for its score) and
rescaled so a row's contributions sum to its anomaly score. A row that no
column isolates sooner than its neighbour falls back to its own net gains,
then to the positive gains of its splits; only a row with no isolating split
at all gets all-zero contributions.

The traversal is numpy over all (row, tree) pairs at once, one tree level
per step, on the node arrays the detector scores from; each row is walked on
its own, so a row gets the same answer alone or in any batch.
"""

from __future__ import annotations

import numpy as np

from unseen.detectors.sklearn_wrappers import isolation_probabilities, stack_trees
from unseen.explain.attribution import fold_features
from unseen.explain.occlusion import nearest_references, scale_to_scores

# Rows traversed together; each row walks every tree, so memory is bounded by
# this many rows times the number of trees (about 100 bytes per pair).
ROW_CHUNK = 4096
ISOLATION_PATHS = "isolation_paths"


def path_gains(
    matrix: np.ndarray,
    forest: dict[str, np.ndarray],
    n_features: int,
    range_aware: bool = False,
) -> tuple:
    """Return (net gain, positive gain) per row and encoded feature, summed over trees.

    ``forest`` comes from ``stack_trees``. Rows go left when
    ``x <= threshold``, as in scikit-learn, so the paths are the ones the
    score follows. Each row is walked on its own, so a row's gains do not
    depend on the other rows of its batch.

    With ``range_aware`` a node may isolate the row with probability ``p``
    (``isolation_probabilities``). Its gain is then
    ``E(v) - p * depth(v) - (1 - p) * E(w)``, weighted by the chance ``q``
    that no earlier node isolated the row; these still telescope to the
    row's shortening of the expected path (the scored one).
    """
    n_rows = len(matrix)
    net = np.zeros((n_rows, n_features))
    positive = np.zeros((n_rows, n_features))
    n_trees = len(forest["roots"])
    for start in range(0, n_rows, ROW_CHUNK):
        rows = np.asarray(matrix[start : start + ROW_CHUNK], dtype=np.float64)
        count = len(rows)
        # One (row, tree) pair per entry; all pairs step down one level at a time.
        row_index = np.repeat(np.arange(count), n_trees)
        nodes = np.tile(forest["roots"], count)
        not_isolated = np.ones(len(nodes))
        while True:
            active = np.flatnonzero(~forest["leaf"][nodes])
            if active.size == 0:
                break
            current = nodes[active]
            split = forest["feature"][current]
            values = rows[row_index[active], split]
            child = np.where(
                values <= forest["threshold"][current],
                forest["left"][current],
                forest["right"][current],
            )
            chance = (
                isolation_probabilities(values, forest["low"][current], forest["high"][current])
                if range_aware
                else 0.0
            )
            gain = forest["expected"][current] - (
                chance * forest["depth"][current] + (1.0 - chance) * forest["expected"][child]
            )
            gain = not_isolated[active] * gain
            not_isolated[active] *= 1.0 - chance
            cells = row_index[active] * n_features + split
            size = count * n_features
            net[start : start + count] += np.bincount(cells, gain, size).reshape(count, -1)
            positive[start : start + count] += np.bincount(
                cells, np.maximum(gain, 0.0), size
            ).reshape(count, -1)
            nodes[active] = child
    return net, positive


def path_contributions(
    gains: np.ndarray,
    fallbacks: list[np.ndarray],
    scores: np.ndarray,
    feature_columns: np.ndarray,
    n_columns: int,
) -> np.ndarray:
    """Fold feature gains into columns, clip at 0 and scale each row to its score.

    A row with no positive column in ``gains`` takes the first array of
    ``fallbacks`` that has one (see the module notes).
    """
    folded = np.maximum(fold_features(gains, feature_columns, n_columns), 0.0)
    for fallback in fallbacks:
        empty = folded.sum(axis=1) <= 0
        if not empty.any():
            break
        folded[empty] = np.maximum(fold_features(fallback[empty], feature_columns, n_columns), 0.0)
    return scale_to_scores(folded, scores)


def isolation_path_attribution(
    detector,
    matrix: np.ndarray,
    background: np.ndarray,
    feature_columns: np.ndarray,
    n_columns: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explain rows of ``matrix`` with a fitted isolation forest ``detector``.

    Returns (anomaly scores, column contributions, index of the background
    row each row was compared with).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    scores = detector.anomaly_score(matrix)
    forest = stack_trees(detector.trees_)
    nearest = nearest_references(matrix, background, feature_columns, n_columns, 1)[:, 0]
    range_aware = bool(detector.range_aware)
    net, positive = path_gains(matrix, forest, detector.n_features_in_, range_aware)
    reference, _ = path_gains(background[nearest], forest, detector.n_features_in_, range_aware)
    contributions = path_contributions(
        net - reference, [net, positive], scores, feature_columns, n_columns
    )
    return scores, contributions, nearest
