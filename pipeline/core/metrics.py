r"""Statistical metrics of OHLCV series, computed on whole batches of candidates at once.

Every metric is a number per series; the fidelity score compares a candidate's metrics with the
original's. The kernel, :func:`compute_metrics_batch`, takes an array of shape
``(batch, length, fields)`` and returns one ``(batch,)`` array per metric. It has two engines:
the compiled kernel of :mod:`pipeline.core.kernel` (the default), which takes each candidate's
bars through a few fused passes, and the NumPy reference, vectorized over the batch axis, whose
intermediate arrays (log prices, returns, demeaned returns, absolute returns, their prefix sums
and lagged dot products) are computed once per batch and shared by the metrics that need them.
They agree to rounding (``tests/test_kernel.py``).

Notation
--------
``C_t``, ``H_t``, ``L_t``, ``V_t`` are the close, high, low and volume of bar ``t = 0 .. N-1``.
``r_t = log(C_t / C_{t-1})`` for ``t = 1 .. N-1`` are the close log-returns; there are
``n = N - 1`` of them. ``|r|`` are absolute returns. For a sequence ``x`` of length ``m`` with mean
``xbar``, the autocorrelation at lag ``k`` is the statsmodels ``acf`` definition (full-sample
mean, divisor ``m`` at every lag)::

    gamma_k = sum_{t=1}^{m-k} (x_t - xbar) (x_{t+k} - xbar) / m,      acf_k = gamma_k / gamma_0

``corr(a, b)`` is the Pearson correlation of two equally long sequences.

Metrics
-------
``volatility``
    Sample standard deviation of ``r`` (``ddof = 1``).
``skewness``
    Biased sample skewness of ``r``, ``m_3 / m_2^{3/2}`` with central moments ``m_j`` (as
    ``scipy.stats.skew``).
``kurtosis``
    Biased excess kurtosis of ``r``, ``m_4 / m_2^2 - 3`` (as ``scipy.stats.kurtosis``).
``max_drawdown``
    Largest fall of the close from its running peak, as a positive fraction:
    ``max_t (1 - C_t / max_{s <= t} C_s)``.
``acf_lag1``
    ``acf_1`` of ``r``.
``acf_sum_10``
    ``acf_1 + ... + acf_10`` of ``r``.
``vol_clustering``
    Mean of ``acf_1 .. acf_10`` of ``|r|``.
``hurst``
    Hurst exponent of ``r`` by rescaled-range (R/S) analysis. Window sizes are
    ``w = unique(floor(logspace(log10(10), log10(n // 4), 10)))``. For each ``w``, ``r`` is cut
    from the start into ``floor(n / w)`` non-overlapping chunks (the remainder is dropped); per
    chunk ``y = cumsum(chunk - mean(chunk))``, ``R = max(y) - min(y)`` and ``S`` = the chunk's
    standard deviation (``ddof = 0``). ``RS_w`` is the mean of ``R / S`` over the chunks with
    ``S > 0`` and the Hurst exponent is the least-squares slope of ``log RS_w`` on ``log w``
    (window sizes without a chunk with ``S > 0`` are left out; NaN if fewer than two remain).
    In floating point a chunk counts as flat (``S = 0``) when its variance is below ``1e-10``
    times the variance of the whole series.
``ljung_box_p`` (and ``ljung_box_stat``)
    Ljung-Box test of ``r`` at 10 lags: ``Q = n (n + 2) sum_{k=1}^{10} acf_k^2 / (n - k)``
    (``ljung_box_stat``) and its ``chi2(10)`` survival probability (``ljung_box_p``), as
    ``statsmodels.stats.diagnostic.acorr_ljungbox(r, lags=[10])``.
``arch_lm_p`` (and ``arch_lm_stat``)
    Engle's ARCH LM test at 10 lags, as ``statsmodels.stats.diagnostic.het_arch(r, nlags=10)``:
    ``r_t^2`` (not demeaned) is regressed by least squares on a constant and
    ``r_{t-1}^2 .. r_{t-10}^2`` over the ``n - 10`` bars that have all ten lags;
    ``LM = (n - 10) R^2`` (``arch_lm_stat``) and ``arch_lm_p`` is its ``chi2(10)`` survival
    probability. On long real series the p-values of both tests underflow toward 0 (the S&P 500
    sample's ARCH p-value is about 1e-275), which is why the statistics are reported too.
``rsi_correlation``
    Correlation of the 14-bar RSI with the next return. With ``d_t = C_t - C_{t-1}``, gains
    ``max(d_t, 0)`` and losses ``max(-d_t, 0)`` are smoothed by Wilder's exponential average,
    ``a_t = a_{t-1} + (x_t - a_{t-1}) / 14`` started at ``a_1 = x_1`` (as pandas
    ``ewm(alpha=1/14, adjust=False).mean()``); ``RSI_t = 100 G_t / (G_t + L_t)`` (50 where both
    averages are 0). ``rsi_correlation = corr(RSI_t, r_{t+1})`` over ``t = 14 .. n - 1`` (the
    first 13 values are warm-up and dropped). It measures how the indicator relates to what
    follows it, which is what RSI strategies exploit.
``vol_persistence``
    ``r`` is cut from the start into non-overlapping 21-bar windows (remainder dropped); each
    window's log realized volatility is ``v_j = log sqrt(max(mean(r^2), 1e-12))`` (the floor only
    matters for perfectly flat windows), and ``vol_persistence = acf_1`` of ``v``.
``leverage_effect``
    ``corr(r_t, |r_{t+1}|)`` over ``t = 1 .. n - 1``: negative when falls precede larger moves.
``volume_volatility_corr``
    ``corr(u_t, |r_t|)`` over the bars with a return, ``t = 1 .. n``, where ``u_t`` is the
    abnormal log-volume ``log(1 + V_t)`` minus its centred 63-bar rolling mean (shorter at the
    ends, like pandas' ``rolling(63, center=True, min_periods=1)``). Detrending matters: traded
    volume drifts over years, and a raw correlation would mostly measure whether the volume
    trend happened to coincide with calm or volatile eras. NaN without volume.
``var_1pct``
    1 % value at risk of one bar, as a (negative) return: the 0.01 quantile of ``r`` with linear
    interpolation (``numpy.quantile`` default).
``es_1pct``
    1 % expected shortfall: the mean of the returns ``r_t <= var_1pct``.
``intrabar_range``
    Mean over all bars of ``log(H_t / L_t)``.
``tail_index``
    Hill estimator of the left tail. Losses ``x = -r`` sorted in descending order
    ``x_(1) >= x_(2) >= ...``; ``k = max(10, floor(0.05 n))`` and
    ``tail_index = 1 / mean_{i=1}^{k} log(x_(i) / x_(k+1))``. NaN unless ``x_(k+1) > 0``.

Degenerate series (constant prices, zero variance, flat volume) give NaN for the metrics that are
undefined for them, never an exception or a warning.

References
----------
.. [1] Ljung, G. M. and Box, G. E. P. (1978). On a measure of lack of fit in time series models.
   Biometrika 65(2), 297-303.
.. [2] Engle, R. F. (1982). Autoregressive conditional heteroscedasticity with estimates of the
   variance of United Kingdom inflation. Econometrica 50(4), 987-1007.
.. [3] Hurst, H. E. (1951). Long-term storage capacity of reservoirs. Transactions of the
   American Society of Civil Engineers 116, 770-799.
.. [4] Wilder, J. W. (1978). New Concepts in Technical Trading Systems. Trend Research.
.. [5] Hill, B. M. (1975). A simple general approach to inference about the tail of a
   distribution. Annals of Statistics 3(5), 1163-1174.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import signal, special

from pipeline.errors import InputDataError

__all__ = [
    "METRIC_NAMES",
    "EXTRA_NAMES",
    "VOLUME_METRICS",
    "VOLUME_TREND_WINDOW",
    "abnormal_log_volume",
    "MIN_ROWS",
    "ENGINES",
    "compute_metrics_batch",
    "compute_metrics",
    "cross_asset_metrics",
]

Float64Array = NDArray[np.float64]

#: The public metrics, in their fixed order.
METRIC_NAMES: tuple[str, ...] = (
    "volatility",
    "skewness",
    "kurtosis",
    "max_drawdown",
    "acf_lag1",
    "acf_sum_10",
    "vol_clustering",
    "hurst",
    "ljung_box_p",
    "arch_lm_p",
    "rsi_correlation",
    "vol_persistence",
    "leverage_effect",
    "volume_volatility_corr",
    "var_1pct",
    "es_1pct",
    "intrabar_range",
    "tail_index",
)

#: Test statistics returned beside the metrics (the scorer uses them instead of the p-values).
EXTRA_NAMES: tuple[str, ...] = ("ljung_box_stat", "arch_lm_stat")

#: Metrics that need a volume field.
VOLUME_METRICS: frozenset[str] = frozenset({"volume_volatility_corr"})

#: Fewest rows :func:`compute_metrics` accepts (the lag-10 tests, the 21-bar windows and the
#: Hurst windows need a few hundred bars to mean anything).
MIN_ROWS = 200

_OHLCV = ("Open", "High", "Low", "Close", "Volume")
_MAX_LAG = 10
_RSI_PERIOD = 14
_VOL_WINDOW = 21
_VOL_FLOOR = 1e-12  # floor of a window's mean squared return (a perfectly flat window)
_FLAT_CHUNK = 1e-10  # a Hurst chunk with variance below this fraction of the series' is flat
_TAIL_FRACTION = 0.05
_TAIL_MIN_K = 10
_VAR_LEVEL = 0.01
# The kernel works on sub-batches of about this many values per (sub-batch, length) array and
# keeps its ~15 scratch arrays in a per-thread workspace reused from call to call: fresh
# multi-megabyte temporaries cost more in page faults than the arithmetic done on them
# (measured: ~2x slower kernel). 2**18 values is ~2 MB an array, ~30 MB a thread.
_CHUNK_ELEMENTS = 2**18
# A workspace array larger than this (a sub-batch of one very long series) is not kept.
_KEEP_ELEMENTS = 2**21


def _sum_lags(a: np.ndarray) -> np.ndarray:
    """Sum a ``(lags, batch)`` array over lags, in lag order.

    ``a.sum(axis=0)`` may add in another order for a batch of one (a contiguous, unrolled
    reduction) than for a larger batch; a candidate's metrics must not depend on its batch.
    """
    out = a[0].copy()
    for row in a[1:]:
        out += row
    return out


#: Window of the rolling mean that abnormal volume is measured against (about a quarter).
VOLUME_TREND_WINDOW = 63


def abnormal_log_volume(volume: np.ndarray) -> np.ndarray:
    """``log1p(V)`` minus its centred rolling mean, ``(batch, bars)``, by prefix sums."""
    lv = np.log1p(np.maximum(volume, 0.0))
    # Centre first so the prefix sums stay small and their differences exact enough.
    lv -= (lv.sum(axis=1) / lv.shape[1])[:, None]
    bars = lv.shape[1]
    half = VOLUME_TREND_WINDOW // 2
    prefix = np.zeros((lv.shape[0], bars + 1))
    np.cumsum(lv, axis=1, out=prefix[:, 1:])
    pos = np.arange(bars)
    lo = np.maximum(pos - half, 0)
    hi = np.minimum(pos + half + 1, bars)
    return lv - (prefix[:, hi] - prefix[:, lo]) / (hi - lo)


#: Implementations of :func:`compute_metrics_batch`: the compiled kernel
#: (:mod:`pipeline.core.kernel`, the default) and the NumPy reference it is tested against.
ENGINES = ("compiled", "numpy")


def compute_metrics_batch(
    ohlcv: Float64Array, *, has_volume: bool = True, engine: str = "compiled"
) -> dict[str, Float64Array]:
    """Compute every metric for a batch of OHLCV series.

    Parameters
    ----------
    ohlcv : ndarray, shape (batch, length, 5) or (batch, length, 4)
        Fields Open, High, Low, Close[, Volume] in that order, float64 (other dtypes are
        converted). A 2-D ``(length, fields)`` array is a batch of one. Prices must be positive.
    has_volume : bool, default True
        Whether the Volume field holds real volume. When False, or when there are only four
        fields, the metrics in :data:`VOLUME_METRICS` are NaN.

    Returns
    -------
    dict of str to ndarray, shape (batch,)
        One float64 array per name of :data:`METRIC_NAMES`, in that order, followed by
        ``ljung_box_stat`` and ``arch_lm_stat``.

    Raises
    ------
    ValueError
        If the array is not 2-D or 3-D, has fewer than 4 or more than 5 fields, or fewer than 64
        bars (use :func:`compute_metrics` for validated single frames), or ``engine`` is
        unknown.

    Notes
    -----
    The definitions are in the module docstring. The batch is processed in sub-batches of about
    ``2**18`` values per field. Each series' arithmetic does not depend on the batch it came
    in, so a candidate's values are the same bits whatever batch it is computed in (tested).
    The compiled kernel takes a candidate's bars through a few fused passes (the logarithms
    are taken by NumPy beforehand); the NumPy reference makes whole-batch passes, its scratch
    arrays kept in a per-thread workspace (about 30 MB) reused by the next call.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (8, 500)), axis=1))
    >>> ohlcv = np.stack([close, close * 1.01, close * 0.99, close, np.full_like(close, 1e6)], -1)
    >>> out = compute_metrics_batch(ohlcv)
    >>> out["volatility"].shape
    (8,)
    """
    arr = np.asarray(ohlcv, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"ohlcv must have shape (batch, length, fields); got shape {arr.shape}")
    batch, length, fields = arr.shape
    if fields not in (4, 5):
        raise ValueError(f"ohlcv must have 4 or 5 fields (OHLC[V]); got {fields}")
    if length < 64:
        raise ValueError(f"series need at least 64 bars for the metrics; got {length}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    use_volume = bool(has_volume) and fields == 5

    names = METRIC_NAMES + EXTRA_NAMES
    out = {name: np.empty(batch, dtype=np.float64) for name in names}
    if batch == 0:
        return out
    plan = _plan(length - 1)
    step = max(1, _CHUNK_ELEMENTS // length)
    kernel = _compiled if engine == "compiled" else _kernel
    with np.errstate(all="ignore"):
        for start in range(0, batch, step):
            stop = min(batch, start + step)
            part = kernel(arr[start:stop], plan, use_volume)
            for name in names:
                out[name][start:stop] = part[name]
    return out


def compute_metrics(frame: pd.DataFrame) -> pd.Series:
    """Compute every metric of one OHLCV frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns Open, High, Low, Close and optionally Volume (other columns are ignored), at least
        :data:`MIN_ROWS` rows, positive finite prices.

    Returns
    -------
    pandas.Series
        Float values indexed by :data:`METRIC_NAMES` followed by ``ljung_box_stat`` and
        ``arch_lm_stat``, named ``"metrics"``. Without a Volume column the volume metrics are NaN.

    Raises
    ------
    InputDataError
        If a price column is missing, there are fewer than :data:`MIN_ROWS` rows, or a value is
        not a positive finite number (a negative or non-finite volume).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputDataError(
            f"<DataFrame>: expected a pandas DataFrame, got {type(frame).__name__}"
        )
    missing = [c for c in _OHLCV[:4] if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise InputDataError(
            f"<DataFrame>: missing column(s) {', '.join(missing)}; "
            f"need Open, High, Low, Close (and optionally Volume); have {have}"
        )
    if len(frame) < MIN_ROWS:
        raise InputDataError(
            f"<DataFrame>: {len(frame)} rows; the metrics need at least {MIN_ROWS} rows"
        )
    columns = [c for c in _OHLCV if c in frame.columns]
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        try:
            values[:, j] = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise InputDataError(f"<DataFrame>: column {col} is not numeric") from None
        column = values[:, j]
        bad = ~np.isfinite(column) | ((column < 0) if col == "Volume" else (column <= 0))
        if bad.any():
            rows = ", ".join(map(str, frame.index[np.flatnonzero(bad)[:5]]))
            what = "non-negative" if col == "Volume" else "positive"
            raise InputDataError(
                f"<DataFrame>: column {col} must be finite and {what}; first offending rows: {rows}"
            )
    result = compute_metrics_batch(values[None], has_volume="Volume" in columns)
    names = METRIC_NAMES + EXTRA_NAMES
    return pd.Series([float(result[n][0]) for n in names], index=list(names), name="metrics")


class _Plan:
    """Constants that depend only on the number of returns ``n`` (cached per length, read-only)."""

    def __init__(self, n: int) -> None:
        self.n = n
        windows = np.unique(
            np.floor(np.logspace(np.log10(10), np.log10(n // 4), 10)).astype(np.int64)
        )
        self.hurst_windows = [int(w) for w in windows if n // w >= 1]
        self.hurst_steps = [np.arange(1, w + 1, dtype=np.float64) for w in self.hurst_windows]
        self.hurst_window_array = np.asarray(self.hurst_windows, dtype=np.int64)
        self.log_windows = np.log(np.asarray(self.hurst_windows, dtype=np.float64))
        self.tail_k = max(_TAIL_MIN_K, int(np.floor(_TAIL_FRACTION * n)))
        virtual = _VAR_LEVEL * (n - 1)
        self.var_lo = int(np.floor(virtual))
        self.var_hi = min(self.var_lo + 1, n - 1)
        self.var_frac = virtual - self.var_lo
        self.kth = sorted({self.var_lo, self.var_hi, self.tail_k})
        self.n_vol_windows = n // _VOL_WINDOW
        # ARCH: head[u] pairs (u, u + d) and tail pairs counted from the end, for d = 0..p
        p = _MAX_LAG
        d = np.arange(p + 1)[:, None]
        u = np.arange(p)[None, :]
        self.arch_head = (u + 0 * d, u + d)
        self.arch_tail = (n - 1 - d - u, n - 1 - u + 0 * d)
        jj, kk = np.triu_indices(p + 1)
        self.arch_pairs = (jj, kk, kk - jj)
        # Wilder's average as a blocked linear recurrence (see _wilder_average)
        decay = 1.0 - 1.0 / _RSI_PERIOD
        i = np.arange(_IIR_BLOCK)
        lower = i[:, None] >= i[None, :]
        power = np.where(lower, i[:, None] - i[None, :], 0)
        self.iir_matrix = np.where(lower, decay**power / _RSI_PERIOD, 0.0).T.copy()
        self.iir_carry = decay ** (i + 1.0)
        self.iir_block_decay = decay**_IIR_BLOCK
        self.iir_blocks = -(-n // _IIR_BLOCK)
        for value in vars(self).values():  # shared between threads through the cache
            if isinstance(value, np.ndarray):
                value.flags.writeable = False


@functools.lru_cache(maxsize=16)
def _plan(n: int) -> _Plan:
    """The (immutable) plan for ``n`` returns; series lengths repeat, so it is cached."""
    return _Plan(n)


_IIR_BLOCK = 16  # block length of the blocked recurrence: 2 * 16 flops a value in one GEMM


class _Workspace(threading.local):
    """Scratch arrays of the kernel, one set per thread, grown on demand and reused."""

    def __init__(self) -> None:
        self.buffers: dict[str, Float64Array] = {}

    def array(self, name: str, shape: tuple[int, ...]) -> Float64Array:
        """An uninitialised float64 array of ``shape`` backed by the buffer ``name``."""
        size = int(np.prod(shape))
        buf = self.buffers.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(size)
            if size <= _KEEP_ELEMENTS:
                self.buffers[name] = buf
        return buf[:size].reshape(shape)


_WORKSPACE = _Workspace()


def _kernel(block: Float64Array, plan: _Plan, use_volume: bool) -> dict[str, Float64Array]:
    """All metrics of one sub-batch ``block`` of shape (b, length, fields)."""
    ws = _WORKSPACE
    n = plan.n
    b = block.shape[0]
    # Contiguous copies of the fields first: transcendental functions on strided views are
    # several times slower than on contiguous memory.
    close = ws.array("close", (b, n + 1))
    np.copyto(close, block[:, :, 3])
    log_close = ws.array("log_close", (b, n + 1))
    np.log(close, out=log_close)
    r = ws.array("r", (b, n))
    np.subtract(log_close[:, 1:], log_close[:, :-1], out=r)

    # --- moments of r ------------------------------------------------------------------
    mean_r = r.sum(axis=1) / n
    # x (demeaned returns), xa (demeaned |r|) and sc (centred r^2) side by side, so the lagged
    # dot products of all three run as one vecdot call per lag
    stack = ws.array("stack", (3, b, n))
    x, xa, sc = stack
    np.subtract(r, mean_r[:, None], out=x)
    x2 = np.multiply(x, x, out=ws.array("x2", (b, n)))
    ss = x2.sum(axis=1)
    m2 = ss / n
    m3 = np.vecdot(x2, x) / n
    m4 = np.vecdot(x2, x2) / n
    flat = m2 <= (np.finfo(np.float64).eps * mean_r) ** 2  # scipy's precision-loss rule
    skewness = np.where(flat, np.nan, m3 / m2**1.5)
    kurtosis = np.where(flat, np.nan, m4 / m2**2 - 3.0)
    volatility = np.sqrt(ss / (n - 1))

    # --- lagged dot products: returns, |returns|, squared returns (for ARCH) ------------
    np.abs(r, out=xa)
    xa -= (xa.sum(axis=1) / n)[:, None]
    np.multiply(r, r, out=sc)
    sc -= (sc.sum(axis=1) / n)[:, None]  # centring only for accuracy: R^2 is shift-invariant
    lagdots = np.empty((_MAX_LAG + 1, 3, b))
    lagdots[0, 0] = ss
    lagdots[0, 1:] = np.vecdot(stack[1:], stack[1:])
    for k in range(1, _MAX_LAG + 1):
        lagdots[k] = np.vecdot(stack[:, :, :-k], stack[:, :, k:])
    acf_r = lagdots[1:, 0] / lagdots[0, 0]  # (10, b)
    acf_a = lagdots[1:, 1] / lagdots[0, 1]
    lags = np.arange(1, _MAX_LAG + 1, dtype=np.float64)
    lb_stat = n * (n + 2.0) * _sum_lags(acf_r**2 / (n - lags)[:, None])
    arch_stat = _arch_lm(sc, lagdots[:, 2].T, plan)

    # --- prefix sums of demeaned returns and their squares: Hurst, vol windows, corr --
    prefixes = ws.array("prefixes", (2, b, n + 1))
    prefixes[:, :, 0] = 0.0
    np.cumsum(x, axis=1, out=prefixes[0, :, 1:])
    np.cumsum(x2, axis=1, out=prefixes[1, :, 1:])
    prefix, prefix2 = prefixes
    hurst = _hurst(prefix, prefix2, m2, plan, work=x2)  # x2 is not needed any more

    # --- correlations -------------------------------------------------------------------
    # leverage: corr(r_t, |r_{t+1}|) over n - 1 pairs, from the full-sample sums of x and xa
    leverage = _corr_from_sums(
        np.vecdot(x[:, :-1], xa[:, 1:]),
        prefix[:, n] - x[:, -1],
        ss - x[:, -1] ** 2,
        xa.sum(axis=1) - xa[:, 0],
        lagdots[0, 1] - xa[:, 0] ** 2,
        n - 1,
    )
    if use_volume:
        lv = ws.array("x2", (b, n))  # reuse: Hurst is done with it
        np.copyto(lv, abnormal_log_volume(block[:, :, 4])[:, 1:])
        lv -= (lv.sum(axis=1) / n)[:, None]
        vv_corr = _safe_ratio(np.vecdot(lv, xa), np.sqrt(np.vecdot(lv, lv) * lagdots[0, 1]))
    else:
        vv_corr = np.full(b, np.nan)
    rsi_corr = _rsi_correlation(close, x, prefix, prefix2, plan, ws)

    # --- order statistics: VaR, ES, Hill --------------------------------------------------
    var_1pct, es_1pct, tail_index = _tail_metrics(r, plan, ws)

    # --- prices ---------------------------------------------------------------------------
    peak = np.maximum.accumulate(log_close, axis=1, out=close)  # close is not needed any more
    peak -= log_close
    max_drawdown = -np.expm1(-peak.max(axis=1))
    ratio = np.divide(block[:, :, 1], block[:, :, 2], out=log_close)
    intrabar = np.log(ratio, out=ratio).sum(axis=1) / (n + 1)

    return {
        "volatility": volatility,
        "skewness": skewness,
        "kurtosis": kurtosis,
        "max_drawdown": max_drawdown,
        "acf_lag1": acf_r[0],
        "acf_sum_10": _sum_lags(acf_r),
        "vol_clustering": _sum_lags(acf_a) / _MAX_LAG,
        "hurst": hurst,
        "ljung_box_p": special.chdtrc(_MAX_LAG, lb_stat),
        "arch_lm_p": special.chdtrc(_MAX_LAG, arch_stat),
        "rsi_correlation": rsi_corr,
        "vol_persistence": _vol_persistence(prefix, prefix2, mean_r, plan),
        "leverage_effect": leverage,
        "volume_volatility_corr": vv_corr,
        "var_1pct": var_1pct,
        "es_1pct": es_1pct,
        "intrabar_range": intrabar,
        "tail_index": tail_index,
        "ljung_box_stat": lb_stat,
        "arch_lm_stat": arch_stat,
    }


@functools.cache
def _compiled_kernel():
    """:mod:`pipeline.core.kernel`, imported on first use: importing numba takes a few tenths
    of a second that ``import pipeline`` should not pay."""
    from pipeline.core import kernel

    return kernel


def _compiled(block: Float64Array, plan: _Plan, use_volume: bool) -> dict[str, Float64Array]:
    """All metrics of one sub-batch ``block`` (b, length, fields) by the compiled kernel."""
    kernel = _compiled_kernel()
    ws = _WORKSPACE
    b, length, _ = block.shape
    logs = ws.array("logs", (3 if use_volume else 2, 1, length))
    table = np.empty((b, kernel.N_OUT))
    cov = np.empty((b, _MAX_LAG + 1, _MAX_LAG + 1))
    # One candidate at a time: its bars, logarithms and scratch arrays stay in the core's cache
    # from one step to the next.
    for i in range(b):
        one = block[i : i + 1]
        kernel.prepare_logs(one, use_volume, logs)
        # NumPy's SIMD logarithms: several times faster than the libm calls compiled code makes
        np.log(logs[:2], out=logs[:2])
        if use_volume:
            np.log1p(logs[2], out=logs[2])
        kernel.metrics_kernel(one, logs, use_volume, plan.hurst_window_array, plan.log_windows,
                              plan.tail_k, plan.var_lo, plan.var_hi, plan.var_frac,
                              table[i : i + 1], cov[i : i + 1])
    out = {name: table[:, j] for j, name in enumerate(kernel.OUT_NAMES)}
    out["arch_lm_stat"] = _lm_from_cov(cov, plan.n - _MAX_LAG)
    out["ljung_box_p"] = special.chdtrc(_MAX_LAG, out["ljung_box_stat"])
    out["arch_lm_p"] = special.chdtrc(_MAX_LAG, out["arch_lm_stat"])
    return out


def _safe_ratio(num: Float64Array, den: Float64Array) -> Float64Array:
    """``num / den`` where ``den > 0``, NaN elsewhere (a zero variance)."""
    ok = den > 0
    return np.where(ok, num / np.where(ok, den, 1.0), np.nan)


def _corr_from_sums(
    sab: Float64Array,
    sa: Float64Array,
    saa: Float64Array,
    sb: Float64Array,
    sbb: Float64Array,
    m: int,
) -> Float64Array:
    """Pearson correlation from raw sums of nearly centred sequences of length ``m``."""
    cov = sab - sa * sb / m
    var_a = saa - sa * sa / m
    var_b = sbb - sb * sb / m
    ok = (var_a > 0) & (var_b > 0)
    return _safe_ratio(cov, np.where(ok, np.sqrt(np.abs(var_a * var_b)), 0.0))


def _arch_lm(sc: Float64Array, full_dots: Float64Array, plan: _Plan) -> Float64Array:
    """Engle's LM statistic ``(n - p) R^2`` from centred squared returns ``sc`` (b, n).

    ``full_dots[:, d] = sum_u sc_u sc_{u+d}`` over the whole series. The regression uses rows
    ``t = p .. n-1``; column ``j`` (``j = 0`` the regressand, ``1..p`` the lags) is
    ``sc[p-j : n-j]``. Its cross products are the full lag-``d`` sums minus a few products at
    each end, so the normal equations cost ``p + 1`` dot products instead of a lag matrix.
    """
    p = _MAX_LAG
    b, n = sc.shape
    nobs = n - p
    # head[:, d, u] = sc_u sc_{u+d}; tail[:, d, i] = the i-th lag-d product from the end
    head = sc[:, plan.arch_head[0]] * sc[:, plan.arch_head[1]]
    tail = sc[:, plan.arch_tail[0]] * sc[:, plan.arch_tail[1]]
    head_cum = np.zeros((b, p + 1, p + 1))
    np.cumsum(head, axis=2, out=head_cum[:, :, 1:])  # [:, d, m]: sum of the first m
    tail_cum = np.zeros((b, p + 1, p + 1))
    np.cumsum(tail, axis=2, out=tail_cum[:, :, 1:])  # [:, d, m]: sum of the last m
    jj, kk, dd = plan.arch_pairs
    # column j drops the first p - j and the last j of the lag-d products (d = k - j, u = t - k)
    upper = full_dots[:, dd] - head_cum[:, dd, p - kk] - tail_cum[:, dd, jj]
    gram = np.empty((b, p + 1, p + 1))
    gram[:, jj, kk] = upper
    gram[:, kk, jj] = upper
    # column sums: all of sc minus its first p - j and its last j values
    edge = np.zeros((b, 2, p + 1))
    np.cumsum(sc[:, :p], axis=1, out=edge[:, 0, 1:])
    np.cumsum(sc[:, : n - p - 1 : -1], axis=1, out=edge[:, 1, 1:])
    j = np.arange(p + 1)
    col_sum = sc.sum(axis=1)[:, None] - edge[:, 0, p - j] - edge[:, 1, j]
    cov = gram - col_sum[:, :, None] * col_sum[:, None, :] / nobs  # centred cross products
    return _lm_from_cov(cov, nobs)


def _lm_from_cov(cov: Float64Array, nobs: int) -> Float64Array:
    """``nobs R^2`` of the ARCH regressions from their centred cross products.

    ``cov[:, j, k]`` (``j, k = 0 .. p``; 0 the regressand, ``1..p`` the lags) are the centred
    cross products of the regression's columns over its ``nobs`` rows.
    """
    p = _MAX_LAG
    tss = cov[:, 0, 0]
    lhs = cov[:, 1:, 1:]
    rhs = cov[:, 1:, 0]
    # Scale to a correlation matrix: better conditioned, and a zero-variance column shows up.
    diag = np.diagonal(lhs, axis1=1, axis2=2)
    ok = (tss > 0) & np.all(diag > 0, axis=1)
    scale = 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))
    lhs = lhs * scale[:, :, None] * scale[:, None, :]
    rhs = rhs * scale
    lhs[~ok] = np.eye(p)
    try:
        beta = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        # An exactly singular system (e.g. squared returns repeating a short pattern): the
        # least-squares fit is still defined; take the pseudo-inverse, as OLS does.
        beta = (np.linalg.pinv(lhs) @ rhs[:, :, None])[:, :, 0]
    r2 = _safe_ratio(np.sum(beta * rhs, axis=1), np.where(ok, tss, 0.0))
    return nobs * r2


def _hurst(
    prefix: Float64Array,
    prefix2: Float64Array,
    var: Float64Array,
    plan: _Plan,
    work: Float64Array,
) -> Float64Array:
    """R/S Hurst exponent from prefix sums of demeaned returns and of their squares.

    Within a chunk starting at ``a``, ``y_j = P_{a+j} - P_a - j mu`` with ``mu`` the chunk mean,
    so ``R = max_j (P_{a+j} - j mu) - min_j (P_{a+j} - j mu)``: one detrending pass per window
    size; the chunk means and variances come from the prefix sums at the chunk edges. ``work``
    is a scratch array of at least ``b * n`` values.
    """
    b = prefix.shape[0]
    n = plan.n
    work = work.reshape(-1)
    log_rs = np.empty((b, len(plan.hurst_windows)))
    for i, (w, steps) in enumerate(zip(plan.hurst_windows, plan.hurst_steps, strict=True)):
        nw = n // w
        m = nw * w
        mu = np.diff(prefix[:, 0 : m + 1 : w], axis=1) / w  # (b, nw)
        chunk_var = np.diff(prefix2[:, 0 : m + 1 : w], axis=1) / w - mu * mu
        path = prefix[:, 1 : m + 1].reshape(b, nw, w)
        if nw >= w:
            # many short chunks: put the position in the chunk on the middle axis so the
            # max/min reductions run over long contiguous rows
            buf = work[: b * m].reshape(b, w, nw)
            np.multiply(steps[None, :, None], mu[:, None, :], out=buf)
            np.subtract(path.transpose(0, 2, 1), buf, out=buf)
            rng = buf.max(axis=1)
            rng -= buf.min(axis=1)
        else:
            buf = work[: b * m].reshape(b, nw, w)
            np.multiply(mu[:, :, None], steps, out=buf)
            np.subtract(path, buf, out=buf)
            rng = buf.max(axis=2)
            rng -= buf.min(axis=2)
        valid = chunk_var > _FLAT_CHUNK * var[:, None]
        ratio = np.divide(rng, np.sqrt(chunk_var, where=valid, out=np.ones_like(mu)))
        count = valid.sum(axis=1)
        mean_rs = np.sum(ratio, axis=1, where=valid) / np.maximum(count, 1)
        log_rs[:, i] = np.where(count > 0, np.log(mean_rs), np.nan)
    use = np.isfinite(log_rs)
    cnt = use.sum(axis=1)
    safe = np.maximum(cnt, 1)
    mx = np.where(use, plan.log_windows, 0.0).sum(axis=1) / safe
    ly = np.where(use, log_rs, 0.0)
    my = ly.sum(axis=1) / safe
    dx = np.where(use, plan.log_windows - mx[:, None], 0.0)
    sxx = np.sum(dx * dx, axis=1)
    slope = _safe_ratio(np.sum(dx * (ly - my[:, None]), axis=1), sxx)
    return np.where(cnt >= 2, slope, np.nan)


def _vol_persistence(
    prefix: Float64Array, prefix2: Float64Array, mean_r: Float64Array, plan: _Plan
) -> Float64Array:
    """acf_1 of the log realized volatility of 21-bar windows."""
    nv = plan.n_vol_windows
    m = nv * _VOL_WINDOW
    d1 = np.diff(prefix[:, 0 : m + 1 : _VOL_WINDOW], axis=1)
    d2 = np.diff(prefix2[:, 0 : m + 1 : _VOL_WINDOW], axis=1)
    # r = x + mean: sum r^2 = sum x^2 + 2 mean sum x + w mean^2
    mean_sq = (d2 + 2.0 * mean_r[:, None] * d1) / _VOL_WINDOW + (mean_r * mean_r)[:, None]
    v = 0.5 * np.log(np.maximum(mean_sq, _VOL_FLOOR))
    v -= v.mean(axis=1, keepdims=True)
    return _safe_ratio(np.vecdot(v[:, :-1], v[:, 1:]), np.vecdot(v, v))


def _wilder_average(padded: Float64Array, n: int, plan: _Plan, ws: _Workspace) -> Float64Array:
    """``ewm(alpha=1/14, adjust=False).mean()`` along the last axis, for the first ``n`` values.

    ``padded`` has shape (..., blocks * B) with zeros after the first ``n`` values (trailing
    zeros do not change earlier outputs). The recurrence ``y_t = c y_{t-1} + alpha x_t``
    (``c = 1 - alpha``, ``y_0 = x_0``) is linear, so it is evaluated in blocks of ``B`` values:
    one matrix product gives every block's response from a zero start, a short recurrence over
    the block ends (factor ``c^B``) carries the state from block to block, and one pass adds
    ``c^(i+1)`` times the carried state. About 5x faster than ``scipy.signal.lfilter`` here,
    same values to rounding.
    """
    lead = padded.shape[:-1]
    nb = plan.iir_blocks
    first = padded[..., :1]
    # one GEMM over all blocks of all series: (rows, B) @ (B, B)
    zero_start = ws.array("iir", padded.shape)
    np.matmul(
        padded.reshape(-1, _IIR_BLOCK),
        plan.iir_matrix,
        out=zero_start.reshape(-1, _IIR_BLOCK),
    )
    blocks = zero_start.reshape(lead + (nb, _IIR_BLOCK))
    # state before each block: s_{-1} = x_0 makes y_0 = c x_0 + alpha x_0 = x_0
    state = np.empty(lead + (nb,))
    state[..., 0] = first[..., 0]
    if nb > 1:
        state[..., 1:], _ = signal.lfilter(
            [1.0],
            [1.0, -plan.iir_block_decay],
            blocks[..., :-1, -1],
            axis=-1,
            zi=plan.iir_block_decay * first,
        )
    blocks += state[..., None] * plan.iir_carry
    return zero_start[..., :n]


def _rsi_correlation(
    close: Float64Array,
    x: Float64Array,
    prefix: Float64Array,
    prefix2: Float64Array,
    plan: _Plan,
    ws: _Workspace,
) -> Float64Array:
    """corr(RSI_t, r_{t+1}) with Wilder's RSI(14).

    Averages are linear, so with ``G`` and ``L`` the averaged gains and losses,
    ``G - L`` and ``G + L`` are the averages of ``d`` and ``|d|``, and
    ``RSI / 100 - 1/2 = (G - L) / (2 (G + L))``. The correlation is invariant to the affine map,
    so it is computed on ``u = avg(d) / avg(|d|)`` (0 where both averages are 0, RSI = 50),
    which is centred near zero: the one-pass sums below lose no precision.
    """
    b = close.shape[0]
    n = plan.n
    moves = ws.array("moves", (2, b, plan.iir_blocks * _IIR_BLOCK))
    moves[:, :, n:] = 0.0
    np.subtract(close[:, 1:], close[:, :-1], out=moves[0, :, :n])
    np.abs(moves[0, :, :n], out=moves[1, :, :n])
    avg = _wilder_average(moves, n, plan, ws)
    w0 = _RSI_PERIOD - 1
    net = avg[0, :, w0 : n - 1]
    total = avg[1, :, w0 : n - 1]
    # where both averages are 0 the net average is 0 too, so u = 0 / tiny = 0 (RSI = 50)
    u = np.maximum(total, np.finfo(np.float64).tiny, out=moves[0, :, : n - 1 - w0])
    np.divide(net, u, out=u)
    nxt = x[:, w0 + 1 :]  # r_{t+1} demeaned over the whole series
    return _corr_from_sums(
        np.vecdot(u, nxt),
        u.sum(axis=1),
        np.vecdot(u, u),
        prefix[:, n] - prefix[:, w0 + 1],
        prefix2[:, n] - prefix2[:, w0 + 1],
        n - 1 - w0,
    )


def _tail_metrics(
    r: Float64Array, plan: _Plan, ws: _Workspace
) -> tuple[Float64Array, Float64Array, Float64Array]:
    """VaR and ES at 1 % and the Hill tail index, from one partial sort of each row."""
    k = plan.tail_k
    part = ws.array("x2", r.shape)  # free again after the volume correlation
    np.copyto(part, r)
    part.partition(plan.kth, axis=1)
    lo = part[:, plan.var_lo]
    hi = part[:, plan.var_hi]
    t = plan.var_frac
    diff = hi - lo  # numpy.quantile's linear interpolation, formula for formula
    var = lo + diff * t if t < 0.5 else hi - diff * (1.0 - t)
    # every r <= var sits in the first k + 1 partitioned places unless part[:, k] ties with var
    head = part[:, : k + 1]
    below = head <= var[:, None]
    es = np.sum(head, axis=1, where=below) / below.sum(axis=1)
    tied = part[:, k] <= var
    if tied.any():
        rows = r[tied]
        mask = rows <= var[tied, None]
        es[tied] = np.sum(rows, axis=1, where=mask) / mask.sum(axis=1)
    threshold = -part[:, k]  # x_(k+1), the (k+1)-th largest loss
    ok = threshold > 0
    losses = np.where(ok[:, None], -part[:, :k], 1.0)
    mean_log = np.log(losses).sum(axis=1) / k - np.log(np.where(ok, threshold, 1.0))
    tail = _safe_ratio(np.ones_like(mean_log), np.where(ok, mean_log, 0.0))
    return var, es, tail


def cross_asset_metrics(closes: Mapping[str, Float64Array]) -> dict[str, Float64Array]:
    """Correlations between the assets of a batch, pair by pair.

    Parameters
    ----------
    closes : mapping of symbol to ndarray, shape (batch, length)
        Close prices of each asset, aligned bar by bar.

    Returns
    -------
    dict of str to ndarray, shape (batch,)
        ``corr:A|B``: Pearson correlation of the two assets' log-returns; ``abs_corr:A|B``: of
        their absolute log-returns (co-movement of volatility), for every pair ``A`` before
        ``B`` in the mapping's order.
    """
    symbols = list(closes)
    returns = {}
    for s in symbols:
        c = np.asarray(closes[s], dtype=np.float64)
        returns[s] = np.diff(np.log(c), axis=1)
    out: dict[str, Float64Array] = {}

    def corr(a: Float64Array, b: Float64Array) -> Float64Array:
        # Row-wise sums over the last axis: each row's result does not depend on the batch.
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))

    for i, s in enumerate(symbols):
        for t in symbols[i + 1 :]:
            out[f"corr:{s}|{t}"] = corr(returns[s], returns[t])
            out[f"abs_corr:{s}|{t}"] = corr(np.abs(returns[s]), np.abs(returns[t]))
    return out
