"""Hostile input through the REST API (in process): clear 4xx answers naming the field, nothing
stored for refused requests, no credentials or server paths in what is served."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.io.writers import OutputStore
from tests import test_api
from tests.test_api import FAST, SMALL_JOB, finished, start_job, upload, wait_job
from tests.test_hostile_input import _csv, _flat

#: The same module-scoped Dask client fixture as the main API tests (one per module).
dask_client = test_api.dask_client


@pytest.fixture(scope="module")
def api(tmp_path_factory, dask_client):
    data_dir = tmp_path_factory.mktemp("hostile-api")
    with TestClient(create_app(data_dir, client=dask_client, run_overrides=FAST)) as client:
        client.data_dir = data_dir
        client.dataset = upload(client).json()
        yield client


def test_a_series_whose_prices_never_change_is_refused_at_upload(api):
    before = sorted(p.name for p in (api.data_dir / "datasets").iterdir())
    r = upload(api, _csv(_flat()), name="flat.csv")
    assert r.status_code == 422
    assert "flat.csv" in r.json()["detail"] and "prices never change" in r.json()["detail"]
    assert sorted(p.name for p in (api.data_dir / "datasets").iterdir()) == before


@pytest.mark.parametrize("request_fields, key, message", [
    ({"block_size": 10**12}, "block_size", "is out of range"),
    ({"block_size": 750}, "block_size", "between 1 and the number of returns in the input (749)"),
    ({"method": "regime", "regime": {"labels": "quantile", "window": 5000}}, "regime.window",
     "too long for the input's 749 returns"),
    ({"length": 70_000}, "length", "past 2262-04-11"),
    ({"timeframes": ["-1D"]}, "timeframes", "not a positive span"),
    ({"timeframes": ["1000000D"]}, "timeframes", "longer than 100 years"),
    ({"timeframes": ["2000D"]}, "timeframes", "leaves 1 bars per series"),
])
def test_settings_the_data_cannot_support_are_422_at_submission(api, request_fields, key,
                                                                message):
    jobs_dir = api.data_dir / "jobs"
    before = sorted(p.name for p in jobs_dir.iterdir()) if jobs_dir.exists() else []
    r = api.post("/api/jobs", json={"dataset_id": api.dataset["id"], **SMALL_JOB,
                                    **request_fields})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert key in detail and message in detail, detail
    assert (sorted(p.name for p in jobs_dir.iterdir()) if jobs_dir.exists() else []) == before


def test_job_errors_show_no_server_paths_or_credentials(api):
    jobs = api.app.state.sme.jobs
    path = jobs.store.path("datasets/ds_1/data.parquet")
    text = f"Cannot use {path!r} (s3://AKIA:s3cr3t@bucket/x?token=abc)"
    assert jobs.public_text(text) == ("Cannot use 'datasets/ds_1/data.parquet' "
                                      "(s3://AKIA:***@bucket/x?token=***)")


def test_manifest_download_has_no_credentials_and_no_server_paths(s3_server, s3_bucket,
                                                                  dask_client):
    data_dir = f"{s3_bucket}/sme"
    options = s3_server.storage_options
    with TestClient(create_app(data_dir, client=dask_client, run_overrides=FAST,
                               storage_options=options)) as client:
        ds = upload(client).json()
        job = wait_job(client, start_job(client, ds["id"], **SMALL_JOB)["id"], finished)
        assert job["status"] == "succeeded", job["error"]
        served = client.get(f"/api/jobs/{job['id']}/download/manifest.json")
        assert served.status_code == 200
        assert served.headers["content-disposition"].startswith("attachment; filename=")
        text = served.text
    manifest = json.loads(text)
    config = manifest["config"]
    for section in ("input", "output"):
        saved = config[section]["storage_options"]
        assert saved["key"] == saved["secret"] == "***"
    assert config["input"]["path"] == f"datasets/{ds['id']}/data.parquet"
    assert config["output"]["path"] == f"jobs/{job['id']}/output"
    assert manifest["input"]["source"] == f"datasets/{ds['id']}/data.parquet"
    assert '"testing"' not in text and data_dir not in text
    # The stored manifest keeps its paths (runs resume from them), credentials redacted there too.
    store = OutputStore(f"{data_dir}/jobs/{job['id']}/output", storage_options=options)
    stored = store.read_json("manifest.json")
    assert stored["config"]["output"]["path"] == store.url
    assert stored["config"]["output"]["storage_options"]["secret"] == "***"
    assert stored["run_id"] == manifest["run_id"] == job["run_id"]


def test_local_manifest_download_has_no_absolute_paths(api):
    job = wait_job(api, start_job(api, api.dataset["id"], **SMALL_JOB)["id"], finished)
    assert job["status"] == "succeeded", job["error"]
    text = api.get(f"/api/jobs/{job['id']}/download/manifest.json").text
    assert str(api.data_dir) not in text
    config = json.loads(text)["config"]
    assert config["output"]["path"] == f"jobs/{job['id']}/output"
    assert config["cache"]["path"] == "cache"


def test_a_job_output_changed_behind_the_servers_back_is_a_500_without_server_paths(api,
                                                                                    caplog):
    """A series file or manifest of a finished job's output damaged or removed on disk: 500
    naming the job (the file's full location only in the log), 404 once the manifest is gone."""
    job = wait_job(api, start_job(api, api.dataset["id"], **SMALL_JOB,
                                  formats=["parquet"])["id"], finished)
    assert job["status"] == "succeeded", job["error"]
    base = f"/api/jobs/{job['id']}"
    out = api.data_dir / "jobs" / job["id"] / "output"
    (gone,) = out.glob("synthetic_2_*.parquet")
    gone.unlink()

    def refused(route: str) -> None:
        r = api.get(base + route)
        assert r.status_code == 500, r.text
        assert r.json()["detail"].startswith(f"job {job['id']}'s output cannot be read")
        assert str(api.data_dir) not in r.text

    assert api.get(f"{base}/series/1").status_code == 200
    with caplog.at_level("WARNING", logger="pipeline.api.results"):
        for route in ("/series/2", "/results"):
            refused(route)
    assert str(gone) in caplog.text  # the log names the missing file in full
    (out / "manifest.json").write_text('{"run_id": ')
    for route in ("/results", "/series/1", "/download/manifest.json"):
        refused(route)
    (out / "manifest.json").unlink()
    r = api.get(f"{base}/series/1")
    assert r.status_code == 404
    assert r.json()["detail"] == f"job {job['id']} has no manifest.json; its output was removed"
