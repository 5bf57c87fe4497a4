"""HTTP endpoints: health, readiness, metrics, model listing and scoring."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from unseen.service.auth import require_token
from unseen.service.errors import (
    NOT_READY,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    ServiceError,
    error_responses,
)
from unseen.service.models import ScoreOptions
from unseen.service.records import CSV_TYPES, JSON_TYPES, media_type
from unseen.service.schemas import (
    Health,
    ModelInfo,
    ModelList,
    ScoreRequest,
    ScoreResponse,
)
from unseen.service.scoring import score_request

logger = logging.getLogger(__name__)

SCORE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": ScoreRequest.model_json_schema()},
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "A header line with the column names, then one line per record.",
            }
        },
    },
}


def build_router(settings) -> APIRouter:
    """Return the API routes; the auth dependency is attached only when a token is set."""
    protected = [Depends(require_token)] if settings.auth_enabled else []
    auth_errors = (401,) if settings.auth_enabled else ()
    router = APIRouter()

    @router.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> dict:
        """Liveness: the process is up and serving requests."""
        return {"status": "ok"}

    @router.get("/readyz", response_model=Health, tags=["health"], responses=error_responses(503))
    async def readyz(request: Request) -> dict:
        """Readiness: every model is loaded and its scoring queue is running."""
        if not request.app.state.service.ready:
            raise ServiceError(503, NOT_READY, "the service is starting or stopping")
        return {"status": "ready"}

    @router.get(
        "/metrics",
        tags=["health"],
        dependencies=protected,
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **error_responses(*auth_errors),
        },
    )
    async def metrics(request: Request) -> Response:
        """Request, scoring and error counters in Prometheus text format."""
        service = request.app.state.service
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    @router.get(
        "/v1/models",
        response_model=ModelList,
        tags=["models"],
        dependencies=protected,
        responses=error_responses(*auth_errors),
    )
    async def list_models(request: Request) -> dict:
        """List the loaded models."""
        return {"models": [_model_summary(m) for m in request.app.state.service.models.values()]}

    @router.get(
        "/v1/models/{name}",
        response_model=ModelInfo,
        tags=["models"],
        dependencies=protected,
        responses=error_responses(*auth_errors, 404, 422),
    )
    async def get_model(name: str, request: Request) -> dict:
        """Describe a model: schema, detector, alarm rule, threshold, training."""
        return _model_info(request.app.state.service.model(name))

    @router.post(
        "/v1/models/{name}/score",
        response_model=ScoreResponse,
        tags=["scoring"],
        dependencies=protected,
        openapi_extra={"requestBody": SCORE_BODY},
        responses=error_responses(*auth_errors, 404, 413, 415, 422, 503),
    )
    async def score(
        name: str,
        request: Request,
        top_k: int = Query(
            3, ge=0, le=settings.max_top_k, description="Reasons (top columns) per record."
        ),
        reasons_for: Literal["all", "flagged"] = Query(
            "all",
            description="Records that get reasons: all, or only flagged ones (faster for "
            "detectors explained by occlusion).",
        ),
    ) -> Response:
        """Score records: anomaly score, p-value, anomaly flag and top reasons for each.

        Send JSON ``{"records": [{column: value, ...}, ...]}`` or CSV with a
        header line (``Content-Type: text/csv``). Results keep the request order.
        """
        service = request.app.state.service
        model = service.model(name)
        kind = media_type(request.headers.get("content-type"))
        if kind not in JSON_TYPES + CSV_TYPES:
            raise ServiceError(
                415,
                UNSUPPORTED_MEDIA_TYPE,
                f"unsupported Content-Type {kind or '(none)'!r}: send application/json or text/csv",
            )
        body = await _read_body(request, service.settings.max_body_bytes)
        result = await score_request(model, kind, body, ScoreOptions(top_k, reasons_for), service)
        service.metrics.observe_scoring(name, result.n_records, result.n_anomalies)
        return result.response()

    return router


async def _read_body(request: Request, limit: int) -> bytes:
    """Read the body, rejecting it with 413 as soon as it exceeds ``limit`` bytes."""
    too_large = ServiceError(
        413,
        PAYLOAD_TOO_LARGE,
        f"request body over the limit of {limit} bytes: split the records into smaller requests",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _model_summary(model) -> dict[str, Any]:
    info = model.pipeline.training_info_
    return {
        "name": model.name,
        "detector": model.pipeline.detector_.name,
        "n_features": len(model.pipeline.schema_.features),
        "trained_at": info.get("trained_at"),
        "file_sha256": model.file_sha256,
    }


def _model_info(model) -> dict[str, Any]:
    summary = model.pipeline.summary()
    training = summary["training"]
    return {
        "name": model.name,
        "file_name": model.path.name,
        "file_sha256": model.file_sha256,
        "detector": summary["detector"],
        "detector_params": summary["detector_params"],
        "alarm_rule": summary["alarm_rule"],
        "threshold": summary["threshold"],
        "features": summary["features"],
        "id_columns": summary["id_columns"],
        "label_column": summary["label_column"],
        "trained_at": training.get("trained_at"),
        "unseen_version": training.get("unseen_version"),
        "training": training,
    }
