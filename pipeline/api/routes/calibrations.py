"""``/api/calibrations``: start a walk-forward calibration of an uploaded dataset, list and show
calibrations (with the summary once finished), follow one live, download its report page and
table, cancel, delete, retry.

Calibrations are jobs of the kind :data:`~pipeline.api.calibrations.CALIBRATION`: the job
manager runs, persists, cancels and deletes them like generation jobs, and their live events
are the generation jobs' event stream.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from ..calibrations import CALIBRATION, DOWNLOADS, check_calibration_request, finished_fields
from ..deps import (
    AppStateDep,
    CalibrationRecord,
    SettingsDep,
    calibration_or_404,
    dataset_or_404,
    require_token,
    require_token_or_query,
)
from ..jobs import JobNotFound
from ..schemas import ACTIVE_STATUSES, Calibration, CalibrationRequest
from .jobs import event_stream
from .results import file_response

__all__ = ["links", "router"]

router = APIRouter(prefix="/api", tags=["calibrations"], dependencies=[Depends(require_token)])
#: Routes a browser opens without headers (an EventSource, a link): the token may be ``?token=``.
links = APIRouter(prefix="/api", tags=["calibrations"],
                  dependencies=[Depends(require_token_or_query)])


@router.post("/calibrations", status_code=202, response_model=Calibration,
             responses={404: {"description": "unknown dataset"},
                        422: {"description": "invalid settings, or settings the dataset cannot "
                                             "support (the message says what to change)"},
                        429: {"description": "too many jobs running"}})
def create_calibration(request: CalibrationRequest, state: AppStateDep,  # type: ignore[valid-type]
                       settings: SettingsDep) -> dict:
    """Start a walk-forward calibration of a single-series dataset: at origins every ``step``
    bars after a first fit window of ``min_window`` bars, each method of ``methods`` is fitted
    on the bars up to the origin and its ``n_scenarios`` scenarios of ``horizon`` bars are
    ranked against what followed."""
    body = request.model_dump(mode="json")  # type: ignore[attr-defined]
    name = check_calibration_request(body, state, settings)
    return state.jobs.submit(body, dataset_name=name, kind=CALIBRATION.name)


@router.get("/calibrations", response_model=list[Calibration])
def list_calibrations(state: AppStateDep) -> list[dict]:
    """Every calibration, newest first (without summaries: GET one for its summary)."""
    return state.jobs.list(CALIBRATION.name)


@router.get("/calibrations/{calibration_id}", response_model=Calibration)
def get_calibration(calibration: CalibrationRecord, state: AppStateDep) -> dict:
    """A calibration's state and progress; once it succeeded, its summary (coverage of each
    central interval, PIT histogram and verdict per method and statistic), its origins and the
    methods' failed fits."""
    return {**calibration, **finished_fields(state.jobs, calibration)}


@links.get("/calibrations/{calibration_id}/events", response_class=StreamingResponse,
           responses={200: {"content": {"text/event-stream": {}}}})
async def calibration_events(calibration: CalibrationRecord, request: Request,
                             state: AppStateDep) -> StreamingResponse:
    """Server-sent events: ``progress`` with the Calibration (without its summary) whenever it
    changes, then ``end``."""
    return event_stream(state.jobs, calibration["id"], request)


@links.get("/calibrations/{calibration_id}/{name}",
           responses={200: {"content": {"text/html": {}, "application/vnd.apache.parquet": {}}},
                      409: {"description": "the calibration has not succeeded"}})
def calibration_file(calibration_id: str, name: str, state: AppStateDep) -> Response:
    """``report``: the calibration's report page (HTML); ``table``: ``calibration.parquet``,
    a row per method, origin and statistic (realized value, PIT, CRPS, quantiles)."""
    # Not a CalibrationRecord dependency: the schema lists the id before name, as the path does.
    calibration = calibration_or_404(calibration_id, state)
    if name not in DOWNLOADS:
        raise HTTPException(404, f"no {name!r} of a calibration; there are "
                                 f"{', '.join(DOWNLOADS)}")
    if calibration["status"] != "succeeded":
        raise HTTPException(409, f"calibration {calibration_id} is {calibration['status']}; "
                                 "its report and table exist once it succeeded")
    file, filename, disposition = DOWNLOADS[name]
    out = state.jobs.output_store(calibration_id)
    if not out.exists(file):
        raise HTTPException(404, f"calibration {calibration_id} has no {file}; its output was "
                                 "removed")
    return file_response(out, file, filename.format(run_id=calibration["run_id"]), disposition)


@router.delete("/calibrations/{calibration_id}", status_code=204,
               responses={202: {"model": Calibration, "description": "cancelled (was running)"}})
def delete_calibration(calibration: CalibrationRecord, state: AppStateDep) -> Response:
    """Running or queued: cancel and wait until it stopped (202 Calibration; the origins it
    finished stay on disk, a retry resumes from them). Finished: delete it with its files
    (204)."""
    if calibration["status"] in ACTIVE_STATUSES:
        record = state.jobs.cancel(calibration["id"])
        return JSONResponse(Calibration.model_validate(record).model_dump(mode="json"),
                            status_code=202)
    with contextlib.suppress(JobNotFound):  # deleted by a concurrent request
        state.jobs.delete(calibration["id"])
    return Response(status_code=204)


@router.post("/calibrations/{calibration_id}/retry", status_code=202,
             response_model=Calibration)
def retry_calibration(calibration: CalibrationRecord, state: AppStateDep) -> dict:
    """Rerun a failed or cancelled calibration into its own output directory; the origins it
    finished before are read back, not computed again."""
    dataset_or_404(calibration["dataset_id"], state)
    return state.jobs.retry(calibration["id"])
