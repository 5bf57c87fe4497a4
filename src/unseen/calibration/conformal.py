"""Split-conformal p-values and the alarm rules built on them.

For a score ``s`` and ``n`` calibration scores from held-out training rows,
``p(s) = (1 + #{calibration scores >= s}) / (n + 1)``. When the calibration
rows and a new normal row are exchangeable, ``P(p <= alpha) <= alpha``, so
flagging ``p <= alpha`` keeps the false-positive rate on normal data at or
below ``alpha`` (Vovk, Gammerman and Shafer, "Algorithmic Learning in a Random
World", 2005).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from unseen.errors import NotFittedError, UnseenError

RULES = ("fpr", "contamination", "score")


@dataclass(frozen=True)
class AlarmRule:
    """Rule that sets the threshold: a target false-positive rate, a share, or a score."""

    kind: str = "fpr"
    value: float = 0.01

    def __post_init__(self):
        if self.kind not in RULES:
            raise UnseenError(f"alarm rule must be one of {RULES}, got {self.kind!r}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise UnseenError(f"the {self.kind} value must be a number, got {self.value!r}")
        if not math.isfinite(self.value):
            raise UnseenError(f"the {self.kind} value must be finite, got {self.value!r}")
        if self.kind in ("fpr", "contamination") and not 0 < self.value < 1:
            raise UnseenError(
                f"the {self.kind} must be between 0 and 1 (for example 0.01), got {self.value!r}"
            )

    def describe(self) -> str:
        if self.kind == "fpr":
            return f"target false-positive rate {self.value:g}"
        if self.kind == "contamination":
            return f"contamination {self.value:g}"
        return f"fixed score {self.value:g}"


def threshold_or_none(threshold: float) -> float | None:
    """Return ``threshold`` for JSON output, or None when it is infinite.

    An infinite threshold means the target false-positive rate cannot be met
    with the calibration rows there are, so nothing is flagged. JSON has no
    infinity, so outputs write null.
    """
    return float(threshold) if math.isfinite(threshold) else None


class ConformalCalibrator:
    """Calibration scores, p-values and the threshold of one alarm rule.

    A row is flagged when its anomaly score is strictly above ``threshold_``.
    For the ``fpr`` rule that is exactly the rows with ``p <= value``.
    """

    def __init__(self, rule: AlarmRule | None = None):
        self.rule = rule or AlarmRule()

    def fit(self, calibration_scores: np.ndarray) -> ConformalCalibrator:
        scores = np.sort(np.asarray(calibration_scores, dtype=np.float64))
        if scores.size == 0 or not np.isfinite(scores).all():
            raise UnseenError("calibration needs at least one finite score")
        self.calibration_scores_ = scores
        self.threshold_ = self._threshold(scores)
        return self

    def _threshold(self, scores: np.ndarray) -> float:
        n = scores.size
        if self.rule.kind == "score":
            return float(self.rule.value)
        if self.rule.kind == "contamination":
            return float(np.quantile(scores, 1.0 - self.rule.value))
        # Flag s when #{c >= s} <= k, i.e. s above the (k+1)-th largest score.
        k = math.floor(self.rule.value * (n + 1) + 1e-9) - 1
        if k < 0:
            warnings.warn(
                f"{n} calibration rows cannot support a false-positive rate of "
                f"{self.rule.value:g} (the smallest p-value is {1 / (n + 1):.3g}); nothing "
                "will be flagged. Fit on more rows or raise the target rate.",
                UserWarning,
                stacklevel=3,
            )
            return float("inf")
        if k >= n:
            return float("-inf")
        return float(scores[n - 1 - k])

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """Return the conformal p-value of each score; small means unusual."""
        if not hasattr(self, "calibration_scores_"):
            raise NotFittedError("this calibrator is not fitted yet: call fit first")
        scores = np.asarray(scores, dtype=np.float64)
        n = self.calibration_scores_.size
        at_least = n - np.searchsorted(self.calibration_scores_, scores, side="left")
        return (1.0 + at_least) / (n + 1.0)

    def is_anomaly(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores, dtype=np.float64) > self.threshold_

    def to_dict(self) -> dict:
        return {"rule": self.rule.kind, "value": self.rule.value, "threshold": self.threshold_}

    @classmethod
    def from_state(cls, values: dict, calibration_scores: np.ndarray) -> ConformalCalibrator:
        calibrator = cls(AlarmRule(values["rule"], values["value"]))
        calibrator.calibration_scores_ = np.sort(np.asarray(calibration_scores, dtype=np.float64))
        calibrator.threshold_ = float(values["threshold"])
        return calibrator
