"""The purged, calibrated classifier two-sample test (pipeline.evaluation) on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import load_sample
from pipeline.evaluation import (
    DISTINGUISHABLE,
    NOT_DISTINGUISHABLE,
    RocketTransform,
    _synthetic_rows,
    bar_features,
    calibration_folds,
    calibration_test,
    classifier_two_sample_test,
    gaussian_random_walk,
    purged_folds,
)
from pipeline.factory import fit_model

W = 24
SMALL = {"max_train": 600, "max_test": 300}  # windows per class: enough, and fast


def _gaps(a_starts: np.ndarray, b_starts: np.ndarray) -> int:
    """Fewest rows strictly between any window of ``a`` and any window of ``b``."""
    a, b = a_starts[:, None], b_starts[None, :]
    return int(np.min(np.maximum(b - (a + W), a - (b + W))))


@pytest.mark.parametrize("n_rows", [749, 5030])
def test_purged_folds_keep_a_window_between_training_and_test_windows(n_rows):
    folds = purged_folds(n_rows, 5, W)
    edges = np.linspace(0, n_rows, 6).round().astype(int)
    covered = np.zeros(n_rows, dtype=bool)
    for k, (train, test) in enumerate(folds):
        assert len(train) and len(test)
        assert _gaps(train, test) >= W  # no overlap, no touch: a whole window in between
        assert test.min() >= edges[k] and test.max() + W <= edges[k + 1]
        covered[test.min() : test.max() + W] = True
    assert covered.mean() > 0.8
    with pytest.raises(ValueError, match="at least one window"):
        purged_folds(n_rows, 5, W, gap=W - 1)


def test_calibration_folds_are_purged_and_balanced():
    for train_a, train_b, test_a, test_b in calibration_folds(5030, 5, W):
        train, test = np.r_[train_a, train_b], np.r_[test_a, test_b]
        assert _gaps(train, test) >= W
        assert _gaps(test_a, test_b) >= W and _gaps(train_a, train_b) >= W


def test_synthetic_windows_copied_from_held_out_history_are_purged():
    copy = np.arange(1000)  # a synthetic series that is the original, row for row
    new = np.full(1000, -1)  # one that copies nothing
    a, b = 400, 600
    train = _synthetic_rows([copy, new], False, np.array([0, 1]), a, b, W, W)
    test = _synthetic_rows([copy, new], True, np.array([0, 1]), a, b, W, W)
    for rows in (train, test):
        assert set(np.unique(rows[:, 0])) == {0, 1}
    src = train[train[:, 0] == 0, 1][:, None] + np.arange(W)
    assert not np.any((src >= a - W) & (src < b + W))
    src = test[test[:, 0] == 0, 1][:, None] + np.arange(W)
    assert np.all((src >= a) & (src < b))
    assert len(test[test[:, 0] == 1]) == 1000 - W + 1  # nothing copied: the scenario decides


def test_bar_features_are_the_four_scale_free_features():
    frame = load_sample("sample")
    f = bar_features(frame)
    o, h, low, c, v = (frame[k].to_numpy() for k in ("Open", "High", "Low", "Close", "Volume"))
    np.testing.assert_allclose(f[:, 0], np.log(c[1:] / c[:-1]))
    np.testing.assert_allclose(f[:, 1], np.log(h[1:] / low[1:]))
    np.testing.assert_allclose(f[:, 2], np.log(c[1:] / o[1:]))
    np.testing.assert_allclose(f[:, 3], np.diff(np.log1p(v)))
    scaled = frame.copy()
    scaled[["Open", "High", "Low", "Close"]] *= 1000.0
    scaled["Volume"] *= 1000.0
    np.testing.assert_allclose(bar_features(scaled)[:, :3], f[:, :3], atol=1e-12)


# -- on a real series: the S&P 500, 5,031 daily bars -----------------------------------------


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    return load_sample("sp500")


@pytest.fixture(scope="module")
def floor(sp500):
    return calibration_test(sp500, seed=0, **SMALL)


def test_calibration_of_a_real_series_against_itself_is_near_chance(floor):
    # Alternate blocks of one market: no classifier learns a difference that holds in other
    # folds, though one labelling of the blocks can lean a few points either way.
    for c, scores in floor.scores.items():
        assert 0.4 < scores.interval()[0] < 0.6, c
        f_lo, f_hi = floor.floor(c, 5)
        assert f_lo < 0.5 < f_hi and f_hi - f_lo < 0.3, c


def _methods(sp500, n: int = 5) -> dict[str, tuple[list, list | None]]:
    out = {}
    for method in ("stationary", "iid"):
        model = fit_model(sp500, method=method, n_replicates=20)
        idx, _ = model.indices(1, range(n), [0] * n)
        out[method] = (list(model.generate(1, range(n), [0] * n)), list(idx + 1))
    out["gaussian_rw"] = (list(gaussian_random_walk(sp500, n, seed=1)), None)
    return out


def test_baselines_are_rejected_and_a_stationary_bootstrap_is_within_the_floor(sp500, floor):
    results = {name: classifier_two_sample_test(sp500, bars, sources=src, calibration=floor,
                                                attribution=False, seed=0, **SMALL)
               for name, (bars, src) in _methods(sp500).items()}
    for name in ("iid", "gaussian_rw"):
        r = results[name]
        for c in ("gbm", "rocket"):
            assert r.verdicts[c] == DISTINGUISHABLE, (name, c)
            assert r.scores[c].interval()[1] > r.floors[c][1], (name, c)  # clearly outside
    stationary = results["stationary"]
    assert stationary.verdicts == {"gbm": NOT_DISTINGUISHABLE, "rocket": NOT_DISTINGUISHABLE}


def _range_doubled(frame: pd.DataFrame) -> pd.DataFrame:
    """The same bars with log(H / L) doubled (high and low pushed out symmetrically)."""
    out = frame.copy()
    stretch = np.sqrt(frame["High"] / frame["Low"])
    out["High"] = frame["High"] * stretch
    out["Low"] = frame["Low"] / stretch
    return out


def test_attribution_finds_a_planted_difference_in_the_range():
    frame = load_sample("sample")
    planted = _range_doubled(frame)
    np.testing.assert_allclose(bar_features(planted)[:, 1], 2 * bar_features(frame)[:, 1])
    r = classifier_two_sample_test(frame, [planted] * 5, seed=0)
    assert r.verdict == DISTINGUISHABLE and r.top_feature == "log_range"
    for c, scores in r.scores.items():
        drop = scores.importance
        assert drop["log_range"] > 0.2, c
        assert max(v for k, v in drop.items() if k != "log_range") < drop["log_range"] / 2, c


def test_results_are_reproducible_with_a_fixed_seed():
    frame = load_sample("sample")
    bars = list(gaussian_random_walk(frame, 5, seed=3))
    args = {"classifiers": ("gbm",), "n_folds": 3, "seed": 7}
    first = classifier_two_sample_test(frame, bars, **args)
    again = classifier_two_sample_test(frame, bars, **args)
    assert first == again
    kernels = RocketTransform(4, W, seed=5)
    x = np.random.default_rng(0).normal(size=(30, W, 4))
    np.testing.assert_array_equal(kernels.transform(x), RocketTransform(4, W, seed=5).transform(x))


def test_gaussian_random_walk_has_valid_bars_and_the_inputs_shape(sp500):
    walk = gaussian_random_walk(sp500, 3, seed=0)
    assert walk.shape == (3, len(sp500), 5)
    o, h, low, c, v = np.moveaxis(walk, 2, 0)
    assert np.all(low <= np.minimum(o, c)) and np.all(h >= np.maximum(o, c))
    np.testing.assert_array_equal(v[0], sp500["Volume"].to_numpy())
    both = gaussian_random_walk({"A": sp500, "B": sp500}, 2, seed=0)
    assert both.shape == (2, len(sp500), 10)
    np.testing.assert_allclose(both[:, :, 3], both[:, :, 8])  # perfectly correlated copies


def test_too_few_scenarios_is_a_clear_error():
    frame = load_sample("sample")
    with pytest.raises(ValueError, match="at least 5 synthetic series"):
        classifier_two_sample_test(frame, [frame] * 3)
