"""Data sources and schema inference for tabular records."""

from unseen.data.schema import ColumnKind, Schema, infer_schema
from unseen.data.sources import read_table

__all__ = ["ColumnKind", "Schema", "infer_schema", "read_table"]
