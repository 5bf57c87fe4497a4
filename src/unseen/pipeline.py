"""The end-to-end estimator: schema, preprocessing, detector and alarm threshold.

``AnomalyPipeline`` follows scikit-learn's outlier-detector contract:
``score_samples`` is higher for more normal rows, ``decision_function`` is
below 0 for outliers and ``predict`` returns -1 for outliers and +1 for
inliers. ``anomaly_score`` is the reverse direction (higher = more anomalous)
and is what the CLI, model files and service report. The three are linked by
``decision_function(X) = threshold_ - anomaly_score(X)``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from unseen._version import __version__
from unseen.calibration import AlarmRule, ConformalCalibrator, threshold_or_none
from unseen.data import infer_schema, read_table
from unseen.detectors import BaseDetector, make_detector
from unseen.errors import DataError, NotFittedError, UnseenError
from unseen.explain.explainer import ColumnExplainer
from unseen.preprocessing import TabularPreprocessor, TransformReport

logger = logging.getLogger(__name__)

# Fewer rows leave too few for both training and a calibration split.
MIN_TRAINING_ROWS = 20
DEFAULT_DETECTOR = "robust_ensemble"

TableLike = pd.DataFrame | np.ndarray | str | os.PathLike


CALIBRATION_MODES = ("auto", "holdout")
DEFAULT_TARGET_FPR = 0.01


class AnomalyPipeline(BaseEstimator):
    """Learn normal records from a table, then score, flag and explain new ones.

    Parameters
    ----------
    detector : str or BaseDetector, default="robust_ensemble"
        A registered detector name (see ``unseen.detectors.REGISTRY``) or an
        unfitted detector instance.
    detector_params : dict, optional
        Hyper-parameters for a detector given by name.
    target_fpr : float, default=0.01
        Alarm rule: flag rows whose conformal p-value is at most this, which
        bounds the false-positive rate on normal data.
    contamination : float, optional
        Alarm rule instead of ``target_fpr``: flag this share of calibration rows.
    score_threshold : float, optional
        Alarm rule instead of ``target_fpr``: flag anomaly scores above this value.
    calibration_fraction : float, default=0.2
        Share of training rows held out to calibrate p-values and the threshold,
        when calibration holds rows out.
    calibration : {"auto", "holdout"}, default="auto"
        "auto" trains on every row and calibrates on the detector's
        out-of-sample scores of its training rows when it provides them
        (isolation forest, kNN, ECOD and ensembles of these; see
        ``BaseDetector.out_of_sample_scores``), and holds rows out otherwise.
        "holdout" always holds ``calibration_fraction`` of the rows out.
    id_columns, label_column, ignore_columns : optional
        Columns kept out of the features. Ids are copied to ``detect`` output;
        the label is only used by evaluation.
    categorical_columns, numeric_columns : list of str, optional
        Override the inferred kind of these columns.
    random_state : int or None, default=None
        Seed for the calibration split and, unless ``detector_params`` sets one,
        the detector.

    Attributes
    ----------
    schema_ : Schema
    preprocessor_ : TabularPreprocessor
    detector_ : BaseDetector
    calibrator_ : ConformalCalibrator
    threshold_ : float
        Anomaly scores above this are flagged.
    training_info_ : dict
        Rows used, date, library version and what preprocessing met in training.
    """

    def __init__(
        self,
        detector: str | BaseDetector = DEFAULT_DETECTOR,
        detector_params: dict | None = None,
        target_fpr: float = DEFAULT_TARGET_FPR,
        contamination: float | None = None,
        score_threshold: float | None = None,
        calibration_fraction: float = 0.2,
        calibration: str = "auto",
        id_columns: list[str] | None = None,
        label_column: str | None = None,
        ignore_columns: list[str] | None = None,
        categorical_columns: list[str] | None = None,
        numeric_columns: list[str] | None = None,
        random_state: int | None = None,
    ):
        self.detector = detector
        self.detector_params = detector_params
        self.target_fpr = target_fpr
        self.contamination = contamination
        self.score_threshold = score_threshold
        self.calibration_fraction = calibration_fraction
        self.calibration = calibration
        self.id_columns = id_columns
        self.label_column = label_column
        self.ignore_columns = ignore_columns
        self.categorical_columns = categorical_columns
        self.numeric_columns = numeric_columns
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(self, X: TableLike, y: None = None) -> AnomalyPipeline:
        """Learn normal behaviour from ``X``; labels, if any, are not used."""
        rule = self._alarm_rule()
        if not 0.05 <= self.calibration_fraction <= 0.5:
            raise UnseenError(
                "calibration_fraction must be between 0.05 and 0.5, "
                f"got {self.calibration_fraction!r}"
            )
        if self.calibration not in CALIBRATION_MODES:
            raise UnseenError(
                f"calibration must be one of {', '.join(CALIBRATION_MODES)}, "
                f"got {self.calibration!r}"
            )
        frame = read_table(X)
        if len(frame) < MIN_TRAINING_ROWS:
            raise DataError(
                f"fitting needs at least {MIN_TRAINING_ROWS} rows, got {len(frame)}: "
                "pass more training rows"
            )
        self.schema_ = infer_schema(
            frame,
            id_columns=self.id_columns,
            label_column=self.label_column,
            ignore_columns=self.ignore_columns,
            categorical_columns=self.categorical_columns,
            numeric_columns=self.numeric_columns,
        )
        self.detector_ = self._make_detector()
        out_of_sample = self.calibration == "auto" and self.detector_.has_out_of_sample_scores()
        if out_of_sample:
            training_rows, calibration_rows = np.arange(len(frame)), np.arange(0)
        else:
            rng = np.random.default_rng(self.random_state)
            order = rng.permutation(len(frame))
            n_calibration = max(1, int(round(len(frame) * self.calibration_fraction)))
            calibration_rows, training_rows = order[:n_calibration], order[n_calibration:]
        training_frame = frame.iloc[np.sort(training_rows)]
        calibration_frame = frame.iloc[np.sort(calibration_rows)]

        self.preprocessor_ = TabularPreprocessor(self.schema_).fit(training_frame)
        train_matrix, train_report = self.preprocessor_.transform(training_frame)
        logger.info(
            "fitting %s on %d rows x %d features",
            self.detector_.name,
            train_matrix.shape[0],
            train_matrix.shape[1],
        )
        self.detector_.fit(train_matrix, **_raw_frame_argument(self.detector_, training_frame))
        self.explainer_ = ColumnExplainer(random_state=self.random_state).fit(
            self.detector_, train_matrix, raw_frame=training_frame
        )
        if out_of_sample:
            calibration_scores = self.detector_.out_of_sample_scores()
        else:
            calibration_matrix, _ = self.preprocessor_.transform(calibration_frame)
            calibration_scores = self.detector_.anomaly_score(
                calibration_matrix, **_raw_frame_argument(self.detector_, calibration_frame)
            )
        self.calibrator_ = ConformalCalibrator(rule).fit(calibration_scores)
        self.threshold_ = self.calibrator_.threshold_
        self.n_features_in_ = len(self.schema_.feature_names)
        self.feature_names_in_ = np.asarray(self.schema_.feature_names, dtype=object)
        self.training_info_ = {
            "n_rows": len(frame),
            "n_training_rows": len(training_rows),
            "n_calibration_rows": len(calibration_scores),
            "calibration": "out_of_sample" if out_of_sample else "holdout",
            "n_encoded_features": self.preprocessor_.n_features_out_,
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "unseen_version": __version__,
            "missing_values": train_report.missing_values,
        }
        return self

    def _alarm_rule(self) -> AlarmRule:
        if self.contamination is not None and self.score_threshold is not None:
            raise UnseenError("set at most one of contamination and score_threshold, not both")
        if self.contamination is not None:
            return AlarmRule("contamination", self.contamination)
        if self.score_threshold is not None:
            return AlarmRule("score", self.score_threshold)
        return AlarmRule("fpr", self.target_fpr)

    def _make_detector(self) -> BaseDetector:
        if isinstance(self.detector, BaseDetector):
            if self.detector_params:
                raise UnseenError("detector_params applies to a detector name, not an instance")
            return clone(self.detector)
        if not isinstance(self.detector, str):
            raise UnseenError(
                f"detector must be a registered name or a detector instance, got {self.detector!r}"
            )
        params = dict(self.detector_params or {})
        detector = make_detector(self.detector, **params)
        if "random_state" not in params and "random_state" in detector.get_params():
            detector.set_params(random_state=self.random_state)
        return detector

    # -------------------------------------------------------------- scoring

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError("this AnomalyPipeline is not fitted yet: call fit first")

    def transform_table(self, X: TableLike) -> tuple[pd.DataFrame, np.ndarray, TransformReport]:
        """Read ``X`` and encode it; return the table, the matrix and the transform report."""
        self._check_fitted()
        frame = read_table(X)
        if len(frame) == 0:
            raise DataError("no rows to score: pass at least one record")
        matrix, report = self.preprocessor_.transform(frame)
        if report.changed_constants:
            warnings.warn(
                f"column(s) {sorted(report.changed_constants)} were constant in training but "
                "take other values here, which the model cannot see: refit on data where "
                "they vary if they matter",
                UserWarning,
                stacklevel=3,
            )
        return frame, matrix, report

    def anomaly_score(self, X: TableLike) -> np.ndarray:
        """Return one score per row; higher means more anomalous."""
        frame, matrix, _ = self.transform_table(X)
        return self.detector_.anomaly_score(matrix, **_raw_frame_argument(self.detector_, frame))

    def score_samples(self, X: TableLike) -> np.ndarray:
        """Return the negated anomaly score: higher means more normal (scikit-learn)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: TableLike) -> np.ndarray:
        """Return ``threshold_ - anomaly_score``: below 0 means outlier (scikit-learn)."""
        return self.threshold_ - self.anomaly_score(X)

    def predict(self, X: TableLike) -> np.ndarray:
        """Return -1 for flagged rows (outliers) and +1 for the rest (scikit-learn)."""
        return np.where(self.calibrator_.is_anomaly(self.anomaly_score(X)), -1, 1)

    def p_values(self, X: TableLike) -> np.ndarray:
        """Return conformal p-values: the chance a normal row scores at least this high."""
        return self.calibrator_.p_values(self.anomaly_score(X))

    def detect(self, X: TableLike, top_k: int = 3, reasons_for: str = "all") -> pd.DataFrame:
        """Score, flag and explain every row of ``X``.

        Returns one row per input row with the id columns, ``anomaly_score``,
        ``p_value``, ``is_anomaly`` and, for ``i`` in 1..top_k, the column that
        contributed most (``reason_i``), its share of the score
        (``reason_i_share``), and its observed and expected value as text
        (``reason_i_observed``, ``reason_i_expected``).
        ``reasons_for="flagged"`` explains only flagged rows, which saves most
        of the time for detectors explained by occlusion; other rows then get
        no reasons. The transform report (unseen categories, missing values)
        is in ``result.attrs["transform_report"]``.
        """
        from unseen.explain.reasons import add_reasons, rows_to_explain

        frame, matrix, report = self.transform_table(X)
        scores = self.detector_.anomaly_score(matrix, **_raw_frame_argument(self.detector_, frame))
        result = frame[[c for c in self.schema_.id_columns if c in frame.columns]].copy()
        result["anomaly_score"] = scores
        result["p_value"] = self.calibrator_.p_values(scores)
        result["is_anomaly"] = self.calibrator_.is_anomaly(scores)
        if top_k > 0:
            explained = rows_to_explain(reasons_for, result["is_anomaly"].to_numpy())
            add_reasons(result, self, frame, matrix, top_k, explained)
        result.attrs["transform_report"] = report.to_dict()
        return result

    def explain(
        self, X: TableLike, top_k: int | None = None, method: str | None = None
    ) -> pd.DataFrame:
        """Attribute each row's anomaly score to the input columns.

        Returns a tidy table with one row per (record, column), the ``top_k``
        largest contributions per record (all columns when None): ``row`` (the
        0-based position in ``X``), the id columns, ``rank``, ``column``,
        ``contribution``, ``share``, ``observed`` and ``expected``.
        Contributions sum to the record's anomaly score; see ``unseen.explain``
        for the methods and their guarantees. ``method="occlusion"`` explains
        reconstruction models by occlusion too (``ColumnExplainer``).
        """
        from unseen.explain import explain_table

        return explain_table(self, X, top_k=top_k, method=method)

    # ----------------------------------------------------------- model file

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted pipeline to one model file, atomically (no pickle)."""
        from unseen.io import save_pipeline

        save_pipeline(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AnomalyPipeline:
        """Read a model file written by ``save``; raises ``ModelFileError`` if invalid."""
        from unseen.io import load_pipeline

        return load_pipeline(path)

    def summary(self) -> dict[str, Any]:
        """Describe the fitted model: detector, alarm rule, threshold, schema, training."""
        self._check_fitted()
        return {
            "detector": self.detector_.name,
            "detector_params": _json_params(self.detector_.get_params()),
            "alarm_rule": self.calibrator_.rule.describe(),
            "threshold": threshold_or_none(self.threshold_),
            "features": [c.to_dict() for c in self.schema_.features],
            "id_columns": self.schema_.id_columns,
            "label_column": self.schema_.label_column,
            "dropped_columns": self.schema_.dropped_columns,
            "training": self.training_info_,
        }


def _raw_frame_argument(detector: BaseDetector, frame: pd.DataFrame) -> dict:
    """Return ``{"raw_frame": frame}`` for detectors that set ``needs_raw_frame``, else ``{}``.

    Such detectors (the rules detector) read original column values, which the
    encoded matrix no longer contains exactly.
    """
    return {"raw_frame": frame} if getattr(detector, "needs_raw_frame", False) else {}


def _json_params(params: dict) -> dict:
    clean = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, np.generic):
            value = value.item()
        clean[key] = value
    return clean
