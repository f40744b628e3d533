"""The preflight and the reuse rule: estimates, their reproducible part, the rerun threshold,
and the best score before each accepted attempt that lets another threshold reuse it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.config import ClusterConfig
from pipeline.core.preflight import estimate, preflight, rerun_threshold
from pipeline.core.sampler import search_attempts, still_accepted
from pipeline.factory import fit_model
from pipeline.io.readers import load_sample
from pipeline.runner.cluster import planned_threads

SCORES = np.array([80.0, 85, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97])


@pytest.fixture(scope="module")
def model():
    return fit_model(load_sample("sample"), n_replicates=64)


def test_estimate_counts_passes_and_says_when_a_run_fails():
    easy = estimate(SCORES, 85.0, n_samples=100, max_attempts=200)
    assert (easy.passed, easy.n_pilot) == (11, 12) and easy.verdict == "ok"
    assert easy.suggested_min_fidelity is None
    assert easy.expected_attempts == pytest.approx((1 - (1 / 12) ** 200) / (11 / 12))
    hard = estimate(SCORES, 96.0, n_samples=40, max_attempts=6)
    assert hard.verdict == "will_fail" and hard.p_run_fails > 0.5
    # 3 of the 12 pilot scores (a quarter) reach 95: the highest half-point threshold.
    assert hard.suggested_min_fidelity == 95.0
    assert "will most likely fail" in hard.message and "max_attempts=6" in hard.message


def test_the_time_estimate_spreads_over_threads_and_is_dropped_for_records():
    timed = estimate(SCORES, 90.0, n_samples=1000, max_attempts=200,
                     seconds_per_candidate=0.002, threads=4)
    assert timed.expected_seconds == pytest.approx(timed.expected_candidates * 0.002 / 4)
    assert "on 4 worker threads" in timed.message
    assert timed.to_dict()["threads"] == 4 and "expected_seconds" in timed.to_dict()
    plain = timed.reproducible()
    assert plain.expected_seconds is None and "worker threads" not in plain.message
    assert set(timed.to_dict()) - set(plain.to_dict()) == {"expected_seconds", "threads"}
    assert {k: v for k, v in plain.to_dict().items() if k != "message"} == {
        k: v for k, v in timed.to_dict().items()
        if k not in ("message", "expected_seconds", "threads")}
    assert plain == estimate(SCORES, 90.0, n_samples=1000, max_attempts=200)


def test_rerun_threshold_is_the_lowest_failed_best_rounded_down():
    assert rerun_threshold([93.87, 89.48, 95.0], 96.0) == 89.4
    assert rerun_threshold([90.0], 96.0) == 90.0  # exactly reached: it passes
    assert rerun_threshold([], 96.0) is None
    assert rerun_threshold([95.99], 95.99) == 95.9


@pytest.mark.parametrize(("attempt", "score", "before", "threshold", "max_attempts", "kept"), [
    (0, 91.0, None, 89.0, 10, True),      # the first attempt passes any lower threshold
    (3, 91.0, 88.0, 89.0, 10, True),      # every earlier attempt stays below
    (3, 91.0, 89.5, 89.0, 10, False),     # an earlier attempt now passes first
    (3, 91.0, None, 89.0, 10, False),     # not known: searched again
    (3, 91.0, 88.0, 92.0, 10, False),     # the attempt itself no longer passes
    (3, 93.0, 88.0, 92.0, 10, True),      # a higher threshold it still reaches
    (3, 91.0, 88.0, 89.0, 3, False),      # beyond max_attempts
])
def test_still_accepted(attempt, score, before, threshold, max_attempts, kept):
    assert still_accepted(attempt, score, before, threshold, max_attempts) is kept


def test_best_before_is_the_best_of_every_earlier_attempt(model):
    # Small batches and windows, so the accepted attempts fall in later batches than the
    # attempts before them.
    threshold, seed = 93.0, 5
    found = search_attempts(model, seed, {s: (0, 40) for s in range(6)}, threshold,
                            batch_size=3, lookahead=2)
    assert found.accepted
    for acc in found.accepted:
        earlier = model.evaluate(seed, [acc.scenario] * acc.attempt, range(acc.attempt)).scores \
            if acc.attempt else np.array([])
        assert (earlier < threshold).all()
        if acc.attempt == 0:
            assert acc.best_before is None
        else:
            assert acc.best_before == pytest.approx(float(earlier.max()), abs=0)


def test_preflight_of_a_model_extends_the_pilot_when_few_pass(model):
    pilot = len(model.block_choice.pilot_scores)
    assert preflight(model, 80.0, 10, 200).n_pilot == pilot
    hard = preflight(model, 99.0, 10, 200)
    assert hard.n_pilot > pilot and math.isfinite(hard.median_fidelity)


def test_planned_threads_of_a_local_cluster():
    assert planned_threads(ClusterConfig(n_workers=3, threads_per_worker=2)) == 6
    assert planned_threads(ClusterConfig(processes=False)) == 1
    assert planned_threads(ClusterConfig(address="tcp://127.0.0.1:8786")) is None
    assert planned_threads(ClusterConfig()) >= 1
