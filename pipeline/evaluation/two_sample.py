"""The classifier two-sample test, its real-versus-real calibration and its attribution.

See "Classifiers" and "The calibration row (the floor)" in :mod:`pipeline.evaluation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.evaluation.features import WINDOW, _prepare, _Series, window_features
from pipeline.evaluation.folds import (
    _fold_edges,
    _gather,
    _source_rows,
    _synthetic_rows,
    _take,
    calibration_folds,
    purged_folds,
)
from pipeline.evaluation.rocket import RocketTransform
from pipeline.evaluation.verbatim import _trace

__all__ = [
    "CLASSIFIERS",
    "DISTINGUISHABLE",
    "NOT_DISTINGUISHABLE",
    "NON_STATIONARY",
    "FoldScores",
    "Calibration",
    "TwoSampleResult",
    "calibration_test",
    "classifier_two_sample_test",
]

#: The classifiers of the two-sample test.
CLASSIFIERS = ("gbm", "rocket")
DISTINGUISHABLE = "distinguishable"
NOT_DISTINGUISHABLE = "not distinguishable"
NON_STATIONARY = "dominated by non-stationarity"


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
