"""The HTTP scoring service, run as a real uvicorn server on 127.0.0.1.

Servers run in a thread (uvicorn.Server on a socket bound to a free port) or,
for the CLI and its logs, as an ``unseen serve`` subprocess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from unseen.cli import main as cli_main
from unseen.pipeline import AnomalyPipeline
from unseen.service import ServiceSettings, create_app
from unseen.service.models import parse_model_spec
from unseen.service.records import RecordValidator
from unseen.service.schemas import ScoreResponse

MODEL_NAME = "nsl"
ID_COLUMN = "conn_id"
TOKEN = "test-token-3f9a"
MAX_RECORDS = 400
MAX_BODY_BYTES = 1_000_000


# ------------------------------------------------------------------ fixtures


def fit_service_model(nsl_kdd_train: pd.DataFrame, folder: Path) -> Path:
    """Fit a small autoencoder on the normal rows of the NSL-KDD slice; return its file."""
    normal = nsl_kdd_train[nsl_kdd_train["label"] == "normal"]
    training = normal.drop(columns=["label", "difficulty"]).reset_index(drop=True)
    training.insert(0, ID_COLUMN, np.arange(len(training)))
    pipeline = AnomalyPipeline(
        detector="autoencoder",
        detector_params={"epochs": 5},
        id_columns=[ID_COLUMN],
        random_state=0,
    )
    pipeline.fit(training)
    path = folder / "nsl.unseen"
    pipeline.save(path)
    return path


@pytest.fixture(scope="session")
def model_path(nsl_kdd_train, tmp_path_factory) -> Path:
    return fit_service_model(nsl_kdd_train, tmp_path_factory.mktemp("service_model"))


@pytest.fixture(scope="session")
def score_table(nsl_kdd_test) -> pd.DataFrame:
    """300 test rows, normal and attack, with an id column and the label left in."""
    table = nsl_kdd_test.head(300).reset_index(drop=True)
    table.insert(0, ID_COLUMN, np.arange(1000, 1000 + len(table)))
    return table


def as_records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


@contextmanager
def serving(app):
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


@pytest.fixture(scope="module")
def open_app(model_path):
    settings = ServiceSettings(max_records=MAX_RECORDS, max_body_bytes=MAX_BODY_BYTES)
    return create_app({MODEL_NAME: model_path}, settings, access_log=False)


@pytest.fixture(scope="module")
def base_url(open_app):
    with serving(open_app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def secured_client(model_path):
    app = create_app({MODEL_NAME: model_path}, ServiceSettings(api_token=TOKEN), access_log=False)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def score_url(top_k: int | None = None) -> str:
    suffix = "" if top_k is None else f"?top_k={top_k}"
    return f"/v1/models/{MODEL_NAME}/score{suffix}"


def post_json_text(client: httpx.Client, text: str) -> httpx.Response:
    return client.post(score_url(), content=text, headers={"Content-Type": "application/json"})


def _record(score_table: pd.DataFrame) -> dict:
    return as_records(score_table.head(1))[0]


def metric_samples(client: httpx.Client) -> dict[tuple, float]:
    """Return every sample of /metrics keyed by (name, sorted label pairs)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


# ------------------------------------------------------------ score results


@pytest.mark.slow
def test_score_json_matches_cli(client, model_path, score_table, tmp_path):
    data = tmp_path / "rows.csv"
    output = tmp_path / "scores.csv"
    score_table.to_csv(data, index=False)
    command = ["score", str(model_path), str(data), "-o", str(output), "--reasons-for", "all"]
    assert cli_main([*command, "-q"]) == 0
    expected = pd.read_csv(output)

    response = client.post(score_url(), json={"records": as_records(score_table)})

    assert response.status_code == 200
    body = response.json()
    ScoreResponse.model_validate(body)
    assert body["model"] == MODEL_NAME
    assert body["n_records"] == len(score_table)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(score_table)))
    assert [r["ids"][ID_COLUMN] for r in results] == expected[ID_COLUMN].tolist()
    np.testing.assert_allclose(
        [r["anomaly_score"] for r in results], expected["anomaly_score"], rtol=1e-12
    )
    np.testing.assert_allclose([r["p_value"] for r in results], expected["p_value"], rtol=1e-12)
    assert [r["is_anomaly"] for r in results] == expected["is_anomaly"].tolist()
    assert body["n_anomalies"] == int(expected["is_anomaly"].sum())
    for rank in range(3):
        assert [r["reasons"][rank]["column"] for r in results] == expected[
            f"reason_{rank + 1}"
        ].tolist()


def test_score_csv_matches_json(client, score_table):
    rows = score_table.head(50)
    json_response = client.post(score_url(5), json={"records": as_records(rows)})
    csv_response = client.post(
        score_url(5), content=rows.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )

    assert json_response.status_code == 200
    assert csv_response.status_code == 200
    json_results = json_response.json()["results"]
    csv_results = csv_response.json()["results"]
    np.testing.assert_allclose(
        [r["anomaly_score"] for r in csv_results],
        [r["anomaly_score"] for r in json_results],
        rtol=1e-12,
    )
    assert [r["reasons"] for r in csv_results][0][0]["column"] == json_results[0]["reasons"][0][
        "column"
    ]
    assert all(len(r["reasons"]) == 5 for r in csv_results)


def test_concurrent_single_records_match_bulk(client, base_url, score_table):
    records = as_records(score_table.head(64))
    bulk = client.post(score_url(), json={"records": records}).json()["results"]
    before = metric_samples(client)

    async def score_each() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            requests = [http.post(score_url(), json={"records": [r]}) for r in records]
            return await asyncio.gather(*requests)

    responses = asyncio.run(score_each())

    assert [r.status_code for r in responses] == [200] * len(records)
    singles = [r.json()["results"][0] for r in responses]
    # Batched rows go through float32 matrix products of another batch shape,
    # so they agree with the bulk request up to float32 rounding.
    np.testing.assert_allclose(
        [s["anomaly_score"] for s in singles], [b["anomaly_score"] for b in bulk], rtol=1e-5
    )
    np.testing.assert_allclose([s["p_value"] for s in singles], [b["p_value"] for b in bulk])
    assert [s["is_anomaly"] for s in singles] == [b["is_anomaly"] for b in bulk]
    assert [s["ids"] for s in singles] == [b["ids"] for b in bulk]
    after = metric_samples(client)
    key = (("model", MODEL_NAME),)
    batched_rows = after[("unseen_batch_size_sum", key)] - before.get(
        ("unseen_batch_size_sum", key), 0
    )
    batch_calls = after[("unseen_batch_size_count", key)] - before.get(
        ("unseen_batch_size_count", key), 0
    )
    assert batched_rows == len(records)
    assert batch_calls < len(records), "no two concurrent single records were batched"


def test_single_record_report_matches_pipeline(client, score_table):
    record = as_records(score_table.head(1))[0]
    record["service"] = "never_seen_service"
    record["src_bytes"] = None

    result = client.post(score_url(), json={"records": [record]}).json()

    assert result["transform_report"]["unseen_categories"] == {"service": 1}
    assert result["transform_report"]["missing_values"] == {"src_bytes": 1}


def test_validator_report_equals_preprocessor(model_path, score_table):
    pipeline = AnomalyPipeline.load(model_path)
    validator = RecordValidator(pipeline)
    records = as_records(score_table.head(40))
    records[0]["service"] = "never_seen_service"
    records[1]["flag"] = None
    records[2]["duration"] = None
    rows = validator.check_records(records, max_records=100)

    _, _, report = pipeline.transform_table(validator.frame(rows))

    expected = report.to_dict()
    del expected["n_rows"]
    del expected["changed_constants"]
    assert validator.report(rows) == expected


def test_top_k_sets_reason_count(client, score_table):
    records = as_records(score_table.head(2))

    without = client.post(score_url(0), json={"records": records}).json()
    many = client.post(score_url(7), json={"records": records}).json()

    assert all(r["reasons"] == [] for r in without["results"])
    assert all(len(r["reasons"]) == 7 for r in many["results"])
    shares = [reason["share"] for reason in many["results"][0]["reasons"]]
    assert shares == sorted(shares, reverse=True)
    assert many["results"][0]["reasons"][0]["observed"] is not None


def test_reasons_for_flagged_skips_normal_records(client, score_table):
    records = as_records(score_table.head(60))

    response = client.post(score_url() + "?reasons_for=flagged", json={"records": records})

    results = response.json()["results"]
    assert response.status_code == 200
    assert any(r["is_anomaly"] for r in results), "the slice has no flagged record"
    assert all(bool(r["reasons"]) == r["is_anomaly"] for r in results)


def test_code_and_boolean_spellings_match(client, score_table):
    record = _record(score_table)
    record.update(num_failed_logins=0, logged_in=1)
    as_floats = dict(record, num_failed_logins=0.0, logged_in=1.0)
    as_text = dict(record, num_failed_logins="0", logged_in="1")
    as_boolean = dict(record, logged_in=True)

    response = client.post(score_url(), json={"records": [record, as_floats, as_text, as_boolean]})

    body = response.json()
    scores = [r["anomaly_score"] for r in body["results"]]
    assert scores == [scores[0]] * 4
    assert body["transform_report"]["unseen_categories"] == {}


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.pop("src_bytes"), "src_bytes", "missing field"),
        (lambda r: r.update(src_bytes="many"), "src_bytes", "expected a number"),
        (lambda r: r.update(src_bytes=True), "src_bytes", "expected a number"),
        (lambda r: r.update(protocol_type={"a": 1}), "protocol_type", "scalar"),
        (lambda r: r.update(duration=[1, 2]), "duration", "scalar"),
        (lambda r: r.update(**{ID_COLUMN: [1]}), ID_COLUMN, "scalar"),
    ],
    ids=["missing", "text", "boolean", "object", "list", "id-list"],
)
def test_bad_record_names_index_and_field(client, score_table, change, field, words):
    records = as_records(score_table.head(3))
    change(records[2])

    response = client.post(score_url(), json={"records": records})

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["details"][0]["record"] == 2
    assert body["details"][0]["field"] == field
    assert words in body["details"][0]["message"]
    assert "record 2" in body["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_rejected(client, score_table, literal):
    records = as_records(score_table.head(2))
    text = json.dumps({"records": records})
    value = json.dumps(records[1]["dst_bytes"])
    marker = f'"dst_bytes": {value}'
    position = text.rindex(marker)
    text = text[:position] + f'"dst_bytes": {literal}' + text[position + len(marker) :]

    response = post_json_text(client, text)

    assert response.status_code == 422
    detail = response.json()["details"][0]
    assert (detail["record"], detail["field"]) == (1, "dst_bytes")


def test_huge_integer_rejected(client, score_table):
    record = _record(score_table)
    record["dst_bytes"] = 10**400

    response = client.post(score_url(), json={"records": [record]})

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "dst_bytes"


def test_integer_over_digit_limit_rejected(client, score_table):
    # Python's json refuses integers over 4,300 digits with ValueError.
    text = json.dumps({"records": [_record(score_table)]})
    text = text.replace('"dst_bytes": ', '"dst_bytes": ' + "9" * 5000 + ', "unused": ', 1)

    response = post_json_text(client, text)

    assert response.status_code == 422
    assert "invalid number" in response.json()["details"][0]["message"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"records": []}', "no records"),
        ("[]", '{"records": [...]}'),
        ('{"rows": []}', 'no "records" key'),
        ('{"records": 5}', "expected a list"),
        ('{"records": [1]}', "expected an object"),
        ('{"records": [', "invalid JSON"),
        ("", "invalid JSON"),
        ("[" * 100_000, "nested too deeply"),
    ],
    ids=["empty", "bare-list", "no-key", "not-list", "not-object", "truncated", "no-body", "deep"],
)
def test_bad_json_body_rejected(client, text, words):
    response = post_json_text(client, text)

    assert response.status_code == 422
    assert words in response.json()["message"]


def test_non_utf8_body_rejected(client):
    response = client.post(
        score_url(), content=b'{"records": ["\xff"]}', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("edit", "record", "field"),
    [
        (lambda f: f.drop(columns=["src_bytes"]), None, "src_bytes"),
        (lambda f: f.assign(duration=["1"] * 4 + ["slow"] + ["2"] * 5), 4, "duration"),
        (lambda f: f.assign(dst_bytes=[1.0] * 7 + [math.inf] + [1.0] * 2), 7, "dst_bytes"),
    ],
    ids=["missing-column", "text", "infinite"],
)
def test_bad_csv_rejected(client, score_table, edit, record, field):
    frame = edit(score_table.head(10))

    response = client.post(
        score_url(), content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )

    assert response.status_code == 422
    detail = response.json()["details"][0]
    assert (detail["record"], detail["field"]) == (record, field)


@pytest.mark.parametrize(
    "body", ["", "a,b\n", "\x00\x01\x02"], ids=["empty", "header-only", "binary"]
)
def test_empty_or_garbled_csv_rejected(client, body):
    response = client.post(score_url(), content=body, headers={"Content-Type": "text/csv"})

    assert response.status_code == 422


def test_too_many_records_rejected(client, score_table):
    records = [{}] * (MAX_RECORDS + 1)
    frame = pd.concat([score_table] * 2).head(MAX_RECORDS + 1)

    json_response = client.post(score_url(), json={"records": records})
    csv_response = client.post(
        score_url(), content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )

    assert json_response.status_code == 413
    assert csv_response.status_code == 413
    assert str(MAX_RECORDS) in json_response.json()["message"]


def test_oversized_body_rejected(client):
    body = b'{"records": [' + b" " * MAX_BODY_BYTES + b"]}"

    declared = post_json_text(client, body)

    def chunks():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    streamed = client.post(score_url(), content=chunks(), headers={"Content-Type": "text/csv"})

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_unsupported_content_type_rejected(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post(score_url(), content=b"{}", headers=headers)

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_unknown_model_not_found(client, score_table):
    scored = client.post("/v1/models/absent/score", json={"records": [_record(score_table)]})
    described = client.get("/v1/models/absent")

    assert scored.status_code == 404
    assert described.status_code == 404
    assert MODEL_NAME in scored.json()["message"]


@pytest.mark.parametrize("top_k", ["-1", "21", "three"])
def test_bad_top_k_rejected(client, score_table, top_k):
    response = client.post(
        f"/v1/models/{MODEL_NAME}/score?top_k={top_k}", json={"records": [_record(score_table)]}
    )

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "top_k"


def test_internal_error_returns_request_id(open_app, client, score_table, caplog):
    model = open_app.state.service.models[MODEL_NAME]

    def broken(frame, options):
        raise RuntimeError("secret internal detail")

    model.score_frame = broken
    try:
        with caplog.at_level(logging.ERROR, logger="unseen.service.middleware"):
            response = client.post(score_url(), json={"records": as_records(score_table.head(2))})
    finally:
        del model.score_frame

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal"
    assert "secret" not in body["message"]
    assert body["request_id"] in body["message"]
    assert response.headers["X-Request-ID"] == body["request_id"]
    logged = [r for r in caplog.records if getattr(r, "event", None) == "internal_error"]
    assert [r.request_id for r in logged] == [body["request_id"]]
    assert logged[0].exc_info is not None


# ------------------------------------------------------- models and health


def test_model_endpoints_describe_model(client, model_path):
    pipeline = AnomalyPipeline.load(model_path)

    listed = client.get("/v1/models").json()["models"]
    info = client.get(f"/v1/models/{MODEL_NAME}").json()

    assert [m["name"] for m in listed] == [MODEL_NAME]
    assert info["threshold"] == pipeline.threshold_
    assert [f["name"] for f in info["features"]] == pipeline.schema_.feature_names
    assert info["id_columns"] == [ID_COLUMN]
    assert info["detector"] == "autoencoder"
    assert info["trained_at"] == pipeline.training_info_["trained_at"]
    assert info["unseen_version"]
    assert len(info["file_sha256"]) == 64


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_request_id_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})

    assert given.headers["X-Request-ID"] == "abc-123"
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(unsafe.headers["X-Request-ID"]) == 32


def test_metrics_counters_move(client, score_table):
    endpoint = "/v1/models/{name}/score"
    before = metric_samples(client)
    client.post(score_url(), json={"records": as_records(score_table.head(25))})
    client.post(score_url(), json={"records": []})
    after = metric_samples(client)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("unseen_rows_scored_total", model=MODEL_NAME) == 25
    assert delta("unseen_http_requests_total", endpoint=endpoint, method="POST", status="200") == 1
    assert delta("unseen_http_requests_total", endpoint=endpoint, method="POST", status="422") == 1
    assert delta("unseen_errors_total", kind="invalid_input") == 1
    assert (
        delta("unseen_http_request_duration_seconds_count", endpoint=endpoint, method="POST") == 2
    )
    flagged = delta("unseen_anomalies_flagged_total", model=MODEL_NAME)
    assert 0 <= flagged <= 25


def test_no_cors_headers_by_default(client):
    response = client.get("/healthz", headers={"Origin": "https://example.org"})

    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_listed_origin(model_path):
    settings = ServiceSettings(cors_origins=("https://app.example",))
    app = create_app({MODEL_NAME: model_path}, settings, access_log=False)
    with serving(app) as url, httpx.Client(base_url=url) as http:
        preflight = http.options(
            score_url(),
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        other = http.get("/healthz", headers={"Origin": "https://other.example"})

    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


# ---------------------------------------------------------------------- auth


def test_auth_open_without_token(client):
    assert client.get("/v1/models").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "path", ["/v1/models", f"/v1/models/{MODEL_NAME}", "/metrics", "/openapi.json"]
)
def test_auth_rejects_missing_token(secured_client, path):
    response = secured_client.get(path)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"


def test_auth_rejects_wrong_token(secured_client):
    wrong = secured_client.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}x"})
    basic = secured_client.get("/v1/models", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert basic.status_code == 401


def test_auth_accepts_token(secured_client, score_table):
    headers = {"Authorization": f"Bearer {TOKEN}"}

    scored = secured_client.post(
        score_url(), json={"records": [_record(score_table)]}, headers=headers
    )
    unauthenticated = secured_client.post(score_url(), json={"records": [_record(score_table)]})

    assert scored.status_code == 200
    assert unauthenticated.status_code == 401
    assert secured_client.get("/metrics", headers=headers).status_code == 200


def test_auth_skips_health_probes(secured_client):
    assert secured_client.get("/healthz").status_code == 200
    assert secured_client.get("/readyz").status_code == 200


# ----------------------------------------------------------- CLI and logs


def test_model_spec_parsing():
    assert parse_model_spec("fraud=models/a.unseen") == ("fraud", Path("models/a.unseen"))
    assert parse_model_spec("models/cards.unseen") == ("cards", Path("models/cards.unseen"))
    with pytest.raises(ValueError, match="invalid model name"):
        parse_model_spec("bad name=x.unseen")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_process(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", "from unseen.cli import run; run()", "serve", *args]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, stderr=log, stdout=log, env=env)


@pytest.mark.slow
def test_serve_cli_logs_json_without_record_values(model_path, score_table, tmp_path):
    port = _free_port()
    log_path = tmp_path / "serve.log"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    process = _serve_process(
        [f"{MODEL_NAME}={model_path}", "--port", str(port), "--token-file", str(token_file)],
        log_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "unseen serve did not become ready"
            time.sleep(0.2)
        record = _record(score_table)
        record["service"] = "marker_category_value"
        record["src_bytes"] = 987654321.25
        response = httpx.post(
            url + score_url(),
            json={"records": [record]},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "cli-test-request"},
        )
        rejected = httpx.post(url + score_url(), json={"records": [record]})
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)

    assert response.status_code == 200
    assert rejected.status_code == 401
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal.
    assert exit_code in (0, -signal.SIGTERM)
    text = log_path.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    events = [entry.get("event") for entry in entries]
    for event in ("service_starting", "model_loaded", "service_started", "service_stopped"):
        assert event in events
    requests = [e for e in entries if e.get("event") == "request"]
    assert {"cli-test-request", "POST", 200} <= {
        value for e in requests if e.get("request_id") == "cli-test-request" for value in e.values()
    }
    assert "marker_category_value" not in text
    assert "987654321" not in text
    assert TOKEN not in text


@pytest.mark.slow
def test_serve_cli_bad_model_exits_2(tmp_path):
    missing = tmp_path / "absent.unseen"
    log_path = tmp_path / "serve.log"
    env = dict(os.environ)

    process = _serve_process([str(missing), "--port", str(_free_port())], log_path, env)
    exit_code = process.wait(timeout=60)

    assert exit_code == 2
    assert "model file not found" in log_path.read_text()


def test_csv_repeated_header_rejected(client, score_table):
    frame = score_table.head(2)
    text = frame.to_csv(index=False)
    header, rest = text.split("\n", 1)
    body = header + ",duration\n" + "\n".join(line + ",7" for line in rest.strip().split("\n"))

    response = client.post(score_url(), content=body, headers={"Content-Type": "text/csv"})

    assert response.status_code == 422
    assert "['duration'] more than once" in response.json()["details"][0]["message"]
