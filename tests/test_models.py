"""GARCH-filtered, regime-conditioned, multi-asset and multi-timeframe generation, on real data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import pipeline.core.fit as fit_module
from benchmarks.reference import make_intraday
from pipeline import SyntheticDataFactory, load_sample
from pipeline.core.garch import fit_garch, simulate_garch
from pipeline.core.regimes import (
    condition_transition,
    label_regimes,
    run_lengths,
    sample_regime_indices,
    stationary_distribution,
)
from pipeline.core.sampler import batch_size_for, search_attempts
from pipeline.core.timeframes import aggregate, aggregate_frame, make_timeframe
from pipeline.errors import ConfigError, InputDataError, SMEWarning
from pipeline.factory import fit_model
from pipeline.io.assets import align_assets, load_assets


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    return load_sample("sp500")


@pytest.fixture(scope="module")
def nasdaq() -> pd.DataFrame:
    return load_sample("nasdaq")


@pytest.fixture(scope="module")
def returns(sp500) -> np.ndarray:
    return np.diff(np.log(sp500["Close"].to_numpy()))


# --------------------------------------------------------------------------------------- GARCH


@pytest.mark.parametrize("vol", ["garch", "gjr", "egarch"])
def test_garch_recursion_replays_the_fitted_volatility(returns, vol):
    """Fed the input's own residuals in order, the recursion must give back arch's volatility
    path and the input's returns: the simulation is the fitted model, not an approximation."""
    fit = fit_garch(returns, vol)
    idx = np.arange(returns.size)[None]
    sim_returns, sigma = simulate_garch(fit, idx)
    assert_allclose(sigma[0], fit.sigma, rtol=1e-8)
    assert_allclose(sim_returns[0], returns, rtol=1e-8, atol=1e-12)


def test_garch_parameters_are_arch_s(returns):
    fit = fit_garch(returns, "egarch", "skewt")
    res = arch_model(returns * 100, vol="EGARCH", p=1, o=1, q=1, dist="skewstudent",
                     rescale=False).fit(disp="off")
    assert_allclose([fit.mu, fit.omega, fit.alpha, fit.gamma, fit.beta],
                    res.params[["mu", "omega", "alpha[1]", "gamma[1]", "beta[1]"]], rtol=1e-6)
    assert fit.params["lambda"] == pytest.approx(res.params["lambda"], rel=1e-6)
    gjr = fit_garch(returns, "gjr")
    assert gjr.gamma > 0.1 and 0.98 < gjr.persistence < 1.0


def test_a_fit_that_explodes_under_the_input_s_residuals_is_refused(returns):
    # On the S&P 500 sample GJR with Student-t errors puts all asymmetry into gamma; the
    # residuals' negative half carries 0.6 of their variance, so the recursion they drive
    # would not be stationary.
    with pytest.raises(InputDataError, match=r"not stationary under the input's own residuals "
                       r"\(persistence 1\.00"):
        fit_garch(returns, "gjr", "t")


def test_garch_scenarios_keep_persistence_and_reach_deeper_drawdowns(sp500):
    """New volatility paths: volatility persistence within a sampling spread of the original's
    (as close as the volatility-matched block bootstrap), and the drawdown tail goes where
    reshuffled history does not."""
    n = 192
    # Default replicates: the block-length pilot (which sizes itself on them) must run as a
    # user's would.
    plain_model = fit_model(sp500)
    plain = plain_model.evaluate(5, range(n), [0] * n)
    garch = fit_model(sp500, method="garch").evaluate(5, range(n), [0] * n)
    scorer = plain_model.scorer
    i = scorer.names.index("vol_persistence")
    ref, spread = scorer.reference[i], scorer.spread[i]
    assert abs(np.median(garch.metrics["vol_persistence"]) - ref) < spread
    assert abs(np.median(plain.metrics["vol_persistence"]) - ref) < spread
    # Volatility-matched joins keep crash eras together, so the plain bootstrap's drawdown tail
    # is deep too (95th percentile 0.79 on this sample); GARCH's new paths still go deeper.
    q_plain = np.quantile(plain.metrics["max_drawdown"], 0.95)
    q_garch = np.quantile(garch.metrics["max_drawdown"], 0.95)
    assert q_garch > q_plain


def test_garch_volatility_paths_are_new_not_reshuffled(sp500):
    model = fit_model(sp500, method="garch", n_replicates=32)
    fit = model.parts[0].garch
    idx = np.random.default_rng(0).integers(0, fit.sigma.size, (4, 2000))
    _, sigma = simulate_garch(fit, idx)
    # The matched bars' own volatility explains little of the new path's: it is driven by the
    # order the shocks arrive in.
    ratio = np.log(sigma[:, 50:] / fit.sigma[idx[:, 50:]])
    assert ratio.std() > 0.3


def test_garch_is_fitted_once_per_model(sp500, monkeypatch):
    calls = []
    real = fit_module.fit_garch

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "fit_garch", counting)
    factory = SyntheticDataFactory(sp500, method="garch", seed=1)
    series = factory.generate(6, min_fidelity=70)
    assert len(series) == 6 and len(calls) == 1


def test_garch_bad_options_and_failed_fits_are_clear(sp500, returns, monkeypatch):
    with pytest.raises(ConfigError, match="garch.vol"):
        fit_garch(returns, "figarch")
    with pytest.raises(ConfigError, match="garch.dist"):
        fit_garch(returns, "garch", "cauchy")
    with pytest.raises(ConfigError, match=r"generation.garch: unknown key"):
        fit_model(sp500, method="garch", garch={"p": 2})
    with pytest.raises(InputDataError, match="varying returns"):
        fit_garch(np.zeros(500))

    class Broken:
        def fit(self, **_):
            raise ValueError("optimizer exploded")

    monkeypatch.setattr("arch.arch_model", lambda *a, **k: Broken())
    with pytest.raises(InputDataError, match="GARCH fit .* failed: optimizer exploded"):
        fit_garch(returns)


# ------------------------------------------------------------------------------------- regimes


@pytest.mark.parametrize("labelling", ["markov", "quantile"])
def test_regimes_are_ordered_calm_to_volatile(returns, labelling):
    regimes = label_regimes(returns, labelling, 2)
    assert regimes.labels.shape == returns.shape
    assert regimes.volatility[0] < regimes.volatility[1]
    assert_allclose(regimes.transition.sum(axis=1), 1.0)
    assert np.all(np.diag(regimes.transition) > 0.8)  # regimes persist
    if labelling == "quantile":
        assert_allclose(regimes.shares, [0.5, 0.5], atol=0.01)


def test_conditioning_sets_share_and_stay(returns):
    p = label_regimes(returns, "markov", 2).transition
    q = condition_transition(p, "high_volatility", share=0.8)
    assert_allclose(stationary_distribution(q)[1], 0.8, rtol=1e-9)
    # The crisis regime's mean stay is kept; the calm regime's is shortened to get the share.
    assert_allclose(1 / (1 - q[1, 1]), 1 / (1 - p[1, 1]), rtol=1e-9)
    longer = condition_transition(p, "high_volatility", duration_factor=3.0)
    assert_allclose(1 / (1 - longer[1, 1]), 3 / (1 - p[1, 1]), rtol=1e-9)
    assert_allclose(longer[0], p[0])
    calm = condition_transition(p, "low_volatility", share=0.9)
    assert_allclose(stationary_distribution(calm)[0], 0.9, rtol=1e-9)
    for bad in ({"share": 1.5}, {"duration_factor": 0}):
        with pytest.raises(ConfigError):
            condition_transition(p, "high_volatility", **bad)
    with pytest.raises(ConfigError, match="condition"):
        condition_transition(p, "sideways")


def test_regime_blocks_come_only_from_their_regime(returns):
    regimes = label_regimes(returns, "quantile", 3)
    rngs = [np.random.default_rng([i, 1]) for i in range(64)]
    idx, path = sample_regime_indices(regimes.labels, regimes.transition, 3000, 40, rngs)
    assert idx.shape == path.shape == (64, 3000)
    assert_array_equal(regimes.labels[idx], path)
    shares = np.bincount(path.ravel(), minlength=3) / path.size
    assert_allclose(shares, stationary_distribution(regimes.transition), atol=0.05)
    runs = run_lengths(path[0])
    assert sum(n for _, n in runs) == 3000
    assert all(a[0] != b[0] for a, b in zip(runs, runs[1:], strict=False))


def test_conditioned_scenarios_have_the_asked_for_character(sp500):
    n = 96
    base = fit_model(sp500, method="regime", n_replicates=32)
    stress = fit_model(sp500, method="regime", n_replicates=32,
                       regime={"condition": "high_volatility", "share": 0.8})
    calm = fit_model(sp500, method="regime", n_replicates=32,
                     regime={"condition": "low_volatility", "share": 0.9})
    b, s, c = (m.evaluate(2, range(n), [0] * n) for m in (base, stress, calm))
    vol = {k: np.median(x.metrics["volatility"]) for k, x in (("b", b), ("s", s), ("c", c))}
    assert vol["s"] > 1.25 * vol["b"] and vol["c"] < 0.8 * vol["b"]
    assert np.median(s.metrics["max_drawdown"]) > np.median(b.metrics["max_drawdown"]) + 0.1
    assert_allclose(np.mean(s.regimes == 1), 0.8, atol=0.05)
    # Scored against the conditioned world, stress scenarios are typical of it.
    assert stress.reference == "conditioned" and np.median(s.scores) > 85
    longer = fit_model(sp500, method="regime", n_replicates=32,
                       regime={"condition": "high_volatility", "duration_factor": 3.0})
    stays = [n for path in longer.evaluate(4, range(32), [0] * 32).regimes
             for r, n in run_lengths(path)[1:-1] if r == 1]
    fitted_stay = 1 / (1 - base.transition[1, 1])
    assert np.mean(stays) > 2.2 * fitted_stay


def test_regime_options_are_checked(sp500):
    with pytest.raises(ConfigError, match="needs method: regime"):
        fit_model(sp500, regime={"condition": "high_volatility"})
    with pytest.raises(ConfigError, match="need a condition"):
        fit_model(sp500, method="regime", regime={"share": 0.5})
    with pytest.raises(ConfigError, match="n_regimes"):
        fit_model(sp500, method="regime", regime={"n_regimes": 7})


# --------------------------------------------------------------------------------- multi-asset


def test_spx_ndx_correlation_is_kept(sp500, nasdaq):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SMEWarning)
        factory = SyntheticDataFactory({"SPX": sp500, "NDX": nasdaq}, seed=7)
    series = factory.generate(24, min_fidelity=90)
    assert set(series[0]) == {"SPX", "NDX"}
    ref = factory.reference_metrics["corr:NDX|SPX"]
    assert 0.85 < ref < 0.92
    gaps = np.abs(series.metrics["corr:NDX|SPX"] - ref)
    # In units of the correlation's sampling spread (about 0.023 for 5,031 bars): every accepted
    # scenario within 1.5 spreads, the typical one within half a spread.
    spread = factory.model.scorer.spread[factory.model.scorer.names.index("corr:NDX|SPX")]
    assert 0.015 < spread < 0.03
    assert np.median(gaps) < 0.5 * spread and gaps.max() < 1.5 * spread
    abs_gaps = np.abs(series.metrics["abs_corr:NDX|SPX"] - factory.reference_metrics[
        "abs_corr:NDX|SPX"])
    assert np.median(abs_gaps) < 0.04
    # Shared indices: each asset is exactly its own reconstruction; the pair moves together.
    spx, ndx = series[0]["SPX"], series[0]["NDX"]
    assert spx.index.equals(ndx.index)
    r1 = np.diff(np.log(spx["Close"].to_numpy()))
    r2 = np.diff(np.log(ndx["Close"].to_numpy()))
    assert np.corrcoef(r1, r2)[0, 1] == pytest.approx(series.metrics["corr:NDX|SPX"][0])
    assert factory.score(series[0]) == pytest.approx(series.scores[0])


def test_independent_assets_score_below_joint_ones(sp500, nasdaq):
    """Correlation counts in the score: shuffling one asset's scenario against the other's
    breaks the pair and must cost fidelity."""
    factory = SyntheticDataFactory({"SPX": sp500, "NDX": nasdaq}, seed=3)
    series = factory.generate(4, min_fidelity=85)
    joint = factory.score(series[0])
    mixed = factory.score({"SPX": series[0]["SPX"], "NDX": series[1]["NDX"]})
    assert joint - mixed > 5


def _csv(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path)
    return str(path)


def test_long_wide_and_separate_files_load_the_same(tmp_path, sp500, nasdaq):
    spx, ndx = sp500.iloc[:600], nasdaq.iloc[10:700]  # NDX starts later and ends later
    separate = load_assets(assets={"SPX": _csv(spx, tmp_path / "spx.csv"),
                                   "NDX": _csv(ndx, tmp_path / "ndx.csv")})
    long = pd.concat([spx.assign(ticker="SPX"), ndx.assign(ticker="NDX")]).reset_index()
    long_path = tmp_path / "long.csv"
    long.sample(frac=1, random_state=0).to_csv(long_path, index=False)  # any row order
    with pytest.warns(SMEWarning, match="590 common timestamps; rows dropped: NDX 100, SPX 10"):
        from_long = load_assets(str(long_path), layout="long", symbol_column="Ticker")
    wide = pd.concat({"SPX": spx, "NDX": ndx}, axis=1, join="outer")
    wide.columns = [f"{sym}_{field}" for sym, field in wide.columns]
    wide_path = tmp_path / "wide.csv"
    wide.to_csv(wide_path)
    # The outer join leaves empty cells where an asset has no bar: repair drops those rows.
    from_wide = load_assets(str(wide_path), layout="wide", repair=True)
    for loaded in (from_long, from_wide):
        assert list(loaded) == ["NDX", "SPX"]
        for sym in ("SPX", "NDX"):
            assert_allclose(loaded[sym].to_numpy(), separate[sym].to_numpy(), rtol=1e-12)
            assert loaded[sym].index.equals(separate[sym].index)
    assert separate["SPX"].attrs["alignment"] == {"NDX": {"rows": 690, "dropped": 100},
                                                  "SPX": {"rows": 600, "dropped": 10}}


@pytest.mark.parametrize(
    ("table", "options", "message"),
    [
        (pd.DataFrame({"Date": ["2020-01-01"], "Close": [1.0]}), {"layout": "long"},
         "no symbol column"),
        (pd.DataFrame({"Date": ["2020-01-01"], "Close": [1.0]}), {"layout": "wide"},
         "no SYMBOL_Field columns"),
        (pd.DataFrame({"Date": ["2020-01-01"], "SPX_Close": [1.0], "SPX_Open": [1.0]}),
         {"layout": "wide"}, r"SPX has no \['High', 'Low'\]"),
        (pd.DataFrame({"Date": ["2020-01-01"], "symbol": ["a|b"], "Close": [1.0]}),
         {"layout": "long"}, "not usable"),
        (pd.DataFrame({"Date": ["2020-01-01"], "symbol": [None], "Close": [1.0]}),
         {"layout": "long"}, "is empty in data rows"),
    ],
)
def test_malformed_multi_asset_tables_say_what_to_fix(table, options, message):
    with pytest.raises(InputDataError, match=message):
        load_assets(table, **options)


def test_assets_without_common_history_are_rejected(sp500, nasdaq):
    with pytest.raises(InputDataError, match="only 0 timestamps are common"):
        align_assets({"A": sp500.iloc[:1000], "B": nasdaq.iloc[2000:3000]})
    with pytest.raises(ConfigError, match="align them first"):
        fit_model({"A": sp500.iloc[:1000], "B": nasdaq.iloc[1:1001]})
    with pytest.raises(ConfigError, match="start_price"):
        fit_model({"A": sp500, "B": nasdaq}, start_price=10.0)


# ---------------------------------------------------------------------------------- timeframes


def test_aggregation_is_exactly_the_base_bars(sp500):
    intraday = make_intraday(6_000, seed=2)
    intraday = intraday.drop(intraday.index[500:640])  # a gap: buckets need not be full
    tf = make_timeframe(intraday.index, "1h")
    agg = aggregate(intraday.to_numpy()[None], tf)[0]
    keys = intraday.index.floor("1h")
    for j, (label, bars) in enumerate(intraday.groupby(keys, sort=True)):
        assert tf.index[j] == label
        expected = [bars["Open"].iloc[0], bars["High"].max(), bars["Low"].min(),
                    bars["Close"].iloc[-1], sum(bars["Volume"].tolist())]
        assert agg[j].tolist() == expected
    resampled = intraday.resample("1h").agg(
        {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}).dropna()
    assert_array_equal(aggregate_frame(intraday, "1h")[["Open", "High", "Low", "Close"]],
                       resampled[["Open", "High", "Low", "Close"]])
    weekly = aggregate_frame(sp500, "W")
    assert weekly.index[0] <= sp500.index[0] and len(weekly) > 1000


def test_timeframes_are_generated_consistently_and_scored():
    intraday = make_intraday(20_000, seed=1)
    factory = SyntheticDataFactory(intraday, timeframes=["1h", "1D"], seed=4)
    series = factory.generate(3, min_fidelity=50)
    assert list(series.timeframe_scores.columns) == ["1h", "1D"]
    assert ((series.timeframe_scores >= 0) & (series.timeframe_scores <= 100)).all().all()
    hourly = series.timeframe("1h")[0]
    assert len(hourly) == len(make_timeframe(series[0].index, "1h").index)
    assert hourly["High"].iloc[0] == series[0]["High"].iloc[:12].max()
    assert hourly["Volume"].sum() == pytest.approx(series[0]["Volume"].sum(), rel=1e-12)


def test_timeframe_errors_name_the_timeframe():
    intraday = make_intraday(3_000, seed=1)
    with pytest.raises(ConfigError, match="'1D' leaves 11 bars"):
        fit_model(intraday, timeframes=["1D"], n_replicates=20)
    with pytest.raises(ConfigError, match="'1min' is not coarser"):
        fit_model(intraday, timeframes=["1min"], n_replicates=20)
    with pytest.raises(ConfigError, match="not a pandas frequency"):
        fit_model(intraday, timeframes=["fortnight"], n_replicates=20)


# -------------------------------------------------------------------------------- long horizons


def test_long_series_are_searched_in_small_batches_and_streamed():
    frame = load_sample("sample")
    model = fit_model(frame, length=10 * len(frame), n_replicates=20)
    assert len(model.index) == 10 * len(frame) and model.index.is_monotonic_increasing
    assert batch_size_for(1_000_000, 5) == 1 and batch_size_for(5_031, 5) == 16
    seen = []
    result = search_attempts(model, 1, {s: (0, 50) for s in range(3)}, 0.0,
                             on_accept=lambda acc: seen.append(acc.ohlcv.shape))
    assert seen == [(7500, 5)] * 3
    assert all(acc.ohlcv is None for acc in result.accepted)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    symbols=st.one_of(
        st.lists(st.sampled_from(["SPX", "NDX", "DAX"]), min_size=1, max_size=3, unique=True),
        st.lists(st.sampled_from(["SPX", "NDX", "a|b", "", " X ", "DAX"]), min_size=1,
                 max_size=4)),
    rows=st.sampled_from([0, 3, 150, 230, 260]),
    drop=st.one_of(st.just(set()), st.sets(st.sampled_from(
        ["Date", "Open", "High", "Low", "Close", "Volume", "symbol"]), max_size=2)),
    junk=st.one_of(st.none(), st.none(), st.sampled_from(["x", "", "nan", "-1", "1e400"])),
    wide=st.booleans(),
)
def test_any_multi_asset_table_loads_or_says_what_is_wrong(symbols, rows, drop, junk, wide):
    rng = np.random.default_rng(len(symbols) * 1000 + rows)
    parts = []
    for sym in symbols:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
        parts.append(pd.DataFrame({
            "Date": pd.date_range("2020-01-01", periods=rows, freq="D").astype(str),
            "symbol": sym, "Open": close, "High": close * 1.01, "Low": close * 0.99,
            "Close": close, "Volume": 1e6}))
    table = pd.concat(parts, ignore_index=True).drop(columns=sorted(drop)).astype(object)
    if junk is not None and len(table) and len(table.columns) > 1:
        table.iloc[len(table) // 2, 1] = junk
    if wide and "symbol" in table.columns and "Date" in table.columns:
        table = table.pivot_table(index="Date", columns="symbol", aggfunc="first")
        table.columns = [f"{sym}_{field}" for field, sym in table.columns]
        table = table.reset_index()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = load_assets(table, layout="wide" if wide else "long")
    except InputDataError as exc:
        assert str(exc)  # a message, never a bare pandas error
        return
    assert loaded and all(len(f) >= 200 for f in loaded.values())
    first = next(iter(loaded.values())).index
    assert all(f.index.equals(first) for f in loaded.values())
    assert list(loaded) == sorted(loaded)
