"""The REST API as deployed: `sme serve` in its own process (uvicorn + a LocalCluster of worker
processes), driven over HTTP on 127.0.0.1 only."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

from pipeline.io.readers import load_sample
from tests.netutil import sme_serve

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"
TOKEN = "live-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`sme serve` on a free port with a temporary data directory; stopped at the end."""
    tmp_path = tmp_path_factory.mktemp("live")
    options = ["--workers", "2", "--set", "scoring.n_replicates=64",
               "--set", "cluster.task_candidates=32", "--max-concurrent-jobs", "4",
               "--log-level", "warning"]
    with sme_serve(tmp_path, options, TOKEN, TIMEOUT) as (base, proc, _port):
        yield base, proc, tmp_path


def test_serve_upload_generate_follow_events_download(server):
    base, proc, tmp_path = server
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


def wait_finished(client: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {job}"
        time.sleep(0.2)


def test_serve_methods_multi_asset_and_timeframes(server):
    """GARCH, a conditioned regime run, two uploaded assets and a weekly timeframe, at once."""
    base, proc, _ = server
    ndx = load_sample("nasdaq").tail(750).to_csv().encode()
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        ids = {}
        for sym, name, data in (("SPX", "spx.csv", SAMPLE.read_bytes()), ("NDX", "ndx.csv", ndx)):
            r = client.post("/api/datasets", files={"file": (name, data, "text/csv")})
            assert r.status_code == 201, r.text
            ids[sym] = r.json()["id"]
        opts = client.get("/api/options").json()
        assert {"garch", "regime"} <= set(opts["methods"]) and opts["regime"]["conditions"]

        small = {"n_samples": 4, "min_fidelity": 60, "seed": 3}
        bodies = {
            "garch": {"dataset_id": ids["SPX"], **small, "method": "garch",
                      "garch": {"vol": "egarch", "dist": "t"}},
            "regime": {"dataset_id": ids["SPX"], **small, "method": "regime", "length": 300,
                       "regime": {"labels": "quantile", "condition": "high_volatility"}},
            "multi": {"dataset_ids": ids, **small},
            "weekly": {"dataset_id": ids["SPX"], **small, "timeframes": ["W"]},
        }
        jobs = {}
        for name, body in bodies.items():
            r = client.post("/api/jobs", json=body)
            assert r.status_code == 202, (name, r.text)
            jobs[name] = r.json()["id"]
        for name, job_id in jobs.items():
            job = wait_finished(client, job_id)
            assert job["status"] == "succeeded", (name, job["error"])

        res = client.get(f"/api/jobs/{jobs['garch']}/results", params={"max_points": 20}).json()
        assert res["method"] == "garch" and res["garch"]["series"]["vol"] == "egarch"

        res = client.get(f"/api/jobs/{jobs['regime']}/results", params={"max_points": 20}).json()
        assert res["reference"] == "conditioned" and len(res["scenarios"][0]["regime_shares"]) == 2
        s = client.get(f"/api/jobs/{jobs['regime']}/series/1").json()
        assert sum(b["bars"] for b in s["regimes"]) == s["bars"] == 300

        res = client.get(f"/api/jobs/{jobs['multi']}/results", params={"max_points": 20}).json()
        assert set(res["symbols"]) == {"SPX", "NDX"}
        (pair,) = res["correlations"]
        assert 0.5 < pair["corr"]["original"] < 1 and pair["corr"]["median"] is not None
        s = client.get(f"/api/jobs/{jobs['multi']}/series/2", params={"symbol": "NDX"}).json()
        assert s["symbol"] == "NDX" and s["bars"] == 750
        r = client.get(f"/api/jobs/{jobs['multi']}/series/2", params={"symbol": "DAX"})
        assert r.status_code == 422 and r.json()["detail"].startswith("symbol: ")

        res = client.get(f"/api/jobs/{jobs['weekly']}/results", params={"max_points": 20}).json()
        assert res["timeframes"]["W"]["bars"] > 64
        s = client.get(f"/api/jobs/{jobs['weekly']}/series/1", params={"timeframe": "W"}).json()
        assert s["timeframe"] == "W" and s["bars"] == res["timeframes"]["W"]["bars"]

        for body, needle in (
            ({"dataset_id": ids["SPX"], "regime": {"condition": "low_volatility"}},
             "regime.condition: needs method: regime"),
            ({"dataset_ids": {"SPX": ids["SPX"], "NDX": "ds_" + "0" * 32}},
             "dataset_ids.NDX: dataset ds_"),
            ({"dataset_id": ids["SPX"], "timeframes": ["M"]}, "timeframes: 'M' leaves"),
        ):
            r = client.post("/api/jobs", json=body)
            assert r.status_code == 422 and needle in r.json()["detail"], r.text
    assert proc.poll() is None
