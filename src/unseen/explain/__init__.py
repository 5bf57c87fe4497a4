"""Per-column explanations of anomaly scores."""

from unseen.explain.attribution import column_contributions

__all__ = ["column_contributions"]
