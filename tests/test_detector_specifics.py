"""Checks specific to single detectors; the shared contract is in test_detector_contract.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import RobustScaler

from unseen.cli import main
from unseen.detectors import REGISTRY, make_detector
from unseen.detectors.deep_svdd import CENTER_EPSILON
from unseen.detectors.ensemble import EnsembleDetector, normalised_rank
from unseen.detectors.sklearn_wrappers import (
    isolation_probabilities,
    range_aware_tree_depths,
    stack_trees,
)
from unseen.errors import DataError, TrainingError, UnseenError
from unseen.pipeline import AnomalyPipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cardio_split(cardio):
    """Scaled cardio: (normal training rows, test rows, test labels)."""
    X, y = cardio
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1100], order[1100:]
    normal = X[train][y[train] == 0]
    scaler = RobustScaler().fit(normal)

    def scale(a):
        return np.clip(scaler.transform(a), -30, 30).astype(np.float32)

    return scale(normal), scale(X[test]), y[test]


def test_vae_non_finite_loss_raises(cardio_split):
    train, _, _ = cardio_split
    with pytest.raises(TrainingError, match="diverged"):
        make_detector("vae", epochs=2, random_state=0).fit(train * np.float32(1e20))


def test_vae_refit_gives_same_scores(cardio_split):
    train, test, _ = cardio_split
    detector = make_detector("vae", epochs=3, hidden_dims=[16, 4], random_state=1)
    first = detector.fit(train).anomaly_score(test)
    np.testing.assert_array_equal(detector.fit(train).anomaly_score(test), first)
    np.testing.assert_allclose(detector.feature_errors(test).sum(axis=1), first, rtol=1e-12)


def test_gan_separates_anomalies_without_collapse(cardio_split):
    train, test, labels = cardio_split
    detector = make_detector("gan", epochs=15, hidden_dims=[32, 8], random_state=0)
    scores = detector.fit(train).anomaly_score(test)
    normal_scores = scores[labels == 0]
    # A collapsed generator gives nearly one score to every row.
    assert normal_scores.std() > 0.1 * np.median(normal_scores)
    assert np.median(scores[labels == 1]) > np.median(normal_scores)
    assert roc_auc_score(labels, scores) > 0.75


def test_deep_svdd_collapse_guards(cardio_split):
    train, _, _ = cardio_split
    detector = make_detector("deep_svdd", epochs=2, random_state=0).fit(train)
    names = [name for name, _ in detector.network_.named_parameters()]
    assert not any("bias" in name for name in names)
    assert (np.abs(detector.center_) >= CENTER_EPSILON - 1e-7).all()


def test_iforest_matches_sklearn_exactly(cardio_split):
    train, test, _ = cardio_split
    ours = make_detector(
        "iforest", n_estimators=60, max_samples=128, range_aware=False, random_state=5
    ).fit(train)
    reference = IsolationForest(n_estimators=60, max_samples=128, random_state=5).fit(train)
    np.testing.assert_array_equal(ours.anomaly_score(test), -reference.score_samples(test))


def test_knn_caps_reference_rows(cardio_split):
    train, _, _ = cardio_split
    detector = make_detector("knn", max_reference_rows=100, random_state=0).fit(train)
    assert detector.reference_.shape == (100, train.shape[1])


def test_robust_z_terms_sum_to_score(cardio_split):
    train, test, _ = cardio_split
    detector = make_detector("robust_z").fit(train)
    errors = detector.feature_errors(test)
    np.testing.assert_allclose(errors.sum(axis=1), detector.anomaly_score(test), rtol=1e-12)
    assert (detector.scale_ > 0).all()


def test_normalised_rank_keeps_order_beyond_reference():
    reference = np.arange(10.0)
    ranks = normalised_rank(np.array([-5.0, 0.0, 4.5, 9.0, 20.0, 2000.0]), reference, 4.5)
    assert (np.diff(ranks) > 0).all()
    assert ranks[0] > 0
    assert ranks[-1] < 1


def test_ensemble_rejects_unknown_parameter():
    with pytest.raises(UnseenError, match="no member"):
        make_detector("autoencoder+iforest", n_neighbors=3)
    assert isinstance(make_detector("knn+robust_z"), EnsembleDetector)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, 200),
            "country": rng.choice(["DE", "FR", "NL"], 200),
            "note": np.where(rng.random(200) < 0.1, None, "ok"),
        }
    )


RULES = [
    {"column": "amount", "operator": ">", "value": 300, "weight": 2},
    {"column": "country", "operator": "not in", "value": ["DE", "FR"]},
    {"column": "note", "operator": "is missing", "weight": 0.5},
]


def test_rules_score_is_weighted_hits(frame):
    detector = make_detector("rules", rules=RULES).fit(frame)
    expected = 2 * (frame["amount"] > 300) + (frame["country"] == "NL") + 0.5 * frame["note"].isna()
    np.testing.assert_array_equal(detector.anomaly_score(frame), expected.to_numpy(float))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"column": "missing_col", "operator": ">", "value": 1}], "missing_col"),
        ([{"column": "amount", "operator": "~", "value": 1}], "allowed operators: >, >="),
        ([{"column": "country", "operator": ">", "value": 1}], "holds text"),
        ([{"column": "amount", "operator": "in", "value": 3}], "non-empty list"),
        ([{"column": "amount", "operator": ">", "value": 1, "wieght": 2}], "unknown key"),
    ],
)
def test_rules_validation_errors(frame, rules, message):
    with pytest.raises((UnseenError, DataError), match=message):
        make_detector("rules", rules=rules).fit(frame)


def test_rules_from_yaml_through_cli(frame, tmp_path, capsys):
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(
        "rules:\n  - {column: amount, operator: '>', value: 300}\n"
        "  - {column: country, operator: '==', value: NL}\n"
    )
    data = tmp_path / "train.csv"
    frame.to_csv(data, index=False)
    model = tmp_path / "rules.unseen"
    code = main(
        ["fit", str(data), "-o", str(model), "--detector", "rules", "-q"]
        + ["--param", f"rules_path={rules_path}"]
    )
    assert code == 0
    rules_path.unlink()  # the model file keeps the rules
    pipeline = AnomalyPipeline.load(model)
    expected = ((frame["amount"] > 300) + (frame["country"] == "NL")).to_numpy(float)
    np.testing.assert_array_equal(pipeline.anomaly_score(frame), expected)


def test_cli_fits_ensemble_and_lists_detectors(frame, tmp_path, capsys):
    data = tmp_path / "train.csv"
    frame.drop(columns=["note"]).to_csv(data, index=False)
    code = main(
        ["fit", str(data), "-o", str(tmp_path / "m.unseen"), "--detector", "autoencoder+iforest"]
        + ["--epochs", "2", "-q"]
    )
    assert code == 0
    assert main(["detectors"]) == 0
    listing = capsys.readouterr().out
    for name in REGISTRY:
        assert name in listing
    assert json.dumps([64, 16]) in listing


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('- {column: a, operator: ">", value: ' + "9" * 400 + "}\n", "finite number"),
        ('- {column: a, operator: "==", value: null}\n', "is missing"),
        ('- {column: a, operator: "in", value: [[1], {x: 1}]}\n', "finite numbers or text"),
        ('- {column: a, operator: ">", value: 1e5}\n', "YAML reads 1e5 as text"),
    ],
)
def test_rules_file_values_rejected(tmp_path, content, message):
    from unseen.detectors.rules import RulesDetector

    path = tmp_path / "rules.yaml"
    path.write_text(content)
    frame = pd.DataFrame({"a": np.arange(40.0)})
    detector = RulesDetector(rules_path=str(path))
    with pytest.raises(UnseenError, match=message):
        detector.fit(frame.to_numpy(dtype=np.float32), raw_frame=frame)


def test_rules_file_not_utf8_rejected(tmp_path):
    from unseen.detectors.rules import read_rules_file

    path = tmp_path / "rules.yaml"
    path.write_bytes(b"\xff\xfe- {column: a}")
    with pytest.raises(UnseenError, match="not UTF-8 text"):
        read_rules_file(path)


def one_tree_range_aware_depths(X: np.ndarray, tree: dict) -> np.ndarray:
    """Walk one stored tree row by row: the plain reference for the stacked walk."""
    depths = np.empty(len(X))
    for index, row in enumerate(X.astype(np.float64)):
        node, still, expected = 0, 1.0, 0.0
        while tree["children_left"][node] >= 0:
            value = row[tree["feature"][node]]
            chance = float(
                isolation_probabilities(
                    np.array([value]), tree["low"][[node]], tree["high"][[node]]
                )[0]
            )
            expected += still * chance * tree["depth"][node]
            still *= 1.0 - chance
            if value <= tree["threshold"][node]:
                node = tree["children_left"][node]
            else:
                node = tree["children_right"][node]
        leaf_length = tree["depth"][node] + tree["leaf_correction"][node] - 1.0
        depths[index] = expected + still * leaf_length
    return depths


def test_range_aware_stacked_matches_per_tree(cardio_split):
    train, test, _ = cardio_split
    detector = make_detector("iforest", n_estimators=40, random_state=3).fit(train)
    # Rows past the chunk size and far outside the training range.
    rows = np.concatenate([test, test * 5.0, test[:100] - 20.0]).astype(np.float32)
    per_tree = np.column_stack([one_tree_range_aware_depths(rows, t) for t in detector.trees_])
    stacked = range_aware_tree_depths(rows, stack_trees(detector.trees_))
    np.testing.assert_allclose(stacked, per_tree, rtol=1e-12)
