"""Each router of the REST API works on its own: on a bare FastAPI app with only the state its
dependencies read from ``app.state``, without ``create_app``, Dask or the other routers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api.errors import add_exception_handlers
from pipeline.api.routes import datasets, health
from pipeline.api.state import AppState, ServerSettings

pytestmark = pytest.mark.filterwarnings("ignore::pipeline.errors.SMEWarning")

TOKEN = "router-test-token"


def bare_app(data_dir, *routers) -> FastAPI:
    settings = ServerSettings(token=TOKEN)
    state = AppState(str(data_dir), None, client=None, scheduler=None, n_workers=None,
                     processes=False, settings=settings, run_overrides=None)
    state.datasets.load()
    app = FastAPI()
    app.state.sme, app.state.settings = state, settings
    for router in routers:
        app.include_router(router)
    add_exception_handlers(app)
    return app


def test_the_datasets_router_alone(tmp_path):
    client = TestClient(bare_app(tmp_path, datasets.router))
    assert client.get("/api/datasets").status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    made = client.post("/api/datasets/samples/sample", headers=auth)
    assert made.status_code == 201 and made.json()["rows"] > 0
    ds = made.json()["id"]
    assert [d["id"] for d in client.get("/api/datasets", headers=auth).json()] == [ds]
    chart = client.get(f"/api/datasets/{ds}/ohlcv", params={"max_points": 10}, headers=auth)
    assert chart.status_code == 200 and len(chart.json()["close"]) <= 10
    missing = client.get("/api/datasets/ds_" + "0" * 32, headers=auth)
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert client.get("/api/datasets/nope", headers=auth).status_code == 422
    assert client.delete(f"/api/datasets/{ds}", headers=auth).status_code == 204
    assert client.get("/api/datasets", headers=auth).json() == []


def test_health_without_a_dask_client_or_token(tmp_path):
    client = TestClient(bare_app(tmp_path, health.router))
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["workers"] == 0
    assert client.get("/api/datasets").status_code == 404  # not included: no such route
