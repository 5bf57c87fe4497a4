"""unseen: deep-learning anomaly detection for tables of records."""

from unseen._version import __version__
from unseen.pipeline import AnomalyPipeline

__all__ = ["AnomalyPipeline", "__version__"]
