"""The walk-forward calibration on real Dask clusters: ``pipeline.calibrate`` and ``sme calibrate``.

Small settings on the 750-bar sample (12 origins, two methods, 100 scenarios of 10 bars) so
each calibration takes seconds: the same table on one worker or two, a rerun that reads the
finished calibration back without a task, a cancelled one that resumes from its parts, S3
through moto's server, the command line, and settings refused before any work.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from distributed import Client, LocalCluster

import pipeline
from pipeline import load_sample
from pipeline.core.assets import Assets
from pipeline.core.settings import GarchOptions, GenerationSettings
from pipeline.core.walkforward import forecast_origin, walk_origins
from pipeline.errors import ConfigError
from pipeline.runner.calibrate import (
    PARTS_DIR,
    REPORT_PAGE,
    SUMMARY,
    TABLE,
    CalibrationProgress,
    calibrate,
)
from pipeline.runner.coordinator import RunCancelled

REPO = Path(__file__).resolve().parent.parent
SAMPLE = str(REPO / "data" / "sample_ohlcv.csv")
CALIBRATION = {"methods": ["stationary", "garch"], "horizon": 10, "n_scenarios": 100,
               "step": 40, "min_window": 300}
ORIGINS = len(walk_origins(750, 10, 40, 300))


def config(out: str, **calibration) -> dict:
    return {
        "input": {"path": SAMPLE},
        "generation": {"seed": 7},
        "scoring": {"n_replicates": 20},
        "cluster": {"n_workers": 2, "threads_per_worker": 1},
        "output": {"path": out},
        "calibration": {**CALIBRATION, **calibration},
    }


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def reference(tmp_path_factory, client):
    """One calibration on two worker processes, and the bytes of its files."""
    out = tmp_path_factory.mktemp("reference")
    seen: list[CalibrationProgress] = []
    result = calibrate(config(str(out / "{run_id}")), client=client, progress=seen.append)
    folder = Path(result.output_path)
    return result, {name: (folder / name).read_bytes() for name in (TABLE, SUMMARY, REPORT_PAGE)}, seen


def test_the_table_holds_every_origin_method_and_statistic(reference):
    result, files, seen = reference
    assert ORIGINS == 12 and result.origins == ORIGINS and result.resumed == 0
    table = result.table
    assert len(table) == ORIGINS * 2 * 6
    assert table["origin"].is_monotonic_increasing
    assert list(dict.fromkeys(table["method"])) == ["stationary", "garch"]
    assert table["pit"].between(0, 1, inclusive="neither").all()
    assert (table["error"] == "").all()
    # What was written is what was returned.
    written = pd.read_parquet(Path(result.output_path) / TABLE)
    pd.testing.assert_frame_equal(written, table)
    summary = yaml.safe_load(files[SUMMARY])
    assert summary["run_id"] == result.run_id and summary["origins"]["count"] == ORIGINS
    assert [r["method"] for r in summary["summary"]["rows"]][::6] == ["stationary", "garch"]
    page = files[REPORT_PAGE].decode()
    assert "Walk-forward calibration" in page and result.run_id in page
    assert page.count("<svg") >= 2 * 6 and "21-bar" not in page and "10-bar volatility" in page
    # The parts were folded into the table.
    assert not (Path(result.output_path) / PARTS_DIR).exists()
    stages = [p.stage for p in seen]
    assert stages[0] == "fitting" and stages[-1] == "done"
    assert [p.done for p in seen if p.stage == "origins"] == list(range(1, ORIGINS + 1))


def test_the_same_table_on_one_thread_and_a_rerun_reads_it_back(reference, tmp_path):
    result, files, _ = reference
    cfg = config(str(tmp_path / "{run_id}"))
    cfg["cluster"] = {"n_workers": 1, "threads_per_worker": 1, "processes": False}
    other = calibrate(cfg)
    assert other.run_id == result.run_id
    folder = Path(other.output_path)
    assert {n: (folder / n).read_bytes() for n in files} == files
    # A finished calibration is read back, not computed again (no cluster is even started).
    stamps = {n: (folder / n).stat().st_mtime_ns for n in files}
    # A finished calibration without its page (deleted, or from before pages) gets it back.
    (folder / REPORT_PAGE).unlink()
    calibrate(cfg)
    assert (folder / REPORT_PAGE).read_bytes() == files[REPORT_PAGE]
    stamps[REPORT_PAGE] = (folder / REPORT_PAGE).stat().st_mtime_ns
    cfg["cluster"] = {"address": "tcp://127.0.0.1:9"}  # unreachable: any task would fail
    again = calibrate(cfg)
    assert again.resumed == ORIGINS
    assert {n: (folder / n).stat().st_mtime_ns for n in files} == stamps
    pd.testing.assert_frame_equal(again.table, result.table)


def test_a_cancelled_calibration_resumes_from_its_parts(reference, client, tmp_path):
    result, files, _ = reference
    cancel = threading.Event()

    def stop_after_three(p: CalibrationProgress) -> None:
        if p.stage == "origins" and p.done >= 3:
            cancel.set()

    cfg = config(str(tmp_path / "{run_id}"))
    with pytest.raises(RunCancelled, match="rerun the same configuration to resume"):
        calibrate(cfg, client=client, progress=stop_after_three, cancel=cancel)
    folder = tmp_path / result.run_id
    parts = list((folder / PARTS_DIR).glob("*.parquet"))
    assert 3 <= len(parts) < ORIGINS
    assert not (folder / TABLE).exists()
    resumed = calibrate(cfg, client=client)
    assert resumed.resumed == len(parts)
    assert {n: (folder / n).read_bytes() for n in files} == files


def test_seed_and_settings_name_a_new_calibration(reference, client, tmp_path):
    result, _, _ = reference
    other = calibrate(config(str(tmp_path / "{run_id}")), client=client,
                      overrides=("generation.seed=8",))
    assert other.run_id != result.run_id
    same = other.table[["method", "origin", "statistic", "realized"]]
    pd.testing.assert_frame_equal(same, result.table[["method", "origin", "statistic",
                                                       "realized"]])
    assert not np.allclose(other.table["pit"], result.table["pit"])


def test_calibration_writes_to_s3(reference, client, s3_server, s3_bucket):
    result, files, _ = reference
    cfg = config(f"{s3_bucket}/calibrations/{{run_id}}")
    cfg["output"]["storage_options"] = s3_server.storage_options
    remote = calibrate(cfg, client=client)
    assert remote.output_path == f"{s3_bucket}/calibrations/{result.run_id}"
    import s3fs

    fs = s3fs.S3FileSystem(**s3_server.storage_options)
    fs.invalidate_cache()
    for name, data in files.items():
        assert fs.cat_file(f"{remote.output_path}/{name}") == data
    assert not fs.glob(f"{remote.output_path}/{PARTS_DIR}/*")


def test_the_top_level_api_is_the_runner():
    assert pipeline.calibrate is calibrate


@pytest.mark.parametrize(("change", "key"), [
    ({"min_window": 745}, "calibration.min_window"),
    ({"horizon": 0}, "calibration.horizon"),
    ({"methods": []}, "calibration.methods"),
    ({"methods": ["nope"]}, "calibration.methods"),
    ({"window": "sliding"}, "calibration.window"),
    ({"n_scenarios": 5}, "calibration.n_scenarios"),
    ({"surprise": 1}, "calibration.surprise"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, change, key):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        calibrate(config(str(out / "{run_id}"), **change))
    assert not out.exists()


def test_a_regime_window_the_first_fit_cannot_hold_is_refused(tmp_path):
    cfg = config(str(tmp_path / "{run_id}"), methods=["regime"])
    cfg["generation"]["regime"] = {"labels": "quantile", "window": 100}
    with pytest.raises(ConfigError, match=r"generation\.regime\.window.*calibration\.min_window"):
        calibrate(cfg)


def test_a_fit_that_fails_at_an_origin_leaves_that_origin_without_a_pit():
    # A Student-t GARCH is not stationary on the S&P 500 sample's first 2,500 bars (its
    # persistence comes out at 1.0004): that origin is recorded without a PIT, not fatal.
    sp500 = Assets.of(load_sample("sp500"))
    methods = [GenerationSettings(method="garch", garch=GarchOptions(dist="t"), n_replicates=20),
               GenerationSettings(method="iid", n_replicates=20)]
    rows = forecast_origin(sp500, methods, 2499, 21, 50, seed=1)
    garch, iid = rows[rows["method"] == "garch"], rows[rows["method"] == "iid"]
    assert garch["error"].str.contains("not stationary").all()
    assert garch["pit"].isna().all() and (garch["block_size"] == -1).all()
    assert (iid["error"] == "").all() and iid["pit"].notna().all()
    from pipeline.runner.calibrate import failed_fits

    assert failed_fits(rows) == {"garch": 1}


def test_sme_calibrate_prints_the_coverage_and_writes_its_files(tmp_path):
    path = tmp_path / "calibrate.yaml"
    cfg = config(str(tmp_path / "out" / "{run_id}"))
    cfg["calibration"]["methods"] = ["iid"]
    path.write_text(yaml.safe_dump(cfg))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "calibrate", str(path),
                           "--set", "cluster.n_workers=1"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "central 90 % band" in done.stdout and "iid" in done.stdout
    assert f"{ORIGINS} origins" in done.stderr and "origins: 100%" in done.stderr
    [folder] = (tmp_path / "out").iterdir()
    assert {p.name for p in folder.iterdir()} == {TABLE, SUMMARY, REPORT_PAGE}
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "calibrate", str(path),
                          "--set", "calibration.step=0"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2
    assert "calibration.step" in bad.stderr and "Traceback" not in bad.stderr


def test_a_failed_fit_suggests_only_settings_not_already_in_use():
    # Daily Bitcoin up to 2016-09-28: the default GARCH(1,1) with normal errors comes out at a
    # persistence of 1.0005, so the message must not suggest the normal errors it already uses.
    from pipeline.io.panel import load_panel

    with pytest.warns(Warning):
        btc = load_panel("btc_1d")
    bar = int(btc.index.get_loc(pd.Timestamp("2016-09-28")))
    rows = forecast_origin(Assets.of(btc), [GenerationSettings(method="garch", n_replicates=20)],
                           bar, 21, 50, seed=1)
    error = rows["error"].iloc[0]
    assert "not stationary" in error
    assert "generation.garch.vol: egarch" in error and "dist: normal" not in error
