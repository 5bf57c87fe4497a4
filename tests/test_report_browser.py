"""Reports opened in a real headless Chromium: no console errors, figures decode, no requests.

Chromium comes from Debian (``make browser`` installs it) and is driven
through Playwright's Python API pointed at the system binary. Without a
browser these tests fail, unless ``UNSEEN_SKIP_BROWSER=1`` is set outside CI.
Screenshots and a print-layout PDF go to ``artifacts/`` for a human to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from unseen.data.demo import load_demo
from unseen.pipeline import AnomalyPipeline
from unseen.report import write_benchmark_report, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"
SKIP_ENV = "UNSEEN_SKIP_BROWSER"
LAPTOP = {"width": 1366, "height": 768}
# A4 less the page's 12 mm side margins, in CSS pixels (96 per inch).
A4_CONTENT = {"width": 703, "height": 1000}
# Without the networking flags Chromium's background services try to reach the
# network, which this project's machines refuse.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<img src=x onerror=alert(1)>"


def missing_browser(reason: str):
    if os.environ.get(SKIP_ENV) == "1" and not os.environ.get("CI"):
        pytest.skip(f"{reason} ({SKIP_ENV}=1)")
    pytest.fail(f"{reason}: run `make browser`, or set {SKIP_ENV}=1 to skip outside CI")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Yield a Chromium context with a new empty profile folder."""
    executable = shutil.which("chromium")
    if executable is None:
        missing_browser("chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the playwright package is not installed (test extra)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=LAPTOP,
        )
        yield context
        context.close()


class PageEvents:
    """Console messages, uncaught errors, dialogs and requests seen by one page."""

    def __init__(self, page):
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))


def open_page(browser, path: Path):
    page = browser.new_page()
    events = PageEvents(page)
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, events


def image_sizes(page, selector: str) -> list[list[int]]:
    return page.eval_on_selector_all(
        selector, "images => images.map(i => [i.complete ? i.naturalWidth : 0, i.clientWidth])"
    )


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    demo = load_demo()
    train = demo[demo["Class"] == 0].iloc[::2]
    pipeline = AnomalyPipeline(
        detector="autoencoder",
        detector_params={"epochs": 8, "batch_size": 64},
        id_columns=["transaction_id"],
        label_column="Class",
        random_state=0,
    ).fit(train)
    scored = demo.copy()
    scored.loc[scored.index[:5], "Amount"] = np.nan
    top = int(np.argmax(pipeline.anomaly_score(scored)))
    scored["transaction_id"] = scored["transaction_id"].astype(object)
    scored.loc[top, "transaction_id"] = HOSTILE
    path = tmp_path_factory.mktemp("browser") / "report.html"
    write_report(pipeline, scored, path, top_k=20, source="creditcard_sample.csv")
    return path


def test_report_renders_in_chromium(browser, report_file):
    page, events = open_page(browser, report_file)

    assert events.console == []
    assert events.errors == []
    assert events.dialogs == []
    assert events.requests == [report_file.resolve().as_uri()]
    for selector in ("#score-histogram", "#roc-curve", "#pr-curve"):
        natural, shown = image_sizes(page, selector)[0]
        assert natural > 300, f"{selector} did not decode"
        assert shown > 300, f"{selector} is not laid out"
    assert page.locator("#top-records tbody tr").count() == 20
    assert page.locator("#top-records svg.bar").count() == 20 * 3
    assert page.locator("#confusion").is_visible()
    assert page.locator("#importance-table tbody tr").count() > 0
    assert page.locator("#data-quality-table").inner_text().count("Amount") == 1
    assert HOSTILE in page.locator("#top-records").inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], "the page scrolls sideways on a laptop screen"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
    page.emulate_media(media="print")
    page.set_viewport_size(A4_CONTENT)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= A4_CONTENT["width"], "the print layout is wider than an A4 page"
    page.pdf(path=ARTIFACTS / "report.pdf", format="A4")
    assert (ARTIFACTS / "report.pdf").stat().st_size > 50_000
    page.close()


def test_benchmark_report_renders_in_chromium(browser, tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        {
            "dataset": dataset,
            "detector": detector,
            "setting": setting,
            "seed": seed,
            "auroc": rng.uniform(0.6, 0.95),
            "average_precision": rng.uniform(0.1, 0.7),
            "fit_seconds": rng.uniform(0.5, 30),
            "rows_per_second": rng.uniform(1e3, 1e5),
        }
        for dataset in ("cardio", "thyroid", "mammography", "nsl_kdd")
        for detector in ("autoencoder", "vae", "iforest")
        for setting in ("clean", "unsupervised")
        for seed in (0, 1, 2)
    ]
    import pandas as pd

    path = tmp_path / "bench.html"
    write_benchmark_report(pd.DataFrame(rows), path)
    page, events = open_page(browser, path)

    assert events.console == []
    assert events.errors == []
    assert events.requests == [path.resolve().as_uri()]
    sizes = image_sizes(page, "img.benchmark-chart")
    assert len(sizes) == 4
    assert all(natural > 300 and shown > 300 for natural, shown in sizes)
    assert page.locator("#benchmark-summary tbody tr").count() == 4 * 3 * 2
    assert page.locator("#benchmark-runs tbody tr").count() == len(rows)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "benchmark-report.png", full_page=True)
    page.close()
