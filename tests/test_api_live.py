"""The REST API as deployed: `sme serve` in its own process (uvicorn + a LocalCluster of worker
processes), driven over HTTP on 127.0.0.1 only."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

from tests.netutil import free_port

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"
TOKEN = "live-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT = 90.0


@pytest.fixture
def server(tmp_path):
    """`sme serve` on a free port with a temporary data directory; stopped at the end."""
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in finally
    env = {**os.environ, "SME_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pipeline.cli", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(tmp_path / "data"), "--workers", "2",
           "--set", "scoring.n_replicates=64", "--set", "cluster.task_candidates=32",
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base, proc
    finally:
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None \
            else []
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=20)
        for child in alive:
            child.kill()
        log.close()
        assert not alive, f"worker processes outlived the server: {alive}"


def test_serve_upload_generate_follow_events_download(server, tmp_path):
    base, proc = server
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        health = httpx.get(f"{base}/api/health", timeout=5).json()  # no token needed
        assert health["status"] == "ok" and health["workers"] == 2
        assert httpx.get(f"{base}/api/datasets", timeout=5).status_code == 401
        assert "make serve" in client.get("/").text or client.get("/").status_code == 200

        r = client.post("/api/datasets",
                        files={"file": ("spx.csv", SAMPLE.read_bytes(), "text/csv")})
        assert r.status_code == 201, r.text
        ds = r.json()
        assert ds["rows"] == 750 and ds["name"] == "spx.csv"
        bad = client.post("/api/datasets", files={"file": ("x.csv", b"nonsense", "text/csv")})
        assert bad.status_code == 422 and "x.csv" in bad.json()["detail"]

        r = client.post("/api/jobs", json={
            "dataset_id": ds["id"], "n_samples": 6, "min_fidelity": 80, "seed": 5,
            "formats": ["csv", "xlsx", "parquet"]})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        # Follow the events as a browser's EventSource would: token in the query string.
        events, event = [], None
        deadline = time.monotonic() + TIMEOUT
        with httpx.stream("GET", f"{base}/api/jobs/{job_id}/events", params={"token": TOKEN},
                          timeout=httpx.Timeout(30, read=30)) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                assert time.monotonic() < deadline, "the event stream did not end"
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((event, json.loads(line[6:])))
        assert events[-1][0] == "end" and [e for e, _ in events[:-1]] == ["progress"] * (
            len(events) - 1)
        final = events[-1][1]
        assert final["status"] == "succeeded", final
        accepted = [d["progress"]["accepted"] for _, d in events]
        assert accepted == sorted(accepted) and accepted[-1] == 6
        rid = final["run_id"]

        got = {}
        for artifact in final["artifacts"]:
            r = client.get(f"/api/jobs/{job_id}/download/{artifact}")
            assert r.status_code == 200, (artifact, r.text)
            assert r.headers["content-disposition"].startswith("attachment; filename=")
            got[artifact] = r.content
        assert set(got) == {"csv.zip", "xlsx.zip", "parquet", "manifest.json", "scores.parquet"}
        for artifact, ext in (("csv.zip", "csv"), ("xlsx.zip", "xlsx"), ("parquet", "parquet")):
            with zipfile.ZipFile(io.BytesIO(got[artifact])) as z:
                assert sorted(z.namelist()) == sorted(
                    f"synthetic_{k}_batch_{rid}.{ext}" for k in range(1, 7))
                data = io.BytesIO(z.read(f"synthetic_6_batch_{rid}.{ext}"))
                frame = {"csv": pd.read_csv, "xlsx": pd.read_excel,
                         "parquet": pd.read_parquet}[ext](data)
                assert len(frame) == 750
        manifest = json.loads(got["manifest.json"])
        assert manifest["run_id"] == rid and len(manifest["scenarios"]) == 6
        assert len(pd.read_parquet(io.BytesIO(got["scores.parquet"]))) == 6

        results = client.get(f"/api/jobs/{job_id}/results", params={"max_points": 50}).json()
        assert len(results["fan"]["index"]) == 50 and len(results["fan"]["samples"]) == 5
        assert client.delete(f"/api/jobs/{job_id}").status_code == 204
        assert not (tmp_path / "data" / "jobs" / job_id).exists()
    assert proc.poll() is None
