"""The Dask pipeline end to end: real clusters, real processes, real S3, faults and resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from distributed import TimeoutError as DaskTimeoutError

from benchmarks.bench_pipeline import TaskCount
from pipeline.config import RunConfig, load_config
from pipeline.errors import ConfigError, FidelityNotReachedError
from pipeline.io.writers import OutputStore
from pipeline.runner.coordinator import MANIFEST, SCORES, RunCancelled, run_pipeline
from tests.netutil import free_port

REPO = Path(__file__).resolve().parent.parent
SAMPLE = str(REPO / "data" / "sample_ohlcv.csv")


def small_config(tmp_path: Path, **generation) -> dict:
    gen = {"n_samples": 12, "min_fidelity": 85.0, "seed": 3, "max_attempts": 100}
    gen.update(generation)
    return {
        "input": {"path": SAMPLE},
        "generation": gen,
        "scoring": {"n_replicates": 64},
        "cluster": {"n_workers": 2, "threads_per_worker": 1, "task_candidates": 16},
        "output": {"path": str(tmp_path / "out" / "{run_id}"), "formats": ["csv", "parquet"]},
        "cache": {"path": str(tmp_path / "cache")},
    }


def file_digests(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def local_client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def test_default_yaml_is_the_embedded_default():
    assert load_config(REPO / "configs" / "default.yaml") == RunConfig()


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_shipped_configs_validate(name):
    load_config(REPO / "configs" / name)


@pytest.mark.parametrize(
    ("data", "overrides", "match"),
    [
        ({"generation": {"n_sample": 5}}, (), r"generation\.n_sample: unknown key"),
        ({"generation": {"n_samples": 0}}, (), r"generation\.n_samples"),
        ({"generation": {"method": "magic"}}, (), r"generation\.method"),
        ({"output": {"formats": ["csv", "xls"]}}, (), r"output\.formats"),
        ({"scoring": {"weights": {"hurts": 1}}}, (), r"scoring\.weights.*unknown metric"),
        ({"input": {"path": "a.csv", "sample": "sp500"}}, (), "exactly one"),
        ({"bogus": 1}, (), "bogus: unknown key"),
        ({}, ("generation.min_fidelity=150",), r"generation\.min_fidelity"),
        ({}, ("nonsense",), "KEY=VALUE"),
    ],
)
def test_config_errors_name_the_key(data, overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(data, overrides)


def test_run_writes_outputs_and_manifest(tmp_path, local_client):
    events = []
    result = run_pipeline(small_config(tmp_path), client=local_client, progress=events.append)
    out = Path(result.output_path)
    assert result.n_accepted == 12 and not result.failed
    rid = result.run_id
    for k in range(1, 13):
        frame = pd.read_csv(out / f"synthetic_{k}_batch_{rid}.csv", index_col="Date",
                            parse_dates=True)
        assert len(frame) == 750 and list(frame.columns) == ["Open", "High", "Low", "Close",
                                                             "Volume"]
        assert (frame["Low"] <= frame[["Open", "Close"]].min(axis=1)).all()
        assert (frame["High"] >= frame[["Open", "Close"]].max(axis=1)).all()
        pq = pd.read_parquet(out / f"synthetic_{k}_batch_{rid}.parquet")
        np.testing.assert_allclose(pq["Close"].to_numpy(), frame["Close"].to_numpy())
    assert (out / f"synthetic_batch_{rid}.zip").exists()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "complete" and len(manifest["scenarios"]) == 12
    assert manifest["input"]["content_sha256"] and manifest["seed"] == 3
    assert all(s["score"] >= 85.0 for s in manifest["scenarios"])
    scores = pd.read_parquet(out / SCORES)
    assert list(scores["scenario"]) == list(range(1, 13))
    assert not (out / "_state").exists() or not any((out / "_state").iterdir())
    assert events[0].stage == "preparing" and events[-1].stage == "done"
    assert events[-1].accepted == 12
    assert 0 < events[-1].acceptance_rate <= 1


def test_identical_outputs_on_one_or_two_workers_threads_or_processes(tmp_path, local_client):
    cfg = small_config(tmp_path)
    a = run_pipeline({**cfg, "output": {**cfg["output"], "path": str(tmp_path / "a")}},
                     client=local_client)
    one = {**cfg, "cluster": {"n_workers": 1, "processes": False, "task_candidates": 5},
           "output": {**cfg["output"], "path": str(tmp_path / "b")}}
    b = run_pipeline(one)
    assert a.run_id == b.run_id
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")


def test_search_keeps_at_most_two_tasks_per_thread_in_flight(tmp_path, local_client):
    tasks = TaskCount(local_client.cluster.scheduler)
    local_client.cluster.scheduler.add_plugin(tasks, name="test-search-tasks")
    try:
        cfg = small_config(tmp_path, n_samples=60)
        cfg["cluster"]["task_candidates"] = 4
        cfg["output"].update(formats=["parquet"], zip=False)
        result = run_pipeline(cfg, client=local_client)
    finally:
        local_client.cluster.scheduler.remove_plugin(name="test-search-tasks")
    assert result.n_accepted == 60
    threads = sum(local_client.nthreads().values())
    # Many rounds of tasks, never more than 2 per worker thread in flight, none over 4
    # scenarios. A finished task stays on the scheduler until the client's release arrives,
    # which may be after the next submission: at most one more round is held.
    assert len(tasks.scenarios) >= 60 / 4
    assert tasks.most_running == 2 * threads
    assert tasks.most_held <= 4 * threads
    assert 1 <= min(tasks.scenarios) and max(tasks.scenarios) <= 4


@pytest.mark.filterwarnings("ignore::pipeline.errors.PreflightWarning")
def test_failure_lists_scenarios_and_partial_run_keeps_them(tmp_path, local_client):
    cfg = small_config(tmp_path, n_samples=4, min_fidelity=99.9, max_attempts=3)
    with pytest.raises(FidelityNotReachedError, match="max_attempts=3") as info:
        run_pipeline(cfg, client=local_client)
    assert info.value.best_score < 99.9 and info.value.failed_scenarios
    cfg["generation"]["allow_partial"] = True
    result = run_pipeline(cfg, client=local_client)
    assert len(result.failed) + result.n_accepted == 4
    manifest = json.loads((Path(result.output_path) / MANIFEST).read_text())
    assert manifest["status"] == result.status == "partial"
    assert result.partial_error.failed_scenarios == sorted(k + 1 for k in result.failed)
    assert manifest["partial"]["reason"] == str(result.partial_error)


def manifest_without(manifest: dict, *summary_keys: str) -> dict:
    """The manifest without its config dump (paths differ between runs) and some counts."""
    out = {k: v for k, v in manifest.items() if k != "config"}
    out["summary"] = {k: v for k, v in manifest["summary"].items() if k not in summary_keys}
    return out


def spent(manifest: dict) -> int:
    """Attempts a finished run spent: attempt + 1 per accepted scenario, max_attempts per
    failed one."""
    failed = len(manifest["summary"]["failed"])
    return (sum(e["attempt"] + 1 for e in manifest["scenarios"])
            + failed * manifest["config"]["generation"]["max_attempts"])


def test_a_failed_run_keeps_its_scenarios_and_a_lower_threshold_resumes_exactly(
        tmp_path, local_client):
    # 40 scenarios at 96 with 6 attempts: some pass, some cannot (the sample's pilot median
    # is about 89), deterministically.
    cfg = small_config(tmp_path, n_samples=40, min_fidelity=96.0, max_attempts=6)
    events = []
    with pytest.raises(FidelityNotReachedError) as info:
        run_pipeline(cfg, client=local_client, progress=events.append)
    err = info.value
    out = Path(err.output_path)
    assert out.parent == tmp_path / "out" and str(out) not in str(err)
    stages = [e.stage for e in events]
    assert stages.index("preflight") < stages.index("generating")
    check = events[stages.index("preflight")].preflight
    assert check.verdict == "will_fail" and check.threads == 2
    assert check.expected_seconds is not None and check.suggested_min_fidelity < 96

    # Everything of the accepted scenarios is written, with a manifest marked partial.
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "partial" and 0 < err.accepted == manifest["summary"]["accepted"]
    assert err.accepted + len(err.failed_scenarios) == 40
    partial = manifest["partial"]
    assert partial["reason"] == str(err)
    assert [f["scenario"] for f in partial["failed_scenarios"]] == err.failed_scenarios
    assert all(f["attempts"] == 6 and f["best_score"] < 96 for f in partial["failed_scenarios"])
    assert {str(f["scenario"]): f["best_score"] for f in partial["failed_scenarios"]} == \
        manifest["summary"]["failed"]
    lowest = min(f["best_score"] for f in partial["failed_scenarios"])
    assert partial["suggested_min_fidelity"] == err.suggested_min_fidelity
    assert lowest - 0.1 < err.suggested_min_fidelity <= lowest
    assert manifest["summary"]["attempts"] == spent(manifest) == events[-1].attempts
    assert manifest["preflight"] == {k: v for k, v in check.to_dict().items()
                                     if k not in ("expected_seconds", "threads", "message")} | {
        "message": check.reproducible().message}
    assert manifest["model"]["block_choice"]["reason"]
    rid = manifest["run_id"]
    accepted = [e["scenario"] for e in manifest["scenarios"]]
    assert list(pd.read_parquet(out / SCORES)["scenario"]) == accepted
    with zipfile.ZipFile(out / f"synthetic_batch_{rid}.zip") as z:
        assert sorted(z.namelist()) == sorted(f"synthetic_{k}_batch_{rid}.csv" for k in accepted)
    assert all((out / e["files"]["parquet"]).exists() for e in manifest["scenarios"])
    assert not (out / "_state").exists()
    # Its rerun fails the same way at once, from the manifest.
    before = (out / MANIFEST).read_bytes()
    with pytest.raises(FidelityNotReachedError) as again:
        run_pipeline(cfg, client=local_client, progress=lambda p: None)
    assert str(again.value) == str(err) and (out / MANIFEST).read_bytes() == before

    # At the suggested threshold, resuming from it equals a fresh run byte for byte.
    lower = {**cfg, "generation": {**cfg["generation"],
                                   "min_fidelity": err.suggested_min_fidelity}}
    resumed = run_pipeline({**lower, "output": {**lower["output"], "path": str(tmp_path / "r"),
                                                "resume_from": err.output_path}},
                           client=local_client, progress=lambda p: None)
    fresh = run_pipeline({**lower, "output": {**lower["output"], "path": str(tmp_path / "f")}},
                         client=local_client, progress=lambda p: None)
    assert resumed.status == fresh.status == "complete" and resumed.run_id == fresh.run_id
    assert file_digests(tmp_path / "r") == file_digests(tmp_path / "f")
    a = json.loads((tmp_path / "r" / MANIFEST).read_text())
    b = json.loads((tmp_path / "f" / MANIFEST).read_text())
    assert manifest_without(a, "resumed") == manifest_without(b, "resumed")
    # Reused: the accepted scenarios whose earlier attempts all stay below the new threshold.
    reusable = [e["scenario"] for e in manifest["scenarios"]
                if e["attempt"] == 0 or e["best_before"] < err.suggested_min_fidelity]
    assert 0 < resumed.resumed == len(reusable) == a["summary"]["resumed"] < err.accepted
    assert resumed.attempts == fresh.attempts == spent(b) == b["summary"]["attempts"]
    assert resumed.evaluated < fresh.evaluated
    # Nothing measured in the manifest: a rerun from scratch writes the same bytes.
    first = (tmp_path / "f" / MANIFEST).read_bytes()
    shutil.rmtree(tmp_path / "f")
    run_pipeline({**lower, "output": {**lower["output"], "path": str(tmp_path / "f")}},
                 client=local_client, progress=lambda p: None)
    assert (tmp_path / "f" / MANIFEST).read_bytes() == first


def test_resume_from_another_input_or_method_is_refused(tmp_path, local_client):
    cfg = small_config(tmp_path, n_samples=3)
    done = run_pipeline(cfg, client=local_client)
    other = small_config(tmp_path, n_samples=3, seed=4)
    other["output"]["resume_from"] = done.output_path
    with pytest.raises(ConfigError, match="output.resume_from: that run was made") as info:
        run_pipeline(other, client=local_client)
    assert done.output_path not in str(info.value)
    cfg["output"].update(resume_from=str(tmp_path / "nothing"), formats=["csv"])
    with pytest.raises(ConfigError, match="no finished run there"):
        run_pipeline(cfg, client=local_client)
    cfg["output"].update(resume_from=done.output_path, formats=["xlsx"])
    with pytest.raises(ConfigError, match="wrote no xlsx files"):
        run_pipeline(cfg, client=local_client)


def test_cancel_then_resume_keeps_finished_scenarios_and_counts_add_up(tmp_path, local_client):
    cfg = small_config(tmp_path, n_samples=40)
    cancel = threading.Event()

    def on_progress(p):
        if p.accepted >= 5:
            cancel.set()

    with pytest.raises(RunCancelled, match="resume") as info:
        run_pipeline(cfg, client=local_client, progress=on_progress, cancel=cancel)
    out = next((tmp_path / "out").iterdir())
    markers = [json.loads(p.read_text())["accepted"] for p in (out / "_state").iterdir()]
    kept = sum(len(m) for m in markers)
    assert kept >= 5
    assert not (out / MANIFEST).exists()
    # The cancelled run counts what it left on disk, tasks in flight at the cancel included.
    assert info.value.accepted == kept == len(list(out.glob("synthetic_*.csv")))
    assert info.value.attempts >= sum(r["attempt"] + 1 for m in markers for r in m)
    events = []
    result = run_pipeline(cfg, client=local_client, progress=events.append)
    assert result.resumed == kept and result.n_accepted == 40
    assert (events[0].stage, events[0].accepted, events[0].resumed) == ("preparing", kept, kept)
    assert all(e.resumed == kept for e in events)
    # The resumed run equals a fresh one, counts included.
    fresh = run_pipeline({**cfg, "output": {**cfg["output"], "path": str(tmp_path / "fresh")}},
                         client=local_client)
    assert file_digests(out) == file_digests(tmp_path / "fresh")
    assert fresh.run_id == result.run_id
    a = json.loads((out / MANIFEST).read_text())
    b = json.loads((tmp_path / "fresh" / MANIFEST).read_text())
    assert manifest_without(a, "resumed") == manifest_without(b, "resumed")
    assert (a["summary"]["resumed"], b["summary"]["resumed"]) == (kept, 0)
    assert result.attempts == fresh.attempts == a["summary"]["attempts"] == spent(a)
    assert events[-1].stage == "done" and events[-1].accepted == 40
    assert events[-1].attempts == result.attempts
    assert events[-1].acceptance_rate == 40 / result.attempts


@pytest.fixture
def dask_processes(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--dashboard-address", ":0"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    workers = []
    try:
        for i in range(2):
            workers.append(subprocess.Popen(
                [str(bindir / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                 "--host", "127.0.0.1", "--dashboard-address", ":0", "--name", f"w{i}",
                 "--local-directory", str(tmp_path / f"w{i}")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs += workers
        with Client(address, timeout="20s") as c:
            c.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_run_against_dask_scheduler_processes(tmp_path, dask_processes):
    address, _ = dask_processes
    cfg = small_config(tmp_path)
    cfg["cluster"] = {"address": address, "task_candidates": 16}
    result = run_pipeline(cfg)
    local = run_pipeline({**small_config(tmp_path),
                          "output": {"path": str(tmp_path / "local"),
                                     "formats": ["csv", "parquet"]},
                          "cluster": {"n_workers": 1, "processes": False}})
    assert result.n_accepted == 12
    assert file_digests(Path(result.output_path)) == file_digests(Path(local.output_path))


def test_killed_worker_mid_run_still_completes_exactly_once(tmp_path, dask_processes):
    address, workers = dask_processes
    cfg = small_config(tmp_path, n_samples=60)
    cfg["cluster"] = {"address": address, "task_candidates": 8}
    killed = threading.Event()

    def on_progress(p):
        if p.accepted >= 6 and not killed.is_set():
            killed.set()
            workers[0].kill()  # SIGKILL: no goodbye to the scheduler, tasks in flight are lost

    result = run_pipeline(cfg, progress=on_progress)
    assert killed.is_set() and workers[0].poll() is not None
    out = Path(result.output_path)
    assert result.n_accepted == 60
    names = sorted(p.name for p in out.glob("synthetic_*_batch_*.csv"))
    assert len(names) == 60
    assert not list(out.rglob(".*tmp*"))
    manifest = json.loads((out / MANIFEST).read_text())
    assert sorted(s["scenario"] for s in manifest["scenarios"]) == list(range(1, 61))


def test_s3_output_through_moto_server(tmp_path, s3_server, s3_bucket, local_client):
    cfg = small_config(tmp_path, n_samples=5)
    cfg["output"] = {"path": f"{s3_bucket}/runs/{{run_id}}", "formats": ["csv", "parquet"],
                     "storage_options": s3_server.storage_options}
    result = run_pipeline(cfg, client=local_client)
    store = OutputStore(result.output_path, storage_options=s3_server.storage_options)
    manifest = store.read_json(MANIFEST)
    assert manifest["status"] == "complete"
    for entry in manifest["scenarios"]:
        for name in entry["files"].values():
            assert store.exists(name)
        csv = pd.read_csv(pd.io.common.BytesIO(store.read_bytes(entry["files"]["csv"])))
        assert len(csv) == 750
    assert store.exists(f"synthetic_batch_{result.run_id}.zip")
    assert store.exists(SCORES)


def test_cli_run_prints_summary_and_bad_config_exits_2(tmp_path):
    cfg_path = tmp_path / "run.yaml"
    import yaml

    cfg = small_config(tmp_path, n_samples=3)
    cfg["cluster"] = {"n_workers": 1, "processes": False}
    cfg_path.write_text(yaml.safe_dump(cfg))
    sme = Path(sys.executable).parent / "sme"
    done = subprocess.run([str(sme), "run", str(cfg_path), "--no-progress"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "fidelity min / median / max" in done.stdout and "outputs:" in done.stdout
    bad = subprocess.run([str(sme), "run", str(cfg_path), "--set", "generation.n_sampels=3"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "generation.n_sampels: unknown key" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_prints_the_preflight_and_how_to_finish_a_failed_run(tmp_path):
    import yaml

    cfg = small_config(tmp_path, n_samples=40, min_fidelity=96.0, max_attempts=6)
    cfg["cluster"] = {"n_workers": 1, "processes": False}
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    sme = str(Path(sys.executable).parent / "sme")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sme, *args], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path)

    only = run("run", str(cfg_path), "--preflight")
    assert only.returncode == 0, only.stderr
    assert only.stderr.startswith("preflight: About ")
    warning = re.search(r"warning: this run will most likely fail at min_fidelity 96, which is "
                        r"kept as given; to use the suggested ([\d.]+) instead: "
                        r"--set generation\.min_fidelity=([\d.]+)$", only.stderr, re.M)
    assert warning and warning[1] == warning[2] and float(warning[1]) < 96
    assert not (tmp_path / "out").exists()  # nothing ran

    failed = run("run", str(cfg_path), "--no-progress")
    assert failed.returncode == 3, failed.stderr
    assert failed.stderr.index("preflight: About") < failed.stderr.index("error: ")
    assert warning[0] in failed.stderr
    finish = re.search(r"^to finish the run from them: (--set generation\.min_fidelity=\S+) "
                       r"(--set output\.resume_from=\S+)$", failed.stderr, re.M)
    assert finish, failed.stderr
    out = finish[2].split("=", 1)[1]
    assert json.loads((Path(out) / MANIFEST).read_text())["status"] == "partial"
    done = run("run", str(cfg_path), "--no-progress", *finish[1].split(" ", 1),
               *finish[2].split(" ", 1))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^status\s+complete$", done.stdout, re.M)
    assert re.search(r"^resumed scenarios\s+[1-9]", done.stdout, re.M)

    gen = run("generate", "sample:sample", "--n-samples", "40", "--min-fidelity", "96",
              "--max-attempts", "6", "--preflight", "--out", str(tmp_path / "gen"))
    assert gen.returncode == 0, gen.stderr
    assert gen.stderr.startswith("preflight: About ") and "instead: --min-fidelity " in gen.stderr
    assert not (tmp_path / "gen").exists()


def _sleep_and_return(x):
    time.sleep(1.0)
    return x


def test_waits_run_on_the_runs_own_client_not_the_default_one():
    """distributed.wait uses the default client's loop; with another client's futures a later
    result() then fails ("bound to a different event loop"). The coordinator's wait does not."""
    from pipeline.runner.coordinator import _wait_on

    with Client(processes=False, n_workers=1, dashboard_address=":0") as other, \
            Client(processes=False, n_workers=1, dashboard_address=":0") as default:
        assert Client.current() is default
        fut = other.submit(_sleep_and_return, 5, pure=False)
        with pytest.raises(DaskTimeoutError):  # still running: the wait binds its event
            _wait_on(other, [fut], 0.05, "FIRST_COMPLETED")
        assert fut.result(timeout=30) == 5
