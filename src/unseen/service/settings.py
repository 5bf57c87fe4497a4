"""Configuration of the scoring service: limits, batching, auth and CORS."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from unseen.errors import UnseenError

TOKEN_ENV = "UNSEEN_API_TOKEN"


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and options of one service instance.

    Parameters
    ----------
    max_body_bytes : int, default=10 MiB
        Largest request body accepted; larger bodies get 413.
    max_records : int, default=10_000
        Maximum records in one scoring request; more get 413.
    max_top_k : int, default=20
        Largest ``top_k`` (reasons per record) a request may ask for.
    batch_max_size : int, default=64
        Maximum single-record requests coalesced into one scoring call.
    batch_max_wait_ms : float, default=2.0
        Maximum time the first request of a batch waits for others, in milliseconds.
    scoring_threads : int, default=2
        Worker threads that run model inference off the event loop.
    api_token : str or None
        Bearer token every endpoint except /healthz and /readyz requires; None
        disables authentication.
    cors_origins : tuple of str
        Browser origins allowed by CORS; empty (the default) adds no CORS headers.
    """

    max_body_bytes: int = 10 * 1024 * 1024
    max_records: int = 10_000
    max_top_k: int = 20
    batch_max_size: int = 64
    batch_max_wait_ms: float = 2.0
    scoring_threads: int = 2
    api_token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_records", "batch_max_size", "scoring_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UnseenError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.max_top_k, int) or self.max_top_k < 0:
            raise UnseenError(f"max_top_k must be a non-negative integer, got {self.max_top_k!r}")
        if not 0 <= self.batch_max_wait_ms <= 1000:
            raise UnseenError(
                f"batch_max_wait_ms must be between 0 and 1000 ms, got {self.batch_max_wait_ms!r}"
            )
        if self.api_token is not None and not self.api_token.strip():
            raise UnseenError("the API token is empty: set a non-empty token or none at all")
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise UnseenError(
                    f"CORS origin {origin!r} must look like https://host[:port] or be '*'"
                )

    @property
    def auth_enabled(self) -> bool:
        return self.api_token is not None


def read_token(token_file: Path | None = None) -> str | None:
    """Return the API token from ``token_file`` if given, else from $UNSEEN_API_TOKEN.

    Surrounding whitespace (a trailing newline in the file) is removed. Returns
    None when neither is set, which disables authentication.
    """
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UnseenError(f"cannot read the token file {str(token_file)!r}: {exc}") from exc
        if not token:
            raise UnseenError(f"the token file {str(token_file)!r} is empty: write a token in it")
        return token
    token = os.environ.get(TOKEN_ENV)
    if token is None:
        return None
    token = token.strip()
    if not token:
        raise UnseenError(f"${TOKEN_ENV} is set but empty: unset it or set a token")
    return token
