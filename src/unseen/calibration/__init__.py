"""Turn anomaly scores into conformal p-values and an alarm threshold."""

from unseen.calibration.conformal import AlarmRule, ConformalCalibrator, threshold_or_none

__all__ = ["AlarmRule", "ConformalCalibrator", "threshold_or_none"]
