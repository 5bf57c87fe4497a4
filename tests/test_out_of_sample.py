"""Out-of-sample training scores, ECOD, ensemble rank rules and calibration without a holdout.

Each detector's scores are checked against an independent computation:
brute-force distances for kNN, scikit-learn's own trees for the isolation
forest, ECOD's tail definitions written out (and PyOD's tails).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from unseen.cli import main
from unseen.detectors import make_detector
from unseen.detectors.ensemble import COMBINE_RULES, EnsembleDetector, normalised_rank
from unseen.detectors.sklearn_wrappers import range_aware_tree_depths, stack_trees
from unseen.errors import UnseenError
from unseen.pipeline import AnomalyPipeline

# ------------------------------------------------------------------ helpers


def float32_exact(a: np.ndarray) -> np.ndarray:
    """Round to float32, as detectors store their input, so comparisons are exact."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def brute_force_knn(X: np.ndarray, reference: np.ndarray, k: int, method: str, skip_self: bool):
    """Return each row's k-th or mean distance to its k nearest reference rows, by brute force."""
    distances = np.sqrt(((X[:, None, :] - reference[None, :, :]) ** 2).sum(axis=2))
    if skip_self:
        np.fill_diagonal(distances, np.inf)
    nearest = np.sort(distances, axis=1)[:, :k]
    return nearest[:, -1] if method == "largest" else nearest.mean(axis=1)


def c_factor(n: float) -> float:
    """Return c(n), the mean unsuccessful-search depth in a binary search tree of n keys.

    Liu, Ting and Zhou, "Isolation Forest" (ICDM 2008), eq. 1.
    """
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def sklearn_tree_depths(forest: IsolationForest, X: np.ndarray) -> np.ndarray:
    """Return a (trees, rows) array of path lengths read from sklearn's decision paths."""
    depths = []
    for tree in forest.estimators_:
        nodes_on_path = np.asarray(tree.decision_path(X).sum(axis=1)).ravel()
        leaf_sizes = tree.tree_.n_node_samples[tree.apply(X)]
        corrections = np.array([c_factor(size) for size in leaf_sizes])
        depths.append(nodes_on_path - 1.0 + corrections)
    return np.array(depths)


def moment_skewness(column: np.ndarray) -> float:
    """Return the sample skewness with 1/n moments, or NaN for a constant column."""
    centred = column - column.mean()
    second = (centred**2).mean()
    return np.nan if second == 0 else (centred**3).mean() / second**1.5


def ecod_terms(left: np.ndarray, right: np.ndarray, right_skewed: np.ndarray) -> np.ndarray:
    """Return per-feature ECOD terms: the larger of the skew-side -log tail and the mean of both."""
    skew_side = np.where(right_skewed, right, left)
    return np.maximum(skew_side, (left + right) / 2.0)


def reference_ecod(train: np.ndarray, rows: np.ndarray, leave_out: np.ndarray | None = None):
    """Compute ECOD scores from the definitions, one row and one feature at a time.

    Tails are ``(1 + count) / (m + 1)`` over the m reference rows. With
    ``leave_out``, row i of ``rows`` is scored against ``train`` without row
    ``leave_out[i]``. Skewness comes from all of ``train``, and a constant
    column counts as right-skewed.
    """
    right_skewed = np.array([not moment_skewness(c) < 0 for c in train.T])
    scores = []
    for i, row in enumerate(rows):
        reference = train if leave_out is None else np.delete(train, leave_out[i], axis=0)
        m = len(reference)
        left = [(1 + np.sum(reference[:, j] <= v)) / (m + 1) for j, v in enumerate(row)]
        right = [(1 + np.sum(reference[:, j] >= v)) / (m + 1) for j, v in enumerate(row)]
        scores.append(ecod_terms(-np.log(left), -np.log(right), right_skewed).sum())
    return np.array(scores)


@pytest.fixture(scope="module")
def ecod_matrix() -> np.ndarray:
    """30 rows: tied integers, a constant, a negatively and a positively skewed column."""
    rng = np.random.default_rng(1)
    n = 30
    columns = [
        rng.integers(0, 4, n).astype(float),
        np.full(n, 2.5),
        -rng.exponential(size=n),
        rng.exponential(size=n),
    ]
    return float32_exact(np.column_stack(columns))


@pytest.fixture(scope="module")
def nsl_normal(datasets_dir) -> pd.DataFrame:
    """The 13,449 normal connections of KDDTrain+_20Percent.txt."""
    from conftest import read_nsl_kdd

    frame = read_nsl_kdd(datasets_dir, "KDDTrain+_20Percent.txt")
    normal = frame[frame["label"] == "normal"].drop(columns=["label", "difficulty"])
    return normal.reset_index(drop=True)


# ---------------------------------------------------------------------- kNN


@pytest.mark.parametrize("method", ["largest", "mean"])
def test_knn_leave_one_out_brute_force(method):
    rng = np.random.default_rng(0)
    base = float32_exact(rng.normal(size=(60, 4)))
    # Duplicated rows: a row's twin is a genuine neighbour at distance 0.
    X = np.vstack([base, base[:8]])
    detector = make_detector("knn", n_neighbors=4, method=method, random_state=0).fit(X)
    expected = brute_force_knn(X, X, 4, method, skip_self=True)
    # sklearn's dot-product distances leave about sqrt(eps) where the true distance is 0.
    np.testing.assert_allclose(detector.out_of_sample_scores(), expected, atol=1e-6)
    assert (detector.out_of_sample_scores()[60:] > 0).all()
    new = float32_exact(rng.normal(size=(10, 4)))
    np.testing.assert_allclose(
        detector.anomaly_score(new), brute_force_knn(new, X, 4, method, False), atol=1e-6
    )


def test_knn_unreferenced_rows_scored_normally():
    rng = np.random.default_rng(2)
    X = float32_exact(rng.normal(size=(80, 3)))
    detector = make_detector("knn", n_neighbors=3, max_reference_rows=30, random_state=4).fit(X)
    reference = detector.reference_
    in_reference = (X[:, None, :] == reference[None]).all(axis=2).any(axis=1)
    assert in_reference.sum() == 30
    oos = detector.out_of_sample_scores()
    np.testing.assert_array_equal(oos[~in_reference], detector.anomaly_score(X[~in_reference]))
    # Reference rows skip themselves: brute force over the other reference rows.
    expected = brute_force_knn(X[in_reference], X[in_reference], 3, "largest", skip_self=True)
    np.testing.assert_allclose(oos[in_reference], expected, atol=1e-6)


def test_knn_bad_method_named():
    with pytest.raises(UnseenError, match="'median'"):
        make_detector("knn", method="median").fit(np.random.default_rng(0).normal(size=(10, 2)))


# ---------------------------------------------------------- isolation forest


def out_of_bag_mask(forest: IsolationForest, n_rows: int) -> np.ndarray:
    """Return a (trees, rows) mask of the rows each tree's subsample left out."""
    mask = np.ones((len(forest.estimators_), n_rows), dtype=bool)
    for t, in_bag in enumerate(forest.estimators_samples_):
        mask[t, in_bag] = False
    return mask


def scores_from_depths(depths: np.ndarray, mask: np.ndarray, max_samples: int) -> np.ndarray:
    mean_depth = (depths * mask).sum(axis=0) / mask.sum(axis=0)
    return 2.0 ** (-mean_depth / c_factor(max_samples))


@pytest.fixture(scope="module")
def forest_data() -> tuple[np.ndarray, IsolationForest]:
    X = np.random.default_rng(3).standard_t(3, size=(700, 5)).astype(np.float32)
    return X, IsolationForest(n_estimators=50, random_state=3).fit(X)


def test_iforest_out_of_bag_against_sklearn(forest_data):
    X, forest = forest_data
    ours = make_detector("iforest", n_estimators=50, range_aware=False, random_state=3).fit(X)
    np.testing.assert_array_equal(ours.anomaly_score(X), -forest.score_samples(X))
    mask = out_of_bag_mask(forest, len(X))
    # 256 of 700 rows per tree: every row is out of the bag of some trees.
    assert mask.sum(axis=0).min() > 0
    expected = scores_from_depths(sklearn_tree_depths(forest, X), mask, 256)
    np.testing.assert_allclose(ours.out_of_sample_scores(), expected, rtol=1e-12)
    assert not np.allclose(ours.out_of_sample_scores(), ours.anomaly_score(X))


def test_iforest_range_aware_out_of_bag(forest_data):
    X, forest = forest_data
    ours = make_detector("iforest", n_estimators=50, range_aware=True, random_state=3).fit(X)
    depths = range_aware_tree_depths(X, stack_trees(ours.trees_)).T
    expected = scores_from_depths(depths, out_of_bag_mask(forest, len(X)), 256)
    np.testing.assert_allclose(ours.out_of_sample_scores(), expected, rtol=1e-12)


@pytest.mark.parametrize("range_aware", [False, True])
def test_iforest_small_data_in_sample(range_aware):
    X = np.random.default_rng(5).normal(size=(200, 3)).astype(np.float32)
    detector = make_detector("iforest", n_estimators=30, range_aware=range_aware, random_state=1)
    detector.fit(X)
    np.testing.assert_array_equal(detector.out_of_sample_scores(), detector.anomaly_score(X))


# --------------------------------------------------------------------- ECOD


def test_ecod_matches_definitions(ecod_matrix):
    X = ecod_matrix
    detector = make_detector("ecod").fit(X)
    signs = np.where([moment_skewness(c) < 0 for c in X.T], -1.0, 1.0)
    np.testing.assert_array_equal(detector.skew_sign_, signs)
    assert signs[2] == -1
    new = np.array(
        [[1.0, 2.5, -0.5, 0.3], [9.0, 2.5, -9.0, 9.0], [-3.0, 1.0, 0.0, 0.0], X[3], X[7]]
    )
    np.testing.assert_allclose(detector.anomaly_score(new), reference_ecod(X, new), rtol=1e-12)
    np.testing.assert_allclose(
        detector.out_of_sample_scores(),
        reference_ecod(X, X, leave_out=np.arange(len(X))),
        rtol=1e-12,
    )


def test_ecod_unkept_rows_scored_as_new(ecod_matrix):
    X = float32_exact(np.vstack([ecod_matrix, ecod_matrix + 0.25]))
    detector = make_detector("ecod", max_reference_rows=20, random_state=0).fit(X)
    kept = np.sort(detector.sorted_[:, 3])
    in_reference = np.isin(X[:, 3], kept)
    assert in_reference.sum() == 20
    oos = detector.out_of_sample_scores()
    np.testing.assert_allclose(oos[~in_reference], detector.anomaly_score(X[~in_reference]))
    assert not np.allclose(oos[in_reference], detector.anomaly_score(X[in_reference]))


def test_ecod_constant_column_no_warning(ecod_matrix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_detector("ecod").fit(ecod_matrix)


def test_ecod_beyond_range_scores_higher():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(50, 3))
    detector = make_detector("ecod").fit(X)
    at_max = np.median(X, axis=0)
    at_max[0] = X[:, 0].max()
    beyond = at_max.copy()
    beyond[0] = X[:, 0].max() + 100.0
    scores = detector.anomaly_score(np.vstack([at_max, beyond]))
    assert np.isfinite(scores).all()
    assert scores[1] > scores[0]


def test_ecod_alone_equals_batch(ecod_matrix):
    detector = make_detector("ecod").fit(ecod_matrix)
    batch = np.random.default_rng(8).normal(1.0, 2.0, size=(25, 4))
    together = detector.anomaly_score(batch)
    alone = np.array([detector.anomaly_score(row[None, :])[0] for row in batch])
    np.testing.assert_array_equal(alone, together)


def test_ecod_pipeline_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(rng.gamma(2.0, size=(120, 4)), columns=list("abcd"))
    pipeline = AnomalyPipeline(detector="ecod", random_state=0).fit(frame)
    path = tmp_path / "ecod.unseen"
    pipeline.save(path)
    loaded = AnomalyPipeline.load(path)
    new = pd.DataFrame(rng.gamma(2.0, size=(30, 4)) * 1.5, columns=list("abcd"))
    np.testing.assert_array_equal(loaded.anomaly_score(new), pipeline.anomaly_score(new))
    # Out-of-sample scores belong to the fit in this process, not to the model file.
    assert loaded.detector_.out_of_sample_scores() is None


def pyod_slice(cardio):
    X, y = cardio
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:1200]], X[order[1200:]], y[order[1200:]]


def test_ecod_training_scores_pyod_tails(cardio):
    pyod_ecod = pytest.importorskip("pyod.models.ecod")
    train, _, _ = pyod_slice(cardio)
    reference = pyod_ecod.ECOD().fit(train)
    # PyOD's training tails count the row itself among n, which is our
    # leave-one-out tail with +1 smoothing.
    right_skewed = ~(skew(train, axis=0) < 0)
    expected = ecod_terms(reference.U_l, reference.U_r, right_skewed).sum(axis=1)
    ours = make_detector("ecod").fit(train)
    np.testing.assert_allclose(ours.out_of_sample_scores(), expected, rtol=1e-9)


def test_ecod_auroc_close_to_pyod(cardio):
    train, test, labels = pyod_slice(cardio)
    ours = roc_auc_score(labels, make_detector("ecod").fit(train).anomaly_score(test))
    assert ours > 0.85
    pyod_ecod = pytest.importorskip("pyod.models.ecod")
    theirs = roc_auc_score(labels, pyod_ecod.ECOD().fit(train).decision_function(test))
    assert abs(ours - theirs) <= 0.03


# ----------------------------------------------------------------- ensemble


def spread_of(reference: np.ndarray) -> float:
    """Return the largest minus the median reference score, or 1 when that is 0."""
    spread = reference[-1] - np.median(reference)
    return spread if spread > 0 else 1.0


def ranks_from_out_of_sample(members) -> np.ndarray:
    """Rank each member's out-of-sample scores against their own sorted values."""
    columns = []
    for member in members:
        oos = member.out_of_sample_scores()
        reference = np.sort(oos)
        columns.append(normalised_rank(oos, reference, spread_of(reference)))
    return np.column_stack(columns)


@pytest.fixture(scope="module")
def ensemble_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(10)
    train = float32_exact(rng.standard_t(4, size=(400, 5)))
    return train, float32_exact(rng.normal(size=(50, 5)) * 2)


@pytest.fixture(scope="module")
def max_ensemble(ensemble_data) -> EnsembleDetector:
    members = ["iforest", "knn", "ecod"]
    params = {"knn": {"method": "mean"}}
    return EnsembleDetector(members, params, combine="max", random_state=0).fit(ensemble_data[0])


@pytest.fixture(scope="module")
def robust_fitted(ensemble_data):
    return make_detector("robust_ensemble", random_state=0).fit(ensemble_data[0])


def test_max_rule_rowwise_max(max_ensemble, ensemble_data):
    new = ensemble_data[1]
    ranks = max_ensemble.member_ranks(new)
    assert ranks.shape == (50, 3)
    np.testing.assert_array_equal(max_ensemble.anomaly_score(new), ranks.max(axis=1))


def test_robust_ensemble_top_two_ranks(robust_fitted, ensemble_data):
    new = ensemble_data[1]
    ranks = robust_fitted.member_ranks(new)
    assert ranks.shape == (50, 4)
    top_two = np.sort(ranks, axis=1)[:, -2:].mean(axis=1)
    np.testing.assert_array_equal(robust_fitted.anomaly_score(new), top_two)
    as_max = make_detector("robust_ensemble", combine="max", random_state=0)
    as_max.fit(ensemble_data[0])
    np.testing.assert_array_equal(as_max.anomaly_score(new), as_max.member_ranks(new).max(axis=1))


def test_ensemble_out_of_sample_combined(max_ensemble):
    for member, stored in zip(max_ensemble.members_, max_ensemble.references_, strict=True):
        # References are the members' out-of-sample scores, not in-sample ones.
        np.testing.assert_array_equal(stored, np.sort(member.out_of_sample_scores()))
    expected = ranks_from_out_of_sample(max_ensemble.members_).max(axis=1)
    np.testing.assert_array_equal(max_ensemble.out_of_sample_scores(), expected)


def test_robust_ensemble_out_of_sample_recomputed(robust_fitted, ensemble_data):
    X = ensemble_data[0]
    members = robust_fitted.ensemble_.members_
    assert [m.name for m in members] == ["iforest", "knn", "ecod"]
    assert members[1].method == "mean"
    first = ranks_from_out_of_sample(members)
    # The trimmed kNN's reference: rows whose largest first-stage rank is not in the top 10%.
    keep = first.max(axis=1) <= np.quantile(first.max(axis=1), 0.9)
    trimmed = robust_fitted.trimmed_
    in_reference = (X[:, None, :] == trimmed.reference_[None]).all(axis=2).any(axis=1)
    np.testing.assert_array_equal(in_reference, keep)
    trimmed_scores = np.where(
        keep,
        0.0,
        brute_force_knn(X, X[keep], 5, "mean", skip_self=False),
    )
    trimmed_scores[keep] = brute_force_knn(X[keep], X[keep], 5, "mean", skip_self=True)
    np.testing.assert_allclose(robust_fitted.trimmed_reference_, np.sort(trimmed_scores), atol=1e-6)
    exact = np.where(keep, 0.0, trimmed.anomaly_score(X))
    exact[keep] = trimmed.out_of_sample_scores()
    reference = robust_fitted.trimmed_reference_
    ranks = np.column_stack([first, normalised_rank(exact, reference, spread_of(reference))])
    expected = np.sort(ranks, axis=1)[:, -2:].mean(axis=1)
    np.testing.assert_array_equal(robust_fitted.out_of_sample_scores(), expected)


def test_ensemble_member_without_out_of_sample():
    X = np.random.default_rng(11).normal(size=(60, 3))
    ensemble = EnsembleDetector(members=["iforest", "robust_z"], combine="max", random_state=0)
    assert not ensemble.has_out_of_sample_scores()
    assert ensemble.fit(X).out_of_sample_scores() is None
    assert EnsembleDetector(members=["iforest", "knn", "ecod"]).has_out_of_sample_scores()


@pytest.mark.parametrize("name", ["ensemble", "robust_ensemble"])
def test_bad_combine_lists_allowed_rules(name):
    params = {"members": ["iforest", "knn"]} if name == "ensemble" else {}
    detector = make_detector(name, combine="median", **params)
    with pytest.raises(UnseenError) as caught:
        detector.fit(np.random.default_rng(0).normal(size=(30, 2)))
    message = str(caught.value)
    assert "'median'" in message
    assert all(repr(rule) in message for rule in COMBINE_RULES)


# ----------------------------------------------------------------- pipeline


@pytest.fixture(scope="module")
def small_frame() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    frame = pd.DataFrame(rng.normal(size=(150, 4)), columns=["a", "b", "c", "d"])
    frame["kind"] = rng.choice(["x", "y", "z"], size=150)
    return frame


def test_auto_calibration_trains_on_every_row(small_frame):
    pipeline = AnomalyPipeline(random_state=0).fit(small_frame)
    info = pipeline.training_info_
    assert info["calibration"] == "out_of_sample"
    assert info["n_training_rows"] == len(small_frame)
    assert info["n_calibration_rows"] == len(small_frame)
    expected = np.sort(pipeline.detector_.out_of_sample_scores())
    np.testing.assert_array_equal(np.sort(pipeline.calibrator_.calibration_scores_), expected)


def test_default_pipeline_round_trip(small_frame, tmp_path):
    pipeline = AnomalyPipeline(random_state=0).fit(small_frame)
    pipeline.save(tmp_path / "default.unseen")
    loaded = AnomalyPipeline.load(tmp_path / "default.unseen")
    assert loaded.detector_.combine == pipeline.detector_.combine
    assert loaded.detector_.trimmed_.method == "mean"
    np.testing.assert_array_equal(
        loaded.anomaly_score(small_frame), pipeline.anomaly_score(small_frame)
    )
    assert loaded.threshold_ == pipeline.threshold_


def test_holdout_calibration_holds_rows_out(small_frame):
    pipeline = AnomalyPipeline(
        calibration="holdout", calibration_fraction=0.3, target_fpr=0.1, random_state=0
    ).fit(small_frame)
    info = pipeline.training_info_
    assert info["calibration"] == "holdout"
    assert info["n_calibration_rows"] == 45
    assert info["n_training_rows"] == 105


def test_autoencoder_auto_holds_out(small_frame):
    pipeline = AnomalyPipeline(
        detector="autoencoder", detector_params={"epochs": 1}, target_fpr=0.1, random_state=0
    ).fit(small_frame)
    assert pipeline.training_info_["calibration"] == "holdout"
    assert pipeline.training_info_["n_calibration_rows"] == 30


def test_bad_calibration_mode_named(small_frame):
    with pytest.raises(UnseenError, match="'conformal'"):
        AnomalyPipeline(calibration="conformal").fit(small_frame)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_out_of_sample_calibration_fpr(nsl_normal):
    order = np.random.default_rng(0).permutation(len(nsl_normal))
    train, test = nsl_normal.iloc[order[:5000]], nsl_normal.iloc[order[5000:]]
    pipeline = AnomalyPipeline(target_fpr=0.05, random_state=0).fit(train)
    assert pipeline.training_info_["calibration"] == "out_of_sample"
    observed = float(np.mean(pipeline.predict(test) == -1))
    # Binomial spread of the test share plus that of the 5,000 calibration scores.
    sd = np.sqrt(0.05 * 0.95 * (1 / len(test) + 1 / len(train)))
    assert observed <= 0.05 + 3 * sd, observed
    assert observed >= 0.05 - 3 * sd, observed


# ---------------------------------------------------------------------- CLI


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    ("detector", "expected"),
    [
        ("robust_ensemble", r"on 300 rows \(calibrated on their out-of-sample scores\)"),
        ("robust_z", r"on 240 rows \(60 held out for calibration\)"),
    ],
)
def test_fit_message_names_calibration(nsl_normal, tmp_path, capsys, detector, expected):
    data = tmp_path / "train.csv"
    nsl_normal.head(300).to_csv(data, index=False)
    code = main(["fit", str(data), "-o", str(tmp_path / "m.unseen"), "--detector", detector])
    err = capsys.readouterr().err
    assert code == 0, err
    assert re.search(expected, " ".join(err.split())), err
