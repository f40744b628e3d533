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

__all__ = ["OHLCV_FIELDS", "reconstruct", "reconstruct_reference"]

OHLCV_FIELDS = ("Open", "High", "Low", "Close", "Volume")


def reconstruct(
    components: np.ndarray,
    indices: np.ndarray,
    start_price: float | np.ndarray,
    volume_level: float = float("nan"),
    *,
    log_returns: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    volume_shift: np.ndarray | None = None,
    return_shift: float = 0.0,
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
    log_returns : ndarray, shape (batch, length), optional
        Close log-returns to use instead of the rows' own (the GARCH-filtered bootstrap).
    scale : ndarray, shape (batch, length), optional
        Factor on each bar's gap and high/low excesses (the new volatility over the matched
        bar's); the excesses stay non-negative, so the invariants still hold.
    volume_shift : ndarray, shape (batch, length), optional
        Added to each bar's log-volume (volume following the bar's new volatility).
    return_shift : float
        Added to every bar's close log-return (a set drift; see
        :class:`pipeline.core.sampler.Drift`). Opens follow the shifted closes by their own
        gaps and highs and lows wrap the bodies, so the invariants hold.

    Returns
    -------
    ndarray, shape (batch, length, 5) or (batch, length, 4)
        Fields ``Open High Low Close [Volume]``.

    Notes
    -----
    A plain bootstrap (no ``log_returns``, ``scale`` or ``volume_shift``) gathers, adds up and
    assembles the bars in compiled code (:mod:`pipeline.core.kernel`) with the exponentials
    taken by NumPy: the same operations in the same order as :func:`reconstruct_reference`,
    so the same bits (tested). The GARCH-filtered variants run :func:`reconstruct_reference`.
    """
    if log_returns is not None or scale is not None or volume_shift is not None:
        return reconstruct_reference(components, indices, start_price, volume_level,
                                     log_returns=log_returns, scale=scale,
                                     volume_shift=volume_shift, return_shift=return_shift)
    from pipeline.core.kernel import assemble_bars, gather_cumsum

    n_fields = components.shape[1]
    indices = np.asarray(indices, dtype=np.int64)
    batch, length = indices.shape
    start = np.ascontiguousarray(
        np.broadcast_to(np.asarray(start_price, dtype=float), (batch,)))
    close = np.empty((batch, length))
    # A drift shifts the gathered column (a copy of n_rows values), so the compiled path stays.
    returns = np.ascontiguousarray(components[:, 0])
    if return_shift:
        returns = returns + return_shift
    gather_cumsum(returns, indices, close)
    np.exp(close, out=close)
    volume = (np.maximum(np.expm1(components[:, 4] + volume_level), 0.0) if n_fields == 5
              else np.empty(0))
    out = np.empty((batch, length, 5 if n_fields == 5 else 4))
    assemble_bars(close, start, indices, np.exp(components[:, 1]), np.exp(components[:, 2]),
                  np.exp(-components[:, 3]), volume, out)
    return out


def reconstruct_reference(
    components: np.ndarray,
    indices: np.ndarray,
    start_price: float | np.ndarray,
    volume_level: float = float("nan"),
    *,
    log_returns: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    volume_shift: np.ndarray | None = None,
    return_shift: float = 0.0,
) -> np.ndarray:
    """:func:`reconstruct` in NumPy: the definition of the bars, and the GARCH variants' path.

    Same parameters and result as :func:`reconstruct`.
    """
    # Per-row factors first (n_rows exponentials), then gathers per bar: far cheaper than
    # exponentiating every gathered bar of every candidate. Fields are kept as separate
    # contiguous (batch, length) arrays; strided (batch, length, field) arithmetic is slow.
    n_fields = components.shape[1]
    tiny, huge = np.finfo(float).tiny, np.finfo(float).max
    gap_f = np.exp(components[:, 1])
    high_f = np.exp(components[:, 2])
    low_f = np.exp(-components[:, 3])
    batch, length = indices.shape
    start = np.broadcast_to(np.asarray(start_price, dtype=float), (batch,))
    out = np.empty((batch, length, 5 if n_fields == 5 else 4))

    close = (np.take(components[:, 0], indices) if log_returns is None
             else np.array(log_returns, dtype=float, copy=True))
    if return_shift:
        close += return_shift
    np.cumsum(close, axis=1, out=close)
    np.exp(close, out=close)
    close *= start[:, None]
    # A long path can underflow to 0 (or overflow); keep prices strictly positive and finite.
    np.clip(close, tiny, huge, out=close)
    open_ = np.empty_like(close)
    open_[:, 0] = start
    open_[:, 1:] = close[:, :-1]
    open_ *= (np.take(gap_f, indices) if scale is None
              else np.exp(np.take(components[:, 1], indices) * scale))
    np.clip(open_, tiny, huge, out=open_)
    out[:, :, 0] = open_
    out[:, :, 3] = close
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close, out=open_)
    # max/min with the body pins the invariant even where a factor rounds or under/overflows.
    factor = (np.take(high_f, indices) if scale is None
              else np.exp(np.take(components[:, 2], indices) * scale))
    factor *= top
    np.clip(factor, tiny, huge, out=factor)
    out[:, :, 1] = np.maximum(factor, top, out=top)
    if scale is None:
        np.take(low_f, indices, out=factor)
    else:
        np.exp(-np.take(components[:, 3], indices) * scale, out=factor)
    factor *= bottom
    np.clip(factor, tiny, huge, out=factor)
    out[:, :, 2] = np.minimum(factor, bottom, out=bottom)
    if n_fields == 5:
        if volume_shift is None:
            volume = np.maximum(np.expm1(components[:, 4] + volume_level), 0.0)
            out[:, :, 4] = np.take(volume, indices)
        else:
            log_volume = np.take(components[:, 4], indices) + volume_shift
            log_volume += volume_level
            out[:, :, 4] = np.maximum(np.expm1(log_volume), 0.0)
    return out
