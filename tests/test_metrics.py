"""The batched metrics against independent reference implementations on the S&P 500 sample.

The references (:func:`reference_metrics`) compute each metric of one series the straightforward
way, with statsmodels, scipy, pandas or a plain Python loop; ``benchmarks/bench_metrics.py`` times
them against the kernel.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500
from numpy.testing import assert_allclose

from benchmarks.reference import (
    ALL_NAMES,
    reference_hurst,
    reference_metrics,
    resample,
    to_frame,
)
from pipeline.core.metrics import (
    METRIC_NAMES,
    MIN_ROWS,
    VOLUME_METRICS,
    compute_metrics,
    compute_metrics_batch,
)
from pipeline.errors import InputDataError

# Tolerances: both sides compute the same quantity with a different order of summation (and
# the ARCH regression by centred normal equations instead of statsmodels' pinv of the raw lag
# matrix); on this data they agree to ~1e-13, so 1e-10 leaves room for other BLAS builds.
# P-values are looser: p = chi2.sf(stat) and d(log p)/d(stat) is about -1/2, so a relative
# difference e of an ARCH statistic of ~1300 moves its ~1e-275 p-value by ~650 e relative.
RTOL = dict.fromkeys(ALL_NAMES, 1e-10)
RTOL.update(ljung_box_p=1e-8, arch_lm_p=1e-8)


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return sp500.load()[["Open", "High", "Low", "Close", "Volume"]].astype(float)


@pytest.fixture(scope="module")
def spx_reference(spx) -> dict[str, float]:
    return reference_metrics(spx)


@pytest.fixture(scope="module")
def boot_batch(spx) -> np.ndarray:
    return resample(spx, seed=20240917, count=5)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_names_and_keys(spx):
    assert len(METRIC_NAMES) == 18 and len(set(METRIC_NAMES)) == 18
    assert VOLUME_METRICS == frozenset({"volume_volatility_corr"})
    out = compute_metrics_batch(spx.to_numpy()[None])
    assert tuple(out) == ALL_NAMES
    for values in out.values():
        assert values.shape == (1,) and values.dtype == np.float64


@pytest.mark.parametrize("name", ALL_NAMES)
def test_sp500_matches_reference(spx, spx_reference, name):
    ours = compute_metrics(spx)
    assert_allclose(ours[name], spx_reference[name], rtol=RTOL[name], atol=0)


def test_sp500_known_values(spx):
    """Coarse anchors from the design notes, so a reference and the kernel cannot drift together."""
    m = compute_metrics(spx)
    assert m.name == "metrics" and list(m.index) == list(ALL_NAMES)
    assert 0.012 < m["volatility"] < 0.014
    assert -0.1 < m["acf_lag1"] < -0.05
    assert 1e-300 < m["arch_lm_p"] < 1e-250
    assert 1e-9 < m["ljung_box_p"] < 1e-7
    assert m["var_1pct"] < m["var_1pct"] / 2 < 0 and m["es_1pct"] < m["var_1pct"]
    assert 0.3 < m["max_drawdown"] < 0.7 and 2 < m["tail_index"] < 5


def test_bootstrap_batch_matches_reference(boot_batch):
    out = compute_metrics_batch(boot_batch)
    for i in range(boot_batch.shape[0]):
        ref = reference_metrics(to_frame(boot_batch[i]))
        for name in ALL_NAMES:
            assert_allclose(out[name][i], ref[name], rtol=RTOL[name], atol=0, err_msg=name)


def test_batch_equals_one_by_one(boot_batch):
    batch = compute_metrics_batch(boot_batch)
    for i in range(boot_batch.shape[0]):
        one = compute_metrics_batch(boot_batch[i : i + 1])
        two_d = compute_metrics_batch(boot_batch[i])
        for name in ALL_NAMES:
            assert_allclose(one[name][0], batch[name][i], rtol=1e-12, atol=1e-15, err_msg=name)
            assert_allclose(two_d[name][0], one[name][0], rtol=0, atol=0, err_msg=name)


def test_large_batch_spans_sub_batches(spx):
    """More candidates than one internal sub-batch: every row equals its own computation."""
    base = resample(spx, seed=7, count=3)
    batch = np.concatenate([base] * 30)  # 90 rows > the ~63-row sub-batch at 5,031 bars
    out = compute_metrics_batch(batch)
    single = [compute_metrics_batch(b) for b in base]
    for name in ALL_NAMES:
        expected = np.concatenate([[s[name][0] for s in single]] * 30)
        assert_allclose(out[name], expected, rtol=1e-12, atol=1e-15, err_msg=name)


def test_without_volume(spx, spx_reference):
    arr = spx.to_numpy()
    with_vol = compute_metrics_batch(arr)
    flag_off = compute_metrics_batch(arr, has_volume=False)
    four = compute_metrics_batch(arr[:, :4])
    frame4 = compute_metrics(spx.drop(columns="Volume"))
    for name in ALL_NAMES:
        if name in VOLUME_METRICS:
            assert np.isnan(flag_off[name][0]) and np.isnan(four[name][0])
            assert np.isnan(frame4[name])
            assert np.isfinite(with_vol[name][0])
        else:
            assert_allclose(flag_off[name], with_vol[name], rtol=0, atol=0)
            assert_allclose(four[name], with_vol[name], rtol=0, atol=0)
            assert_allclose(frame4[name], spx_reference[name], rtol=RTOL[name])


def _ohlcv_from_close(close: np.ndarray, volume: np.ndarray | None = None) -> np.ndarray:
    volume = np.full_like(close, 1e6) if volume is None else volume
    return np.stack([close, close * 1.001, close * 0.999, close, volume], axis=-1)


def test_degenerate_series_no_warnings():
    length = 600
    rng = np.random.default_rng(3)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, length)))
    stepped = walk.copy()
    stepped[100:400] = stepped[100]  # a long flat stretch: flat Hurst chunks and vol windows
    up_only = 100 * np.exp(np.cumsum(np.abs(rng.normal(0, 0.01, length))))  # no losses
    batch = np.stack(
        [
            _ohlcv_from_close(np.full(length, 50.0)),  # constant prices
            _ohlcv_from_close(100 * 1.001 ** np.arange(length)),  # constant return
            _ohlcv_from_close(stepped, rng.uniform(1e5, 1e6, length)),
            _ohlcv_from_close(up_only),
            _ohlcv_from_close(walk, np.zeros(length)),  # flat (zero) volume
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = compute_metrics_batch(batch)
    for name, values in out.items():
        assert not np.any(np.isinf(values)), name
    const = {name: values[0] for name, values in out.items()}
    assert const["volatility"] == 0 and const["max_drawdown"] == 0
    for name in (
        "skewness",
        "kurtosis",
        "acf_lag1",
        "hurst",
        "arch_lm_stat",
        "tail_index",
        "rsi_correlation",
        "vol_persistence",
        "leverage_effect",
    ):
        assert np.isnan(const[name]), name
    # the stepped walk is an ordinary series with a pause: everything defined
    for name in ALL_NAMES:
        assert np.isfinite(out[name][2]), name
    assert_allclose(out["hurst"][2], reference_hurst(np.diff(np.log(stepped))), rtol=1e-9)
    assert np.isnan(out["tail_index"][3])  # no losses: x_(k+1) = 0
    assert np.isnan(out["volume_volatility_corr"][4])


def test_batch_input_validation():
    with pytest.raises(ValueError, match="fields"):
        compute_metrics_batch(np.ones((2, 300, 6)))
    with pytest.raises(ValueError, match="shape"):
        compute_metrics_batch(np.ones(300))
    with pytest.raises(ValueError, match="at least 64"):
        compute_metrics_batch(np.ones((2, 50, 5)))
    empty = compute_metrics_batch(np.ones((0, 300, 5)))
    assert all(v.shape == (0,) for v in empty.values())


def test_compute_metrics_errors(spx):
    with pytest.raises(InputDataError, match=f"at least {MIN_ROWS} rows"):
        compute_metrics(spx.iloc[: MIN_ROWS - 1])
    compute_metrics(spx.iloc[:MIN_ROWS])  # exactly the minimum is fine
    with pytest.raises(InputDataError, match="missing column.*Low"):
        compute_metrics(spx.drop(columns="Low"))
    bad = spx.copy()
    bad.iloc[5, bad.columns.get_loc("Close")] = -1.0
    with pytest.raises(InputDataError, match="Close must be finite and positive"):
        compute_metrics(bad)
    bad = spx.copy()
    bad["Open"] = "x"
    with pytest.raises(InputDataError, match="Open is not numeric"):
        compute_metrics(bad)
    with pytest.raises(InputDataError, match="DataFrame"):
        compute_metrics(spx.to_numpy())


def test_threads_do_not_share_scratch(spx):
    """The kernel's workspace is per thread: concurrent calls give the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [resample(spx, seed=s, count=3) for s in (11, 12, 13, 14)]
    serial = [compute_metrics_batch(b) for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(compute_metrics_batch, batches * 3))
    for i, out in enumerate(threaded):
        for name in ALL_NAMES:
            assert_allclose(out[name], serial[i % 4][name], rtol=0, atol=0, err_msg=name)


def test_a_candidates_metrics_do_not_depend_on_its_batch():
    """Bit-for-bit: reproducibility on any number of workers rests on this."""
    import arch.data.sp500

    from pipeline.factory import fit_model

    frame = arch.data.sp500.load()[["Open", "High", "Low", "Close", "Volume"]].astype(float)
    model = fit_model(frame, n_replicates=32)
    big = model.generate(1, range(64), [3] * 64)
    full = compute_metrics_batch(big)
    for lo, hi in [(0, 1), (7, 8), (10, 30), (40, 64), (14, 15)]:
        part = compute_metrics_batch(big[lo:hi].copy())
        for name, values in full.items():
            np.testing.assert_array_equal(values[lo:hi], part[name], err_msg=name)
