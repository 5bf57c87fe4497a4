"""Ranking and threshold metrics for anomaly scores (label 1 = anomaly)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from unseen.errors import DataError


def evaluate_scores(
    labels: np.ndarray, scores: np.ndarray, flags: np.ndarray, k: int | None = None
) -> dict:
    """Return AUROC, average precision, precision at k and counts at the threshold.

    ``k`` defaults to the number of labelled anomalies, so precision at k equals
    R-precision. Recall and false-positive rate describe the flags, which come
    from the model's alarm rule.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.asarray(flags, dtype=bool)
    if set(np.unique(labels)) - {0, 1}:
        raise DataError("labels must be 0 (normal) and 1 (anomaly)")
    n_anomalies = int(labels.sum())
    if n_anomalies == 0 or n_anomalies == len(labels):
        raise DataError(
            "AUROC and average precision need both normal and anomalous rows, but every "
            f"label is {labels[0]}: evaluate on data that contains both"
        )
    k = n_anomalies if k is None else max(1, min(int(k), len(labels)))
    top_k = np.argsort(-scores, kind="stable")[:k]
    tp = int((flags & (labels == 1)).sum())
    fp = int((flags & (labels == 0)).sum())
    fn = int((~flags & (labels == 1)).sum())
    tn = int((~flags & (labels == 0)).sum())
    return {
        "n_rows": int(len(labels)),
        "n_anomalies": n_anomalies,
        "auroc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "k": k,
        "precision_at_k": float(labels[top_k].mean()),
        "recall_at_threshold": tp / n_anomalies,
        "false_positive_rate_at_threshold": fp / max(1, fp + tn),
        "precision_at_threshold": tp / max(1, tp + fp),
        "true_positives": tp,
        "false_positives": fp,
        "true_negatives": tn,
        "false_negatives": fn,
    }


def binary_labels(values, normal_values: list[str] | None = None) -> np.ndarray:
    """Map a label column to 0 (normal) and 1 (anomaly).

    Numeric 0/1 and booleans are used as they are. Text labels need
    ``normal_values``, except that a column containing the value ``"normal"``
    (as NSL-KDD and KDD Cup data do) treats that value as normal and every
    other value as an anomaly.
    """
    import pandas as pd

    series = pd.Series(values)
    if series.isna().any():
        raise DataError(
            f"the label column has {int(series.isna().sum())} missing value(s): "
            "label every row or drop the unlabelled ones"
        )
    if normal_values:
        return (~series.astype(str).str.strip().isin([str(v) for v in normal_values])).to_numpy(
            dtype=int
        )
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=int)
    if pd.api.types.is_numeric_dtype(series):
        distinct = {value.item() for value in np.unique(series.to_numpy())}
        if distinct <= {0, 1}:
            return series.to_numpy(dtype=int)
        raise DataError(
            f"numeric labels must be 0 (normal) and 1 (anomaly), found {sorted(distinct)[:5]}: "
            "name the normal value(s) explicitly"
        )
    text = series.astype(str).str.strip()
    if "normal" in set(text.str.lower()):
        return (text.str.lower() != "normal").to_numpy(dtype=int)
    raise DataError(
        f"cannot tell which labels are normal among {sorted(set(text))[:5]}: "
        "name the normal value(s) explicitly"
    )
