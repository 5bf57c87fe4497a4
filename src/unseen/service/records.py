"""Turn a score request body (JSON or CSV) into a table the pipeline accepts.

Each JSON record is checked against the model's schema before any scoring, so
a bad value is reported with its record index and field. Values of
categorical and boolean columns are converted to the text the preprocessor
compares against its training vocabulary, so ``1``, ``1.0`` and ``"1"`` from
JSON match the category that a CSV file read as ``1`` produced in training.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from unseen.data.schema import ColumnKind
from unseen.preprocessing.tabular import MISSING_CATEGORY
from unseen.service.errors import (
    MAX_REPORTED_DETAILS,
    PAYLOAD_TOO_LARGE,
    ServiceError,
    invalid_input,
)
from unseen.service.schemas import ErrorDetail

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")


class RecordValidator:
    """Check and convert request records for one fitted pipeline."""

    def __init__(self, pipeline):
        schema = pipeline.schema_
        params = pipeline.preprocessor_.params_
        self.feature_names = schema.feature_names
        self.id_columns = list(schema.id_columns)
        self.kinds = {column.name: column.kind for column in schema.features}
        self.numeric_names = {
            name for name, kind in self.kinds.items() if kind == ColumnKind.NUMERIC
        }
        self.categories = {
            name: set(params[name]["categories"])
            for name, kind in self.kinds.items()
            if kind == ColumnKind.CATEGORICAL
        }
        self.boolean_known = {
            name: set(params[name]["known"])
            for name, kind in self.kinds.items()
            if kind == ColumnKind.BOOLEAN
        }
        self.boolean_text = {
            name: _boolean_pair(params[name])
            for name, kind in self.kinds.items()
            if kind == ColumnKind.BOOLEAN
        }

    # ---------------------------------------------------------------- JSON

    def check_records(self, records: list[Any], max_records: int) -> list[dict[str, Any]]:
        """Return the records with converted values, or raise a 422 naming each bad one."""
        if not records:
            detail = ErrorDetail(field="records", message="no records: send one or more")
            raise invalid_input([detail])
        if len(records) > max_records:
            raise ServiceError(
                413,
                PAYLOAD_TOO_LARGE,
                f"{len(records)} records in one request, the limit is {max_records}: "
                "split the request",
            )
        details: list[ErrorDetail] = []
        total = 0
        rows = []
        for index, record in enumerate(records):
            problems = self._check_record(index, record)
            if problems:
                total += len(problems)
                details.extend(problems[: MAX_REPORTED_DETAILS - len(details)])
                continue
            rows.append(self._convert_record(record))
        if total:
            raise invalid_input(details, total)
        return rows

    def _check_record(self, index: int, record: Any) -> list[ErrorDetail]:
        if not isinstance(record, dict):
            return [
                ErrorDetail(
                    record=index,
                    message=f"expected an object of column values, got {_json_type(record)}",
                )
            ]
        problems = []
        for name in self.feature_names:
            if name not in record:
                problems.append(
                    ErrorDetail(
                        record=index,
                        field=name,
                        message="missing field: every feature column of the model is "
                        "required (send null for a missing value)",
                    )
                )
                continue
            value = record[name]
            if _plainly_valid(value, name in self.numeric_names):
                continue
            message = self._check_value(name, value)
            if message:
                problems.append(ErrorDetail(record=index, field=name, message=message))
        for name in self.id_columns:
            value = record.get(name)
            if isinstance(value, (dict, list)):
                message = f"id values must be scalars, got {_json_type(value)}"
                problems.append(ErrorDetail(record=index, field=name, message=message))
        return problems

    def _check_value(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            return f"expected a scalar value, got {_json_type(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"non-finite number {value!r}: send a finite number or null"
        if self.kinds[name] != ColumnKind.NUMERIC:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number for this numeric column, got {_json_type(value)} {value!r}"
        try:
            number = float(value)
        except OverflowError:
            return "number out of range of a 64-bit float"
        if not math.isfinite(number):
            return f"number {value!r} is out of range of a 64-bit float"
        return None

    def _convert_record(self, record: dict[str, Any]) -> dict[str, Any]:
        # Numeric values are left as int or float: ``frame`` makes float64 columns.
        row = {name: record[name] for name in self.numeric_names}
        for name, categories in self.categories.items():
            value = record[name]
            row[name] = None if value is None else _category_key(value, categories)
        for name, pair in self.boolean_text.items():
            value = record[name]
            row[name] = None if value is None else _boolean_key(value, pair)
        for name in self.id_columns:
            if name in record:
                row[name] = record[name]
        return row

    def frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """Build the table for converted rows: float numeric columns, text otherwise."""
        columns: dict[str, Any] = {}
        for name in self.feature_names:
            values = [row[name] for row in rows]
            if self.kinds[name] == ColumnKind.NUMERIC:
                columns[name] = np.array(
                    [np.nan if v is None else v for v in values], dtype=np.float64
                )
            else:
                columns[name] = pd.Series(values, dtype=object)
        for name in self.id_columns:
            if any(name in row for row in rows):
                columns[name] = pd.Series([row.get(name) for row in rows], dtype=object)
        return pd.DataFrame(columns)

    def report(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
        """Count missing cells and values unseen in training per column of converted rows.

        Gives the same counts as the preprocessor's transform report, without
        encoding the rows; batched single records use it for their own report.
        NOTE: converted rows keep only feature and id columns, so new values in
        columns that were constant in training are not counted here.
        """
        missing: dict[str, int] = {}
        unseen: dict[str, int] = {}
        for row in rows:
            for name in self.feature_names:
                value = row[name]
                if value is None:
                    missing[name] = missing.get(name, 0) + 1
                if name in self.categories:
                    text = MISSING_CATEGORY if value is None else value
                    is_unseen = text not in self.categories[name]
                elif name in self.boolean_known:
                    is_unseen = value is not None and value not in self.boolean_known[name]
                else:
                    continue
                if is_unseen:
                    unseen[name] = unseen.get(name, 0) + 1
        return {"unseen_categories": unseen, "missing_values": missing}

    # ----------------------------------------------------------------- CSV

    def read_csv(self, body: bytes, max_records: int) -> pd.DataFrame:
        """Parse a CSV body with a header line and check it like ``unseen score`` would."""
        try:
            frame = pd.read_csv(io.BytesIO(body), skipinitialspace=True, low_memory=False)
        except pd.errors.EmptyDataError:
            raise invalid_input(
                [ErrorDetail(message="empty CSV body: send a header line and records")]
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            message = f"cannot parse the body as CSV: {' '.join(str(exc).split())}"
            raise invalid_input([ErrorDetail(message=message)]) from None
        frame.columns = [str(c) for c in frame.columns]
        duplicated = _duplicated_header_names(body)
        if duplicated:
            message = f"the CSV header names column(s) {duplicated} more than once"
            raise invalid_input([ErrorDetail(message=message)])
        if len(frame) == 0:
            raise invalid_input([ErrorDetail(message="the CSV body has a header but no records")])
        if len(frame) > max_records:
            raise ServiceError(
                413,
                PAYLOAD_TOO_LARGE,
                f"{len(frame)} records in one request, the limit is {max_records}: "
                "split the request",
            )
        missing = [name for name in self.feature_names if name not in frame.columns]
        details = [
            ErrorDetail(field=name, message="missing column: the model was trained on it")
            for name in missing
        ]
        for name in self.feature_names:
            if name not in missing and self.kinds[name] == ColumnKind.NUMERIC:
                details.extend(_check_numeric_column(frame[name], name))
        if details:
            raise invalid_input(details[:MAX_REPORTED_DETAILS], len(details))
        return frame


def parse_json_body(body: bytes) -> list[Any]:
    """Return the ``records`` list of a JSON body ``{"records": [...]}``."""
    try:
        # NaN and Infinity are not JSON, but Python's parser accepts them. They are
        # kept as floats here, so the record check can name their record and field.
        document = json.loads(body, parse_constant=float)
    except UnicodeDecodeError:
        raise invalid_input([ErrorDetail(message="the body is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise invalid_input([ErrorDetail(message=message)]) from None
    except RecursionError:
        raise invalid_input([ErrorDetail(message="the JSON body is nested too deeply")]) from None
    except ValueError as exc:
        # Integers longer than Python's int_max_str_digits (4,300 digits) land here.
        raise invalid_input(
            [ErrorDetail(message=f"invalid number in the JSON body: {exc}")]
        ) from None
    if not isinstance(document, dict) or "records" not in document:
        message = f'expected an object {{"records": [...]}}, got {_json_type(document)}'
        if isinstance(document, dict):
            message = 'the JSON object has no "records" key: send {"records": [...]}'
        raise invalid_input([ErrorDetail(message=message)])
    records = document["records"]
    if not isinstance(records, list):
        raise invalid_input(
            [ErrorDetail(field="records", message=f"expected a list, got {_json_type(records)}")]
        )
    return records


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _check_numeric_column(values: pd.Series, name: str) -> list[ErrorDetail]:
    details = []
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()]
        for index, value in bad.head(MAX_REPORTED_DETAILS).items():
            message = f"expected a number for this numeric column, got {str(value)!r}"
            details.append(ErrorDetail(record=int(index), field=name, message=message))
        values = numbers
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    for index in np.flatnonzero(np.isinf(numbers))[:MAX_REPORTED_DETAILS]:
        message = f"non-finite number {numbers[index]!r}: send a finite number or an empty cell"
        details.append(ErrorDetail(record=int(index), field=name, message=message))
    return details


# Integers beyond this convert to float infinity or overflow.
_FLOAT_LIMIT = 1.7e308


def _plainly_valid(value: Any, numeric: bool) -> bool:
    """Return True for the common valid cells, so only the rest need a detailed check."""
    value_type = type(value)
    if value_type is float:
        return math.isfinite(value)
    if value_type is int:
        return -_FLOAT_LIMIT < value < _FLOAT_LIMIT
    return value_type is str and not numeric


def _category_key(value: Any, categories: set[str]) -> str:
    text = str(value)
    if text in categories or isinstance(value, (bool, str)):
        return text
    try:
        number = float(value)
    except OverflowError:
        return text
    if number.is_integer():
        for candidate in (str(int(number)), str(number)):
            if candidate in categories:
                return candidate
    return text


def _boolean_pair(params: dict) -> tuple[str, str]:
    """Return the texts for true and false of a boolean column, as training saw them."""
    true_text = params["true"]
    others = [text for text in params["known"] if text != true_text]
    false_text = others[0] if len(others) == 1 else {"1": "0", "true": "false"}.get(true_text, "")
    return true_text, false_text


def _boolean_key(value: Any, pair: tuple[str, str]) -> str:
    if isinstance(value, bool):
        return pair[0] if value else pair[1]
    if isinstance(value, (int, float)):
        return f"{float(value):g}"
    return value.strip().lower()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _duplicated_header_names(body: bytes) -> list[str]:
    # pandas renames a repeated header name to "name.1", so read the raw header.
    first_line = body.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    names = [name.strip() for name in next(csv.reader([first_line]), [])]
    return sorted({name for name in names if names.count(name) > 1})
