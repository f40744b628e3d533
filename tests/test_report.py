"""The HTML fidelity report: content, definitions of its measures, CLI and pipeline hook."""

from __future__ import annotations

import ast
import base64
import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import load_ohlcv, load_sample, run_pipeline
from pipeline.cli import main
from pipeline.core.metrics import compute_metrics, compute_metrics_batch
from pipeline.core.timeframes import aggregate_frame
from pipeline.errors import FidelityNotReachedError, InputDataError
from pipeline.evaluation import (
    DISTINGUISHABLE,
    NON_STATIONARY,
    NOT_DISTINGUISHABLE,
    classifier_two_sample_test,
    predictive_score,
    verbatim_share,
)
from pipeline.report import REPORT, build_report, write_report
from pipeline.report.data import reload_input

REPO = Path(__file__).resolve().parent.parent
SAMPLE = str(REPO / "data" / "sample_ohlcv.csv")
SECTIONS = ("run", "paths", "returns", "dependence", "metrics", "scores", "diversity",
            "indistinguishability")


def _config(out: Path, report: bool) -> dict:
    return {
        "input": {"path": SAMPLE},
        "generation": {"n_samples": 8, "min_fidelity": 80, "seed": 1},
        "scoring": {"n_replicates": 64},
        "cluster": {"n_workers": 1, "processes": False},
        "output": {"path": str(out), "formats": ["csv", "parquet"]},
        "cache": {"path": None},
        "report": report,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One small run with ``report: true``: the pipeline writes report.html itself."""
    out = tmp_path_factory.mktemp("report") / "run"
    return run_pipeline(_config(out, report=True))


@pytest.fixture(scope="module")
def original() -> pd.DataFrame:
    return load_ohlcv(SAMPLE)


def _report_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">\s*(.*?)\s*</script>',
                  text, re.S)
    assert m, "the report embeds its numbers as JSON"
    return json.loads(m.group(1))


def _finite_numbers(obj) -> list[float]:
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _finite_numbers(x)]
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        return []
    return [float(obj)]


# -- the pipeline hook and the report's content -----------------------------------------------


def test_report_shows_the_block_choice_the_preflight_and_a_partial_run(tmp_path):
    cfg = _config(tmp_path / "partial", report=True)
    cfg["generation"].update(n_samples=12, min_fidelity=95.0, max_attempts=3)
    with pytest.raises(FidelityNotReachedError) as info:
        run_pipeline(cfg, progress=lambda p: None)
    assert 0 < info.value.accepted < 12
    text = (tmp_path / "partial" / REPORT).read_text()
    manifest = json.loads((tmp_path / "partial" / "manifest.json").read_text())
    header = {r[0]: r[1] for r in _cells(text, "run-table")}
    choice = manifest["model"]["block_choice"]
    assert "(partial)" in header["run id"]
    assert header["block size"].startswith(f"{choice['block_size']} (auto; dependence length "
                                           f"{choice['reference']} bars)")
    for b, median in zip(choice["grid"], choice["median_fidelity"], strict=True):
        assert f"{median:.1f} at {b} bars" in header["block length pilot"]
    assert header["why this block size"] == html.escape(choice["reason"])
    assert manifest["preflight"]["verdict"] in header["preflight"]
    assert html.escape(manifest["preflight"]["message"]) in header["preflight"]
    assert html.escape(str(info.value)) in header["partial run"]
    data = _report_data(text)["run"]
    assert data["status"] == "partial" and data["block_choice"] == choice
    assert data["partial"]["suggested_min_fidelity"] == info.value.suggested_min_fidelity


def test_run_with_report_true_writes_report_html(run):
    path = Path(run.output_path) / REPORT
    assert path.is_file()
    assert REPORT in run.files
    assert path.read_text().startswith("<!DOCTYPE html>")


def test_report_is_one_self_contained_html_file(run):
    text = (Path(run.output_path) / REPORT).read_text()
    # Nothing fetched from anywhere: no external src/href, stylesheet link or CSS url().
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<link" not in text.lower() and "url(" not in text.lower()
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(images) == 5
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for section in SECTIONS:
        assert f'<section id="{section}">' in text
    assert "<style>" in text


def test_report_header_and_metric_table(run, original):
    text = build_report(run.output_path, original=original)
    assert run.run_id in text
    assert "sample_ohlcv.csv" in text and "750 rows" in text
    assert "stationary" in text
    assert "8 accepted of 8 requested" in text
    table = re.search(r'<table id="metric-table">(.*?)</table>', text, re.S).group(1)
    for name in run.scores.columns.drop(["scenario", "attempt", "score"]):
        assert f">{name}<" in table


def test_diversity_and_indistinguishability_numbers_are_in_range(run):
    data = _report_data((Path(run.output_path) / REPORT).read_text())
    div, ind = data["diversity"], data["indistinguishability"]
    assert all(math.isfinite(v) for v in _finite_numbers(data))
    assert div["n_series"] == 8
    for key in ("terminal_log_return", "max_drawdown"):
        row = div[key]
        assert row["std"] > 0 and row["p5"] <= row["median"] <= row["p95"]
        assert row["range_5_95"] == pytest.approx(row["p95"] - row["p5"])
    assert -1 <= div["mean_pairwise_corr"] <= div["max_pairwise_corr"] <= 1
    vs = div["verbatim_share"]
    assert 0 <= vs["min"] <= vs["mean"] <= vs["max"] <= 1
    # Stationary blocks of mean b: a bar lies in a block of 20+ bars with probability
    # (1 - p)^19 (1 + 19 p), p = 1/b (the share of the geometric lengths' mass at 20 or more).
    block = json.loads((Path(run.output_path) / "manifest.json").read_text())["model"][
        "block_size"]
    p = 1 / block
    assert vs["mean"] == pytest.approx((1 - p) ** 19 * (1 + 19 * p), abs=0.15)
    t = ind["two_sample"]
    assert set(t["classifiers"]) == {"gbm", "rocket"} and t["n_folds"] == 5
    for c, v in t["classifiers"].items():
        for stat in ("balanced_accuracy", "auc"):
            s = v[stat]
            assert 0 <= min(s["folds"]) and max(s["folds"]) <= 1
            assert s["mean"] == pytest.approx(np.mean(s["folds"]))
            assert s["lo"] <= s["mean"] <= s["hi"]
        cal = t["calibration"][c]["auc"]
        assert 5 <= len(cal["folds"]) <= 10  # two cuts of five time folds (some may be empty)
        assert v["floor"][0] < cal["mean"] < v["floor"][1]
        assert set(v["importance"]) == set(t["channels"])
    # A stationary bootstrap of the S&P 500 sample: within the real-vs-real floor.
    assert t["verdict"] == NOT_DISTINGUISHABLE
    assert t["top_feature"] in t["channels"]
    p = ind["predictive"]
    assert p["tstr_mae"] > 0 and p["trtr_mae"] > 0 and p["constant_mae"] > 0
    assert p["tstr_mae"] < 1.5 * p["trtr_mae"]


def test_max_series_limits_series_read(run, original):
    text = build_report(run.output_path, original=original, max_series=3)
    assert _report_data(text)["diversity"]["n_series"] == 3
    assert "3 read for plots and tests" in text


# -- the verbatim share -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def returns(original) -> np.ndarray:
    return np.diff(np.log(original["Close"].to_numpy()))


def test_verbatim_share_of_a_copy_is_one(returns):
    assert verbatim_share(returns, returns) == 1.0
    # Prices rebuilt from the returns and differenced again differ from them by rounding only.
    rebuilt = np.diff(np.log(1922.03 * np.exp(np.cumsum(np.r_[0.0, returns]))))
    assert not np.array_equal(rebuilt, returns)
    assert verbatim_share(returns, rebuilt) == 1.0


def test_verbatim_share_of_shuffled_returns_is_near_zero(returns):
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(returns) for _ in range(5)])
    share = verbatim_share(returns, shuffled)
    assert share.shape == (5,)
    assert np.all(share < 0.03)


def test_verbatim_share_of_a_known_mix(returns):
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, 100)  # values the original does not have
    y = np.concatenate([returns[100:130],  # 30 copied: counts
                        noise[:50],
                        returns[400:410],  # 10 copied: shorter than 20, does not count
                        noise[50:],
                        returns[0:25]])  # 25 copied: counts
    assert verbatim_share(returns, y) == pytest.approx((30 + 25) / len(y))
    # Wrapping from the original's end to its start is not a consecutive stretch.
    wrapped = np.concatenate([returns[-12:], returns[:12]])
    assert verbatim_share(returns, wrapped) == 0.0
    assert verbatim_share(returns, wrapped, min_run=12) == 1.0
    assert verbatim_share(returns, returns[:10]) == 0.0  # shorter than min_run


# -- the indistinguishability tests -----------------------------------------------------------


def _gaussian_random_walk(frame: pd.DataFrame, seed: int, n_series: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    r = np.diff(np.log(frame["Close"].to_numpy()))
    out = []
    for _ in range(n_series):
        close = frame["Close"].iloc[0] * np.exp(np.cumsum(rng.normal(r.mean(), r.std(), len(r))))
        open_ = np.r_[frame["Close"].iloc[0], close[:-1]]
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, r.std() / 2, len(r))))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, r.std() / 2, len(r))))
        volume = np.exp(rng.normal(np.log(frame["Volume"]).mean(), 0.2, len(r)))
        out.append(np.c_[open_, high, low, close, volume])
    return out


def test_two_sample_test_of_real_against_itself_is_not_distinguishable(original):
    # Copies of the original are traced to the rows they copy: each fold's synthetic test
    # windows are the real test windows themselves, so no classifier can rank them apart.
    res = classifier_two_sample_test(original, [original] * 5, attribution=False)
    assert res.verdict == NOT_DISTINGUISHABLE
    for scores in res.scores.values():
        assert np.allclose(scores.auc, 0.5, atol=1e-3)  # ties broken by rounding only
        assert np.allclose(scores.balanced_accuracy, 0.5, atol=1e-3)


def test_two_sample_test_rejects_a_gaussian_random_walk(original):
    res = classifier_two_sample_test(original, _gaussian_random_walk(original, 0, 5),
                                     attribution=False)
    assert res.verdict == "distinguishable"
    for c, scores in res.scores.items():
        assert res.verdicts[c] == "distinguishable"
        assert scores.interval()[1] > res.floors[c][1]  # its whole interval above the floor
    assert res.channels == ("log_return", "log_range", "log_body", "dlog_volume")


def test_predictive_score_real_against_itself_matches_trtr(original):
    res = predictive_score(original, [original])
    assert res.tstr_mae == pytest.approx(res.trtr_mae, rel=0.05)
    assert res.n_test > 50


# -- errors and the command line --------------------------------------------------------------


def test_directory_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(InputDataError, match=r"no manifest\.json.*output directory") as exc:
        write_report(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_cli_report_writes_and_prints_the_path(run, capsys):
    assert main(["report", run.output_path, "--out", "cli.html", "--max-series", "4"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(Path(run.output_path) / "cli.html")
    assert "4 read for plots and tests" in Path(printed).read_text()


def test_cli_report_on_a_bad_directory_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "manifest.json" in err and "\n" not in err


def _pipeline_imports(path: Path) -> set[str]:
    """The ``pipeline.*`` modules a source file imports (any depth, lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.startswith("pipeline.")}


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_report_does_not_import_the_runner():
    # The runner writes the report at the end of a run: the report must not depend on it,
    # directly or through any module it imports (the top-level package's re-exports aside).
    seen: set[str] = set()
    todo = [f"pipeline.report.{p.stem}" for p in (REPO / "pipeline" / "report").glob("*.py")]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo.extend(_pipeline_imports(path))
    assert {"pipeline.report.data", "pipeline.run_input", "pipeline.evaluation"} <= seen
    assert not [n for n in seen if n.startswith(("pipeline.runner", "pipeline.api",
                                                  "pipeline.cli"))]


# -- single series: the sections of a plain run stay as they were -----------------------------


def test_single_series_report_has_only_its_sections(run):
    text = (Path(run.output_path) / REPORT).read_text()
    assert re.findall(r'<section id="([^"]+)"', text) == list(SECTIONS)
    assert "<nav" not in text and "<details" not in text and "conditioned" not in text
    assert set(_report_data(text)) == {"run", "diversity", "indistinguishability"}
    head = re.search(r'<table id="metric-table"><thead>(.*?)</thead>', text).group(1)
    assert re.findall(r"<th[^>]*>([^<]*)</th>", head) == [
        "metric", "original", "synthetic min", "synthetic median", "synthetic max", "weight",
        "spread", "median |Δ| / spread"]


# -- multi-asset, regime and timeframe runs ---------------------------------------------------

SYMBOLS = ("MIX", "NDX", "SPX")
ASSET_SECTIONS = ("paths", "returns", "dependence", "metrics", "diversity", "indistinguishability")


def _small_config(out: Path, inp: dict, generation: dict) -> dict:
    return {
        "input": inp,
        "generation": {"n_samples": 8, "min_fidelity": 60, "seed": 2, **generation},
        "scoring": {"n_replicates": 32},
        "cluster": {"n_workers": 1, "processes": False},
        "output": {"path": str(out), "formats": ["parquet"]},
        "cache": {"path": None},
        "report": True,
    }


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    """Three assets of 750 daily bars (S&P 500, NASDAQ and their geometric mean), regime
    method, weekly bars too; the pipeline writes the report with ``original={symbol: frame}``."""
    tmp = tmp_path_factory.mktemp("multi")
    spx = load_ohlcv(SAMPLE)
    ndx = load_sample("nasdaq").tail(len(spx))
    assert ndx.index.equals(spx.index)
    # The bar-wise geometric mean of two valid OHLCV frames is a valid one, correlated with both.
    mix = np.sqrt(spx * ndx.to_numpy())
    ndx.to_csv(tmp / "ndx.csv")
    mix.to_csv(tmp / "mix.csv")
    inp = {"assets": {"SPX": SAMPLE, "NDX": str(tmp / "ndx.csv"), "MIX": str(tmp / "mix.csv")}}
    return run_pipeline(_small_config(tmp / "run", inp, {"method": "regime",
                                                         "timeframes": ["W"]}))


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    """One series, regime method conditioned on high volatility, weekly bars too."""
    out = tmp_path_factory.mktemp("cond") / "run"
    gen = {"method": "regime", "regime": {"condition": "high_volatility", "share": 0.6},
           "timeframes": ["W"]}
    return run_pipeline(_small_config(out, {"path": SAMPLE}, gen))


def _manifest(result) -> dict:
    return json.loads((Path(result.output_path) / "manifest.json").read_text())


def _text(result) -> str:
    return (Path(result.output_path) / REPORT).read_text()


def _cells(text: str, table_id: str) -> list[list[str]]:
    """The body rows of a table of the report, as the text of their cells."""
    m = re.search(rf'<table id="{re.escape(table_id)}"[^>]*>.*?<tbody>(.*?)</tbody>', text, re.S)
    assert m, f"table {table_id} is in the report"
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", m.group(1))]


def _section(text: str, section_id: str) -> str:
    start = text.index(f'<section id="{section_id}"')
    return text[start:text.index("</section>", start)]


def _images(html_text: str) -> list[bytes]:
    out = []
    for src in re.findall(r'<img [^>]*src="([^"]+)"', html_text):
        assert src.startswith("data:image/png;base64,")
        out.append(base64.b64decode(src.split(",", 1)[1]))
        assert out[-1][:8] == b"\x89PNG\r\n\x1a\n"
    return out


def test_multi_asset_report_has_cross_asset_and_per_asset_sections(multi_run):
    assert REPORT in multi_run.files
    text = _text(multi_run)
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids[:6] == ["run", "assets", "cross-asset", "scores", "timeframes", "regimes"]
    assert ids[6:] == [i for s in SYMBOLS for i in
                       [f"asset-{s}"] + [f"{name}-{s}" for name in ASSET_SECTIONS]]
    assert len(ids) == len(set(ids))  # ids are unique in the page
    # 2 cross-asset, 1 scores, 1 timeframes, 3 regimes, and 4 plots for each asset.
    assert len(_images(text)) == 2 + 1 + 1 + 3 + 4 * len(SYMBOLS)
    assert len(_images(_section(text, "cross-asset"))) == 2
    assert "3: MIX, NDX, SPX" in text
    for s in SYMBOLS:
        assert f'<a href="#asset-{s}">' in text
    data = _report_data(text)
    assert set(data) == {"run", "assets", "cross_asset", "regimes", "timeframes"}
    assert set(data["assets"]) == set(SYMBOLS)
    for s in SYMBOLS:
        assert data["assets"][s]["diversity"]["n_series"] == 8
        ind = data["assets"][s]["indistinguishability"]
        assert "error" not in ind, ind.get("error")
        assert ind["two_sample"]["verdict"] in (DISTINGUISHABLE, NOT_DISTINGUISHABLE, NON_STATIONARY)


def test_correlation_matrices_are_those_of_the_manifest(multi_run):
    text, man = _text(multi_run), _manifest(multi_run)
    ref = man["reference_metrics"]
    metrics = pd.DataFrame([e["metrics"] for e in man["scenarios"]])
    table = {(r[0], r[1]): r for r in _cells(text, "cross-asset-table")}
    assert len(table) == 6  # 3 pairs, returns and absolute returns
    for kind, label in (("corr", "returns"), ("abs_corr", "absolute returns")):
        orig = _cells(text, f"{kind}-original")
        med = _cells(text, f"{kind}-median")
        diff = _cells(text, f"{kind}-difference")
        assert [r[0] for r in orig] == list(SYMBOLS)
        for i, a in enumerate(SYMBOLS):
            assert orig[i][1 + i] == med[i][1 + i] == "1.000"
            assert diff[i][1 + i] == "–"
            for j, b in enumerate(SYMBOLS):
                if j <= i:
                    continue
                key = f"{kind}:{a}|{b}"
                o, m = ref[key], float(np.median(metrics[key]))
                # Symmetric matrices holding the run's own reference and scenario values.
                for ii, jj in ((i, j), (j, i)):
                    assert orig[ii][1 + jj] == f"{o:.3f}"
                    assert med[ii][1 + jj] == f"{m:.3f}"
                    assert float(diff[ii][1 + jj]) == pytest.approx(m - o, abs=6e-4)
                row = table[(f"{a} – {b}", label)]
                assert row[2] == f"{o:.3f}" and row[4] == f"{m:.3f}"
                assert row[8] == f"{man['model']['spreads'][key]:.4f}"
    # The blend sits between its parents: the matrix is not a copy of one number.
    assert ref["corr:MIX|NDX"] > ref["corr:NDX|SPX"]


def test_each_asset_is_compared_with_its_own_original(multi_run):
    text, man = _text(multi_run), _manifest(multi_run)
    ref = man["reference_metrics"]
    data = _report_data(text)
    frames = reload_input(man)
    seen = set()
    for s in SYMBOLS:
        rows = {r[0]: r for r in _cells(text, f"metric-table-{s}")}
        assert len(rows) == 18 and "corr:MIX|NDX" not in rows
        vals = [e["metrics"][f"{s}:kurtosis"] for e in man["scenarios"]]
        assert rows["kurtosis"][1] == format(ref[f"{s}:kurtosis"], ".4g")
        assert rows["kurtosis"][3] == format(float(np.median(vals)), ".4g")
        assert rows["volatility"][5] == format(man["model"]["weights"][f"{s}:volatility"], "g")
        seen.add(rows["volatility"][1])
        div = data["assets"][s]["diversity"]
        assert div["max_drawdown"]["original"] == pytest.approx(ref[f"{s}:max_drawdown"])
        close = frames[s]["Close"]
        assert div["terminal_log_return"]["original"] == pytest.approx(
            math.log(close.iloc[-1] / close.iloc[0]))
        assert data["assets"][s]["overview"]["volatility"]["original"] == pytest.approx(
            ref[f"{s}:volatility"])
    assert len(seen) == 3  # three different originals


def test_multi_asset_original_must_be_a_mapping(multi_run, run, original):
    with pytest.raises(InputDataError, match=r"several assets \(MIX, NDX, SPX\).*mapping"):
        build_report(multi_run.output_path, original=original)
    with pytest.raises(InputDataError, match=r"no frame for the run's asset\(s\) \['NDX'"):
        build_report(multi_run.output_path, original={"MIX": original, "SPX": original})
    with pytest.raises(InputDataError, match="one series"):
        build_report(run.output_path, original={"SPX": original})
    # Without original=, a multi-asset run's input reloads as {symbol: frame}, hash-checked.
    frames = reload_input(_manifest(multi_run))
    assert list(frames) == list(SYMBOLS)
    assert frames["SPX"].equals(original)


def test_regime_section_of_a_conditioned_run(cond_run, original):
    text, man = _text(cond_run), _manifest(cond_run)
    reg = man["model"]["regimes"]
    assert man["model"]["reference"] == "conditioned"
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids == ["run", "paths", "returns", "dependence", "metrics", "scores", "timeframes",
                   "regimes", "diversity", "indistinguishability"]
    section = _section(text, "regimes")
    assert len(_images(section)) == 3
    assert "Reference: conditioned." in section and "not against the original" in section
    assert "condition=high_volatility, share=0.6" in section
    header = {r[0]: r[1] for r in _cells(text, "run-table")}
    assert header["fidelity reference"].startswith("conditioned")
    for key, tid in (("fitted_transition", "transition-fitted"), ("transition", "transition-used")):
        assert [r[1:] for r in _cells(section, tid)] == [[f"{v:.4f}" for v in row]
                                                          for row in reg[key]]
    assert reg["transition"] != reg["fitted_transition"]
    rows = _cells(section, "regime-table")
    assert len(rows) == reg["n_regimes"] == 2
    shares = np.array([[sum(b for g, b in e["regimes"] if g == r) / man["model"]["length"]
                        for r in range(2)] for e in man["scenarios"]])
    for r in range(2):
        assert rows[r][3] == f"{reg['input_shares'][r]:.3f}"
        assert rows[r][6].startswith(f"{np.median(shares[:, r]):.3f} [")
        assert rows[r][1] == f"{reg['volatility'][r]:.5f}"
    assert float(rows[1][5]) == pytest.approx(0.6, abs=1e-3)  # the share asked for
    # The metric table shows the original (recomputed here) and the conditioned reference.
    metric = {r[0]: r for r in _cells(text, "metric-table")}
    mine = compute_metrics(original)
    assert metric["volatility"][1] == format(mine["volatility"], ".4g")
    assert metric["volatility"][2] == format(man["reference_metrics"]["volatility"], ".4g")
    assert metric["volatility"][1] != metric["volatility"][2]
    data = _report_data(text)
    assert data["diversity"]["max_drawdown"]["original"] == pytest.approx(mine["max_drawdown"])
    assert data["regimes"]["conditioned"] is True


def test_regime_section_of_an_unconditioned_multi_asset_run(multi_run):
    text, man = _text(multi_run), _manifest(multi_run)
    section = _section(text, "regimes")
    assert man["model"]["reference"] == "original"
    assert "Reference: the original." in section and "conditioned" not in _section(text, "run")
    assert "labelled on the first asset (MIX)" in section
    assert "used − fitted" not in section and len(_images(section)) == 3


@pytest.mark.parametrize("which", ["cond_run", "multi_run"])
def test_timeframe_section_sets_each_timeframe_next_to_the_base(which, request, original):
    result = request.getfixturevalue(which)
    text, man = _text(result), _manifest(result)
    section = _section(text, "timeframes")
    assert len(_images(section)) == 1
    rows = {r[0]: r for r in _cells(section, "timeframe-table")}
    assert list(rows) == ["base", "W"]
    base = np.array([e["score"] for e in man["scenarios"]])
    weekly = np.array([e["timeframes"]["W"]["score"] for e in man["scenarios"]])
    for label, s in (("base", base), ("W", weekly)):
        assert rows[label][3:6] == [f"{s.min():.2f}", f"{np.median(s):.2f}", f"{s.max():.2f}"]
    assert rows["W"][1] == str(man["model"]["timeframes"]["W"]["bars"])
    metrics = {r[0]: r for r in _cells(section, "timeframe-metrics-W")}
    # The original aggregated to weekly bars, recomputed here.
    name = "SPX:volatility" if which == "multi_run" else "volatility"
    weekly = aggregate_frame(original, "W")  # 157 bars: below compute_metrics' minimum
    weekly_original = compute_metrics_batch(weekly.to_numpy()[None])["volatility"][0]
    assert metrics[name][1] == format(weekly_original, ".4g")
    med = np.median([e["timeframes"]["W"]["metrics"][name] for e in man["scenarios"]])
    assert metrics[name][3] == format(float(med), ".4g")
    if which == "multi_run":
        assert "corr:MIX|NDX" in metrics


def test_two_sample_test_runs_on_iid_resampled_series():
    """iid resampling copies single bars: they must not pin windows to held-out history (which
    left no usable windows at all), and the classifier must tell such series apart."""
    from pipeline.factory import fit_model

    sp500 = load_sample("sp500")
    iid = fit_model(sp500, method="iid", n_replicates=20).generate(3, range(10), [0] * 10)
    result = classifier_two_sample_test(sp500, list(iid), seed=1, classifiers=("gbm",),
                                        attribution=False)
    assert result.n_test >= 100
    assert result.verdict == "distinguishable"  # no volatility clustering: windows give it away
