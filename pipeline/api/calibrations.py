"""Calibration jobs: :func:`pipeline.calibrate` on an uploaded dataset, run by the
:class:`~pipeline.api.jobs.JobManager` like generation jobs.

A calibration is a kind of job (:class:`CalibrationKind`): its record lives at
``jobs/{cal_id}/job.json`` and its output (``calibration.parquet``, ``calibration.json``,
``report.html``) in ``jobs/{cal_id}/output``, so the concurrency limit, cancel, retry, restart
and delete are the job manager's. What is its own: the request's sections (the config's
``calibration`` section with the generation seed and drift), the checks of its settings against
the dataset before it starts (:func:`check_calibration_request`), its progress (origins done of
all origins) and the summary read back from ``calibration.json`` once it succeeded
(:func:`finished_fields`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException

from pipeline.config import RunConfig
from pipeline.core.calibration import statistic_label
from pipeline.core.fit import check_settings
from pipeline.core.walkforward import walk_origins
from pipeline.errors import ConfigError
from pipeline.runner.calibrate import REPORT_PAGE, SUMMARY, TABLE, CalibrationProgress, calibrate
from pipeline.runner.coordinator import RunCancelled

from .deps import dataset_or_404
from .jobs import JobKind, JobManager
from .schemas import CALIBRATION_REQUEST_SOURCES
from .schemas import CalibrationProgress as ProgressModel

if TYPE_CHECKING:  # the app's state imports the job manager, which this module extends
    from .state import AppState, ServerSettings

__all__ = ["CALIBRATION", "CalibrationKind", "DOWNLOADS", "check_calibration_request",
           "finished_fields"]

log = logging.getLogger(__name__)

#: The files of a succeeded calibration the API serves: route -> (file of its output,
#: file name given to the browser, Content-Disposition).
DOWNLOADS = {
    "report": (REPORT_PAGE, "calibration_{run_id}.html", "inline"),
    "table": (TABLE, "calibration_{run_id}.parquet", "attachment"),
}


class CalibrationKind(JobKind):
    """Walk-forward calibrations (``POST /api/calibrations``)."""

    name = "calibration"
    prefix = "cal"

    def config(self, jobs: JobManager, job_id: str | None, request: Mapping[str, Any]
               ) -> RunConfig:
        return jobs.run_config(job_id, request, CALIBRATION_REQUEST_SOURCES)

    def fresh_fields(self, config: RunConfig, previous: Mapping[str, Any] | None) -> dict:
        # A retry computes only the origins missing on disk; the progress reports those found.
        return {"progress": ProgressModel().model_dump()}

    def execute(self, jobs: JobManager, entry: Any, config: RunConfig
                ) -> tuple[str, dict[str, Any]]:
        def on_progress(p: CalibrationProgress) -> None:
            progress = ProgressModel(**{k: v for k, v in p.as_dict().items()
                                        if k in ProgressModel.model_fields}).model_dump()
            jobs.report(entry, p.stage, progress=progress, run_id=p.run_id)

        result = calibrate(config, client=jobs.client(), progress=on_progress,
                           cancel=entry.cancel)
        progress = ProgressModel(stage="done", done=result.origins, total=result.origins,
                                 resumed=result.resumed,
                                 elapsed_seconds=result.elapsed_seconds).model_dump()
        return "succeeded", {"run_id": result.run_id, "progress": progress}

    def cancelled_progress(self, progress: Mapping[str, Any], exc: RunCancelled) -> dict:
        # RunCancelled.accepted counts the origins finished and kept on disk.
        return dict(progress, done=exc.accepted)


#: The kind the app registers with its job manager.
CALIBRATION = CalibrationKind()


def check_calibration_request(body: dict, state: AppState, settings: ServerSettings) -> str:
    """422 for a calibration request the dataset cannot support, before the job starts.

    Parameters
    ----------
    body : dict
        The validated request (``CalibrationRequest.model_dump(mode="json")``).
    state : AppState
        The app's stores.
    settings : ServerSettings
        The server's limits (``max_n_samples`` bounds ``n_scenarios``).

    Returns
    -------
    str
        The dataset's name.

    Raises
    ------
    HTTPException
        404 for an unknown dataset; 422 naming the field to change for a multi-asset dataset,
        a walk forward that leaves no origin, or a method its first fit window cannot support.
    """
    record = dataset_or_404(body["dataset_id"], state)
    if record.get("layout", "single") != "single":
        raise HTTPException(422, f"dataset_id: dataset {record['id']} is a multi-asset table "
                                 f"({', '.join(record.get('symbols') or [])}); a calibration "
                                 "takes one series: upload each asset on its own")
    if body["n_scenarios"] > settings.max_n_samples:
        raise HTTPException(422, f"n_scenarios: {body['n_scenarios']} is above this server's "
                                 f"limit of {settings.max_n_samples} scenarios; ask for fewer")
    [frame] = state.datasets.frames(record["id"]).values()
    index = frame.index
    try:
        walk_origins(len(index), body["horizon"], body["step"], body["min_window"])
        first = index[: body["min_window"]]
        for method in body["methods"]:
            try:
                check_settings(first, method=method, block_size="auto", n_bars=len(first))
            except ConfigError as exc:
                raise ConfigError(f"methods: {method} cannot be fitted on the first fit window "
                                  f"of min_window = {body['min_window']} bars ({exc}); raise "
                                  "min_window or leave the method out") from None
    except ConfigError as exc:
        # The request names the walk forward's fields without their config section.
        raise HTTPException(422, str(exc).replace("calibration.", "")) from None
    return record["name"]


def finished_fields(jobs: JobManager, record: Mapping[str, Any]) -> dict[str, Any]:
    """A succeeded calibration's summary, origins and failed fits from its
    ``calibration.json`` (each statistic labelled in words); {} when it has none.

    The file holds no server path; the failed fits' error texts are cleaned like a job's
    errors all the same.
    """
    if record["status"] != "succeeded":
        return {}
    out = jobs.output_store(record["id"])
    try:
        data = out.read_json(SUMMARY)
    except (OSError, ValueError):
        log.warning("calibration %s: %s cannot be read", record["id"], SUMMARY, exc_info=True)
        raise HTTPException(500, f"calibration {record['id']}'s {SUMMARY} cannot be read: it "
                                 "was changed or removed since the calibration finished; the "
                                 "details are in the server log") from None
    summary = dict(data["summary"])
    summary["rows"] = [{**row, "label": statistic_label(row["statistic"], summary["horizon"])}
                       for row in summary["rows"]]
    failed = {method: {"origins": info["origins"],
                       "first_error": jobs.public_text(str(info["first_error"]))}
              for method, info in (data.get("failed_fits") or {}).items()}
    return {"summary": summary, "origins": data.get("origins"), "failed_fits": failed or None}
