"""The compiled kernels (pipeline.core.kernel) against the NumPy code they replace.

The metrics: ``compute_metrics_batch(engine="compiled")`` against ``engine="numpy"`` (itself
checked against statsmodels, scipy and pandas in ``tests/test_metrics.py``) on random walks, fat
tails, flat stretches, constant prices, zero volume, four-field input and lengths from the
64-bar minimum to 100,000 bars. Both compute the same formulas; only the order of summation
differs (sequential sums against NumPy's pairwise ones, a direct Wilder recurrence against a
blocked one), so they agree to a few ulps times the length of a sum: 1e-9 relative leaves three
orders of magnitude of room at 100,000 bars. Values that are differences of nearly equal sums
(correlations and autocorrelations near 0, skewness near 0) get an absolute 1e-12 besides. The
p-values get 1e-7: ``d log p / d stat`` is about -1/2, so a statistic of ~1,000 (the ARCH LM of
real data) moves its p-value by ~500 times its own relative difference. NaN must be NaN in
exactly the same places.

The series: block joins, stationary block rows and the plain bootstrap's reconstruction must be
the same bits as the Python/NumPy definitions (the joins' loop run by the interpreter,
``np.repeat`` over the blocks, ``reconstruct_reference``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from pipeline.core.generators import BlockJoins, candidate_rng, sample_indices
from pipeline.core.kernel import fill_blocks, join_starts
from pipeline.core.metrics import EXTRA_NAMES, METRIC_NAMES, compute_metrics_batch
from pipeline.core.reconstruction import reconstruct, reconstruct_reference

NAMES = METRIC_NAMES + EXTRA_NAMES
P_VALUES = ("ljung_box_p", "arch_lm_p")


def assert_engines_agree(ohlcv: np.ndarray, *, has_volume: bool = True) -> None:
    compiled = compute_metrics_batch(ohlcv, has_volume=has_volume)
    reference = compute_metrics_batch(ohlcv, has_volume=has_volume, engine="numpy")
    for name in NAMES:
        rtol = 1e-7 if name in P_VALUES else 1e-9
        assert_allclose(compiled[name], reference[name], rtol=rtol, atol=1e-12,
                        equal_nan=True, err_msg=name)


def bars(close: np.ndarray, rng: np.random.Generator, volume: np.ndarray | None = None,
         spread: float = 0.004) -> np.ndarray:
    """OHLCV bars ``(..., length, 5)`` around closes: opens at the previous close, highs and
    lows beyond the body."""
    open_ = np.concatenate([close[..., :1], close[..., :-1]], axis=-1)
    top = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, spread, close.shape)))
    bottom = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, spread, close.shape)))
    if volume is None:
        volume = rng.lognormal(13, 0.5, close.shape)
    return np.stack([open_, top, bottom, close, volume], axis=-1)


def walk(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.01,
         df: float | None = None) -> np.ndarray:
    steps = rng.standard_t(df, shape) if df else rng.normal(0, 1, shape)
    return 100 * np.exp(np.cumsum(scale * steps, axis=-1))


@pytest.mark.parametrize("length", [64, 65, 300, 5031])
def test_random_walks_and_fat_tails(length):
    rng = np.random.default_rng(length)
    batch = np.concatenate([bars(walk(rng, (4, length)), rng),
                            bars(walk(rng, (4, length), df=2.5), rng)])
    assert_engines_agree(batch)
    assert_engines_agree(batch[:, :, :4])  # no volume field
    assert_engines_agree(batch, has_volume=False)


def test_long_series():
    rng = np.random.default_rng(5)
    assert_engines_agree(bars(walk(rng, (1, 100_000), scale=0.0005, df=4), rng))


def test_degenerate_series():
    rng = np.random.default_rng(9)
    length = 600
    stepped = walk(rng, (length,))
    stepped[100:400] = stepped[100]  # flat Hurst chunks and volatility windows
    paused = walk(rng, (length,))
    paused[::3] = paused[1::3][: paused[::3].size]  # a third of the returns are exactly 0
    batch = np.stack([
        bars(np.full(length, 50.0), rng),  # constant prices: NaN where undefined
        bars(100 * 1.001 ** np.arange(length), rng),  # a constant return
        bars(stepped, rng),
        bars(paused, rng),
        bars(100 * np.exp(np.cumsum(np.abs(rng.normal(0, 0.01, length)))), rng),  # no losses
        bars(walk(rng, (length,)), rng, volume=np.zeros(length)),  # zero volume
        bars(walk(rng, (length,)), rng, spread=0.0),  # high = low: no intrabar range
    ])
    with np.errstate(all="raise"):  # the compiled kernel raises nothing either
        out = compute_metrics_batch(batch)
    assert_engines_agree(batch[[0, 2, 3, 4, 5, 6]])
    # A constant return leaves only rounding noise once demeaned: what depends on the noise's
    # pattern (autocorrelations, Hurst, moments) is arbitrary in both engines; the rest agrees.
    reference = compute_metrics_batch(batch[1:2], engine="numpy")
    for name in ("volatility", "max_drawdown", "var_1pct", "es_1pct", "intrabar_range",
                 "volume_volatility_corr", "leverage_effect"):
        assert_allclose(out[name][1], reference[name][0], rtol=1e-9, err_msg=name)
    for name in ("skewness", "kurtosis", "hurst", "tail_index", "rsi_correlation"):
        assert np.isnan(out[name][0]), name
    assert np.isnan(out["volume_volatility_corr"][5])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(64, 2_000),
       scale=st.sampled_from([1e-4, 0.01, 0.2]), df=st.sampled_from([None, 1.5, 3.0]),
       flat=st.floats(0.0, 0.6))
def test_engines_agree_on_random_input(seed, length, scale, df, flat):
    rng = np.random.default_rng(seed)
    close = walk(rng, (3, length), scale=scale, df=df)
    stop = int(flat * length)
    close[1, :stop] = close[1, 0]  # a flat stretch of any length
    assert_engines_agree(bars(close, rng))


def test_unknown_engine():
    with pytest.raises(ValueError, match="engine must be one of compiled, numpy"):
        compute_metrics_batch(np.ones((1, 100, 5)), engine="fortran")


@pytest.fixture(scope="module")
def joins() -> BlockJoins:
    rng = np.random.default_rng(1)
    returns = rng.standard_t(3, 3_000) * 0.01
    return BlockJoins.from_returns([returns])


@pytest.mark.parametrize("last_start", [None, 2_900])
def test_join_starts_match_the_python_loop(joins, last_start):
    rng = np.random.default_rng(2)
    for _ in range(20):
        lengths = rng.geometric(1 / 30, 200)
        draws = rng.random(200)
        cap = 3_000 if last_start is None else last_start
        first = joins.first(draws[0])
        # the same loop run by the interpreter, on Python ints and floats
        by_python = join_starts.py_func(lengths, draws, first, cap, *joins._lists)
        np.testing.assert_array_equal(joins._starts(lengths, draws, last_start), by_python)


def test_stationary_rows_match_the_block_formula(joins):
    n_rows, length = 3_000, 4_000
    rngs = [candidate_rng(3, s, 0) for s in range(6)]
    for join in (None, joins):
        rows = sample_indices("stationary", n_rows, length, 40, rngs, joins=join)
        assert rows.min() >= 0 and rows.max() < n_rows
    rng = np.random.default_rng(4)
    lengths = rng.geometric(1 / 50, 200)
    starts = rng.integers(0, n_rows, 200)
    out = np.empty(length, dtype=np.int64)
    fill_blocks(starts, lengths, n_rows, out)
    # the NumPy formula sample_indices used, on the blocks that fill the series
    n_used = int(np.searchsorted(np.cumsum(lengths), length)) + 1
    lengths, starts = lengths[:n_used], starts[:n_used]
    block_pos = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    used = np.diff(np.concatenate([block_pos, [length]]))
    expected = np.remainder(np.repeat(starts - block_pos, used) + np.arange(length), n_rows)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("fields", [4, 5])
def test_reconstruction_is_bit_identical(fields):
    rng = np.random.default_rng(fields)
    n_rows = 2_000
    components = np.column_stack([
        rng.standard_t(3, n_rows) * 0.02,  # log returns
        rng.normal(0, 0.003, n_rows),  # gaps
        np.abs(rng.normal(0, 0.005, n_rows)),  # high excess
        np.abs(rng.normal(0, 0.005, n_rows)),  # low excess
        rng.normal(0, 0.5, n_rows),  # detrended log volume
    ])[:, :fields]
    components[:5, 0] = [800.0, 800.0, -1600.0, -800.0, 0.0]  # over- and underflowing closes
    indices = rng.integers(0, n_rows, (7, 3_000))
    indices[0, :5] = np.arange(5)
    for start in (1234.5, rng.uniform(10, 1000, 7)):
        with np.errstate(over="ignore"):  # the closes that overflow are clipped
            new = reconstruct(components, indices, start, 13.0)
            old = reconstruct_reference(components, indices, start, 13.0)
        assert new.tobytes() == old.tobytes()


def test_frames_share_indexes_but_not_values():
    from pipeline import load_sample
    from pipeline.factory import SyntheticDataFactory

    factory = SyntheticDataFactory(load_sample("sp500").iloc[:600], seed=3, block_size=20)
    series = factory.generate(n_samples=3, min_fidelity=0.0)
    first, second = series[0], series[1]
    assert first.index is second.index and first.columns is second.columns
    before = second.to_numpy().copy()
    first.iloc[:, :] = 1.0
    first["Close"] = 2.0
    np.testing.assert_array_equal(second.to_numpy(), before)
    assert isinstance(first, pd.DataFrame) and (first["Close"] == 2.0).all()
