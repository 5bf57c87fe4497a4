"""``unseen detectors``: list the registered detectors and their hyper-parameters."""

from __future__ import annotations

import json

import typer

from unseen.cli.common import stdout


def format_value(value) -> str:
    """Return a default value as it would be written after ``--param key=``."""
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value) if not isinstance(value, str) else value


def detectors_command() -> None:
    """List every detector that --detector accepts, with its summary and hyper-parameters."""
    from unseen.detectors import REGISTRY

    for name in sorted(REGISTRY):
        detector_class = REGISTRY[name]
        stdout.print(f"[bold]{name}[/bold]: {detector_class.summary}", highlight=False)
        params = detector_class().get_params()
        text = ", ".join(f"{key}={format_value(params[key])}" for key in sorted(params))
        stdout.print(f"  {text or '(no hyper-parameters)'}", highlight=False, soft_wrap=True)
    stdout.print(
        "Combine detectors with '+', e.g. --detector autoencoder+iforest; set a member's "
        "hyper-parameter with --param MEMBER__NAME=VALUE.",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("detectors")(detectors_command)
