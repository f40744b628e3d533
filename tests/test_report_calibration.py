"""The calibration page of a walk forward (pipeline.report.calibration).

The table is built with the core functions a calibration run uses (path_statistics on OHLC
paths, origin_rows, summarize): a method whose scenarios come from the process that made the
realized path, and one whose scenarios are far too calm.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.core.calibration import (
    HISTOGRAM_BINS,
    STATISTICS,
    origin_rows,
    path_statistics,
    statistic_label,
    summarize,
    var_threshold,
)
from pipeline.errors import ConfigError
from pipeline.report import (
    calibration_context,
    pit_figure,
    render_calibration,
    save_pit_png,
    write_calibration_report,
)
from pipeline.report.calibration import pit_band

HORIZON = 10
ORIGINS = 60
SCENARIOS = 200
SIGMA = 0.01
CALIBRATED, NARROW = "calibrated-method", "narrow-method"
HOSTILE = "<script>alert('x')</script> & $x$"
REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _paths(rng: np.random.Generator, n: int, sigma: float, start: float) -> np.ndarray:
    """``n`` OHLC paths of HORIZON bars of a driftless random walk of the log close."""
    log_close = math.log(start) + np.cumsum(sigma * rng.standard_normal((n, HORIZON)), axis=1)
    close = np.exp(log_close)
    open_ = np.concatenate([np.full((n, 1), start), close[:, :-1]], axis=1)
    wick = np.exp(0.3 * sigma * np.abs(rng.standard_normal((n, HORIZON, 2))))
    high = np.maximum(open_, close) * wick[..., 0]
    low = np.minimum(open_, close) / wick[..., 1]
    return np.stack([open_, high, low, close], axis=-1)


def _table(origins: int = ORIGINS, step: int = HORIZON, seed: int = 7,
           names: tuple[str, str] = (CALIBRATED, NARROW)) -> pd.DataFrame:
    """Rows of a walk forward: at each origin both methods forecast the same realized path."""
    rng = np.random.default_rng(seed)
    var_limit = var_threshold(SIGMA * rng.standard_normal(2000))
    rows = []
    start = 100.0
    for k in range(origins):
        origin = 250 + step * k
        when = (pd.Timestamp("2020-01-01") + pd.Timedelta(days=origin)).isoformat()
        realized = path_statistics(_paths(rng, 1, SIGMA, start), start, var_limit)
        truth = {s: float(v[0]) for s, v in realized.items()}
        for name, sigma in zip(names, (SIGMA, SIGMA / 2.5), strict=True):
            scen = path_statistics(_paths(rng, SCENARIOS, sigma, start), start, var_limit)
            for row in origin_rows(scen, truth, rng):
                rows.append({"method": name, "origin": origin, "time": when,
                             "fit_bars": origin + 1, "block_size": 5, **row})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table()


@pytest.fixture(scope="module")
def summary(table):
    return summarize(table, HORIZON)


@pytest.fixture(scope="module")
def page(table, summary) -> str:
    return render_calibration(table, summary, title="Calibration of two methods",
                              details={"input": "sample.csv", "origins": ORIGINS,
                                       "horizon": HORIZON, "scenarios": SCENARIOS,
                                       "window": None, "seed": 7})


def _sections(page: str) -> dict[str, str]:
    """Each statistic's section of the page by its heading."""
    out = {}
    for part in page.split('<section id="stat-')[1:]:
        heading = re.search(r"<h2>(.*?)</h2>", part).group(1)
        out[html.unescape(heading)] = part.split("</section>")[0]
    return out


def _cells(section: str) -> dict[str, str]:
    """Each method's cell of a statistic's section by its heading."""
    out = {}
    for part in section.split('<div class="cell">')[1:]:
        method = html.unescape(re.search(r"<h3>(.*?)</h3>", part).group(1))
        out[method] = part
    return out


def test_the_synthetic_methods_are_judged_as_built(summary):
    # The page tests below rely on a calibrated and a too-narrow method.
    assert summary.methods == (CALIBRATED, NARROW)
    assert summary.get(CALIBRATED, "return").verdict == "calibrated"
    for statistic in ("return", "volatility", "path_high"):
        assert summary.get(NARROW, statistic).verdict == "too narrow"
    assert not summary.overlapping


def test_each_statistic_shows_every_method_side_by_side(page, summary):
    sections = _sections(page)
    assert list(sections) == [statistic_label(s, HORIZON) for s in STATISTICS]
    for statistic in STATISTICS:
        cells = _cells(sections[statistic_label(statistic, HORIZON)])
        assert list(cells) == [CALIBRATED, NARROW]
        for method, cell in cells.items():
            row = summary.get(method, statistic)
            assert html.escape(row.sentence) in cell
            assert f'<span class="verdict">{html.escape(row.verdict)}' in cell or \
                f'<span class="verdict"><span class="warn">{html.escape(row.verdict)}' in cell
            assert f"<td>{row.n}</td>" in cell
            assert f"<td>{row.uniformity_p:.2g}</td>" in cell
            assert f"<td>{row.mean_pit:.3f}</td>" in cell
            assert f"<td>{row.crps:.4g}</td>" in cell
            for cov in row.coverage:
                share = f"{100 * cov.share:.1f} %"
                flagged = cov.verdict in ("too narrow", "too wide")
                shown = f'<span class="warn">{share}</span>' if flagged else share
                line = (f'<tr><td class="l">{cov.level:.0%}</td><td>{shown}</td>'
                        f"<td>{cov.hits} / {cov.n}</td>"
                        f"<td>{100 * cov.band[0]:.1f}–{100 * cov.band[1]:.1f} %</td>")
                assert line in cell, (method, statistic, cov)


def test_too_narrow_cells_are_flagged(page, summary):
    cell = _cells(_sections(page)[statistic_label("return", HORIZON)])[NARROW]
    narrow = summary.get(NARROW, "return")
    missed = [c for c in narrow.coverage if c.verdict == "too narrow"]
    assert missed
    assert cell.count('<span class="warn">too narrow</span>') == len(missed) + 1  # + verdict
    good = _cells(_sections(page)[statistic_label("return", HORIZON)])[CALIBRATED]
    assert 'class="warn"' not in good


def test_overview_settings_and_reading_guide(page, summary, table):
    assert "<title>Calibration of two methods</title>" in page
    for label, value in (("input", "sample.csv"), ("origins", ORIGINS), ("window", "–"),
                         ("seed", 7)):
        assert f'<tr><td class="l">{label}</td><td>{value}</td></tr>' in page
    methods = page.split('id="method-table"')[1].split("</table>")[0]
    for method in summary.methods:
        crps = summary.get(method, "return").crps
        assert f'<td class="l">{method}</td><td>{ORIGINS}</td><td>{crps:.4g}</td>' in methods
    guide = page.split('id="how-to-read"')[1].split("</section>")[0]
    cells = len(summary.rows) * 4
    assert f"This page tests {cells} coverage cells" in guide
    assert "only\n<i>consistent</i> with calibration" in guide
    assert "one in twenty" in guide and "Here no two origins' horizons overlap." in guide
    first = table["time"].min()[:10]
    assert f"of {ORIGINS} origins, from {first} to" in page


def test_overlapping_origins_are_warned_about():
    table = _table(origins=15, step=HORIZON // 2, names=("a", "b"))
    summary = summarize(table, HORIZON)
    assert summary.overlapping
    guide = render_calibration(table, summary).split('id="how-to-read"')[1]
    assert "origins are closer together than the horizon of 10 bars" in guide
    assert "uniformity\np-values are too small" in guide


def test_figures_are_inline_svg_with_unique_ids(page, summary, table):
    histograms = re.findall(r'<figure class="pit"><svg class="fig" role="img" ', page)
    assert len(histograms) == len(summary.methods) * len(STATISTICS)
    assert page.count("<svg") == len(histograms) + 1  # and the fan
    for method in summary.methods:
        for statistic in STATISTICS:
            title = f"PIT histogram of {method}: {statistic_label(statistic, HORIZON)}"
            assert f"<title>{html.escape(title)}</title>" in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "inlined drawings must not repeat an id"
    # Every reference inside a drawing points into the page, never outside it.
    for ref in re.findall(r'\bhref="([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page):
        assert ref.startswith("#") and ref[1:] in ids, ref
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|https?://(?!www\.w3\.org)",
                         page)
    # The narrow method's PITs pile up in the outer bins, drawn red; the fan says how often
    # its realized returns left the 5-95 % band.
    narrow = _cells(_sections(page)[statistic_label("return", HORIZON)])[NARROW]
    assert "fill: #d62728" in narrow
    rows = table[(table["method"] == NARROW) & (table["statistic"] == "return")]
    out = ((rows["realized"] < rows["q0.05"]) | (rows["realized"] > rows["q0.95"])).mean()
    assert f"{NARROW}: {HORIZON}-bar log return at {ORIGINS} origins ({out:.0%} outside" in page


def test_context_without_quantiles_leaves_the_fan_out(table, summary):
    bare = table.drop(columns=[c for c in table.columns if c.startswith("q")])
    context = calibration_context(bare, summary, {"seed": 1})
    assert context["fan"] is None
    assert [s["name"] for s in context["sections"]] == list(STATISTICS)
    assert context["details"] == [("seed", "1")]
    assert 'id="fan"' not in render_calibration(bare, summary)
    with pytest.raises(ValueError, match="not in the table"):
        calibration_context(table[table["method"] == NARROW], summary)
    with pytest.raises(ValueError, match="lacks column"):
        calibration_context(table.drop(columns="statistic"), summary)


def test_user_text_is_escaped_everywhere(table):
    hostile = table.assign(method=table["method"].replace({NARROW: HOSTILE}))
    summary = summarize(hostile, HORIZON)
    page = render_calibration(hostile, summary, title=HOSTILE,
                              details={HOSTILE: HOSTILE, "sources": [HOSTILE, "b"]})
    # The only script element is the page's own JSON data, and nothing closes it early.
    assert page.count("<script") == 1 and page.count("</script") == 1
    data = page.split('<script type="application/json" id="calibration-data">')[1]
    data = json.loads(data.split("</script>")[0])
    assert data["summary"]["methods"] == [CALIBRATED, HOSTILE]
    assert data["summary"]["rows"][-1]["sentence"] == summary.rows[-1].sentence
    escaped = html.escape(HOSTILE)
    assert f"<title>{escaped}</title>" in page and f"<h1>{escaped}</h1>" in page
    assert f'<tr><td class="l">{escaped}</td><td>{escaped}</td></tr>' in page
    assert f"<h3>{escaped}</h3>" in page
    # Drawn in the fan's titles as plain text (mathtext off: "$x$" stays), escaped in the SVG.
    texts = [html.unescape(t) for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", page)]
    assert f"{HOSTILE}: {HORIZON}-bar log return at {ORIGINS} origins" in " ".join(texts)


def test_writes_are_byte_identical_and_atomic(tmp_path, table, summary, page):
    first = write_calibration_report(table, summary, tmp_path / "a.html",
                                     title="Calibration of two methods",
                                     details={"input": "sample.csv", "origins": ORIGINS,
                                              "horizon": HORIZON, "scenarios": SCENARIOS,
                                              "window": None, "seed": 7})
    second = write_calibration_report(table, summary, str(tmp_path / "new" / "b.html"),
                                      title="Calibration of two methods",
                                      details={"input": "sample.csv", "origins": ORIGINS,
                                               "horizon": HORIZON, "scenarios": SCENARIOS,
                                               "window": None, "seed": 7})
    assert first == str(tmp_path / "a.html") and second == str(tmp_path / "new" / "b.html")
    assert Path(first).read_bytes() == Path(second).read_bytes() == page.encode("utf-8")
    assert sorted(os.listdir(tmp_path)) == ["a.html", "new"]  # no temporary left behind


def test_another_process_writes_the_same_bytes(tmp_path, table, summary, page):
    # Nothing of the process leaks into the page: no hash seed, figure counter or random salt.
    script = ("import sys\n"
              "from tests.test_report_calibration import HORIZON, _table\n"
              "from pipeline.core.calibration import summarize\n"
              "from pipeline.report import write_calibration_report\n"
              "table = _table()\n"
              "write_calibration_report(table, summarize(table, HORIZON), sys.argv[1],\n"
              "    title='Calibration of two methods', details={'input': 'sample.csv',\n"
              "    'origins': 60, 'horizon': 10, 'scenarios': 200, 'window': None, 'seed': 7})\n")
    out = tmp_path / "other.html"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLBACKEND": "svg"}
    subprocess.run([sys.executable, "-c", script, str(out)], cwd=REPO, env=env, check=True,
                   timeout=300)
    assert out.read_bytes() == page.encode("utf-8")


def test_unwritable_locations_fail_clearly_and_leave_nothing(tmp_path, table, summary):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="is not writable.*calibration.html"):
        write_calibration_report(table, summary, blocker / "calibration.html")
    taken = tmp_path / "taken.html"
    taken.mkdir()
    with pytest.raises(ConfigError, match="is not writable"):
        write_calibration_report(table, summary, taken)
    assert sorted(os.listdir(tmp_path)) == ["file", "taken.html"]
    assert blocker.read_text() == "not a directory" and not os.listdir(taken)
    with pytest.raises(ValueError, match="path of a file"):
        write_calibration_report(table, summary, str(tmp_path) + "/")


def test_s3_write_and_missing_bucket(s3_server, s3_bucket, table, summary):
    import fsspec

    url = f"{s3_bucket}/runs/one/calibration.html"
    written = write_calibration_report(table, summary, url,
                                       storage_options=s3_server.storage_options)
    assert written == url
    with fsspec.open(url, "rb", **s3_server.storage_options) as f:
        assert f.read() == render_calibration(table, summary).encode("utf-8")
    with pytest.raises(ConfigError, match="is not writable"):
        write_calibration_report(table, summary, "s3://no-such-bucket-here/calibration.html",
                                 storage_options=s3_server.storage_options)


def test_pit_figure_and_png(tmp_path, summary):
    fig = pit_figure(summary)
    assert len(fig.axes) == len(STATISTICS) * len(summary.methods)
    part = pit_figure(summary, statistics=["return", "var_exceedances"], methods=[NARROW])
    axes = part.axes
    assert len(axes) == 2
    row = summary.get(NARROW, "return")
    heights = [p.get_height() for p in axes[0].patches if p.get_width() == 1 / HISTOGRAM_BINS]
    assert heights == list(row.histogram)
    lo, hi = pit_band(row.n)
    assert lo < row.n / HISTOGRAM_BINS < hi
    # The band's ends are the 2.5 % and 97.5 % quantiles of Binomial(n, 1/10), by summing.
    cdf = np.cumsum([math.comb(row.n, k) * 0.1 ** k * 0.9 ** (row.n - k)
                     for k in range(row.n + 1)])
    assert (lo, hi) == (np.argmax(cdf >= 0.025), np.argmax(cdf >= 0.975))
    with pytest.raises(ValueError, match="unknown or no statistics"):
        pit_figure(summary, statistics=["sharpe"])
    with pytest.raises(ValueError, match="unknown or no methods"):
        pit_figure(summary, methods=["garch"])

    path = save_pit_png(summary, tmp_path / "pit.png", statistics=["return"], dpi=80)
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.verify()
    w, h = pit_figure(summary, statistics=["return"]).get_size_inches() * 80
    assert Image.open(io.BytesIO(data)).size == (round(w), round(h))
    again = save_pit_png(summary, tmp_path / "again.png", statistics=["return"], dpi=80)
    assert Path(again).read_bytes() == data


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="Chromium is not installed")
def test_page_renders_offline_in_a_browser(tmp_path, table, summary):
    sync_api = pytest.importorskip("playwright.sync_api")
    path = write_calibration_report(table, summary, tmp_path / "calibration.html")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(Path(path).as_uri())
            boxes = page.eval_on_selector_all(
                "figure.pit svg", "els => els.map(e => e.getBoundingClientRect().width)")
            fan = page.eval_on_selector("figure.fan svg",
                                        "e => e.getBoundingClientRect().height")
            bars = page.eval_on_selector_all("figure.pit svg path", "els => els.length")
        finally:
            browser.close()
    assert requests == [Path(path).as_uri()]
    assert len(boxes) == len(summary.methods) * len(STATISTICS)
    assert all(w > 200 for w in boxes) and fan > 200
    assert bars > len(boxes) * HISTOGRAM_BINS
