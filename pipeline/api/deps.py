"""Dependencies of the routes: the app's state, the token check and the 404/409 lookups.

A route names what it needs in its signature (``state: AppStateDep``, ``job: JobRecord``)
and FastAPI resolves it per request from ``app.state`` (see :mod:`pipeline.api.state`).

FastAPI runs a route's dependencies *before* it validates the route's own query parameters.
So the lookups are dependencies only on routes whose sole input is the id in the path; a route
with query parameters (results, series, chart data) calls :func:`job_or_404` itself, after
validation, so that a request with a bad parameter still gets its 422 first.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from .jobs import kind_of
from .schemas import CALIBRATION_ID, DATASET_ID, JOB_ID, RESULT_STATUSES
from .state import AppState, ServerSettings

__all__ = [
    "AppStateDep",
    "CalibrationRecord",
    "DatasetRecord",
    "JobRecord",
    "SettingsDep",
    "TOKEN_MESSAGE",
    "calibration_or_404",
    "dataset_or_404",
    "get_settings",
    "get_state",
    "job_or_404",
    "require_token",
    "require_token_or_query",
    "shown",
    "with_results_or_409",
]

#: The message of every 401, by the routes and by the body-less gate of the middleware.
TOKEN_MESSAGE = "missing or wrong token: send 'Authorization: Bearer <token>'"


def shown(value: str) -> str:
    """A user's value quoted for a message, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def get_state(request: Request) -> AppState:
    """The app's stores and Dask client (``app.state.sme``)."""
    return request.app.state.sme


def get_settings(request: Request) -> ServerSettings:
    """The app's limits and token (``app.state.settings``)."""
    return request.app.state.settings


#: A route parameter: the app's :class:`~pipeline.api.state.AppState`.
AppStateDep = Annotated[AppState, Depends(get_state)]
#: A route parameter: the app's :class:`~pipeline.api.state.ServerSettings`.
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="Set when the server has SME_API_TOKEN.")
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _check_token(request: Request, credentials: HTTPAuthorizationCredentials | None,
                 token: str | None, query_ok: bool) -> None:
    if not token:
        return
    expected = token.encode()
    if credentials is not None and secrets.compare_digest(
            credentials.credentials.encode(), expected):
        return
    given = request.query_params.get("token") if query_ok else None
    if given is not None and secrets.compare_digest(given.encode(), expected):
        return
    raise HTTPException(401, TOKEN_MESSAGE, headers={"WWW-Authenticate": "Bearer"})


def require_token(request: Request, credentials: _Credentials, settings: SettingsDep) -> None:
    """401 unless the request carries the server's bearer token (when it has one)."""
    _check_token(request, credentials, settings.token, query_ok=False)


def require_token_or_query(request: Request, credentials: _Credentials,
                           settings: SettingsDep) -> None:
    """Like :func:`require_token`, also accepting ``?token=``: browsers cannot set headers on
    an EventSource or a download link."""
    _check_token(request, credentials, settings.token, query_ok=True)


def dataset_or_404(dataset_id: str, state: AppStateDep) -> dict:
    """The dataset's record: 422 for a malformed id, 404 for an unknown one."""
    if not DATASET_ID.match(dataset_id):
        raise HTTPException(422, f"{shown(dataset_id)} is not a dataset id; dataset ids "
                                 "look like ds_ followed by 32 hex digits")
    record = state.datasets.get(dataset_id)
    if record is None:
        raise HTTPException(404, f"dataset {dataset_id} not found; list them with "
                                 "GET /api/datasets or upload one")
    return record


def job_or_404(job_id: str, state: AppStateDep) -> dict:
    """The job's record: 422 for a malformed id, 404 for an unknown one."""
    if not JOB_ID.match(job_id):
        raise HTTPException(422, f"{shown(job_id)} is not a job id; job ids look like "
                                 "job_ followed by 32 hex digits")
    record = state.jobs.get(job_id)
    if record is None or kind_of(record) != "generation":
        raise HTTPException(404, f"job {job_id} not found; list them with GET /api/jobs")
    return record


def calibration_or_404(calibration_id: str, state: AppStateDep) -> dict:
    """The calibration's record: 422 for a malformed id, 404 for an unknown one."""
    if not CALIBRATION_ID.match(calibration_id):
        raise HTTPException(422, f"{shown(calibration_id)} is not a calibration id; "
                                 "calibration ids look like cal_ followed by 32 hex digits")
    record = state.jobs.get(calibration_id)
    if record is None or kind_of(record) != "calibration":
        raise HTTPException(404, f"calibration {calibration_id} not found; list them with "
                                 "GET /api/calibrations")
    return record


def with_results_or_409(job: dict) -> dict:
    """The job, when it has results (succeeded or partial); 409 naming its status otherwise."""
    if job["status"] not in RESULT_STATUSES:
        raise HTTPException(409, f"job {job['id']} is {job['status']}; results and "
                                 "downloads exist only for succeeded or partial jobs")
    return job


#: A route parameter: the record of the dataset ``{dataset_id}`` of the path.
DatasetRecord = Annotated[dict, Depends(dataset_or_404)]
#: A route parameter: the record of the job ``{job_id}`` of the path.
JobRecord = Annotated[dict, Depends(job_or_404)]
#: A route parameter: the record of the calibration ``{calibration_id}`` of the path.
CalibrationRecord = Annotated[dict, Depends(calibration_or_404)]
