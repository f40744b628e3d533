"""Compiled (numba) kernels of the hot paths: the metrics, block joins and reconstruction.

:func:`pipeline.core.metrics.compute_metrics_batch` computes every metric of a candidate in a
few passes over its bars here, instead of the dozens of whole-batch NumPy passes of the NumPy
reference implementation (``engine="numpy"``), which stays as the definition the compiled kernel
is tested against. The functions are compiled on first use with ``cache=True`` (worker
processes load the machine code from ``__pycache__``) and ``nogil=True`` (threads of one
process run them in parallel).

Transcendental functions stay in NumPy: its SIMD ``log``, ``log1p`` and ``exp`` are three to
five times faster than the scalar ``libm`` calls compiled code makes, and the series built by
:func:`pipeline.core.reconstruction.reconstruct` must stay bit for bit what NumPy computes. The
compiled code does the rest: gathers, sums, recurrences, order statistics.

Sums run in index order with a few independent accumulators (no ``fastmath``), so a candidate's
values depend only on its own bars: never on the batch it came in, nor on the machine's vector
width. They differ from the reference's pairwise sums in the last bits only.

This module imports numba; :mod:`pipeline.core.metrics` imports it lazily, on the first call.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from pipeline.core.metrics import (
    _FLAT_CHUNK,
    _MAX_LAG,
    _RSI_PERIOD,
    _VOL_FLOOR,
    _VOL_WINDOW,
    VOLUME_TREND_WINDOW,
)

__all__ = [
    "N_OUT",
    "OUT_NAMES",
    "prepare_logs",
    "metrics_kernel",
    "join_starts",
    "fill_blocks",
    "gather_cumsum",
    "assemble_bars",
]

_JIT = dict(cache=True, nogil=True, error_model="numpy")

#: Columns of :func:`metrics_kernel`'s output table, in order (the p-values are computed from
#: the statistics afterwards, in NumPy).
OUT_NAMES = (
    "volatility", "skewness", "kurtosis", "max_drawdown", "acf_lag1", "acf_sum_10",
    "vol_clustering", "hurst", "rsi_correlation", "vol_persistence", "leverage_effect",
    "volume_volatility_corr", "var_1pct", "es_1pct", "tail_index", "intrabar_range",
    "ljung_box_stat",
)
N_OUT = len(OUT_NAMES)

# The definitions' constants, from the module that defines the metrics (compiled in as
# constants).
_P = _MAX_LAG  # lags of the ACF sums and tests
_VOLUME_HALF = VOLUME_TREND_WINDOW // 2
_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny


@numba.njit(**_JIT)
def prepare_logs(ohlcv, use_volume, out):  # pragma: no cover - compiled
    """Contiguous copies of what the logs are taken of: ``out[0] = C``, ``out[1] = H / L`` and
    ``out[2] = max(V, 0)`` (with volume), each ``(batch, length)``; NumPy then takes the logs
    in place."""
    b, length, _ = ohlcv.shape
    for i in range(b):
        for t in range(length):
            out[0, i, t] = ohlcv[i, t, 3]
            out[1, i, t] = ohlcv[i, t, 1] / ohlcv[i, t, 2]
        if use_volume:
            for t in range(length):
                v = ohlcv[i, t, 4]
                out[2, i, t] = v if v > 0.0 else 0.0


@numba.njit(**_JIT)
def _ratio(num, den):  # pragma: no cover - compiled
    """``num / den`` where ``den > 0``, else NaN (metrics._safe_ratio)."""
    return num / den if den > 0.0 else np.nan


@numba.njit(**_JIT)
def _corr_from_sums(sab, sa, saa, sb, sbb, m):  # pragma: no cover - compiled
    """Pearson correlation from raw sums of nearly centred sequences (metrics._corr_from_sums)."""
    cov = sab - sa * sb / m
    var_a = saa - sa * sa / m
    var_b = sbb - sb * sb / m
    if var_a > 0.0 and var_b > 0.0:
        return _ratio(cov, math.sqrt(abs(var_a * var_b)))
    return np.nan


@numba.njit(**_JIT)
def _lag_dots(x, y, n, dots):  # pragma: no cover - compiled
    """``dots[k] = sum_t x_t y_{t+k}`` over ``t < n`` for ``k = 0 .. 10``; ``y`` has 10 zeros
    after its ``n`` values. Eleven independent accumulators: no long dependency chain, and
    each sum in index order."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = 0.0
    for t in range(n):
        v = x[t]
        a0 += v * y[t]
        a1 += v * y[t + 1]
        a2 += v * y[t + 2]
        a3 += v * y[t + 3]
        a4 += v * y[t + 4]
        a5 += v * y[t + 5]
        a6 += v * y[t + 6]
        a7 += v * y[t + 7]
        a8 += v * y[t + 8]
        a9 += v * y[t + 9]
        a10 += v * y[t + 10]
    dots[0], dots[1], dots[2], dots[3], dots[4], dots[5] = a0, a1, a2, a3, a4, a5
    dots[6], dots[7], dots[8], dots[9], dots[10] = a6, a7, a8, a9, a10


@numba.njit(**_JIT)
def _chunk_range(prefix, steps, a, w, mu):  # pragma: no cover - compiled
    """``max_j y_j - min_j y_j`` of ``y_j = P_{a+j} - j mu``, ``j = 1 .. w``: a chunk's R.

    ``steps[j - 1] = j`` as floats: loading ``j`` is a third faster than converting it.
    """
    hi = -np.inf
    lo = np.inf
    for j in range(w):
        y = prefix[a + 1 + j] - steps[j] * mu
        hi = y if y > hi else hi
        lo = y if y < lo else lo
    return hi - lo


@numba.njit(**_JIT)
def _hurst(prefix, prefix2, var, windows, log_windows, steps, log_rs):  # pragma: no cover
    """R/S Hurst exponent from prefix sums of demeaned returns and of their squares
    (``steps``: 1.0, 2.0, ... up to the largest window)."""
    n = prefix.shape[0] - 1
    nwin = windows.shape[0]
    for i in range(nwin):
        w = windows[i]
        total = 0.0
        count = 0
        for c in range(n // w):
            a = c * w
            mu = (prefix[a + w] - prefix[a]) / w
            chunk_var = (prefix2[a + w] - prefix2[a]) / w - mu * mu
            if chunk_var > _FLAT_CHUNK * var:
                total += _chunk_range(prefix, steps, a, w, mu) / math.sqrt(chunk_var)
                count += 1
        log_rs[i] = math.log(total / count) if count > 0 else np.nan
    cnt = 0
    sx = 0.0
    sy = 0.0
    for i in range(nwin):
        if math.isfinite(log_rs[i]):
            cnt += 1
            sx += log_windows[i]
            sy += log_rs[i]
    if cnt < 2:
        return np.nan
    mx = sx / cnt
    my = sy / cnt
    sxx = 0.0
    sxy = 0.0
    for i in range(nwin):
        if math.isfinite(log_rs[i]):
            dx = log_windows[i] - mx
            sxx += dx * dx
            sxy += dx * (log_rs[i] - my)
    return _ratio(sxy, sxx)


@numba.njit(**_JIT)
def _vol_persistence(prefix, prefix2, mean_r, v):  # pragma: no cover - compiled
    """acf_1 of the log realized volatility of 21-bar windows (``v``: scratch of n // 21)."""
    nv = v.shape[0]
    total = 0.0
    for j in range(nv):
        a = j * _VOL_WINDOW
        d1 = prefix[a + _VOL_WINDOW] - prefix[a]
        d2 = prefix2[a + _VOL_WINDOW] - prefix2[a]
        mean_sq = (d2 + 2.0 * mean_r * d1) / _VOL_WINDOW + mean_r * mean_r
        v[j] = 0.5 * math.log(max(mean_sq, _VOL_FLOOR))
        total += v[j]
    mean_v = total / nv
    num = 0.0
    den = 0.0
    for j in range(nv):
        v[j] -= mean_v
        den += v[j] * v[j]
    for j in range(nv - 1):
        num += v[j] * v[j + 1]
    return _ratio(num, den)


@numba.njit(**_JIT)
def _rsi_correlation(close, x, n, moves):  # pragma: no cover - compiled
    """corr(RSI_t, r_{t+1}) with Wilder's RSI(14), on ``u = avg(d) / avg(|d|)`` (see
    metrics._rsi_correlation; RSI is an affine map of it), from the ``n + 1`` closes and the
    ``n`` demeaned returns ``x``. ``moves``: scratch of n values."""
    alpha = 1.0 / _RSI_PERIOD
    decay = 1.0 - alpha
    d = close[1] - close[0]
    net = d
    total = abs(d)
    moves[0] = net / max(total, _TINY)
    for t in range(1, n - 1):
        d = close[t + 1] - close[t]
        net = decay * net + alpha * d
        total = decay * total + alpha * abs(d)
        moves[t] = net / max(total, _TINY)
    w0 = _RSI_PERIOD - 1
    su = suu = sun = sn = snn = 0.0
    for t in range(w0, n - 1):
        u = moves[t]
        nxt = x[t + 1]
        su += u
        suu += u * u
        sun += u * nxt
        sn += nxt
        snn += nxt * nxt
    return _corr_from_sums(sun, su, suu, sn, snn, n - 1 - w0)


@numba.njit(**_JIT)
def _volume_corr(lv, xa, saa, work, u):  # pragma: no cover - compiled
    """corr(u_t, |r_t|) of abnormal log-volume ``u`` (metrics.abnormal_log_volume) and the
    demeaned absolute returns ``xa`` (sum of squares ``saa``); ``lv``: log1p(V), n + 1 bars;
    ``work``: scratch of n + 2 values, ``u`` of n."""
    bars = lv.shape[0]
    mean = 0.0
    for t in range(bars):
        mean += lv[t]
    mean /= bars
    work[0] = 0.0
    for t in range(bars):
        work[t + 1] = work[t] + (lv[t] - mean)
    total = 0.0
    for t in range(1, bars):
        lo = max(t - _VOLUME_HALF, 0)
        hi = min(t + _VOLUME_HALF + 1, bars)
        v = (lv[t] - mean) - (work[hi] - work[lo]) / (hi - lo)
        u[t - 1] = v
        total += v
    mean_u = total / (bars - 1)
    suu = 0.0
    sua = 0.0
    for t in range(bars - 1):
        v = u[t] - mean_u
        suu += v * v
        sua += v * xa[t]
    return _ratio(sua, math.sqrt(suu * saa))


@numba.njit(**_JIT)
def _select(a, lo, hi, k):  # pragma: no cover - compiled
    """Rearrange ``a[lo:hi]`` so that ``a[k]`` is its ``(k - lo)``-th smallest value, with no
    larger value before it and no smaller one after (Wirth's selection, Hoare partitions).

    The order statistic itself is exact whatever the algorithm; this one compiles in a
    fraction of a second where ``numpy.partition`` takes seconds.
    """
    right = hi - 1
    while lo < right:
        pivot = a[k]
        i = lo
        j = right
        while i <= j:
            while a[i] < pivot:
                i += 1
            while pivot < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            right = j


@numba.njit(**_JIT)
def _tail_metrics(r, part, tail_k, var_lo, var_hi, var_frac, out, col):  # pragma: no cover
    """VaR and ES at 1 % and the Hill tail index from the ``k + 1`` lowest returns, selected
    into ``part`` (scratch of n values): no sort, three selections."""
    n = r.shape[0]
    k = tail_k
    part[:n] = r
    _select(part, 0, n, k)  # the k lowest first, the (k+1)-th lowest at k
    _select(part, 0, k, var_hi)  # var_lo < var_hi < k for every n >= 63 (metrics._Plan)
    _select(part, 0, var_hi, var_lo)
    lo = part[var_lo]
    hi = part[var_hi]
    diff = hi - lo  # numpy.quantile's linear interpolation, formula for formula
    var = lo + diff * var_frac if var_frac < 0.5 else hi - diff * (1.0 - var_frac)
    total = 0.0
    count = 0
    if part[k] <= var:  # ties reach past the k + 1 lowest: the mean over the whole series
        for t in range(n):
            if r[t] <= var:
                total += r[t]
                count += 1
    else:
        for i in range(k + 1):
            if part[i] <= var:
                total += part[i]
                count += 1
    threshold = -part[k]  # x_(k+1), the (k+1)-th largest loss
    tail = np.nan
    if threshold > 0.0:
        s = 0.0
        for i in range(k):
            s += math.log(-part[i])
        tail = _ratio(1.0, s / k - math.log(threshold))
    out[col] = var
    out[col + 1] = total / count
    out[col + 2] = tail


@numba.njit(**_JIT)
def _arch_cov(sc, dots, cov):  # pragma: no cover - compiled
    """Centred cross products ``cov`` (11, 11) of the ARCH regression's columns.

    Column ``j`` (0: the regressand, 1..10: the lags) is ``sc[p - j : n - j]``; its cross
    product with column ``k >= j`` is the full lag-``d`` sum ``dots[d]`` (``d = k - j``) less
    its first ``p - k`` and last ``j`` products (metrics._arch_lm).
    """
    n = sc.shape[0]
    p = _P
    nobs = n - p
    total = 0.0
    for t in range(n):
        total += sc[t]
    col_sum = np.empty(p + 1)
    for j in range(p + 1):
        s = total
        for u in range(p - j):
            s -= sc[u]
        for u in range(j):
            s -= sc[n - 1 - u]
        col_sum[j] = s
    for j in range(p + 1):
        for k in range(j, p + 1):
            d = k - j
            g = dots[d]
            for u in range(p - k):
                g -= sc[u] * sc[u + d]
            for i in range(j):
                g -= sc[n - 1 - d - i] * sc[n - 1 - i]
            c = g - col_sum[j] * col_sum[k] / nobs
            cov[j, k] = c
            cov[k, j] = c


@numba.njit(**_JIT)
def metrics_kernel(ohlcv, logs, use_volume, windows, log_windows, tail_k, var_lo, var_hi,
                   var_frac, out, arch_cov):  # pragma: no cover - compiled
    """Every metric but the p-values of each candidate, and its ARCH regression's ``cov``.

    Parameters
    ----------
    ohlcv : (b, length, fields) float64
    logs : (2 or 3, b, length) float64
        ``log C``, ``log(H / L)`` and (with volume) ``log1p(max(V, 0))`` (:func:`prepare_logs`).
    use_volume : bool
    windows, log_windows : int64, float64 arrays
        Hurst window sizes and their logs.
    tail_k, var_lo, var_hi, var_frac
        Hill's ``k`` and the places of the 1 % quantile (metrics._Plan).
    out : (b, N_OUT) float64
        Filled in the order of :data:`OUT_NAMES`.
    arch_cov : (b, 11, 11) float64
        Filled with the centred cross products of each candidate's ARCH regression.
    """
    b = ohlcv.shape[0]
    n = ohlcv.shape[1] - 1
    pad = _P + 1
    x = np.zeros(n + pad)
    xa = np.zeros(n + pad)
    sc = np.zeros(n + pad)
    r = np.empty(n)
    r2 = np.empty(n)
    prefix = np.empty(n + 1)
    prefix2 = np.empty(n + 1)
    scratch = np.empty(n + 2)
    dots = np.empty((3, _P + 1))
    log_rs = np.empty(windows.shape[0])
    vol_v = np.empty(n // _VOL_WINDOW)
    close = np.empty(n + 1)
    steps = np.arange(1.0, n + 1.0)
    for i in range(b):
        lc = logs[0, i]
        # pass 1: returns and their sums; drawdown and intrabar range of the bars
        s_r = 0.0
        s_a = 0.0
        s_q = 0.0
        peak = lc[0]
        deepest = 0.0
        s_hl = logs[1, i, 0]
        close[0] = ohlcv[i, 0, 3]
        for t in range(n):
            rt = lc[t + 1] - lc[t]
            r[t] = rt
            s_r += rt
            s_a += abs(rt)
            s_q += rt * rt
            c = lc[t + 1]
            if c > peak:
                peak = c
            if peak - c > deepest:
                deepest = peak - c
            s_hl += logs[1, i, t + 1]
            close[t + 1] = ohlcv[i, t + 1, 3]
        mean_r = s_r / n
        mean_a = s_a / n
        mean_q = s_q / n
        # pass 2: demeaned returns, |r| and r^2; moments; prefix sums
        ss = 0.0
        s3 = 0.0
        s4 = 0.0
        s_xa = 0.0
        prefix[0] = 0.0
        prefix2[0] = 0.0
        for t in range(n):
            xt = r[t] - mean_r
            x2 = xt * xt
            x[t] = xt
            xa[t] = abs(r[t]) - mean_a
            s_xa += xa[t]
            sc[t] = r[t] * r[t] - mean_q
            ss += x2
            s3 += x2 * xt
            s4 += x2 * x2
            prefix[t + 1] = prefix[t] + xt
            prefix2[t + 1] = prefix2[t] + x2
        m2 = ss / n
        o = out[i]
        o[0] = math.sqrt(ss / (n - 1))
        flat = m2 <= (_EPS * mean_r) ** 2  # scipy's precision-loss rule
        o[1] = np.nan if flat else (s3 / n) / m2**1.5
        o[2] = np.nan if flat else (s4 / n) / m2**2 - 3.0
        o[3] = -math.expm1(-deepest)
        # lagged dot products of x, |x| and the centred squares
        _lag_dots(x, x, n, dots[0])
        _lag_dots(xa, xa, n, dots[1])
        _lag_dots(sc, sc, n, dots[2])
        acf_sum = 0.0
        acf_abs = 0.0
        lb = 0.0
        for k in range(1, _P + 1):
            acf = dots[0, k] / dots[0, 0]
            acf_sum += acf
            acf_abs += dots[1, k] / dots[1, 0]
            lb += acf * acf / (n - k)
        o[4] = dots[0, 1] / dots[0, 0]
        o[5] = acf_sum
        o[6] = acf_abs / _P
        o[7] = _hurst(prefix, prefix2, m2, windows, log_windows, steps, log_rs)
        o[8] = _rsi_correlation(close, x, n, scratch)
        o[9] = _vol_persistence(prefix, prefix2, mean_r, vol_v)
        # leverage: corr(r_t, |r_{t+1}|) over the n - 1 pairs
        lev = 0.0
        for t in range(n - 1):
            lev += x[t] * xa[t + 1]
        o[10] = _corr_from_sums(lev, prefix[n] - x[n - 1], ss - x[n - 1] ** 2,
                                s_xa - xa[0], dots[1, 0] - xa[0] ** 2, n - 1)
        o[11] = _volume_corr(logs[2, i], xa, dots[1, 0], scratch, r2) if use_volume else np.nan
        _tail_metrics(r, r2, tail_k, var_lo, var_hi, var_frac, o, 12)
        o[15] = s_hl / (n + 1)
        o[16] = n * (n + 2.0) * lb
        _arch_cov(sc[:n], dots[2], arch_cov[i])


@numba.njit(**_JIT)
def join_starts(lengths, draws, first, cap, start, size, span, base, order):  # pragma: no cover
    """Block starts of one joined bootstrap candidate (generators.BlockJoins._starts).

    ``first`` is the first block's start, ``cap`` the last start allowed; the arrays are the
    joins' per-row lookup tables. Integer arithmetic and ``int(u * span)`` as in Python, so the
    starts are exactly those of the Python loop.
    """
    n = len(order)
    m_blocks = len(lengths)
    out = np.empty(m_blocks, dtype=np.int64)
    s = min(first, cap)
    out[0] = s
    for i in range(1, m_blocks):
        e = (s + lengths[i - 1] - 1) % n
        k = base[e] + np.int64(draws[i] * span[e])
        m = size[e]
        if k < 0:
            k = -k - 1
        elif k >= m:
            k = 2 * m - 1 - k
        s = order[start[e] + k] + 1
        if s == n:
            s = 0
        if s > cap:
            s = cap
        out[i] = s
    return out


@numba.njit(**_JIT)
def fill_blocks(starts, lengths, n_rows, out):  # pragma: no cover - compiled
    """Rows of a stationary-bootstrap candidate: block ``b`` runs ``lengths[b]`` rows from
    ``starts[b]`` (each in ``[0, n_rows)``), wrapping around the end, until ``out`` is full.
    The same rows as ``(start + j) % n_rows``, without a division per bar."""
    length = out.shape[0]
    pos = 0
    for blk in range(starts.shape[0]):
        row = starts[blk]
        stop = min(pos + lengths[blk], length)
        while pos < stop:
            out[pos] = row
            pos += 1
            row += 1
            if row == n_rows:
                row = 0


@numba.njit(**_JIT)
def gather_cumsum(values, indices, out):  # pragma: no cover - compiled
    """``out[i] = cumsum(values[indices[i]])`` in index order, as ``numpy.cumsum`` adds."""
    b, length = indices.shape
    for i in range(b):
        acc = 0.0
        for t in range(length):
            acc += values[indices[i, t]]
            out[i, t] = acc


@numba.njit(**_JIT)
def assemble_bars(close, start, indices, gap_f, high_f, low_f, volume, out):  # pragma: no cover
    """OHLC[V] bars from exponentiated closes, as reconstruction.reconstruct builds them.

    ``close`` holds ``exp(cumsum(log-returns))`` per candidate; the other arguments are the
    per-row factors of :func:`~pipeline.core.reconstruction.reconstruct` (``volume`` empty
    without volume). Same operations in the same order as the NumPy code, so the same bits.
    """
    tiny = np.finfo(np.float64).tiny
    huge = np.finfo(np.float64).max
    b, length = indices.shape
    with_volume = out.shape[2] == 5
    for i in range(b):
        prev = start[i]
        for t in range(length):
            row = indices[i, t]
            c = min(max(close[i, t] * start[i], tiny), huge)
            o = min(max(prev * gap_f[row], tiny), huge)
            top = o if o >= c else c  # clipped, so never NaN: numpy.maximum's result
            bottom = o if o <= c else c
            h = min(max(high_f[row] * top, tiny), huge)
            lo = min(max(low_f[row] * bottom, tiny), huge)
            out[i, t, 0] = o
            out[i, t, 1] = h if h >= top else top
            out[i, t, 2] = lo if lo <= bottom else bottom
            out[i, t, 3] = c
            if with_volume:
                out[i, t, 4] = volume[row]
            prev = c
