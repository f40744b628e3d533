"""The verbatim share: how much of a synthetic series is the original's returns replayed.

Also traces each synthetic return to the original row it was copied from, which the purged
folds of :mod:`pipeline.evaluation.folds` use to keep copies of test windows out of training.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MIN_RUN",
    "verbatim_share",
]

#: Shortest stretch of returns copied from the original that counts as verbatim.
MIN_RUN = 20

_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so windows differing in one id differ in hash
_ATOL = 1e-11  # two returns are the same bar's when they differ by rounding only


def _match(x: np.ndarray, y: np.ndarray, atol: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match returns ``y`` (batch, m) to the original's ``x`` (n,) within ``atol``.

    Returns the class id of each ``x`` (equal values, i.e. sorted neighbours closer than
    ``atol``, share a class; ids from 1), the class id of each ``y`` (0: not in the original) and
    the index in ``x`` each ``y`` was copied from (-1 when not found or when its value occurs
    more than once in the original, so that the source is ambiguous).
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    class_sorted = np.cumsum(np.r_[True, np.diff(xs) > atol]).astype(np.int64)
    x_class = np.empty(len(x), dtype=np.int64)
    x_class[order] = class_sorted
    single = np.bincount(class_sorted)[class_sorted] == 1
    pos = np.searchsorted(xs, y)
    lo = np.clip(pos - 1, 0, len(xs) - 1)
    hi = np.clip(pos, 0, len(xs) - 1)
    d_lo = np.abs(y - xs[lo])
    d_hi = np.abs(y - xs[hi])
    nearest = np.where(d_lo <= d_hi, lo, hi)
    found = np.minimum(d_lo, d_hi) <= atol
    y_class = np.where(found, class_sorted[nearest], 0)
    y_source = np.where(found & single[nearest], order[nearest], -1)
    return x_class, y_class, y_source


def verbatim_share(
    original_returns: np.ndarray,
    synthetic_returns: np.ndarray,
    *,
    min_run: int = MIN_RUN,
    atol: float = _ATOL,
) -> np.ndarray | float:
    """Share of each synthetic series' bars lying in long verbatim copies of the original.

    Parameters
    ----------
    original_returns : array, shape (n,)
        The original's log-returns ``x``.
    synthetic_returns : array, shape (batch, m) or (m,)
        Synthetic log-returns ``y``, one series per row.
    min_run : int, default 20
        ``K``: the shortest copied stretch that counts.
    atol : float, default 1e-11
        Two returns are equal when they differ by at most ``atol``.

    Returns
    -------
    ndarray of shape (batch,), or float for a 1-D input
        Per series, the fraction of bars ``j`` for which some ``a <= j < a + K`` (with
        ``a + K <= m``) and some ``i`` have ``y_{a+t} = x_{i+t}`` for ``t = 0 .. K-1``.

    Notes
    -----
    The original's returns are grouped into classes of equal values (sorted values closer than
    ``atol`` are one class), each synthetic return is mapped to its class (or to none), and every
    window of ``K`` class ids is hashed with a 64-bit polynomial hash; a synthetic window is
    verbatim when its hash is among the original's window hashes (a false match has probability
    about ``n / 2^64`` per window). Coverage of bars by verbatim windows is a difference-array
    cumulative sum. All steps are vectorized over the batch; cost ``O(batch m (K + log n))``.
    A stretch that wraps from the original's last return to its first is not consecutive in the
    original and is not counted. The tolerance absorbs rounding: a synthetic close is rebuilt as
    ``S exp(cumsum(r))`` and its return recomputed from the closes differs from the resampled one
    by about 1e-15, while distinct returns of real prices differ by far more.
    """
    x = np.asarray(original_returns, dtype=float).ravel()
    y = np.asarray(synthetic_returns, dtype=float)
    one = y.ndim == 1
    y = np.atleast_2d(y)
    batch, m = y.shape
    k = int(min_run)
    if k < 1:
        raise ValueError(f"min_run must be >= 1, got {min_run}")
    x = x[np.isfinite(x)]
    if m < k or len(x) < k:
        out = np.zeros(batch)
        return float(out[0]) if one else out

    x_class, y_class, _ = _match(x, y, atol)
    x_hash = _window_hash(x_class[None, :], k)[0]
    y_hash = _window_hash(y_class, k)
    # A window holding a return that is not in the original cannot be verbatim.
    missing = np.cumsum(np.pad(y_class == 0, ((0, 0), (1, 0))), axis=1)
    clean = (missing[:, k:] - missing[:, :-k]) == 0
    starts = clean & np.isin(y_hash, x_hash)

    cover = np.zeros((batch, m + 1), dtype=np.int64)
    cover[:, : m - k + 1] += starts
    cover[:, k:] -= starts
    verbatim = np.cumsum(cover, axis=1)[:, :m] > 0
    out = verbatim.mean(axis=1)
    return float(out[0]) if one else out


def _window_hash(ids: np.ndarray, k: int) -> np.ndarray:
    """64-bit polynomial hash of every window of ``k`` consecutive ids along axis 1."""
    ids = ids.astype(np.uint64)
    n_win = ids.shape[1] - k + 1
    h = np.zeros((ids.shape[0], n_win), dtype=np.uint64)
    for t in range(k):  # uint64 arithmetic wraps modulo 2**64, which is the hash's modulus
        h = h * _HASH_BASE + ids[:, t : t + n_win]
    return h


def _copied_stretches(src: np.ndarray) -> np.ndarray:
    """``src`` where a row belongs to a stretch of two or more consecutive source rows, else -1.

    A lone copied bar (iid resampling, a one-bar block) is no more memorizable than a new one;
    keeping it would pin almost every window of an iid series to several folds at once.
    """
    run = (src[1:] == src[:-1] + 1) & (src[:-1] >= 0)
    return np.where(np.r_[False, run] | np.r_[run, False], src, -1)


def _trace(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row of ``x`` each return of ``y`` was copied from (verbatim stretches only), or -1."""
    return _copied_stretches(_match(x, y[None, :], _ATOL)[2][0])
