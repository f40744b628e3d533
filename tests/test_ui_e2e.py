"""End-to-end test of the web dashboard: a live ``sme serve`` driven by headless Chromium.

The server serves the built dashboard (``ui/dist``, made by ``make ui``) and the API on
127.0.0.1; Debian's ``chromium`` is driven through the Python ``playwright`` package (its own
browser download is not used). The test uploads the 750-row sample, fills the run form, follows
the job's progress to the end, checks the results view and the CSV ZIP download, and checks
that an invalid upload shows the API's message. Then it uploads a second asset and runs a
regime-conditioned job on both assets through the form's method and asset sections, and checks
the asset switcher, the correlation table and the regime strip. Screenshots go under pytest's
``tmp_path``; their paths are printed (``pytest -s`` shows them).

Two more tests share one server: the preflight note beside the threshold (the server's estimate,
its warning, and the suggested threshold applied with one click), and a run that ends partial —
its accepted scenarios shown and downloaded, then rerun with one click at the threshold where
every scenario passes, resuming from them. A third, on the same server, pages through the
scenarios of a job of 150 (20 a page, ``?page_size=20``) and opens one of its fourth page.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netutil import free_port

ROOT = Path(__file__).resolve().parent.parent
UI_DIST = ROOT / "ui" / "dist"
SAMPLE = ROOT / "data" / "sample_ohlcv.csv"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_TIMEOUT = 120.0
JOB_TIMEOUT_MS = 240_000
UI_TIMEOUT_MS = 30_000


def _chromium() -> str | None:
    for candidate in (os.environ.get("SME_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _sme() -> str | None:
    beside = Path(sys.executable).with_name("sme")
    if beside.is_file():
        return str(beside)
    return shutil.which("sme")


def _nasdaq_csv() -> str:
    """The NASDAQ sample's last 750 days (the dates of the S&P 500 sample) as CSV."""
    from pipeline.io.readers import load_sample

    return load_sample("nasdaq").tail(750).to_csv()


def _get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def _post_file(url: str, path: Path, timeout: float = 30.0) -> tuple[int, dict]:
    """POST ``path`` as multipart field ``file``; the status and JSON body."""
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@contextlib.contextmanager
def _serve(tmp: Path) -> Iterator[str]:
    """``sme serve`` on a free 127.0.0.1 port with the built dashboard; its base URL."""
    if not (UI_DIST / "index.html").is_file():
        pytest.skip("ui/dist is not built: run `make ui` (cd ui && npm ci && npm run build)")
    sme = _sme()
    if sme is None:
        pytest.skip("the `sme` command is not installed (pip install -e .)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "server.log"
    cmd = [sme, "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(tmp / "data"), "--ui-dir", str(UI_DIST),
           "--workers", "2", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sme serve exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if _get_json(f"{base}/api/health", timeout=2.0).get("status") == "ok":
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sme serve did not answer within {SERVER_START_TIMEOUT:.0f} s:\n"
                            f"{log_path.read_text()[-4000:]}")
            time.sleep(0.3)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def live_server(tmp_path):
    with _serve(tmp_path) as base:
        yield base


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = _chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium) or set SME_CHROMIUM")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True,
                              timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def test_dashboard_end_to_end(live_server, browser, tmp_path):
    base = live_server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    saved: list[Path] = []

    context = browser.new_context(viewport={"width": 1366, "height": 800}, accept_downloads=True)
    context.set_default_timeout(UI_TIMEOUT_MS)
    outside: list[str] = []
    events: list[str] = []
    page_errors: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("request", lambda r: events.append(r.url) if "/events" in r.url else None)

    def shot(name: str, full_page: bool = False) -> None:
        path = shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        saved.append(path)

    try:
        page.goto(base + "/", wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
        page.wait_for_selector("text=Drop an OHLCV file here")
        page.wait_for_selector("#field-n_samples")  # the form came from GET /api/options

        # -- upload the sample and see it ------------------------------------------------------
        page.set_input_files("[data-testid=file-input]", str(SAMPLE))
        page.wait_for_selector("[data-testid=dataset-rows]:has-text('750')")
        page.wait_for_selector("[data-testid=dataset-chart] canvas")
        assert page.locator("[data-testid=dataset-view] [data-testid=metrics-table] tbody tr").count() >= 10
        shot("1_dataset_1366x800")

        # -- an out-of-range value is explained inline ------------------------------------------
        page.fill("#field-n_samples", "0")
        page.wait_for_selector("#field-n_samples-error:has-text('Must be at least 1')")

        # -- configure a small run and start it --------------------------------------------------
        page.fill("#field-n_samples", "5")
        page.fill("#field-min_fidelity", "80")
        assert page.locator("#field-n_samples-error").count() == 0
        page.click("button:has-text('Generate scenarios')")
        page.wait_for_selector("[data-testid=progress-panel]")
        page.wait_for_selector("[data-testid=progress-panel][data-status=succeeded]",
                               timeout=JOB_TIMEOUT_MS)
        assert page.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
        assert page.inner_text("[data-testid=progress-accepted]").replace(" ", "") == "5/5"
        assert any("/api/jobs/job_" in u for u in events), "no EventSource on /api/jobs/{id}/events"

        # -- results ------------------------------------------------------------------------------
        page.wait_for_selector("[data-testid=fan-chart] canvas")
        page.wait_for_selector("[data-testid=score-histogram] canvas")
        page.wait_for_selector("[data-testid=series-chart] canvas")
        assert page.locator("[data-testid=fan-chart] canvas").first.is_visible()
        assert page.locator("[data-testid=score-histogram] canvas").first.is_visible()
        rows = page.locator("[data-testid=results] [data-testid=metrics-table] tbody tr")
        assert rows.count() >= 10
        assert page.locator("[data-testid=scenario-select] option").count() == 5
        # The block size and why: the pilot's lengths and the reason.
        choice = page.inner_text("[data-testid=block-choice]")
        assert "Block size:" in choice and "dependence length" in choice
        assert "pilot median fidelity" in page.inner_text("[data-testid=block-reason]")
        page.select_option("[data-testid=scenario-select]", "3")
        page.wait_for_selector("[data-testid=series-chart] canvas")
        page.locator("[data-testid=fan-chart]").scroll_into_view_if_needed()
        shot("2_results_1366x800")
        shot("2_results_1366_full", full_page=True)

        page.set_viewport_size({"width": 1920, "height": 1080})
        page.wait_for_timeout(500)  # let the charts follow the new width
        shot("3_results_1920x1080")

        # -- the CSV ZIP download -----------------------------------------------------------------
        links = page.locator("[data-testid=downloads] a")
        artifacts = [links.nth(i).get_attribute("data-artifact") for i in range(links.count())]
        assert "csv.zip" in artifacts and "manifest.json" in artifacts
        assert "xlsx.zip" not in artifacts  # not among the requested formats
        with page.expect_download(timeout=UI_TIMEOUT_MS) as info:
            page.click("[data-testid=downloads] a[data-artifact='csv.zip']")
        zip_path = tmp_path / "download.zip"
        info.value.save_as(str(zip_path))
        assert zipfile.is_zipfile(zip_path)
        with zipfile.ZipFile(zip_path) as z:
            csvs = [n for n in z.namelist() if n.lower().endswith(".csv")]
        assert len(csvs) == 5, z.namelist()

        # -- the job list reopens the job ---------------------------------------------------------
        page.click("[data-testid=jobs-list] button")
        page.wait_for_selector("[data-testid=progress-panel][data-status=succeeded]")

        # -- an invalid file shows the API's own message ------------------------------------------
        bad = tmp_path / "no_close.csv"
        bad.write_text("\n".join(
            line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1]  # drop the Close column
            for line in SAMPLE.read_text().splitlines()) + "\n")
        assert "Close" not in bad.read_text().splitlines()[0]
        status, body = _post_file(f"{base}/api/datasets", bad)
        assert status == 422, body
        page.set_viewport_size({"width": 1366, "height": 800})
        page.set_input_files("[data-testid=file-input]", str(bad))
        error = page.wait_for_selector("[data-testid=upload-error]")
        assert "no_close.csv was not accepted" in error.inner_text()
        assert page.inner_text("[data-testid=upload-error] .detail") == body["detail"]
        shot("4_upload_error_1366x800")

        # -- a regime-conditioned run on two assets, through the form ----------------------------
        ndx = tmp_path / "ndx.csv"
        ndx.write_text(_nasdaq_csv())
        page.set_input_files("[data-testid=file-input]", str(ndx))
        page.wait_for_selector("[data-testid=dataset-name]:has-text('ndx.csv')")
        page.select_option("#field-method", "regime")
        page.wait_for_selector("fieldset[data-section=regime]")
        assert page.locator("fieldset[data-section=garch]").count() == 0
        page.select_option("#field-regime-labels", "quantile")
        page.select_option("#field-regime-condition", "high_volatility")
        page.get_by_role("radio", name="Several datasets").check()
        page.fill("[aria-label='Symbol 1']", "NDX")
        page.get_by_label("Dataset 2").select_option(label="sample_ohlcv.csv (750 rows)")
        page.fill("[aria-label='Symbol 2']", "SPX")
        page.fill("#field-n_samples", "3")
        page.fill("#field-min_fidelity", "50")
        page.fill("#field-length", "300")
        page.set_viewport_size({"width": 1366, "height": 1800})  # the whole form in the sidebar
        shot("5_regime_multi_form_1366x1800")
        page.set_viewport_size({"width": 1366, "height": 800})
        page.click("button:has-text('Generate scenarios')")
        page.wait_for_selector("[data-testid=progress-panel][data-status=succeeded]",
                               timeout=JOB_TIMEOUT_MS)
        switcher = page.locator("[data-testid=symbol-switcher] button")
        switcher.first.wait_for()
        assert sorted(switcher.all_inner_texts()) == ["NDX", "SPX"]
        pair = page.locator("[data-testid=correlations] tbody tr")
        assert pair.count() == 1 and "NDX" in pair.inner_text() and "SPX" in pair.inner_text()
        page.wait_for_selector("[data-testid=series-chart] canvas")
        strip = page.wait_for_selector("[data-testid=regime-strip] .strip")
        assert strip.is_visible()
        assert page.locator("[data-testid=regime-strip] .band").count() >= 1
        assert page.locator("[data-testid=regimes] tbody tr").count() == 2
        assert page.locator("[data-testid=scenario-select] option").count() == 3
        page.locator("[data-testid=symbol-switcher] button:has-text('SPX')").click()
        page.wait_for_selector("[data-testid=symbol-switcher] button[aria-pressed=true]:has-text('SPX')")
        page.wait_for_selector("[data-testid=series-chart] canvas")
        page.locator("[data-testid=regime-strip]").scroll_into_view_if_needed()
        shot("6_regime_multi_results_1366x800")
        shot("6_regime_multi_results_full", full_page=True)

        assert not page_errors, page_errors
        assert not outside, f"requests left 127.0.0.1: {outside}"
    finally:
        for path in saved:
            print(f"screenshot: {path}")
        context.close()


def test_mapping_step_loads_a_file_detection_cannot_read(live_server, browser, tmp_path):
    """A file with an unknown time column and dd/mm/yyyy dates is refused; the dashboard shows
    its first rows, the user maps the time column and the date format, and it loads."""
    import pandas as pd

    sample = pd.read_csv(SAMPLE)
    odd = sample.rename(columns={"Date": "when", "Volume": "value"})
    odd["when"] = pd.to_datetime(odd["when"]).dt.strftime("%d/%m/%Y")
    path = tmp_path / "exchange_export.csv"
    path.write_text("Exported by a tool\n" + odd.to_csv(index=False))

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        page.goto(live_server + "/", wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
        page.wait_for_selector("text=Drop an OHLCV file here")
        page.set_input_files("[data-testid=file-input]", str(path))
        page.wait_for_selector("[data-testid=upload-error]:has-text('no time column found')")
        mapper = page.locator("[data-testid=column-mapper]")
        mapper.wait_for()
        assert "Exported by a tool" in mapper.locator("[data-testid=mapper-preview]").inner_text()
        assert mapper.get_by_label("Header row").input_value() == "1"
        mapper.get_by_label("Time column").select_option("when")
        mapper.get_by_label("Volume column").select_option("value")
        mapper.get_by_label("Date format").fill("%d/%m/%Y")
        page.screenshot(path=str(tmp_path / "mapping.png"))
        mapper.get_by_role("button", name="Load with this mapping").click()
        page.wait_for_selector("[data-testid=dataset-rows]:has-text('750')")
        report = page.locator("[data-testid=read-report]")
        report.wait_for()
        text = report.inner_text()
        assert "when (named)" in text and "value (turnover)" in text
        assert "1 above the header (skiprows)" in text and "date_format '%d/%m/%Y'" in text
        assert page.locator("[data-testid=column-mapper]").count() == 0
        assert page.locator("[data-testid=dataset-name]").inner_text() == "exchange_export.csv"
        datasets = _get_json(live_server + "/api/datasets")
        assert datasets[0]["read_report"]["columns"]["time"] == "when"
        page.screenshot(path=str(tmp_path / "mapped_dataset.png"), full_page=True)
    finally:
        context.close()
    assert not outside, outside
    assert not page_errors, page_errors


# -- the preflight note and a partial run -----------------------------------------------------

#: On the 750-bar sample, 40 scenarios at fidelity 96 with 6 attempts each end partial (some
#: pass, the others cannot), deterministically.
HARD_FORM = {"#field-n_samples": "40", "#field-max_attempts": "6", "#field-min_fidelity": "96"}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the preflight and partial-run tests, with the sample uploaded."""
    tmp = tmp_path_factory.mktemp("ui-partial")
    with _serve(tmp) as base:
        status, _ = _post_file(f"{base}/api/datasets", SAMPLE)
        assert status == 201
        yield base, tmp / "data"


def _post_json(url: str, body: dict, timeout: float = 60.0) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


@contextlib.contextmanager
def _local_page(browser, problems: list[str]):
    """A page whose requests stay on 127.0.0.1; page errors and outside requests are noted."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    context.set_default_timeout(UI_TIMEOUT_MS)

    def only_local(route):
        if route.request.url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            problems.append(f"outside request: {route.request.url}")
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    try:
        yield page
    finally:
        context.close()


def _fill_hard_form(page, base: str) -> None:
    page.goto(base + "/", wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid=dataset-rows]:has-text('750')")
    page.click("details.advanced > summary")
    for selector, value in HARD_FORM.items():
        page.fill(selector, value)


def test_preflight_note_beside_the_threshold_applies_its_suggestion(shared_server, browser,
                                                                     tmp_path):
    base, _ = shared_server
    problems: list[str] = []
    with _local_page(browser, problems) as page:
        _fill_hard_form(page, base)
        note = "[data-note-for=min_fidelity] [data-testid=preflight-note][data-state=ready]"
        page.wait_for_selector(f"{note}[data-verdict=will_fail]", timeout=JOB_TIMEOUT_MS)
        assert "will most likely fail" in page.inner_text("[data-testid=preflight-warning]")
        # The note shows the server's own estimate of this request.
        ds = _get_json(f"{base}/api/datasets")[0]["id"]
        expected = _post_json(f"{base}/api/preflight", {
            "dataset_id": ds, "n_samples": 40, "max_attempts": 6, "min_fidelity": 96})
        shown = page.inner_text("[data-testid=preflight-acceptance]")
        assert shown == f"{round(100 * expected['acceptance'])} %"
        suggestion = expected["suggested_min_fidelity"]
        button = page.locator("[data-testid=preflight-apply]")
        assert button.inner_text() == f"Use {suggestion:g}"
        page.screenshot(path=str(tmp_path / "preflight_note.png"))
        button.click()
        assert float(page.input_value("#field-min_fidelity")) == suggestion
        page.wait_for_selector(f"{note}:has-text('reach {suggestion:g}')")
        assert page.locator("[data-testid=progress-panel]").count() == 0  # nothing started
    assert not problems, problems


def test_partial_job_results_download_and_resume(shared_server, browser, tmp_path):
    base, data_dir = shared_server
    problems: list[str] = []
    with _local_page(browser, problems) as page:
        _fill_hard_form(page, base)
        page.click("button:has-text('Generate scenarios')")
        page.wait_for_selector("[data-testid=progress-panel][data-status=partial]",
                               timeout=JOB_TIMEOUT_MS)
        banner = page.inner_text("[data-testid=partial-banner]")
        accepted = int(re.search(r"Partial result: (\d+) of 40 scenarios", banner)[1])
        assert 0 < accepted < 40
        first = page.inner_text(".job-title .mono")
        # The accepted scenarios are results: charts, series and downloads.
        page.wait_for_selector("[data-testid=fan-chart] canvas")
        page.wait_for_selector("[data-testid=series-chart] canvas")
        assert "(partial)" in page.inner_text("[data-testid=kpi-accepted]").lower()
        assert page.locator("[data-testid=scenario-select] option").count() == accepted
        assert "will most likely fail" in page.inner_text("[data-testid=job-warning]")
        page.screenshot(path=str(tmp_path / "partial_results.png"), full_page=True)
        with page.expect_download() as info:
            page.click("[data-testid=downloads] a[data-artifact='csv.zip']")
        info.value.save_as(str(tmp_path / "partial.zip"))
        with zipfile.ZipFile(tmp_path / "partial.zip") as z:
            assert len(z.namelist()) == accepted
        with page.expect_download() as info:
            page.click("[data-testid=downloads] a[data-artifact='manifest.json']")
        info.value.save_as(str(tmp_path / "manifest.json"))
        text = (tmp_path / "manifest.json").read_text()
        assert json.loads(text)["status"] == "partial"
        assert str(data_dir) not in text and os.path.realpath(data_dir) not in text
        # One click reruns at the threshold where every scenario passes, reusing these.
        rerun = page.locator("[data-testid=partial-rerun]")
        threshold = float(re.search(r"Rerun at ([\d.]+),", rerun.inner_text())[1])
        rerun.click()
        page.wait_for_function(
            "id => document.querySelector('.job-title .mono')?.textContent !== id", arg=first)
        page.wait_for_selector("[data-testid=progress-panel][data-status=succeeded]",
                               timeout=JOB_TIMEOUT_MS)
        assert page.inner_text("[data-testid=progress-accepted]").replace(" ", "") == "40/40"
        reused = int(page.inner_text("[data-testid=progress-resumed]"))
        assert 0 < reused <= accepted
        page.wait_for_selector("[data-testid=fan-chart] canvas")
        page.screenshot(path=str(tmp_path / "resumed_results.png"))
        second = page.inner_text(".job-title .mono")
        job = _get_json(f"{base}/api/jobs/{second}")
        assert job["request"]["resume_from"] == first
        assert job["request"]["min_fidelity"] == threshold < 96
    assert not problems, problems


def _wait_job(base: str, job_id: str, timeout: float = JOB_TIMEOUT_MS / 1000) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = _get_json(f"{base}/api/jobs/{job_id}")
        if job["status"] in ("succeeded", "partial", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {timeout:.0f} s")
        time.sleep(0.5)


def test_scenarios_of_a_large_job_are_listed_a_page_at_a_time(shared_server, browser, tmp_path):
    """A job with more scenarios than a page: the picker lists one page (``?page_size=20``),
    pages forward and by score, and opens a scenario of a later page."""
    base, _ = shared_server
    ds = _get_json(f"{base}/api/datasets")[0]["id"]
    job = _post_json(f"{base}/api/jobs", {"dataset_id": ds, "n_samples": 150, "length": 200,
                                          "min_fidelity": 50, "seed": 3,
                                          "formats": ["parquet"]})
    assert _wait_job(base, job["id"])["status"] == "succeeded"
    best = _get_json(f"{base}/api/jobs/{job['id']}/results?limit=0")["score_summary"]
    problems: list[str] = []
    with _local_page(browser, problems) as page:
        page.goto(base + "/?page_size=20", wait_until="domcontentloaded")
        page.click(f"[data-testid=jobs-list] button:has-text('{job['id']}')")
        page.wait_for_selector("[data-testid=scenario-range]:has-text('1–20 of 150')")
        assert "150" in page.inner_text("[data-testid=kpi-accepted]")
        options = page.locator("[data-testid=scenario-select] option")
        assert options.count() <= 21  # a page, and the scenario shown when on another page
        for shown in ("21–40", "41–60", "61–80"):
            page.click("[data-testid=scenario-next]")
            page.wait_for_selector(f"[data-testid=scenario-range]:has-text('{shown} of 150')")
        assert page.locator("[data-testid=scenario-select] option[value='73']").count() == 1
        with page.expect_response(lambda r: "/series/73?" in r.url) as answer:
            page.select_option("[data-testid=scenario-select]", "73")
        assert answer.value.status == 200
        page.wait_for_selector("[data-testid=series-chart] canvas")
        assert page.input_value("[data-testid=scenario-select]") == "73"
        page.screenshot(path=str(tmp_path / "scenario_pages.png"))
        page.select_option("[data-testid=scenario-sort]", "-score")
        page.wait_for_selector("[data-testid=scenario-range]:has-text('1–20 of 150')")
        first_best = f"#{best['best_scenario']} · score {best['max']:.1f}"
        first = page.locator("[data-testid=scenario-select] option:not([disabled])").first
        page.wait_for_function(
            "want => [...document.querySelectorAll('[data-testid=scenario-select] option')]"
            ".find(o => !o.disabled)?.textContent === want", arg=first_best)
        assert first.inner_text() == first_best
        assert options.count() <= 21
    assert not problems, problems
