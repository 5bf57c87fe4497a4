"""``unseen serve``: serve saved models over HTTP for scoring."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from unseen.errors import UnseenError

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve_command(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Model files to serve, as name=path or a bare path served under its file "
            "stem (fraud=models/fraud.unseen, or models/fraud.unseen)."
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to bind; the default accepts local connections only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes; each loads every model.", min=1)
    ] = 1,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the bearer token clients must send; overrides $UNSEEN_API_TOKEN."
        ),
    ] = None,
    cors_origin: Annotated[
        list[str],
        typer.Option(help="Browser origin allowed by CORS, e.g. https://app.example; repeatable."),
    ] = [],  # noqa: B006 (typer reads list defaults without mutating them)
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body accepted, in bytes.", min=1)
    ] = 10 * 1024 * 1024,
    max_records: Annotated[
        int, typer.Option(help="Maximum records in one scoring request.", min=1)
    ] = 10_000,
    max_top_k: Annotated[
        int, typer.Option(help="Largest top_k a request may ask for.", min=0)
    ] = 20,
    batch_size: Annotated[
        int, typer.Option(help="Maximum single-record requests scored together.", min=1)
    ] = 64,
    batch_wait_ms: Annotated[
        float, typer.Option(help="How long a single record waits for others to batch, in ms.")
    ] = 2.0,
    scoring_threads: Annotated[
        int, typer.Option(help="Threads per process that run model inference.", min=1)
    ] = 2,
    torch_threads: Annotated[
        int,
        typer.Option(
            help="Threads torch uses inside one scoring call (torch.set_num_threads).", min=1
        ),
    ] = 1,
    log_level: Annotated[
        str, typer.Option(help="Lowest level logged: debug, info, warning or error.")
    ] = "info",
    access_log: Annotated[
        bool, typer.Option(help="Log one JSON line per request (method, path, status, time).")
    ] = True,
) -> None:
    """Serve MODELS over HTTP: POST /v1/models/{name}/score, /metrics, /healthz, /readyz."""
    import torch
    import uvicorn

    from unseen.service.app import CONFIG_ENV, config_to_env, create_app
    from unseen.service.logs import configure_logging
    from unseen.service.models import parse_model_spec
    from unseen.service.settings import ServiceSettings, read_token

    configure_logging(log_level)
    # One intra-op thread per call, with --scoring-threads calls in parallel:
    # torch's own thread pool oversubscribes the cores once several calls run
    # at once, which made each call several times slower in the load benchmark.
    # Worker processes (--workers > 1) read the choice from OMP_NUM_THREADS.
    torch.set_num_threads(torch_threads)
    os.environ["OMP_NUM_THREADS"] = str(torch_threads)
    model_paths: dict[str, Path] = {}
    for spec in models:
        name, path = parse_model_spec(spec)
        if name in model_paths:
            raise UnseenError(f"two models are named {name!r}: name them with name=path")
        model_paths[name] = path
    token = read_token(token_file)
    settings = ServiceSettings(
        max_body_bytes=max_body_bytes,
        max_records=max_records,
        max_top_k=max_top_k,
        batch_max_size=batch_size,
        batch_max_wait_ms=batch_wait_ms,
        scoring_threads=scoring_threads,
        api_token=token,
        cors_origins=tuple(cors_origin),
    )
    if host not in LOOPBACK_HOSTS and token is None:
        logger.warning(
            "serving on %s without a token: anyone who can reach it can score records; "
            "set $UNSEEN_API_TOKEN or --token-file",
            host,
            extra={"event": "no_auth_warning"},
        )
    logger.info(
        "starting on http://%s:%d with %d worker(s)",
        host,
        port,
        workers,
        extra={"event": "service_starting", "host": host, "port": port, "workers": workers},
    )
    server_options = {"host": host, "port": port, "log_config": None, "access_log": False}
    if workers == 1:
        app = create_app(model_paths, settings, access_log=access_log)
        uvicorn.run(app, **server_options)
        return
    # Each worker process builds its own app from the configuration in the environment.
    for name, path in model_paths.items():
        if not path.is_file():
            raise UnseenError(f"model file not found for {name!r}: {str(path)!r}")
    os.environ[CONFIG_ENV] = config_to_env(model_paths, settings, token_file, log_level, access_log)
    uvicorn.run(
        "unseen.service.app:app_from_environment", factory=True, workers=workers, **server_options
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
