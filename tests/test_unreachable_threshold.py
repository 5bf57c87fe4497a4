"""Models that cannot meet their target false-positive rate flag nothing and report null."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from unseen.cli import main
from unseen.pipeline import AnomalyPipeline


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": range(60),
            "a": rng.normal(size=60),
            "b": rng.normal(size=60),
            "label": [0] * 55 + [1] * 5,
        }
    )
    folder = tmp_path_factory.mktemp("unreachable")
    frame.to_csv(folder / "data.csv", index=False)
    with pytest.warns(UserWarning, match="cannot support a false-positive rate"):
        pipeline = AnomalyPipeline(
            detector="robust_z", id_columns=["id"], label_column="label", random_state=0
        ).fit(frame)
    pipeline.save(folder / "model.unseen")
    return pipeline, folder


def test_threshold_infinite_and_nothing_flagged(small_model):
    pipeline, folder = small_model
    assert math.isinf(pipeline.threshold_)
    result = pipeline.detect(folder / "data.csv")
    assert not result["is_anomaly"].any()
    assert pipeline.summary()["threshold"] is None


def test_evaluate_json_is_strict(small_model, capsys):
    _, folder = small_model
    code = main(
        ["evaluate", str(folder / "model.unseen"), str(folder / "data.csv")]
        + ["--label", "label", "--json"]
    )
    assert code == 0
    metrics = json.loads(capsys.readouterr().out, parse_constant=_reject_constant)
    assert metrics["threshold"] is None


def test_report_renders(small_model, capsys):
    _, folder = small_model
    target = folder / "report.html"
    code = main(
        ["report", str(folder / "model.unseen"), str(folder / "data.csv"), "-o", str(target)]
    )
    assert code == 0, capsys.readouterr().err
    assert "<html" in target.read_text()


def test_service_scores_with_null_threshold(small_model):
    from fastapi.testclient import TestClient

    from unseen.service.app import create_app

    _, folder = small_model
    app = create_app({"small": folder / "model.unseen"}, access_log=False)
    with TestClient(app) as client:
        response = client.post(
            "/v1/models/small/score", json={"records": [{"id": 1, "a": 0.1, "b": 9.0}]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["threshold"] is None
        info = client.get("/v1/models/small")
        assert info.status_code == 200
        assert info.json()["threshold"] is None


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")
