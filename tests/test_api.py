"""The REST API in-process: every route and error, job lifecycle, cancel, restart, auth.

Jobs run on a real threads-only Dask LocalCluster, on the 750-row sample, with small requests.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import logging
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from fastapi.testclient import TestClient

from pipeline.api import create_app
from pipeline.api.jobs import RESTART_ERROR
from pipeline.api.runs import RunCache, score_histogram
from pipeline.core.generators import METHODS
from pipeline.io.limits import SERVER_LIMITS
from pipeline.io.readers import load_sample
from pipeline.io.writers import OutputStore

# Uploads without volume or with repaired rows warn; the API reports that in Dataset.notes.
pytestmark = pytest.mark.filterwarnings("ignore::pipeline.errors.SMEWarning")

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"
#: Server-side settings that keep test jobs fast (fewer bootstrap replicates, smaller tasks).
FAST = {"scoring": {"n_replicates": 64}, "cluster": {"task_candidates": 32}}
SMALL_JOB = {"n_samples": 5, "min_fidelity": 80.0, "seed": 7, "max_attempts": 100}
BIG_JOB = {"n_samples": 20_000, "min_fidelity": 80.0, "seed": 11, "formats": ["csv"]}
UNKNOWN_DS = "ds_" + "0" * 32
UNKNOWN_JOB = "job_" + "0" * 32
TIMEOUT = 60.0


# ------------------------------------------------------------------------------- helpers


def upload(client: TestClient, data: bytes | None = None, name: str = "sample.csv",
           headers: dict | None = None, **params):
    data = SAMPLE.read_bytes() if data is None else data
    return client.post("/api/datasets", files={"file": (name, data, "text/csv")}, params=params,
                       headers=headers)


def wait_job(client: TestClient, job_id: str, pred, timeout: float = TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if pred(job):
            return job
        assert time.monotonic() < deadline, f"timed out waiting on job {job_id}: {job}"
        time.sleep(0.05)


def finished(job: dict) -> bool:
    return job["status"] not in ("queued", "running")


def start_job(client: TestClient, dataset_id: str | None, **request) -> dict:
    r = client.post("/api/jobs", json={"dataset_id": dataset_id, **request})
    assert r.status_code == 202, r.text
    return r.json()


def no_stray_futures(dask: Client, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        processing = dask.processing()
        if not dask.futures and not any(processing.values()):
            return
        assert time.monotonic() < deadline, (dict(dask.futures), processing)
        time.sleep(0.1)


def tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


def sse_events(client: TestClient, url: str, timeout: float = TIMEOUT) -> list[tuple[str, dict]]:
    events, event, deadline = [], None, time.monotonic() + timeout
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "event stream did not end"
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    return events


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dask_client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def api(tmp_path_factory, dask_client):
    """One app on a shared data directory, with the sample uploaded and one finished job."""
    data_dir = tmp_path_factory.mktemp("api-data")
    app = create_app(data_dir, client=dask_client, run_overrides=FAST, max_concurrent_jobs=3,
                     ui_dir=data_dir / "no-ui-built")
    with TestClient(app) as client:
        ds = upload(client).json()
        job = start_job(client, ds["id"], **SMALL_JOB, formats=["csv", "xlsx", "parquet"])
        events = sse_events(client, f"/api/jobs/{job['id']}/events")
        client.data_dir = data_dir
        client.dataset = ds
        client.job = client.get(f"/api/jobs/{job['id']}").json()
        client.events = events
        yield client


# ------------------------------------------------------------------------ health, options, UI


def test_health_options_docs_and_not_built_page(api):
    health = api.get("/api/health").json()
    assert health["status"] == "ok" and health["workers"] == 2 and health["version"]
    opts = api.get("/api/options").json()
    assert set(opts) >= {"schema", "defaults", "methods", "formats", "metrics", "limits",
                         "samples"}
    assert opts["schema"]["additionalProperties"] is False
    assert opts["defaults"]["n_samples"] == 1000 and opts["defaults"]["formats"] == ["csv",
                                                                                     "parquet"]
    assert "stationary" in opts["methods"] and opts["formats"] == ["csv", "xlsx", "parquet"]
    assert {m["name"] for m in opts["metrics"]} >= {"volatility", "hurst"}
    assert all(m["description"] for m in opts["metrics"])
    assert opts["limits"] == {"max_n_samples": 100_000, "max_length": 1_000_000,
                              "max_upload_mb": 200, "max_concurrent_jobs": 3,
                              "max_upload_inflated_mb": 512, "max_upload_line_kb": 64,
                              "max_upload_columns": 1000, "max_upload_rows": 1_000_000,
                              "upload_parse_seconds": 120}
    page = api.get("/")
    assert page.status_code == 200 and "make serve" in page.text
    assert api.get("/docs").status_code == 200
    missing = api.get("/api/nope")
    assert missing.status_code == 404 and "no route" in missing.json()["detail"]


def test_built_dashboard_is_served_with_client_side_routes(tmp_path, dask_client):
    ui = tmp_path / "dist"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<html>dashboard</html>")
    (ui / "assets" / "app.js").write_text("console.log(1)")
    app = create_app(tmp_path / "data", client=dask_client, ui_dir=ui)
    with TestClient(app) as client:
        assert client.get("/").text == "<html>dashboard</html>"
        assert client.get("/assets/app.js").text == "console.log(1)"
        assert client.get("/jobs/some-job").text == "<html>dashboard</html>"
        assert client.get("/assets/missing.js").status_code == 404
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.get("/api/unknown").status_code == 404


def test_app_owns_its_cluster(tmp_path):
    app = create_app(tmp_path, processes=False, n_workers=1)
    with TestClient(app) as client:
        assert client.get("/api/health").json()["workers"] == 1
        dask = app.state.sme.client
        assert dask is not None and dask.status == "running"
    assert app.state.sme.client is None and dask.status == "closed"


# ------------------------------------------------------------------------------- datasets


def test_upload_stores_normalized_parquet_and_record(api):
    ds = api.dataset
    assert ds["id"].startswith("ds_") and ds["name"] == "sample.csv" and ds["rows"] == 750
    assert ds["columns"] == ["Open", "High", "Low", "Close", "Volume"] and ds["has_volume"]
    assert ds["start"] == "2016-01-08T00:00:00" and ds["end"] == "2018-12-31T00:00:00"
    assert ds["frequency"] == "1 day (business days)"
    assert ds["size_bytes"] == SAMPLE.stat().st_size
    assert 0.001 < ds["reference_metrics"]["volatility"] < 0.05
    folder = api.data_dir / "datasets" / ds["id"]
    stored = pd.read_parquet(folder / "data.parquet")
    original = pd.read_csv(SAMPLE, index_col="Date", parse_dates=True)
    np.testing.assert_allclose(stored["Close"].to_numpy(), original["Close"].to_numpy())
    assert json.loads((folder / "dataset.json").read_text())["id"] == ds["id"]
    assert api.get(f"/api/datasets/{ds['id']}").json() == ds
    assert ds["id"] in [d["id"] for d in api.get("/api/datasets").json()]


def test_dataset_ohlcv_is_downsampled_by_bucket_aggregates(api):
    ds = api.dataset
    original = pd.read_csv(SAMPLE, index_col="Date", parse_dates=True)
    full = api.get(f"/api/datasets/{ds['id']}/ohlcv", params={"max_points": 5000}).json()
    assert len(full["close"]) == 750 and full["step"] == 1
    np.testing.assert_allclose(full["close"], original["Close"])
    s = api.get(f"/api/datasets/{ds['id']}/ohlcv", params={"max_points": 100}).json()
    step = s["step"]
    assert step == 8 and len(s["close"]) == len(s["index"]) == 94 and s["bars"] == 750
    first = original.iloc[:step]
    assert s["open"][0] == first["Open"].iloc[0] and s["close"][0] == first["Close"].iloc[-1]
    assert s["high"][0] == first["High"].max() and s["low"][0] == first["Low"].min()
    assert s["volume"][0] == pytest.approx(first["Volume"].sum())
    assert s["close"][-1] == original["Close"].iloc[-1]
    default = api.get(f"/api/datasets/{ds['id']}/ohlcv").json()
    assert len(default["close"]) == 750  # default max_points is 1000
    assert api.get(f"/api/datasets/{ds['id']}/ohlcv", params={"max_points": 0}).status_code == 422


def test_sample_datasets_and_delete(api):
    r = api.post("/api/datasets/samples/sample")
    assert r.status_code == 201 and r.json()["rows"] == 750
    ds_id = r.json()["id"]
    assert api.get("/api/datasets").json()[0]["id"] == ds_id  # newest first
    r = api.post("/api/datasets/samples/bitcoin")
    assert r.status_code == 404 and "sp500" in r.json()["detail"]
    assert api.delete(f"/api/datasets/{ds_id}").status_code == 204
    assert api.get(f"/api/datasets/{ds_id}").status_code == 404
    assert not (api.data_dir / "datasets" / ds_id).exists()
    assert api.delete(f"/api/datasets/{ds_id}").status_code == 404


BAD_UPLOADS = {
    "empty": (b"", "empty.csv", "empty"),
    "garbage": (bytes(range(256)) * 40, "noise.csv", "Cannot use 'noise.csv'"),
    "missing close": (b"Date,Open,High,Low\n" + b"".join(
        f"2020-01-{d:02d},1,2,0.5\n".encode() for d in range(1, 29)), "noclose.csv", "Close"),
    "too short": (b"Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1.5\n", "short.csv", "200"),
    "xlsx name, csv bytes": (SAMPLE.read_bytes(), "prices.xlsx", "prices.xlsx"),
    "bad rows": (SAMPLE.read_bytes().replace(b"1938.68", b"-5", 1), "neg.csv", "Close"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_422_with_the_reader_message(api, case):
    data, name, needle = BAD_UPLOADS[case]
    r = upload(api, data, name)
    assert r.status_code == 422, r.text
    assert needle.lower() in r.json()["detail"].lower()


def test_repair_flag_fixes_bad_rows(api):
    data = SAMPLE.read_bytes().replace(b"1938.68", b"-5", 1)
    r = upload(api, data, "neg.csv", repair="true")
    assert r.status_code == 201 and r.json()["rows"] == 749
    assert any("repaired" in n for n in r.json()["notes"])
    api.delete(f"/api/datasets/{r.json()['id']}")


def test_upload_must_be_a_multipart_file(api):
    r = api.post("/api/datasets", json={"file": "x"})
    assert r.status_code == 422 and "file" in r.json()["detail"]


def test_upload_over_the_limit_is_413_by_header_and_by_count(tmp_path, dask_client):
    app = create_app(tmp_path, client=dask_client, max_upload_mb=0.01)
    with TestClient(app) as client:
        r = upload(client)
        assert r.status_code == 413 and "limit of 0.01 MB" in r.json()["detail"]
        # No Content-Length (chunked): the bytes are counted as they arrive.
        boundary = "sme-test-boundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body():
            yield head
            data = SAMPLE.read_bytes()
            for i in range(0, len(data), 4096):
                yield data[i:i + 4096]
            yield tail

        r = client.post("/api/datasets", content=body(),
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413, r.text
        assert client.get("/api/datasets").json() == []
        small = SAMPLE.read_bytes()[:9000]
        assert upload(client, small).status_code == 422  # under the limit: read, too short


# ------------------------------------------------------------------------- ids and errors


ROUTES_WITH_IDS = [
    ("GET", "/api/datasets/{ds}"),
    ("GET", "/api/datasets/{ds}/ohlcv"),
    ("DELETE", "/api/datasets/{ds}"),
    ("GET", "/api/jobs/{job}"),
    ("GET", "/api/jobs/{job}/events"),
    ("GET", "/api/jobs/{job}/results"),
    ("GET", "/api/jobs/{job}/series/1"),
    ("GET", "/api/jobs/{job}/download/csv.zip"),
    ("DELETE", "/api/jobs/{job}"),
    ("POST", "/api/jobs/{job}/retry"),
]


@pytest.mark.parametrize(("method", "route"), ROUTES_WITH_IDS)
def test_unknown_ids_are_404_and_malformed_ids_422(api, method, route):
    r = api.request(method, route.format(ds=UNKNOWN_DS, job=UNKNOWN_JOB))
    assert r.status_code == 404 and "not found" in r.json()["detail"]
    for bad in ("ds_123", "job_XYZ", "..", "ds_" + "0" * 31 + "g", "%2e%2e%2fetc"):
        r = api.request(method, route.format(ds=bad, job=bad))
        assert r.status_code in (404, 422), (bad, r.status_code)
        if r.status_code == 422:
            assert "is not a" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"n_sample": 5}, "n_sample: unknown key; allowed keys here: dataset_id, dataset_ids, "
                          "input_layout, n_samples"),
        ({"method": "magic"}, "method:"),
        ({"block_size": 0}, "block_size must be 'auto' or an integer >= 1"),
        ({"weights": {"hurts": 1}}, "weights: unknown metric"),
        ({"formats": ["csv", "xls"]}, "formats.1:"),
        ({"formats": []}, "formats:"),
        ({"min_fidelity": 120}, "min_fidelity:"),
        ({"length": 50}, "length:"),
        ({"n_samples": 100_001}, "n_samples: 100001 is above this server's limit of 100000"),
        ({"length": 1_000_001}, "length: 1000001 bars is above this server's limit"),
    ],
)
def test_job_request_validation_names_the_key(api, body, needle):
    r = api.post("/api/jobs", json={"dataset_id": api.dataset["id"], **body})
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_job_request_dataset_errors_and_bad_json(api):
    r = api.post("/api/jobs", json={"dataset_id": UNKNOWN_DS})
    assert r.status_code == 404 and UNKNOWN_DS in r.json()["detail"]
    r = api.post("/api/jobs", json={"dataset_id": "../../etc"})
    assert r.status_code == 422 and "dataset_id" in r.json()["detail"]
    r = api.post("/api/jobs", json={})
    assert r.status_code == 422
    assert "dataset_id: give exactly one of dataset_id (one dataset) and dataset_ids" in \
        r.json()["detail"]
    assert r.json()["errors"][0]["loc"] == ["body", "dataset_id"]
    r = api.post("/api/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = api.post("/api/jobs", content=b"x" * (2 << 20), headers={"Content-Type":
                                                               "application/json"})
    assert r.status_code == 413


def test_unexpected_errors_are_a_logged_generic_500(api, monkeypatch):
    def boom():
        raise RuntimeError("secret internals")

    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    logger = logging.getLogger("pipeline.api")
    logger.addHandler(handler)
    monkeypatch.setattr(api.app.state.sme.datasets, "list", boom)
    try:
        r = api.get("/api/datasets")
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal server error; the details are in the server log"}
    assert any(rec.exc_info and "secret internals" in str(rec.exc_info[1]) for rec in logged)


# ------------------------------------------------------------------------------ a job's life


def test_job_lifecycle_and_events(api):
    job = api.job
    assert job["status"] == "succeeded" and job["error"] is None and job["run_id"]
    assert job["started_at"] and job["finished_at"] and job["dataset_name"] == "sample.csv"
    assert job["request"] == {
        "dataset_id": api.dataset["id"], "dataset_ids": None, "input_layout": None,
        **SMALL_JOB, "method": "stationary", "block_size": "auto", "length": None,
        "allow_partial": False, "drift": "keep", "formats": ["csv", "xlsx", "parquet"],
        "weights": {},
        "garch": {"vol": "garch", "dist": "normal"},
        "regime": {"labels": "markov", "n_regimes": 2, "window": 21, "condition": None,
                   "share": None, "duration_factor": 1.0},
        "timeframes": [], "resume_from": None}
    assert job["dataset_ids"] is None and job["symbols"] is None
    p = job["progress"]
    assert p["stage"] == "done" and p["accepted"] == p["requested"] == 5 and p["attempts"] > 0
    assert 0 < p["acceptance_rate"] <= 1 and p["eta_seconds"] == 0
    assert job["artifacts"] == ["csv.zip", "xlsx.zip", "parquet", "manifest.json",
                                "scores.parquet"]
    names = [e for e, _ in api.events]
    assert names[-1] == "end" and set(names[:-1]) == {"progress"} and len(names) >= 2
    assert api.events[-1][1]["status"] == "succeeded"
    stages = [d["progress"]["stage"] for e, d in api.events if e == "progress"]
    assert stages[-1] == "done"
    assert api.get("/api/jobs").json()[-1]["id"] == job["id"]
    record = json.loads((api.data_dir / "jobs" / job["id"] / "job.json").read_text())
    # The stored record also says which kind of job it is (/api/jobs serves generation jobs).
    assert record.pop("kind") == "generation"
    assert record == job
    # A finished job's stream is one progress event and the end.
    events = sse_events(api, f"/api/jobs/{job['id']}/events")
    assert [e for e, _ in events] == ["progress", "end"]


def test_results_shape(api):
    job = api.job
    r = api.get(f"/api/jobs/{job['id']}/results", params={"max_points": 100})
    assert r.status_code == 200
    res = r.json()
    assert res["run_id"] == job["run_id"] and res["status"] == "complete"
    assert set(res["reference_metrics"]) >= {"volatility", "hurst"}
    assert set(res["weights"]) == set(res["scored_metrics"])
    assert [s["scenario"] for s in res["scenarios"]] == [1, 2, 3, 4, 5]
    assert all(s["score"] >= 80 and set(s) == {"scenario", "score", "attempt", "metrics"}
               for s in res["scenarios"])
    fan = res["fan"]
    n = len(fan["index"])
    assert n == 94 and len(fan["original"]) == n and fan["n_series"] == 5
    assert list(fan["percentiles"]) == ["5", "25", "50", "75", "95"]
    bands = np.array([fan["percentiles"][k] for k in ["5", "25", "50", "75", "95"]])
    assert bands.shape == (5, n) and (np.diff(bands, axis=0) >= 0).all()
    assert len(fan["samples"]) == 5 and all(len(s) == n for s in fan["samples"])
    paths = np.array(fan["samples"])  # all 5 series here
    assert (paths.min(axis=0) <= bands[0]).all() and (bands[-1] <= paths.max(axis=0)).all()
    # The sample paths are the series' closes at each bucket's last bar.
    series = api.get(f"/api/jobs/{job['id']}/series/1", params={"max_points": 100}).json()
    assert series["close"] == fan["samples"][0] and series["index"] == fan["index"]
    default = api.get(f"/api/jobs/{job['id']}/results").json()
    assert len(default["fan"]["index"]) == 375  # default max_points 500: 2 bars a point
    assert api.get(f"/api/jobs/{job['id']}/results",
                   params={"max_points": 1}).status_code == 422


def test_results_sum_up_every_scenario_and_list_a_page(api):
    """The results' counts, score summary, histogram and metric spreads are those of every
    scenario of the manifest; ``scenarios`` lists the first ``limit`` in the order ``sort``,
    and GET /scenarios pages through all of them."""
    job = api.job
    base = f"/api/jobs/{job['id']}"
    manifest = json.loads((api.data_dir / "jobs" / job["id"] / "output" /
                           "manifest.json").read_text())
    records = manifest["scenarios"]
    scores = np.array([r["score"] for r in records])
    res = api.get(f"{base}/results", params={"limit": 2, "sort": "-score"}).json()
    assert res["n_scenarios"] == 5
    by_score = [r["scenario"] for r in sorted(records, key=lambda r: (-r["score"],
                                                                      r["scenario"]))]
    assert [s["scenario"] for s in res["scenarios"]] == by_score[:2]
    summary = res["score_summary"]
    assert summary["count"] == 5 and summary["best_scenario"] == by_score[0]
    np.testing.assert_allclose([summary[k] for k in ("min", "median", "max", "mean")],
                               [scores.min(), np.median(scores), scores.max(), scores.mean()])
    assert summary["mean_attempts"] == pytest.approx(np.mean([r["attempt"] + 1
                                                              for r in records]))
    hist = res["score_histogram"]
    assert sum(hist["counts"]) == 5
    for score in scores:  # each score counted in the bin around it
        (i,) = [i for i, c in enumerate(hist["centers"])
                if c - hist["width"] / 2 - 1e-9 <= score < c + hist["width"] / 2]
        assert hist["counts"][i] >= 1
    vol = [r["metrics"]["volatility"] for r in records]
    assert res["metric_spreads"]["volatility"] == pytest.approx(
        {"min": min(vol), "median": float(np.median(vol)), "max": max(vol)})
    assert set(res["metric_spreads"]) == set(records[0]["metrics"])
    assert api.get(f"{base}/results", params={"limit": 0}).json()["scenarios"] == []

    page = api.get(f"{base}/scenarios", params={"offset": 1, "limit": 2, "sort": "score"})
    assert page.status_code == 200
    page = page.json()
    assert (page["total"], page["offset"], page["limit"], page["sort"]) == (5, 1, 2, "score")
    assert [s["scenario"] for s in page["scenarios"]] == by_score[::-1][1:3]
    every = api.get(f"{base}/scenarios").json()["scenarios"]  # default: by number, 100
    assert every == api.get(f"{base}/results").json()["scenarios"]
    assert [s["scenario"] for s in every] == [1, 2, 3, 4, 5]
    last_first = api.get(f"{base}/scenarios", params={"sort": "-scenario"}).json()
    assert [s["scenario"] for s in last_first["scenarios"]] == [5, 4, 3, 2, 1]
    assert api.get(f"{base}/scenarios", params={"offset": 5}).json()["scenarios"] == []
    for params in ({"sort": "attempt"}, {"limit": 0}, {"limit": 1001}, {"offset": -1}):
        r = api.get(f"{base}/scenarios", params=params)
        assert r.status_code == 422, params
    assert api.get(f"/api/jobs/{UNKNOWN_JOB}/scenarios").status_code == 404


def test_score_histogram_bins():
    """About sqrt(n) bins (5 to 30) of a round width, aligned to it; non-finite scores left
    out."""
    assert score_histogram(np.array([91.0, 95.0, np.nan])) == {
        "centers": [91.5, 92.5, 93.5, 94.5, 95.5], "counts": [1, 0, 0, 0, 1], "width": 1.0}
    wide = score_histogram(np.linspace(60.0, 99.9, 10_000))
    assert len(wide["counts"]) <= 30 and sum(wide["counts"]) == 10_000
    assert wide["width"] == 2.0 and wide["centers"][0] == 61.0
    assert score_histogram(np.array([np.inf])) == {"centers": [], "counts": [], "width": 1.0}


def test_a_finished_jobs_run_is_opened_once(api):
    """The run cache keeps an opened run until its manifest changes or the job is forgotten,
    and lets the least recently read go past its size."""
    job_id = api.job["id"]
    out = OutputStore(str(api.data_dir / "jobs" / job_id / "output"))
    runs = RunCache()
    first = runs.get(out, job_id)
    assert runs.get(out, job_id) is first and len(first.run.scenarios) == 5
    manifest = api.data_dir / "jobs" / job_id / "output" / "manifest.json"
    later = manifest.stat().st_mtime_ns + 10**9
    os.utime(manifest, ns=(later, later))  # the same bytes, written again
    second = runs.get(out, job_id)
    assert second is not first and second.run.manifest == first.run.manifest
    runs.forget(job_id)
    assert runs.get(out, job_id) is not second
    small = RunCache(max_scenarios=5)
    a = small.get(out, "a")
    assert small.get(out, "b") is not a
    assert small.get(out, "b") is small.get(out, "b")
    assert small.get(out, "a") is not a  # let go when "b" came


def test_series_of_a_scenario(api):
    job = api.job
    out = api.data_dir / "jobs" / job["id"] / "output"
    s = api.get(f"/api/jobs/{job['id']}/series/3", params={"max_points": 5000}).json()
    frame = pd.read_parquet(out / f"synthetic_3_batch_{job['run_id']}.parquet")
    assert len(s["close"]) == 750 and s["volume"] is not None
    np.testing.assert_allclose(s["close"], frame["Close"].to_numpy())
    r = api.get(f"/api/jobs/{job['id']}/series/99")
    assert r.status_code == 404 and "1..5" in r.json()["detail"]
    assert api.get(f"/api/jobs/{job['id']}/series/0").status_code == 404


def test_every_download_artifact(api):
    job, rid = api.job, api.job["run_id"]
    base = f"/api/jobs/{job['id']}/download"
    expected_csv = {f"synthetic_{k}_batch_{rid}.csv" for k in range(1, 6)}

    r = api.get(f"{base}/csv.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="synthetic_batch_{rid}.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert set(z.namelist()) == expected_csv
        frame = pd.read_csv(z.open(f"synthetic_1_batch_{rid}.csv"), index_col="Date")
        assert len(frame) == 750 and list(frame.columns) == ["Open", "High", "Low", "Close",
                                                             "Volume"]

    r = api.get(f"{base}/xlsx.zip")
    assert f"synthetic_batch_{rid}_xlsx.zip" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert set(z.namelist()) == {n.replace(".csv", ".xlsx") for n in expected_csv}
        assert len(pd.read_excel(io.BytesIO(z.read(f"synthetic_2_batch_{rid}.xlsx")))) == 750

    r = api.get(f"{base}/parquet")
    assert f"synthetic_batch_{rid}_parquet.zip" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert set(z.namelist()) == {n.replace(".csv", ".parquet") for n in expected_csv}
        assert len(pd.read_parquet(io.BytesIO(z.read(f"synthetic_5_batch_{rid}.parquet")))) == 750
    again = api.get(f"{base}/parquet")  # built once, then streamed from the job directory
    assert again.content == r.content
    assert (api.data_dir / "jobs" / job["id"] / "output" /
            f"synthetic_batch_{rid}_parquet.zip").exists()

    r = api.get(f"{base}/manifest.json")
    assert f"manifest_{rid}.json" in r.headers["content-disposition"]
    manifest = r.json()
    assert manifest["run_id"] == rid and len(manifest["scenarios"]) == 5
    assert manifest["model"]["weights"] and manifest["reference_metrics"]

    r = api.get(f"{base}/scores.parquet")
    scores = pd.read_parquet(io.BytesIO(r.content))
    assert list(scores["scenario"]) == [1, 2, 3, 4, 5]

    r = api.get(f"{base}/report.pdf")
    assert r.status_code == 404 and "csv.zip" in r.json()["detail"]


def test_running_job_has_no_results_and_missing_format_is_404(api, dask_client):
    job = start_job(api, api.dataset["id"], **BIG_JOB)
    try:
        for route in ("results", "series/1", "download/csv.zip"):
            r = api.get(f"/api/jobs/{job['id']}/{route}")
            assert r.status_code == 409 and "succeeded" in r.json()["detail"]
        r = api.delete(f"/api/datasets/{api.dataset['id']}")
        assert r.status_code == 409 and "running job" in r.json()["detail"]
    finally:
        assert api.delete(f"/api/jobs/{job['id']}").json()["status"] == "cancelled"
    small = start_job(api, api.dataset["id"], **SMALL_JOB, formats=["parquet"])
    small = wait_job(api, small["id"], finished)
    assert small["status"] == "succeeded" and small["artifacts"] == ["parquet", "manifest.json",
                                                                     "scores.parquet"]
    r = api.get(f"/api/jobs/{small['id']}/download/csv.zip")
    assert r.status_code == 404 and "did not produce csv.zip" in r.json()["detail"]
    assert api.get(f"/api/jobs/{small['id']}/download/parquet").status_code == 200
    no_stray_futures(dask_client)


#: Fails quickly and deterministically: some of 120 scenarios reach 96 within 6 attempts on the
#: 750-bar sample (whose pilot median is about 89), others cannot. Not fewer scenarios: the event
#: stream, opened after the job starts, must still find it running.
HARD_JOB = {"n_samples": 120, "min_fidelity": 96.0, "seed": 7, "max_attempts": 6,
            "formats": ["csv", "parquet"]}


def output_digests(client: TestClient, job: dict) -> dict[str, bytes]:
    out = client.data_dir / "jobs" / job["id"] / "output"
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.is_file() and p.name != "manifest.json"}


@pytest.fixture(scope="module")
def partial_job(api):
    """A job that ended partial (finished), with the events of its stream."""
    job = start_job(api, api.dataset["id"], **HARD_JOB)
    events = sse_events(api, f"/api/jobs/{job['id']}/events")
    return api.get(f"/api/jobs/{job['id']}").json(), events


def test_preflight_of_a_request_without_a_job(api):
    jobs_before = len(api.get("/api/jobs").json())
    body = {"dataset_id": api.dataset["id"], **HARD_JOB}
    r = api.post("/api/preflight", json=body)
    assert r.status_code == 200, r.text
    hard = r.json()
    assert hard["verdict"] == "will_fail" and hard["min_fidelity"] == 96
    assert 80 < hard["suggested_min_fidelity"] < 96 and hard["threads"] == 2
    assert hard["expected_seconds"] >= 0 and "max_attempts=6" in hard["message"]
    assert 0 <= hard["acceptance_interval"][0] <= hard["acceptance"]
    easy = api.post("/api/preflight", json={**body, "min_fidelity": 80, "max_attempts": 200})
    assert easy.json()["verdict"] == "ok" and easy.json()["suggested_min_fidelity"] is None
    # The same request is answered alike (the model comes from the fit cache).
    assert api.post("/api/preflight", json=body).json() == hard
    assert len(api.get("/api/jobs").json()) == jobs_before
    r = api.post("/api/preflight", json={**body, "dataset_id": UNKNOWN_DS})
    assert r.status_code == 404
    r = api.post("/api/preflight", json={**body, "min_fidelity": 120})
    assert r.status_code == 422 and "min_fidelity" in r.json()["detail"]


def test_a_job_carries_its_preflight_and_warnings(api, partial_job):
    job, events = partial_job
    check = job["preflight"]
    assert check["verdict"] == "will_fail" and job["warnings"] == [check["message"]]
    assert check["min_fidelity"] == 96 and check["threads"] == 2
    assert api.job["preflight"]["verdict"] == "ok" and api.job["warnings"] == []
    # Visible as soon as it is known: in the stream before the run finishes.
    first = next(d for e, d in events if d.get("preflight"))
    assert first["status"] == "running" and first["preflight"] == check


def test_a_fidelity_failure_is_a_partial_job_with_results(api, partial_job):
    job, _ = partial_job
    assert job["status"] == "partial" and job["error"] is None
    part = job["partial"]
    assert "max_attempts=6" in part["reason"] and part["failed"] > 0 and part["accepted"] > 0
    assert part["accepted"] + part["failed"] == HARD_JOB["n_samples"] == job["progress"]["requested"]
    assert job["progress"]["accepted"] == part["accepted"] and job["progress"]["failed"] > 0
    assert part["best_score"] < 96 and part["suggested_min_fidelity"] < 96
    assert job["artifacts"] == ["csv.zip", "parquet", "manifest.json", "scores.parquet"]
    # Its accepted scenarios are results like a succeeded job's.
    res = api.get(f"/api/jobs/{job['id']}/results").json()
    assert res["status"] == "partial" and res["partial"] == part
    assert len(res["scenarios"]) == part["accepted"] and res["fan"]["n_series"] == part["accepted"]
    assert res["block_choice"]["reason"] and res["preflight"]["verdict"] == "will_fail"
    k = res["scenarios"][0]["scenario"]
    assert len(api.get(f"/api/jobs/{job['id']}/series/{k}").json()["close"]) > 0
    base = f"/api/jobs/{job['id']}/download"
    with zipfile.ZipFile(io.BytesIO(api.get(f"{base}/csv.zip").content)) as z:
        assert len(z.namelist()) == part["accepted"]
    with zipfile.ZipFile(io.BytesIO(api.get(f"{base}/parquet").content)) as z:
        assert len(z.namelist()) == part["accepted"]
    manifest = api.get(f"{base}/manifest.json").json()
    assert manifest["status"] == "partial" and manifest["partial"]["reason"] == part["reason"]
    scores = pd.read_parquet(io.BytesIO(api.get(f"{base}/scores.parquet").content))
    assert list(scores["scenario"]) == [s["scenario"] for s in res["scenarios"]]
    # A rerun in place would fail the same way: it is refused, with what to do instead.
    r = api.post(f"/api/jobs/{job['id']}/retry")
    assert r.status_code == 409 and "resume_from" in r.json()["detail"]


def test_rerun_at_the_suggested_threshold_resumes_from_a_partial_job(api, partial_job):
    job, _ = partial_job
    lower = {**HARD_JOB, "min_fidelity": job["partial"]["suggested_min_fidelity"]}
    resumed = finished_job(api, {"dataset_id": api.dataset["id"], **lower,
                                 "resume_from": job["id"]})
    fresh = finished_job(api, {"dataset_id": api.dataset["id"], **lower})
    assert resumed["status"] == fresh["status"] == "succeeded"
    assert resumed["run_id"] == fresh["run_id"]
    assert output_digests(api, resumed) == output_digests(api, fresh)
    p, q = resumed["progress"], fresh["progress"]
    assert 0 < p["resumed"] < job["partial"]["accepted"] and q["resumed"] == 0
    assert p["accepted"] == q["accepted"] == HARD_JOB["n_samples"] and p["attempts"] == q["attempts"]
    assert resumed["request"]["resume_from"] == job["id"]
    for bad, status in ((UNKNOWN_JOB, 409), ("job_1", 422)):
        r = api.post("/api/jobs", json={"dataset_id": api.dataset["id"], **lower,
                                        "resume_from": bad})
        assert r.status_code == status, r.text
        assert "resume_from" in r.text
    for other in (resumed, fresh):
        assert api.delete(f"/api/jobs/{other['id']}").status_code == 204


def test_no_server_path_in_any_response(api, partial_job):
    """Job records, errors, results, series, manifests and events never name the data
    directory; a job whose stored input went bad fails with a message that does not either."""
    job, events = partial_job
    ds = upload(api, name="cut.csv").json()
    # The stored series cut to 30 rows behind the server's back: the run's reader refuses it
    # with a message that names the file.
    stored = api.data_dir / "datasets" / ds["id"] / "data.parquet"
    pd.read_parquet(stored).head(30).to_parquet(stored)
    failed = wait_job(api, start_job(api, ds["id"], **SMALL_JOB)["id"], finished)
    assert failed["status"] == "failed"
    assert f"datasets/{ds['id']}/data.parquet" in failed["error"], failed["error"]
    texts = [json.dumps(events), json.dumps(failed)]
    for route in ("/api/jobs", f"/api/jobs/{job['id']}", f"/api/jobs/{failed['id']}",
                  f"/api/jobs/{job['id']}/results", f"/api/jobs/{api.job['id']}/results",
                  f"/api/jobs/{job['id']}/series/999", f"/api/jobs/{failed['id']}/results",
                  f"/api/jobs/{job['id']}/download/manifest.json",
                  f"/api/jobs/{api.job['id']}/download/manifest.json",
                  f"/api/jobs/{failed['id']}/download/manifest.json", "/api/datasets",
                  f"/api/jobs/{UNKNOWN_JOB}/results"):
        texts.append(api.get(route).text)
    r = api.post("/api/preflight", json={"dataset_id": ds["id"], **SMALL_JOB})
    assert r.status_code == 422 and f"datasets/{ds['id']}/data.parquet" in r.json()["detail"]
    texts.append(r.text)
    texts += [e for _, e in sse_events(api, f"/api/jobs/{failed['id']}/events")
              for e in [json.dumps(e)]]
    roots = {str(api.data_dir), os.path.realpath(api.data_dir)}
    for text in texts:
        assert not [root for root in roots if root in text], text[:2000]
    # The manifest on disk keeps its locations (for the server's own tools).
    on_disk = (api.data_dir / "jobs" / job["id"] / "output" / "manifest.json").read_text()
    assert str(api.data_dir) in on_disk
    assert api.delete(f"/api/jobs/{failed['id']}").status_code == 204


# --------------------------------------------- methods, multi-asset inputs and timeframes


def nasdaq_csv() -> bytes:
    """The NASDAQ sample's last 750 days as an uploaded CSV (the same dates as SAMPLE)."""
    return load_sample("nasdaq").tail(750).to_csv().encode()


def finished_job(client: TestClient, body: dict) -> dict:
    job = wait_job(client, start_job(client, **{"dataset_id": None, **body})["id"], finished)
    assert job["status"] == "succeeded", job["error"]
    return job


@pytest.fixture(scope="module")
def ndx(api):
    r = upload(api, nasdaq_csv(), "ndx.csv")
    assert r.status_code == 201, r.text
    return r.json()


def test_options_list_every_method_and_its_choices(api):
    opts = api.get("/api/options").json()
    assert opts["methods"] == ["stationary", "circular", "moving", "iid", "garch", "regime"]
    assert set(opts["method_descriptions"]) == set(opts["methods"])
    assert opts["method_sections"] == {"garch": "garch", "regime": "regime"}
    assert opts["garch"] == {"vols": ["garch", "gjr", "egarch"], "dists": ["normal", "t", "skewt"]}
    assert opts["regime"] == {"labellings": ["markov", "quantile"],
                              "conditions": ["high_volatility", "low_volatility"],
                              "n_regimes": {"minimum": 2, "maximum": 4}}
    assert "W" in opts["timeframes"]["suggested"] and opts["timeframes"]["min_bars"] == 64
    assert opts["layouts"] == ["single", "long", "wide"]
    props = opts["schema"]["properties"]
    assert {"dataset_id", "dataset_ids", "input_layout", "garch", "regime", "timeframes"} <= \
        set(props)
    assert opts["schema"]["$defs"]["RegimeConfig"]["properties"]["n_regimes"]["maximum"] == 4
    assert opts["defaults"]["garch"] == {"vol": "garch", "dist": "normal"}
    assert opts["defaults"]["regime"]["condition"] is None and opts["defaults"]["timeframes"] == []
    assert "dataset_ids" not in opts["defaults"]


def test_garch_job(api):
    job = finished_job(api, {"dataset_id": api.dataset["id"], **SMALL_JOB, "min_fidelity": 60.0,
                             "method": "garch", "garch": {"vol": "egarch", "dist": "t"}})
    assert job["request"]["garch"] == {"vol": "egarch", "dist": "t"}
    res = api.get(f"/api/jobs/{job['id']}/results", params={"max_points": 50}).json()
    assert res["method"] == "garch" and res["reference"] == "original"
    fit = res["garch"]["series"]
    assert (fit["vol"], fit["dist"]) == ("egarch", "t") and 0 < fit["persistence"] < 1
    assert res["symbols"] is None and res["correlations"] == [] and res["regimes"] is None
    assert len(res["scenarios"]) == 5 and all(s["score"] >= 60 for s in res["scenarios"])
    manifest = api.get(f"/api/jobs/{job['id']}/download/manifest.json").json()
    assert manifest["config"]["generation"]["method"] == "garch"
    assert manifest["config"]["generation"]["garch"] == {"vol": "egarch", "dist": "t"}
    series = api.get(f"/api/jobs/{job['id']}/series/2").json()
    assert series["bars"] == 750 and series["regimes"] is None and series["symbol"] is None
    r = api.get(f"/api/jobs/{job['id']}/series/2", params={"symbol": "SPX"})
    assert r.status_code == 422 and r.json()["detail"].startswith("symbol: ")
    assert "holds one series" in r.json()["detail"]
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204


def test_regime_conditioned_job_and_its_regime_paths(api):
    regime = {"labels": "quantile", "condition": "high_volatility", "share": 0.7}
    job = finished_job(api, {"dataset_id": api.dataset["id"], **SMALL_JOB, "length": 300,
                             "min_fidelity": 60.0, "method": "regime", "regime": regime})
    res = api.get(f"/api/jobs/{job['id']}/results").json()
    assert res["method"] == "regime" and res["reference"] == "conditioned"
    fitted = res["regimes"]
    assert fitted["labelling"] == "quantile" and fitted["n_regimes"] == 2
    assert fitted["volatility"][0] < fitted["volatility"][1]  # 0 is the calmest
    shares = np.array([s["regime_shares"] for s in res["scenarios"]])
    assert shares.shape == (5, 2)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    # Conditioned on high volatility: the volatile regime's share grows over the input's.
    assert shares[:, 1].mean() > fitted["input_shares"][1]
    manifest = api.get(f"/api/jobs/{job['id']}/download/manifest.json").json()
    for k in (1, 4):
        runs = manifest["scenarios"][k - 1]["regimes"]
        s = api.get(f"/api/jobs/{job['id']}/series/{k}", params={"max_points": 5000}).json()
        bands = s["regimes"]
        assert [[b["regime"], b["bars"]] for b in bands] == runs
        assert sum(b["bars"] for b in bands) == s["bars"] == 300
        assert bands[0]["start"] == s["index"][0] and bands[-1]["end"] == s["index"][-1]
        ends = [s["index"].index(b["end"]) for b in bands]
        starts = [s["index"].index(b["start"]) for b in bands]
        assert starts[1:] == [e + 1 for e in ends[:-1]]  # contiguous, no gaps or overlaps
        counted = np.zeros(2)
        for b in bands:
            counted[b["regime"]] += b["bars"]
        np.testing.assert_allclose(counted / 300, res["scenarios"][k - 1]["regime_shares"])
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204


def test_multi_asset_job_from_two_uploaded_csvs(api, ndx):
    spx = api.dataset
    job = finished_job(api, {"dataset_ids": {"SPX": spx["id"], "NDX": ndx["id"]}, **SMALL_JOB,
                             "formats": ["csv", "parquet"]})
    assert job["dataset_ids"] == {"SPX": spx["id"], "NDX": ndx["id"]}
    assert job["dataset_id"] == spx["id"] and job["symbols"] == ["SPX", "NDX"]
    assert job["dataset_name"] == "SPX: sample.csv · NDX: ndx.csv"
    out = api.data_dir / "jobs" / job["id"] / "output"
    res = api.get(f"/api/jobs/{job['id']}/results", params={"max_points": 50}).json()
    assert set(res["symbols"]) == {"SPX", "NDX"} and res["symbol"] == res["symbols"][0]
    assert set(res["reference_metrics"]) >= {"SPX:volatility", "NDX:hurst"}
    assert "volatility" not in res["reference_metrics"]
    assert set(res["scenarios"][0]["metrics"]) >= {"SPX:volatility", "NDX:volatility"}
    # The correlation of the originals' log-returns, computed here from the uploaded files.
    closes = {sym: pd.read_csv(io.BytesIO(data), index_col=0, parse_dates=True)["Close"]
              for sym, data in (("SPX", SAMPLE.read_bytes()), ("NDX", nasdaq_csv()))}
    returns = {sym: np.diff(np.log(c.to_numpy())) for sym, c in closes.items()}
    (corr,) = res["correlations"]
    a, b = corr["symbols"]
    assert corr["pair"] == f"{a}|{b}" and {a, b} == {"SPX", "NDX"}
    assert corr["corr"]["original"] == pytest.approx(
        np.corrcoef(returns[a], returns[b])[0, 1], abs=1e-12)
    assert corr["abs_corr"]["original"] == pytest.approx(
        np.corrcoef(np.abs(returns[a]), np.abs(returns[b]))[0, 1], abs=1e-12)
    synthetic = [s["metrics"][f"corr:{a}|{b}"] for s in res["scenarios"]]
    assert corr["corr"]["median"] == pytest.approx(np.median(synthetic))
    assert corr["corr"]["min"] == min(synthetic) and corr["corr"]["max"] == max(synthetic)
    # Per-asset series, fan charts against each asset's original.
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["scenarios"][1]
    for sym in ("SPX", "NDX"):
        s = api.get(f"/api/jobs/{job['id']}/series/2",
                    params={"symbol": sym, "max_points": 5000}).json()
        frame = pd.read_parquet(out / entry["assets"][sym]["parquet"])
        assert s["symbol"] == sym and s["bars"] == 750
        np.testing.assert_allclose(s["close"], frame["Close"].to_numpy())
        fan = api.get(f"/api/jobs/{job['id']}/results",
                      params={"max_points": 50, "symbol": sym}).json()["fan"]
        assert fan["symbol"] == sym
        assert fan["original"][-1] == pytest.approx(closes[sym].iloc[-1])
    default = api.get(f"/api/jobs/{job['id']}/series/2", params={"max_points": 5000}).json()
    assert default["symbol"] == res["symbols"][0]
    r = api.get(f"/api/jobs/{job['id']}/series/2", params={"symbol": "DAX"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("symbol: 'DAX' is not an asset of job")
    r = api.get(f"/api/jobs/{job['id']}/results", params={"symbol": "DAX"})
    assert r.status_code == 422 and "symbol:" in r.json()["detail"]
    # The parquet artifact holds every asset's file and the long table.
    r = api.get(f"/api/jobs/{job['id']}/download/parquet")
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = set(z.namelist())
        long = pd.read_parquet(io.BytesIO(z.read(entry["long"])))
    assert len(names) == 5 * 3 and entry["long"] in names
    assert sorted(long["symbol"].unique()) == ["NDX", "SPX"] and len(long) == 1500
    assert api.post(f"/api/jobs/{job['id']}/retry").status_code == 409  # it succeeded
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204
    # Every dataset a running job reads is kept from deletion.
    big = start_job(api, None, dataset_ids={"SPX": spx["id"], "NDX": ndx["id"]}, **BIG_JOB)
    r = api.delete(f"/api/datasets/{ndx['id']}")
    assert r.status_code == 409 and "running job" in r.json()["detail"]
    assert api.delete(f"/api/jobs/{big['id']}").json()["status"] == "cancelled"
    assert api.delete(f"/api/jobs/{big['id']}").status_code == 204


def test_multi_asset_tables_long_and_wide(api):
    spx = pd.read_csv(SAMPLE)
    ndx = pd.read_csv(io.BytesIO(nasdaq_csv()))
    table = pd.concat([spx.assign(Ticker="SPX"), ndx.assign(Ticker="NDX")])
    r = upload(api, table.to_csv(index=False).encode(), "both.csv", layout="long",
               symbol_column="Ticker")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["layout"] == "long" and set(ds["symbols"]) == {"SPX", "NDX"} and ds["rows"] == 750
    assert set(ds["reference_metrics"]) >= {"SPX:volatility", "NDX:volatility",
                                            "corr:" + "|".join(ds["symbols"])}
    ohlcv = api.get(f"/api/datasets/{ds['id']}/ohlcv", params={"symbol": "NDX",
                                                                "max_points": 5000}).json()
    assert ohlcv["symbol"] == "NDX"
    np.testing.assert_allclose(ohlcv["close"], ndx["Close"].to_numpy())
    r = api.get(f"/api/datasets/{ds['id']}/ohlcv", params={"symbol": "DAX"})
    assert r.status_code == 422 and "its symbols are" in r.json()["detail"]
    assert api.get(f"/api/datasets/{api.dataset['id']}/ohlcv",
                   params={"symbol": "SPX"}).status_code == 422
    wide = spx.merge(ndx, on="Date", suffixes=("", "_ndx"))
    wide.columns = ["Date"] + [f"SPX_{c}" for c in spx.columns[1:]] + \
        [f"NDX_{c}" for c in ndx.columns[1:]]
    r = upload(api, wide.to_csv(index=False).encode(), "wide.csv", layout="wide")
    assert r.status_code == 201, r.text
    assert r.json()["layout"] == "wide" and set(r.json()["symbols"]) == {"SPX", "NDX"}
    r = upload(api, layout="wide")  # a one-series file is no wide table
    assert r.status_code == 422 and "no SYMBOL_Field columns" in r.json()["detail"]
    # A job on the long table: input_layout, if given, must say what the dataset is.
    r = api.post("/api/jobs", json={"dataset_id": ds["id"], **SMALL_JOB, "input_layout": "wide"})
    assert r.status_code == 422 and r.json()["detail"].startswith("input_layout: ")
    job = finished_job(api, {"dataset_id": ds["id"], **SMALL_JOB, "input_layout": "long"})
    assert set(job["symbols"]) == {"SPX", "NDX"}
    res = api.get(f"/api/jobs/{job['id']}/results", params={"max_points": 20}).json()
    assert res["symbols"] == ds["symbols"] and len(res["correlations"]) == 1
    assert api.get(f"/api/jobs/{job['id']}/series/1",
                   params={"symbol": "NDX"}).json()["symbol"] == "NDX"
    r = api.post("/api/jobs", json={"dataset_ids": {"X": ds["id"]}, **SMALL_JOB})
    assert r.status_code == 422 and r.json()["detail"].startswith("dataset_ids.X: ")
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204


def test_timeframe_job(api):
    job = finished_job(api, {"dataset_id": api.dataset["id"], **SMALL_JOB, "timeframes": ["W"]})
    out = api.data_dir / "jobs" / job["id"] / "output"
    res = api.get(f"/api/jobs/{job['id']}/results").json()
    weekly = res["timeframes"]["W"]
    base = pd.read_parquet(out / f"synthetic_3_batch_{job['run_id']}.parquet")
    weeks = base.groupby(base.index.to_period("W"))
    assert weekly["bars"] == weeks.ngroups and len(weekly["scored_metrics"]) > 10
    scores = [s["timeframes"]["W"]["score"] for s in res["scenarios"]]
    assert weekly["score"] == {"min": min(scores), "median": pytest.approx(np.median(scores)),
                               "max": max(scores)}
    assert set(res["scenarios"][0]["timeframes"]["W"]["metrics"]) >= {"volatility", "hurst"}
    s = api.get(f"/api/jobs/{job['id']}/series/3",
                params={"timeframe": "W", "max_points": 5000}).json()
    assert s["timeframe"] == "W" and s["bars"] == weeks.ngroups
    # Exact aggregates of the base bars, week by week.
    np.testing.assert_allclose(s["open"], weeks["Open"].first())
    np.testing.assert_allclose(s["high"], weeks["High"].max())
    np.testing.assert_allclose(s["low"], weeks["Low"].min())
    np.testing.assert_allclose(s["close"], weeks["Close"].last())
    np.testing.assert_allclose(s["volume"], weeks["Volume"].sum())
    assert pd.Timestamp(s["index"][1]) == weeks["Open"].first().index[1].start_time
    base_series = api.get(f"/api/jobs/{job['id']}/series/3").json()
    assert base_series["timeframe"] is None and base_series["bars"] == 750
    r = api.get(f"/api/jobs/{job['id']}/series/3", params={"timeframe": "M"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("timeframe: 'M' is not a timeframe of job")
    assert "its timeframes are W" in r.json()["detail"]
    with zipfile.ZipFile(io.BytesIO(api.get(f"/api/jobs/{job['id']}/download/csv.zip").content)
                         ) as z:
        assert len(z.namelist()) == 10  # base and weekly CSVs
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"regime": {"condition": "high_volatility"}},
         "regime.condition: needs method: regime (method is stationary)"),
        ({"method": "regime", "regime": {"condition": 2}},
         "regime.condition: regime numbers are 0..1"),
        ({"method": "regime", "regime": {"share": 0.5}},
         "regime: share and duration_factor need a condition"),
        ({"method": "regime", "regime": {"n_regimes": 5}}, "regime.n_regimes:"),
        ({"method": "regime", "regime": {"labels": "hmm"}}, "regime.labels:"),
        ({"method": "garch", "garch": {"vol": "arch"}}, "garch.vol: Input should be 'garch'"),
        ({"garch": {"p": 2}}, "garch.p: unknown key; allowed keys here: vol, dist"),
        ({"timeframes": ["fortnight"]}, "timeframes: 'fortnight' is not a pandas frequency"),
        ({"timeframes": ["M"]}, "timeframes: 'M' leaves 36 bars per series; at least 64"),
        ({"timeframes": ["1h"]}, "timeframes: '1h' is not coarser than the input's bars"),
        ({"dataset_ids": {"SPX": "{ds}"}},
         "dataset_id: give exactly one of dataset_id (one dataset) and dataset_ids"),
        ({"dataset_id": None, "dataset_ids": {"SPX": "{ds}", "NDX": UNKNOWN_DS}},
         f"dataset_ids.NDX: dataset {UNKNOWN_DS} not found"),
        ({"dataset_id": None, "dataset_ids": {"SPX": "{ds}", "NDX": None}},
         "dataset_ids.NDX: Input should be a valid string"),
        ({"dataset_id": None, "dataset_ids": {"SPX": "{ds}", "NDX": "ds_1"}},
         "dataset_ids.NDX: not a dataset id; dataset ids look like ds_"),
        ({"dataset_id": None, "dataset_ids": {"S&P": "{ds}"}},
         "dataset_ids: key 'S&P': not a usable symbol"),
        ({"dataset_id": None, "dataset_ids": {}}, "dataset_ids: Dictionary should have at least"),
        ({"dataset_id": None, "dataset_ids": {"SPX": "{ds}"}, "input_layout": "long"},
         "input_layout: long describes one uploaded table"),
        ({"input_layout": "long"}, "input_layout: dataset {ds} was uploaded as one series"),
    ],
)
def test_method_and_multi_asset_requests_are_422_naming_the_field(api, body, needle):
    ds = api.dataset["id"]
    body = json.loads(json.dumps({"dataset_id": ds, **body}).replace("{ds}", ds))
    r = api.post("/api/jobs", json=body)
    assert r.status_code == 422, r.text
    assert needle.replace("{ds}", ds) in r.json()["detail"]


# ----------------------------------------------------------------------- cancel and delete


def series_files(out: Path) -> dict[str, int]:
    """Series files of a job's output -> inode (a rewrite, always temp-then-rename, changes it)."""
    return {p.name: p.stat().st_ino for p in out.glob("synthetic_*_batch_*.csv")}


def cancel_with_output(client: TestClient, job_id: str, out: Path, min_accepted: int) -> dict:
    """Cancel a running job once it accepted ``min_accepted``; check what it left behind."""
    wait_job(client, job_id, lambda j: j["progress"]["accepted"] >= min_accepted)
    r = client.delete(f"/api/jobs/{job_id}")
    assert r.status_code == 202
    job = r.json()
    assert job["status"] == "cancelled" and job["cancel_requested"] and job["finished_at"]
    assert job["error"] is None
    assert not tmp_files(out) and not (out / "manifest.json").exists()
    kept = series_files(out)
    assert len(kept) >= min_accepted
    for name in list(kept)[:20]:  # every series was written whole
        assert len(pd.read_csv(out / name)) == 750
    time.sleep(0.3)
    assert series_files(out) == kept  # nothing is written after DELETE returned
    # The record counts what is on disk (the tasks in flight at the cancel included).
    assert job["progress"]["accepted"] == len(kept)
    assert job["progress"]["attempts"] >= len(kept)
    return kept


def test_cancel_mid_run_then_retry_resumes_and_delete(api, dask_client):
    job = start_job(api, api.dataset["id"], **BIG_JOB)
    out = api.data_dir / "jobs" / job["id"] / "output"
    kept = cancel_with_output(api, job["id"], out, 3)
    no_stray_futures(dask_client)
    # Retry in place: the scenarios finished before are reused (same files, not rewritten).
    r = api.post(f"/api/jobs/{job['id']}/retry")
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running")
    # The scenarios kept on disk count as accepted (and resumed) from the start.
    assert r.json()["error"] is None and r.json()["progress"]["accepted"] == len(kept)
    assert r.json()["progress"]["resumed"] == len(kept)
    assert api.post(f"/api/jobs/{job['id']}/retry").status_code == 409
    again = cancel_with_output(api, job["id"], out, len(kept) + 3)
    assert {k: again[k] for k in kept} == kept
    no_stray_futures(dask_client)
    # A cancelled job is finished: DELETE now removes it with its files.
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert not (api.data_dir / "jobs" / job["id"]).exists()
    assert api.get(f"/api/jobs/{job['id']}").status_code == 404


def test_two_jobs_at_once_and_a_cancel_leaves_the_other_fine(api, dask_client):
    big = start_job(api, api.dataset["id"], **BIG_JOB)
    small = start_job(api, api.dataset["id"], **{**SMALL_JOB, "n_samples": 8, "seed": 99})
    wait_job(api, big["id"], lambda j: j["progress"]["accepted"] >= 2)
    assert api.delete(f"/api/jobs/{big['id']}").json()["status"] == "cancelled"
    small = wait_job(api, small["id"], finished)
    assert small["status"] == "succeeded" and small["progress"]["accepted"] == 8
    out = api.data_dir / "jobs" / small["id"] / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["scenario"] for s in manifest["scenarios"]] == list(range(1, 9))
    assert not tmp_files(api.data_dir) and not any((out / "_state").glob("*"))
    with zipfile.ZipFile(out / f"synthetic_batch_{small['run_id']}.zip") as z:
        assert len(z.namelist()) == 8
    no_stray_futures(dask_client)
    for job in (big, small):
        assert api.delete(f"/api/jobs/{job['id']}").status_code == 204


def test_delete_finished_job_removes_files(api):
    job = wait_job(api, start_job(api, api.dataset["id"], **SMALL_JOB)["id"], finished)
    folder = api.data_dir / "jobs" / job["id"]
    assert (folder / "output" / "manifest.json").exists()
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert not folder.exists()
    assert job["id"] not in [j["id"] for j in api.get("/api/jobs").json()]
    assert api.get(f"/api/jobs/{job['id']}/download/csv.zip").status_code == 404


def test_concurrency_limit_is_429(tmp_path, dask_client):
    app = create_app(tmp_path, client=dask_client, run_overrides=FAST, max_concurrent_jobs=1)
    with TestClient(app) as client:
        ds = upload(client).json()
        first = start_job(client, ds["id"], **BIG_JOB)
        r = client.post("/api/jobs", json={"dataset_id": ds["id"], **SMALL_JOB})
        assert r.status_code == 429 and "at most 1 at once" in r.json()["detail"]
        assert r.headers["retry-after"]
        assert client.delete(f"/api/jobs/{first['id']}").json()["status"] == "cancelled"
        second = start_job(client, ds["id"], **SMALL_JOB)
        assert wait_job(client, second["id"], finished)["status"] == "succeeded"
    no_stray_futures(dask_client)


# ------------------------------------------------------------------------------- restart


def test_restart_keeps_finished_jobs_and_fails_running_ones(tmp_path, dask_client):
    with TestClient(create_app(tmp_path, client=dask_client, run_overrides=FAST)) as client:
        ds = upload(client).json()
        done = wait_job(client, start_job(client, ds["id"], **SMALL_JOB)["id"], finished)
        assert done["status"] == "succeeded"
        big = start_job(client, ds["id"], **BIG_JOB)
        big_out = tmp_path / "jobs" / big["id"] / "output"
        kept = cancel_with_output(client, big["id"], big_out, 3)
    # A crash while a job ran leaves its record "running" and its finished scenarios on disk.
    path = tmp_path / "jobs" / big["id"] / "job.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": "running",
                                "finished_at": None, "cancel_requested": False}))
    (tmp_path / "jobs" / "not-a-job").mkdir()  # ignored, never parsed as an id

    with TestClient(create_app(tmp_path, client=dask_client, run_overrides=FAST)) as client:
        jobs = client.get("/api/jobs").json()
        assert [j["id"] for j in jobs] == [big["id"], done["id"]]
        assert jobs[1] == done
        assert client.get(f"/api/datasets/{ds['id']}").json() == ds
        r = client.get(f"/api/jobs/{done['id']}/download/csv.zip")
        assert r.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 5
        crashed = client.get(f"/api/jobs/{big['id']}").json()
        assert crashed["status"] == "failed" and crashed["error"] == RESTART_ERROR
        assert crashed["finished_at"]
        assert json.loads(path.read_text())["status"] == "failed"
        # Resubmitting it in place resumes: its finished scenarios are reused, not redone.
        assert client.post(f"/api/jobs/{big['id']}/retry").status_code == 202
        again = cancel_with_output(client, big["id"], big_out, len(kept) + 3)
        assert {k: again[k] for k in kept} == kept
    no_stray_futures(dask_client)


def test_shutdown_during_a_job_records_it_as_failed_for_retry(tmp_path, dask_client):
    with TestClient(create_app(tmp_path, client=dask_client, run_overrides=FAST)) as client:
        ds = upload(client).json()
        job = start_job(client, ds["id"], **BIG_JOB)
        wait_job(client, job["id"], lambda j: j["progress"]["accepted"] >= 1)
    record = json.loads((tmp_path / "jobs" / job["id"] / "job.json").read_text())
    assert record["status"] == "failed" and record["error"] == RESTART_ERROR
    no_stray_futures(dask_client)


def test_s3_data_dir_through_moto_server(s3_server, s3_bucket, dask_client):
    data_dir = f"{s3_bucket}/sme"
    app = create_app(data_dir, client=dask_client, run_overrides=FAST,
                     storage_options=s3_server.storage_options)
    with TestClient(app) as client:
        ds = upload(client).json()
        job = start_job(client, ds["id"], **SMALL_JOB, formats=["csv", "parquet"])
        job = wait_job(client, job["id"], finished)
        assert job["status"] == "succeeded", job["error"]
        r = client.get(f"/api/jobs/{job['id']}/download/csv.zip")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 5
        r = client.get(f"/api/jobs/{job['id']}/download/parquet")
        assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 5
        res = client.get(f"/api/jobs/{job['id']}/results", params={"max_points": 50}).json()
        assert res["fan"]["n_series"] == 5 and len(res["fan"]["original"]) == 50
    store = OutputStore(data_dir, storage_options=s3_server.storage_options)
    assert store.exists(f"datasets/{ds['id']}/data.parquet")
    assert store.read_json(f"jobs/{job['id']}/job.json")["status"] == "succeeded"
    with TestClient(create_app(data_dir, client=dask_client,
                               storage_options=s3_server.storage_options)) as client:
        assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
        assert client.delete(f"/api/datasets/{ds['id']}").status_code == 204
    assert not store.list("jobs/") and not store.list("datasets/")


# ---------------------------------------------------------------------------- auth and CORS


def test_bearer_token(tmp_path, dask_client, monkeypatch):
    monkeypatch.setenv("SME_API_TOKEN", "s3cret-token")
    app = create_app(tmp_path, client=dask_client, run_overrides=FAST)
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        for method, url in [("GET", "/api/datasets"), ("GET", "/api/options"),
                            ("POST", "/api/jobs"), ("GET", f"/api/jobs/{UNKNOWN_JOB}/events")]:
            r = client.request(method, url)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert "Bearer" in r.json()["detail"]
        assert client.get("/api/datasets", headers={"Authorization": "Bearer wrong"}
                          ).status_code == 401
        assert client.get("/api/datasets", params={"token": "s3cret-token"}).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert client.get("/api/datasets", headers=good).json() == []
        ds = upload(client, headers=good).json()
        job = client.post("/api/jobs", headers=good, json={"dataset_id": ds["id"], **SMALL_JOB})
        job_id = job.json()["id"]
        # EventSource and download links cannot set headers: ?token= works there.
        events = sse_events(client, f"/api/jobs/{job_id}/events?token=s3cret-token")
        assert events[-1][0] == "end" and events[-1][1]["status"] == "succeeded"
        r = client.get(f"/api/jobs/{job_id}/download/manifest.json",
                       params={"token": "s3cret-token"})
        assert r.status_code == 200 and r.json()["run_id"]
        assert client.get(f"/api/jobs/{job_id}/download/manifest.json").status_code == 401
    explicit = create_app(tmp_path / "b", client=dask_client, token="other")
    with TestClient(explicit) as client:
        assert client.get("/api/datasets", headers={"Authorization": "Bearer other"}
                          ).status_code == 200


def test_cors_only_when_configured(tmp_path, dask_client):
    origin = "http://localhost:5173"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(tmp_path, client=dask_client)) as client:
        r = client.options("/api/jobs", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(tmp_path, client=dask_client, cors_origins=[origin])) as client:
        r = client.options("/api/jobs", headers=preflight)
        assert r.headers["access-control-allow-origin"] == origin
        r = client.get("/api/health", headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin


# --------------------------------------------------------------------- schema-driven fuzzing


def test_no_server_errors_on_any_route(tmp_path, dask_client):
    """Schemathesis cases for every operation: valid, invalid, and with real ids."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    # A dataset and a finished job to aim some cases at.
    with TestClient(create_app(tmp_path, client=dask_client, run_overrides=FAST)) as client:
        ds = upload(client).json()
        job = wait_job(client, start_job(client, ds["id"], **SMALL_JOB)["id"], finished)
    # Small server limits: fuzzed jobs stay short and a small gzip bomb is over the limit.
    app = create_app(tmp_path, client=dask_client, run_overrides=FAST, ui_dir=tmp_path / "no",
                     max_n_samples=2, max_length=2_000,
                     input_limits=SERVER_LIMITS.replace(max_bytes=8 * 2**20))
    # The event stream of a running job lasts as long as the job; tested above.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex="/events$")
    real_ids = {"dataset_id": ds["id"], "job_id": job["id"]}
    seen: dict[tuple[str, str], set[int]] = {}

    def run(operation, strategy, examples: int) -> None:
        @given(case=strategy)
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.method, case.formatted_path,
                                                response.text)
            seen.setdefault((case.method, operation.path), set()).add(response.status_code)

        try:
            check()
        except Unsatisfiable:  # nothing invalid to send to an operation without inputs
            pass

    try:
        operations = [r.ok() for r in schema.get_all_operations()]
        assert len(operations) >= 13
        for op in operations:
            run(op, op.as_strategy(GenerationMode.POSITIVE), 12)
            run(op, op.as_strategy(GenerationMode.NEGATIVE), 8)
            names = {p.name for p in op.path_parameters}
            if names & set(real_ids) and op.method.upper() != "DELETE":
                ids = {k: v for k, v in real_ids.items() if k in names}
                run(op, op.as_strategy(GenerationMode.POSITIVE, path_parameters=ids), 8)
        by_route = {(op.method.upper(), op.path): op for op in operations}
        _fuzz_uploads(by_route[("POST", "/api/datasets")], seen)
        _fuzz_jobs(by_route[("POST", "/api/jobs")], ds["id"], run, seen, app.state.sme.jobs)
        _no_job_failed_inside(app, seen)
    finally:
        shutdown = getattr(schemathesis.python.asgi, "shutdown_lifespans", None)
        if shutdown is not None:
            shutdown()
    assert 200 in seen[("GET", "/api/jobs/{job_id}/results")]
    assert 200 in seen[("GET", "/api/datasets/{dataset_id}/ohlcv")]


def _fuzz_uploads(operation, seen: dict) -> None:
    """Explicit upload cases: a good file creates a dataset, hostile ones get 4xx."""
    from tests.test_hostile_input import _csv, _flat

    files = [
        (SAMPLE.read_bytes(), 201),
        (_csv(_flat()), 422),  # prices never change
        (b"Date,Open,High,Low,Close,Volume" + b",x" * 50_000 + b"\n", 422),  # header names
        (gzip.compress(b"\0" * (16 * 2**20)), 413),  # inflates past max_bytes
    ]
    for data, status in files:
        case = operation.Case(body={"file": data}, media_type="multipart/form-data")
        response = case.call()
        assert response.status_code == status, response.text
        seen.setdefault(("POST", operation.path), set()).add(response.status_code)


def _fuzz_jobs(operation, dataset_id: str, run, seen_here: dict, jobs) -> None:
    """Generated job requests aimed at a real dataset: every setting the schema allows, against
    data that may not support it, is a job (202), a 4xx naming the field, or a 429."""

    def on_real_dataset(case):
        if isinstance(case.body, dict):
            body = {k: v for k, v in case.body.items() if k not in ("dataset_ids", "input_layout")}
            case.body = {**body, "dataset_id": dataset_id}
        return case

    from schemathesis import GenerationMode

    run(operation, operation.as_strategy(GenerationMode.POSITIVE).map(on_real_dataset), 40)
    _cancel_active(jobs)  # the examples below need the server's job slots
    # Explicit examples: one small job per method is created and runs to the end; settings
    # the data cannot support are refused at submission.
    small = {"dataset_id": dataset_id, "n_samples": 1, "min_fidelity": 0, "max_attempts": 2}
    examples = [({**small, "method": m}, 202) for m in METHODS] + [
        ({**small, "block_size": 10**12}, 422), ({**small, "timeframes": ["-1D"]}, 422),
        ({**small, "method": "regime", "regime": {"labels": "quantile", "window": 10_000}}, 422),
    ]
    for body, status in examples:
        response = operation.Case(body=body, media_type="application/json").call()
        assert response.status_code == status, (body, response.text)
        if status == 202:
            job_id = response.json()["id"]
            deadline = time.monotonic() + TIMEOUT
            while (job := jobs.get(job_id))["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
            assert job["status"] == "succeeded", job
        seen_here.setdefault(("POST", operation.path), set()).add(response.status_code)


def _no_job_failed_inside(app, seen: dict) -> None:
    """Fuzzed jobs are cancelled; none may have failed with an internal error."""
    jobs = app.state.sme.jobs
    _cancel_active(jobs)
    errors = [r["error"] for r in jobs.list() if r["error"]]
    assert not [e for e in errors if "internal error" in e], errors
    assert 202 in seen[("POST", "/api/jobs")] and 201 in seen[("POST", "/api/datasets")]


def _cancel_active(jobs) -> None:
    for record in jobs.list():
        if record["status"] in ("queued", "running"):
            jobs.cancel(record["id"])


def test_upload_read_options_preview_and_read_report(api):
    frame = pd.read_csv(SAMPLE)
    odd = frame.rename(columns={"Date": "when", "Volume": "value"})
    odd["when"] = pd.to_datetime(odd["when"]).dt.strftime("%d/%m/%Y")
    data = ("Exported by a tool\n" + odd.to_csv(index=False)).encode()
    r = upload(api, data, "odd.csv")
    assert r.status_code == 422
    body = r.json()
    assert "no time column found" in body["detail"] and "columns={'time'" in body["detail"]
    preview = body["preview"]
    assert preview["header_row"] == 1 and preview["rows"][0] == ["Exported by a tool"]
    assert preview["rows"][1] == ["when", "Open", "High", "Low", "Close", "value"]
    assert len(preview["rows"]) <= 12 and str(api.data_dir) not in r.text
    r = api.post("/api/datasets", files={"file": ("odd.csv", data, "text/csv")},
                 data={"columns": json.dumps({"time": "when"}), "skiprows": "1",
                       "date_format": "%d/%m/%Y"})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["rows"] == 750 and ds["start"].startswith("2016-01-08")
    report = ds["read_report"]
    assert report["source"] == "odd.csv" and report["skiprows"] == 1
    assert report["explicit"] == ["time"] and report["volume"] == "value"
    assert report["volume_kind"] == "turnover" and report["order"] == "oldest first"
    assert api.get(f"/api/datasets/{ds['id']}").json()["read_report"] == report
    for fields, key in ([{"columns": "{not json"}, "columns: not valid JSON"],
                        [{"columns": json.dumps({"tim": "when"})}, "columns.tim: unknown key"],
                        [{"skiprows": "-1"}, "skiprows: "],
                        [{"date_format": "no codes"}, "date_format: "]):
        r = api.post("/api/datasets", files={"file": ("odd.csv", data, "text/csv")}, data=fields)
        assert r.status_code == 422 and key in r.json()["detail"], (fields, r.text)
    r = api.post("/api/datasets", files={"file": ("odd.csv", data, "text/csv")},
                 data={"columns": json.dumps({"time": "Datum"})})
    assert r.status_code == 422 and "'Datum'" in r.json()["detail"]
    assert "'when'" in r.json()["detail"] and r.json()["preview"]["rows"]
