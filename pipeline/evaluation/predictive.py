"""Train on synthetic, test on real: next-bar |return| prediction on the purged folds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluation.features import WINDOW, _prepare, _Series, window_features
from pipeline.evaluation.folds import _fold_edges, _gather, _synthetic_rows, _take, purged_folds
from pipeline.evaluation.verbatim import _trace

__all__ = [
    "PredictiveResult",
    "predictive_score",
]


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
