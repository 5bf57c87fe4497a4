"""Per-column attributions of anomaly scores and the folding of encoded features.

An ``Attribution`` holds, for every explained row, one contribution per
original input column (schema feature column) and the value the model
expected in that column. One-hot blocks and missing-value indicators are
folded back into the column they encode, so explanations always name the
columns of the user's table, never encoded features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECONSTRUCTION = "reconstruction"
FEATURE_ERRORS = "feature_errors"
OCCLUSION = "occlusion"
RULES = "rules"


@dataclass
class Attribution:
    """Column contributions for a batch of rows.

    Attributes
    ----------
    columns : list of str
        Schema feature columns, in training order.
    scores : ndarray of shape (n_rows,)
        Anomaly scores of the explained rows.
    contributions : ndarray of shape (n_rows, n_columns)
        Contribution of each column to each row's score. Each row sums to its
        score, except rows where no single column lowers an occlusion score
        (all contributions are 0 there; see ``unseen.explain.occlusion``) and
        rules on columns that are not features.
    expected : ndarray of object, shape (n_rows, n_columns)
        The value the model expected in each column, in the column's own units
        or categories.
    method : str
        ``"reconstruction"`` (per-feature errors and reconstruction of the
        detector), ``"feature_errors"`` (per-feature errors, no reconstruction),
        ``"occlusion"`` (background-averaged occlusion) or ``"rules"`` (weight
        of the rules met per column).
    """

    columns: list[str]
    scores: np.ndarray
    contributions: np.ndarray
    expected: np.ndarray
    method: str

    @property
    def shares(self) -> np.ndarray:
        """Contributions divided by their row total; rows with no positive total get 0."""
        totals = self.contributions.sum(axis=1, keepdims=True)
        safe = np.where(totals > 0, totals, 1.0)
        return np.where(totals > 0, self.contributions / safe, 0.0)

    def ranking(self) -> np.ndarray:
        """Return column indices per row, largest contribution first (ties keep column order)."""
        return np.argsort(-self.contributions, axis=1, kind="stable")


def fold_features(
    feature_values: np.ndarray, feature_columns: np.ndarray, n_columns: int
) -> np.ndarray:
    """Sum per-feature values into per-column values using the owner index of each feature."""
    folded = np.zeros((feature_values.shape[0], n_columns))
    for column in range(n_columns):
        folded[:, column] = feature_values[:, feature_columns == column].sum(axis=1)
    return folded


def column_contributions(pipeline, matrix: np.ndarray) -> np.ndarray:
    """Return a (rows, columns) array of score contributions for an encoded matrix."""
    explainer = pipeline.explainer_
    return explainer.attribute(pipeline.detector_, pipeline.preprocessor_, matrix).contributions
