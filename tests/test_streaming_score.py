"""``unseen score`` streams long Parquet files in batches with the same results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unseen.cli import main
from unseen.pipeline import AnomalyPipeline


@pytest.fixture(scope="module")
def scored_files(tmp_path_factory, cardio):
    X, _ = cardio
    folder = tmp_path_factory.mktemp("stream")
    frame = pd.DataFrame(X[:, :8], columns=[f"f{i}" for i in range(8)])
    frame.insert(0, "row_id", np.arange(len(frame)))
    pipeline = AnomalyPipeline(detector="robust_z", id_columns=["row_id"], target_fpr=0.05)
    pipeline.fit(frame.iloc[:1200])
    pipeline.save(folder / "model.unseen")
    frame.iloc[1200:].to_parquet(folder / "new.parquet", index=False)
    return folder


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_streamed_equals_in_memory(scored_files, suffix):
    model, data = scored_files / "model.unseen", scored_files / "new.parquet"
    whole = scored_files / f"whole.{suffix}"
    streamed = scored_files / f"streamed.{suffix}"
    common = [str(model), str(data), "--reasons-for", "all", "--quiet"]
    assert main(["score", *common, "-o", str(whole)]) == 0
    assert main(["score", *common, "-o", str(streamed), "--batch-rows", "97"]) == 0
    read = pd.read_parquet if suffix == "parquet" else pd.read_csv
    expected, actual = read(whole), read(streamed)
    assert len(actual) == 631
    pd.testing.assert_frame_equal(actual, expected)


def test_streaming_leaves_no_partial_file(scored_files, tmp_path):
    target = tmp_path / "missing_folder" / "out.parquet"
    code = main(
        ["score", str(scored_files / "model.unseen"), str(scored_files / "new.parquet"),
         "-o", str(target), "--batch-rows", "50", "--quiet"]
    )  # fmt: skip
    assert code == 2
    assert not target.parent.exists()


def test_summary_line_reports_rows_per_second(scored_files, capsys):
    out = scored_files / "summary.parquet"
    args = ["score", str(scored_files / "model.unseen"), str(scored_files / "new.parquet")]
    assert main([*args, "-o", str(out), "--batch-rows", "200"]) == 0
    message = " ".join(capsys.readouterr().err.split())
    assert "scored 631 rows" in message
    assert "rows/s" in message
