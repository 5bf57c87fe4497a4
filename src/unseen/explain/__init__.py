"""Per-column explanations of anomaly scores: per record and across a table."""

from unseen.explain.attribution import Attribution, column_contributions, fold_features
from unseen.explain.explainer import ColumnExplainer
from unseen.explain.importance import global_importance
from unseen.explain.table import explain_table

__all__ = [
    "Attribution",
    "ColumnExplainer",
    "column_contributions",
    "explain_table",
    "fold_features",
    "global_importance",
]
