"""The command line end to end on NSL-KDD, and every bad input ending in exit code 2."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unseen.cli import main

FAST = ["--detector", "autoencoder", "--epochs", "6", "--batch-size", "64", "--seed", "0", "-q"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, nsl_kdd_train, nsl_kdd_test) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    train = nsl_kdd_train.assign(conn_id=range(len(nsl_kdd_train)))
    train.to_csv(folder / "train.csv", index=False)
    test = nsl_kdd_test.head(800).assign(conn_id=range(800))
    test.to_csv(folder / "test.csv", index=False)
    test.to_parquet(folder / "test.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def model(workdir) -> Path:
    path = workdir / "model.unseen"
    args = ["fit", str(workdir / "train.csv"), "-o", str(path), "--id", "conn_id"]
    args += ["--label", "label", "--ignore", "difficulty", "--train-on-normal", *FAST]
    with pytest.warns(UserWarning):
        assert main(args) == 0
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_score_writes_expected_columns(model, workdir, capsys):
    out = workdir / "scores.csv"
    code, _, err = run_cli(
        ["score", model, workdir / "test.csv", "-o", out, "--top-k", "2"], capsys
    )
    assert code == 0, err
    result = pd.read_csv(out)
    assert list(result.columns[:4]) == ["conn_id", "anomaly_score", "p_value", "is_anomaly"]
    reasons = {"reason_1", "reason_1_share", "reason_2", "reason_2_share", "reason_1_observed"}
    assert reasons <= set(result.columns)
    assert "reason_3" not in result.columns
    assert len(result) == 800
    assert result["conn_id"].tolist() == list(range(800))


def test_score_parquet_output_matches_csv(model, workdir, capsys):
    csv_out, parquet_out = workdir / "a.csv", workdir / "b.parquet"
    assert run_cli(["score", model, workdir / "test.csv", "-o", csv_out, "-q"], capsys)[0] == 0
    assert run_cli(["score", model, workdir / "test.parquet", "-o", parquet_out], capsys)[0] == 0
    np.testing.assert_allclose(
        pd.read_parquet(parquet_out)["anomaly_score"], pd.read_csv(csv_out)["anomaly_score"]
    )


def test_evaluate_reports_metrics(model, workdir, capsys):
    code, out, err = run_cli(
        ["evaluate", model, workdir / "test.csv", "--label", "label", "--json"], capsys
    )
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["auroc"] > 0.85
    assert 0 < metrics["average_precision"] <= 1
    counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    assert sum(metrics[key] for key in counts) == 800
    assert metrics["alarm_rule"] == "target false-positive rate 0.01"


def test_evaluate_table_output(model, workdir, capsys):
    code, out, _ = run_cli(["evaluate", model, workdir / "test.csv", "--label", "label"], capsys)
    assert code == 0
    assert "AUROC" in out
    assert "precision at k=" in out


def test_entry_point_in_new_process(model, workdir):
    unseen = shutil.which("unseen") or str(Path(sys.executable).parent / "unseen")
    result = subprocess.run(
        [unseen, "score", str(model), str(workdir / "test.csv"), "-o", str(workdir / "p.csv")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "scored 800 rows" in result.stderr
    help_text = subprocess.run([unseen, "--help"], capture_output=True, text=True)
    for command in ("fit", "score", "evaluate", "demo"):
        assert command in help_text.stdout


@pytest.mark.parametrize("command", ["fit", "score", "evaluate", "demo"])
def test_every_command_has_help(command, capsys):
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    assert "Usage" in out


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_TRAINING_FILES = {
    "empty": ("", "is empty"),
    "header_only": ("a,b,c\n", "header but no rows"),
    "text_in_numeric": (
        "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(40)) + "oops,1\n",
        "'a' is numeric but contains text such as 'oops'",
    ),
    "infinity": (
        "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(40)) + "inf,1\n",
        "'a' contains 1 infinite value",
    ),
    "all_constant": ("a,b\n" + "1,x\n" * 40, "no usable feature columns"),
    "too_few_rows": ("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(5)), "at least 20 rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAINING_FILES))
def test_fit_bad_input_exit_2_no_model(case, tmp_path, capsys):
    content, message = BAD_TRAINING_FILES[case]
    data = write(tmp_path / "train.csv", content)
    target = tmp_path / "model.unseen"
    code, _, err = run_cli(["fit", data, "-o", target, *FAST], capsys)
    assert_one_line_error(code, err, message)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]


def test_fit_with_entirely_missing_column(tmp_path, capsys):
    rows = "".join(f"{i},,{i % 5}\n" for i in range(40))
    data = write(tmp_path / "train.csv", "a,empty,b\n" + rows)
    with pytest.warns(UserWarning, match="empty \\(entirely missing\\)"):
        code, _, err = run_cli(["fit", data, "-o", tmp_path / "m.unseen", *FAST], capsys)
    assert code == 0, err


def test_fit_last_batch_of_one(tmp_path, capsys):
    # 21 rows: 4 calibration rows and 17 training rows, so batches of 16 and 1.
    rows = "".join(f"{i},{(i * 7) % 11}\n" for i in range(21))
    data = write(tmp_path / "train.csv", "a,b\n" + rows)
    args = ["fit", data, "-o", tmp_path / "m.unseen", "--detector", "autoencoder"]
    args += ["--epochs", "2", "--batch-size", "16", "-q"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err


def test_score_single_row(model, workdir, tmp_path, capsys):
    one = pd.read_csv(workdir / "test.csv").head(1)
    one.to_csv(tmp_path / "one.csv", index=False)
    out = tmp_path / "one_scored.csv"
    assert run_cli(["score", model, tmp_path / "one.csv", "-o", out, "-q"], capsys)[0] == 0
    assert len(pd.read_csv(out)) == 1


def test_score_missing_column_exit_2(model, workdir, tmp_path, capsys):
    frame = pd.read_csv(workdir / "test.csv").drop(columns=["service", "flag"]).head(10)
    frame.to_csv(tmp_path / "lacking.csv", index=False)
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["score", model, tmp_path / "lacking.csv", "-o", out], capsys)
    assert_one_line_error(code, err, "missing column(s) ['service', 'flag']")
    assert not out.exists()


def test_score_extra_column_and_unseen_category(model, workdir, tmp_path, capsys):
    frame = pd.read_csv(workdir / "test.csv").head(10)
    frame["service"] = "brand_new_service"
    frame["extra"] = 1
    frame.to_csv(tmp_path / "odd.csv", index=False)
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["score", model, tmp_path / "odd.csv", "-o", out], capsys)
    assert code == 0, err
    assert "unseen categories per column: {'service': 10" in err
    assert len(pd.read_csv(out)) == 10


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not a valid unseen model file"),
        (pickle.dumps({"a": 1}), "pickle"),
        (b"id,score\n1,2\n", "not a valid unseen model file"),
    ],
)
def test_score_with_non_model_exit_2(workdir, tmp_path, capsys, content, fragment):
    fake = tmp_path / "fake.unseen"
    fake.write_bytes(content)
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["score", fake, workdir / "test.csv", "-o", out], capsys)
    assert_one_line_error(code, err, fragment)
    assert not out.exists()


def test_score_unknown_output_format_exit_2(model, workdir, tmp_path, capsys):
    code, _, err = run_cli(
        ["score", model, workdir / "test.csv", "-o", tmp_path / "o.xlsx"], capsys
    )
    assert_one_line_error(code, err, "cannot tell the format")


def test_unknown_detector_and_parameter_exit_2(workdir, tmp_path, capsys):
    train = workdir / "train.csv"
    code, _, err = run_cli(["fit", train, "-o", tmp_path / "m", "--detector", "magic"], capsys)
    assert_one_line_error(code, err, "unknown detector 'magic'")
    code, _, err = run_cli(["fit", train, "-o", tmp_path / "m", "--param", "depth=3"], capsys)
    assert_one_line_error(code, err, "no hyper-parameter(s) ['depth']")


def test_bad_option_value_exit_2(workdir, tmp_path, capsys):
    args = ["fit", workdir / "train.csv", "-o", tmp_path / "m", "--target-fpr", "2"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "between 0 and 1")
    code, _, err = run_cli(["fit", workdir / "train.csv", "--epochs", "x"], capsys)
    assert_one_line_error(code, err)


def test_evaluate_without_both_classes_exit_2(model, workdir, tmp_path, capsys):
    frame = pd.read_csv(workdir / "test.csv")
    frame[frame["label"] == "normal"].to_csv(tmp_path / "normal.csv", index=False)
    code, _, err = run_cli(["evaluate", model, tmp_path / "normal.csv", "--label", "label"], capsys)
    assert_one_line_error(code, err, "need both normal and anomalous rows")


def test_demo_runs_on_bundled_data(capsys):
    code, out, err = run_cli(["demo", "--quiet", "--top", "5"], capsys)
    assert code == 0, err
    assert "Top 5 anomalies" in out
    assert "AUROC" in out


def test_fit_default_detector(tmp_path, capsys):
    from unseen.pipeline import DEFAULT_DETECTOR, AnomalyPipeline

    rows = "".join(f"{i},{(i * 7) % 11},{'ab'[i % 2]}\n" for i in range(60))
    data = write(tmp_path / "train.csv", "a,b,c\n" + rows)
    code, _, err = run_cli(["fit", data, "-o", tmp_path / "m.unseen", "-q"], capsys)
    assert code == 0, err
    assert AnomalyPipeline.load(tmp_path / "m.unseen").detector_.name == DEFAULT_DETECTOR


def test_fit_missing_output_folder_fails_early(tmp_path, capsys, monkeypatch):
    from unseen.pipeline import AnomalyPipeline

    def fail_if_called(*args, **kwargs):
        raise AssertionError("training started before the output path was checked")

    monkeypatch.setattr(AnomalyPipeline, "fit", fail_if_called)
    data = write(tmp_path / "train.csv", "a,b\n" + "".join(f"{i},{i % 4}\n" for i in range(30)))
    code, _, err = run_cli(["fit", data, "-o", tmp_path / "absent" / "m.unseen"], capsys)
    assert_one_line_error(code, err, "does not exist")


def test_bench_rejected_input_leaves_no_folder(tmp_path, capsys):
    target = tmp_path / "bench-out"
    code, _, err = run_cli(["bench", tmp_path / "absent.npz", "-o", target, "-q"], capsys)
    assert_one_line_error(code, err, "does not exist")
    assert not target.exists()
    code, _, err = run_cli(["bench", tmp_path, "-o", target, "--seeds", "x", "-q"], capsys)
    assert code == 2
    assert not target.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "-1"], "from 0 to 4294967295"),
        (["--settings", ""], "--settings needs"),
        (["--max-rows", "100"], "cannot split"),
    ],
)
def test_bench_bad_values_exit_2(datasets_dir, tmp_path, capsys, extra, message):
    data = datasets_dir / "tabular" / "adbench" / "10_cover.npz"
    args = ["bench", data, "-o", tmp_path / "out", "--detectors", "robust_z"]
    args += ["--peers", "none", "--seeds", "0", "-q", *extra]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, message)


def test_score_warns_when_threshold_is_infinite(workdir, tmp_path, capsys):
    small = tmp_path / "small.csv"
    pd.read_csv(workdir / "train.csv").head(40).to_csv(small, index=False)
    path = tmp_path / "small.unseen"
    args = ["fit", small, "-o", path, "--id", "conn_id", "--ignore", "label"]
    with pytest.warns(UserWarning):
        code, _, _ = run_cli(args, capsys)
    assert code == 0
    code, _, err = run_cli(["score", path, small, "-o", tmp_path / "out.csv"], capsys)
    assert code == 0
    assert "threshold is infinite" in err


def test_fit_rejects_two_alarm_rules(workdir, tmp_path, capsys):
    out = tmp_path / "m.unseen"
    args = ["fit", workdir / "train.csv", "-o", out, "--target-fpr", "0.01"]
    args += ["--contamination", "0.1"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "--target-fpr and --contamination")
    assert not out.exists()


def test_train_on_normal_names_removed_anomalies(tmp_path, capsys):
    small = tmp_path / "small.csv"
    pd.DataFrame({"v": range(20), "label": [0] * 15 + [1] * 5}).to_csv(small, index=False)
    args = ["fit", small, "-o", tmp_path / "m.unseen", "--label", "label", "--train-on-normal"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "keeps 15 of 20 rows", "labelled anomalies")
