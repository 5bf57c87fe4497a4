"""Matplotlib figures for reports, encoded as inline PNG data URIs.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg
renderer, never through ``pyplot``, so no window, global figure list or
display is involved and reports can be built from threads and servers.
"""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
import pandas as pd

from unseen.errors import UnseenError

logger = logging.getLogger(__name__)

NORMAL_COLOR = "#4c72b0"
ANOMALY_COLOR = "#c44e52"
THRESHOLD_COLOR = "#222222"
DETECTOR_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3"]
# Scores are drawn on a log axis when their largest/smallest ratio reaches this.
LOG_SCALE_RATIO = 100.0
HISTOGRAM_BINS = 60
DPI = 144


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise UnseenError(
            "reports need matplotlib: install it with pip install 'unseen[report]'"
        ) from exc
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return figure


def png_data_uri(figure) -> str:
    """Render ``figure`` as PNG and return it as a ``data:image/png;base64`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def uses_log_scale(scores: np.ndarray) -> bool:
    """Return whether positive ``scores`` span at least two decades."""
    finite = scores[np.isfinite(scores)]
    if len(finite) == 0 or finite.min() <= 0:
        return False
    return bool(finite.max() / finite.min() >= LOG_SCALE_RATIO)


def score_histogram(scores: np.ndarray, threshold: float, labels: np.ndarray | None = None):
    """Draw the distribution of anomaly scores with the alarm threshold marked.

    Counts use a log axis so a few high scores stay visible next to the bulk
    of normal rows. With ``labels`` the normal and anomalous rows get their
    own colours.
    """
    finite = np.isfinite(scores)
    values = scores[finite]
    figure = _figure(7.5, 3.0)
    axes = figure.add_subplot()
    if len(values) == 0:
        axes.text(0.5, 0.5, "no finite scores", ha="center", va="center")
        return figure
    log_x = uses_log_scale(values)
    if not np.isfinite(threshold):
        # No reachable threshold (too few calibration rows): nothing to mark.
        threshold = values.min() if log_x else values.max()
        show_threshold = False
    else:
        show_threshold = True
    # Widen the range to include the threshold, unless it cannot sit on a log axis.
    low = min(values.min(), threshold) if (threshold > 0 or not log_x) else values.min()
    high = max(values.max(), threshold)
    if high == low:
        high = low + 1.0
    bins = np.geomspace(low, high, HISTOGRAM_BINS + 1) if log_x else HISTOGRAM_BINS
    if labels is None:
        axes.hist(values, bins=bins, range=(low, high), color=NORMAL_COLOR, label="all rows")
    else:
        kept = np.asarray(labels)[finite]
        for value, color, name in ((0, NORMAL_COLOR, "normal"), (1, ANOMALY_COLOR, "anomaly")):
            axes.hist(
                values[kept == value],
                bins=bins,
                range=(low, high),
                color=color,
                alpha=0.75,
                label=f"labelled {name}",
            )
    if log_x:
        axes.set_xscale("log")
    axes.set_yscale("log")
    if show_threshold and (threshold > 0 or not log_x):
        axes.axvline(threshold, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.2)
        axes.annotate(
            f"threshold {threshold:.4g}",
            xy=(threshold, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -12),
            textcoords="offset points",
            fontsize=8,
        )
    axes.set_xlabel("anomaly score" + (" (log scale)" if log_x else ""))
    axes.set_ylabel("rows (log scale)")
    axes.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
    axes.grid(alpha=0.25)
    return figure


def roc_figure(labels: np.ndarray, scores: np.ndarray, metrics: dict):
    """Draw the ROC curve with the threshold's operating point."""
    from sklearn.metrics import roc_curve

    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    point = (metrics["false_positive_rate_at_threshold"], metrics["recall_at_threshold"])
    figure, axes = _curve_figure(
        false_positive_rate,
        true_positive_rate,
        point,
        ("false-positive rate", "true-positive rate (recall)"),
        f"ROC, AUROC = {metrics['auroc']:.4f}",
    )
    axes.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1, label="chance")
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    return figure


def precision_recall_figure(labels: np.ndarray, scores: np.ndarray, metrics: dict):
    """Draw the precision-recall curve, the base rate and the threshold's operating point."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(labels, scores)
    point = None
    # Precision at the threshold is undefined when nothing is flagged.
    if metrics["true_positives"] + metrics["false_positives"] > 0:
        point = (metrics["recall_at_threshold"], metrics["precision_at_threshold"])
    figure, axes = _curve_figure(
        recall,
        precision,
        point,
        ("recall", "precision"),
        f"Precision-recall, AP = {metrics['average_precision']:.4f}",
        drawstyle="steps-post",
    )
    base_rate = metrics["n_anomalies"] / metrics["n_rows"]
    axes.axhline(base_rate, color="#999999", linestyle=":", linewidth=1, label="base rate")
    axes.legend(fontsize=8, frameon=False, loc="lower left")
    return figure


def _curve_figure(x, y, point, axis_labels, title, drawstyle="default"):
    """Draw a curve in the unit square, with the threshold's operating point when given."""
    figure = _figure(3.8, 3.6)
    axes = figure.add_subplot()
    axes.plot(x, y, color=NORMAL_COLOR, linewidth=1.6, drawstyle=drawstyle)
    if point is not None:
        axes.plot(*point, "o", color=ANOMALY_COLOR, label="at threshold")
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    axes.set_title(title, fontsize=10)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.25)
    return figure, axes


def benchmark_figure(summary: pd.DataFrame, metric: str, title: str):
    """Draw one horizontal bar per dataset and detector: mean ``metric`` with its std.

    ``summary`` has columns dataset, detector, ``{metric}_mean`` and
    ``{metric}_std`` (std over seeds; NaN for a single seed).
    """
    datasets = sorted(summary["dataset"].unique())
    detectors = sorted(summary["detector"].unique())
    bar_height = 0.8 / len(detectors)
    figure = _figure(7.5, 0.8 + 0.22 * len(datasets) * max(1, len(detectors) / 2))
    axes = figure.add_subplot()
    positions = np.arange(len(datasets))
    for number, detector in enumerate(detectors):
        rows = summary[summary["detector"] == detector].set_index("dataset").reindex(datasets)
        axes.barh(
            positions + number * bar_height - 0.4 + bar_height / 2,
            rows[f"{metric}_mean"].to_numpy(dtype=float),
            height=bar_height,
            xerr=rows[f"{metric}_std"].fillna(0).to_numpy(dtype=float),
            color=DETECTOR_COLORS[number % len(DETECTOR_COLORS)],
            error_kw={"elinewidth": 0.8, "capsize": 1.5},
            label=detector,
        )
    axes.set_yticks(positions, labels=datasets, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel(title)
    axes.grid(axis="x", alpha=0.25)
    axes.legend(fontsize=8, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=4)
    return figure
