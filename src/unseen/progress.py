"""Progress reporting that library code emits and only front ends display.

Library code calls ``report``; the CLI installs a callback with
``progress_callback`` to draw a progress bar. Without one, ``report`` does
nothing, so library users see no output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ProgressCallback = Callable[[str, int, int | None], None]

_callback: ContextVar[ProgressCallback | None] = ContextVar("unseen_progress", default=None)


def report(task: str, completed: int, total: int | None = None) -> None:
    """Tell the active front end that ``completed`` of ``total`` steps of ``task`` are done."""
    callback = _callback.get()
    if callback is not None:
        callback(task, completed, total)


@contextmanager
def progress_callback(callback: ProgressCallback | None) -> Iterator[None]:
    """Send ``report`` calls made inside the block to ``callback``."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)
