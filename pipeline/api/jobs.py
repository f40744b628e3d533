"""Generation jobs: each runs :func:`~pipeline.runner.coordinator.run_pipeline` in a thread.

A job's record is JSON at ``jobs/{id}/job.json`` in the data directory (written atomically by
:class:`~pipeline.io.writers.OutputStore`), its outputs are in ``jobs/{id}/output``. The record
is saved at every status change and at most once a second while progress comes in; in memory
every change bumps a version number, which the SSE route polls.

Restart behaviour: records of jobs that were queued or running when the server stopped are
marked ``failed`` with :data:`RESTART_ERROR` when the next server loads them. ``POST
/api/jobs/{id}/retry`` reruns such a job (or a cancelled one) *in place*: the same request into
the same output directory, so ``run_pipeline`` resumes and the scenarios finished before the
restart are reused, not regenerated.

A run whose scenarios could not all reach the threshold ends ``partial``: its accepted
scenarios are results like a succeeded job's, and ``partial`` says why and at which threshold
a new job with ``resume_from`` completes. Every text a record carries is stripped of the data
directory's location (:meth:`JobManager.public_text`); the full text goes to the server log.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from distributed import Client

from pipeline.config import RunConfig, load_config
from pipeline.errors import FidelityNotReachedError, SMEError
from pipeline.io.run import MANIFEST, SCORES, RunFolder, manifest_text
from pipeline.io.writers import OutputStore
from pipeline.redaction import redact, redact_text
from pipeline.runner.coordinator import Progress, RunCancelled, run_pipeline, run_preflight

from .datasets import SYMBOL_COLUMN, DatasetStore, now_iso, read_records, remove_tree
from .schemas import ACTIVE_STATUSES, JOB_REQUEST_SOURCES, RESULT_STATUSES, JobProgress

__all__ = ["JobManager", "JobKind", "GenerationKind", "GENERATION", "TooManyJobs",
           "JobConflict", "JobNotFound", "RESTART_ERROR", "artifact_files", "job_dataset_ids",
           "public_manifest_chunks", "kind_of"]

log = logging.getLogger(__name__)

RECORD = "job.json"
RESTART_ERROR = (
    "server restarted while the job was running; retry it (POST .../{id}/retry: the work it "
    "finished is reused)"
)
#: Seconds between progress saves of a running job's record (status changes save at once).
_SAVE_INTERVAL = 1.0
#: How long DELETE waits for a cancelled job's in-flight tasks (run_pipeline waits <= 120 s).
CANCEL_WAIT = 150.0


class TooManyJobs(Exception):
    """``max_concurrent_jobs`` jobs are queued or running already."""


class JobNotFound(KeyError):
    """No job with this id (any more)."""


class JobConflict(Exception):
    """The job is not in a state that allows the operation."""


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it, mapping by mapping (``top`` wins on other values)."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def job_dataset_ids(request: Mapping[str, Any]) -> list[str]:
    """Every dataset a job request reads."""
    if request.get("dataset_ids"):
        return list(request["dataset_ids"].values())
    return [request["dataset_id"]]


def artifact_files(run_id: str) -> dict[str, tuple[str, str]]:
    """Artifact -> (file name in the job's output, download file name).

    The artifacts ``manifest.json`` and ``scores.parquet`` are the run folder's
    :data:`~pipeline.io.run.MANIFEST` and :data:`~pipeline.io.run.SCORES`.
    """
    return {
        "csv.zip": (f"synthetic_batch_{run_id}.zip", f"synthetic_batch_{run_id}.zip"),
        "xlsx.zip": (f"synthetic_batch_{run_id}_xlsx.zip", f"synthetic_batch_{run_id}_xlsx.zip"),
        "parquet": (f"synthetic_batch_{run_id}_parquet.zip",
                    f"synthetic_batch_{run_id}_parquet.zip"),
        "manifest.json": (MANIFEST, f"manifest_{run_id}.json"),
        "scores.parquet": (SCORES, f"scores_{run_id}.parquet"),
    }


def _artifacts(config: RunConfig) -> list[str]:
    formats = config.output.formats
    out = []
    if config.output.zip and "csv" in formats:
        out.append("csv.zip")
    if config.output.zip and "xlsx" in formats:
        out.append("xlsx.zip")
    if "parquet" in formats:
        out.append("parquet")
    return [*out, "manifest.json", "scores.parquet"]


def _public_header(run: RunFolder, data_url: str) -> dict:
    """The manifest's header as the API serves it: in its ``config`` and ``input``, paths
    below the data directory become relative to it (``datasets/ds_…/data.parquet``,
    ``jobs/job_…/output``) and other absolute paths keep their last component only;
    credentials are redacted."""
    prefix = data_url.rstrip("/") + "/"

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            if value.startswith(prefix):
                return value[len(prefix):]
            if value.startswith("/") or "://" in value:
                return value.rstrip("/").rsplit("/", 1)[-1]
        return value

    out = run.manifest.to_json()
    for key in ("config", "input"):
        if key in out:
            out[key] = clean(redact(out[key]))
    return out


def public_manifest_chunks(run: RunFolder, data_url: str) -> Iterator[bytes]:
    """A job's manifest as the API serves it, JSON text in chunks: no credentials, no server
    paths.

    The manifest of ``run`` as written: its header (cleaned as :func:`_public_header` says)
    and its scenario records, in the layout the run writes
    (:func:`pipeline.io.run.manifest_text`), so that a manifest of 100,000 scenarios (some
    80 MB) starts at once and is never held whole in memory.
    """
    return manifest_text(_public_header(run, data_url),
                           (rec.to_json() for rec in run.scenarios))


class JobKind:
    """What differs between the kinds of job :class:`JobManager` runs.

    The manager owns what every job has: its record and its persistence, the concurrency limit,
    the thread, cancel, retry, delete and restart. A kind says which configuration a request
    makes, which fields its record has besides the common ones, and how it runs.

    Attributes
    ----------
    name : str
        The record's ``kind``.
    prefix : str
        Its ids' prefix (``job`` gives ``job_`` and 32 hex digits).
    """

    name = ""
    prefix = ""

    def config(self, jobs: JobManager, job_id: str | None, request: Mapping[str, Any]
               ) -> RunConfig:
        """The run configuration of a validated request (``job_id`` None: nothing is written)."""
        raise NotImplementedError

    def fresh_fields(self, config: RunConfig, previous: Mapping[str, Any] | None) -> dict:
        """The kind's record fields (progress included) before a run starts; ``previous`` is
        the record of the run a retry follows (None for a new job)."""
        raise NotImplementedError

    def execute(self, jobs: JobManager, entry: _Entry, config: RunConfig
                ) -> tuple[str, dict[str, Any]]:
        """Run the job in the calling thread: its final status and record changes.

        :class:`~pipeline.runner.coordinator.RunCancelled` and :class:`SMEError` propagate;
        :meth:`cancelled_progress` and the manager record them.
        """
        raise NotImplementedError

    def cancelled_progress(self, progress: Mapping[str, Any], exc: RunCancelled) -> dict:
        """The progress of a cancelled run: the counts of what stays on disk."""
        return dict(progress)


class GenerationKind(JobKind):
    """Generation jobs: :func:`~pipeline.runner.coordinator.run_pipeline` on the request's
    datasets, scenarios and downloads as results."""

    name = "generation"
    prefix = "job"

    def config(self, jobs: JobManager, job_id: str | None, request: Mapping[str, Any]
               ) -> RunConfig:
        return jobs.run_config(job_id, request)

    def fresh_fields(self, config: RunConfig, previous: Mapping[str, Any] | None) -> dict:
        # On a retry, the scenarios the earlier run kept are on disk and will be resumed.
        kept = int(((previous or {}).get("progress") or {}).get("accepted") or 0)
        return {"progress": JobProgress(requested=config.generation.n_samples, accepted=kept,
                                        resumed=kept).model_dump(),
                "artifacts": [], "preflight": None, "warnings": [], "partial": None}

    def execute(self, jobs: JobManager, entry: _Entry, config: RunConfig
                ) -> tuple[str, dict[str, Any]]:
        job_id = entry.record["id"]

        def on_progress(p: Progress) -> None:
            progress = JobProgress(**{k: v for k, v in p.as_dict().items()
                                      if k in JobProgress.model_fields}).model_dump()
            changes: dict[str, Any] = {"progress": progress, "run_id": p.run_id}
            if p.preflight is not None:
                changes["preflight"] = p.preflight.to_dict()
                changes["warnings"] = [] if p.preflight.ok else [p.preflight.message]
            jobs.report(entry, p.stage, **changes)

        try:
            result = run_pipeline(config, client=jobs.client(), progress=on_progress,
                                  cancel=entry.cancel)
        except FidelityNotReachedError as exc:
            return "partial", {
                "run_id": entry.record.get("run_id"), "artifacts": _artifacts(config),
                "partial": jobs.partial(job_id, exc),
                "progress": dict(entry.record["progress"], stage="done", eta_seconds=0.0)}
        progress = dict(entry.record["progress"], stage="done", accepted=result.n_accepted,
                        failed=len(result.failed), eta_seconds=0.0)
        partial = result.partial_error
        return ("partial" if partial else "succeeded"), {
            "run_id": result.run_id, "artifacts": _artifacts(config), "progress": progress,
            "partial": jobs.partial(job_id, partial) if partial else None}

    def cancelled_progress(self, progress: Mapping[str, Any], exc: RunCancelled) -> dict:
        return dict(progress, accepted=exc.accepted, attempts=exc.attempts,
                    resumed=exc.resumed, eta_seconds=None)


#: The kind of ``POST /api/jobs`` (and of records written before jobs had a kind).
GENERATION = GenerationKind()


def kind_of(record: Mapping[str, Any]) -> str:
    """A record's kind (records written before kinds existed are generation jobs)."""
    return record.get("kind") or GENERATION.name


@dataclass
class _Entry:
    record: dict
    version: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    save_lock: threading.Lock = field(default_factory=threading.Lock)
    last_save: float = 0.0
    bundle_lock: threading.Lock = field(default_factory=threading.Lock)


class JobManager:
    """Starts, tracks, cancels, persists and deletes jobs.

    Parameters
    ----------
    store : OutputStore
        The server's data directory.
    datasets : DatasetStore
        Where job inputs come from.
    client : callable
        Returns the shared Dask client (it exists only once the app has started).
    max_concurrent : int
        Jobs queued or running at once; :class:`TooManyJobs` beyond.
    run_overrides : mapping
        Server-side run settings merged under every job's config (e.g. ``scoring.n_replicates``,
        ``cluster.task_candidates``); the request, input, output and cache always win.
    cache_path : str or None
        The fitted-model cache directory (local only).
    kinds : tuple of JobKind
        Kinds of job besides generation jobs (:data:`GENERATION`, always there).
    """

    def __init__(self, store: OutputStore, datasets: DatasetStore, client: Callable[[], Client],
                 *, max_concurrent: int = 2, run_overrides: Mapping[str, Any] | None = None,
                 cache_path: str | None = None, kinds: tuple[JobKind, ...] = ()) -> None:
        self.store = store
        self.datasets = datasets
        self._client = client
        self.max_concurrent = max_concurrent
        self.run_overrides = dict(run_overrides or {})
        self.cache_path = cache_path
        self.kinds = {k.name: k for k in (GENERATION, *kinds)}
        self._id_pattern = re.compile(
            "^(" + "|".join(re.escape(k.prefix) for k in self.kinds.values()) + ")_[0-9a-f]{32}$")
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._shutting_down = False

    # -- storage -------------------------------------------------------------------------------

    def output_store(self, job_id: str) -> OutputStore:
        return OutputStore(self.store.path(f"jobs/{job_id}/output"),
                           self.store.storage_options or None)

    def load(self) -> None:
        """Read job records; jobs left queued/running by a previous server are marked failed."""
        entries = {}
        for job_id, record in read_records(self.store, "jobs", RECORD, self._id_pattern):
            kind = self.kinds.get(kind_of(record))
            if kind is None or not job_id.startswith(kind.prefix + "_"):
                log.warning("skipping job %s: its record's kind %r is unknown", job_id,
                            kind_of(record))
                continue
            entry = _Entry(record)
            if record.get("status") in ACTIVE_STATUSES:
                record.update(status="failed", error=RESTART_ERROR,
                              finished_at=record.get("finished_at") or now_iso())
                self._save(entry, force=True, listed=False)
            entries[job_id] = entry
        with self._lock:
            self._entries = entries

    def _save(self, entry: _Entry, *, force: bool = False, listed: bool = True) -> None:
        now = time.monotonic()
        if not force and now - entry.last_save < _SAVE_INTERVAL:
            return
        with entry.save_lock:
            with self._lock:
                if listed and self._entries.get(entry.record["id"]) is not entry:
                    return  # deleted meanwhile: do not write the record back
                snapshot = copy.deepcopy(entry.record)
            self.store.write_json(f"jobs/{snapshot['id']}/{RECORD}", snapshot)
            entry.last_save = now

    def _update(self, entry: _Entry, **changes: Any) -> None:
        with self._lock:
            entry.record.update(changes)
            entry.version += 1

    # -- queries -------------------------------------------------------------------------------

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            entry = self._entries.get(job_id)
            return copy.deepcopy(entry.record) if entry else None

    def snapshot(self, job_id: str) -> tuple[int, dict] | None:
        """(version, record) of a job, or None when it does not exist (any more)."""
        with self._lock:
            entry = self._entries.get(job_id)
            return (entry.version, copy.deepcopy(entry.record)) if entry else None

    def client(self) -> Client:
        """The shared Dask client."""
        return self._client()

    def list(self, kind: str | None = None) -> list[dict]:
        """Records of every job (of kind ``kind``), newest first."""
        with self._lock:
            records = [copy.deepcopy(e.record) for e in self._entries.values()
                       if kind is None or kind_of(e.record) == kind]
        return sorted(records, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def active_count(self) -> int:
        with self._lock:
            return sum(e.record["status"] in ACTIVE_STATUSES for e in self._entries.values())

    def uses_dataset(self, dataset_id: str) -> bool:
        """Whether a queued or running job reads the dataset."""
        with self._lock:
            return any(dataset_id in job_dataset_ids(e.record["request"])
                       and e.record["status"] in ACTIVE_STATUSES for e in self._entries.values())

    # -- config --------------------------------------------------------------------------------

    def run_config(self, job_id: str | None, request: Mapping[str, Any],
                   sources: tuple[tuple[str, Any, tuple[str, ...]], ...] = JOB_REQUEST_SOURCES
                   ) -> RunConfig:
        """The run configuration of a job request (validated like a YAML config).

        ``sources`` says which request fields go to which config section
        (:data:`~pipeline.api.schemas.JOB_REQUEST_SOURCES` for generation jobs); the input
        (the request's datasets), output (the job's folder), cache and the server's
        ``run_overrides`` are the same for every kind. ``job_id`` None: a configuration that
        only serves a preflight (it writes nothing).
        """
        sections: dict[str, dict[str, Any]] = {"output": {}}
        for section, _model, names in sources:
            sections[section] = {n: request[n] for n in names if n in request}
        options = self.store.storage_options
        source: dict[str, Any]
        if request.get("dataset_ids"):
            source = {"assets": {sym: self.datasets.data_url(ds)
                                 for sym, ds in request["dataset_ids"].items()}}
        else:
            source = {"path": self.datasets.data_url(request["dataset_id"])}
            record = self.datasets.get(request["dataset_id"]) or {}
            if record.get("layout", "single") != "single":
                # Tables are stored in one canonical form: long, with a symbol column.
                source.update(layout="long", symbol_column=SYMBOL_COLUMN)
        output = {**sections["output"], "storage_options": options,
                  "path": self.output_store(job_id).url if job_id else "preflight-only"}
        if request.get("resume_from") and job_id:
            output["resume_from"] = self.output_store(request["resume_from"]).url
        data = _deep_merge(self.run_overrides, {
            **sections,
            "input": {**source, "storage_options": options},
            "output": output,
            "cache": {"path": self.cache_path},
            "report": False,
        })
        other = {"sample", "assets", "path", "layout", "symbol_column"} - set(source)
        data["input"] = {k: v for k, v in data["input"].items() if k not in other}
        return load_config(data)

    def preflight(self, request: Mapping[str, Any]) -> dict:
        """The preflight of a job request, without starting a job (the fitted model comes from
        the cache when an identical fit was made before); ``Preflight.to_dict()``."""
        config = GENERATION.config(self, None, request)
        return run_preflight(config, self._client()).to_dict()

    # -- lifecycle -----------------------------------------------------------------------------

    def submit(self, request: Mapping[str, Any], dataset_name: str | None = None,
               symbols: list[str] | None = None, kind: str = GENERATION.name) -> dict:
        """Create a job of ``kind`` for a validated request and start it; returns its record."""
        job_kind = self.kinds[kind]
        job_id = f"{job_kind.prefix}_{uuid.uuid4().hex}"
        if request.get("resume_from"):
            self._check_source(request["resume_from"])
        config = job_kind.config(self, job_id, request)  # ConfigError (422) before anything
        record = {
            "id": job_id,
            "kind": job_kind.name,
            "dataset_id": job_dataset_ids(request)[0],
            "dataset_ids": dict(request["dataset_ids"]) if request.get("dataset_ids") else None,
            "symbols": symbols,
            "dataset_name": dataset_name,
            "status": "queued",
            "created_at": now_iso(),
            "started_at": None,
            "finished_at": None,
            "request": dict(request),
            "error": None,
            "run_id": None,
            "cancel_requested": False,
            **job_kind.fresh_fields(config, None),
        }
        entry = _Entry(record)
        with self._lock:
            self._check_capacity()
            self._entries[job_id] = entry
        try:
            self._save(entry, force=True)
        except BaseException:
            with self._lock:
                self._entries.pop(job_id, None)
            raise
        self._start(entry, config)
        return self.get(job_id) or record

    def _check_source(self, source_id: str) -> None:
        """``resume_from`` must name a job with results (succeeded or partial)."""
        source = self.get(source_id)
        if source is None:
            raise JobConflict(f"resume_from: job {source_id} not found; list the jobs with "
                              "GET /api/jobs")
        if source["status"] not in RESULT_STATUSES:
            raise JobConflict(f"resume_from: job {source_id} is {source['status']}; only a "
                              "succeeded or partial job's scenarios can be reused")

    def retry(self, job_id: str) -> dict:
        """Rerun a failed or cancelled job into its own output directory (resuming)."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                raise JobNotFound(job_id)
            status = entry.record["status"]
            job_kind = self.kinds[kind_of(entry.record)]
            if status == "partial":
                raise JobConflict(
                    f"job {job_id} is partial: rerun in place, it would fail the same way; "
                    "submit a new job at its partial.suggested_min_fidelity with resume_from "
                    f"{job_id} to reuse its scenarios")
            if status not in ("failed", "cancelled"):
                raise JobConflict(
                    f"job {job_id} is {status}; only failed or cancelled jobs can be retried"
                )
            self._check_capacity()
            request = entry.record["request"]
        for dataset_id in job_dataset_ids(request):
            if self.datasets.get(dataset_id) is None:
                raise JobConflict(f"the dataset {dataset_id} of job {job_id} was deleted; "
                                  "upload it again and submit a new job")
        config = job_kind.config(self, job_id, request)
        with self._lock:
            if entry.record["status"] not in ("failed", "cancelled"):
                raise JobConflict(f"job {job_id} is {entry.record['status']} already")
            self._check_capacity()
            entry.cancel = threading.Event()
            fresh = job_kind.fresh_fields(config, entry.record)
            entry.record.update(status="queued", started_at=None, finished_at=None, error=None,
                                cancel_requested=False, **fresh)
            entry.version += 1
        self._save(entry, force=True)
        self._start(entry, config)
        return self.get(job_id) or entry.record

    def _check_capacity(self) -> None:  # call with self._lock held
        if self._shutting_down:
            raise TooManyJobs("the server is shutting down; submit the job again after restart")
        active = sum(e.record["status"] in ACTIVE_STATUSES for e in self._entries.values())
        if active >= self.max_concurrent:
            raise TooManyJobs(
                f"{active} jobs are queued or running and this server runs at most "
                f"{self.max_concurrent} at once; wait for one to finish or cancel one "
                "(DELETE /api/jobs/{id} or /api/calibrations/{id}), then submit again"
            )

    def _start(self, entry: _Entry, config: RunConfig) -> None:
        thread = threading.Thread(target=self._run, args=(entry, config),
                                  name=f"sme-{entry.record['id']}", daemon=True)
        entry.thread = thread
        thread.start()

    def _run(self, entry: _Entry, config: RunConfig) -> None:
        job_id = entry.record["id"]
        if entry.cancel.is_set():
            self._finish(entry, "cancelled", None)
            return
        self._update(entry, status="running", started_at=now_iso())
        self._save(entry, force=True)
        job_kind = self.kinds[kind_of(entry.record)]
        try:
            status, changes = job_kind.execute(self, entry, config)
        except RunCancelled as exc:
            # The counts of what is on disk (a retry resumes from it).
            progress = job_kind.cancelled_progress(entry.record["progress"], exc)
            if self._shutting_down and not entry.record.get("cancel_requested"):
                self._finish(entry, "failed", RESTART_ERROR, progress=progress)
            else:
                self._finish(entry, "cancelled", None, progress=progress)
        except SMEError as exc:
            self._finish(entry, "failed", self._logged_error(job_id, exc))
        except Exception as exc:  # noqa: BLE001 - reported on the job, logged in full here
            log.exception("job %s failed unexpectedly", job_id)
            self._finish(entry, "failed",
                         f"internal error while running the job ({type(exc).__name__}); "
                         "see the server log")
        else:
            self._finish(entry, status, None, **changes)

    def report(self, entry: _Entry, stage: str, **changes: Any) -> None:
        """Progress of a running job: update its record; save it at once when the stage
        changed, else at most once a second."""
        with self._lock:
            previous = (entry.record.get("progress") or {}).get("stage")
        self._update(entry, **changes)
        try:
            self._save(entry, force=stage != previous)
        except Exception:  # noqa: BLE001 - a failed progress save must not stop the run
            log.warning("could not save progress of job %s", entry.record["id"], exc_info=True)

    def _logged_error(self, job_id: str, exc: BaseException) -> str:
        """The public text of a job's error; the full text goes to the log."""
        text = str(exc)
        shown = self.public_text(text)
        if shown != text:
            log.warning("job %s: %s", job_id, text)  # the full text, with the location
        return shown

    def partial(self, job_id: str, exc: FidelityNotReachedError) -> dict:
        """The record's ``partial`` of a run that ended partial."""
        return {"reason": self._logged_error(job_id, exc), "accepted": exc.accepted,
                "failed": len(exc.failed_scenarios), "best_score": exc.best_score,
                "suggested_min_fidelity": exc.suggested_min_fidelity}

    def public_text(self, text: str) -> str:
        """``text`` without credentials and without the data directory's location.

        Paths below the data directory become relative (``jobs/{id}/output``); the directory
        itself becomes ``<data>``.
        """
        text = redact_text(text)
        roots = {self.store.url}
        if "://" not in self.store.url:
            roots |= {os.path.realpath(self.store.url), "file://" + self.store.url}
        for root in sorted(roots, key=len, reverse=True):
            text = text.replace(root + "/", "").replace(root, "<data>")
        return text

    def _finish(self, entry: _Entry, status: str, error: str | None, **changes: Any) -> None:
        error = None if error is None else self.public_text(error)
        self._update(entry, status=status, error=error, finished_at=now_iso(), **changes)
        try:
            self._save(entry, force=True)
        except Exception:  # noqa: BLE001 - the in-memory record stays right; log the cause
            log.exception("could not save the record of job %s", entry.record["id"])

    def cancel(self, job_id: str, timeout: float = CANCEL_WAIT) -> dict:
        """Cancel a queued or running job and wait until it has stopped (up to ``timeout``)."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                raise JobNotFound(job_id)
            if entry.record["status"] not in ACTIVE_STATUSES:
                return copy.deepcopy(entry.record)
            entry.record["cancel_requested"] = True
            entry.version += 1
            entry.cancel.set()
            thread = entry.thread
        if thread is not None:
            thread.join(timeout)
        return self.get(job_id) or {}

    def delete(self, job_id: str) -> None:
        """Delete a finished job's files and record."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                raise JobNotFound(job_id)
            if entry.record["status"] in ACTIVE_STATUSES:
                raise JobConflict(f"job {job_id} is {entry.record['status']}; cancel it first")
            readers = [e.record["id"] for e in self._entries.values()
                       if e.record["status"] in ACTIVE_STATUSES
                       and e.record["request"].get("resume_from") == job_id]
            if readers:
                raise JobConflict(f"job {job_id}'s scenarios are being reused by job "
                                  f"{readers[0]} (resume_from); wait for it or cancel it first")
            del self._entries[job_id]
            entry.version += 1
        with entry.save_lock:
            # The record goes last: a crash mid-way leaves a listed job that can be deleted again.
            remove_tree(self.store, f"jobs/{job_id}/output")
            self.store.remove(f"jobs/{job_id}/{RECORD}")
            remove_tree(self.store, f"jobs/{job_id}")

    def bundle_lock(self, job_id: str) -> threading.Lock:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                raise JobNotFound(job_id)
            return entry.bundle_lock

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop running jobs (they are recorded as failed by a restart) and wait for them."""
        with self._lock:
            self._shutting_down = True
            threads = []
            for entry in self._entries.values():
                if entry.record["status"] in ACTIVE_STATUSES:
                    entry.cancel.set()
                    if entry.thread is not None:
                        threads.append(entry.thread)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
