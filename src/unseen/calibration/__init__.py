"""Turn anomaly scores into conformal p-values and an alarm threshold."""

from unseen.calibration.conformal import AlarmRule, ConformalCalibrator

__all__ = ["AlarmRule", "ConformalCalibrator"]
