"""Turn a table of records into a numeric matrix, fitted on training data only."""

from unseen.preprocessing.tabular import TabularPreprocessor, TransformReport

__all__ = ["TabularPreprocessor", "TransformReport"]
