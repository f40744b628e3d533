"""``POST /api/preflight``: what a job request would cost and risk, without starting it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..checks import check_job_request
from ..deps import AppStateDep, SettingsDep, require_token
from ..schemas import JobRequest, Preflight

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(require_token)])


@router.post("/preflight", response_model=Preflight,
             responses={404: {"description": "unknown dataset"}})
def job_preflight(request: JobRequest, state: AppStateDep,  # type: ignore[valid-type]
                  settings: SettingsDep) -> dict:
    """The preflight of a job request without starting it: the expected acceptance rate
    (with its interval), attempts per scenario, time on this server's workers, the chance
    that the run fails, and a threshold that works when this one is too hard. The model fit
    it needs is cached, so asking again for the same dataset and settings is quick."""
    body = request.model_dump(mode="json")  # type: ignore[attr-defined]
    check_job_request(body, state, settings)
    return state.jobs.preflight(body)
