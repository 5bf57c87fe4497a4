"""The FastAPI application: models, state, lifespan, error handlers and routes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from unseen._version import __version__
from unseen.errors import UnseenError
from unseen.service.auth import require_token
from unseen.service.batching import BatcherStopped, MicroBatcher
from unseen.service.errors import (
    INVALID_INPUT,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    NOT_READY,
    ServiceError,
    error_response,
)
from unseen.service.logs import configure_logging
from unseen.service.metrics import ServiceMetrics
from unseen.service.middleware import RequestContextMiddleware
from unseen.service.models import LoadedModel, load_model
from unseen.service.routes import build_router
from unseen.service.schemas import ErrorDetail
from unseen.service.settings import ServiceSettings, read_token

logger = logging.getLogger(__name__)

# Environment variable through which `unseen serve --workers N` hands its
# configuration to the worker processes that uvicorn starts.
CONFIG_ENV = "UNSEEN_SERVICE_CONFIG"


class ServiceState:
    """State shared by the routes: models, settings, metrics and the scoring threads."""

    def __init__(self, models: dict[str, LoadedModel], settings: ServiceSettings):
        self.models = models
        self.settings = settings
        self.metrics = ServiceMetrics()
        self.metrics.models_loaded.set(len(models))
        self.executor: ThreadPoolExecutor | None = None
        self.started = False

    @property
    def ready(self) -> bool:
        return self.started and all(
            m.batcher is not None and m.batcher.running for m in self.models.values()
        )

    def model(self, name: str) -> LoadedModel:
        try:
            return self.models[name]
        except KeyError:
            raise ServiceError(
                404,
                NOT_FOUND,
                f"model {name!r} not found; loaded models: {', '.join(sorted(self.models))}",
            ) from None

    async def start(self) -> None:
        self.executor = ThreadPoolExecutor(
            self.settings.scoring_threads, thread_name_prefix="unseen-scoring"
        )
        for model in self.models.values():
            histogram = self.metrics.batch_size.labels(model.name)
            model.batcher = MicroBatcher(
                model.score_rows,
                self.executor,
                self.settings.batch_max_size,
                self.settings.batch_max_wait_ms / 1000,
                on_batch=histogram.observe,
            )
            model.batcher.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for model in self.models.values():
            if model.batcher is not None:
                await model.batcher.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=True)


def create_app(
    models: dict[str, Path], settings: ServiceSettings | None = None, access_log: bool = True
) -> FastAPI:
    """Load ``models`` (name to model file) and return the scoring app.

    Model files are read here, so an invalid file raises ``ModelFileError``
    before a server starts. The scoring queues start with the app's lifespan.
    """
    settings = settings or ServiceSettings()
    if not models:
        raise UnseenError("no models to serve: pass at least one model file")
    loaded = {name: load_model(name, Path(path)) for name, path in models.items()}
    state = ServiceState(loaded, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        logger.info(
            "service started with %d model(s)",
            len(loaded),
            extra={
                "event": "service_started",
                "models": sorted(loaded),
                "auth": settings.auth_enabled,
            },
        )
        try:
            yield
        finally:
            await state.stop()
            logger.info("service stopped", extra={"event": "service_stopped"})

    app = FastAPI(
        title="unseen scoring service",
        version=__version__,
        summary="Score tabular records with saved unseen models: anomaly score, p-value, "
        "flag and top reasons.",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = state
    _add_error_handlers(app, state)
    app.include_router(build_router(settings))
    _add_docs_routes(app, settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, access_log=access_log)
    return app


def _add_docs_routes(app: FastAPI, settings: ServiceSettings) -> None:
    from fastapi import Depends

    protected = [Depends(require_token)] if settings.auth_enabled else []

    @app.get("/openapi.json", include_in_schema=False, dependencies=protected)
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=protected)
    async def swagger_ui():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)


def _add_error_handlers(app: FastAPI, state: ServiceState) -> None:
    def respond(request: Request, error: ServiceError) -> JSONResponse:
        state.metrics.errors.labels(error.kind).inc()
        logger.info(
            "rejected %s %s: %s",
            request.method,
            request.url.path,
            error.kind,
            extra={
                "event": "request_rejected",
                "status": error.status_code,
                "kind": error.kind,
                # Locations only: the messages may quote record values.
                "problems": [{"record": d.record, "field": d.field} for d in error.details[:5]],
            },
        )
        return error_response(
            error.status_code,
            error.kind,
            error.message,
            request.state.request_id,
            error.details,
            error.headers,
        )

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return respond(request, exc)

    @app.exception_handler(UnseenError)
    async def unseen_error(request: Request, exc: UnseenError) -> JSONResponse:
        # The pipeline's own checks caught what the per-record checks let through.
        message = " ".join(str(exc).split())
        return respond(request, ServiceError(422, INVALID_INPUT, message))

    @app.exception_handler(BatcherStopped)
    async def batcher_stopped(request: Request, exc: BatcherStopped) -> JSONResponse:
        return respond(request, ServiceError(503, NOT_READY, str(exc)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(field=_location(error), message=error["msg"]) for error in exc.errors()
        ]
        first = details[0] if details else ErrorDetail(message="invalid request")
        message = f"parameter {first.field!r}: {first.message}" if first.field else first.message
        return respond(request, ServiceError(422, INVALID_INPUT, message, details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
        kind = kinds.get(exc.status_code, "http_error")
        if exc.status_code == 404:
            message = f"no endpoint at {request.url.path}; see /openapi.json"
        else:
            message = str(exc.detail)
        return respond(request, ServiceError(exc.status_code, kind, message, headers=exc.headers))


# ------------------------------------------------------------------ workers


def _location(error: dict) -> str | None:
    location = error.get("loc") or ()
    return str(location[-1]) if location else None


def config_to_env(
    models: dict[str, Path],
    settings: ServiceSettings,
    token_file: Path | None,
    log_level: str,
    access_log: bool,
) -> str:
    """Encode the service configuration for worker processes.

    The token is left out: workers read it again from the token file or
    $UNSEEN_API_TOKEN, which they inherit.
    """
    fields = asdict(settings)
    fields.pop("api_token")
    return json.dumps(
        {
            "models": {name: str(path) for name, path in models.items()},
            "settings": fields,
            "token_file": str(token_file) if token_file else None,
            "log_level": log_level,
            "access_log": access_log,
        }
    )


def app_from_environment() -> FastAPI:
    """Build the app in a uvicorn worker process from $UNSEEN_SERVICE_CONFIG."""
    config = json.loads(os.environ[CONFIG_ENV])
    configure_logging(config["log_level"])
    token_file = config["token_file"]
    fields = dict(config["settings"])
    fields["cors_origins"] = tuple(fields["cors_origins"])
    token = read_token(Path(token_file) if token_file else None)
    settings = ServiceSettings(**fields, api_token=token)
    models = {name: Path(path) for name, path in config["models"].items()}
    return create_app(models, settings, access_log=config["access_log"])
