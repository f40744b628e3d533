"""Run the API with uvicorn: ``sme serve`` and an app factory configured by the environment.

``uvicorn --factory pipeline.api.server:app_from_env`` reads ``SME_DATA_DIR`` (default
``sme-data``), ``SME_SCHEDULER``, ``SME_WORKERS``, ``SME_API_TOKEN`` and ``SME_CORS_ORIGINS``
(comma-separated). Run one server process per data directory: jobs run in threads of the
process that accepted them, so several uvicorn workers would not see each other's jobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI

from pipeline.io.limits import SERVER_LIMITS, InputLimits

from .app import create_app

__all__ = ["serve", "app_from_env"]


def app_from_env() -> FastAPI:
    """The app configured by ``SME_*`` environment variables (for ``uvicorn --factory``)."""
    workers = os.environ.get("SME_WORKERS")
    origins = [o.strip() for o in os.environ.get("SME_CORS_ORIGINS", "").split(",") if o.strip()]
    return create_app(
        os.environ.get("SME_DATA_DIR", "sme-data"),
        scheduler=os.environ.get("SME_SCHEDULER") or None,
        n_workers=int(workers) if workers else None,
        cors_origins=origins or None,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: str = "sme-data",
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    max_upload_mb: float = 200,
    input_limits: InputLimits = SERVER_LIMITS,
    upload_parse_seconds: float = 120.0,
    max_concurrent_jobs: int = 2,
    cors_origins: Sequence[str] | None = None,
    ui_dir: str | None = None,
    run_overrides: Mapping[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the API (and the dashboard) with uvicorn until interrupted.

    The token comes from ``SME_API_TOKEN`` (not a command-line flag, which other users of
    the machine could read from the process list).
    """
    import uvicorn

    app = create_app(
        data_dir,
        scheduler=scheduler,
        n_workers=workers,
        processes=processes,
        max_upload_mb=max_upload_mb,
        input_limits=input_limits,
        upload_parse_seconds=upload_parse_seconds,
        max_concurrent_jobs=max_concurrent_jobs,
        cors_origins=list(cors_origins) if cors_origins else None,
        ui_dir=ui_dir,
        run_overrides=run_overrides,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)
