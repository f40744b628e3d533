"""Straightforward reference implementations and test data, shared by the tests and benchmarks.

* :func:`reference_metrics`: every metric of one OHLCV frame the obvious way, with statsmodels,
  scipy, pandas and plain loops. The tests check the engine's batched kernel against it; the
  benchmarks time it as the "straightforward scorer".
* :func:`resample`: arch's ``StationaryBootstrap`` resamples of a frame's bars.
* :func:`make_intraday`: a deterministic GARCH-like intraday series.

Only runtime dependencies are imported here (no pytest), so ``make bench`` works after
``make run``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from arch.bootstrap import StationaryBootstrap
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox, het_arch
from statsmodels.tsa.stattools import acf

from pipeline.core.metrics import EXTRA_NAMES, METRIC_NAMES

__all__ = ["ALL_NAMES", "FIELDS", "reference_hurst", "reference_metrics", "resample", "to_frame", "make_intraday"]

ALL_NAMES = METRIC_NAMES + EXTRA_NAMES
FIELDS = ["Open", "High", "Low", "Close", "Volume"]




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


def to_frame(arr: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(arr, columns=FIELDS[: arr.shape[1]])



def make_intraday(n_bars: int = 20_000, freq: str = "5min", seed: int = 0,
                  start: str = "2024-01-01") -> pd.DataFrame:
    """``n_bars`` bars round the clock with volatility clustering, intrabar ranges and volume."""
    rng = np.random.default_rng(seed)
    z = rng.standard_t(5, n_bars) / np.sqrt(5 / 3)
    s2 = np.empty(n_bars)
    s2[0] = 1e-6
    for t in range(1, n_bars):
        s2[t] = 2e-8 + 0.08 * s2[t - 1] * z[t - 1] ** 2 + 0.9 * s2[t - 1]
    r = np.sqrt(s2) * z
    close = 100 * np.exp(np.cumsum(r))
    prev = np.concatenate([[100.0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, 0.1, n_bars) * np.sqrt(s2))
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0, 0.5, n_bars)) * np.sqrt(s2))
    low = bottom * np.exp(-np.abs(rng.normal(0, 0.5, n_bars)) * np.sqrt(s2))
    volume = np.round(rng.lognormal(8, 0.5, n_bars) * (1 + 50 * np.abs(r)))
    index = pd.date_range(start, periods=n_bars, freq=freq, name="Date")
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close,
                         "Volume": volume}, index=index)
