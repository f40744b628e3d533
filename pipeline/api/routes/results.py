"""A finished job's results: scores and fan chart, its scenarios a page at a time, one
scenario's series, the downloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from pipeline.errors import ConfigError
from pipeline.io.assets import align_assets
from pipeline.io.run import MANIFEST, RunFolder, ScenarioRecord
from pipeline.io.writers import OutputStore

from ..charts import downsample_ohlcv
from ..deps import (
    AppStateDep,
    job_or_404,
    require_token,
    require_token_or_query,
    shown,
    with_results_or_409,
)
from ..jobs import artifact_files, public_manifest_chunks
from ..results import (
    MAX_PAGE,
    PAGE_SIZE,
    build_job_results,
    check_run_shape,
    regime_bands,
    scenario_page,
)
from ..runs import JobRun, reading_output
from ..schemas import (
    SCENARIO_SORT_DESCRIPTION,
    JobResults,
    ScenarioPage,
    ScenarioSort,
    Series,
)
from ..state import AppState

__all__ = ["file_response", "links", "router"]

_CHUNK = 1 << 20
_MEDIA = {".zip": "application/zip", ".json": "application/json",
          ".parquet": "application/vnd.apache.parquet", ".html": "text/html; charset=utf-8"}

router = APIRouter(prefix="/api", tags=["results"], dependencies=[Depends(require_token)])
#: Routes a browser opens as a link (downloads): the token may be ``?token=``.
links = APIRouter(prefix="/api", tags=["results"],
                  dependencies=[Depends(require_token_or_query)])


def _originals(job: dict, state: AppState) -> dict[str, pd.DataFrame] | None:
    """The job's input frames by symbol (``""`` for one series), aligned as the run
    aligned them; None when a dataset was deleted."""
    ids = job.get("dataset_ids") or {"": job["dataset_id"]}
    if any(state.datasets.get(i) is None for i in ids.values()):
        return None
    if job.get("dataset_ids"):
        return align_assets({sym: state.datasets.frame(i) for sym, i in ids.items()})
    return state.datasets.frames(job["dataset_id"])


#: The ``sort`` parameter of the routes listing scenarios.
_SORT = Query("scenario", description=SCENARIO_SORT_DESCRIPTION)


def _job_run(job_id: str, state: AppState) -> tuple[dict, JobRun]:
    """The job's record and opened run: 404 unknown, 409 without results."""
    # The lookup after the query's validation (see pipeline.api.deps).
    job = with_results_or_409(job_or_404(job_id, state))
    return job, state.runs.get(state.jobs.output_store(job["id"]), job["id"])


@router.get("/jobs/{job_id}/results", response_model=JobResults,
            response_model_exclude_unset=True)
def job_results(job_id: str, state: AppStateDep,
                max_points: int = Query(500, ge=2, le=20_000),
                symbol: str | None = Query(None, max_length=100, description=(
                    "Asset of a multi-asset job whose fan chart to draw (default: the "
                    "first).")),
                limit: int = Query(MAX_PAGE, ge=0, le=MAX_PAGE, description=(
                    "Scenarios listed in `scenarios` (the first in the order `sort`); the "
                    "others from GET /api/jobs/{id}/scenarios.")),
                sort: ScenarioSort = _SORT) -> dict:
    """Scores, metrics and a fan chart of the accepted series: the count, summary and
    histogram of the scores and each metric's spread over every accepted scenario, and the
    first page of the scenarios themselves; for multi-asset jobs the symbols and the
    correlations of every pair, for timeframe jobs the scores at each timeframe, for regime
    jobs the fitted regimes and the scenarios' shares of them. A partial job's accepted
    scenarios, with ``partial`` saying why the others failed."""
    job, job_run = _job_run(job_id, state)
    symbol = check_run_shape(job_run.run.manifest, symbol, None, job_id)
    return build_job_results(job, job_run, symbol, max_points, lambda: _originals(job, state),
                             limit, sort)


@router.get("/jobs/{job_id}/scenarios", response_model=ScenarioPage,
            response_model_exclude_unset=True)
def job_scenarios(job_id: str, state: AppStateDep,
                  offset: int = Query(0, ge=0, description=(
                      "Position of the page's first scenario in the order `sort`, from 0.")),
                  limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE,
                                     description="The most scenarios the page holds."),
                  sort: ScenarioSort = _SORT) -> dict:
    """A page of the accepted scenarios: each one's score, attempt and metrics (and
    timeframe scores, regime shares), ``total`` saying how many there are. A page past the
    last scenario is empty."""
    _, job_run = _job_run(job_id, state)
    return scenario_page(job_run, offset, limit, sort)


def _scenario_or_404(run: RunFolder, k: int, job_id: str) -> ScenarioRecord:
    """The record of scenario ``k`` (1-based); 404 naming the accepted ones when none."""
    try:
        return run.scenario(k)
    except ConfigError:
        numbers = [rec.scenario for rec in run.scenarios]
        span = f"{numbers[0]}..{numbers[-1]}" if numbers else "none"
        raise HTTPException(404, f"job {job_id} has no accepted scenario {k} "
                                 f"(accepted scenarios: {span})") from None


@router.get("/jobs/{job_id}/series/{k}", response_model=Series)
def job_series(job_id: str, k: int, state: AppStateDep,
               max_points: int = Query(1000, ge=2, le=100_000),
               symbol: str | None = Query(None, max_length=100, description=(
                   "Asset of a multi-asset job (default: the first).")),
               timeframe: str | None = Query(None, max_length=100, description=(
                   "One of the job's timeframes (default: the base bars)."))) -> dict:
    """Scenario ``k`` (1-based) as chart data, with its regime path for regime jobs."""
    _, job_run = _job_run(job_id, state)
    run = job_run.run
    symbol = check_run_shape(run.manifest, symbol, timeframe, job_id)
    record = _scenario_or_404(run, k, job_id)
    bands = None
    with reading_output(job_id):
        frame = run.read_series(record, symbol, timeframe)
        if record.regimes is not None:
            # The path counts base bars.
            base = frame if timeframe is None else run.read_series(record, symbol,
                                                                   columns=["Close"])
            bands = regime_bands(record.regimes, base.index)
    return {**downsample_ohlcv(frame, max_points), "symbol": symbol,
            "timeframe": timeframe, "regimes": bands}


def _attachment(filename: str, disposition: str = "attachment") -> dict[str, str]:
    return {"Content-Disposition": f'{disposition}; filename="{filename}"'}


def _bundle_parquet(state: AppState, job: dict, out: OutputStore, name: str) -> None:
    """Write the zip of the job's Parquet files once, on its first download."""
    with state.jobs.bundle_lock(job["id"]):
        if not out.exists(name):
            run = state.runs.get(out, job["id"]).run
            members = [member for rec in run.scenarios
                       for member in rec.all_files() if member.endswith(".parquet")]
            out.write_zip_from(name, members)


def file_response(out: OutputStore, name: str, filename: str,
                  disposition: str = "attachment") -> Response:
    """The file, from disk when the data directory is local, streamed from fsspec otherwise;
    ``disposition`` ``inline`` lets a browser show it (a report page) instead of saving it."""
    media = _MEDIA.get(Path(filename).suffix, "application/octet-stream")
    if out.is_local:
        return FileResponse(out.path(name), media_type=media, filename=filename,
                            content_disposition_type=disposition)

    def chunks() -> Iterator[bytes]:
        with out.fs.open(out.path(name), "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type=media,
                             headers=_attachment(filename, disposition))


@links.get("/jobs/{job_id}/download/{artifact}",
           responses={200: {"content": {"application/zip": {}, "application/json": {}}}})
def download(job_id: str, artifact: str, state: AppStateDep) -> Response:
    """Download ``csv.zip``, ``xlsx.zip``, ``parquet`` (a zip of the Parquet files),
    ``manifest.json`` or ``scores.parquet``."""
    # Not a JobRecord dependency: the schema lists job_id before artifact, as the path does.
    job = job_or_404(job_id, state)
    names = artifact_files(job.get("run_id") or "")
    if artifact not in names:
        raise HTTPException(404, f"unknown artifact {shown(artifact)}; choose one of "
                                 f"{', '.join(names)}")
    with_results_or_409(job)
    if artifact not in job["artifacts"]:
        formats = ", ".join(job["request"].get("formats", []))
        raise HTTPException(404, f"job {job_id} did not produce {artifact} (its formats "
                                 f"were {formats}); submit a job with that format")
    name, filename = names[artifact]
    out = state.jobs.output_store(job_id)
    if name == MANIFEST:
        # Served without credentials and without the server's paths.
        chunks = public_manifest_chunks(state.runs.get(out, job_id).run, state.store.url)
        return StreamingResponse(chunks, media_type=_MEDIA[".json"],
                                 headers=_attachment(filename))
    if artifact == "parquet":
        _bundle_parquet(state, job, out, name)
    if not out.exists(name):
        raise HTTPException(404, f"{artifact} of job {job_id} is missing from its output")
    return file_response(out, name, filename)
