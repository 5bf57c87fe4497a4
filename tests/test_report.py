"""HTML reports: contents, escaping, privacy of non-listed rows, atomic writes, CLI."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from unseen.cli import main
from unseen.errors import DataError, UnseenError
from unseen.pipeline import AnomalyPipeline
from unseen.report import BENCHMARK_COLUMNS, gather_report, write_benchmark_report, write_report
from unseen.report.figures import uses_log_scale
from unseen.report.render import format_cell, format_number

FAST = {"epochs": 4, "batch_size": 64, "hidden_dims": [8, 4]}
HOSTILE = '<script>alert("x")</script>'
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def synthetic_table(n_rows: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """Return rows with a unique text marker per row in the id, note and label columns."""
    rng = np.random.default_rng(seed)
    ids = [f"rec-{first_id + i:05d}-qz" for i in range(n_rows)]
    anomalous = rng.random(n_rows) < 0.08
    amount = rng.lognormal(3.0, 0.4, n_rows)
    amount[anomalous] *= rng.uniform(20, 60, anomalous.sum())
    return pd.DataFrame(
        {
            "record_id": ids,
            "amount": amount,
            "hour": rng.integers(0, 24, n_rows),
            "channel": rng.choice(["web", "app", "shop"], n_rows),
            # A unique text per row: never seen in training, so only its count may be reported.
            "note": [f"memo-{first_id + i:05d}-kx" for i in range(n_rows)],
            "outcome": np.where(
                anomalous, [f"fraud-{first_id + i:05d}-vw" for i in range(n_rows)], "normal"
            ),
        }
    )


@pytest.fixture(scope="module")
def pipeline() -> AnomalyPipeline:
    train = synthetic_table(400, seed=1, first_id=90_000)
    return AnomalyPipeline(
        detector="autoencoder",
        detector_params=FAST,
        id_columns=["record_id"],
        label_column="outcome",
        random_state=0,
        contamination=0.05,
    ).fit(train)


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    table = synthetic_table(600, seed=2)
    table.loc[3, "amount"] = np.nan
    return table


@pytest.fixture(scope="module")
def report_html(pipeline, scored, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    data = write_report(pipeline, scored, path, top_k=7, normal_values=["normal"])
    return data, path.read_text(encoding="utf-8")


def without_images(html: str) -> str:
    return DATA_URI.sub("data:", html)


def test_report_lists_exactly_top_k(report_html, pipeline, scored):
    data, _ = report_html
    scores = pipeline.anomaly_score(scored)
    expected_rows = np.argsort(-scores, kind="stable")[:7] + 1
    assert [r.row for r in data.top_records] == expected_rows.tolist()
    assert all(len(r.reasons) == 3 for r in data.top_records)


def test_report_has_no_rows_beyond_top_k(report_html, scored):
    data, html = report_html
    text = without_images(html)
    listed = {r.row - 1 for r in data.top_records}
    for position, row in scored.iterrows():
        markers = [row["record_id"], row["note"]]
        if row["outcome"] != "normal":
            markers.append(row["outcome"])
        if pd.notna(row["amount"]):
            markers.append(format_cell(row["amount"]))
        if position in listed:
            assert row["record_id"] in text
        else:
            for marker in markers:
                assert marker not in text, f"row {position} leaks {marker!r}"


def test_report_model_and_data_summary(report_html, pipeline):
    data, html = report_html
    assert data.n_rows == 600
    assert "contamination 0.05" in html
    assert pipeline.training_info_["trained_at"] in html
    assert f"{pipeline.threshold_:.6g}" in html
    assert html.count('<img id="score-histogram"') == 1


def test_report_metrics_match_evaluation(report_html, pipeline, scored):
    from unseen.evaluation import binary_labels, evaluate_scores

    data, html = report_html
    labels = binary_labels(scored["outcome"], ["normal"])
    result = pipeline.detect(scored, top_k=0)
    expected = evaluate_scores(labels, result["anomaly_score"], result["is_anomaly"])
    assert data.metrics["auroc"] == pytest.approx(expected["auroc"])
    assert data.metrics["true_positives"] == expected["true_positives"]
    assert f"{expected['auroc']:.4f}" in html
    assert 'id="roc-curve"' in html
    assert 'id="pr-curve"' in html
    assert 'id="confusion"' in html


def test_report_data_met_at_score_time(report_html):
    data, html = report_html
    assert data.transform_report["unseen_categories"]["note"] == 600
    assert data.transform_report["missing_values"]["amount"] == 1
    table = html[html.index('id="data-quality-table"') :]
    assert re.search(r"<td>note</td><td class=\"num\">600</td>", table)


def test_report_column_importance(report_html):
    data, html = report_html
    assert data.n_importance_rows == data.n_flagged > 0
    shares = data.importance["mean_share_flagged"]
    assert shares.is_monotonic_decreasing
    assert shares.sum() == pytest.approx(1.0, abs=1e-6)
    assert 'id="importance-table"' in html


def test_report_escapes_data_values(pipeline, scored, tmp_path):
    hostile = scored.copy()
    top = int(np.argmax(pipeline.anomaly_score(hostile)))
    hostile.loc[top, "record_id"] = HOSTILE
    hostile.loc[top, "outcome"] = HOSTILE
    path = tmp_path / "hostile.html"
    write_report(pipeline, hostile, path, top_k=3, normal_values=["normal"], title=HOSTILE)
    html = path.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_report_without_labels(pipeline, scored, tmp_path):
    path = tmp_path / "plain.html"
    data = write_report(pipeline, scored.drop(columns="outcome"), path)
    html = path.read_text(encoding="utf-8")
    assert data.metrics is None
    assert 'id="roc-curve"' not in html
    assert len(data.top_records) == 20


def test_report_one_class_labels_note(pipeline, scored, tmp_path):
    path = tmp_path / "one-class.html"
    data = write_report(pipeline, scored.assign(outcome="normal"), path)
    assert data.metrics is None
    assert "need both normal and anomalous rows" in path.read_text(encoding="utf-8")


def test_report_with_occlusion_detector(scored, tmp_path):
    train = synthetic_table(400, seed=1, first_id=90_000)
    forest = AnomalyPipeline(
        detector="iforest", id_columns=["record_id"], contamination=0.05, random_state=0
    ).fit(train)
    path = tmp_path / "forest.html"
    data = write_report(forest, scored, path, top_k=4, normal_values=["normal"])
    shares = [sum(r.share for r in record.reasons) for record in data.top_records]
    assert all(0 < share <= 1 + 1e-9 for share in shares)
    assert len(data.importance) > 0
    assert "iforest" in path.read_text(encoding="utf-8")


def test_report_rejects_bad_options(pipeline, scored, tmp_path):
    with pytest.raises(UnseenError, match="top_k must be between 1 and 1000"):
        gather_report(pipeline, scored, top_k=0)
    with pytest.raises(DataError, match="label column 'nope' not found"):
        gather_report(pipeline, scored, label="nope")
    with pytest.raises(UnseenError, match="ending in .html or .htm"):
        write_report(pipeline, scored, tmp_path / "report.csv")


def test_report_failure_keeps_previous_file(pipeline, scored, tmp_path, monkeypatch):
    import unseen.report.page as page

    path = tmp_path / "report.html"
    path.write_text("previous report")

    def broken(report):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(page, "render_report", broken)
    with pytest.raises(RuntimeError):
        write_report(pipeline, scored, path)
    assert path.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        (np.array([0.01, 0.5, 3.0]), True),
        (np.array([0.5, 1.0, 20.0]), False),
        (np.array([0.0, 1.0, 1000.0]), False),
        (np.array([-2.0, 5.0]), False),
    ],
)
def test_log_scale_only_for_positive_decades(scores, expected):
    assert uses_log_scale(scores) is expected


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "missing"), (float("nan"), "missing"), (np.int64(7), "7"), (np.True_, "true"),
     (1234.56789, "1234.57"), ("  ", "'  '")],
)  # fmt: skip
def test_format_cell(value, text):
    assert format_cell(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(np.int64(12345), "12,345"), (1234567.8, "1,234,568"), (0.0012345678, "0.001235"),
     (float("nan"), "n/a"), (None, "n/a")],
)  # fmt: skip
def test_format_number(value, text):
    assert format_number(value) == text


def benchmark_results() -> pd.DataFrame:
    rows = []
    for dataset in ("cardio", "thyroid"):
        for detector in ("autoencoder", "iforest"):
            for seed in (0, 1):
                rows.append(
                    {
                        "dataset": dataset,
                        "detector": detector,
                        "setting": "clean",
                        "seed": seed,
                        "auroc": 0.8 + 0.01 * seed,
                        "average_precision": 0.4 + 0.02 * seed,
                        "fit_seconds": 1.5,
                        "rows_per_second": 25_000.0,
                        "notes": HOSTILE,
                    }
                )
    return pd.DataFrame(rows)


def test_benchmark_report_tables_and_charts(tmp_path):
    path = tmp_path / "bench.html"
    write_benchmark_report(benchmark_results(), path)
    html = path.read_text(encoding="utf-8")
    assert html.count('class="benchmark-chart"') == 2
    summary = html[html.index('id="benchmark-summary"') : html.index('id="benchmark-runs"')]
    assert summary.count("<tr>") == 1 + 4
    assert "0.805 &plusmn; 0.0071" in summary
    assert "<script" not in html


def test_benchmark_report_failed_runs(tmp_path):
    results = benchmark_results()
    failed = (results["dataset"] == "thyroid") & (results["detector"] == "iforest")
    results.loc[failed, ["auroc", "average_precision"]] = np.nan
    results["error"] = np.where(failed, "fit failed: out of memory", "")
    path = tmp_path / "bench.html"
    write_benchmark_report(results, path)
    html = path.read_text(encoding="utf-8")
    assert html.count("fit failed: out of memory") == 2
    assert html.count('class="benchmark-chart"') == 2
    summary = html[html.index('id="benchmark-summary"') : html.index('id="benchmark-runs"')]
    assert "n/a" in summary


def test_benchmark_report_requires_columns(tmp_path):
    results = benchmark_results().drop(columns=["auroc"])
    with pytest.raises(DataError, match=r"missing column\(s\) \['auroc'\]"):
        write_benchmark_report(results, tmp_path / "bench.html")
    assert not (tmp_path / "bench.html").exists()
    assert set(BENCHMARK_COLUMNS) < set(benchmark_results().columns)


@pytest.fixture(scope="module")
def model_files(pipeline, scored, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-report")
    pipeline.save(folder / "model.unseen")
    scored.to_csv(folder / "data.csv", index=False)
    return folder


def test_cli_report_writes_page(model_files, capsys):
    output = model_files / "cli.html"
    args = ["report", str(model_files / "model.unseen"), str(model_files / "data.csv")]
    code = main([*args, "-o", str(output), "--top-k", "5", "--normal-value", "normal"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    html = output.read_text(encoding="utf-8")
    assert "Top 5 records by anomaly score" in html
    assert 'id="roc-curve"' in html


def test_cli_report_bad_output_exit_2(model_files, capsys):
    output = model_files / "scores.csv"
    args = ["report", str(model_files / "model.unseen"), str(model_files / "data.csv")]
    assert main([*args, "-o", str(output)]) == 2
    assert "use a file name ending in .html or .htm" in capsys.readouterr().err
    assert not output.exists()


def test_cli_evaluate_html(model_files, capsys):
    output = model_files / "evaluate.html"
    args = ["evaluate", str(model_files / "model.unseen"), str(model_files / "data.csv")]
    code = main([*args, "--label", "outcome", "--normal-value", "normal", "--html", str(output)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "AUROC" in captured.out
    assert 'id="pr-curve"' in output.read_text(encoding="utf-8")
