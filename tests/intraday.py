"""A deterministic intraday OHLCV series for tests (and benchmarks): GARCH-like 5-minute bars."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
