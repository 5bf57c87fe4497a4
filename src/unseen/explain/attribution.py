"""Attribute each row's anomaly score to the input columns.

Reconstruction detectors split their score exactly into per-feature errors,
which are summed per input column (one-hot blocks and missing-value
indicators fold back into the column they encode). Other detectors use
occlusion: each column in turn is replaced by its value in a typical training
row (median, mode), and the drop in score is that column's contribution.
"""

from __future__ import annotations

import numpy as np


def fold_features(feature_values: np.ndarray, feature_columns: np.ndarray, n_columns: int):
    """Sum per-feature values into per-column values using the owner index of each feature."""
    folded = np.zeros((feature_values.shape[0], n_columns))
    for column in range(n_columns):
        folded[:, column] = feature_values[:, feature_columns == column].sum(axis=1)
    return folded


def column_contributions(pipeline, matrix: np.ndarray) -> np.ndarray:
    """Return a (rows, columns) array of non-negative score contributions."""
    preprocessor = pipeline.preprocessor_
    n_columns = len(pipeline.schema_.features)
    errors = pipeline.detector_.feature_errors(matrix)
    if errors is not None:
        return fold_features(errors, preprocessor.feature_columns_, n_columns)
    return occlusion_contributions(pipeline, matrix)


def occlusion_contributions(pipeline, matrix: np.ndarray) -> np.ndarray:
    """Return the score drop when each column is set to its typical training value."""
    preprocessor = pipeline.preprocessor_
    detector = pipeline.detector_
    reference = preprocessor.reference_row()
    base = detector.anomaly_score(matrix)
    n_columns = len(pipeline.schema_.features)
    contributions = np.zeros((matrix.shape[0], n_columns))
    for column in range(n_columns):
        mask = preprocessor.feature_columns_ == column
        occluded = matrix.copy()
        occluded[:, mask] = reference[mask]
        contributions[:, column] = np.maximum(base - detector.anomaly_score(occluded), 0.0)
    return contributions
