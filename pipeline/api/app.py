"""The FastAPI application: datasets, background generation jobs, live progress, downloads.

The contract is ``docs/rest_api.md``. The app only arranges calls of the engine: uploads go
through :func:`~pipeline.io.readers.load_ohlcv`, jobs through
:func:`~pipeline.runner.coordinator.run_pipeline` on one shared Dask client, and everything it
keeps is written through :class:`~pipeline.io.writers.OutputStore` under the data directory::

    {data_dir}/datasets/{ds_id}/data.parquet, dataset.json
    {data_dir}/jobs/{job_id}/job.json, output/...
    {data_dir}/cache/                       fitted-model cache (local data directories only)
"""

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import fsspec
import numpy as np
import pandas as pd
from distributed import Client
from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

import pipeline
from pipeline.core.fit import check_settings
from pipeline.core.garch import GARCH_DISTS, GARCH_VOLS
from pipeline.core.generators import METHODS
from pipeline.core.metrics import METRIC_NAMES
from pipeline.core.regimes import REGIME_LABELLINGS
from pipeline.core.scoring import DEFAULT_WEIGHTS
from pipeline.core.timeframes import MIN_TIMEFRAME_BARS
from pipeline.errors import ConfigError, InputDataError
from pipeline.io.assets import LAYOUTS, align_assets
from pipeline.io.limits import SERVER_LIMITS, InputLimitError, InputLimits
from pipeline.io.readers import SAMPLE_NAMES, load_sample
from pipeline.io.writers import FORMATS, OutputStore
from pipeline.redaction import RedactingFilter
from pipeline.runner.cluster import connect
from pipeline.runner.config import (
    ClusterConfig,
    ColumnsConfig,
    InputConfig,
    RegimeConfig,
    load_config,
)
from pipeline.runner.coordinator import MANIFEST
from pipeline.runner.tasks import all_files

from .charts import downsample_ohlcv, fan_chart, read_series
from .datasets import DatasetStore, display_name
from .jobs import (
    JobConflict,
    JobManager,
    JobNotFound,
    TooManyJobs,
    artifact_files,
    public_manifest,
)
from .schemas import (
    ACTIVE_STATUSES,
    DATASET_ID,
    JOB_ID,
    METHOD_DESCRIPTIONS,
    METHOD_SECTIONS,
    METRIC_DESCRIPTIONS,
    RESULT_STATUSES,
    SYMBOL,
    Dataset,
    Health,
    Job,
    JobRequest,
    Preflight,
    Series,
)
from .uploads import UploadParser

__all__ = ["create_app"]

log = logging.getLogger("pipeline.api")

#: Largest JSON body accepted by routes other than the upload.
MAX_JSON_BYTES = 1 << 20
#: Series read for a fan chart, and sample paths shown in it.
FAN_SERIES = 200
FAN_PATHS = 5
#: Seconds between SSE polls of a job (so at most 5 events a second) and between keep-alives.
SSE_INTERVAL = 0.2
SSE_KEEPALIVE = 15.0
_CHUNK = 1 << 20
_READ_PREFERENCE = ("parquet", "csv", "xlsx")
#: Timeframes the dashboard offers as one-click choices (any pandas frequency is accepted).
SUGGESTED_TIMEFRAMES = ("15min", "1h", "4h", "1D", "W", "M")
#: How an upload holds its series: the run config's ``input.layout`` choices.
Layout = InputConfig.model_fields["layout"].annotation
_MEDIA = {".zip": "application/zip", ".json": "application/json",
          ".parquet": "application/vnd.apache.parquet"}

_NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Synthetic Market Engine</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Synthetic Market Engine</h1>
<p>The API is running: see <a href="/docs">/docs</a>.</p>
<p>The web dashboard has not been built. Run <code>make serve</code>, or
<code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code> and restart the server.</p>
</body></html>
"""


# ------------------------------------------------------------------------------------ helpers


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _symbol_of(symbol: str | None, symbols: list[str], what: str) -> str | None:
    """The asset to show: ``symbol`` checked against ``symbols`` (default the first)."""
    if symbol is None:
        return symbols[0] if symbols else None
    if not symbols:
        raise HTTPException(422, f"symbol: {what} holds one series, not several assets; leave "
                                 "symbol out")
    if symbol not in symbols:
        raise HTTPException(422, f"symbol: {_shown(symbol)} is not an asset of {what}; its "
                                 f"symbols are {', '.join(symbols)}")
    return symbol


def _spread(values: list) -> dict[str, float | None]:
    """min / median / max of the finite values (all None when there are none)."""
    arr = np.array([v for v in values if isinstance(v, int | float) and np.isfinite(v)], float)
    if not arr.size:
        return {"min": None, "median": None, "max": None}
    return {"min": float(arr.min()), "median": float(np.median(arr)), "max": float(arr.max())}


def _correlations(reference: Mapping[str, Any], scenarios: list[dict]) -> list[dict]:
    """Original vs synthetic correlation of every asset pair (``corr:A|B``, ``abs_corr:A|B``)."""
    out = []
    for key in reference:
        if not key.startswith("corr:"):
            continue
        pair = key.removeprefix("corr:")
        a, _, b = pair.partition("|")
        entry: dict[str, Any] = {"pair": pair, "symbols": [a, b]}
        for kind in ("corr", "abs_corr"):
            name = f"{kind}:{pair}"
            entry[kind] = {"original": reference.get(name),
                           **_spread([(e.get("metrics") or {}).get(name) for e in scenarios])}
        out.append(entry)
    return out


def _regime_shares(runs: list, n_regimes: int) -> list[float]:
    """Share of a scenario's bars spent in each regime."""
    bars = np.zeros(max(n_regimes, 1 + max((int(r) for r, _ in runs), default=0)))
    for regime, n in runs:
        bars[int(regime)] += n
    total = bars.sum()
    return [float(v / total) if total else 0.0 for v in bars]


def _regime_bands(runs: list, index: pd.Index) -> list[dict]:
    """A run-length encoded regime path as bands with the timestamps of their first/last bar."""
    out, pos = [], 0
    for regime, n in runs:
        end = min(pos + int(n), len(index)) - 1
        if end < pos:
            break
        out.append({"regime": int(regime), "start": pd.Timestamp(index[pos]).isoformat(),
                    "end": pd.Timestamp(index[end]).isoformat(), "bars": end - pos + 1})
        pos = end + 1
    return out


def _columns_field(text: str | None) -> dict[str, str] | None:
    """The upload's ``columns`` form field: a JSON object checked like ``input.columns``."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise HTTPException(422, 'columns: not valid JSON; send an object such as '
                                 '{"time": "dt", "volume": "value"}') from None
    if not isinstance(value, dict):
        raise HTTPException(422, 'columns: expected a JSON object such as {"time": "dt"}')
    try:
        return ColumnsConfig.model_validate(value).mapping()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = (f"unknown key; allowed keys: {', '.join(ColumnsConfig.model_fields)}"
               if err["type"] == "extra_forbidden" else err["msg"])
        raise HTTPException(422, f"columns.{key}: {msg}") from None


def _json_error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _request_model_at(path: list[str]) -> type | None:
    """The job request's (nested) model at a key path, or None."""
    model: Any = JobRequest
    for part in path:
        field = getattr(model, "model_fields", {}).get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and hasattr(ann, "model_fields")):
            return None
        model = ann
    return model


_PATTERN_HINTS = {
    DATASET_ID.pattern: "not a dataset id; dataset ids look like ds_ followed by 32 hex digits",
    JOB_ID.pattern: "not a job id; job ids look like job_ followed by 32 hex digits",
    SYMBOL.pattern: "not a usable symbol; use letters, digits and _ . ^ = - (at most 40 "
                    "characters)",
}
_KEY_FIRST = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(:\s*|\s+)(.*)$", re.S)


def _named_key(path: list[str], msg: str) -> tuple[list[str], str]:
    """A model-level message that starts with a key (``dataset_id: …``, ``regime.condition
    needs …``) is about that key: move it from the message into the error's location."""
    m = _KEY_FIRST.match(msg)
    if not m or not (m.group(2).startswith(":") or "." in m.group(1)):
        return path, msg
    parts = m.group(1).split(".")
    model = _request_model_at(path + parts[:-1])
    if model is None or parts[-1] not in model.model_fields:
        return path, msg
    return path + parts, m.group(3)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict]]:
    """One line per error, naming the key like the YAML config's messages do."""
    lines, errors = [], []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else ""
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if where == "body" and err.get("type") == "value_error":
            path, msg = _named_key(loc[1:], msg)
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
            model = _request_model_at(loc[1:-1]) if where == "body" else None
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


class _BodyLimit:
    """413 for request bodies over the limit: by Content-Length, and by counting as they come."""

    def __init__(self, app, upload_mb: float, upload_path: str) -> None:
        self.app = app
        self.upload_mb = upload_mb
        self.upload_limit = int(upload_mb * 2**20)
        self.upload_path = upload_path

    def _message(self, limit: int, upload: bool) -> str:
        if upload:
            return (f"the upload is larger than this server's limit of {self.upload_mb:g} MB; "
                    "upload a shorter file or start the server with a higher --max-upload-mb")
        return f"the request body is larger than {limit} bytes"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "").rstrip("/") == self.upload_path
        limit = self.upload_limit if upload else MAX_JSON_BYTES
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await _json_error(413, self._message(limit, upload))(scope, receive, send)
                return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._message(limit, upload))
            return message

        await self.app(scope, counting_receive, send)


class _TokenGate:
    """401 for a request with a body and no valid bearer token, before the body is read.

    The routes' own token dependency runs only after FastAPI has read (and for an upload,
    parsed) the whole body; this gate answers before a byte of it is received.
    """

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] == "http" and scope.get("method") in ("POST", "PUT", "PATCH")
                and scope.get("path", "").startswith("/api/")):
            scheme, _, given = dict(scope.get("headers") or []).get(
                b"authorization", b"").strip().partition(b" ")
            if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(),
                                                                          self.expected):
                response = JSONResponse(
                    {"detail": "missing or wrong token: send 'Authorization: Bearer <token>'"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer", "Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _CatchAll:
    """Any unexpected exception becomes a logged 500 with a generic message, not a traceback."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _json_error(500, "internal server error; the details are in the server log")(
                scope, receive, send)


class _SPAStaticFiles(StaticFiles):
    """The built dashboard; unknown extension-less paths get index.html (client-side routes)."""

    async def get_response(self, path: str, scope):
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code == 404 and not path.startswith("api") and "." not in last:
                return await super().get_response("index.html", scope)
            raise


def _default_ui_dir() -> Path | None:
    package = Path(pipeline.__file__).resolve().parent
    for candidate in (package.parent / "ui" / "dist", package / "ui_dist"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


#: Loggers whose records may carry a URL with ``?token=`` or a credential in an error message.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "pipeline.api", "pipeline.api.jobs",
                    "pipeline.api.datasets")


def _redact_logs() -> None:
    """Put a :class:`~pipeline.redaction.RedactingFilter` on :data:`REDACTED_LOGGERS` (once)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


# -------------------------------------------------------------------------------- app state


class _State:
    def __init__(self, data_dir: str, storage_options: Mapping[str, Any] | None, *,
                 client: Client | None, scheduler: str | None, n_workers: int | None,
                 processes: bool, max_concurrent_jobs: int,
                 run_overrides: Mapping[str, Any] | None) -> None:
        self.store = OutputStore(data_dir, dict(storage_options or {}) or None)
        protocol = fsspec.core.split_protocol(self.store.url)[0]
        cache = self.store.path("cache") if protocol in (None, "file", "local") else None
        self.datasets = DatasetStore(self.store)
        self.jobs = JobManager(self.store, self.datasets, self.get_client,
                               max_concurrent=max_concurrent_jobs, run_overrides=run_overrides,
                               cache_path=cache)
        self._given_client = client
        self._cluster_config = ClusterConfig(address=scheduler, n_workers=n_workers,
                                             processes=processes)
        self.client: Client | None = client
        self._stack = contextlib.ExitStack()

    def get_client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the Dask client is not running (the app has not started)")
        return self.client

    def start(self) -> None:
        self.store.ensure_writable()
        self.datasets.load()
        self.jobs.load()
        if self._given_client is None:
            self.client = self._stack.enter_context(connect(self._cluster_config, None))

    def stop(self) -> None:
        try:
            self.jobs.shutdown()
        finally:
            self._stack.close()
            if self._given_client is None:
                self.client = None


# ------------------------------------------------------------------------------- the app


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
    """
    if token is None:
        token = os.environ.get("SME_API_TOKEN") or None
    _redact_logs()
    if run_overrides:
        load_config(dict(run_overrides))  # a typo fails here, with the key named
    state = _State(os.fspath(data_dir), storage_options, client=client, scheduler=scheduler,
                   n_workers=n_workers, processes=processes,
                   max_concurrent_jobs=max_concurrent_jobs, run_overrides=run_overrides)
    upload_limit = int(max_upload_mb * 2**20)
    parser = UploadParser(input_limits, upload_parse_seconds)
    limits = {"max_n_samples": max_n_samples, "max_length": max_length,
              "max_upload_mb": max_upload_mb, "max_concurrent_jobs": max_concurrent_jobs,
              "max_upload_inflated_mb": input_limits.max_bytes / 2**20,
              "max_upload_line_kb": input_limits.max_line_bytes / 1024,
              "max_upload_columns": input_limits.max_columns,
              "max_upload_rows": input_limits.max_rows,
              "upload_parse_seconds": upload_parse_seconds}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await run_in_threadpool(state.start)
        try:
            yield
        finally:
            await run_in_threadpool(state.stop)

    app = FastAPI(
        title="Synthetic Market Engine",
        version=pipeline.__version__,
        description="Upload an OHLCV series, generate scored synthetic series, download them.",
        lifespan=lifespan,
    )
    app.state.sme = state

    bearer = HTTPBearer(auto_error=False, description="Set when the server has SME_API_TOKEN.")

    def _check_token(request: Request, credentials: HTTPAuthorizationCredentials | None,
                     query_ok: bool) -> None:
        if not token:
            return
        expected = token.encode()
        if credentials is not None and secrets.compare_digest(
                credentials.credentials.encode(), expected):
            return
        given = request.query_params.get("token") if query_ok else None
        if given is not None and secrets.compare_digest(given.encode(), expected):
            return
        raise HTTPException(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})

    Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

    def auth(request: Request, credentials: Credentials) -> None:
        _check_token(request, credentials, query_ok=False)

    def auth_or_query(request: Request, credentials: Credentials) -> None:
        _check_token(request, credentials, query_ok=True)

    # -- lookups --------------------------------------------------------------------------

    def dataset_or_404(dataset_id: str) -> dict:
        if not DATASET_ID.match(dataset_id):
            raise HTTPException(422, f"{_shown(dataset_id)} is not a dataset id; dataset ids "
                                     "look like ds_ followed by 32 hex digits")
        record = state.datasets.get(dataset_id)
        if record is None:
            raise HTTPException(404, f"dataset {dataset_id} not found; list them with "
                                     "GET /api/datasets or upload one")
        return record

    def job_or_404(job_id: str) -> dict:
        if not JOB_ID.match(job_id):
            raise HTTPException(422, f"{_shown(job_id)} is not a job id; job ids look like "
                                     "job_ followed by 32 hex digits")
        record = state.jobs.get(job_id)
        if record is None:
            raise HTTPException(404, f"job {job_id} not found; list them with GET /api/jobs")
        return record

    def with_results_or_409(job: dict) -> dict:
        if job["status"] not in RESULT_STATUSES:
            raise HTTPException(409, f"job {job['id']} is {job['status']}; results and "
                                     "downloads exist only for succeeded or partial jobs")
        return job

    # -- routes: health and options (health needs no token) ----------------------------------

    open_router = APIRouter(prefix="/api", tags=["health"])
    router = APIRouter(prefix="/api", dependencies=[Depends(auth)])
    query_router = APIRouter(prefix="/api", dependencies=[Depends(auth_or_query)])

    @open_router.get("/health", response_model=Health)
    def health() -> dict:
        workers = 0
        if state.client is not None:
            with contextlib.suppress(Exception):
                workers = len(state.client.nthreads())
        return {"status": "ok", "version": pipeline.__version__, "workers": workers}

    regime_schema = RegimeConfig.model_json_schema()["properties"]
    regime_options = {
        "labellings": list(REGIME_LABELLINGS),
        "conditions": [v for part in regime_schema["condition"]["anyOf"]
                       for v in part.get("enum", [])],
        "n_regimes": {k: regime_schema["n_regimes"][k] for k in ("minimum", "maximum")},
    }

    @router.get("/options", tags=["options"])
    def options() -> dict:
        """Everything the dashboard's job form needs: schema, defaults, choices and limits."""
        defaults = {name: f.get_default(call_default_factory=True)
                    for name, f in JobRequest.model_fields.items()
                    if name not in ("dataset_id", "dataset_ids")}
        defaults = json.loads(json.dumps(defaults, default=lambda m: m.model_dump(mode="json")))
        return {
            "schema": JobRequest.model_json_schema(),
            "defaults": defaults,
            "methods": list(METHODS),
            "method_descriptions": {m: METHOD_DESCRIPTIONS.get(m, "") for m in METHODS},
            "method_sections": dict(METHOD_SECTIONS),
            "garch": {"vols": list(GARCH_VOLS), "dists": list(GARCH_DISTS)},
            "regime": regime_options,
            "timeframes": {"suggested": list(SUGGESTED_TIMEFRAMES),
                           "min_bars": MIN_TIMEFRAME_BARS},
            "layouts": ["single", *LAYOUTS],
            "formats": list(FORMATS),
            "metrics": [{"name": m, "weight": DEFAULT_WEIGHTS.get(m, 1.0),
                         "description": METRIC_DESCRIPTIONS.get(m, "")} for m in METRIC_NAMES],
            "limits": limits,
            "samples": list(SAMPLE_NAMES),
        }

    # -- routes: datasets ---------------------------------------------------------------------

    @router.post("/datasets", status_code=201, response_model=Dataset, tags=["datasets"],
                 responses={413: {"description": "upload too large"},
                            422: {"description": "not a usable OHLCV file"}})
    def upload_dataset(
        file: Annotated[UploadFile, File(description="CSV, XLSX or Parquet OHLCV file.")],
        repair: bool = Query(False, description="Drop or fix invalid rows instead of failing."),
        layout: Annotated[Layout, Query(  # type: ignore[valid-type]
            description="single: one series. long: several assets, one row per bar and symbol "
            "(a symbol column). wide: several assets, SYMBOL_Field columns.")] = "single",
        symbol_column: str = Query(
            InputConfig.model_fields["symbol_column"].default, min_length=1, max_length=100,
            description="Symbol column of a long table."),
        columns: Annotated[str | None, Form(
            max_length=2000, description='Columns for the fields detection cannot find, as a '
            'JSON object: {"time": "dt", "volume": "value"} (keys time, open, high, low, '
            'close, volume).')] = None,
        skiprows: Annotated[int | None, Form(
            ge=0, le=10_000, description="Lines above the header row (default: detected).")
        ] = None,
        date_format: Annotated[str | None, Form(
            min_length=2, max_length=100, pattern="%",
            description="strftime format of the time column, e.g. %d.%m.%Y %H:%M.")] = None,
    ) -> dict | JSONResponse:
        """Upload an OHLCV file; it is validated, normalized and stored as Parquet. A
        multi-asset table (``layout=long|wide``) is split by symbol, each asset validated, and
        the assets aligned on their common timestamps. A refused file answers 422 with the
        message and ``preview``: its first raw rows, to map its columns by hand."""
        read = {"columns": _columns_field(columns), "skiprows": skiprows,
                "date_format": date_format}
        chunks, size = [], 0
        while chunk := file.file.read(_CHUNK):
            size += len(chunk)
            if size > upload_limit:
                raise HTTPException(413, f"the upload is larger than this server's limit of "
                                         f"{max_upload_mb:g} MB")
            chunks.append(chunk)
        name = display_name(file.filename)
        try:
            frame = parser.parse(b"".join(chunks), name, layout=layout,
                                 symbol_column=symbol_column, repair=repair, read=read,
                                 timeout_option="--upload-parse-seconds")
        except InputLimitError:
            raise  # 413 or 422 by its handler, without a preview: the file is too costly to open
        except InputDataError as exc:
            preview = getattr(exc, "preview", None)
            return _json_error(422, str(exc), **({"preview": preview} if preview else {}))
        return state.datasets.create(frame, name, size, layout=layout)

    @router.post("/datasets/samples/{name}", status_code=201, response_model=Dataset,
                 tags=["datasets"])
    def sample_dataset(name: str) -> dict:
        """A built-in sample (sp500, nasdaq, sample) as a dataset."""
        if name not in SAMPLE_NAMES:
            raise HTTPException(404, f"no built-in sample {_shown(name)}; samples are "
                                     f"{', '.join(SAMPLE_NAMES)}")
        frame = load_sample(name)
        return state.datasets.create(frame, f"{name} (built-in sample)", 0)

    @router.get("/datasets", response_model=list[Dataset], tags=["datasets"])
    def list_datasets() -> list[dict]:
        return state.datasets.list()

    @router.get("/datasets/{dataset_id}", response_model=Dataset, tags=["datasets"])
    def get_dataset(dataset_id: str) -> dict:
        return dataset_or_404(dataset_id)

    @router.get("/datasets/{dataset_id}/ohlcv", response_model=Series, tags=["datasets"])
    def dataset_ohlcv(dataset_id: str,
                      max_points: int = Query(1000, ge=2, le=100_000),
                      symbol: str | None = Query(None, max_length=100, description=(
                          "Asset of a multi-asset table (default: the first)."))) -> dict:
        record = dataset_or_404(dataset_id)
        symbol = _symbol_of(symbol, record.get("symbols") or [], f"dataset {dataset_id}")
        frames = state.datasets.frames(dataset_id)
        return {**downsample_ohlcv(frames[symbol or ""], max_points), "symbol": symbol}

    @router.delete("/datasets/{dataset_id}", status_code=204, tags=["datasets"])
    def delete_dataset(dataset_id: str) -> Response:
        dataset_or_404(dataset_id)
        if state.jobs.uses_dataset(dataset_id):
            raise HTTPException(409, f"dataset {dataset_id} is used by a running job; cancel "
                                     "the job first")
        state.datasets.delete(dataset_id)
        return Response(status_code=204)

    # -- routes: jobs -------------------------------------------------------------------------

    @router.post("/jobs", status_code=202, response_model=Job, tags=["jobs"],
                 responses={404: {"description": "unknown dataset"},
                            409: {"description": "resume_from names no job with results"},
                            429: {"description": "too many jobs running"}})
    def create_job(request: JobRequest) -> dict:  # type: ignore[valid-type]
        """Start a generation job on a dataset (``dataset_id``), or on several datasets as the
        assets of one multi-asset run (``dataset_ids``: symbol -> dataset id); with
        ``resume_from``, reusing a finished job's accepted scenarios."""
        body = request.model_dump(mode="json")  # type: ignore[attr-defined]
        name, symbols = _checked_request(body)
        return state.jobs.submit(body, dataset_name=name, symbols=symbols)

    @router.post("/preflight", response_model=Preflight, tags=["jobs"],
                 responses={404: {"description": "unknown dataset"}})
    def job_preflight(request: JobRequest) -> dict:  # type: ignore[valid-type]
        """The preflight of a job request without starting it: the expected acceptance rate
        (with its interval), attempts per scenario, time on this server's workers, the chance
        that the run fails, and a threshold that works when this one is too hard. The model fit
        it needs is cached, so asking again for the same dataset and settings is quick."""
        body = request.model_dump(mode="json")  # type: ignore[attr-defined]
        _checked_request(body)
        return state.jobs.preflight(body)

    def _checked_request(body: dict) -> tuple[str, list[str] | None]:
        """The server's limits and the datasets of a job request; its display name and
        symbols. Raises 404/422 naming the field."""
        if body["n_samples"] > max_n_samples:
            raise HTTPException(422, f"n_samples: {body['n_samples']} is above this server's "
                                     f"limit of {max_n_samples} scenarios per job; ask for fewer "
                                     "or split the work into several jobs")
        if body["dataset_ids"]:
            records = {}
            for symbol, ds_id in body["dataset_ids"].items():
                record = state.datasets.get(ds_id)
                if record is None:
                    raise HTTPException(422, f"dataset_ids.{symbol}: dataset {ds_id} not found; "
                                             "list them with GET /api/datasets or upload it")
                if record.get("layout", "single") != "single":
                    raise HTTPException(
                        422, f"dataset_ids.{symbol}: dataset {ds_id} is a multi-asset table "
                        f"({', '.join(record.get('symbols') or [])}); give it alone as "
                        "dataset_id, or give single-series datasets in dataset_ids")
                records[symbol] = record
            symbols: list[str] | None = list(records)
            name = " · ".join(f"{sym}: {r['name']}" for sym, r in records.items())
            rows = min(r["rows"] for r in records.values())
        else:
            record = dataset_or_404(body["dataset_id"])
            layout = record.get("layout", "single")
            if body["input_layout"] not in (None, layout):
                raise HTTPException(
                    422, f"input_layout: dataset {record['id']} was uploaded as "
                    + ("one series" if layout == "single" else f"a {layout} table")
                    + f", not as {body['input_layout']}; upload the file again with "
                    f"?layout={body['input_layout']} (or leave input_layout out)")
            records = {"": record}
            symbols = record.get("symbols")
            name, rows = record["name"], record["rows"]
        length = body["length"] or rows
        if length > max_length:
            which = "length" if body["length"] else "length (the dataset's rows, by default)"
            raise HTTPException(422, f"{which}: {length} bars is above this server's limit of "
                                     f"{max_length} bars per series; set a shorter length")
        _check_settings(records, body)
        return name, symbols

    def _check_settings(records: dict[str, dict], body: dict) -> None:
        """422 for settings the run would refuse against the data (a block longer than the
        series, a regime window too long, a length past the calendar, a timeframe that leaves
        too few bars), before the job starts."""
        index = None
        for record in records.values():
            frames = state.datasets.frames(record["id"])
            for frame in frames.values():
                index = frame.index if index is None else index.intersection(frame.index)
        try:
            check_settings(pd.DatetimeIndex(index), method=body["method"],
                           block_size=body["block_size"], length=body["length"],
                           regime=body["regime"], timeframes=body["timeframes"])
        except ConfigError as exc:
            raise HTTPException(422, str(exc).removeprefix("generation.")) from None

    @router.get("/jobs", response_model=list[Job], tags=["jobs"])
    def list_jobs() -> list[dict]:
        return state.jobs.list()

    @router.get("/jobs/{job_id}", response_model=Job, tags=["jobs"])
    def get_job(job_id: str) -> dict:
        return job_or_404(job_id)

    @query_router.get("/jobs/{job_id}/events", tags=["jobs"],
                      response_class=StreamingResponse,
                      responses={200: {"content": {"text/event-stream": {}}}})
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: ``progress`` with the Job whenever it changes, then ``end``."""
        job_or_404(job_id)

        async def stream():
            last_version, last_sent, record = -1, asyncio.get_running_loop().time(), None
            yield "retry: 2000\n\n"
            while True:
                if await request.is_disconnected():
                    return
                snap = state.jobs.snapshot(job_id)
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

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @router.delete("/jobs/{job_id}", status_code=204, tags=["jobs"],
                   responses={202: {"model": Job, "description": "cancelled (was running)"}})
    def delete_job(job_id: str) -> Response:
        """Running or queued: cancel and wait until it stopped (202 Job). Finished: delete it
        with its files (204)."""
        job = job_or_404(job_id)
        if job["status"] in ACTIVE_STATUSES:
            record = state.jobs.cancel(job_id)
            return JSONResponse(Job.model_validate(record).model_dump(mode="json"),
                                status_code=202)
        with contextlib.suppress(JobNotFound):  # deleted by a concurrent request
            state.jobs.delete(job_id)
        return Response(status_code=204)

    @router.post("/jobs/{job_id}/retry", status_code=202, response_model=Job, tags=["jobs"])
    def retry_job(job_id: str) -> dict:
        """Rerun a failed or cancelled job into its own output directory; scenarios it finished
        before are reused."""
        job = job_or_404(job_id)
        for dataset_id in (job.get("dataset_ids") or {"": job["dataset_id"]}).values():
            dataset_or_404(dataset_id)
        return state.jobs.retry(job_id)

    def _manifest(job: dict) -> tuple[OutputStore, dict]:
        out = state.jobs.output_store(job["id"])
        try:
            return out, out.read_json(MANIFEST)
        except FileNotFoundError:
            raise HTTPException(404, f"job {job['id']} has no manifest.json; its output was "
                                     "removed") from None

    def _series_file(files: Mapping[str, str], scenario: Any) -> str:
        for fmt in _READ_PREFERENCE:
            if fmt in files:
                return files[fmt]
        raise HTTPException(404, f"scenario {scenario} has no readable file")

    def _entry_files(entry: dict, symbol: str | None, timeframe: str | None) -> dict:
        """``{format: name}`` of a scenario's series of ``symbol`` at ``timeframe``."""
        node = entry if timeframe is None else (entry.get("timeframes") or {}).get(timeframe, {})
        if symbol is not None:
            return (node.get("assets") or {}).get(symbol) or {}
        return node.get("files") or {}

    def _run_shape(manifest: dict, symbol: str | None, timeframe: str | None,
                   job_id: str) -> str | None:
        """Checks ``symbol`` and ``timeframe`` against the run (422 naming the parameter);
        returns the asset to show (None for single-series runs)."""
        model = manifest.get("model", {})
        symbol = _symbol_of(symbol, list(model.get("assets") or []), f"job {job_id}")
        rules = list(model.get("timeframes") or {})
        if timeframe is not None and timeframe not in rules:
            have = ", ".join(rules) if rules else "none (the job set no timeframes)"
            raise HTTPException(422, f"timeframe: {_shown(timeframe)} is not a timeframe of job "
                                     f"{job_id}; its timeframes are {have}")
        return symbol

    def _originals(job: dict) -> dict[str, pd.DataFrame] | None:
        """The job's input frames by symbol (``""`` for one series), aligned as the run
        aligned them; None when a dataset was deleted."""
        ids = job.get("dataset_ids") or {"": job["dataset_id"]}
        if any(state.datasets.get(i) is None for i in ids.values()):
            return None
        if job.get("dataset_ids"):
            return align_assets({sym: state.datasets.frame(i) for sym, i in ids.items()})
        return state.datasets.frames(job["dataset_id"])

    @router.get("/jobs/{job_id}/results", tags=["results"])
    def job_results(job_id: str, max_points: int = Query(500, ge=2, le=20_000),
                    symbol: str | None = Query(None, max_length=100, description=(
                        "Asset of a multi-asset job whose fan chart to draw (default: the "
                        "first)."))) -> dict:
        """Scores, metrics and a fan chart of the accepted series; for multi-asset jobs the
        symbols and the correlations of every pair, for timeframe jobs the scores at each
        timeframe, for regime jobs the fitted regimes and each scenario's share of them. A
        partial job's accepted scenarios, with ``partial`` saying why the others failed."""
        job = with_results_or_409(job_or_404(job_id))
        out, manifest = _manifest(job)
        symbol = _run_shape(manifest, symbol, None, job_id)
        scenarios = manifest.get("scenarios", [])
        chosen = scenarios[:FAN_SERIES]
        index, closes = None, []
        for entry in chosen:
            name = _series_file(_entry_files(entry, symbol, None), entry.get("scenario"))
            frame = read_series(out.read_bytes(name), name, ["Close"])
            if index is None:
                index = frame.index
            closes.append(frame["Close"].to_numpy(dtype=float))
        original = None
        originals = _originals(job)
        if originals is not None:
            original = originals[symbol or ""]["Close"]
        if index is None:
            index = pd.DatetimeIndex([])
        model = manifest.get("model", {})
        regimes = model.get("regimes")
        n_regimes = int(regimes.get("n_regimes", 0)) if regimes else 0
        rows = []
        for e in scenarios:
            row = {k: e.get(k) for k in ("scenario", "score", "attempt", "metrics")}
            if e.get("timeframes"):
                row["timeframes"] = {rule: {"score": tf.get("score"), "metrics": tf.get("metrics")}
                                     for rule, tf in e["timeframes"].items()}
            if e.get("regimes") is not None:
                row["regime_shares"] = _regime_shares(e["regimes"], n_regimes)
            rows.append(row)
        reference = manifest.get("reference_metrics", {})
        timeframes = {
            rule: {**info, "score": _spread([((e.get("timeframes") or {}).get(rule) or {})
                                             .get("score") for e in scenarios])}
            for rule, info in (model.get("timeframes") or {}).items()
        }
        return {
            "run_id": manifest.get("run_id"),
            "status": manifest.get("status"),
            "summary": manifest.get("summary", {}),
            "partial": job.get("partial"),
            "preflight": manifest.get("preflight"),
            "block_choice": model.get("block_choice"),
            "method": model.get("method"),
            "reference": model.get("reference", "original"),
            "reference_metrics": reference,
            "weights": model.get("weights", {}),
            "scored_metrics": model.get("scored_metrics", []),
            "block_size": model.get("block_size"),
            "symbols": model.get("assets"),
            "symbol": symbol,
            "correlations": _correlations(reference, scenarios),
            "timeframes": timeframes,
            "regimes": regimes,
            "garch": model.get("garch"),
            "scenarios": rows,
            "fan": {**fan_chart(closes, index, original, max_points, FAN_PATHS),
                    "symbol": symbol},
        }

    @router.get("/jobs/{job_id}/series/{k}", response_model=Series, tags=["results"])
    def job_series(job_id: str, k: int, max_points: int = Query(1000, ge=2, le=100_000),
                   symbol: str | None = Query(None, max_length=100, description=(
                       "Asset of a multi-asset job (default: the first).")),
                   timeframe: str | None = Query(None, max_length=100, description=(
                       "One of the job's timeframes (default: the base bars)."))) -> dict:
        """Scenario ``k`` (1-based) as chart data, with its regime path for regime jobs."""
        job = with_results_or_409(job_or_404(job_id))
        out, manifest = _manifest(job)
        symbol = _run_shape(manifest, symbol, timeframe, job_id)
        entry = next((e for e in manifest.get("scenarios", []) if e.get("scenario") == k), None)
        if entry is None:
            numbers = [e.get("scenario") for e in manifest.get("scenarios", [])]
            span = f"{min(numbers)}..{max(numbers)}" if numbers else "none"
            raise HTTPException(404, f"job {job_id} has no accepted scenario {k} "
                                     f"(accepted scenarios: {span})")
        name = _series_file(_entry_files(entry, symbol, timeframe), k)
        frame = read_series(out.read_bytes(name), name)
        bands = None
        if entry.get("regimes") is not None:
            base_index = frame.index
            if timeframe is not None:  # the path counts base bars
                base = _series_file(_entry_files(entry, symbol, None), k)
                base_index = read_series(out.read_bytes(base), base, ["Close"]).index
            bands = _regime_bands(entry["regimes"], base_index)
        return {**downsample_ohlcv(frame, max_points), "symbol": symbol,
                "timeframe": timeframe, "regimes": bands}

    @query_router.get("/jobs/{job_id}/download/{artifact}", tags=["results"],
                      responses={200: {"content": {"application/zip": {},
                                                   "application/json": {}}}})
    def download(job_id: str, artifact: str) -> Response:
        """Download ``csv.zip``, ``xlsx.zip``, ``parquet`` (a zip of the Parquet files),
        ``manifest.json`` or ``scores.parquet``."""
        job = job_or_404(job_id)
        names = artifact_files(job.get("run_id") or "")
        if artifact not in names:
            raise HTTPException(404, f"unknown artifact {_shown(artifact)}; choose one of "
                                     f"{', '.join(names)}")
        with_results_or_409(job)
        if artifact not in job["artifacts"]:
            formats = ", ".join(job["request"].get("formats", []))
            raise HTTPException(404, f"job {job_id} did not produce {artifact} (its formats "
                                     f"were {formats}); submit a job with that format")
        name, filename = names[artifact]
        out = state.jobs.output_store(job_id)
        if artifact == "manifest.json":
            # Served without credentials and without the server's paths.
            _, manifest = _manifest(job)
            body = json.dumps(public_manifest(manifest, state.store.url), indent=2,
                              sort_keys=True)
            return Response(body, media_type=_MEDIA[".json"], headers={
                "Content-Disposition": f'attachment; filename="{filename}"'})
        if artifact == "parquet":
            with state.jobs.bundle_lock(job_id):
                if not out.exists(name):
                    _, manifest = _manifest(job)
                    members = [name for e in manifest.get("scenarios", [])
                               for name in all_files(e) if name.endswith(".parquet")]
                    out.write_zip_from(name, members)
        if not out.exists(name):
            raise HTTPException(404, f"{artifact} of job {job_id} is missing from its output")
        media = _MEDIA.get(Path(filename).suffix, "application/octet-stream")
        protocol = out.fs.protocol
        if ({protocol} if isinstance(protocol, str) else set(protocol)) & {"file", "local"}:
            return FileResponse(out.path(name), media_type=media, filename=filename,
                                content_disposition_type="attachment")

        def chunks() -> Iterator[bytes]:
            with out.fs.open(out.path(name), "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk

        return StreamingResponse(chunks(), media_type=media, headers={
            "Content-Disposition": f'attachment; filename="{filename}"'})

    # Unknown /api paths answer JSON, not the dashboard.
    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    def api_not_found(path: str) -> Response:
        return _json_error(404, f"no route /api/{path[:100]}; see /docs")

    @app.api_route("/api", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def api_root() -> Response:
        return _json_error(404, "no route /api; see /docs")

    app.include_router(open_router)
    app.include_router(query_router)
    app.include_router(router)

    # -- errors -------------------------------------------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        return _json_error(422, detail, errors=errors)

    @app.exception_handler(InputDataError)
    @app.exception_handler(ConfigError)
    async def _on_bad_input(request: Request, exc: Exception) -> JSONResponse:
        # A message about a server-side file (a dataset, a job's output) names it: the
        # response shows it relative to the data directory, the log in full. 413 for a file
        # over a size limit, 422 for the rest.
        text = str(exc)
        shown = state.jobs.public_text(text)
        if shown != text:
            log.warning("%s %s: %s", request.method, request.url.path, text)
        return _json_error(getattr(exc, "status", 422), shown)

    @app.exception_handler(TooManyJobs)
    async def _on_too_many(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "10"})

    @app.exception_handler(JobConflict)
    async def _on_conflict(_request: Request, exc: Exception) -> JSONResponse:
        return _json_error(409, str(exc))

    @app.exception_handler(JobNotFound)
    async def _on_missing(_request: Request, exc: JobNotFound) -> JSONResponse:
        # Deleted by a concurrent request between the lookup and its use.
        return _json_error(404, f"job {exc.args[0] if exc.args else ''} not found")

    # -- the dashboard -------------------------------------------------------------------------

    ui_path = Path(ui_dir) if ui_dir is not None else _default_ui_dir()
    if ui_path is not None and (ui_path / "index.html").is_file():
        app.mount("/", _SPAStaticFiles(directory=ui_path, html=True), name="ui")
    else:
        @app.get("/", include_in_schema=False)
        def ui_not_built() -> HTMLResponse:
            return HTMLResponse(_NOT_BUILT_PAGE)

    app.add_middleware(_CatchAll)
    app.add_middleware(_BodyLimit, upload_mb=max_upload_mb, upload_path="/api/datasets")
    if token:
        app.add_middleware(_TokenGate, token=token)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                           allow_methods=["*"], allow_headers=["*"])
    return app
