"""Conformal p-values and alarm rules."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.calibration import AlarmRule, ConformalCalibrator
from unseen.errors import UnseenError


def test_p_value_formula():
    calibrator = ConformalCalibrator().fit(np.array([1.0, 2.0, 3.0, 4.0]))
    # p = (1 + #{calibration >= s}) / (n + 1)
    np.testing.assert_allclose(calibrator.p_values([0.5, 2.0, 2.5, 9.0]), [1.0, 0.8, 0.6, 0.2])


def test_fpr_threshold_matches_p_value_rule():
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=999)
    calibrator = ConformalCalibrator(AlarmRule("fpr", 0.05)).fit(calibration)
    probe = rng.normal(size=20000) * 1.5
    flagged = calibrator.is_anomaly(probe)
    np.testing.assert_array_equal(flagged, calibrator.p_values(probe) <= 0.05)


def test_fpr_holds_on_exchangeable_scores():
    rng = np.random.default_rng(1)
    rates = []
    for _ in range(200):
        calibrator = ConformalCalibrator(AlarmRule("fpr", 0.1)).fit(rng.exponential(size=200))
        rates.append(calibrator.is_anomaly(rng.exponential(size=2000)).mean())
    # Marginal guarantee: the average false-positive rate is at most the target.
    assert np.mean(rates) <= 0.1 + 0.005
    assert np.mean(rates) >= 0.1 - 0.02


def test_contamination_rule_flags_that_share():
    calibration = np.arange(1000.0)
    calibrator = ConformalCalibrator(AlarmRule("contamination", 0.1)).fit(calibration)
    assert calibrator.is_anomaly(calibration).mean() == pytest.approx(0.1, abs=0.002)


def test_fixed_score_rule():
    calibrator = ConformalCalibrator(AlarmRule("score", 2.5)).fit(np.arange(5.0))
    assert calibrator.threshold_ == 2.5
    assert calibrator.is_anomaly([2.5, 2.6]).tolist() == [False, True]


def test_too_few_calibration_rows_warns():
    with pytest.warns(UserWarning, match="cannot support a false-positive rate of 0.01"):
        calibrator = ConformalCalibrator(AlarmRule("fpr", 0.01)).fit(np.arange(10.0))
    assert not calibrator.is_anomaly([1e9]).any()


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("fpr", 0.0, "between 0 and 1"),
        ("fpr", 1.5, "between 0 and 1"),
        ("contamination", -0.1, "between 0 and 1"),
        ("score", float("nan"), "must be finite"),
        ("quantile", 0.1, "must be one of"),
    ],
)
def test_invalid_rules_rejected(kind, value, message):
    with pytest.raises(UnseenError, match=message):
        AlarmRule(kind, value)
