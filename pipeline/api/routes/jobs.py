"""``/api/jobs``: start a generation job, list and show jobs, follow one live, cancel, delete,
retry."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..checks import check_job_request
from ..deps import (
    AppStateDep,
    JobRecord,
    SettingsDep,
    dataset_or_404,
    require_token,
    require_token_or_query,
)
from ..jobs import JobManager, JobNotFound
from ..schemas import ACTIVE_STATUSES, Job, JobRequest

__all__ = ["SSE_INTERVAL", "SSE_KEEPALIVE", "event_stream", "links", "router"]

#: Seconds between SSE polls of a job (so at most 5 events a second) and between keep-alives.
SSE_INTERVAL = 0.2
SSE_KEEPALIVE = 15.0

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(require_token)])
#: Routes a browser opens without headers (an EventSource): the token may be ``?token=``.
links = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(require_token_or_query)])


@router.post("/jobs", status_code=202, response_model=Job,
             responses={404: {"description": "unknown dataset"},
                        409: {"description": "resume_from names no job with results"},
                        429: {"description": "too many jobs running"}})
def create_job(request: JobRequest, state: AppStateDep,  # type: ignore[valid-type]
               settings: SettingsDep) -> dict:
    """Start a generation job on a dataset (``dataset_id``), or on several datasets as the
    assets of one multi-asset run (``dataset_ids``: symbol -> dataset id); with
    ``resume_from``, reusing a finished job's accepted scenarios."""
    body = request.model_dump(mode="json")  # type: ignore[attr-defined]
    name, symbols = check_job_request(body, state, settings)
    return state.jobs.submit(body, dataset_name=name, symbols=symbols)


@router.get("/jobs", response_model=list[Job])
def list_jobs(state: AppStateDep) -> list[dict]:
    return state.jobs.list("generation")


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(job: JobRecord) -> dict:
    return job


async def _events(jobs: JobManager, job_id: str, request: Request):
    """``progress`` with the job's record whenever it changes, keep-alives, then ``end``."""
    last_version, last_sent, record = -1, asyncio.get_running_loop().time(), None
    yield "retry: 2000\n\n"
    while True:
        if await request.is_disconnected():
            return
        snap = jobs.snapshot(job_id)
        if snap is None:  # deleted meanwhile
            break
        version, record = snap
        now = asyncio.get_running_loop().time()
        if version != last_version:
            last_version, last_sent = version, now
            yield f"event: progress\ndata: {json.dumps(record)}\n\n"
        elif now - last_sent > SSE_KEEPALIVE:
            last_sent = now
            yield ": keep-alive\n\n"
        if record["status"] not in ACTIVE_STATUSES:
            break
        await asyncio.sleep(SSE_INTERVAL)
    yield f"event: end\ndata: {json.dumps(record)}\n\n"


@links.get("/jobs/{job_id}/events", response_class=StreamingResponse,
           responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job: JobRecord, request: Request, state: AppStateDep) -> StreamingResponse:
    """Server-sent events: ``progress`` with the Job whenever it changes, then ``end``."""
    return event_stream(state.jobs, job["id"], request)


def event_stream(jobs: JobManager, job_id: str, request: Request) -> StreamingResponse:
    """The server-sent events of a job of any kind (see :func:`_events`)."""
    return StreamingResponse(_events(jobs, job_id, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.delete("/jobs/{job_id}", status_code=204,
               responses={202: {"model": Job, "description": "cancelled (was running)"}})
def delete_job(job: JobRecord, state: AppStateDep) -> Response:
    """Running or queued: cancel and wait until it stopped (202 Job). Finished: delete it
    with its files (204)."""
    if job["status"] in ACTIVE_STATUSES:
        record = state.jobs.cancel(job["id"])
        return JSONResponse(Job.model_validate(record).model_dump(mode="json"),
                            status_code=202)
    with contextlib.suppress(JobNotFound):  # deleted by a concurrent request
        state.jobs.delete(job["id"])
    state.runs.forget(job["id"])
    return Response(status_code=204)


@router.post("/jobs/{job_id}/retry", status_code=202, response_model=Job)
def retry_job(job: JobRecord, state: AppStateDep) -> dict:
    """Rerun a failed or cancelled job into its own output directory; scenarios it finished
    before are reused."""
    for dataset_id in (job.get("dataset_ids") or {"": job["dataset_id"]}).values():
        dataset_or_404(dataset_id, state)
    return state.jobs.retry(job["id"])
