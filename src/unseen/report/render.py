"""Render report templates to HTML with every inserted value escaped.

The Jinja2 environment escapes by default (``autoescape=True``), so text from
the data (column names, categories, ids, labels) cannot inject markup or
script. Only the figures' data URIs and the stylesheet are trusted strings,
and both are made by this package.
"""

from __future__ import annotations

import logging
import math
import numbers
from functools import cache
from pathlib import Path

import numpy as np

from unseen.errors import UnseenError
from unseen.io.atomic import write_atomically

logger = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm")


@cache
def _environment():
    try:
        import jinja2
    except ImportError as exc:
        raise UnseenError(
            "reports need jinja2: install it with pip install 'unseen[report]'"
        ) from exc
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("unseen.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = format_number
    environment.filters["percent"] = format_percent
    environment.filters["cell"] = format_cell
    return environment


def render_template(name: str, **context) -> str:
    """Render the template ``name`` from ``unseen/report/templates`` with ``context``."""
    return _environment().get_template(name).render(**context)


def format_number(value, digits: int = 4) -> str:
    """Format a count, or a real number of ``digits`` or more digits, with thousands separators.

    Smaller real numbers keep ``digits`` significant digits.
    """
    if value is None:
        return "n/a"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def format_percent(value, decimals: int = 1) -> str:
    """Format a fraction such as 0.034 as ``3.4%``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{decimals}%}"


def format_cell(value) -> str:
    """Format one value from the data for a table cell; missing values read ``missing``."""
    if value is None:
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, numbers.Real):
        if isinstance(value, numbers.Integral):
            return str(int(value))
        if math.isnan(float(value)):
            return "missing"
        return f"{float(value):.6g}"
    text = str(value)
    return text if text.strip() else repr(text)


def check_report_path(path: str | Path) -> Path:
    """Return ``path`` as a Path, or raise ``UnseenError`` unless it names an HTML file."""
    path = Path(path)
    if path.suffix.lower() not in HTML_SUFFIXES:
        raise UnseenError(
            f"cannot write a report to {str(path)!r}: use a file name ending in .html or .htm"
        )
    return path


def write_html(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path`` atomically, so a failed run leaves no partial file there."""
    path = check_report_path(path)
    write_atomically(path, text.encode("utf-8"))
    logger.info("wrote report %s (%d bytes)", path, len(text))
