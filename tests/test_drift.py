"""A trend set by the user (``generation.drift``) instead of inherited from the history.

On a strongly trending history (the S&P 500 sample's first 1,500 bars with +40 % a year added)
``drift: zero`` and a numeric drift must give scenarios whose mean log-return per bar is the
target within the sampling error of a few hundred scenarios, for the plain, GARCH-filtered and
regime-switching bootstraps, with valid bars and otherwise the same fidelity. The setting
reaches the core from Python, YAML/CLI overrides and the REST API, and the manifest records it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from fastapi.testclient import TestClient

from pipeline import load_sample
from pipeline.api import create_app
from pipeline.config import RunConfig, load_config
from pipeline.core.fit import bars_per_year
from pipeline.core.scoring import score_space
from pipeline.errors import ConfigError
from pipeline.factory import SyntheticDataFactory, fit_model
from tests.test_api import FAST, SAMPLE, finished, upload, wait_job

METHODS = ("stationary", "garch", "regime")
#: The added trend, in log return a year.
TREND = 0.40
N_SCENARIOS = 300
#: A numeric drift to hit (annualized log return).
TARGET = -0.10
#: Metrics that follow the trend by definition: the drawdown of the price path, and the
#: return quantiles (every return moves by the shift, so their 1 % tail does).
TREND_METRICS = ("max_drawdown", "var_1pct", "es_1pct")


@pytest.fixture(scope="module")
def trending() -> pd.DataFrame:
    frame = load_sample("sp500").iloc[:1500].copy()
    years = (frame.index - frame.index[0]) / pd.Timedelta(days=365.25)
    factor = np.exp(TREND * np.asarray(years))
    for col in ("Open", "High", "Low", "Close"):
        frame[col] = frame[col] * factor
    return frame


@pytest.fixture(scope="module")
def models(trending) -> dict:
    return {(m, d): fit_model(trending, method=m, drift=d, n_replicates=64)
            for m in METHODS for d in ("keep", "zero", TARGET)}


def mean_log_returns(model) -> np.ndarray:
    """Each of ``N_SCENARIOS`` candidates' mean close log-return per bar."""
    ohlcv, _ = model.sample(123, range(N_SCENARIOS), [0] * N_SCENARIOS)
    return np.log(ohlcv[:, -1, 3] / model.start_price) / model.length


@pytest.mark.parametrize("method", METHODS)
def test_zero_and_numeric_drift_hit_their_target_in_expectation(models, trending, method):
    per_year = bars_per_year(trending.index)
    kept = mean_log_returns(models[method, "keep"])
    se = kept.std(ddof=1) / np.sqrt(kept.size)
    # The history's trend is there to remove: far more than the sampling error.
    assert kept.mean() > 20 * se
    for drift, target in (("zero", 0.0), (TARGET, TARGET / per_year)):
        model = models[method, drift]
        assert model.drift.target == pytest.approx(target)
        assert model.drift.bars_per_year == pytest.approx(per_year)
        means = mean_log_returns(model)
        se = means.std(ddof=1) / np.sqrt(means.size)
        assert abs(means.mean() - target) < 3 * se, (drift, means.mean(), target, se)
        # The shift was measured precisely enough to be no part of that error.
        assert max(model.drift.standard_error) < se / 2


@pytest.mark.parametrize("method", METHODS)
def test_drifted_bars_stay_valid(models, method):
    ohlcv, _ = models[method, "zero"].sample(5, range(64), [0] * 64)
    o, h, lo, c, v = (ohlcv[:, :, k] for k in range(5))
    assert np.all(np.isfinite(ohlcv)) and np.all(lo > 0) and np.all(v >= 0)
    assert np.all(lo <= np.minimum(o, c)) and np.all(h >= np.maximum(o, c))


@pytest.mark.parametrize("method", METHODS)
def test_other_metrics_keep_their_fidelity(models, method):
    medians, scores = {}, {}
    for drift in ("keep", "zero"):
        model = models[method, drift]
        batches = model.evaluate_first_attempts(77, 0, 160)
        values = np.concatenate([score_space(b.metrics, model.scorer.names, model.length - 1)
                                 for b in batches])
        medians[drift] = np.median(values, axis=0)
        scores[drift] = np.median(np.concatenate([b.scores for b in batches]))
    spread = models[method, "keep"].scorer.spread
    names = models[method, "keep"].scorer.names
    moved = {n: float(d) for n, d in zip(names, np.abs(medians["keep"] - medians["zero"]) / spread,
                                         strict=True) if n not in TREND_METRICS}
    assert max(moved.values()) < 1.0, moved
    # Scored against the original moved to the same trend, the scenarios score as before.
    assert abs(scores["keep"] - scores["zero"]) < 2.0


def test_the_reference_is_the_original_with_the_target_trend(models, trending):
    model = models["stationary", "zero"]
    kept = models["stationary", "keep"]
    names = list(model.scorer.names)
    drawdown = names.index("max_drawdown")
    # Without its +40 % a year, the history's drawdowns are deeper.
    assert model.scorer.reference[drawdown] > kept.scorer.reference[drawdown]
    # Moments about the mean and autocorrelations do not see a constant shift of the returns.
    for name in ("volatility", "skewness", "kurtosis", "acf_lag1", "acf_sum_10", "hurst"):
        i = names.index(name)
        assert model.scorer.reference[i] == pytest.approx(kept.scorer.reference[i], rel=1e-6)


def test_without_drift_nothing_is_recorded_or_hashed():
    plain = RunConfig()
    assert "drift" not in plain.recorded()["generation"]
    assert "start" not in plain.recorded()["generation"]
    zero = load_config(None, ["generation.drift=zero"])
    assert zero.recorded()["generation"]["drift"] == "zero"
    assert zero.fingerprint("x") != plain.fingerprint("x")
    assert zero.search_fingerprint("x") != plain.search_fingerprint("x")
    assert load_config(None, ["generation.drift=keep"]).fingerprint("x") == plain.fingerprint("x")


@pytest.mark.parametrize("value", [11, -10.5, "up", float("nan"), True, "inf"])
def test_bad_drifts_name_the_key(value):
    with pytest.raises(ConfigError, match="drift"):
        SyntheticDataFactory(SAMPLE, drift=value)
    with pytest.raises(ConfigError, match=r"generation\.drift"):
        load_config({"generation": {"drift": value}})


def test_an_annualized_drift_needs_timestamps(trending):
    frame = trending.iloc[:400].reset_index(drop=True)
    with pytest.raises(ConfigError, match=r"generation\.drift: an annualized drift needs"):
        fit_model(frame, drift=0.05, n_replicates=20)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("drift-api")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as dask:
        app = create_app(data_dir, client=dask, run_overrides=FAST,
                         ui_dir=data_dir / "no-ui-built")
        with TestClient(app) as client:
            client.data_dir = data_dir
            yield client


def test_rest_accepts_a_drift_and_the_manifest_records_it(api):
    ds = upload(api).json()
    base = {"dataset_id": ds["id"], "n_samples": 2, "min_fidelity": 60.0, "seed": 3,
            "formats": ["csv"]}
    for bad in (20, "down", None):
        r = api.post("/api/jobs", json={**base, "drift": bad})
        assert r.status_code == 422 and "drift" in r.text, r.text
    r = api.post("/api/jobs", json={**base, "drift": 0.05})
    assert r.status_code == 202, r.text
    job = wait_job(api, r.json()["id"], finished, timeout=120.0)
    assert job["status"] == "succeeded", job
    manifest = json.loads((api.data_dir / "jobs" / job["id"] / "output" /
                           "manifest.json").read_text())
    assert manifest["config"]["generation"]["drift"] == 0.05
    drift = manifest["model"]["drift"]
    assert drift["setting"] == 0.05
    assert drift["target_per_bar"] == pytest.approx(0.05 / drift["bars_per_year"])
    assert 240 < drift["bars_per_year"] < 260
    assert drift["draws"] >= 1024 and len(drift["history_mean"]) == 1
    assert drift["shift"][0] == pytest.approx(drift["target_per_bar"] - drift["sampler_mean"][0])
    # A request without drift keeps the history's trend and records none.
    r = api.post("/api/jobs", json=base)
    assert r.status_code == 202, r.text
    plain = wait_job(api, r.json()["id"], finished, timeout=120.0)
    assert plain["status"] == "succeeded", plain
    manifest = json.loads((api.data_dir / "jobs" / plain["id"] / "output" /
                           "manifest.json").read_text())
    assert "drift" not in manifest["model"] and "drift" not in manifest["config"]["generation"]
