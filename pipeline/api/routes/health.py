"""``GET /api/health``: ``ok``, the engine's version and the number of Dask workers.

The one route without a token.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter

import pipeline

from ..deps import AppStateDep
from ..schemas import Health

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(state: AppStateDep) -> dict:
    workers = 0
    if state.client is not None:
        with contextlib.suppress(Exception):
            workers = len(state.client.nthreads())
    return {"status": "ok", "version": pipeline.__version__, "workers": workers}
