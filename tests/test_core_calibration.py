"""The statistics of walk-forward calibration (pipeline.core.calibration)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.core.calibration import (
    LEVELS,
    QUANTILES,
    STATISTICS,
    crps_ensemble,
    origin_rows,
    path_statistics,
    randomized_pit,
    summarize,
    var_threshold,
)


def _bars(closes, start):
    """Bars whose open is the previous close, high 1 % above the body and low 2 % below."""
    c = np.asarray(closes, dtype=float)
    o = np.concatenate([[start], c[:-1]])
    h = np.maximum(o, c) * 1.01
    lo = np.minimum(o, c) * 0.98
    return np.stack([o, h, lo, c], axis=-1)[None]


def test_path_statistics_by_hand():
    start = 100.0
    closes = [110.0, 99.0, 104.5]
    stats = path_statistics(_bars(closes, start), start, var_limit=-0.05)
    r = np.diff(np.log([start, *closes]))
    assert stats["return"][0] == pytest.approx(math.log(1.045))
    assert stats["volatility"][0] == pytest.approx(math.sqrt(np.mean(r * r)))
    assert stats["max_drawdown"][0] == pytest.approx(1 - 99 / 110)
    assert stats["var_exceedances"][0] == 1  # the 10 % fall only
    assert stats["path_high"][0] == pytest.approx(math.log(110 * 1.01 / 100))
    assert stats["path_low"][0] == pytest.approx(math.log(99 * 0.98 / 100))


def test_drawdown_counts_the_start_as_a_peak():
    stats = path_statistics(_bars([95.0, 97.0], 100.0), 100.0, var_limit=-1.0)
    assert stats["max_drawdown"][0] == pytest.approx(0.05)
    rising = path_statistics(_bars([101.0, 102.0], 100.0), 100.0, var_limit=-1.0)
    assert rising["max_drawdown"][0] == 0.0


def test_path_statistics_refuses_bad_shapes():
    with pytest.raises(ValueError, match="paths, bars"):
        path_statistics(np.ones((3, 4)), 1.0, -0.1)
    with pytest.raises(ValueError, match="start price"):
        path_statistics(np.ones((1, 3, 4)), 0.0, -0.1)


def test_var_threshold_is_the_lower_quantile():
    r = np.linspace(-0.05, 0.05, 1001)
    assert var_threshold(r, 0.01) == pytest.approx(-0.049, abs=1e-9)
    with pytest.raises(ValueError):
        var_threshold(np.array([np.nan]))


def test_pit_places_the_realized_value_among_ties():
    x = np.array([0.0, 1.0, 1.0, 1.0, 2.0])
    assert randomized_pit(x, 1.0, 0.0) == pytest.approx(1 / 6)
    assert randomized_pit(x, 1.0, 0.999999) == pytest.approx(5 / 6, abs=1e-5)
    assert randomized_pit(x, -1.0, 0.5) == pytest.approx(0.5 / 6)
    assert randomized_pit(x, 3.0, 0.5) == pytest.approx(5.5 / 6)


def test_crps_matches_the_normal_closed_form():
    # CRPS of N(0, 1) at y: y (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi).
    from scipy.stats import norm

    x = norm.ppf((np.arange(20_000) + 0.5) / 20_000)
    for y in (0.0, 0.7, -2.5):
        exact = y * (2 * norm.cdf(y) - 1) + 2 * norm.pdf(y) - 1 / math.sqrt(math.pi)
        assert crps_ensemble(x, y) == pytest.approx(exact, abs=2e-4)
    assert crps_ensemble(np.array([3.0]), 1.0) == pytest.approx(2.0)  # a point: |error|


def _table(draw_realized, n_origins=400, n_scen=300, seed=1):
    """A calibration table of forecasts N(0, 1) and realized values from ``draw_realized``."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_origins):
        scen = rng.standard_normal(n_scen)
        paths = {s: scen for s in STATISTICS}
        y = float(draw_realized(rng))
        for row in origin_rows(paths, {s: y for s in STATISTICS}, rng):
            rows.append({"method": "m", "origin": 1000 + 21 * t, **row})
    return pd.DataFrame(rows)


def test_calibrated_forecasts_are_called_calibrated():
    summary = summarize(_table(lambda rng: rng.standard_normal()), horizon=21)
    row = summary.get("m", "volatility")
    assert row.n == 400
    assert row.verdict == "calibrated", row.sentence
    assert row.uniformity_p > 0.01
    for cov in row.coverage:
        assert cov.verdict == "ok"
        assert cov.band[0] <= cov.level <= cov.band[1]
    assert sum(row.histogram) == 400
    assert not summary.overlapping


def test_narrow_wide_and_biased_forecasts_are_told_apart():
    narrow = summarize(_table(lambda rng: 2.0 * rng.standard_normal()), 21).get("m", "return")
    assert narrow.verdict == "too narrow"
    assert narrow.at(0.9).share < narrow.at(0.9).band[0]
    assert "too narrow" in narrow.sentence
    assert "90% band for the 21-bar return held" in narrow.sentence
    wide = summarize(_table(lambda rng: 0.4 * rng.standard_normal()), 21).get("m", "return")
    assert wide.verdict == "too wide"
    high = summarize(_table(lambda rng: 0.3 + rng.standard_normal()), 21).get("m", "return")
    assert high.bias == "scenarios too low" and high.mean_pit > 0.5
    assert high.uniformity_p < 0.01


def test_discrete_statistics_give_uniform_pits():
    # Poisson counts against a Poisson forecast: ties everywhere, uniform after randomization.
    rng = np.random.default_rng(3)
    rows = []
    for t in range(500):
        scen = rng.poisson(0.2, 500).astype(float)
        paths = {s: scen for s in STATISTICS}
        y = float(rng.poisson(0.2))
        for row in origin_rows(paths, {s: y for s in STATISTICS}, rng):
            rows.append({"method": "m", "origin": 21 * t, **row})
    row = summarize(pd.DataFrame(rows), 21).get("m", "var_exceedances")
    assert row.uniformity_p > 0.01
    assert row.verdict == "calibrated", row.sentence


def test_rows_carry_quantiles_and_summary_frames():
    table = _table(lambda rng: rng.standard_normal(), n_origins=30)
    assert {f"q{q:g}" for q in QUANTILES} <= set(table.columns)
    assert (table["q0.025"] <= table["q0.975"]).all()
    summary = summarize(table, 21)
    frame = summary.frame()
    assert list(frame["statistic"]) == list(STATISTICS)
    assert {f"cover{lv:g}" for lv in LEVELS} <= set(frame.columns)
    assert len(summary.coverage_frame()) == len(STATISTICS) * len(LEVELS)
    data = summary.as_dict()
    assert data["rows"][0]["coverage"][0]["level"] == LEVELS[0]


def test_few_origins_and_overlap_are_said():
    table = _table(lambda rng: rng.standard_normal(), n_origins=5)
    table["origin"] = table["origin"] // 21 * 5  # origins 5 bars apart, horizon 21
    summary = summarize(table, 21)
    assert summary.overlapping
    row = summary.get("m", "return")
    assert row.verdict == "too few origins" and math.isnan(row.uniformity_p)
    with pytest.raises(ValueError, match="lacks"):
        summarize(table.drop(columns="pit"), 21)
    with pytest.raises(KeyError):
        summary.get("other", "return")


def test_a_width_verdict_cites_the_interval_that_gave_it():
    # Calibrated at 50/80/90 % but the realized value leaves the 95 % band far too often: the
    # verdict is "too narrow", and its sentence must cite the 95 % band, not the 90 % one that
    # holds.
    rng = np.random.default_rng(3)
    n = 400
    pit = rng.uniform(0.05, 0.95, n)
    pit[: n // 8] = rng.choice([0.001, 0.999], n // 8)
    table = pd.DataFrame({"method": "m", "origin": np.arange(n) * 21, "statistic": "volatility",
                          "pit": pit, "crps": 0.1})
    row = summarize(table, 21).get("m", "volatility")
    assert row.at(0.9).verdict == "ok" and row.at(0.95).verdict == "too narrow"
    assert row.verdict == "too narrow"
    assert "95% band" in row.sentence and "too narrow" in row.sentence
