"""Property-based fuzzing of the scoring service against its own OpenAPI document.

schemathesis generates valid and invalid requests for every operation from
the document the running server publishes, sends them to a real server on
127.0.0.1 and checks that no response is a 5xx and that each response's
status, content type, headers and body match what the document declares.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_service import MODEL_NAME, fit_service_model, serving

from unseen.service import ServiceSettings, create_app

# positive_data_acceptance is left out on purpose: the document describes a
# record as any object of scalars, but a record is only valid if it has every
# feature column of the model, so schema-valid bodies correctly get a 422.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def fuzz_base_url(nsl_kdd_train, tmp_path_factory):
    model_path = fit_service_model(nsl_kdd_train, tmp_path_factory.mktemp("fuzz_model"))
    settings = ServiceSettings(max_records=200, max_body_bytes=200_000)
    app = create_app({MODEL_NAME: model_path}, settings, access_log=False)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_base_url):
    return schemathesis.openapi.from_url(f"{fuzz_base_url}/openapi.json")


# Every operation in the document, so a new endpoint cannot go unfuzzed.
OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{name}"),
    ("POST", "/v1/models/{name}/score"),
]
# Operations with input that can be made invalid (a path parameter that is
# any string cannot).
WITH_INPUT = [("POST", "/v1/models/{name}/score")]


def test_fuzzed_operations_cover_document(api_schema):
    listed = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }

    assert listed == set(OPERATIONS)


# schemathesis's own pytest integration (schema.parametrize with a schema from
# a fixture) fails under pytest 9 in schemathesis 4.32, so each operation's
# hypothesis strategy is driven directly.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS]
    + [(m, p, GenerationMode.NEGATIVE) for m, p in WITH_INPUT],
)
def test_api_conforms_to_openapi(api_schema, fuzz_base_url, method, path, mode):
    assert fuzz_base_url.startswith("http://127.0.0.1:")
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case):
        case.call_and_validate(base_url=fuzz_base_url, checks=CHECKS, timeout=30)

    check()
