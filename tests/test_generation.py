"""Block sizes, index samplers and reconstruction: shapes, invariants and references."""

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import optimal_block_length
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from pipeline.core.blocks import (
    MIN_AUTO_BLOCK,
    PilotResult,
    check_block_size,
    choose_block_size,
    copied_share,
    dependence_block_length,
    pilot_grid,
    politis_white_block_length,
)
from pipeline.core.generators import (
    BOOTSTRAP_METHODS,
    BlockJoins,
    candidate_rng,
    sample_indices,
)
from pipeline.core.preprocessing import output_index, preprocess
from pipeline.core.reconstruction import reconstruct
from pipeline.errors import ConfigError


@pytest.fixture(scope="module")
def sp500():
    import arch.data.sp500

    return arch.data.sp500.load()[["Open", "High", "Low", "Close", "Volume"]].astype(float)


@pytest.fixture(scope="module")
def returns(sp500):
    return np.log(sp500["Close"]).diff().dropna().to_numpy()


@pytest.mark.parametrize("transform", [lambda r: r, lambda r: r**2, np.abs])
def test_politis_white_matches_arch(returns, transform):
    x = transform(returns)
    expected = optimal_block_length(x).to_numpy()[0]
    assert_allclose(politis_white_block_length(x), expected, rtol=1e-10)


def test_politis_white_matches_arch_on_ar1():
    rng = np.random.default_rng(3)
    e = rng.standard_normal(2000)
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, len(e)):
        x[t] = 0.6 * x[t - 1] + e[t]
    assert_allclose(politis_white_block_length(x), optimal_block_length(x).to_numpy()[0],
                    rtol=1e-10)


def test_dependence_length_is_politis_white_on_abs_returns_and_clamps(returns):
    b = dependence_block_length(returns, "stationary")
    raw = optimal_block_length(np.column_stack([returns, np.abs(returns)])).to_numpy()[:, 0]
    upper = int(min(3 * np.sqrt(len(returns)), len(returns) / 10))
    assert b == min(round(raw.max()), upper)
    # |r| carries the volatility dependence that r alone (about 9 bars here) does not.
    assert raw[1] > 5 * raw[0]
    assert dependence_block_length(returns, "iid") == 1
    rng = np.random.default_rng(0)
    assert dependence_block_length(rng.standard_normal(3000), "circular") == MIN_AUTO_BLOCK


def test_dependence_length_ignores_a_few_huge_squares():
    # A volatility-clustered series with three crash days: squared returns lose their
    # dependence to the crashes, absolute returns keep it.
    rng = np.random.default_rng(5)
    n = 2000
    vol = np.exp(np.convolve(rng.standard_normal(n + 99) * 0.35, np.ones(100) / 10, "valid"))
    r = 0.01 * vol * rng.standard_normal(n)
    r[[400, 900, 1500]] = [-0.25, -0.2, 0.22]
    sq = politis_white_block_length(r**2)[0]
    assert dependence_block_length(r) > 3 * sq


@pytest.mark.parametrize("bad", ["big", 0, -3, 1.5, True, 10**9])
def test_check_block_size_rejects_bad_values(returns, bad):
    with pytest.raises(ConfigError, match="block_size"):
        check_block_size(bad, len(returns))


def test_check_block_size_accepts_auto_and_int(returns):
    assert check_block_size("AUTO", len(returns)) is None
    assert check_block_size(12, len(returns)) == 12


def test_pilot_picks_the_shortest_length_within_tolerance_of_the_best():
    medians = {10: 80.0, 20: 90.2, 40: 91.0}
    errors = {10: 0.2, 20: 0.5, 40: 0.1}
    assert pilot_grid(40) == (10, 20, 40)
    choice = choose_block_size(lambda b: PilotResult(np.full(5, medians[b]), errors[b]), 40)
    assert choice.block_size == 20 and choice.mode == "auto"
    assert choice.medians == (80.0, 90.2, 91.0) and len(choice.pilot_scores) == 5
    assert choice.dependence_errors == (0.2, 0.5, 0.1)
    assert "20 is the shortest" in choice.reason
    strict = choose_block_size(lambda b: PilotResult(np.full(5, medians[b]), errors[b]), 40, tolerance=0.5)
    assert strict.block_size == 40
    # A shorter length that tears the volatility clusters apart does not qualify.
    torn = choose_block_size(lambda b: PilotResult(np.full(5, medians[b]), 1.5 if b < 40 else 0.1), 40)
    assert torn.block_size == 40
    # When no length keeps the dependence, the closest one within the tolerance is taken.
    far = {10: 2.5, 20: 1.2, 40: 1.6}
    none = choose_block_size(lambda b: PilotResult(np.full(5, medians[b]), far[b]), 40)
    assert none.block_size == 20 and "no length kept" in none.reason
    # Where copied history is measured (garch), a length that copies too much is passed over.
    copied = {10: 0.0, 20: 0.2, 40: 0.6}
    fresh = choose_block_size(
        lambda b: PilotResult(np.full(5, medians[b]), errors[b], copied[b]), 40)
    assert fresh.block_size == 10 and "copied history 0 % / 20 % / 60 %" in fresh.reason


def test_copied_share_counts_long_verbatim_stretches_only():
    original = np.arange(100, dtype=float) / 1000
    idx = np.r_[np.arange(10, 40), np.arange(60, 70), np.arange(0, 60)][None]
    returns = np.take(original, idx).astype(float)
    returns[0, 75:] += 1e-6  # a filtered stretch that no longer equals its source rows
    # Rows 10..39 (30 bars) and rows 0..34 of the last block (35 bars, then altered) are
    # copies in stretches of 20+; the 10-bar block is too short.
    assert copied_share(returns, original, idx)[0] == pytest.approx(65 / 100)
    assert pilot_grid(12) == (5, 6, 12) and pilot_grid(5) == (5,)


def test_block_joins_match_volatility_and_keep_draws_uniform():
    rng = np.random.default_rng(11)
    n = 4000
    # Two eras: calm then stormy, so the trailing |r| separates them.
    r = rng.standard_normal(n) * np.where(np.arange(n) < n // 2, 0.005, 0.03)
    joins = BlockJoins.from_returns([r])
    assert joins.width == 0.05 and joins.class_size.min() == n
    rngs = [candidate_rng(3, s, 0) for s in range(64)]
    plain = sample_indices("stationary", n, 3000, 20, rngs)
    joined = sample_indices("stationary", n, 3000, 20,
                            [candidate_rng(3, s, 0) for s in range(64)], joins=joins)
    assert plain.shape == joined.shape and joined.min() >= 0 and joined.max() < n

    def era_switches(idx):
        era = idx >= n // 2
        return np.mean(era[:, 1:] != era[:, :-1])

    # Random starts switch era at about half the block joins; matched starts almost never.
    assert era_switches(plain) > 0.02
    assert era_switches(joined) < 0.1 * era_switches(plain)
    # Reflection at the ends keeps every row about equally likely to be drawn.
    counts = np.bincount(joined.ravel(), minlength=n)
    assert counts.max() < 4 * counts.mean()
    for method in ("circular", "moving"):
        idx = sample_indices(method, n, 3000, 25, [candidate_rng(3, s, 0) for s in range(8)],
                             joins=joins)
        assert idx.max() < n and idx.min() >= 0
        assert era_switches(idx) < 0.1 * era_switches(plain)


@pytest.mark.parametrize("method", BOOTSTRAP_METHODS)
def test_sample_indices_shape_range_and_reproducibility(method):
    rngs = [candidate_rng(7, s, 0) for s in range(5)]
    idx = sample_indices(method, 100, 333, 10, rngs)
    assert idx.shape == (5, 333) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < 100
    again = sample_indices(method, 100, 333, 10, [candidate_rng(7, s, 0) for s in range(5)])
    assert_array_equal(idx, again)
    # A candidate does not depend on its batch neighbours.
    alone = sample_indices(method, 100, 333, 10, [candidate_rng(7, 3, 0)])
    assert_array_equal(idx[3], alone[0])


def _runs(row, n_rows, wrap):
    """Lengths of runs of consecutive indices (wrapping when ``wrap``)."""
    step = np.diff(row)
    cont = (step == 1) | (wrap & (step == 1 - n_rows))
    breaks = np.flatnonzero(~cont)
    edges = np.concatenate([[0], breaks + 1, [len(row)]])
    return np.diff(edges)


def test_stationary_blocks_have_geometric_mean_length():
    rngs = [candidate_rng(1, s, 0) for s in range(200)]
    idx = sample_indices("stationary", 100_000, 2000, 20, rngs)
    lengths = np.concatenate([_runs(r, 100_000, True)[:-1] for r in idx])
    # Geometric with p = 1/20; adjacent accidental continuations are negligible at this size.
    assert abs(lengths.mean() - 20) < 1.0


def test_moving_and_circular_blocks_are_fixed_length():
    rngs = [candidate_rng(2, s, 0) for s in range(20)]
    mov = sample_indices("moving", 500, 250, 25, rngs)
    for row in mov:
        for block in row.reshape(10, 25):
            assert_array_equal(np.diff(block), 1)
    assert mov.max() <= 499
    circ = sample_indices("circular", 30, 250, 25, rngs)
    for row in circ:
        for block in row.reshape(10, 25):
            assert_array_equal((block - block[0]) % 30, np.arange(25) % 30)


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="allowed: stationary"):
        sample_indices("garch-ish", 10, 10, 2, [candidate_rng(0, 0, 0)])


def test_preprocess_and_reconstruct_round_trip(sp500):
    comp = preprocess(sp500)
    n = len(sp500)
    idx = np.arange(n - 1)[None]
    out = reconstruct(comp.values, idx, comp.start_price, comp.volume_level)[0]
    # The identity resampling rebuilds bars 1..n-1 of the original.
    assert_allclose(out[:, :4], sp500[["Open", "High", "Low", "Close"]].to_numpy()[1:],
                    rtol=1e-9)
    # Volume comes back detrended around the mean level, correlated with the original's.
    v = sp500["Volume"].to_numpy()[1:]
    assert np.corrcoef(np.log(out[:, 4]), np.log(v))[0, 1] > 0.3


def test_preprocess_without_volume(sp500):
    comp = preprocess(sp500.drop(columns="Volume"))
    assert not comp.has_volume and comp.values.shape == (len(sp500) - 1, 4)
    out = reconstruct(comp.values, np.zeros((2, 10), dtype=np.int64), 100.0)
    assert out.shape == (2, 10, 4)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-4, 0.5),
    start=st.floats(1e-6, 1e9),
)
def test_reconstruction_invariants_hold_exactly(seed, scale, start):
    rng = np.random.default_rng(seed)
    n = 300
    comps = np.column_stack([
        rng.standard_t(3, n) * scale,
        rng.standard_t(3, n) * scale / 4,
        np.abs(rng.standard_normal(n)) * scale / 2,
        np.abs(rng.standard_normal(n)) * scale / 2,
        rng.standard_normal(n),
    ])
    comps[rng.integers(0, n, 20), 2:4] = 0.0  # bars whose high/low sit on the body
    idx = rng.integers(0, n, (4, 2000))
    o, h, lo, c, v = np.moveaxis(reconstruct(comps, idx, start, 10.0), -1, 0)
    assert np.all(lo > 0) and np.all(np.isfinite(h))
    assert np.all(lo <= np.minimum(o, c))
    assert np.all(np.minimum(o, c) <= np.maximum(o, c))
    assert np.all(np.maximum(o, c) <= h)
    assert np.all(v >= 0)


def test_output_index_continues_business_days(sp500):
    idx = output_index(sp500.index, len(sp500) + 10)
    assert len(idx) == len(sp500) + 10 and idx.is_monotonic_increasing and idx.is_unique
    assert (idx[len(sp500):].day_of_week < 5).all()
    assert_array_equal(idx[: len(sp500)], sp500.index)
    assert len(output_index(sp500.index, 300)) == 300


def test_output_index_continues_intraday_frequency():
    base = pd.date_range("2024-01-01 09:30", periods=500, freq="5min")
    idx = output_index(base, 700)
    assert (np.diff(idx)[-200:] == pd.Timedelta(minutes=5)).all()


def test_daily_cycle_is_found_only_where_the_size_of_returns_has_one():
    from pipeline.core.generators import daily_cycle
    from pipeline.factory import fit_model

    rng = np.random.default_rng(4)
    n = 24 * 120
    index = pd.date_range("2024-01-01", periods=n + 1, freq="h")
    hour = index.hour.to_numpy()[1:]
    flat = rng.standard_normal(n) * 0.002
    busy = flat * np.where((hour >= 13) & (hour < 17), 3.0, 1.0)
    slots = daily_cycle(index, busy)
    assert slots is not None and np.array_equal(slots, hour)
    assert daily_cycle(index, flat) is None
    assert daily_cycle(pd.date_range("2024-01-01", periods=n + 1, freq="D"), busy) is None

    def frame(r):
        close = 100 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
        return pd.DataFrame({"Open": close, "High": close * 1.001, "Low": close * 0.999,
                             "Close": close}, index=index)

    # Joins only where they keep something: the cycle here; nothing for memoryless returns.
    assert fit_model(frame(busy), n_replicates=20).joins.phase is not None
    assert fit_model(frame(flat), n_replicates=20).joins is None
