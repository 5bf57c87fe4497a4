"""Optional bearer-token authentication.

When the service has a token, every endpoint except /healthz and /readyz
requires ``Authorization: Bearer <token>``. The comparison uses
``hmac.compare_digest`` so its duration does not reveal how much of a guess
matched.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from unseen.service.errors import UNAUTHORIZED, ServiceError

logger = logging.getLogger(__name__)

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="The token set with $UNSEEN_API_TOKEN or --token-file.",
)


async def require_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
) -> None:
    """Raise a 401 ``ServiceError`` unless the request carries the service's token."""
    expected = request.app.state.service.settings.api_token
    if expected is None:
        return
    if credentials is None:
        raise ServiceError(
            401,
            UNAUTHORIZED,
            "missing bearer token: send the header Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="unseen"'},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise ServiceError(
            401,
            UNAUTHORIZED,
            "invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="unseen", error="invalid_token"'},
        )
