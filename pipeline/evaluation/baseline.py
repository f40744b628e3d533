"""The outside baseline every honest test must reject: a Gaussian random walk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "bars_from_returns",
    "gaussian_random_walk",
]


def bars_from_returns(frame: pd.DataFrame, returns: np.ndarray, rng: np.random.Generator
                      ) -> np.ndarray:
    """OHLC[V] bars ``(n, length, 4|5)`` around close log-returns ``(n, length - 1)``.

    For generators without bars of their own (the baselines): the first close is ``frame``'s
    first close, each open the previous close, highs and lows a half-normal distance (scale
    0.5 % of the price) outside the body, and volume ``frame``'s, bar for bar.
    """
    n = returns.shape[0]
    c0 = float(frame["Close"].iloc[0])
    close = c0 * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(returns, axis=1)], axis=1))
    prev = np.concatenate([np.full((n, 1), c0), close[:, :-1]], axis=1)
    excess = np.abs(rng.normal(0, 0.005, (2, n, close.shape[1])))
    fields = [prev, np.maximum(prev, close) * np.exp(excess[0]),
              np.minimum(prev, close) * np.exp(-excess[1]), close]
    if "Volume" in frame.columns:
        fields.append(np.tile(frame["Volume"].to_numpy(dtype=float), (n, 1)))
    return np.stack(fields, axis=-1)


def gaussian_random_walk(original: Any, n_series: int, seed: int = 0) -> np.ndarray:
    """Gaussian random walks with the original's mean and covariance of close log-returns.

    Parameters
    ----------
    original : OHLCV frame or mapping of symbol to frame
    n_series : int
    seed : int

    Returns
    -------
    ndarray, shape (n_series, bars, fields x assets)
        Bars of the original's length, assets side by side, built by
        :func:`bars_from_returns`. Several assets draw correlated returns (the original's
        covariance).
    """
    frames = list(original.values()) if isinstance(original, Mapping) else [original]
    closes = np.stack([f["Close"].to_numpy(dtype=float) for f in frames], axis=1)
    r = np.diff(np.log(closes), axis=0)
    rng = np.random.default_rng(seed)
    # A symmetric square root of the covariance (not Cholesky, which refuses the singular
    # covariance of assets that move as one).
    vals, vecs = np.linalg.eigh(np.atleast_2d(np.cov(r, rowvar=False, bias=True)))
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    returns = r.mean(axis=0) + rng.standard_normal((n_series, len(r), len(frames))) @ root.T
    return np.concatenate([bars_from_returns(f, returns[:, :, a], rng)
                           for a, f in enumerate(frames)], axis=2)
