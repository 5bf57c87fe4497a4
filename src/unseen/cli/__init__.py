"""The ``unseen`` command line: fit, score, evaluate and demo.

Bad input ends the command with exit code 2 and one line on standard error,
never a traceback.
"""

from __future__ import annotations

import logging
import sys
import warnings

import typer

# typer 0.29 bundles its own copy of click, whose exception classes differ from
# the click package's; parsing errors arrive as these.
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from unseen.cli import bench, demo, detectors, evaluate, explain, fit, report, score, serve
from unseen.errors import UnseenError

app = typer.Typer(
    name="unseen",
    help="Learn what normal records look like, then score, flag and explain anomalies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command_module in (fit, score, evaluate, explain, report, serve, detectors, bench, demo):
    command_module.register(app)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 bad input, 1 unexpected failure)."""
    warnings.formatwarning = _format_warning
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False, prog_name="unseen")
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _error("interrupted")
        return 130
    except NoArgsIsHelpError as exc:
        print(exc.format_message())
        return 0
    except ClickException as exc:
        _error(f"{exc.format_message()} (see --help)")
        return 2
    except UnseenError as exc:
        _error(str(exc))
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _error(f"{exc.strerror}: {exc.filename}")
        return 2
    except MemoryError:
        _error("out of memory: score the file in smaller parts")
        return 1
    return 0


def _error(message: str) -> None:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)


def run() -> None:
    sys.exit(main())
