"""Error responses: one exception type for expected failures and its JSON body.

Every 4xx and 5xx response has the ``ErrorResponse`` body, so clients parse
one shape whatever failed.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from unseen.service.schemas import ErrorDetail, ErrorResponse

# Error kinds, also the ``kind`` label of the errors metric.
INVALID_INPUT = "invalid_input"
PAYLOAD_TOO_LARGE = "payload_too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
UNAUTHORIZED = "unauthorized"
NOT_READY = "not_ready"
INTERNAL = "internal"

# At most this many per-record problems are listed in one response.
MAX_REPORTED_DETAILS = 20


class ServiceError(Exception):
    """An expected failure that becomes a 4xx response with an ``ErrorResponse`` body."""

    def __init__(
        self,
        status_code: int,
        kind: str,
        message: str,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.kind = kind
        self.message = message
        self.details = details or []
        self.headers = headers


def invalid_input(details: list[ErrorDetail], total: int | None = None) -> ServiceError:
    """Build a 422 error whose message repeats the first problem and counts the rest."""
    first = details[0]
    where = []
    if first.record is not None:
        where.append(f"record {first.record}")
    if first.field is not None:
        where.append(f"field {first.field!r}")
    message = f"{', '.join(where)}: {first.message}" if where else first.message
    total = len(details) if total is None else total
    if total > 1:
        message += f" (and {total - 1} more problem(s), listed in details)"
    return ServiceError(422, INVALID_INPUT, message, details[:MAX_REPORTED_DETAILS])


def error_response(
    status_code: int,
    kind: str,
    message: str,
    request_id: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=kind, message=message, request_id=request_id, details=details or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


# Responses listed in the OpenAPI document of every operation that can return them.
ERROR_RESPONSES = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    404: {"model": ErrorResponse, "description": "No model of that name is loaded."},
    413: {"model": ErrorResponse, "description": "Body or record count over the limit."},
    415: {"model": ErrorResponse, "description": "Content-Type is not JSON or CSV."},
    422: {"model": ErrorResponse, "description": "Invalid records or parameters."},
    500: {"model": ErrorResponse, "description": "Unexpected failure; quote the request id."},
    503: {"model": ErrorResponse, "description": "The service is starting or stopping."},
}


def error_responses(*status_codes: int) -> dict[int, dict]:
    return {code: ERROR_RESPONSES[code] for code in status_codes}
