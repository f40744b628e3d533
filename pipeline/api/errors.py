"""How the API answers errors: one JSON shape, ``{"detail": message, ...}``, for all of them.

A request that fails validation gets one line per error naming the key like the YAML config's
messages do (422); the engine's :class:`~pipeline.errors.InputDataError` and
:class:`~pipeline.errors.ConfigError` keep their message without the server's paths (422, or
413 for a file over a size limit); the job manager's refusals map to 429, 409 and 404.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pipeline.errors import ConfigError, InputDataError

from .jobs import JobConflict, JobNotFound, TooManyJobs
from .schemas import CALIBRATION_ID, DATASET_ID, JOB_ID, SYMBOL, CalibrationRequest, JobRequest

__all__ = ["add_exception_handlers", "json_error", "validation_detail"]

log = logging.getLogger("pipeline.api")

_PATTERN_HINTS = {
    DATASET_ID.pattern: "not a dataset id; dataset ids look like ds_ followed by 32 hex digits",
    JOB_ID.pattern: "not a job id; job ids look like job_ followed by 32 hex digits",
    CALIBRATION_ID.pattern: "not a calibration id; calibration ids look like cal_ followed by "
                            "32 hex digits",
    SYMBOL.pattern: "not a usable symbol; use letters, digits and _ . ^ = - (at most 40 "
                    "characters)",
}
_KEY_FIRST = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(:\s*|\s+)(.*)$", re.S)


def json_error(status: int, detail: str, **extra: Any) -> JSONResponse:
    """The API's error response: ``{"detail": detail, **extra}`` with ``status``."""
    return JSONResponse({"detail": detail, **extra}, status_code=status)


#: The request body's model of each route that takes one (the job request elsewhere).
_BODY_MODELS = {"/api/calibrations": CalibrationRequest}


def _request_model_at(path: list[str], body: type = JobRequest) -> type | None:
    """The request body's (nested) model at a key path, or None."""
    model: Any = body
    for part in path:
        field = getattr(model, "model_fields", {}).get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and hasattr(ann, "model_fields")):
            return None
        model = ann
    return model


def _named_key(path: list[str], msg: str, body: type = JobRequest) -> tuple[list[str], str]:
    """A model-level message that starts with a key (``dataset_id: …``, ``regime.condition
    needs …``) is about that key: move it from the message into the error's location."""
    m = _KEY_FIRST.match(msg)
    if not m or not (m.group(2).startswith(":") or "." in m.group(1)):
        return path, msg
    parts = m.group(1).split(".")
    model = _request_model_at(path + parts[:-1], body)
    if model is None or parts[-1] not in model.model_fields:
        return path, msg
    return path + parts, m.group(3)


def validation_detail(exc: RequestValidationError, body: type = JobRequest
                      ) -> tuple[str, list[dict]]:
    """One line per error, naming the key like the YAML config's messages do; ``body`` is the
    model of the route's request body (the allowed keys named for an unknown one).

    Returns
    -------
    detail : str
        ``invalid request:`` and the lines.
    errors : list of dict
        ``{"loc", "msg", "type"}`` of each error, ``msg`` its line.
    """
    lines, errors = [], []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else ""
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if where == "body" and err.get("type") == "value_error":
            path, msg = _named_key(loc[1:], msg, body)
            loc = ["body", *path]
        if loc and loc[-1] == "[key]":  # a bad dictionary key (a symbol): name the mapping
            loc = loc[:-2]
            msg = f"key {err.get('input')!r}: {msg}"
            err = {**err, "input": None}
        pattern = (err.get("ctx") or {}).get("pattern")
        if err.get("type") == "string_pattern_mismatch" and pattern in _PATTERN_HINTS:
            msg = msg.replace(f"String should match pattern '{pattern}'", _PATTERN_HINTS[pattern])
        key = ".".join(loc[1:]) if where in ("body", "query", "path", "header") else ".".join(loc)
        key = key or where or "(request)"
        if err.get("type") == "extra_forbidden":
            model = _request_model_at(loc[1:-1], body) if where == "body" else None
            allowed = ", ".join(model.model_fields) if model is not None else "see /api/options"
            lines.append(f"{key}: unknown key; allowed keys here: {allowed}")
        elif err.get("type") == "json_invalid":
            lines.append(f"body is not valid JSON ({err.get('ctx', {}).get('error', '')})")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            lines.append(f"{key}: {msg}{shown[:120]}")
        errors.append({"loc": loc, "msg": lines[-1], "type": err.get("type")})
    return "invalid request:\n  " + "\n  ".join(lines), errors


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail, errors = validation_detail(exc, _BODY_MODELS.get(request.url.path, JobRequest))
    return json_error(422, detail, errors=errors)


async def _on_bad_input(request: Request, exc: Exception) -> JSONResponse:
    # A message about a server-side file (a dataset, a job's output) names it: the response
    # shows it relative to the data directory, the log in full. 413 for a file over a size
    # limit, 422 for the rest.
    text = str(exc)
    shown = request.app.state.sme.jobs.public_text(text)
    if shown != text:
        log.warning("%s %s: %s", request.method, request.url.path, text)
    return json_error(getattr(exc, "status", 422), shown)


async def _on_too_many(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "10"})


async def _on_conflict(_request: Request, exc: Exception) -> JSONResponse:
    return json_error(409, str(exc))


async def _on_missing(_request: Request, exc: Exception) -> JSONResponse:
    # Deleted by a concurrent request between the lookup and its use.
    return json_error(404, f"job {exc.args[0] if exc.args else ''} not found")


def add_exception_handlers(app: FastAPI) -> None:
    """Register the API's exception handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ConfigError, _on_bad_input)
    app.add_exception_handler(InputDataError, _on_bad_input)
    app.add_exception_handler(TooManyJobs, _on_too_many)
    app.add_exception_handler(JobConflict, _on_conflict)
    app.add_exception_handler(JobNotFound, _on_missing)
