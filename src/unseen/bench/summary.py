"""Summaries of benchmark results: mean scores, ranks and speed per detector."""

from __future__ import annotations

import numpy as np
import pandas as pd

BLOCK = ["dataset", "setting", "seed"]


def add_ranks(results: pd.DataFrame) -> pd.DataFrame:
    """Return ``results`` with ``auroc_rank``: 1 = best AUROC within its dataset, setting, seed.

    Ties share the mean rank. Runs that failed (no AUROC) get no rank.
    """
    ranked = results.copy()
    ranked["auroc_rank"] = ranked.groupby(BLOCK)["auroc"].rank(ascending=False, method="average")
    return ranked


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Return one row per setting and detector, best mean AUROC first.

    Means and ranks use only the (dataset, seed) blocks where every detector
    of that setting produced a score, so a detector that fails on a hard
    dataset is not flattered by leaving it out.
    """
    frames = []
    for setting, part in results.groupby("setting", sort=False):
        n_detectors = part["detector"].nunique()
        complete = part.groupby(BLOCK)["auroc"].transform(lambda s: s.notna().sum())
        part = add_ranks(part[complete == n_detectors])
        grouped = part.groupby("detector")
        table = pd.DataFrame(
            {
                "setting": setting,
                "mean_auroc": grouped["auroc"].mean(),
                "mean_average_precision": grouped["average_precision"].mean(),
                "mean_rank": grouped["auroc_rank"].mean(),
                "median_rank": grouped["auroc_rank"].median(),
                "median_fit_seconds": grouped["fit_seconds"].median(),
                "median_score_rows_per_second": grouped["score_rows_per_second"].median(),
                "median_fit_peak_rss_mb": grouped["fit_peak_rss_mb"].median(),
                "n_runs": grouped["auroc"].size(),
            }
        )
        frames.append(table.sort_values("mean_auroc", ascending=False))
    if not frames:
        return pd.DataFrame()
    summary = pd.concat(frames).reset_index(names="detector")
    failures = results[results["error"].fillna("") != ""].groupby(["setting", "detector"]).size()
    summary["n_failed"] = [
        int(failures.get((row.setting, row.detector), 0)) for row in summary.itertuples()
    ]
    return summary[["setting", "detector", *summary.columns.drop(["setting", "detector"])]]


def _format(value) -> str:
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as a GitHub markdown table."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_format(v) for v in row) + " |")
    return "\n".join(lines)


def summary_markdown(results: pd.DataFrame) -> str:
    """Return the markdown summary: per setting, mean AUROC/AP, ranks, speed and memory."""
    summary = summarize(results)
    n_datasets = results["dataset"].nunique()
    seeds = ", ".join(str(s) for s in sorted(results["seed"].unique()))
    parts = [
        f"{n_datasets} datasets, seeds {seeds}. Rank 1 = best AUROC within a dataset and seed; "
        "means and ranks cover the runs where every detector produced a score.",
    ]
    for setting, table in summary.groupby("setting", sort=False):
        parts.append(f"\n### Setting: {setting}\n")
        parts.append(markdown_table(table.drop(columns="setting")))
    return "\n".join(parts) + "\n"


def per_dataset_auroc(results: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Return mean AUROC over seeds, one row per dataset and one column per detector."""
    part = results[results["setting"] == setting]
    return part.pivot_table(index="dataset", columns="detector", values="auroc", aggfunc="mean")
