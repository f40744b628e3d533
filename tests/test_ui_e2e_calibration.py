"""End-to-end test of the dashboard's Calibration view: a live ``sme serve`` driven by headless Chromium.

The sample (750 daily bars) is uploaded through the page, a small walk-forward calibration of two methods is
configured in the Calibration tab and run on the server's workers, and the finished view must show the coverage
table (a row per method and path statistic) and a PIT histogram per method and statistic. The server, the
browser and the 127.0.0.1-only page come from ``tests.test_ui_e2e``. The dashboard is built first when
``ui/dist`` is missing or older than its sources, so a stale build cannot hide the view under test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_ui_e2e import SAMPLE, UI_DIST, _chromium, _local_page, _serve
from tests.test_ui_e2e import browser as browser  # noqa: F401 - the fixture, used by name

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "ui"
#: The whole walk forward (JIT warm-up, 11 origins x 2 methods x 100 scenarios) on a shared 2-core machine.
CALIBRATION_TIMEOUT_MS = 180_000
#: Six path statistics (log return, volatility, drawdown, VaR exceedances, path high and low) per method.
MIN_HISTOGRAMS = 12


def _newest_source() -> float:
    sources = [p for p in (UI / "src").rglob("*") if p.is_file()]
    sources += [UI / "index.html", UI / "package.json"]
    return max(p.stat().st_mtime for p in sources if p.exists())


@pytest.fixture(scope="module")
def built_ui() -> Path:
    """``ui/dist`` built from the current sources (``npm run build`` when missing or stale)."""
    if _chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium) or set SME_CHROMIUM")
    index = UI_DIST / "index.html"
    if index.is_file() and index.stat().st_mtime >= _newest_source():
        return UI_DIST
    npm = shutil.which("npm")
    if npm is None or not (UI / "node_modules").is_dir():
        pytest.fail("ui/dist is missing or stale and cannot be built: run `make ui` (cd ui && npm ci && npm run build)")
    done = subprocess.run([npm, "run", "build"], cwd=UI, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"npm run build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return UI_DIST


def test_calibration_view_runs_a_walk_forward_and_shows_coverage_and_pit(built_ui, browser, tmp_path):
    problems: list[str] = []
    with _serve(tmp_path) as base, _local_page(browser, problems) as page:
        page.goto(base + "/", wait_until="domcontentloaded")
        page.set_input_files("[data-testid=file-input]", str(SAMPLE))
        page.wait_for_selector("[data-testid=dataset-rows]:has-text('750')")

        page.click("[data-testid=tab-calibration]")
        form = page.wait_for_selector("[data-testid=calibration-form]")
        assert form.is_visible()
        # The defaults: stationary, GARCH and regime; this run keeps the first two.
        for method, checked in (("stationary", True), ("garch", True), ("regime", True), ("iid", False)):
            assert page.is_checked(f"[data-testid=calibration-method-{method}]") is checked, method
        page.uncheck("[data-testid=calibration-method-regime]")
        page.fill("[data-testid=calibration-horizon]", "10")
        page.fill("[data-testid=calibration-scenarios]", "100")
        page.fill("[data-testid=calibration-step]", "40")
        page.fill("[data-testid=calibration-min-window]", "300")
        page.click("[data-testid=calibration-submit]")

        page.wait_for_selector("[data-testid=calibration-status]")
        assert page.locator("[data-testid=calibration-error]").count() == 0
        page.wait_for_selector("[data-testid=coverage-table]", state="visible", timeout=CALIBRATION_TIMEOUT_MS)
        assert page.get_attribute("[data-testid=calibration-status]", "data-status") == "succeeded"

        methods = set(page.eval_on_selector_all(
            "[data-testid=coverage-table] tbody tr", "rows => rows.map(r => r.dataset.method)"))
        assert methods == {"stationary", "garch"}
        assert page.locator("[data-testid=coverage-table] tbody tr").count() >= 2
        assert page.locator("[data-testid=pit-histogram]").count() >= MIN_HISTOGRAMS
        origins = int(page.inner_text("[data-testid=calibration-origins]"))
        # walk_origins: from bar min_window - 1 every step bars, leaving horizon bars after the last.
        assert origins == len(range(300 - 1, 750 - 10, 40))
        assert page.locator("[data-testid=calibration-verdicts] li").count() == page.locator(
            "[data-testid=coverage-table] tbody tr").count()
        report = page.get_attribute("[data-testid=calibration-report-link]", "href")
        assert report and "/api/calibrations/" in report and report.split("?")[0].endswith("/report")

        shot = tmp_path / "calibration_1366x900.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    assert not problems, problems
