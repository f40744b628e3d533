"""The new generation methods through the Dask pipeline, the YAML configs and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from benchmarks.reference import make_intraday
from pipeline.config import load_config
from pipeline.core.timeframes import aggregate_frame
from pipeline.errors import ConfigError, SMEWarning
from pipeline.io.assets import load_assets
from pipeline.runner.coordinator import MANIFEST, SCORES, run_pipeline

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def shipped(name: str, tmp_path: Path, *overrides: str):
    """A shipped config made small: fewer scenarios and replicates, output under tmp_path."""
    return load_config(REPO / "configs" / name, [
        "generation.n_samples=6", "scoring.n_replicates=48",
        f"output.path={tmp_path / 'out' / '{run_id}'}", f"cache.path={tmp_path / 'cache'}",
        *overrides,
    ])


def manifest_of(result) -> dict:
    return json.loads((Path(result.output_path) / MANIFEST).read_text())


def test_multi_asset_run_writes_each_asset_and_a_long_table(tmp_path, client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SMEWarning)
        result = run_pipeline(shipped("multi_asset.yaml", tmp_path), client)
    out = Path(result.output_path)
    manifest = manifest_of(result)
    assert manifest["model"]["assets"] == ["NDX", "SPX"]
    assert manifest["input"]["assets"] == ["NDX", "SPX"]
    assert manifest["input"]["alignment"]["NDX"]["dropped"] == 0
    for entry in manifest["scenarios"]:
        frames = {sym: pd.read_parquet(out / files["parquet"])
                  for sym, files in entry["assets"].items()}
        assert set(frames) == {"SPX", "NDX"}
        assert (out / entry["assets"]["SPX"]["csv"]).exists()
        assert entry["files"] == entry["assets"]["NDX"]  # the first symbol, sorted
        long = pd.read_parquet(out / entry["long"])
        for sym, frame in frames.items():
            part = long[long["symbol"] == sym].drop(columns="symbol")
            pd.testing.assert_frame_equal(part, frame)
        # The engine reads its own long output back as a multi-asset input.
        again = load_assets(str(out / entry["long"]), layout="long")
        for sym, frame in frames.items():
            np.testing.assert_array_equal(again[sym].to_numpy(), frame.to_numpy())
        r = {s: np.diff(np.log(f["Close"].to_numpy())) for s, f in frames.items()}
        corr = np.corrcoef(r["SPX"], r["NDX"])[0, 1]
        assert corr == pytest.approx(entry["metrics"]["corr:NDX|SPX"], abs=1e-12)
        assert abs(corr - manifest["reference_metrics"]["corr:NDX|SPX"]) < 0.05
    scores = pd.read_parquet(out / SCORES)
    assert {"SPX:volatility", "NDX:volatility", "corr:NDX|SPX"} <= set(scores.columns)
    with zipfile.ZipFile(next(out.glob("synthetic_batch_*.zip"))) as z:
        names = z.namelist()
    assert sum("_SPX_" in n for n in names) == sum("_NDX_" in n for n in names) == 6


def test_multi_asset_long_table_input(tmp_path, client):
    from pipeline import load_sample

    spx, ndx = load_sample("sp500").iloc[:800], load_sample("nasdaq").iloc[:800]
    long = pd.concat([spx.assign(symbol="SPX"), ndx.assign(symbol="NDX")]).reset_index()
    path = tmp_path / "prices.csv"
    long.to_csv(path, index=False)
    cfg = {"input": {"path": str(path), "layout": "long"},
           "generation": {"n_samples": 4, "min_fidelity": 70, "seed": 1},
           "scoring": {"n_replicates": 32},
           "output": {"path": str(tmp_path / "long-out"), "formats": ["parquet"]},
           "cache": {"path": None}}
    result = run_pipeline(cfg, client)
    assert result.n_accepted == 4
    assert manifest_of(result)["model"]["assets"] == ["NDX", "SPX"]


def test_garch_run_from_yaml_via_the_cli(tmp_path):
    cmd = [sys.executable, "-m", "pipeline.cli", "run", str(REPO / "configs" / "garch.yaml"),
           "--set", "generation.n_samples=4", "--set", "scoring.n_replicates=32",
           "--set", f"output.path={tmp_path / 'g'}", "--set", "cache.path=null",
           "--set", "cluster.n_workers=1", "--set", "cluster.processes=false"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "g" / MANIFEST).read_text())
    garch = manifest["model"]["garch"]["series"]
    assert manifest["model"]["method"] == "garch" and garch["vol"] == "gjr"
    assert garch["params"]["gamma[1]"] > 0 and garch["persistence"] < 1
    assert len(manifest["scenarios"]) == 4


def test_regime_stress_run_records_each_path(tmp_path, client):
    result = run_pipeline(shipped("regime_stress.yaml", tmp_path), client)
    manifest = manifest_of(result)
    regimes = manifest["model"]["regimes"]
    assert manifest["model"]["reference"] == "conditioned"
    stays = [1 / (1 - regimes[k][1][1]) for k in ("fitted_transition", "transition")]
    assert stays[1] == pytest.approx(2 * stays[0])
    assert sum(n for _, n in regimes["input_path"]) == 5030  # one label per return
    length = manifest["model"]["length"]
    high_share = []
    for entry in manifest["scenarios"]:
        runs = entry["regimes"]
        assert sum(n for _, n in runs) == length
        high_share.append(sum(n for r, n in runs if r == 1) / length)
    assert 0.6 < np.mean(high_share) < 0.95


def test_timeframes_on_intraday_input_are_exact(tmp_path, client):
    data = make_intraday(20_000, seed=3)
    path = tmp_path / "intraday.parquet"
    data.to_parquet(path)
    cfg = {"input": {"path": str(path)},
           "generation": {"n_samples": 3, "min_fidelity": 50, "seed": 2,
                          "timeframes": ["1h", "1D"]},
           "scoring": {"n_replicates": 32},
           "output": {"path": str(tmp_path / "tf"), "formats": ["csv", "parquet"]},
           "cache": {"path": None}}
    result = run_pipeline(cfg, client)
    out = Path(result.output_path)
    manifest = manifest_of(result)
    assert manifest["model"]["timeframes"]["1D"]["bars"] == 70
    daily_original = aggregate_frame(data, "1D")
    assert manifest["model"]["timeframes"]["1D"]["reference_metrics"]["max_drawdown"] == \
        pytest.approx(float((1 - daily_original["Close"] / daily_original["Close"].cummax()).max()))
    for entry in manifest["scenarios"]:
        base = pd.read_parquet(out / entry["files"]["parquet"])
        for rule in ("1h", "1D"):
            tf = entry["timeframes"][rule]
            stored = pd.read_parquet(out / tf["files"]["parquet"])
            pd.testing.assert_frame_equal(stored, aggregate_frame(base, rule), check_freq=False)
            assert 0 <= tf["score"] <= 100 and tf["metrics"]["volatility"] > 0
            assert (out / tf["files"]["csv"]).exists()
    scores = pd.read_parquet(out / SCORES)
    assert {"score_1h", "score_1D"} <= set(scores.columns)


def test_a_timeframe_too_coarse_for_the_series_fails_before_any_task(tmp_path):
    cfg = {"input": {"sample": "sample"}, "generation": {"timeframes": ["ME"]},
           "output": {"path": str(tmp_path / "x")}, "cache": {"path": None}}
    with pytest.raises(ConfigError, match="'ME' leaves"):
        run_pipeline(cfg)
    assert not (tmp_path / "x").exists()
