"""The HTML fidelity report: content, definitions of its measures, CLI and pipeline hook."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import load_ohlcv, run_pipeline
from pipeline.cli import main
from pipeline.errors import InputDataError
from pipeline.report import (
    REPORT,
    build_report,
    classifier_two_sample_test,
    predictive_score,
    verbatim_share,
    write_report,
)

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
    # Stationary bootstrap with mean block 27 copies most bars in stretches of >= 20.
    assert vs["mean"] > 0.5
    t = ind["two_sample"]
    assert 0 <= t["accuracy"] <= 1 and 0 <= t["auc"] <= 1
    assert t["discriminative_score"] == pytest.approx(abs(t["accuracy"] - 0.5))
    assert t["discriminative_score"] < 0.2  # resampled real bars are hard to tell apart
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


def test_discriminative_score_of_real_against_itself_is_near_zero(original):
    res = classifier_two_sample_test(original, [original])
    assert res.discriminative_score < 0.1
    assert 0.35 < res.auc < 0.65


def test_discriminative_score_of_a_gaussian_random_walk_is_large(original):
    res = classifier_two_sample_test(original, _gaussian_random_walk(original, 0, 4))
    assert res.discriminative_score > 0.3
    assert res.auc > 0.8
    assert res.n_features == 5 * 24


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
