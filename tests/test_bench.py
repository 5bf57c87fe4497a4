"""The benchmark protocol, runner, summary and command on small slices of real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unseen.bench import load_labelled, make_split, run_benchmark, summarize, summary_markdown
from unseen.bench.peers import pyod_available
from unseen.bench.protocol import LabelledData, subsample
from unseen.bench.runner import RESULT_COLUMNS, run_one
from unseen.cli import main
from unseen.errors import DataError, UnseenError


@pytest.fixture(scope="module")
def cardio_data(cardio) -> LabelledData:
    X, y = cardio
    return LabelledData("cardio", pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]), y)


def test_split_is_stratified_and_disjoint(cardio_data):
    tagged = cardio_data.features.assign(row=np.arange(len(cardio_data.labels)))
    split = make_split(LabelledData("tagged", tagged, cardio_data.labels), 0, "unsupervised")
    n = len(cardio_data.labels)
    assert len(split.test) == pytest.approx(0.3 * n, abs=1)
    rate = cardio_data.labels.mean()
    assert split.test_labels.mean() == pytest.approx(rate, abs=0.01)
    assert split.n_train_anomalies / len(split.train) == pytest.approx(rate, abs=0.01)
    assert not set(split.train["row"]) & set(split.test["row"])
    assert len(split.train) + len(split.test) == n


def test_clean_setting_drops_training_anomalies_only(cardio_data):
    dirty = make_split(cardio_data, seed=3, setting="unsupervised")
    clean = make_split(cardio_data, seed=3, setting="clean")
    assert clean.n_train_anomalies == 0
    assert len(clean.train) == len(dirty.train) - dirty.n_train_anomalies
    pd.testing.assert_frame_equal(clean.test, dirty.test)
    np.testing.assert_array_equal(clean.test_labels, dirty.test_labels)


def test_seeds_change_the_split(cardio_data):
    first = make_split(cardio_data, seed=0, setting="clean")
    again = make_split(cardio_data, seed=0, setting="clean")
    other = make_split(cardio_data, seed=1, setting="clean")
    pd.testing.assert_frame_equal(first.train, again.train)
    assert not first.test.equals(other.test)


def test_subsample_is_stratified_and_seeded(cardio_data):
    small = subsample(cardio_data, 500, seed=0)
    assert len(small.labels) == 500
    assert small.labels.mean() == pytest.approx(cardio_data.labels.mean(), abs=0.01)
    assert subsample(cardio_data, 500, seed=0).features.equals(small.features)
    assert subsample(cardio_data, 10_000, seed=0) is cardio_data


def test_preprocessing_is_fitted_on_the_training_split_only(cardio_data, monkeypatch):
    from unseen.pipeline import AnomalyPipeline

    seen: list[int] = []
    original = AnomalyPipeline.fit

    def recording_fit(self, X, y=None):
        seen.append(len(X))
        return original(self, X, y)

    monkeypatch.setattr(AnomalyPipeline, "fit", recording_fit)
    split = make_split(cardio_data, seed=0, setting="unsupervised")
    result = run_one("unseen:robust_z", split)
    assert seen == [len(split.train)]
    assert result.error == ""
    assert 0.5 < result.auroc <= 1.0


def test_results_and_summary(cardio_data, tmp_path):
    small = subsample(cardio_data, 600, seed=0)
    other = LabelledData("cardio_b", small.features.iloc[:, :10], small.labels)
    path = tmp_path / "runs.csv"
    results = run_benchmark(
        [small, other], ["robust_z", "iforest"], seeds=[0, 1], results_path=path
    )
    assert list(results.columns) == RESULT_COLUMNS
    assert len(results) == 2 * 2 * 2 * 2  # datasets x seeds x settings x detectors
    assert (results["error"] == "").all()
    assert results[["auroc", "average_precision", "fit_seconds"]].notna().all().all()
    assert (results["score_rows_per_second"] > 0).all()
    assert len(pd.read_csv(path)) == len(results)

    summary = summarize(results)
    for _, part in summary.groupby("setting"):
        # Two detectors: ranks are 1 and 2 per block, so mean ranks sum to 3.
        assert part["mean_rank"].sum() == pytest.approx(3.0)
        assert part["mean_auroc"].is_monotonic_decreasing
    text = summary_markdown(results)
    assert "### Setting: unsupervised" in text
    assert "### Setting: clean" in text
    assert "| unseen:robust_z |" in text

    resumed = run_benchmark(
        [small, other], ["robust_z", "iforest"], seeds=[0, 1], results_path=path, resume=True
    )
    assert len(resumed) == len(results)


def test_summary_skips_failed_blocks():
    results = pd.DataFrame(
        {
            "dataset": ["a", "a", "b", "b"],
            "setting": "clean",
            "seed": 0,
            "detector": ["x", "y", "x", "y"],
            "auroc": [0.9, 0.8, np.nan, 0.7],
            "average_precision": [0.5, 0.4, np.nan, 0.3],
            "fit_seconds": 1.0,
            "score_rows_per_second": 10.0,
            "fit_peak_rss_mb": 1.0,
            "error": ["", "", "TrainingError: diverged", ""],
        }
    )
    summary = summarize(results).set_index("detector")
    assert summary.loc["x", "mean_auroc"] == pytest.approx(0.9)
    assert summary.loc["y", "mean_auroc"] == pytest.approx(0.8)
    assert summary.loc["x", "n_failed"] == 1


def test_table_with_label_column(tmp_path, cardio_data):
    small = subsample(cardio_data, 300, seed=0)
    path = tmp_path / "cardio.csv"
    small.features.assign(target=small.labels).to_csv(path, index=False)
    data = load_labelled(path, label="target")
    assert "target" not in data.features.columns
    np.testing.assert_array_equal(data.labels, small.labels)
    with pytest.raises(UnseenError, match="--label"):
        load_labelled(path)
    with pytest.raises(DataError, match="0 \\(normal\\) and 1"):
        load_labelled(tmp_path / "bad.csv" if _write_bad(tmp_path) else path, label="target")


def _write_bad(folder) -> bool:
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "target": [0, 2, 1, 0]}).to_csv(
        folder / "bad.csv", index=False
    )
    return True


def test_bench_command(tmp_path, cardio_data):
    small = subsample(cardio_data, 400, seed=0)
    np.savez(tmp_path / "cardio.npz", X=small.features.to_numpy(), y=small.labels)
    out = tmp_path / "out"
    args = [
        "bench", str(tmp_path / "cardio.npz"), "-o", str(out), "--detectors", "robust_z",
        "--peers", "none", "--seeds", "0", "--quiet",
    ]  # fmt: skip
    html = tmp_path / "bench.html"
    assert main([*args, "--html", str(html)]) == 0
    assert html.stat().st_size > 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["setting"]) == {"unsupervised", "clean"}
    assert (out / "summary.md").read_text().count("unseen:robust_z") == 2
    assert not (out / "runs.partial.csv").exists()
    assert main([*args[:-1], "--seeds", "x"]) == 2
    assert main(["bench", str(tmp_path / "missing.npz"), "-o", str(out)]) == 2


@pytest.mark.skipif(
    not pyod_available(), reason="PyOD is not installed (pip install unseen[bench])"
)
def test_pyod_peers_run_on_the_same_split(cardio_data):
    split = make_split(subsample(cardio_data, 600, seed=0), seed=0, setting="clean")
    for peer in ("pyod:IForest", "pyod:ECOD"):
        result = run_one(peer, split)
        assert result.error == ""
        assert result.n_train == len(split.train)
        assert result.auroc > 0.7
        assert result.score_rows_per_second > 0
