"""Purged, blocked cross-validation folds of real and synthetic windows.

See "Purged, blocked cross-validation" and "The calibration row" in :mod:`pipeline.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.evaluation.features import WINDOW, _Series, window_features
from pipeline.evaluation.verbatim import _copied_stretches

__all__ = [
    "purged_folds",
    "calibration_folds",
]


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
