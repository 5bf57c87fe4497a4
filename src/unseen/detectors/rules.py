"""Hand-written rules on raw column values, scored as the weighted count of rules hit.

Rules name original columns and compare raw values ("amount > 10000",
"country not in [DE, FR]"), which the encoded matrix no longer holds
exactly. The detector therefore sets ``needs_raw_frame``: ``AnomalyPipeline``
passes the table as read, next to the matrix, as ``raw_frame``.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from unseen.detectors.base import BaseDetector
from unseen.errors import DataError, UnseenError

ORDERING = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
EQUALITY = ("==", "!=", "in", "not in")
OPERATORS = (*ORDERING, *EQUALITY, "is missing")
RULE_KEYS = ("column", "operator", "value", "weight", "name")


@dataclass(frozen=True)
class Rule:
    """One condition on one column; a row that meets it adds ``weight`` to its score.

    A missing value meets only ``is missing``: every comparison, ``!=`` and
    ``not in`` included, is false on it.
    """

    column: str
    operator: str
    value: Any = None
    weight: float = 1.0
    name: str = ""

    def hits(self, values: pd.Series) -> np.ndarray:
        """Return a boolean array: which of ``values`` meet this rule."""
        missing = values.isna().to_numpy()
        if self.operator == "is missing":
            return missing
        if self.operator in ORDERING:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            with np.errstate(invalid="ignore"):
                return ORDERING[self.operator](numbers, float(self.value)) & ~np.isnan(numbers)
        targets = self.value if self.operator in ("in", "not in") else [self.value]
        equal = np.zeros(len(values), dtype=bool)
        for target in targets:
            equal |= _equals(values, target)
        if self.operator in ("!=", "not in"):
            equal = ~equal
        return equal & ~missing

    def check_column(self, values: pd.Series) -> None:
        """Raise ``DataError`` if an ordering rule meets a column that contains text."""
        if self.operator not in ORDERING:
            return
        present = values.dropna()
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.isna().any():
            example = present[numbers.isna()].iloc[0]
            raise DataError(
                f"rule {self.name!r} compares column {self.column!r} with a number, but the "
                f"column holds text such as {example!r}: use ==, != or in for text columns"
            )


def _equals(values: pd.Series, target: Any) -> np.ndarray:
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        return numbers == float(target)
    return (values.astype(str) == str(target)).to_numpy()


def parse_rule(entry: Any, position: int) -> Rule:
    """Validate one rule given as a mapping; raise ``UnseenError`` naming what is wrong."""
    where = f"rule {position + 1}"
    if not isinstance(entry, dict):
        raise UnseenError(f"{where} must be a mapping with column and operator, got {entry!r}")
    unknown = sorted(set(entry) - set(RULE_KEYS))
    if unknown:
        raise UnseenError(f"{where} has unknown key(s) {unknown}; allowed: {', '.join(RULE_KEYS)}")
    column = entry.get("column")
    if not isinstance(column, str) or not column:
        raise UnseenError(f"{where} needs a column name, got {column!r}")
    op = " ".join(str(entry.get("operator", "")).lower().split())
    if op not in OPERATORS:
        raise UnseenError(
            f"{where} has operator {entry.get('operator')!r}; allowed operators: "
            f"{', '.join(OPERATORS)}"
        )
    value = entry.get("value")
    _check_value(where, op, value, "value" in entry)
    weight = entry.get("weight", 1.0)
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not (math.isfinite(weight) and weight > 0)
    ):
        raise UnseenError(f"{where} weight must be a positive number, got {weight!r}")
    text = op if op == "is missing" else f"{op} {value!r}"
    name = entry.get("name") or f"{column} {text}"
    return Rule(column, op, value, float(weight), str(name))


def _check_value(where: str, op: str, value: Any, given: bool) -> None:
    if op == "is missing":
        if given:
            raise UnseenError(f"{where}: operator 'is missing' takes no value, remove it")
    elif op in ORDERING:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _is_finite(value):
            raise UnseenError(
                f"{where}: operator {op!r} needs a finite number as value, got {value!r} "
                "(YAML reads 1e5 as text: write 1.0e+5 or 100000)"
            )
    elif op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise UnseenError(f"{where}: operator {op!r} needs a non-empty list, got {value!r}")
    elif not given or isinstance(value, (list, dict)):
        raise UnseenError(f"{where}: operator {op!r} needs one number or text, got {value!r}")
    if op in ("==", "!=") and value is None:
        raise UnseenError(f"{where}: compare with null using the operator 'is missing'")
    if op in ("==", "!=", "in", "not in"):
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, (list, dict)) or (
                isinstance(item, (int, float))
                and not isinstance(item, bool)
                and not _is_finite(item)
            ):
                raise UnseenError(
                    f"{where}: operator {op!r} needs finite numbers or text, got {item!r}"
                )


def _is_finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def read_rules_file(path: str | Path) -> list[Any]:
    """Read a rules file: YAML (.yaml, .yml) or JSON (.json), a list or ``{rules: [...]}``."""
    path = Path(path)
    if not path.is_file():
        raise UnseenError(f"rules file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnseenError(f"rules file {str(path)!r} is not UTF-8 text: {exc}") from None
    try:
        if suffix in (".yaml", ".yml"):
            content = yaml.safe_load(text)
        elif suffix == ".json":
            content = json.loads(text)
        else:
            raise UnseenError(f"rules file {str(path)!r} must end in .yaml, .yml or .json")
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise UnseenError(f"rules file {str(path)!r} cannot be parsed: {exc}") from exc
    if isinstance(content, dict) and set(content) == {"rules"}:
        content = content["rules"]
    if not isinstance(content, list):
        raise UnseenError(
            f"rules file {str(path)!r} must hold a list of rules or a mapping with one key, rules"
        )
    return content


class RulesDetector(BaseDetector):
    """User rules on raw column values; the score is the summed weight of the rules a row meets.

    Each rule has a ``column`` (original name), an ``operator`` (one of >, >=,
    <, <=, ==, !=, in, not in, is missing), a ``value`` (a number for ordering
    operators, a list for ``in``/``not in``, none for ``is missing``) and an
    optional ``weight`` (default 1) and ``name``. Numbers compare numerically,
    anything else as text.

    Parameters
    ----------
    rules : list of dict, optional
        The rules themselves.
    rules_path : str, optional
        A YAML or JSON file of rules, read at fit; set exactly one of the two.
        The model file keeps the rules, so it does not need this file later.

    Attributes
    ----------
    rules_ : list of Rule
    n_features_in_ : int
        Columns of the table seen at fit.
    """

    name = "rules"
    summary = "User rules on raw column values (YAML/JSON); score = summed weight of rules hit"
    needs_raw_frame = True
    min_rows = 1

    def __init__(self, rules=None, rules_path=None):
        self.rules = rules
        self.rules_path = rules_path

    def fit(self, X, y: None = None, raw_frame: pd.DataFrame | None = None) -> RulesDetector:
        """Read and check the rules against the columns of the raw table."""
        frame = _raw_table(X, raw_frame)
        if (self.rules is None) == (self.rules_path is None):
            raise UnseenError("the rules detector needs exactly one of rules or rules_path")
        entries = self.rules if self.rules is not None else read_rules_file(self.rules_path)
        if not isinstance(entries, list) or not entries:
            raise UnseenError(f"rules must be a non-empty list of rules, got {entries!r}")
        rules = [parse_rule(entry, position) for position, entry in enumerate(entries)]
        unknown = sorted({rule.column for rule in rules} - set(frame.columns))
        if unknown:
            raise DataError(
                f"rules refer to column(s) {unknown} that the table does not have; "
                f"its columns are: {', '.join(map(str, frame.columns))}"
            )
        for rule in rules:
            rule.check_column(frame[rule.column])
        self.rules_ = rules
        self.n_features_in_ = frame.shape[1]
        return self

    def anomaly_score(self, X, raw_frame: pd.DataFrame | None = None) -> np.ndarray:
        """Return the summed weight of the rules each row meets."""
        return self.rule_hits(X, raw_frame).sum(axis=1)

    def score_samples(self, X, raw_frame: pd.DataFrame | None = None) -> np.ndarray:
        return -self.anomaly_score(X, raw_frame)

    def rule_hits(self, X, raw_frame: pd.DataFrame | None = None) -> np.ndarray:
        """Return a (rows, rules) array: each rule's weight where a row meets it, else 0."""
        self._check_fitted()
        frame = _raw_table(X, raw_frame)
        missing = sorted({rule.column for rule in self.rules_} - set(frame.columns))
        if missing:
            raise DataError(f"the table lacks column(s) {missing} that the rules refer to")
        hits = np.zeros((len(frame), len(self.rules_)))
        for index, rule in enumerate(self.rules_):
            hits[:, index] = rule.hits(frame[rule.column]) * rule.weight
        return hits

    def column_contributions(self, raw_frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
        """Return a (rows, columns) array: the weight of rules met, summed per column.

        Rules on columns outside ``columns`` (an id column, say) count in the
        score but not here.
        """
        hits = self.rule_hits(raw_frame)
        contributions = np.zeros((len(raw_frame), len(columns)))
        for position, column in enumerate(columns):
            for index, rule in enumerate(self.rules_):
                if rule.column == column:
                    contributions[:, position] += hits[:, index]
        return contributions

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        values = {
            "n_features_in": self.n_features_in_,
            "rules": [_rule_entry(rule) for rule in self.rules_],
        }
        return values, {}

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.rules_ = [
            parse_rule(entry, position) for position, entry in enumerate(values["rules"])
        ]
        self.n_features_in_ = int(values["n_features_in"])


def _rule_entry(rule: Rule) -> dict[str, Any]:
    entry = asdict(rule)
    if rule.operator == "is missing":
        del entry["value"]
    return entry


def _raw_table(X, raw_frame: pd.DataFrame | None) -> pd.DataFrame:
    if raw_frame is not None:
        frame = raw_frame
    elif isinstance(X, pd.DataFrame):
        frame = X
    else:
        raise DataError(
            "the rules detector reads raw column values: pass a DataFrame, or use it through "
            "AnomalyPipeline, which passes the table as raw_frame"
        )
    if len(frame) == 0:
        raise DataError("no rows to process: pass at least one row")
    return frame
