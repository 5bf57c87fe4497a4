"""The ``unseen`` command line: fit, score, evaluate and demo.

Bad input ends the command with exit code 2 and one line on standard error,
never a traceback.
"""

from __future__ import annotations

import logging
import sys
import warnings

import click
import typer

from unseen.cli import demo, evaluate, fit, score
from unseen.errors import UnseenError

app = typer.Typer(
    name="unseen",
    help="Learn what normal records look like, then score, flag and explain anomalies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command_module in (fit, score, evaluate, demo):
    command_module.register(app)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 bad input, 1 unexpected failure)."""
    warnings.formatwarning = _format_warning
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False, prog_name="unseen")
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()} (see --help)", err=True)
        return 2
    except UnseenError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        click.echo(f"error: {exc.strerror}: {exc.filename}", err=True)
        return 2
    except MemoryError:
        click.echo("error: out of memory: score the file in smaller parts", err=True)
        return 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run() -> None:
    sys.exit(main())
