"""Evidence that synthetic series are (or are not) like the real one: pure functions on arrays.

Used by the fidelity report (:mod:`pipeline.report`), ``benchmarks/classifier_panel.py`` and the
notebooks. Nothing here imports Dask or the web stack; numpy, scipy and scikit-learn only.

* :func:`verbatim_share` — how much of a synthetic series is the original replayed verbatim.
* :func:`classifier_two_sample_test` — can a classifier tell real windows from synthetic ones,
  under purged, blocked cross-validation, beside :func:`calibration_test`, the same test of the
  real series against itself (the floor its own non-stationarity produces).
* :func:`predictive_score` — train on synthetic, test on real, on the same purged folds.
* :func:`gaussian_random_walk` — the outside baseline every honest test must reject.

Every name is importable from here; the modules hold them by topic: ``verbatim`` (the
verbatim share and tracing copies), ``features`` (bar features, windows), ``folds`` (purged and
calibration folds), ``rocket`` (:class:`RocketTransform`), ``two_sample`` (the classifier
two-sample test, its calibration and attribution), ``predictive`` (train on synthetic, test on
real) and ``baseline`` (the random walk).

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

from pipeline.evaluation.baseline import bars_from_returns, gaussian_random_walk
from pipeline.evaluation.features import BAR_FEATURES, WINDOW, bar_features, window_features
from pipeline.evaluation.folds import _synthetic_rows as _synthetic_rows  # used by the tests
from pipeline.evaluation.folds import calibration_folds, purged_folds
from pipeline.evaluation.predictive import PredictiveResult, predictive_score
from pipeline.evaluation.rocket import RocketTransform
from pipeline.evaluation.two_sample import (
    CLASSIFIERS,
    DISTINGUISHABLE,
    NON_STATIONARY,
    NOT_DISTINGUISHABLE,
    Calibration,
    FoldScores,
    TwoSampleResult,
    calibration_test,
    classifier_two_sample_test,
)
from pipeline.evaluation.verbatim import MIN_RUN, verbatim_share

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
