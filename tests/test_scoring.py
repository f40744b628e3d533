"""The fidelity score: weights, scale, and that it ranks generators as a quant would."""

import numpy as np
import pytest

from pipeline.core.metrics import compute_metrics_batch
from pipeline.core.scoring import DEFAULT_WEIGHTS, resolve_weights
from pipeline.errors import ConfigError
from pipeline.factory import fit_model


@pytest.fixture(scope="module")
def sp500():
    import arch.data.sp500

    return arch.data.sp500.load()[["Open", "High", "Low", "Close", "Volume"]].astype(float)


@pytest.fixture(scope="module")
def model(sp500):
    return fit_model(sp500, n_replicates=128)


def test_concept_weights_are_the_defaults():
    concept = {"volatility": 3.0, "skewness": 2.0, "kurtosis": 2.0, "max_drawdown": 1.5,
               "acf_lag1": 1.0, "acf_sum_10": 2.0, "vol_clustering": 3.0, "hurst": 2.0,
               "ljung_box_p": 1.0, "arch_lm_p": 1.0, "rsi_correlation": 2.0,
               "vol_persistence": 2.0}
    for name, w in concept.items():
        assert DEFAULT_WEIGHTS[name] == w
    assert len(DEFAULT_WEIGHTS) >= 16


@pytest.mark.parametrize(
    ("overrides", "match"),
    [({"nope": 1.0}, "unknown metric"), ({"hurst": -1}, ">= 0"), ({"hurst": "x"}, "number"),
     ({k: 0 for k in DEFAULT_WEIGHTS}, "at least one")],
)
def test_bad_weights_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        resolve_weights(overrides)


def test_original_scores_100_against_itself(model, sp500):
    arr = sp500.to_numpy()[None]
    metrics = compute_metrics_batch(arr)
    assert model.scorer.score(metrics, n_obs=len(sp500) - 1)[0] == pytest.approx(100.0)


def test_scores_lie_in_0_100_and_nan_metrics_count_as_far(model):
    cand = model.evaluate(3, range(32), [0] * 32)
    assert np.all((cand.scores >= 0) & (cand.scores <= 100))
    broken = {k: v.copy() for k, v in cand.metrics.items()}
    broken["hurst"][:] = np.nan
    assert np.all(model.scorer.score(broken) < cand.scores)


def test_zero_weight_removes_a_metric(sp500):
    m = fit_model(sp500, weights={"hurst": 0.0}, n_replicates=64)
    assert "hurst" not in m.scorer.names


def test_p_value_metrics_are_scored_on_statistic_per_observation(model):
    # The S&P 500's ARCH LM p-value underflows to ~1e-275; its statistic per observation is the
    # regression R^2, a value of order 0.1-0.5.
    i = model.scorer.names.index("arch_lm_p")
    assert 0.05 < model.scorer.reference[i] < 1.0
    assert model.scorer.spread[i] > 0


def _gaussian_walks(sp500, n, seed):
    rng = np.random.default_rng(seed)
    r = np.log(sp500["Close"]).diff().dropna().to_numpy()
    length = len(sp500)
    steps = rng.normal(r.mean(), r.std(), (n, length))
    close = sp500["Close"].iloc[0] * np.exp(np.cumsum(steps, axis=1))
    prev = np.concatenate([np.full((n, 1), sp500["Close"].iloc[0]), close[:, :-1]], axis=1)
    rng_hl = np.abs(rng.normal(0, 0.005, (2, n, length)))
    high = np.maximum(prev, close) * np.exp(rng_hl[0])
    low = np.minimum(prev, close) * np.exp(-rng_hl[1])
    vol = np.tile(sp500["Volume"].to_numpy(), (n, 1))
    return np.stack([prev, high, low, close, vol], axis=-1)


def test_score_ranks_generators_like_a_quant(sp500, model):
    """Original > block bootstrap > iid resampling > Gaussian random walk, on real data."""
    n = 96
    iid = fit_model(sp500, method="iid", n_replicates=128)
    stationary = np.median(model.evaluate(11, range(n), [0] * n).scores)
    iid_score = np.median(iid.evaluate(11, range(n), [0] * n).scores)
    walk = np.median(model.scorer.score(compute_metrics_batch(_gaussian_walks(sp500, n, 5))))
    assert 100.0 > stationary > iid_score + 15
    assert iid_score > walk + 5
    assert stationary > 88
