"""Per-request context: request id, access log, metrics and the last-resort 500.

A pure ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which
adds a task and a memory stream to every request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unseen.service.errors import INTERNAL, error_response
from unseen.service.logs import request_id_var
from unseen.service.metrics import UNMATCHED, ServiceMetrics

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is reused only if it is short and plain, so it cannot
# inject text into logs or headers.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Assign a request id, time the request, record metrics and log one access line."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, access_log: bool = True):
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        context_token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            self.metrics.errors.labels(INTERNAL).inc()
            logger.exception(
                "unexpected error while handling %s %s",
                scope["method"],
                scope["path"],
                extra={"event": "internal_error", "request_id": request_id},
            )
            if not response_started:
                response = error_response(
                    500,
                    INTERNAL,
                    f"internal server error; quote request id {request_id} when reporting it",
                    request_id,
                )
                await response(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_request(endpoint, scope["method"], status, duration)
            if self.access_log:
                logger.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "event": "request",
                        "method": scope["method"],
                        "endpoint": endpoint,
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                    },
                )
            request_id_var.reset(context_token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if VALID_REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex
