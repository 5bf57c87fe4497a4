"""``unseen explain`` and the reason columns of ``unseen score`` on NSL-KDD."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from unseen.cli import main
from unseen.pipeline import AnomalyPipeline

FAST = ["--detector", "autoencoder", "--epochs", "6", "--batch-size", "64", "--seed", "0"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, nsl_kdd_train, nsl_kdd_test) -> Path:
    folder = tmp_path_factory.mktemp("explain_cli")
    normal = nsl_kdd_train[nsl_kdd_train["label"] == "normal"]
    normal.assign(conn_id=[f"t{i}" for i in range(len(normal))]).to_csv(
        folder / "train.csv", index=False
    )
    test = nsl_kdd_test.head(300).assign(conn_id=[f"c{i}" for i in range(300)])
    test.to_csv(folder / "test.csv", index=False)
    return folder


def fit_model(workdir: Path, name: str, extra: list[str]) -> Path:
    path = workdir / name
    args = ["fit", workdir / "train.csv", "-o", path, "--label", "label"]
    args += ["--ignore", "difficulty", "--quiet", *FAST, *extra]
    with pytest.warns(UserWarning):
        assert main([str(a) for a in args]) == 0
    return path


@pytest.fixture(scope="module")
def model(workdir) -> Path:
    return fit_model(workdir, "model.unseen", ["--id", "conn_id"])


@pytest.fixture(scope="module")
def model_without_ids(workdir) -> Path:
    return fit_model(workdir, "plain.unseen", ["--ignore", "conn_id"])


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment in lines[0]


def test_explain_row_table(model, workdir, capsys):
    code, out, _ = run_cli(["explain", model, workdir / "test.csv", "--row", "c7"], capsys)
    assert code == 0
    assert "conn_id=c7" in out
    for header in ("column", "observed", "expected", "contribution", "share", "p-value"):
        assert header in out


def test_explain_row_json_matches_api(model, workdir, capsys):
    args = ["explain", model, workdir / "test.csv", "--row", "c7", "--top-k", "4", "--json"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    record = json.loads(out)
    pipeline = AnomalyPipeline.load(model)
    row = pd.read_csv(workdir / "test.csv").iloc[[7]]
    assert record["row"] == 7
    assert record["ids"] == {"conn_id": "c7"}
    assert record["anomaly_score"] == pytest.approx(pipeline.anomaly_score(row)[0], rel=1e-6)
    assert record["p_value"] == pytest.approx(pipeline.p_values(row)[0], rel=1e-6)
    assert [c["rank"] for c in record["columns"]] == [1, 2, 3, 4]
    expected = pipeline.explain(row, top_k=4)
    assert [c["column"] for c in record["columns"]] == expected["column"].tolist()
    assert record["columns"][0]["observed"] == expected["observed"].iloc[0]
    assert all(c["share"] > 0 for c in record["columns"])


def test_explain_row_position_without_ids(model_without_ids, workdir, capsys):
    args = ["explain", model_without_ids, workdir / "test.csv", "--row", "3", "--json"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    assert json.loads(out)["row"] == 3


@pytest.mark.parametrize(
    ("row", "fragment"),
    [("c9999", "no row has conn_id = 'c9999'"), ("", "no row has conn_id = ''")],
)
def test_explain_unknown_id_exit_2(row, fragment, model, workdir, capsys):
    code, out, err = run_cli(["explain", model, workdir / "test.csv", "--row", row], capsys)
    assert_one_line_error(code, err, fragment)
    assert out == ""


@pytest.mark.parametrize(
    ("row", "fragment"),
    [("300", "row position 300 not found: the data has 300 rows"), ("c1", "0-based row position")],
)
def test_explain_bad_position_exit_2(row, fragment, model_without_ids, workdir, capsys):
    args = ["explain", model_without_ids, workdir / "test.csv", "--row", row]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize("extra", [[], ["--row", "c1", "--global"]])
def test_explain_needs_row_or_global(extra, model, workdir, capsys):
    code, _, err = run_cli(["explain", model, workdir / "test.csv", *extra], capsys)
    assert_one_line_error(code, err, "pass exactly one of --row ID and --global")


def test_explain_row_by_occlusion(model, workdir, capsys):
    args = ["explain", model, workdir / "test.csv", "--row", "c7", "--method", "occlusion"]
    code, out, _ = run_cli([*args, "--json"], capsys)
    assert code == 0
    assert json.loads(out)["method"] == "occlusion"
    code, _, err = run_cli([*args[:-1], "exact"], capsys)
    assert_one_line_error(code, err, "method must be one of auto, occlusion, got 'exact'")


def test_explain_global_table(model, workdir, capsys):
    args = ["explain", model, workdir / "test.csv", "--global", "--top-k", "5"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    assert "columns behind alerts" in out
    assert "rows flagged" in out


def test_explain_global_json(model, workdir, capsys):
    args = ["explain", model, workdir / "test.csv", "--global", "--json", "--max-rows", "100"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    result = json.loads(out)
    assert result["n_rows"] == 100
    assert len(result["columns"]) == 10
    assert {"column", "mean_share_flagged", "top_reason_flagged"} <= set(result["columns"][0])


def test_score_reasons_for_flagged_rows(model, workdir, capsys):
    output = workdir / "scores.csv"
    args = ["score", model, workdir / "test.csv", "-o", output, "--top-k", "2", "--quiet"]
    code, _, _ = run_cli(args, capsys)
    assert code == 0
    scores = pd.read_csv(output)
    flagged = scores["is_anomaly"]
    assert flagged.any()
    assert scores.loc[flagged, "reason_1"].notna().all()
    assert scores.loc[~flagged, "reason_1"].isna().all()
    assert {"reason_2_share", "reason_1_observed", "reason_1_expected"} <= set(scores.columns)


def test_score_reasons_for_all_rows(model, workdir, capsys):
    output = workdir / "all.csv"
    args = ["score", model, workdir / "test.csv", "-o", output, "--reasons-for", "all", "-q"]
    code, _, _ = run_cli(args, capsys)
    assert code == 0
    assert pd.read_csv(output)["reason_3"].notna().all()
