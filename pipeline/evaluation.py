"""Evidence that synthetic series are (or are not) like the real one: pure functions on arrays.

Used by the fidelity report (:mod:`pipeline.report`), ``benchmarks/classifier_panel.py`` and the
notebooks. Nothing here imports Dask or the web stack; numpy, scipy and scikit-learn only.

* :func:`verbatim_share` — how much of a synthetic series is the original replayed verbatim.
* :func:`classifier_two_sample_test` — can a classifier tell real windows from synthetic ones,
  under purged, blocked cross-validation, beside :func:`calibration_test`, the same test of the
  real series against itself (the floor its own non-stationarity produces).
* :func:`predictive_score` — train on synthetic, test on real, on the same purged folds.
* :func:`gaussian_random_walk` — the outside baseline every honest test must reject.

Bar features
------------
Each bar ``t >= 1`` of a series becomes four scale-free numbers (:data:`BAR_FEATURES`):
``log_return = log(C_t / C_{t-1})``, ``log_range = log(H_t / L_t)``, ``log_body = log(C_t / O_t)``
and ``dlog_volume = log(1 + V_t) - log(1 + V_{t-1})`` (left out when a series has no volume).
A *window* is ``W`` consecutive bars (default 24) of these features, given to a classifier
whole: an array ``(W, channels)``. Several assets put their channels side by side
(``SYM:log_return``, ...), so a window also carries how the assets move together.

Purged, blocked cross-validation
--------------------------------
The real series' windows are split into ``K`` contiguous folds. For test fold ``k`` (rows
``[a, b)``), test windows lie inside ``[a, b)`` and training windows end at least ``gap >= W``
rows before ``a`` or start ``gap`` rows after ``b`` (:func:`purged_folds`): no training window
overlaps or touches a test window. Synthetic windows are split by scenario (all of a
scenario's windows are in training or all in test; scenarios are dealt to the ``K`` folds at
random). A block bootstrap's bars are copies of the original's, so its windows are also traced
to the original rows they came from (verbatim stretches of two or more returns, as for the
verbatim share, or the generator's own row indices given as ``sources``: a GARCH-filtered bar
has a new return but the range, body shape and volume of the bar it was drawn from). A
synthetic *training* window holding a bar from ``[a - gap, b + gap)`` is dropped, and so is a
synthetic *test* window holding a bar from outside ``[a, b)``. Without that, copies of the real
test windows would sit in the synthetic training class (and copies of real training windows in
the synthetic test class): a classifier that memorizes them scores *below* chance for no reason
but the leak, and one that learns what a stretch of history looked like calls the held-out
stretch synthetic. Untraced windows (new paths, lone iid copies) are split by scenario only.

Classes are balanced in training and in test (equal windows per class, subsampled at random
with the seed). Per fold the held-out **balanced accuracy** and **ROC AUC** are recorded; the
result is their mean over folds with a Student-t interval (``mean +- t s / sqrt(K)``).

Classifiers
-----------
``gbm``: gradient-boosted trees (scikit-learn ``HistGradientBoostingClassifier``) on the
flattened window (``W x channels`` numbers). ``rocket``: a random convolutional kernel
transform (:class:`RocketTransform`, after ROCKET, Dempster, Petitjean & Webb 2020) followed by
a ridge classifier with the penalty chosen by leave-one-out cross-validation: a recognised
time-series classifier that sees patterns along time (bursts of range, runs of returns) that a
tree on bar positions finds hard.

The calibration row (the floor)
-------------------------------
:func:`calibration_test` runs the same protocol with both classes real: the real series is cut
into short blocks (four windows long) labelled alternately A and B, each block belongs to the
time fold its centre falls in, and fold ``k``'s A windows are tested against its B windows
after training on the other folds' (:func:`calibration_folds`; the cut is made twice, shifted
by half a block, for ``2K`` folds). Windows stay half a window inside their block, so windows
of different blocks are at least a window apart. Its fold values give the **floor**: the
interval a ``K``-fold mean of a generator that *is* the real process would fall in,
``0.5 +- t d / sqrt(K)`` (``d`` the calibration folds' root-mean-square distance from 0.5,
``t`` Student's quantile with as many degrees of freedom as calibration folds). A method's mean
AUC (per classifier)

* above the floor is **distinguishable** (the classifier finds something real windows do not
  have, beyond what the market's own changes produce),
* inside it is **not distinguishable** (this test cannot tell it from another stretch of the real
  series; it is not a proof of equality: a longer series or another classifier may), and
* below both the floor and 0.5 is **dominated by non-stationarity**: held-out real windows look
  *less* like the real training folds than the synthetic ones do, which says the market changed
  between folds, not that the generator is better than real. It is not a score.

What the calibration can show: how far from 0.5 a classifier's held-out AUC strays when both
classes are the same market, under the same purging, window length, fold count and
classifiers; on a short series (a few hundred bars) that is far, and the test can then reject
only gross differences. What it cannot show: that the market is stationary, that a method
inside the floor has the real process's law (a longer series, another classifier or other
features may tell them apart), or how wide the floor would be on another series.

References
----------
* Lopez-Paz & Oquab (2017), Revisiting classifier two-sample tests, ICLR.
* López de Prado (2018), Advances in Financial Machine Learning, ch. 7 (purged k-fold
  cross-validation).
* Dempster, Petitjean & Webb (2020), ROCKET: exceptionally fast and accurate time series
  classification using random convolutional kernels, Data Min. Knowl. Disc. 34, 1454-1495.
* Yoon, Jarrett & van der Schaar (2019), Time-series generative adversarial networks (TimeGAN),
  NeurIPS: the discriminative and predictive scores (random split of overlapping windows of
  min-max scaled prices, a protocol that cannot judge whole-path generators: see
  docs/methodology.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "WINDOW",
    "MIN_RUN",
    "BAR_FEATURES",
    "CLASSIFIERS",
    "DISTINGUISHABLE",
    "NOT_DISTINGUISHABLE",
    "NON_STATIONARY",
    "verbatim_share",
    "bar_features",
    "window_features",
    "purged_folds",
    "calibration_folds",
    "RocketTransform",
    "FoldScores",
    "Calibration",
    "TwoSampleResult",
    "PredictiveResult",
    "calibration_test",
    "classifier_two_sample_test",
    "predictive_score",
    "bars_from_returns",
    "gaussian_random_walk",
]

#: Bars per window in the indistinguishability tests (as in the published benchmarks).
WINDOW = 24
#: Shortest stretch of returns copied from the original that counts as verbatim.
MIN_RUN = 20
#: The per-bar features, in channel order (``dlog_volume`` only when there is volume).
BAR_FEATURES = ("log_return", "log_range", "log_body", "dlog_volume")
#: The classifiers of the two-sample test.
CLASSIFIERS = ("gbm", "rocket")
DISTINGUISHABLE = "distinguishable"
NOT_DISTINGUISHABLE = "not distinguishable"
NON_STATIONARY = "dominated by non-stationarity"

_OHLC = ("Open", "High", "Low", "Close")
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so windows differing in one id differ in hash
_ATOL = 1e-11  # two returns are the same bar's when they differ by rounding only


# --------------------------------------------------------------------------------------------
# Verbatim share
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Bars and features
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------


def purged_folds(n_rows: int, n_folds: int = 5, window: int = WINDOW, gap: int | None = None
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Purged, blocked folds of the windows of a series of ``n_rows`` feature rows.

    Parameters
    ----------
    n_rows : int
        Rows (bars) of the series.
    n_folds : int, default 5
        ``K`` contiguous folds of (nearly) equal length.
    window : int, default 24
        Rows per window.
    gap : int, optional
        Rows left out on each side of the test fold; at least (and by default) ``window``.

    Returns
    -------
    list of (train_starts, test_starts)
        Per fold, the start rows of the training and the test windows. A test window lies inside
        its fold ``[a, b)``; a training window ends at least ``gap`` rows before ``a`` or starts
        at least ``gap`` rows after ``b``, so none overlaps or touches a test window.
    """
    gap = window if gap is None else int(gap)
    if gap < window:
        raise ValueError(f"gap must be at least one window ({window} rows), got {gap}")
    if n_folds < 2 or n_rows < n_folds * window:
        raise ValueError(f"{n_rows} rows cannot make {n_folds} folds of {window}-row windows")
    edges = _fold_edges(n_rows, n_folds)
    starts = np.arange(n_rows - window + 1)
    return [(starts[(starts + window <= a - gap) | (starts >= b + gap)],
             starts[(starts >= a) & (starts + window <= b)])
            for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _fold_edges(n_rows: int, n_folds: int) -> np.ndarray:
    return np.linspace(0, n_rows, n_folds + 1).round().astype(np.int64)


def calibration_folds(n_rows: int, n_folds: int = 5, window: int = WINDOW
                      ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Folds of the real-against-real calibration (see the module notes).

    The rows are cut into short blocks (``4 window`` rows, ``3 window`` when a fold would hold
    fewer than two pairs) labelled alternately A and B, and each block belongs to the time fold
    its centre falls in; windows stay ``ceil(window / 2)`` rows inside their block, so windows
    of different blocks are at least a window apart. Fold ``k`` tests fold ``k``'s A windows
    against its B windows, interleaved over the same stretch of time, after training on the
    other folds' A and B windows. The cut is made twice, the second time shifted by half a
    block, for ``2 n_folds`` folds.

    Returns
    -------
    list of (train_a, train_b, test_a, test_b)
        Window start rows per fold (a fold without test windows of both classes is dropped).
    """
    block = 4 * window if n_rows >= 8 * window * n_folds else 3 * window
    inner = (window + 1) // 2
    folds = []
    for offset in (0, block // 2):
        lo = np.arange(offset, n_rows - block + 1, block)
        starts = [np.arange(u + inner, u + block - inner - window + 1) for u in lo]
        fold = np.minimum(((lo + block / 2) * n_folds / n_rows).astype(int), n_folds - 1)
        label = np.arange(len(lo)) % 2

        def rows(mask: np.ndarray, starts: list = starts) -> np.ndarray:
            picked = [starts[j] for j in np.flatnonzero(mask)]
            return np.concatenate(picked) if picked else np.empty(0, np.int64)

        for k in range(n_folds):
            test_a, test_b = rows((fold == k) & (label == 0)), rows((fold == k) & (label == 1))
            if len(test_a) and len(test_b):
                folds.append((rows((fold != k) & (label == 0)), rows((fold != k) & (label == 1)),
                              test_a, test_b))
    if len(folds) < n_folds:
        raise ValueError(f"{n_rows} rows are too few for a calibration of {n_folds} folds with "
                         f"{window}-row windows")
    return folds


def _synthetic_rows(traces: Sequence[np.ndarray], test: bool, scenarios: np.ndarray, a: int,
                    b: int, gap: int, window: int) -> np.ndarray:
    """(scenario, start) rows of the synthetic windows usable in one fold.

    A test window may hold bars copied from the test fold ``[a, b)`` only; a training window
    none copied from the purged zone ``[a - gap, b + gap)``. Bars not copied from the original
    (``-1`` in ``traces``) are free: for them only the split by scenario applies.
    """
    rows = [np.empty((0, 2), np.int64)]
    for i in scenarios:
        src = traces[i]
        traced = src >= 0
        bad = (traced & ((src < a) | (src >= b)) if test
               else traced & (src >= a - gap) & (src < b + gap))
        c = np.r_[0, np.cumsum(bad)]
        starts = np.flatnonzero(c[window:] - c[:-window] == 0)
        rows.append(np.c_[np.full(len(starts), i), starts])
    return np.concatenate(rows)


def _source_rows(sources: np.ndarray, n_rows: int) -> np.ndarray:
    """Original feature rows of a synthetic series' feature rows, from the original bar each
    synthetic bar was built from (``-1``: none)."""
    bars = np.asarray(sources, dtype=np.int64).ravel()
    if len(bars) != n_rows + 1:
        raise ValueError(f"sources: expected one source bar per synthetic bar ({n_rows + 1}), "
                         f"got {len(bars)}")
    return _copied_stretches(np.where(bars[1:] >= 1, bars[1:] - 1, -1))


def _take(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= n:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=n, replace=False))]


def _gather(series: Sequence[_Series], rows: np.ndarray, window: int) -> np.ndarray:
    """Windows of several series from (series, start) rows, in row order."""
    out = np.empty((len(rows), window, series[0].features.shape[1]))
    for i in np.unique(rows[:, 0]):
        sel = rows[:, 0] == i
        out[sel] = window_features(series[i].features, rows[sel, 1], window)
    return out


# --------------------------------------------------------------------------------------------
# Classifiers
# --------------------------------------------------------------------------------------------


class RocketTransform:
    """Random convolutional kernels over windows, after ROCKET (Dempster et al. 2020).

    Each kernel has a length of 7, 9 or 11, normal weights on a random subset of the channels
    (``2^U(0, log2(C + 1))`` of them, as in the multivariate ROCKET), a bias ``U(-1, 1)``, a
    dilation ``floor(2^U(0, log2((W - 1) / (length - 1))))`` and, for half the kernels,
    padding that keeps the output as long as the window. A window's features are, per kernel,
    the proportion of positive outputs (PPV) and the maximum output: ``2 n_kernels`` numbers.

    Two choices differ from ROCKET, for this data: the weights are not centred to sum to zero,
    and the windows are not z-normalized one by one (channels are standardized once, by the
    real series' robust scale, in :func:`classifier_two_sample_test`): the *level* of a bar
    feature (how wide the bars' ranges are, how large the moves) is what generators get wrong,
    and ROCKET's normalizations would hide it.

    Parameters
    ----------
    n_channels, window : int
        Shape of the windows ``(window, n_channels)`` it will transform.
    n_kernels : int, default 200
    seed : int or numpy.random.Generator
    """

    def __init__(self, n_channels: int, window: int, n_kernels: int = 200,
                 seed: int | np.random.Generator = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_channels, self.window, self.n_kernels = int(n_channels), int(window), n_kernels
        specs: dict[tuple[int, int, int], list] = {}
        for kernel in range(n_kernels):
            length = int(rng.choice([7, 9, 11]))
            top = math.log2((window - 1) / (length - 1)) if window > length else 0.0
            dilation = int(2 ** rng.uniform(0, top))
            padding = (length - 1) * dilation // 2 if rng.integers(2) else 0
            if window + 2 * padding < (length - 1) * dilation + 1:
                padding = (length - 1) * dilation // 2  # a short window needs the padding
            n_used = min(n_channels, int(2 ** rng.uniform(0, math.log2(n_channels + 1))))
            used = rng.choice(n_channels, n_used, replace=False)
            weights = np.zeros((length, n_channels))
            weights[:, used] = rng.normal(0.0, 1.0, (length, n_used))
            specs.setdefault((length, dilation, padding), []).append(
                (kernel, weights.ravel(), rng.uniform(-1.0, 1.0)))
        # Kernels of one (length, dilation, padding) share the unfolded windows: one matrix
        # product per group and chunk of windows instead of a loop over kernels.
        self._groups = [(key, np.array([k for k, _, _ in group]),
                         np.stack([w for _, w, _ in group], axis=1),
                         np.array([b for _, _, b in group]))
                        for key, group in sorted(specs.items())]

    def transform(self, windows: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Features ``(n, 2 n_kernels)`` of windows ``(n, window, n_channels)``: PPV, max."""
        windows = np.asarray(windows, dtype=float)
        n, w, c = windows.shape
        if (w, c) != (self.window, self.n_channels):
            raise ValueError(f"expected windows of shape (n, {self.window}, {self.n_channels}),"
                             f" got {windows.shape}")
        out = np.empty((n, 2 * self.n_kernels))
        for (length, dilation, padding), kernels, weights, bias in self._groups:
            padded = np.pad(windows, ((0, 0), (padding, padding), (0, 0)))
            steps = w + 2 * padding - (length - 1) * dilation
            pos = np.arange(steps)[:, None] + dilation * np.arange(length)[None, :]
            for lo in range(0, n, chunk):
                part = padded[lo : lo + chunk][:, pos, :]  # (m, steps, length, channels)
                conv = part.reshape(-1, length * c) @ weights + bias
                conv = conv.reshape(len(part), steps, len(kernels))
                out[lo : lo + chunk, 2 * kernels] = (conv > 0).mean(axis=1)
                out[lo : lo + chunk, 2 * kernels + 1] = conv.max(axis=1)
        return out


class _Classifier:
    """One of :data:`CLASSIFIERS`, fitted on windows ``(n, W, C)``; ``score`` ranks "real"."""

    def __init__(self, name: str, seed: int) -> None:
        if name not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {name!r}; allowed: {', '.join(CLASSIFIERS)}")
        self.name, self.seed = name, seed

    def _inputs(self, windows: np.ndarray) -> np.ndarray:
        if self.name == "gbm":
            return windows.reshape(len(windows), -1)
        return self._rocket.transform(windows)

    def fit(self, windows: np.ndarray, labels: np.ndarray) -> _Classifier:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import RidgeClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.name == "gbm":
            # 64 bins and 100 trees: as decisive on the baselines as 255 bins and 200 trees
            # (measured on the panel), at a third of the time.
            self.model = HistGradientBoostingClassifier(
                max_iter=100, learning_rate=0.1, max_leaf_nodes=15, max_bins=64,
                early_stopping=False, random_state=self.seed)
        else:
            self._rocket = RocketTransform(windows.shape[2], windows.shape[1], seed=self.seed)
            self.model = make_pipeline(StandardScaler(),
                                       RidgeClassifierCV(alphas=np.logspace(-1, 4, 11)))
        self.model.fit(self._inputs(windows), labels)
        return self

    def score(self, windows: np.ndarray) -> np.ndarray:
        x = self._inputs(windows)
        if self.name == "gbm":
            return self.model.predict_proba(x)[:, 1]
        return self.model.decision_function(x)

    @property
    def threshold(self) -> float:
        return 0.5 if self.name == "gbm" else 0.0


def _held_out(clf: _Classifier, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Balanced accuracy and ROC AUC of ``clf`` on windows ``x`` with labels ``y`` (1: real)."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    s = clf.score(x)
    return (float(balanced_accuracy_score(y, s > clf.threshold)), float(roc_auc_score(y, s)))


def _importance(clf: _Classifier, x: np.ndarray, y: np.ndarray, auc: float,
                rng: np.random.Generator, repeats: int) -> np.ndarray:
    """Per channel: held-out AUC minus the AUC with that channel's rows shuffled across windows."""
    from sklearn.metrics import roc_auc_score

    out = np.zeros(x.shape[2])
    for c in range(x.shape[2]):
        for _ in range(repeats):
            shuffled = x.copy()
            shuffled[:, :, c] = x[rng.permutation(len(x)), :, c]
            out[c] += auc - roc_auc_score(y, clf.score(shuffled))
    return out / repeats


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _t_interval(values: Sequence[float], scale: float, level: float = 0.95
                ) -> tuple[float, float, float]:
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = float(t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) * scale)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class FoldScores:
    """One classifier's held-out scores, fold by fold.

    ``importance`` maps each channel to its mean held-out AUC drop when the channel is shuffled
    across test windows (empty when not computed).
    """

    classifier: str
    balanced_accuracy: tuple[float, ...]
    auc: tuple[float, ...]
    importance: dict[str, float] = field(default_factory=dict)

    def interval(self, stat: str = "auc", level: float = 0.95) -> tuple[float, float, float]:
        """Mean over folds and the Student-t interval ``mean +- t s / sqrt(folds)``."""
        values = getattr(self, stat)
        return _t_interval(values, 1 / math.sqrt(len(values)), level)


@dataclass(frozen=True)
class Calibration:
    """The real series against itself (:func:`calibration_test`): the floor."""

    window: int
    channels: tuple[str, ...]
    scores: dict[str, FoldScores]
    n_train: int  # windows per class and fold (mean)
    n_test: int

    def floor(self, classifier: str, n_folds: int, stat: str = "auc",
              level: float = 0.95) -> tuple[float, float]:
        """Interval a ``n_folds``-fold mean of a generator that is the real process falls in.

        ``0.5 +- t d sqrt(1 / n_folds)``, ``d`` the root-mean-square distance of the ``n_c``
        calibration folds from 0.5 and ``t`` Student's quantile with ``n_c`` degrees of freedom.
        It is centred on 0.5 because the two real classes are exchangeable: whatever one
        labelling of the blocks leans (a few points, by chance, when a class happens to hold
        more of the calm stretches) is part of the spread, not a level to compare against.
        """
        from scipy.stats import t

        values = np.asarray(getattr(self.scores[classifier], stat), dtype=float)
        d = math.sqrt(float(np.mean((values - 0.5) ** 2)))
        half = float(t.ppf(0.5 + level / 2, len(values)) * d / math.sqrt(n_folds))
        return 0.5 - half, 0.5 + half


@dataclass(frozen=True)
class TwoSampleResult:
    """The purged two-sample test of one set of synthetic series against the real one.

    ``verdicts`` holds each classifier's verdict (its mean AUC against its floor, the
    calibration's interval); ``verdict`` is the strongest of them (distinguishable by either
    classifier wins, then dominated by non-stationarity). ``top_feature`` is the channel
    whose shuffling costs the most AUC, averaged over the classifiers.
    """

    window: int
    n_folds: int  # folds evaluated (a fold short of windows is skipped)
    channels: tuple[str, ...]
    scores: dict[str, FoldScores]
    calibration: Calibration
    floors: dict[str, tuple[float, float]]
    verdicts: dict[str, str]
    verdict: str
    top_feature: str | None
    n_train: int  # windows per class and fold (mean)
    n_test: int


def _verdict(mean: float, floor: tuple[float, float]) -> str:
    lo, hi = floor
    if mean > max(hi, 0.5):
        return DISTINGUISHABLE
    if mean < min(lo, 0.5):
        return NON_STATIONARY
    return NOT_DISTINGUISHABLE


def _cross_validate(folds: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                    classifiers: Sequence[str], channels: Sequence[str], seed: int,
                    attribution: bool, repeats: int = 1) -> dict[str, FoldScores]:
    """Fit and score every classifier on every fold ``(x_train, y_train, x_test, y_test)``."""
    from threadpoolctl import threadpool_limits

    out = {}
    for name in classifiers:
        rng = np.random.default_rng([seed, CLASSIFIERS.index(name)])
        accuracy, auc, importance = [], [], np.zeros(len(channels))
        # One thread: the data are small, and OpenMP threads that spin while other processes
        # hold the cores (a busy CI machine, Dask workers) made a fit 5-10 times slower.
        with threadpool_limits(1):
            for x_train, y_train, x_test, y_test in folds:
                clf = _Classifier(name, seed).fit(x_train, y_train)
                acc, a = _held_out(clf, x_test, y_test)
                accuracy.append(acc)
                auc.append(a)
                if attribution:
                    importance += _importance(clf, x_test, y_test, a, rng, repeats)
        out[name] = FoldScores(
            name, tuple(accuracy), tuple(auc),
            dict(zip(channels, (importance / len(folds)).tolist(), strict=True))
            if attribution else {})
    return out


def _balanced(real: np.ndarray, other: np.ndarray, cap: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, int]:
    n = min(len(real), len(other), cap)
    return _take(real, n, rng), _take(other, n, rng), n


def _robust_scale(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel median and scaled MAD of the real series (1 where a channel is constant)."""
    centre = np.median(features, axis=0)
    mad = 1.4826 * np.median(np.abs(features - centre), axis=0)
    sd = features.std(axis=0)
    return centre, np.where(mad > 1e-12, mad, np.where(sd > 1e-12, sd, 1.0))


def _fold_data(x_real: np.ndarray, x_other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([x_real, x_other]),
            np.r_[np.ones(len(x_real)), np.zeros(len(x_other))])


def calibration_test(
    original: Any,
    *,
    window: int = WINDOW,
    n_folds: int = 5,
    classifiers: Sequence[str] = CLASSIFIERS,
    max_train: int = 3000,
    max_test: int = 1000,
    seed: int = 0,
) -> Calibration:
    """The real series against itself: the floor of what its own non-stationarity produces.

    Parameters
    ----------
    original : OHLCV frame, (bars, 4|5) array or mapping of symbol to frame
    window, n_folds, classifiers, max_train, max_test, seed
        As for :func:`classifier_two_sample_test`.

    Returns
    -------
    Calibration
        Per classifier, the ``2 n_folds`` folds of :func:`calibration_folds`.

    Notes
    -----
    What it can show: how far from 0.5 a classifier's held-out score strays when both classes
    are the same market at different times, with the same purging, window counts and
    classifiers; a method inside that range is not distinguishable *by this test*. What it
    cannot show: that the real process is stationary, or that a method inside the floor has
    the real process's law (a longer series, another classifier or other features may tell them
    apart), nor how large the floor would be for a window length, fold count or series it was
    not run on.
    """
    real, _, channels = _prepare(original, [])
    rng = np.random.default_rng([seed, 1])
    centre, scale = _robust_scale(real.features)
    feats = (real.features - centre) / scale
    folds, n_train, n_test = [], [], []
    for tr_a, tr_b, te_a, te_b in calibration_folds(len(feats), n_folds, window):
        tr_a, tr_b, nt = _balanced(tr_a, tr_b, max_train, rng)
        te_a, te_b, ne = _balanced(te_a, te_b, max_test, rng)
        n_train.append(nt)
        n_test.append(ne)
        folds.append((*_fold_data(window_features(feats, tr_a, window),
                                  window_features(feats, tr_b, window)),
                      *_fold_data(window_features(feats, te_a, window),
                                  window_features(feats, te_b, window))))
    scores = _cross_validate(folds, classifiers, channels, seed, attribution=False)
    return Calibration(window, channels, scores, int(np.mean(n_train)), int(np.mean(n_test)))


def classifier_two_sample_test(
    original: Any,
    synthetic: Sequence[Any],
    *,
    window: int = WINDOW,
    n_folds: int = 5,
    classifiers: Sequence[str] = CLASSIFIERS,
    calibration: Calibration | None = None,
    attribution: bool = True,
    sources: Sequence[np.ndarray] | None = None,
    max_train: int = 3000,
    max_test: int = 1000,
    seed: int = 0,
) -> TwoSampleResult:
    """Can a classifier tell real windows from synthetic ones? Purged, blocked, calibrated.

    Parameters
    ----------
    original : OHLCV frame, (bars, 4|5) array or mapping of symbol to frame
        The real series (several assets: their channels side by side).
    synthetic : sequence of OHLCV frames, arrays or mappings
        The synthetic series (at least ``n_folds``), of the original's shape per bar; an
        array of several assets holds their OHLC[V] columns side by side.
    window : int, default 24
        Bars per window.
    n_folds : int, default 5
        Contiguous folds of the real series (:func:`purged_folds`, gap of one window).
    classifiers : sequence of str, default ("gbm", "rocket")
    calibration : Calibration, optional
        The floor from :func:`calibration_test` with the same window, classifiers and
        original; computed here when not given (pass it to test many methods on one series).
    attribution : bool, default True
        Compute each channel's permutation importance on the held-out folds.
    max_train, max_test : int
        Windows per class and fold in training and in test (subsampled at random).
    seed : int
        Seeds the scenario folds, the subsampling, the classifiers and the attribution.

    Returns
    -------
    TwoSampleResult

    Raises
    ------
    ValueError
        Too few scenarios, or too few windows for the folds.
    """
    real, synth, channels = _prepare(original, synthetic)
    if len(synth) < n_folds:
        raise ValueError(f"the test splits scenarios into {n_folds} folds: give at least "
                         f"{n_folds} synthetic series, got {len(synth)}")
    if calibration is None:
        calibration = calibration_test(original, window=window, n_folds=n_folds,
                                       classifiers=classifiers, max_train=max_train,
                                       max_test=max_test, seed=seed)
    elif calibration.channels != channels or calibration.window != window:
        raise ValueError("the calibration was made for other channels or another window")
    rng = np.random.default_rng([seed, 2])
    centre, scale = _robust_scale(real.features)
    real = _Series((real.features - centre) / scale, real.returns)
    synth = [_Series((s.features - centre) / scale, s.returns) for s in synth]
    traces = ([_trace(real.returns, s.returns) for s in synth] if sources is None
              else [_source_rows(src, len(s.features)) for src, s in zip(sources, synth, strict=True)])
    dealt = rng.permutation(len(synth)) % n_folds
    edges = _fold_edges(len(real.features), n_folds)
    folds, n_train, n_test = [], [], []
    for k, (train, test) in enumerate(purged_folds(len(real.features), n_folds, window)):
        a, b = edges[k], edges[k + 1]
        s_train = _synthetic_rows(traces, False, np.flatnonzero(dealt != k), a, b, window,
                                  window)
        s_test = _synthetic_rows(traces, True, np.flatnonzero(dealt == k), a, b, window,
                                 window)
        train, s_train, nt = _balanced(train, s_train, max_train, rng)
        test, s_test, ne = _balanced(test, s_test, max_test, rng)
        if nt < 10 or ne < 10:
            continue  # a short series' fold may hold almost no held-out synthetic windows
        n_train.append(nt)
        n_test.append(ne)
        folds.append((*_fold_data(window_features(real.features, train, window),
                                  _gather(synth, s_train, window)),
                      *_fold_data(window_features(real.features, test, window),
                                  _gather(synth, s_test, window))))
    if len(folds) < 2:
        raise ValueError(f"too few {window}-bar windows for a two-sample test: fewer than two "
                         f"of {n_folds} folds hold 10 windows per class; the series are too "
                         "short")
    scores = _cross_validate(folds, classifiers, channels, seed, attribution)
    floors = {c: calibration.floor(c, len(folds)) for c in classifiers}
    verdicts = {c: _verdict(scores[c].interval()[0], floors[c]) for c in classifiers}
    overall = next((v for v in (DISTINGUISHABLE, NON_STATIONARY) if v in verdicts.values()),
                   NOT_DISTINGUISHABLE)
    top = None
    if attribution:
        mean_drop = np.mean([[scores[c].importance[ch] for ch in channels]
                             for c in classifiers], axis=0)
        top = channels[int(np.argmax(mean_drop))]
    return TwoSampleResult(window, len(folds), channels, scores, calibration, floors, verdicts,
                           overall, top, int(np.mean(n_train)), int(np.mean(n_test)))


# --------------------------------------------------------------------------------------------
# Train on synthetic, test on real
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictiveResult:
    """Mean absolute errors of next-bar |return| prediction on held-out real windows (pooled
    over the purged folds)."""

    tstr_mae: float  # trained on synthetic, tested on real
    trtr_mae: float  # trained on real, tested on real
    constant_mae: float  # predicting the mean |return| of the real training windows
    n_train_synthetic: int  # windows per fold (mean)
    n_train_real: int
    n_test: int  # held-out real windows, all folds


def predictive_score(
    original: Any,
    synthetic: Sequence[Any],
    *,
    window: int = WINDOW,
    n_folds: int = 5,
    max_train: int = 4000,
    seed: int = 0,
) -> PredictiveResult:
    """Train on synthetic, test on real (TSTR) next-bar absolute-return prediction.

    A ridge regression (features standardized, ``alpha = 1``) predicts ``|r|`` of a bar from the
    ``window - 1`` absolute returns before it (``window`` returns per window, as in the
    published predictive score). On each purged fold of :func:`purged_folds` it is trained on
    synthetic windows (TSTR) and on the real training windows (TRTR), and both are tested on the
    fold's real windows; errors are pooled over folds. Synthetic training windows holding a bar
    copied from the held-out fold or its gaps are left out (as in
    :func:`classifier_two_sample_test`), so no held-out bar reaches either model. The constant
    reference predicts the mean ``|r|`` of the real training windows.
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng([seed, 3])
    real, synth, _ = _prepare(original, synthetic)
    traces = [_trace(real.returns, s.returns) for s in synth]
    absolute = [_Series(np.abs(s.returns)[:, None], s.returns) for s in synth]
    x_real = np.abs(real.returns)[:, None]
    edges = _fold_edges(len(x_real), n_folds)
    errors: dict[str, list[np.ndarray]] = {"tstr": [], "trtr": [], "constant": []}
    n_syn, n_real = [], []
    for k, (train, test) in enumerate(purged_folds(len(x_real), n_folds, window)):
        rows = _take(_synthetic_rows(traces, False, np.arange(len(synth)), edges[k],
                                     edges[k + 1], window, window), max_train, rng)
        w_syn = _gather(absolute, rows, window)[:, :, 0]
        w_real = window_features(x_real, _take(train, max_train, rng), window)[:, :, 0]
        w_test = window_features(x_real, test, window)[:, :, 0]
        if min(len(w_syn), len(w_real), len(w_test)) < 10:
            raise ValueError("too few windows for the predictive score; the series are too "
                             "short")
        for name, w in (("tstr", w_syn), ("trtr", w_real)):
            model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(w[:, :-1], w[:, -1])
            errors[name].append(np.abs(model.predict(w_test[:, :-1]) - w_test[:, -1]))
        errors["constant"].append(np.abs(w_test[:, -1] - w_real[:, -1].mean()))
        n_syn.append(len(w_syn))
        n_real.append(len(w_real))
    mae = {k: float(np.concatenate(v).mean()) for k, v in errors.items()}
    return PredictiveResult(mae["tstr"], mae["trtr"], mae["constant"], int(np.mean(n_syn)),
                            int(np.mean(n_real)), int(sum(len(e) for e in errors["tstr"])))


# --------------------------------------------------------------------------------------------
# Baseline
# --------------------------------------------------------------------------------------------


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
