"""One configuration run three ways (Python API, ``sme run``, REST API) gives the same bytes.

The three runs share one real Dask LocalCluster (worker processes on 127.0.0.1): the Python
run gets its client, ``sme run`` connects to its scheduler through ``cluster.address`` and the
REST app (in-process, as in ``tests/test_api.py``) gets the client too. Each run fits its own
model (its own cache directory), so nothing is shared but the cluster.

The GOLDEN constants are the run id and a sha256 over the compared files, computed on the
engine as it is. They change only when the engine's output version
(``pipeline.config.ENGINE_OUTPUT_VERSION``) changes, i.e. when the same config and seed
are meant to produce different series; then recompute them with::

    .venv/bin/python -m tests.test_golden

(it runs the Python path alone and prints both values) and paste them below. The Parquet
files record the pyarrow and pandas versions that wrote them (``frame_to_bytes`` promises the
same bytes for fixed library versions), so the digest takes a Parquet file by its schema and
column values instead of its bytes: a fresh install that resolves newer libraries must not move
it. Within one environment the three paths must still agree byte for byte. The constant was
recomputed once without an engine change: on a fresh install of 2026-12-01 the commit that set
the previous value gives this one (the installed numerical libraries moved the series' values),
which the test of the three paths against each other does not depend on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from distributed import Client, LocalCluster
from fastapi.testclient import TestClient

from pipeline.api import create_app
from pipeline.runner.coordinator import MANIFEST, SCORES, run_pipeline

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"

GOLDEN_RUN_ID = "a1d780f62583"
GOLDEN_SHA256 = "77fdaedfe8bf4126f23a3e7a4a4a7198e5835bc3fe3cbb3bd1e626da409adcb1"

#: What decides the outputs, shared by the three paths. The REST job request carries the
#: ``generation`` and ``output.formats`` keys; the server-side settings (``scoring``,
#: ``cluster``) reach it as the app's ``run_overrides``, as ``sme serve --set`` would.
GENERATION = {"method": "stationary", "n_samples": 3, "length": 300, "min_fidelity": 70.0,
              "seed": 11}
FORMATS = ["csv", "parquet"]
SCORING = {"n_replicates": 64}
TASK_CANDIDATES = 32
#: The manifest records where the run read, wrote and cached: these differ between the REST
#: data directory (an upload is stored as ``datasets/{id}/data.parquet``, a job writes to
#: ``jobs/{id}/output``) and a config's relative paths, and are nothing the engine computed.
#: They are set to one placeholder before the REST manifest is compared with the others.
PATH_FIELDS = (("config", "input", "path"), ("config", "output", "path"),
               ("config", "cache", "path"), ("input", "source"))
#: Also left out of the golden hash: the scheduler's address (a free port, new at each test
#: session) and the package version (a release is no change of output; the engine's output
#: version is in the run id).
SESSION_FIELDS = (("config", "cluster", "address"), ("package_version",))
TIMEOUT = 120.0


def config(address: str) -> dict:
    """The run's YAML config; paths are relative to the working directory of the run."""
    return {
        "input": {"path": str(SAMPLE)},
        "generation": GENERATION,
        "scoring": SCORING,
        "cluster": {"address": address, "task_candidates": TASK_CANDIDATES},
        "output": {"path": "out/{run_id}", "formats": FORMATS},
        "cache": {"path": "cache"},
        "report": False,
    }


def normalized_manifest(data: bytes, fields: tuple[tuple[str, ...], ...]) -> bytes:
    """The manifest with ``fields`` set to a placeholder, serialized as the engine does."""
    manifest = json.loads(data)
    for keys in fields:
        holder = manifest
        for key in keys[:-1]:
            holder = holder[key]
        holder[keys[-1]] = "<path>"
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def run_files(out: Path) -> dict[str, bytes]:
    """Every file of a finished run by relative name."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


def without_paths(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files with the manifest's path fields normalized."""
    return {**files, MANIFEST: normalized_manifest(files[MANIFEST], PATH_FIELDS)}


def parquet_digest(data: bytes) -> bytes:
    """sha256 of a Parquet file's schema (without the writer's metadata) and column values."""
    table = pq.read_table(io.BytesIO(data))
    h = hashlib.sha256(table.schema.remove_metadata().to_string().encode())
    for name in table.column_names:
        values = table.column(name).to_numpy(zero_copy_only=False)
        if values.dtype == object:
            h.update("\x1f".join(map(repr, values.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(values).tobytes())
    return h.digest()


def golden_digest(files: Mapping[str, bytes], run_id: str) -> str:
    """sha256 over the sorted (relative name, bytes) of the files (the manifest without its
    path and session fields), then the run id."""
    files = {**files,
             MANIFEST: normalized_manifest(files[MANIFEST], PATH_FIELDS + SESSION_FIELDS)}
    h = hashlib.sha256()
    for name in sorted(files):
        digest = (parquet_digest(files[name]) if name.endswith(".parquet")
                  else hashlib.sha256(files[name]).digest())
        h.update(name.encode() + b"\0" + digest)
    h.update(run_id.encode())
    return h.hexdigest()


def python_run(workdir: Path, client: Client) -> tuple[str, dict[str, bytes]]:
    """``run_pipeline`` on the YAML file, from ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "run.yaml"
    path.write_text(yaml.safe_dump(config(client.scheduler.address)))
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        result = run_pipeline(path, client=client)
    finally:
        os.chdir(cwd)
    return result.run_id, run_files(workdir / result.output_path)


def cli_run(workdir: Path, address: str) -> tuple[str, dict[str, bytes]]:
    """``sme run run.yaml`` in a subprocess from ``workdir``; the run id from its one output."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "run.yaml").write_text(yaml.safe_dump(config(address)))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "run.yaml",
                           "--no-progress"], cwd=workdir, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = (workdir / "out").iterdir()
    return out.name, run_files(out)


def rest_run(data_dir: Path, client: Client) -> tuple[str, dict[str, bytes]]:
    """Upload the sample, submit the same settings, wait; the files from the job's folder."""
    overrides = {"scoring": SCORING, "cluster": {"address": client.scheduler.address,
                                                 "task_candidates": TASK_CANDIDATES}}
    app = create_app(data_dir, client=client, run_overrides=overrides,
                     ui_dir=data_dir / "no-ui-built")
    with TestClient(app) as api:
        r = api.post("/api/datasets",
                     files={"file": ("sample_ohlcv.csv", SAMPLE.read_bytes(), "text/csv")})
        assert r.status_code == 201, r.text
        r = api.post("/api/jobs", json={"dataset_id": r.json()["id"], **GENERATION,
                                        "formats": FORMATS})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + TIMEOUT
        while (job := api.get(f"/api/jobs/{job_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, f"job did not finish: {job}"
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
    # A job's outputs live in jobs/{id}/output of the data directory (pipeline.api.jobs).
    return job["run_id"], run_files(data_dir / "jobs" / job_id / "output")


@pytest.fixture(scope="module")
def dask_client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def test_python_cli_and_rest_write_the_same_bytes(tmp_path, dask_client):
    runs = {
        "python": python_run(tmp_path / "python", dask_client),
        "cli": cli_run(tmp_path / "cli", dask_client.scheduler.address),
        "rest": rest_run(tmp_path / "rest", dask_client),
    }
    run_id, files = runs["python"]
    assert {name: rid for name, (rid, _) in runs.items()} == dict.fromkeys(runs, run_id)
    n = GENERATION["n_samples"]
    assert sorted(files) == sorted([MANIFEST, SCORES, f"synthetic_batch_{run_id}.zip"] + [
        f"synthetic_{k}_batch_{run_id}.{ext}" for k in range(1, n + 1) for ext in FORMATS])
    # Python and CLI read the same YAML from the same relative places: every byte is equal,
    # the manifest included.
    assert runs["cli"][1] == files
    rest = runs["rest"][1]
    assert sorted(rest) == sorted(files)
    differing = [f for f in files if without_paths(rest)[f] != without_paths(files)[f]]
    assert not differing, f"REST run: {differing} differ from the Python run's"
    assert (run_id, golden_digest(files, run_id)) == (GOLDEN_RUN_ID, GOLDEN_SHA256)


if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as _cluster, Client(_cluster) as _client:
        import tempfile

        with tempfile.TemporaryDirectory() as _tmp:
            _rid, _files = python_run(Path(_tmp), _client)
            print(f'GOLDEN_RUN_ID = "{_rid}"\nGOLDEN_SHA256 = "{golden_digest(_files, _rid)}"')
