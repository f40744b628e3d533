"""Bar features and windows: what the classifiers and the predictive score see.

See "Bar features" in :mod:`pipeline.evaluation`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "WINDOW",
    "BAR_FEATURES",
    "bar_features",
    "window_features",
]

#: Bars per window in the indistinguishability tests (as in the published benchmarks).
WINDOW = 24
#: The per-bar features, in channel order (``dlog_volume`` only when there is volume).
BAR_FEATURES = ("log_return", "log_range", "log_body", "dlog_volume")

_OHLC = ("Open", "High", "Low", "Close")


def _as_bars(series: Any) -> np.ndarray:
    """(bars, 4 or 5) float array: Open, High, Low, Close[, Volume]."""
    if isinstance(series, pd.DataFrame):
        cols = list(_OHLC) + (["Volume"] if "Volume" in series.columns else [])
        return series[cols].to_numpy(dtype=float)
    arr = np.asarray(series, dtype=float)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f"expected bars x (Open, High, Low, Close[, Volume]), got {arr.shape}")
    return arr


def _has_volume(bars: np.ndarray) -> bool:
    return bars.shape[1] == 5 and bool(np.isfinite(bars[:, 4]).all())


def _assets(series: Any, n_assets: int = 1) -> list[np.ndarray]:
    """The per-asset bar arrays of one series: a frame, ``{symbol: frame}`` or an array whose
    columns are ``n_assets`` OHLC[V] blocks side by side (the engine's multi-asset layout)."""
    if isinstance(series, Mapping):
        parts = [_as_bars(f) for f in series.values()]
    elif isinstance(series, pd.DataFrame) or n_assets == 1:
        parts = [_as_bars(series)]
    else:
        arr = np.asarray(series, dtype=float)
        width = arr.shape[1] if arr.ndim == 2 else -1
        if width not in (4 * n_assets, 5 * n_assets):
            raise ValueError(f"expected bars x {n_assets} assets' OHLC[V] columns, got "
                             f"{arr.shape}")
        f = width // n_assets
        parts = [arr[:, a * f : (a + 1) * f] for a in range(n_assets)]
    if len(parts) != n_assets:
        raise ValueError(f"expected {n_assets} asset(s), got {len(parts)}")
    return parts


def bar_features(bars: Any, *, volume: bool = True) -> np.ndarray:
    """The scale-free features of each bar after the first (see the module notes).

    Parameters
    ----------
    bars : OHLCV frame or (n, 4|5) array
    volume : bool, default True
        Include ``dlog_volume`` (when the bars have volume).

    Returns
    -------
    ndarray, shape (n - 1, 3 or 4)
        Columns ``log_return, log_range, log_body[, dlog_volume]``.
    """
    b = _as_bars(bars)
    if len(b) < 2 or not np.all(b[:, :4] > 0):
        raise ValueError("bar features need at least two bars with positive prices")
    logp = np.log(b[:, :4])
    cols = [np.diff(logp[:, 3]), logp[1:, 1] - logp[1:, 2], logp[1:, 3] - logp[1:, 0]]
    if volume and _has_volume(b):
        cols.append(np.diff(np.log1p(np.maximum(b[:, 4], 0.0))))
    out = np.stack(cols, axis=1)
    if not np.all(np.isfinite(out)):
        raise ValueError("bar features are not finite (non-finite prices or volume)")
    return out


def window_features(features: np.ndarray, starts: np.ndarray, window: int = WINDOW
                    ) -> np.ndarray:
    """Windows ``(len(starts), window, channels)`` of per-bar ``features`` (rows from each start)."""
    starts = np.asarray(starts, dtype=np.int64)
    return features[starts[:, None] + np.arange(window)[None, :]]


@dataclass(frozen=True, eq=False)
class _Series:
    """A series as the tests see it: per-bar features and the close returns traced to the
    original (the first asset's)."""

    features: np.ndarray  # (m, channels)
    returns: np.ndarray  # (m,)


def _prepare(original: Any, synthetic: Sequence[Any]
             ) -> tuple[_Series, list[_Series], tuple[str, ...]]:
    """Features of the original and of each synthetic series, on the same channels."""
    real = _assets(original, len(original) if isinstance(original, Mapping) else 1)
    n_assets = len(real)
    synth = [_assets(s, n_assets) for s in synthetic]
    volume = all(_has_volume(b) for b in real) and all(_has_volume(b) for s in synth for b in s)
    names = BAR_FEATURES if volume else BAR_FEATURES[:3]
    symbols = list(original) if isinstance(original, Mapping) else [""]
    channels = tuple(f"{s}:{n}" if s else n for s in symbols for n in names)

    def series(parts: list[np.ndarray]) -> _Series:
        feats = np.concatenate([bar_features(p, volume=volume) for p in parts], axis=1)
        return _Series(feats, feats[:, 0])

    return series(real), [series(p) for p in synth], channels
