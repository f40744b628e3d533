"""Streaming scenarios as they are accepted: the factory's stream and the pipeline's iterator."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline import SyntheticDataFactory, iter_scenarios, load_sample
from pipeline.errors import FidelityNotReachedError
from pipeline.runner.coordinator import MANIFEST

REPO = Path(__file__).resolve().parent.parent
SAMPLE = str(REPO / "data" / "sample_ohlcv.csv")


def config(tmp_path: Path, **generation) -> dict:
    gen = {"n_samples": 10, "min_fidelity": 80.0, "seed": 5, "max_attempts": 100}
    gen.update(generation)
    return {
        "input": {"path": SAMPLE},
        "generation": gen,
        "scoring": {"n_replicates": 32},
        "cluster": {"n_workers": 1, "processes": False, "task_candidates": 8},
        "output": {"path": str(tmp_path / "out"), "formats": ["parquet"]},
        "cache": {"path": None},
    }


def test_factory_stream_yields_generate_s_series_in_order():
    factory = SyntheticDataFactory(load_sample("sample"), seed=9)
    whole = factory.generate(20, min_fidelity=85)
    streamed = list(factory.stream(20, min_fidelity=85))
    assert [s.scenario for s in streamed] == list(range(1, 21))
    for item, frame, score in zip(streamed, whole, whole.scores, strict=True):
        pd.testing.assert_frame_equal(item.data, frame)
        assert item.score == score
    endless = factory.stream(min_fidelity=85)
    first = [next(endless) for _ in range(40)]
    endless.close()
    assert [s.scenario for s in first] == list(range(1, 41))
    pd.testing.assert_frame_equal(first[3].data, whole[3])


def test_factory_stream_stops_at_an_unreachable_scenario():
    factory = SyntheticDataFactory(load_sample("sample"), seed=9)
    got = []
    with pytest.raises(FidelityNotReachedError) as info:
        for item in factory.stream(5, min_fidelity=99.9, max_attempts=3):
            got.append(item)
    assert info.value.failed_scenarios and info.value.best_score < 99.9
    assert all(s.score >= 99.9 for s in got)


def test_iter_scenarios_streams_before_the_run_ends(tmp_path):
    stages = {}

    def progress(p):
        stages.setdefault(p.stage, time.perf_counter())

    arrivals = []
    items = []
    for item in iter_scenarios(config(tmp_path, n_samples=24), progress=progress):
        arrivals.append(time.perf_counter())
        items.append(item)
    assert sorted(i.scenario for i in items) == list(range(1, 25))
    assert arrivals[0] < stages["done"]  # the first scenario came while the run was going
    out = tmp_path / "out"
    for item in items:
        stored = pd.read_parquet(next(out.glob(f"synthetic_{item.scenario}_batch_*.parquet")))
        pd.testing.assert_frame_equal(item.data, stored)
        assert 80.0 <= item.score <= 100.0


def test_leaving_the_loop_cancels_and_a_rerun_resumes(tmp_path):
    cfg = config(tmp_path, n_samples=60)
    stream = iter_scenarios(cfg)
    first = [next(stream) for _ in range(3)]
    stream.close()  # cancels the run; what was written stays
    out = tmp_path / "out"
    assert not (out / MANIFEST).exists()
    for item in first:
        assert len(list(out.glob(f"synthetic_{item.scenario}_batch_*.parquet"))) == 1
    assert len(list(out.glob("synthetic_*.parquet"))) < 60
    again = list(iter_scenarios(cfg))
    assert sorted(i.scenario for i in again) == list(range(1, 61))
    assert (out / MANIFEST).exists()
    # A finished run streams its scenarios straight from the manifest.
    assert sorted(i.scenario for i in iter_scenarios(cfg)) == list(range(1, 61))


def test_iter_scenarios_raises_the_run_s_errors(tmp_path):
    with pytest.raises(FidelityNotReachedError):
        for _ in iter_scenarios(config(tmp_path, n_samples=3, min_fidelity=99.99,
                                       max_attempts=2)):
            pass
