"""The FastAPI application: datasets, background generation jobs, live progress, downloads.

The contract is ``docs/rest_api.md``. The app only arranges calls of the engine: uploads go
through :func:`~pipeline.io.readers.load_ohlcv`, jobs through
:func:`~pipeline.runner.coordinator.run_pipeline` on one shared Dask client, and everything it
keeps is written through :class:`~pipeline.io.writers.OutputStore` under the data directory::

    {data_dir}/datasets/{ds_id}/data.parquet, dataset.json
    {data_dir}/jobs/{job_id}/job.json, output/...   (generation jobs, job_…)
    {data_dir}/jobs/{cal_id}/job.json, output/...   (calibrations, cal_…: pipeline.calibrate)
    {data_dir}/cache/                       fitted-model cache (local data directories only)

:func:`create_app` assembles the parts: the routers of :mod:`pipeline.api.routes` (one per
resource), the dependencies of :mod:`pipeline.api.deps`, the handlers of
:mod:`pipeline.api.errors`, the middleware of :mod:`pipeline.api.middleware`, and the state of
:mod:`pipeline.api.state` on ``app.state``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

from distributed import Client
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import pipeline
from pipeline.config import load_config
from pipeline.io.limits import SERVER_LIMITS, InputLimits
from pipeline.redaction import RedactingFilter

from .calibrations import CALIBRATION
from .errors import add_exception_handlers
from .middleware import add_middleware
from .routes import ROUTERS
from .routes.ui import mount_dashboard
from .state import AppState, ServerSettings

__all__ = ["REDACTED_LOGGERS", "create_app"]

#: Loggers whose records may carry a URL with ``?token=`` or a credential in an error message.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "pipeline.api", "pipeline.api.jobs",
                    "pipeline.api.datasets")


def _redact_logs() -> None:
    """Put a :class:`~pipeline.redaction.RedactingFilter` on :data:`REDACTED_LOGGERS` (once)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Load the data directory and connect to Dask at startup; stop jobs and Dask at the end."""
    state: AppState = app.state.sme
    await run_in_threadpool(state.start)
    try:
        yield
    finally:
        await run_in_threadpool(state.stop)


def create_app(
    data_dir: str | os.PathLike[str],
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    token: str | None = None,
    max_upload_mb: float = 200,
    max_concurrent_jobs: int = 2,
    max_n_samples: int = 100_000,
    max_length: int = 1_000_000,
    cors_origins: list[str] | None = None,
    ui_dir: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    run_overrides: Mapping[str, Any] | None = None,
    input_limits: InputLimits = SERVER_LIMITS,
    upload_parse_seconds: float = 120.0,
) -> FastAPI:
    """Build the REST API app.

    Parameters
    ----------
    data_dir : path or URL
        Where datasets, job records and job outputs live (a local path, or an fsspec URL such
        as ``s3://bucket/sme`` with ``storage_options``).
    client : distributed.Client, optional
        Use this Dask client (not closed by the app). Otherwise the app connects at startup to
        ``scheduler``, or starts a LocalCluster of ``n_workers`` (``processes`` False: threads
        in this process, as tests use), and closes it at shutdown.
    token : str, optional
        Bearer token required on every ``/api`` route but ``/api/health``; defaults to the
        ``SME_API_TOKEN`` environment variable. Event streams and downloads also accept it as
        ``?token=`` (browsers cannot set headers on EventSource or links).
    max_upload_mb, max_concurrent_jobs, max_n_samples, max_length
        Limits: 413 over the upload size, 429 over the running jobs, 422 over the others.
    cors_origins : list of str, optional
        Origins allowed by CORS; none (no CORS headers) by default.
    ui_dir : path, optional
        The built dashboard (default ``<repo>/ui/dist``); served at ``/`` when it exists.
    run_overrides : mapping, optional
        Server-side run settings applied under every job's request, e.g.
        ``{"scoring": {"n_replicates": 64}, "cluster": {"task_candidates": 64}}``.
    input_limits : InputLimits, default SERVER_LIMITS
        Bounds on an uploaded file's decompressed size (413 over it), line length, columns
        and rows (422), checked on its bytes before it is parsed.
    upload_parse_seconds : float, default 120
        Time budget of one upload's parse, which runs in a child process (killed past it; 422).

    Returns
    -------
    FastAPI
        The app, its :class:`~pipeline.api.state.AppState` at ``app.state.sme`` and its
        :class:`~pipeline.api.state.ServerSettings` at ``app.state.settings``.
    """
    settings = ServerSettings(
        token=token if token is not None else os.environ.get("SME_API_TOKEN") or None,
        max_upload_mb=max_upload_mb, max_concurrent_jobs=max_concurrent_jobs,
        max_n_samples=max_n_samples, max_length=max_length, input_limits=input_limits,
        upload_parse_seconds=upload_parse_seconds)
    _redact_logs()
    if run_overrides:
        load_config(dict(run_overrides))  # a typo fails here, with the key named
    state = AppState(os.fspath(data_dir), storage_options, client=client, scheduler=scheduler,
                     n_workers=n_workers, processes=processes, settings=settings,
                     run_overrides=run_overrides, job_kinds=(CALIBRATION,))
    app = FastAPI(
        title="Synthetic Market Engine",
        version=pipeline.__version__,
        description="Upload an OHLCV series, generate scored synthetic series, download them.",
        lifespan=_lifespan,
    )
    app.state.sme = state
    app.state.settings = settings
    for router in ROUTERS:
        app.include_router(router)
    add_exception_handlers(app)
    mount_dashboard(app, ui_dir)
    add_middleware(app, settings, cors_origins)
    return app
