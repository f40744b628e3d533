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
from arch.bootstrap import StationaryBootstrap
from arch.data import sp500
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox, het_arch
from statsmodels.tsa.stattools import acf

from pipeline.core.metrics import (
    EXTRA_NAMES,
    METRIC_NAMES,
    MIN_ROWS,
    VOLUME_METRICS,
    compute_metrics,
    compute_metrics_batch,
)
from pipeline.errors import InputDataError

ALL_NAMES = METRIC_NAMES + EXTRA_NAMES
FIELDS = ["Open", "High", "Low", "Close", "Volume"]

# Tolerances: both sides compute the same quantity with a different order of summation (and
# the ARCH regression by centred normal equations instead of statsmodels' pinv of the raw lag
# matrix); on this data they agree to ~1e-13, so 1e-10 leaves room for other BLAS builds.
# P-values are looser: p = chi2.sf(stat) and d(log p)/d(stat) is about -1/2, so a relative
# difference e of an ARCH statistic of ~1300 moves its ~1e-275 p-value by ~650 e relative.
RTOL = dict.fromkeys(ALL_NAMES, 1e-10)
RTOL.update(ljung_box_p=1e-8, arch_lm_p=1e-8)


# ---------------------------------------------------------------------------------------------
# Reference implementations: one series at a time, the obvious way.
# ---------------------------------------------------------------------------------------------


def reference_hurst(r: np.ndarray) -> float:
    """R/S Hurst exponent by plain loops over windows and chunks."""
    n = len(r)
    windows = np.unique(np.floor(np.logspace(np.log10(10), np.log10(n // 4), 10)).astype(int))
    log_w, log_rs = [], []
    for w in windows:
        ratios = []
        for c in range(n // w):
            chunk = r[c * w : (c + 1) * w]
            y = np.cumsum(chunk - chunk.mean())
            s = chunk.std()
            if s > 0:
                ratios.append((y.max() - y.min()) / s)
        if ratios:
            log_w.append(np.log(w))
            log_rs.append(np.log(np.mean(ratios)))
    if len(log_w) < 2:
        return float("nan")
    return float(np.polyfit(log_w, log_rs, 1)[0])


def reference_max_drawdown(close: np.ndarray) -> float:
    peak, worst = -np.inf, 0.0
    for c in close:
        peak = max(peak, c)
        worst = max(worst, 1.0 - c / peak)
    return worst


def reference_hill(r: np.ndarray) -> float:
    losses = sorted(-r, reverse=True)
    k = max(10, int(np.floor(0.05 * len(r))))
    threshold = losses[k]
    if threshold <= 0:
        return float("nan")
    return 1.0 / (sum(np.log(losses[i] / threshold) for i in range(k)) / k)


def reference_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Every metric of one OHLCV frame with statsmodels, scipy, pandas and loops."""
    close = frame["Close"].astype(float)
    r = np.log(close).diff().iloc[1:]
    rv = r.to_numpy()
    out: dict[str, float] = {}
    out["volatility"] = r.std(ddof=1)
    out["skewness"] = stats.skew(rv)
    out["kurtosis"] = stats.kurtosis(rv)
    out["max_drawdown"] = reference_max_drawdown(close.to_numpy())
    acf_r = acf(rv, nlags=10, fft=False)
    out["acf_lag1"] = acf_r[1]
    out["acf_sum_10"] = acf_r[1:].sum()
    out["vol_clustering"] = acf(np.abs(rv), nlags=10, fft=False)[1:].mean()
    out["hurst"] = reference_hurst(rv)
    lb = acorr_ljungbox(rv, lags=[10])
    out["ljung_box_p"] = lb["lb_pvalue"].iloc[0]
    out["ljung_box_stat"] = lb["lb_stat"].iloc[0]
    arch_res = het_arch(rv, nlags=10, result_object=True)
    out["arch_lm_p"] = arch_res.lmpval
    out["arch_lm_stat"] = arch_res.lm
    d = close.diff()
    gain = d.clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-d).clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    rsi = (100 * gain / (gain + loss)).where((gain + loss) > 0, 50.0)
    out["rsi_correlation"] = rsi.iloc[13:].corr(r.shift(-1).iloc[13:])
    n_win = len(rv) // 21
    rv2 = pd.Series(rv[: n_win * 21] ** 2)
    ms = rv2.groupby(np.arange(n_win * 21) // 21).mean().to_numpy()
    v = np.log(np.sqrt(np.maximum(ms, 1e-12)))
    out["vol_persistence"] = acf(v, nlags=1, fft=False)[1]
    out["leverage_effect"] = r.corr(r.abs().shift(-1))
    if "Volume" in frame:
        lv = np.log1p(frame["Volume"].astype(float))
        trend = lv.rolling(63, center=True, min_periods=1).mean()
        out["volume_volatility_corr"] = (lv - trend).iloc[1:].corr(r.abs())
    else:
        out["volume_volatility_corr"] = float("nan")
    var = r.quantile(0.01)
    out["var_1pct"] = var
    out["es_1pct"] = r[r <= var].mean()
    out["intrabar_range"] = np.log(frame["High"] / frame["Low"]).mean()
    out["tail_index"] = reference_hill(rv)
    return {name: float(out[name]) for name in ALL_NAMES}


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return sp500.load()[["Open", "High", "Low", "Close", "Volume"]].astype(float)


@pytest.fixture(scope="module")
def spx_reference(spx) -> dict[str, float]:
    return reference_metrics(spx)


def resample(frame: pd.DataFrame, seed: int, count: int) -> np.ndarray:
    """Stationary-bootstrap resamples of a frame's bars as an OHLCV batch (count, n + 1, 5).

    Close log-returns are drawn in blocks; each drawn bar keeps its own open/high/low relative to
    its close and its volume, so the resample is a valid OHLCV series.
    """
    values = frame[FIELDS].to_numpy()
    log_close = np.log(values[:, 3])
    r = np.diff(log_close)
    rel = np.log(values[1:, :3]) - log_close[1:, None]
    bs = StationaryBootstrap(20, np.arange(len(r)), seed=seed)
    out = []
    for (idx,), _ in bs.bootstrap(count):
        idx = idx[0] if isinstance(idx, tuple) else idx
        lc = np.concatenate(([log_close[0]], log_close[0] + np.cumsum(r[idx])))
        bars = np.empty((len(lc), 5))
        bars[0] = values[0]
        bars[1:, :3] = np.exp(rel[idx] + lc[1:, None])
        bars[:, 3] = np.exp(lc)
        bars[1:, 4] = values[1:, 4][idx]
        out.append(bars)
    return np.stack(out)


@pytest.fixture(scope="module")
def boot_batch(spx) -> np.ndarray:
    return resample(spx, seed=20240917, count=5)


def to_frame(arr: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(arr, columns=FIELDS[: arr.shape[1]])


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

    from pipeline.core.factory import fit_model

    frame = arch.data.sp500.load()[["Open", "High", "Low", "Close", "Volume"]].astype(float)
    model = fit_model(frame, n_replicates=32)
    big = model.generate(1, range(64), [3] * 64)
    full = compute_metrics_batch(big)
    for lo, hi in [(0, 1), (7, 8), (10, 30), (40, 64), (14, 15)]:
        part = compute_metrics_batch(big[lo:hi].copy())
        for name, values in full.items():
            np.testing.assert_array_equal(values[lo:hi], part[name], err_msg=name)
