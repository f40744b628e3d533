"""From sampled component rows back to OHLCV bars.

``C_t = S * exp(cumsum(log_return))`` from a start price ``S`` (the close before the first
synthetic bar); ``O_t = C_{t-1} exp(gap_t)``; ``H_t = max(O_t, C_t) exp(high_excess_t)``;
``L_t = min(O_t, C_t) exp(-low_excess_t)``; ``V_t = expm1(log_volume_t + volume_level)``.

The bar invariants ``0 < L <= min(O, C) <= max(O, C) <= H`` and ``V >= 0`` hold exactly: the
excesses are non-negative, IEEE multiplication by a factor >= 1 rounds monotonically, and a final
``maximum``/``minimum`` pins any value that underflowed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OHLCV_FIELDS", "reconstruct"]

OHLCV_FIELDS = ("Open", "High", "Low", "Close", "Volume")


def reconstruct(
    components: np.ndarray,
    indices: np.ndarray,
    start_price: float | np.ndarray,
    volume_level: float = float("nan"),
) -> np.ndarray:
    """Build OHLCV arrays from component rows.

    Parameters
    ----------
    components : ndarray, shape (n_rows, 4) or (n_rows, 5)
        Component rows (see :mod:`pipeline.core.preprocessing`).
    indices : ndarray of int, shape (batch, length)
        Rows to take, per candidate.
    start_price : float or ndarray of shape (batch,)
        Close before the first bar.
    volume_level : float
        Mean ``log1p(volume)`` the detrended log-volume is added back to.

    Returns
    -------
    ndarray, shape (batch, length, 5) or (batch, length, 4)
        Fields ``Open High Low Close [Volume]``.
    """
    rows = components[indices]  # (batch, length, fields)
    batch, length, n_fields = rows.shape
    start = np.broadcast_to(np.asarray(start_price, dtype=float), (batch,))[:, None]
    out = np.empty((batch, length, 5 if n_fields == 5 else 4))

    log_close = np.cumsum(rows[:, :, 0], axis=1)
    close = start * np.exp(log_close)
    prev_close = np.empty_like(close)
    prev_close[:, 0] = start[:, 0]
    prev_close[:, 1:] = close[:, :-1]
    open_ = prev_close * np.exp(rows[:, :, 1])
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = np.maximum(top * np.exp(rows[:, :, 2]), top)
    low = np.minimum(bottom * np.exp(-rows[:, :, 3]), bottom)
    # A long path can underflow to 0 (or overflow); keep prices strictly positive and finite.
    tiny = np.finfo(float).tiny
    out[:, :, 0] = open_
    out[:, :, 1] = high
    out[:, :, 2] = low
    out[:, :, 3] = close
    np.clip(out[:, :, :4], tiny, np.finfo(float).max, out=out[:, :, :4])
    if n_fields == 5:
        out[:, :, 4] = np.maximum(np.expm1(rows[:, :, 4] + volume_level), 0.0)
    return out
