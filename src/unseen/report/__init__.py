"""Self-contained HTML reports: scoring results and benchmark results.

Figures are drawn with matplotlib and pages rendered with Jinja2; both come
with the ``report`` extra (``pip install 'unseen[report]'``).
"""

from unseen.report.benchmark import BENCHMARK_COLUMNS, write_benchmark_report
from unseen.report.gather import ReportData, gather_report
from unseen.report.page import render_report, write_report

__all__ = [
    "BENCHMARK_COLUMNS",
    "ReportData",
    "gather_report",
    "render_report",
    "write_benchmark_report",
    "write_report",
]
