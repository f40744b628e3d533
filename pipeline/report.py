"""The fidelity report of a finished run: one self-contained HTML file.

:func:`write_report` reads a run's output directory (``manifest.json``, the series files) and the
run's original input, and writes ``report.html``: plots as inline base64 PNG (matplotlib, Agg),
inline CSS, no external asset, readable offline. Sections:

1. **Run** — run id, input, method, block size, series, fidelity, threshold.
2. **Price paths** — fan chart of the synthetic closes (5–95 % and 25–75 % bands, median, a few
   sample paths) over the original close.
3. **Returns** — density of the close log-returns (pooled synthetic vs original, linear and log
   scale) and a QQ plot.
4. **Dependence** — ACF of returns and of absolute returns, lags 1–40: the original as a line, the
   synthetic series as a 5–95 % band across series.
5. **Metrics** — each metric's distribution across scenarios with the original's value marked,
   and a table (original, synthetic min/median/max, weight, spread).
6. **Scores and drawdowns** — fidelity histogram with ``min_fidelity``; max drawdown histogram.
7. **Diversity** — how different the scenarios are from one another and from the original
   (:func:`verbatim_share`).
8. **Indistinguishability** — a classifier two-sample test (:func:`classifier_two_sample_test`)
   and train-on-synthetic / test-on-real prediction (:func:`predictive_score`).

The numbers of sections 7 and 8 are also embedded as JSON in
``<script type="application/json" id="report-data">`` for tools that read reports.

Definitions
-----------
*Log-returns.* ``r_t = log(C_t / C_{t-1})``. A synthetic series' first return is taken against
the run's start price (the close before its first bar), so it has as many returns as bars.

*Verbatim share* (:func:`verbatim_share`). A bar ``j`` of a synthetic series is *verbatim* if it
lies inside a stretch of at least ``min_run`` (20) consecutive returns ``y_a .. y_{a+K-1}`` that
equals some consecutive stretch ``x_i .. x_{i+K-1}`` of the original's returns. The share is the
fraction of a series' bars that are verbatim. Returns are compared with an absolute tolerance of
``atol = 1e-11``, not bit for bit: a synthetic close is rebuilt as ``S exp(cumsum(r))`` and its
return recomputed from the closes differs from the resampled one by rounding (measured: up to
about 1e-15; exact equality finds only about two thirds of copied returns), while distinct
returns of real prices differ by far more (about 1e-8 at the least on the samples).

*Windows* (section 8). ``W = 24`` consecutive bars. Features of a window starting at bar ``s``:
``log(O_t / C_s)``, ``log(H_t / C_s)``, ``log(L_t / C_s)``, ``log(C_t / C_s)`` for its 24 bars
(the OHLC path relative to the window's first close: scale-free, level-free), and, when the input
has volume, the z-scores of ``log(1 + V_t)`` within the window (mean 0, standard deviation 1; all
0 for a constant volume).

*Train/test split by history* (section 8). The original's bars are cut into chunks of ``4 W``
bars and 30 % of the chunks are held out. Every synthetic bar is traced to the original bar it
was copied from (its close log-return matched as for the verbatim share); a window, real or
synthetic, is a training window when all its bars come from training chunks, a test window when
all come from held-out chunks, and is dropped otherwise. A block-bootstrap series is made of
copies of the original's bars: split by series alone, copies of held-out real windows would sit
in the synthetic training class and a flexible classifier memorizes them (on the 750-bar sample
that gave accuracy 0.37, AUC 0.30: worse than chance). Bars not found in the original (other
generators) fall back to chunks of their own series.

References
----------
* Yoon, Jarrett & van der Schaar (2019), Time-series generative adversarial networks (TimeGAN),
  NeurIPS: the discriminative and predictive scores.
* Yuan & Qiao (2024), Diffusion-TS: interpretable diffusion for general time series generation,
  ICLR, Table 1: discriminative scores on 24-step windows of daily stock data (TimeGAN 0.102,
  Diffusion-TS 0.067).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import InputDataError
from pipeline.io.writers import OutputStore

__all__ = [
    "REPORT",
    "build_report",
    "write_report",
    "verbatim_share",
    "window_features",
    "classifier_two_sample_test",
    "predictive_score",
    "TwoSampleResult",
    "PredictiveResult",
]

#: Default file name of the report in a run's output directory.
REPORT = "report.html"
#: Bars per window in the indistinguishability tests (as in the published benchmarks).
WINDOW = 24
#: Shortest stretch of returns copied from the original that counts as verbatim.
MIN_RUN = 20
#: Lags of the ACF plots.
ACF_LAGS = 40
#: Published discriminative scores on 24-step windows of daily stock data (not measured here).
PUBLISHED_DISCRIMINATIVE: tuple[tuple[str, float], ...] = (("TimeGAN", 0.102),
                                                          ("Diffusion-TS", 0.067))
_MANIFEST = "manifest.json"
_FORMAT_PREFERENCE = ("parquet", "csv", "xlsx")
_OHLC = ("Open", "High", "Low", "Close")
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so windows differing in one id differ in hash
_SYN = "#1f77b4"
_ORIG = "#d62728"


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
    atol: float = 1e-11,
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
    original and is not counted.
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


# --------------------------------------------------------------------------------------------
# Indistinguishability
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoSampleResult:
    """Held-out result of the classifier two-sample test."""

    accuracy: float
    auc: float
    discriminative_score: float  # |accuracy - 0.5|
    n_train: int  # windows per class
    n_test: int  # windows per class
    n_features: int


@dataclass(frozen=True)
class PredictiveResult:
    """Mean absolute errors of next-bar |return| prediction on held-out real windows."""

    tstr_mae: float  # trained on synthetic, tested on real
    trtr_mae: float  # trained on real, tested on real
    constant_mae: float  # predicting the mean |return| of the real training windows
    n_train_synthetic: int
    n_train_real: int
    n_test: int


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


def window_features(bars: Any, starts: np.ndarray, window: int = WINDOW,
                    volume: bool = True) -> np.ndarray:
    """Features of the windows of ``bars`` starting at ``starts`` (see the module notes).

    Returns an array of shape ``(len(starts), 4 window [+ window])``: the log-ratios of the
    bars' Open, High, Low and Close to the window's first close, then (``volume`` and volume
    present) the within-window z-scores of ``log(1 + Volume)``.
    """
    bars = _as_bars(bars)
    starts = np.asarray(starts, dtype=np.int64)
    idx = starts[:, None] + np.arange(window)[None, :]
    logp = np.log(bars[:, :4])
    rel = logp[idx] - logp[starts, 3][:, None, None]  # (n, window, 4)
    feats = [rel.transpose(0, 2, 1).reshape(len(idx), 4 * window)]
    if volume and _has_volume(bars):
        lv = np.log1p(np.maximum(bars[:, 4], 0.0))[idx]
        sd = lv.std(axis=1, keepdims=True)
        z = (lv - lv.mean(axis=1, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)
        feats.append(z)
    return np.concatenate(feats, axis=1)


class _Split:
    """Train/test assignment of windows by the original history their bars come from.

    The original's bars are cut into chunks of ``4 window`` bars and a share ``test_size`` of
    the chunks (at least one) is held out. A window of the original, or of a synthetic series
    whose bars are matched to the original bars they were copied from (:func:`_match` on the
    close log-returns), is a training window when all its matched bars are in training chunks,
    a test window when all are in held-out chunks, and is dropped when it mixes both. Windows
    of bars that are not found in the original (other generators) fall back to chunks of their
    own series, held out at the same rate, and only windows inside one chunk are used.
    """

    def __init__(self, original: np.ndarray, window: int, test_size: float,
                 rng: np.random.Generator) -> None:
        self.window, self.test_size, self.rng = window, test_size, rng
        self.chunk = 4 * window
        n = len(original)
        n_chunks = max(math.ceil(n / self.chunk), 1)
        n_test = min(max(1, round(test_size * n_chunks)), max(n_chunks - 1, 1))
        held = np.zeros(n_chunks, dtype=bool)
        held[rng.permutation(n_chunks)[:n_test]] = True
        self.labels = np.where(held[np.arange(n) // self.chunk], 2, 1)  # 1 train, 2 test
        self.x = np.diff(np.log(original[:, 3]))

    def original(self) -> tuple[np.ndarray, np.ndarray]:
        return self._assign(self.labels)

    def series(self, bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.diff(np.log(bars[:, 3]))[None, :]
        _, _, src = _match(self.x, y, 1e-11)
        src = np.r_[-1, src[0]]  # bar j >= 1 carries return j-1; returns index from bar 1
        labels = np.where(src >= 0, self.labels[np.maximum(src + 1, 0)], 0)
        return self._assign(labels)

    def _assign(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.window
        if len(labels) < w:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        win = np.lib.stride_tricks.sliding_window_view(labels, w)
        has_train, has_test = (win == 1).any(axis=1), (win == 2).any(axis=1)
        starts = np.arange(len(win))
        train = has_train & ~has_test
        test = has_test & ~has_train
        unknown = ~has_train & ~has_test
        if unknown.any():
            chunks = starts // self.chunk
            held = self.rng.random(chunks.max() + 1) < self.test_size
            inside = starts % self.chunk <= self.chunk - w
            train |= unknown & inside & ~held[chunks]
            test |= unknown & inside & held[chunks]
        return starts[train], starts[test]


def _collect(split: _Split, synthetic: Sequence[np.ndarray], width: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(series, start) rows of the synthetic training and test windows of ``width`` bars."""
    saved = split.window
    split.window = width
    train, test = [], []
    try:
        for i, bars in enumerate(synthetic):
            a, b = split.series(bars)
            train.append(np.c_[np.full(len(a), i), a])
            test.append(np.c_[np.full(len(b), i), b])
    finally:
        split.window = saved
    return (np.concatenate(train) if train else np.empty((0, 2), np.int64),
            np.concatenate(test) if test else np.empty((0, 2), np.int64))


def _take(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= n:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=n, replace=False))]


def _features_of(rows: np.ndarray, series_list: Sequence[np.ndarray], window: int,
                 volume: bool) -> np.ndarray:
    blocks = [window_features(series_list[i], rows[rows[:, 0] == i, 1], window, volume)
              for i in np.unique(rows[:, 0])]
    return np.concatenate(blocks)


def classifier_two_sample_test(
    original: Any,
    synthetic: Sequence[Any],
    *,
    window: int = WINDOW,
    max_train: int = 1500,
    max_test: int = 750,
    test_size: float = 0.3,
    seed: int = 0,
) -> TwoSampleResult:
    """Can a classifier tell real windows from synthetic ones? (the discriminative score)

    Parameters
    ----------
    original : OHLCV frame or (bars, 4|5) array
        The real series.
    synthetic : sequence of OHLCV frames or (bars, 4|5) arrays
        The synthetic series.
    window : int, default 24
        Bars per window.
    max_train, max_test : int
        Windows per class in the training and the held-out set (subsampled at random).
    test_size : float, default 0.3
        Share of the original's chunks held out.
    seed : int
        Seeds the split, the subsampling and the classifier.

    Returns
    -------
    TwoSampleResult
        Held-out accuracy, ROC AUC and the discriminative score ``|accuracy - 0.5|`` of a
        gradient-boosted tree classifier (scikit-learn ``HistGradientBoostingClassifier``).

    Notes
    -----
    Classes are balanced in both sets (equal numbers of windows). Features: see
    :func:`window_features`; volume features only when both sides have volume.

    The split is by *original history* (:class:`_Split`): a block-bootstrap series is made of
    copies of the original's bars, and a split by series alone would put copies of held-out
    real windows into the synthetic training class, which a flexible classifier memorizes
    (measured on the 750-bar sample: accuracy 0.37, AUC 0.30 — worse than chance). Held-out
    real and synthetic windows therefore come from the same held-out history, which the
    classifier never saw in either class. 0 means this classifier cannot tell them apart, 0.5
    that it always can.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    real = _as_bars(original)
    synthetic = [_as_bars(s) for s in synthetic]
    volume = _has_volume(real) and all(_has_volume(b) for b in synthetic)
    split = _Split(real, window, test_size, rng)
    r_train, r_test = split.original()
    s_train, s_test = _collect(split, synthetic, window)
    n_train = min(len(r_train), len(s_train), max_train)
    n_test = min(len(r_test), len(s_test), max_test)
    if n_train < 10 or n_test < 10:
        raise ValueError(
            f"too few {window}-bar windows for a two-sample test (train {n_train}, test {n_test} "
            "per class); the series are too short"
        )
    r_train, r_test = _take(r_train, n_train, rng), _take(r_test, n_test, rng)
    x_train = np.concatenate([window_features(real, r_train, window, volume),
                              _features_of(_take(s_train, n_train, rng), synthetic, window,
                                           volume)])
    x_test = np.concatenate([window_features(real, r_test, window, volume),
                             _features_of(_take(s_test, n_test, rng), synthetic, window,
                                          volume)])
    y_train = np.r_[np.ones(n_train), np.zeros(n_train)]
    y_test = np.r_[np.ones(n_test), np.zeros(n_test)]
    clf = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, max_leaf_nodes=15,
                                         early_stopping=False, random_state=seed)
    # One thread: the data are small, and OpenMP threads that spin while other processes hold
    # the cores (a busy CI machine, Dask workers) made a fit 5-10 times slower.
    with threadpool_limits(1):
        clf.fit(x_train, y_train)
        prob = clf.predict_proba(x_test)[:, 1]
    accuracy = float(np.mean((prob > 0.5) == (y_test == 1)))
    return TwoSampleResult(
        accuracy=accuracy,
        auc=float(roc_auc_score(y_test, prob)),
        discriminative_score=abs(accuracy - 0.5),
        n_train=int(n_train),
        n_test=int(n_test),
        n_features=int(x_train.shape[1]),
    )


def _abs_return_windows(bars: np.ndarray, starts: np.ndarray, window: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """For windows of ``window + 1`` bars: |r| of bars s+1 .. s+window-1 and of bar s+window."""
    a = np.abs(np.diff(np.log(bars[:, 3])))  # a[t] = |r| of bar t + 1
    w = a[np.asarray(starts, dtype=np.int64)[:, None] + np.arange(window)[None, :]]
    return w[:, :-1], w[:, -1]


def predictive_score(
    original: Any,
    synthetic: Sequence[Any],
    *,
    window: int = WINDOW,
    max_train: int = 4000,
    test_size: float = 0.3,
    seed: int = 0,
) -> PredictiveResult:
    """Train on synthetic, test on real (TSTR) next-bar absolute-return prediction.

    A ridge regression (features standardized, ``alpha = 1``) predicts ``|r|`` of a bar from the
    ``window - 1`` absolute returns before it (``window`` returns per window, as in the
    published predictive score). It is trained once on synthetic windows (TSTR) and once on the
    real training windows (TRTR), and both are tested on the same held-out real windows.
    Returns the mean absolute errors and, for scale, that of predicting the real training
    median. The split is the one of :func:`classifier_two_sample_test`: synthetic training
    windows are copied from the original's training history only, so no held-out bar reaches
    either model.
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    real = _as_bars(original)
    synthetic = [_as_bars(s) for s in synthetic]
    split = _Split(real, window + 1, test_size, rng)  # window returns need window + 1 bars
    r_train, r_test = split.original()
    s_train, _ = _collect(split, synthetic, window + 1)
    s_train = _take(s_train, max_train, rng)
    xr, yr = _abs_return_windows(real, _take(r_train, max_train, rng), window)
    xt, yt = _abs_return_windows(real, r_test, window)
    if len(yr) < 10 or len(yt) < 10 or len(s_train) < 10:
        raise ValueError("too few windows for the predictive score; the series are too short")
    pieces = [_abs_return_windows(synthetic[i], s_train[s_train[:, 0] == i, 1], window)
              for i in np.unique(s_train[:, 0])]
    xs = np.concatenate([p[0] for p in pieces])
    ys = np.concatenate([p[1] for p in pieces])

    def mae(x: np.ndarray, y: np.ndarray) -> float:
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x, y)
        return float(np.mean(np.abs(model.predict(xt) - yt)))

    return PredictiveResult(
        tstr_mae=mae(xs, ys),
        trtr_mae=mae(xr, yr),
        constant_mae=float(np.mean(np.abs(yt - np.mean(yr)))),
        n_train_synthetic=len(ys),
        n_train_real=len(yr),
        n_test=len(yt),
    )


# --------------------------------------------------------------------------------------------
# Loading a run
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    manifest: dict
    original: pd.DataFrame
    bars: np.ndarray  # (n_series, length, fields) of the loaded series
    index: pd.Index  # timestamps of the synthetic bars
    scenario_ids: list[int]
    scenarios: pd.DataFrame  # all scenarios: scenario, score, metrics


def _load_run(run_dir: str, storage_options: dict | None, max_series: int,
              original: pd.DataFrame | None) -> _Run:
    store = OutputStore(run_dir, storage_options=storage_options)
    if not store.exists(_MANIFEST):
        raise InputDataError(
            f"{run_dir}: no {_MANIFEST} found; pass a run's output directory (the output.path "
            "of a finished `sme run`, which holds manifest.json and the series files)"
        )
    try:
        manifest = store.read_json(_MANIFEST)
        entries = manifest["scenarios"]
        manifest["model"], manifest["config"]  # noqa: B018 - required keys
    except (ValueError, KeyError, TypeError) as exc:
        raise InputDataError(f"{store.path(_MANIFEST)}: not a run manifest ({exc})") from exc
    if not entries:
        raise InputDataError(f"{run_dir}: the run has no accepted scenarios to report on")

    rows = []
    for e in entries:
        row = {"scenario": int(e["scenario"]), "score": float(e["score"])}
        row.update({k: np.nan if v is None else float(v) for k, v in e["metrics"].items()})
        rows.append(row)
    scenarios = pd.DataFrame(rows).sort_values("scenario", kind="stable").reset_index(drop=True)

    if original is None:
        original = _reload_input(manifest)
    chosen = sorted(entries, key=lambda e: int(e["scenario"]))[: max(int(max_series), 1)]
    frames = [_read_series(store, e) for e in chosen]
    length = min(len(f) for f in frames)
    cols = list(_OHLC) + (["Volume"] if all("Volume" in f.columns for f in frames) else [])
    bars = np.stack([f[cols].to_numpy(dtype=float)[:length] for f in frames])
    return _Run(manifest, original, bars, frames[0].index[:length],
                [int(e["scenario"]) for e in chosen], scenarios)


def _reload_input(manifest: dict) -> pd.DataFrame:
    from pipeline.runner.config import load_config
    from pipeline.runner.inputs import content_hash, load_input

    cfg = load_config(manifest["config"])
    where = cfg.input.sample and f"sample {cfg.input.sample!r}" or repr(cfg.input.path)
    try:
        frame = load_input(cfg)
    except (InputDataError, OSError) as exc:
        raise InputDataError(
            f"the run's input {where} cannot be read from here ({exc}); run the report from "
            "the directory the run was started in, or pass the original frame as original="
        ) from exc
    expected = manifest.get("input", {}).get("content_sha256")
    if expected and content_hash(frame) != expected:
        raise InputDataError(
            f"the run's input {where} has changed since the run (content hash differs); pass "
            "the original frame as original="
        )
    return frame


def _read_series(store: OutputStore, entry: Mapping) -> pd.DataFrame:
    files = entry.get("files") or {}
    for fmt in _FORMAT_PREFERENCE:
        name = files.get(fmt)
        if not name:
            continue
        try:
            data = store.read_bytes(name)
        except FileNotFoundError:
            raise InputDataError(
                f"{store.path(name)}: series file listed in the manifest is missing"
            ) from None
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data), index_col=0, parse_dates=True)
        return pd.read_excel(io.BytesIO(data), index_col=0)
    raise InputDataError(f"scenario {entry.get('scenario')}: no readable series file in manifest")


# --------------------------------------------------------------------------------------------
# Statistics for the plots and tables
# --------------------------------------------------------------------------------------------


def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    """ACF (statsmodels definition) of each row of ``x`` at lags 1..nlags."""
    x = np.atleast_2d(x)
    d = x - x.mean(axis=1, keepdims=True)
    g0 = np.einsum("ij,ij->i", d, d)
    out = np.empty((x.shape[0], nlags))
    for k in range(1, nlags + 1):
        out[:, k - 1] = np.einsum("ij,ij->i", d[:, :-k], d[:, k:])
    return out / np.where(g0 > 0, g0, np.nan)[:, None]


def _spread_row(values: np.ndarray, original: float | None) -> dict:
    v = values[np.isfinite(values)]
    p5, p50, p95 = np.percentile(v, [5, 50, 95]) if len(v) else (np.nan,) * 3
    return {
        "original": np.nan if original is None else float(original),
        "median": float(p50),
        "std": float(np.std(v, ddof=1)) if len(v) > 1 else np.nan,
        "p5": float(p5),
        "p95": float(p95),
        "range_5_95": float(p95 - p5),
        "n": int(len(v)),
    }


def _diversity(run: _Run, x: np.ndarray, y: np.ndarray) -> dict:
    close = run.bars[:, :, 3]
    start_price = float(run.manifest["model"].get("start_price") or run.original["Close"].iloc[0])
    orig_close = run.original["Close"].to_numpy(dtype=float)
    terminal = np.log(close[:, -1] / start_price)
    mdd_all = run.scenarios["max_drawdown"].to_numpy(dtype=float)
    out = {
        "terminal_log_return": _spread_row(terminal, math.log(orig_close[-1] / orig_close[0])),
        "max_drawdown": _spread_row(mdd_all, run.manifest["reference_metrics"].get(
            "max_drawdown")),
    }
    n = y.shape[0]
    if n >= 2:
        c = np.corrcoef(y)
        off = c[~np.eye(n, dtype=bool)]
        out["mean_pairwise_corr"] = float(np.mean(off))
        out["max_pairwise_corr"] = float(np.max(off))
    else:
        out["mean_pairwise_corr"] = out["max_pairwise_corr"] = float("nan")
    out["corr_noise"] = 1.0 / math.sqrt(y.shape[1])
    share = verbatim_share(x, y)
    out["verbatim_share"] = {"mean": float(np.mean(share)), "min": float(np.min(share)),
                             "max": float(np.max(share)), "min_run": MIN_RUN}
    out["n_series"] = int(n)
    return out


def _indistinguishability(run: _Run, seed: int) -> dict:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return {"error": "scikit-learn is not installed (pip install scikit-learn)"}
    real = run.original
    synthetic = list(run.bars)
    out: dict[str, Any] = {}
    try:
        out["two_sample"] = asdict(classifier_two_sample_test(real, synthetic, seed=seed))
        out["predictive"] = asdict(predictive_score(real, synthetic, seed=seed))
    except ValueError as exc:
        out["error"] = str(exc)
    return out


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _figure(w: float, h: float, **adjust: float):
    # Fixed margins rather than a layout engine: constrained layout cost a quarter of the run.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    fig.subplots_adjust(**adjust)
    return fig


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax) -> None:
    ax.grid(True, alpha=0.25, linewidth=0.6)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _fig_fan(run: _Run) -> str:
    close = run.bars[:, :, 3]
    fig = _figure(10, 4.2, left=0.075, right=0.99, top=0.93, bottom=0.08)
    ax = fig.add_subplot()
    t = run.index if isinstance(run.index, pd.DatetimeIndex) else np.arange(close.shape[1])
    p = np.percentile(close, [5, 25, 50, 75, 95], axis=0)
    ax.fill_between(t, p[0], p[4], color=_SYN, alpha=0.15, lw=0, label="synthetic 5–95 %")
    ax.fill_between(t, p[1], p[3], color=_SYN, alpha=0.3, lw=0, label="synthetic 25–75 %")
    ax.plot(t, p[2], color=_SYN, lw=1.2, label="synthetic median")
    for i in range(min(3, close.shape[0])):
        ax.plot(t, close[i], color="0.35", lw=0.5, alpha=0.7,
                label="sample paths" if i == 0 else None)
    orig = run.original["Close"]
    to = orig.index if isinstance(run.index, pd.DatetimeIndex) else np.arange(len(orig))
    ax.plot(to, orig.to_numpy(dtype=float), color=_ORIG, lw=1.2, label="original")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.4g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("close (log scale)", fontsize=9)
    ax.set_title(f"Closes of {close.shape[0]} synthetic series over the original", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncols=3, frameon=False)
    _style(ax)
    return _png(fig)


def _fig_returns(x: np.ndarray, y: np.ndarray) -> str:
    from matplotlib.ticker import MaxNLocator

    pooled = y.ravel()
    fig = _figure(12, 3.8, left=0.04, right=0.99, top=0.92, bottom=0.14, wspace=0.25)
    axes = fig.subplots(1, 3)
    lo, hi = min(x.min(), pooled.min()), max(x.max(), pooled.max())
    bins = np.linspace(lo, hi, int(np.clip(2 * math.sqrt(len(x)), 20, 100)) + 1)
    for ax, log in ((axes[0], False), (axes[1], True)):
        ax.hist(pooled, bins=bins, density=True, color=_SYN, alpha=0.45, label="synthetic (pooled)")
        ax.hist(x, bins=bins, density=True, histtype="step", color=_ORIG, lw=1.3, label="original")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("log-return", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_title("density" + (" (log scale: tails)" if log else ""), fontsize=10)
        _style(ax)
    axes[0].legend(fontsize=8, frameon=False)
    probs = (np.arange(min(len(x), 1000)) + 0.5) / min(len(x), 1000)
    qx, qy = np.quantile(x, probs), np.quantile(pooled, probs)
    ax = axes[2]
    ax.plot(qx, qy, ".", ms=3, color=_SYN)
    lim = [min(qx[0], qy[0]), max(qx[-1], qy[-1])]
    ax.plot(lim, lim, color="0.3", lw=0.8, ls="--")
    ax.set_xlabel("original quantile", fontsize=9)
    ax.set_ylabel("synthetic quantile (pooled)", fontsize=9)
    ax.set_title("QQ plot", fontsize=10)
    _style(ax)
    return _png(fig)


def _fig_acf(x: np.ndarray, y: np.ndarray) -> str:
    fig = _figure(12, 3.6, left=0.04, right=0.99, top=0.92, bottom=0.14, wspace=0.12)
    axes = fig.subplots(1, 2)
    lags = np.arange(1, ACF_LAGS + 1)
    for ax, f, title in ((axes[0], lambda v: v, "ACF of returns"),
                         (axes[1], np.abs, "ACF of absolute returns")):
        syn = _acf(f(y), ACF_LAGS)
        p5, p50, p95 = np.nanpercentile(syn, [5, 50, 95], axis=0)
        ax.fill_between(lags, p5, p95, color=_SYN, alpha=0.25, lw=0,
                        label="synthetic 5–95 % across series")
        ax.plot(lags, p50, color=_SYN, lw=1, label="synthetic median")
        ax.plot(lags, _acf(f(x), ACF_LAGS)[0], color=_ORIG, lw=1.3, marker=".", ms=4,
                label="original")
        band = 1.96 / math.sqrt(len(x))
        ax.axhspan(-band, band, color="0.5", alpha=0.12, lw=0, label="±1.96/√n (white noise)")
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_xlabel("lag (bars)", fontsize=9)
        ax.set_title(title, fontsize=10)
        _style(ax)
    axes[1].legend(fontsize=8, frameon=False, loc="upper right")
    return _png(fig)


_P_VALUE_METRICS = ("ljung_box_p", "arch_lm_p")


def _metric_values(name: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    if name in _P_VALUE_METRICS:
        return -np.log10(np.clip(values, 1e-300, None)), f"{name} (−log10)"
    return values, name


def _fig_metrics(run: _Run, names: Sequence[str]) -> str:
    ncols = 6
    nrows = math.ceil(len(names) / ncols)
    fig = _figure(14, 2.1 * nrows, left=0.02, right=0.98, top=1 - 0.12 / nrows,
                  bottom=0.12 / nrows, hspace=0.55, wspace=0.12)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    from matplotlib.ticker import MaxNLocator
    ref = run.manifest["reference_metrics"]
    for ax, name in zip(axes, names, strict=False):
        vals, label = _metric_values(name, run.scenarios[name].to_numpy(dtype=float))
        vals = vals[np.isfinite(vals)]
        if len(vals):
            ax.hist(vals, bins=min(30, max(5, len(vals) // 4)), color=_SYN, alpha=0.6)
        r = ref.get(name)
        if r is not None:
            rv, _ = _metric_values(name, np.array([float(r)]))
            ax.axvline(rv[0], color=_ORIG, lw=1.5)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_yticks([])
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return _png(fig)


def _fig_scores(run: _Run, min_fidelity: float) -> str:
    fig = _figure(12, 3.4, left=0.05, right=0.99, top=0.91, bottom=0.15, wspace=0.18)
    a, b = fig.subplots(1, 2)
    s = run.scenarios["score"].to_numpy(dtype=float)
    a.hist(s, bins=min(40, max(5, len(s) // 4)), color=_SYN, alpha=0.6)
    a.axvline(min_fidelity, color="0.2", ls="--", lw=1.2, label=f"min_fidelity = {min_fidelity:g}")
    a.set_xlabel("fidelity score", fontsize=9)
    a.set_title(f"Fidelity of the {len(s)} accepted scenarios", fontsize=10)
    a.legend(fontsize=8, frameon=False)
    mdd = run.scenarios["max_drawdown"].to_numpy(dtype=float)
    mdd = mdd[np.isfinite(mdd)]
    b.hist(mdd, bins=min(40, max(5, len(mdd) // 4)), color=_SYN, alpha=0.6)
    ref = run.manifest["reference_metrics"].get("max_drawdown")
    if ref is not None:
        b.axvline(float(ref), color=_ORIG, lw=1.5, label=f"original {float(ref):.3f}")
        b.legend(fontsize=8, frameon=False)
    b.set_xlabel("max drawdown (fraction)", fontsize=9)
    b.set_title("Max drawdown across scenarios", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    for ax in (a, b):
        _style(ax)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("scenarios", fontsize=9)
    return _png(fig)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
max-width:1200px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{font-size:1.6em;margin:.2em 0 .6em}h2{font-size:1.25em;margin:1.8em 0 .5em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.note{color:#555;font-size:12.5px;max-width:70em}.warn{color:#a40}
code{background:#f3f3f3;padding:0 .2em}
"""


def _date(v: Any) -> str:
    text = str(v)
    return text[:-9] if text.endswith(" 00:00:00") else text


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, fmt: str = ".4g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return format(v, fmt) if isinstance(v, float | np.floating) else _esc(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], first_left: bool = True,
           table_id: str | None = None) -> str:
    tid = f' id="{table_id}"' if table_id else ""
    head = "".join(f'<th class="l">{_esc(h)}</th>' if i == 0 and first_left else
                   f"<th>{_esc(h)}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = "".join(f'<td class="l">{c}</td>' if i == 0 and first_left else f"<td>{c}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{b64}">'


def build_report(
    run_dir: str,
    *,
    storage_options: dict | None = None,
    max_series: int = 200,
    original: pd.DataFrame | None = None,
    seed: int = 0,
) -> str:
    """The fidelity report of a finished run, as the text of one self-contained HTML file.

    Parameters
    ----------
    run_dir : str
        The run's output directory or URL (holding ``manifest.json``).
    storage_options : dict, optional
        fsspec options to reach ``run_dir`` (e.g. S3 credentials).
    max_series : int, default 200
        Series read for the plots, the diversity and the indistinguishability sections (the
        first by scenario number). Metric, score and drawdown distributions use every scenario.
    original : DataFrame, optional
        The run's input. By default it is reloaded from the manifest's configuration (a relative
        path is resolved against the current directory) and checked against the manifest's
        content hash.
    seed : int, default 0
        Seeds the window sampling and the classifier, so a report is reproducible.

    Returns
    -------
    str
        The HTML text.

    Raises
    ------
    InputDataError
        ``run_dir`` holds no run manifest, a listed series file is missing, or the input
        cannot be reloaded.

    Notes
    -----
    Definitions of the verbatim share, the windows and the tests: see the module docstring and
    :func:`verbatim_share`, :func:`classifier_two_sample_test`, :func:`predictive_score`.
    """
    from pipeline.core.metrics import METRIC_NAMES

    run = _load_run(str(run_dir), storage_options, max_series, original)
    m = run.manifest
    model, cfg = m["model"], m["config"]
    min_fidelity = float(cfg.get("generation", {}).get("min_fidelity", float("nan")))
    start_price = float(model.get("start_price") or run.original["Close"].iloc[0])
    x = np.diff(np.log(run.original["Close"].to_numpy(dtype=float)))
    close = run.bars[:, :, 3]
    y = np.diff(np.log(np.concatenate([np.full((len(close), 1), start_price), close], axis=1)),
                axis=1)

    diversity = _diversity(run, x, y)
    indist = _indistinguishability(run, seed)

    scores = run.scenarios["score"].to_numpy(dtype=float)
    inp = m.get("input", {})
    summary = m.get("summary", {})
    n_acc = len(run.scenarios)
    header_rows = [
        ("run id", _esc(m.get("run_id", "?")) + ("" if m.get("status") == "complete"
                                                  else ' <span class="warn">(partial)</span>')),
        ("input", f"{_esc(inp.get('source', '?'))}: {inp.get('rows', len(run.original))} rows, "
                  f"{_esc(_date(inp.get('start', run.original.index[0])))} .. "
                  f"{_esc(_date(inp.get('end', run.original.index[-1])))}"),
        ("method", _esc(model.get("method"))),
        ("block size", _esc(model.get("block_size"))),
        ("bars per series", _esc(model.get("length", close.shape[1]))),
        ("series", f"{n_acc} accepted of {summary.get('requested', n_acc)} requested"
                   f" ({len(run.bars)} read for plots and tests, max_series={max_series})"),
        ("fidelity min / median / max",
         f"{scores.min():.2f} / {np.median(scores):.2f} / {scores.max():.2f}"),
        ("threshold (min_fidelity)", _num(min_fidelity, "g")),
        ("seed", _esc(m.get("seed", "?"))),
        ("package version", _esc(m.get("package_version", "?"))),
    ]

    names = [n for n in model.get("scored_metrics", METRIC_NAMES) if n in run.scenarios]
    ref = m["reference_metrics"]
    weights, spreads = model.get("weights", {}), model.get("spreads", {})
    metric_rows = []
    for n in names:
        v = run.scenarios[n].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        r = ref.get(n)
        # The p-value metrics are scored on their statistic per observation, whose spread the
        # manifest holds; a p-value difference in those units would mean nothing.
        z = (np.median(np.abs(v - r)) / spreads[n]
             if r is not None and spreads.get(n) and len(v) and n not in _P_VALUE_METRICS
             else float("nan"))
        metric_rows.append([_esc(n), _num(None if r is None else float(r)),
                            _num(float(v.min())) if len(v) else "–",
                            _num(float(np.median(v))) if len(v) else "–",
                            _num(float(v.max())) if len(v) else "–",
                            _num(weights.get(n), "g"),
                            _num(spreads.get(n)) + ("&thinsp;†" if n in _P_VALUE_METRICS else ""),
                            _num(float(z), ".2f")])

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Fidelity report {_esc(m.get('run_id', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Fidelity report — run {_esc(m.get('run_id', ''))}</h1>",
        '<section id="run"><h2>Run</h2>',
        _table(["", ""], header_rows, table_id="run-table"),
        "</section>",
        '<section id="paths"><h2>Price paths</h2>',
        _img(_fig_fan(run), "fan chart of synthetic closes over the original close"),
        '<p class="note">Percentile bands across the synthetic series at each bar, their '
        "median, three sample paths and the original close (log scale).</p></section>",
        '<section id="returns"><h2>Return distribution</h2>',
        _img(_fig_returns(x, y), "return densities and QQ plot"),
        '<p class="note">Close log-returns <code>log(C_t / C_{t-1})</code>; synthetic returns '
        f"pooled over {len(y)} series. The QQ plot sets quantiles of the pooled synthetic "
        "returns against the original's at the same probabilities; points on the dashed line "
        "mean equal distributions.</p></section>",
        '<section id="dependence"><h2>Dependence</h2>',
        _img(_fig_acf(x, y), "ACF of returns and of absolute returns"),
        '<p class="note">Autocorrelation (statsmodels definition) at lags 1–40. The band is the '
        "5–95 % range of the synthetic series' ACFs; the grey band the ±1.96/√n range of white "
        "noise of the original's length.</p></section>",
        '<section id="metrics"><h2>Metrics</h2>',
        _img(_fig_metrics(run, names), "metric distributions across scenarios"),
        f'<p class="note">Histograms over all {n_acc} scenarios; the red line is the '
        "original's value. The Ljung–Box and ARCH LM p-values are shown as −log10 p (they "
        "underflow toward 0 on long series; the score uses the statistic per observation).</p>",
        _table(["metric", "original", "synthetic min", "synthetic median", "synthetic max",
                "weight", "spread", "median |Δ| / spread"], metric_rows, table_id="metric-table"),
        '<p class="note">Spread: the metric\'s sampling spread from bootstrap replicates of the '
        "original, the unit in which the fidelity score measures distance "
        "(docs/methodology.md); median |Δ| / spread is the median distance of the scenarios "
        "from the original in those units. † Spread of the test statistic per observation "
        "(Q / n, LM / n), on which these two metrics are scored.</p></section>",
        '<section id="scores"><h2>Scores and drawdowns</h2>',
        _img(_fig_scores(run, min_fidelity), "fidelity and max drawdown histograms"),
        "</section>",
        _diversity_html(diversity),
        _indist_html(indist),
        '<script type="application/json" id="report-data">',
        json.dumps(_jsonable({"diversity": diversity, "indistinguishability": indist}),
                   sort_keys=True).replace("</", "<\\/"),
        "</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _diversity_html(d: dict) -> str:
    rows = []
    for key, label in (("terminal_log_return", "terminal log-return log(C_end / S)"),
                       ("max_drawdown", "max drawdown")):
        r = d[key]
        rows.append([label, _num(r["original"]), _num(r["median"]), _num(r["std"]),
                     _num(r["p5"]), _num(r["p95"]), _num(r["range_5_95"]), r["n"]])
    vs = d["verbatim_share"]
    return "".join([
        '<section id="diversity"><h2>Diversity</h2>',
        _table(["quantity", "original", "median", "std", "5 %", "95 %", "5–95 % range",
                "series"], rows, table_id="diversity-spread"),
        _table(["quantity", "value"], [
            ["mean pairwise correlation of log-return paths", _num(d["mean_pairwise_corr"])],
            ["max pairwise correlation", _num(d["max_pairwise_corr"])],
            ["noise level of one correlation (1/√bars)", _num(d["corr_noise"])],
            [f"verbatim share, mean over series (runs ≥ {vs['min_run']} bars)",
             _num(vs["mean"], ".3f")],
            ["verbatim share, min / max", f"{_num(vs['min'], '.3f')} / {_num(vs['max'], '.3f')}"],
        ], table_id="diversity-table"),
        '<p class="note">Spreads are across scenarios: terminal log-returns over the '
        f"{d['n_series']} series read, max drawdowns over all scenarios. Pairwise correlations "
        "are Pearson correlations between the series' log-return paths bar by bar; independent "
        "scenarios give a mean near 0, and duplicated or heavily overlapping scenarios show as "
        "a maximum near 1.<br>"
        f"<b>Verbatim share</b>: a bar of a synthetic series is verbatim if it lies in a stretch "
        f"of at least {vs['min_run']} consecutive returns equal to a consecutive stretch of the "
        "original's returns (equal within 1e-11, to absorb the rounding of rebuilding prices); "
        "the share is the fraction of the series' bars that are verbatim. Block bootstrap "
        "copies blocks of the original, so a high share is expected with long blocks: it says "
        "how much of each scenario is the original history replayed in a new order.</p>",
        "</section>",
    ])


def _indist_html(d: dict) -> str:
    head = '<section id="indistinguishability"><h2>Indistinguishability</h2>'
    if "error" in d:
        return head + f'<p class="warn">Not computed: {_esc(d["error"])}</p></section>'
    t, p = d["two_sample"], d["predictive"]
    pub = ", ".join(f"{name} {v:.3f}" for name, v in PUBLISHED_DISCRIMINATIVE)
    return "".join([
        head,
        "<h3>Classifier two-sample test</h3>",
        _table(["quantity", "value"], [
            ["held-out accuracy", _num(t["accuracy"], ".3f")],
            ["held-out AUC", _num(t["auc"], ".3f")],
            ["discriminative score |accuracy − 0.5|", _num(t["discriminative_score"], ".3f")],
            ["windows per class (train / test)", f"{t['n_train']} / {t['n_test']}"],
            ["features per window", t["n_features"]],
            ["published reference (other data, other classifier)", _esc(pub)],
        ], table_id="two-sample-table"),
        f'<p class="note">Windows of {WINDOW} consecutive bars from the original (real) and '
        "from the synthetic series. Features: the log-ratios of each bar's open, high, low and "
        "close to the window's first close, and the within-window z-scores of log(1 + volume) "
        "(when there is volume). A gradient-boosted tree classifier (scikit-learn "
        "HistGradientBoostingClassifier) is trained on balanced classes and tested on held-out "
        f"windows. The split is by history: the original is cut into chunks of {4 * WINDOW} bars "
        "and 30 % of them are held out; each synthetic bar is traced to the original bar it was "
        "copied from, and a window (real or synthetic) is used for training when all its bars "
        "come from training chunks, for testing when all come from held-out chunks. So the "
        "classifier never sees held-out history in either class (a split by series would put "
        "copies of held-out real windows in the synthetic training class, which the classifier "
        "memorizes). 0 means this classifier cannot tell them apart, 0.5 that it always "
        f"can. The reference points ({_esc(pub)}) are published figures (Yuan &amp; Qiao 2024, "
        "Diffusion-TS, Table 1) on 24-step windows of daily stock data with a recurrent "
        "classifier — not measured here, on other data, and only a rough scale. Synthetic "
        "windows copied verbatim from the original are by construction indistinguishable.</p>",
        "<h3>Train on synthetic, test on real</h3>",
        _table(["model", "mean absolute error", "training windows"], [
            ["TSTR: trained on synthetic", _num(p["tstr_mae"], ".5f"), p["n_train_synthetic"]],
            ["TRTR: trained on real (reference)", _num(p["trtr_mae"], ".5f"), p["n_train_real"]],
            ["constant: real training mean", _num(p["constant_mae"], ".5f"), "–"],
            ["TSTR / TRTR", _num(p["tstr_mae"] / p["trtr_mae"], ".3f")
             if p["trtr_mae"] else "–", "–"],
        ], table_id="predictive-table"),
        f'<p class="note">A ridge regression (standardized features, alpha 1) predicts the '
        f"absolute log-return of a bar from the {WINDOW - 1} absolute returns before it, trained "
        "on synthetic windows (TSTR) or on the real training chunks (TRTR), and tested on the "
        f"same {p['n_test']} held-out real windows. TSTR close to TRTR means the synthetic "
        "series carry the volatility dynamics a model learns from the real one. The synthetic "
        "series are resampled from the whole original, held-out chunks included, so this "
        "checks that structure is kept, not that new information is added.</p>",
        "</section>",
    ])


def write_report(
    run_dir: str,
    *,
    storage_options: dict | None = None,
    max_series: int = 200,
    out_name: str = REPORT,
    original: pd.DataFrame | None = None,
    seed: int = 0,
) -> str:
    """Write the fidelity report of a finished run into its output directory.

    Parameters are those of :func:`build_report`, plus ``out_name`` (default ``report.html``),
    the report's name inside ``run_dir``. The file is written atomically.

    Returns
    -------
    str
        The report's full path or URL.

    Raises
    ------
    InputDataError
        ``run_dir`` is not a run's output directory (no ``manifest.json``), or its files or
        input cannot be read.
    """
    text = build_report(run_dir, storage_options=storage_options, max_series=max_series,
                        original=original, seed=seed)
    store = OutputStore(str(run_dir), storage_options=storage_options)
    store.write_bytes(out_name, text.encode("utf-8"))
    return store.path(out_name)
