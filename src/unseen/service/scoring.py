"""Turn a score request body into the response body, off or on the event loop.

Small JSON bodies are parsed on the event loop so a single record can join a
micro-batch. Larger bodies are parsed, checked, scored and encoded in a
scoring thread, so a 1,000-record request does not stall other requests.
The response is encoded here with ``json.dumps`` instead of through FastAPI's
response model: validating 1,000 results with pydantic took longer than
scoring them. The fuzz test checks the body against the documented schema.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.responses import Response

from unseen.calibration import threshold_or_none
from unseen.service.models import LoadedModel, ScoreOptions
from unseen.service.records import JSON_TYPES, parse_json_body

# JSON bodies up to this size (a few records) are parsed on the event loop.
INLINE_PARSE_BYTES = 16 * 1024


class ScoreResult:
    """An encoded score response and the counts the metrics need."""

    def __init__(self, payload: dict[str, Any]):
        self.n_records = payload["n_records"]
        self.n_anomalies = payload["n_anomalies"]
        self.body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()

    def response(self) -> Response:
        return Response(self.body, media_type="application/json")


async def score_request(
    model: LoadedModel, kind: str, body: bytes, options: ScoreOptions, service
) -> ScoreResult:
    """Score a JSON or CSV body for ``model``; raises ``ServiceError`` on bad input."""
    max_records = service.settings.max_records
    loop = asyncio.get_running_loop()
    if kind in JSON_TYPES and len(body) <= INLINE_PARSE_BYTES:
        rows = model.validator.check_records(parse_json_body(body), max_records)
        if len(rows) == 1 and model.batcher is not None:
            result = await model.batcher.submit(rows[0], options)
            return ScoreResult(build_payload(model, [result], model.validator.report(rows)))
        return await loop.run_in_executor(service.executor, _score_rows, model, rows, options)
    return await loop.run_in_executor(
        service.executor, _score_body, model, kind, body, options, max_records
    )


def _score_rows(model: LoadedModel, rows: list[dict], options: ScoreOptions) -> ScoreResult:
    results, report = model.score_frame(model.validator.frame(rows), options)
    return ScoreResult(build_payload(model, results, report))


def _score_body(
    model: LoadedModel, kind: str, body: bytes, options: ScoreOptions, max_records: int
) -> ScoreResult:
    if kind in JSON_TYPES:
        rows = model.validator.check_records(parse_json_body(body), max_records)
        return _score_rows(model, rows, options)
    frame = model.validator.read_csv(body, max_records)
    results, report = model.score_frame(frame, options)
    return ScoreResult(build_payload(model, results, report))


def build_payload(model: LoadedModel, results: list[dict], report: dict) -> dict[str, Any]:
    """Assemble the ``ScoreResponse`` body from per-record results and the transform report."""
    for index, result in enumerate(results):
        result["index"] = index
    return {
        "model": model.name,
        "n_records": len(results),
        "n_anomalies": sum(result["is_anomaly"] for result in results),
        "threshold": threshold_or_none(model.pipeline.threshold_),
        "results": results,
        "transform_report": {
            "unseen_categories": report["unseen_categories"],
            "missing_values": report["missing_values"],
        },
    }
