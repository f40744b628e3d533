"""Chart data for the dashboard: downsampled OHLCV bars and fan charts of many series.

Downsampling cuts a series into consecutive buckets of ``step = ceil(bars / max_points)`` bars
and aggregates each bucket as a candle would: first open, highest high, lowest low, last close,
summed volume, labelled by the bucket's first timestamp. A fan chart takes, at each bucket, the
percentiles across series of the bucket's last close, so its points are exactly the closes the
downsampled bars of each series show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["bucket_starts", "downsample_ohlcv", "fan_chart", "PERCENTILES"]

PERCENTILES = (5, 25, 50, 75, 95)


def bucket_starts(bars: int, max_points: int) -> tuple[np.ndarray, int]:
    """First bar of each bucket and the bucket size, for ``bars`` bars into ``max_points``."""
    step = max(1, math.ceil(bars / max(1, max_points)))
    return np.arange(0, bars, step), step


def _times(index: pd.Index) -> list[str]:
    if isinstance(index, pd.DatetimeIndex):
        return [t.isoformat() for t in index]
    return [str(t) for t in index]


def _floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def downsample_ohlcv(frame: pd.DataFrame, max_points: int) -> dict:
    """A frame's OHLCV bars aggregated into at most ``max_points`` points (``Series`` JSON)."""
    bars = len(frame)
    starts, step = bucket_starts(bars, max_points)
    if bars == 0:
        empty: list = []
        return {"index": empty, "open": empty, "high": empty, "low": empty, "close": empty,
                "volume": None, "bars": 0, "step": step}
    ends = np.append(starts[1:], bars) - 1
    col = {c: frame[c].to_numpy(dtype=float) for c in frame.columns}
    out = {
        "index": _times(frame.index[starts]),
        "open": _floats(col["Open"][starts]),
        "high": _floats(np.maximum.reduceat(col["High"], starts)),
        "low": _floats(np.minimum.reduceat(col["Low"], starts)),
        "close": _floats(col["Close"][ends]),
        "volume": _floats(np.add.reduceat(col["Volume"], starts)) if "Volume" in col else None,
        "bars": bars,
        "step": step,
    }
    return out


def fan_chart(
    closes: Iterable[np.ndarray],
    index: pd.Index,
    original: pd.Series | None,
    max_points: int,
    n_paths: int = 5,
) -> dict:
    """Percentile bands and sample paths of many series' closes, downsampled to ``max_points``.

    Parameters
    ----------
    closes : iterable of 1-D arrays
        The close of each series, all as long as ``index``. Only the bucket-end values of each
        are kept, so memory holds ``series x max_points`` numbers.
    index : pandas.Index
        Timestamps of the series' bars.
    original : pandas.Series, optional
        The input's closes; downsampled by the same rule (same points when equally long).
    """
    bars = len(index)
    starts, _step = bucket_starts(bars, max_points)
    ends = np.append(starts[1:], bars) - 1 if bars else starts
    rows = [np.asarray(c, dtype=float)[ends] for c in closes if len(c) == bars]
    table = np.vstack(rows) if rows else np.empty((0, len(ends)))
    if len(table):
        pct = np.percentile(table, PERCENTILES, axis=0)
        percentiles = {str(p): _floats(v) for p, v in zip(PERCENTILES, pct, strict=True)}
    else:
        percentiles = {str(p): [] for p in PERCENTILES}
    out = {
        "index": _times(index[starts]) if bars else [],
        "percentiles": percentiles,
        "samples": [_floats(r) for r in table[:n_paths]],
        "n_series": int(len(table)),
        "original": None,
        "original_index": None,
    }
    if original is not None and len(original):
        o_starts, _ = bucket_starts(len(original), max_points)
        o_ends = np.append(o_starts[1:], len(original)) - 1
        out["original"] = _floats(original.to_numpy(dtype=float)[o_ends])
        out["original_index"] = _times(original.index[o_starts])
    return out
