"""Metrics for scores against labels on heavily imbalanced data."""

from unseen.evaluation.metrics import binary_labels, evaluate_scores

__all__ = ["binary_labels", "evaluate_scores"]
