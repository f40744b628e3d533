"""The client-side coordinator: submits search tasks, accepts by threshold, resubmits the rest.

Flow of :func:`run_pipeline`::

    config -> load input -> content hash -> fitted model (cached) -> scatter to workers once
      -> tasks: (scenarios, attempt windows) -> workers write accepted series + markers
      -> open scenarios resubmitted with their next windows until accepted or max_attempts
      -> ZIP bundles (on a worker) -> scores.parquet + manifest.json (client; small)

Only scores, metrics and file names travel back to the client. For each scenario the accepted
candidate is its lowest passing attempt, found by searching attempt windows in order, so the
outputs are byte-identical whatever the number of workers or the order tasks finish in.

Before any task, the run's preflight (:mod:`pipeline.core.preflight`) is reported to the
progress callback, kept on the :class:`RunResult` and written into the manifest (without its
measured time, so the manifest of a rerun is byte-identical). A run whose scenarios cannot all
reach ``min_fidelity`` still writes everything for the ones it accepted, with a manifest marked
``partial``; another run can reuse them (``output.resume_from``), at a lower threshold too, as
long as each one stays the lowest passing attempt there
(:func:`~pipeline.core.sampler.still_accepted`).

Counts add up across sessions: ``accepted`` and ``attempts`` cover every scenario of the run,
searched now or resumed (an accepted scenario spent ``attempt + 1`` attempts, a failed one
``max_attempts``), ``resumed`` counts the scenarios taken over from an interrupted session or
another run, and ``evaluated`` the candidates this session scored.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client, Future, wait
from distributed import TimeoutError as DaskTimeoutError

from pipeline.config import RunConfig, load_config
from pipeline.core.fit import check_settings
from pipeline.core.metrics import METRIC_NAMES
from pipeline.core.preflight import Preflight, preflight, rerun_threshold
from pipeline.core.sampler import still_accepted
from pipeline.errors import (
    ConfigError,
    FidelityNotReachedError,
    InputDataError,
    PreflightWarning,
    SMEError,
)
from pipeline.io.run import (
    MANIFEST,
    REPORT,
    SCORES,
    STATE_DIR,
    RunFolder,
    ScenarioRecord,
    listed_files,
    open_run,
    scenario_index,
    scenario_number,
)
from pipeline.io.writers import OutputStore, frame_to_bytes
from pipeline.redaction import redact_text
from pipeline.runner.cluster import connect, planned_threads, total_threads
from pipeline.runner.inputs import content_hash, fitted_model, load_input
from pipeline.runner.manifest import (
    Ledger,
    manifest_chunks,
    manifest_header,
    new_ledger,
    record_files,
)
from pipeline.runner.tasks import (
    BundleMembers,
    copy_task,
    scenario_files,
    search_task,
    zip_task,
)

__all__ = ["Progress", "RunResult", "RunCancelled", "run_pipeline", "run_preflight", "MANIFEST",
           "SCORES"]

#: Acceptance rate assumed before the first task reports.
_PRIOR_ACCEPTANCE = 0.5
#: Longest attempt window one task searches for one scenario.
_MAX_WINDOW = 64
#: Tasks the scheduler may cancel under a run (lost workers) before the run gives up.
_MAX_LOST_TASKS = 100
#: Scenarios one task copies from the run given as ``output.resume_from``.
_COPY_CHUNK = 64


def _wait_on(client: Client, futures: list[Future], timeout: float, return_when: str):
    """``distributed.wait`` on ``client``'s own event loop.

    ``distributed.wait`` runs on the *default* client's loop; when the caller has another
    client (a notebook's, a test's), the futures' events get bound to the wrong loop and a later
    ``result()`` fails with "bound to a different event loop".
    """
    with client.as_current():
        return wait(futures, timeout=timeout, return_when=return_when)


def _provide(value: Any) -> Any:
    """Identity, run as a task so that a value held by workers can be recomputed if lost."""
    return value


class RunCancelled(SMEError):
    """The run was cancelled through its ``cancel`` event; finished scenarios are kept.

    ``accepted``, ``attempts`` and ``resumed`` are the run's counts when it stopped (the
    accepted scenarios are on disk; a rerun of the same configuration resumes from them).
    """

    def __init__(self, message: str, *, accepted: int = 0, attempts: int = 0,
                 resumed: int = 0) -> None:
        super().__init__(message)
        self.accepted = int(accepted)
        self.attempts = int(attempts)
        self.resumed = int(resumed)


@dataclass(frozen=True)
class Progress:
    """A progress report, sent to ``progress=`` callbacks after every finished task.

    ``accepted``, ``attempts`` and ``resumed`` count the whole run across sessions (see the
    module notes); ``evaluated`` counts the candidates scored in this session. The
    ``preflight`` stage carries the run's :class:`~pipeline.core.preflight.Preflight`.
    """

    run_id: str
    stage: str  # "preparing", "preflight", "generating", "bundling", "done"
    accepted: int
    requested: int
    attempts: int
    failed: int
    elapsed_seconds: float
    eta_seconds: float | None
    dashboard_link: str | None = None
    # Scenarios accepted in this session (resumed ones cost no attempts here).
    accepted_now: int = 0
    resumed: int = 0
    evaluated: int = 0
    preflight: Preflight | None = None

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted scenarios per attempt spent (an estimate of a candidate's chance to pass)."""
        return self.accepted / self.attempts if self.attempts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "accepted": self.accepted,
            "requested": self.requested,
            "attempts": self.attempts,
            "failed": self.failed,
            "resumed": self.resumed,
            "acceptance_rate": self.acceptance_rate,
            "elapsed_seconds": self.elapsed_seconds,
            "eta_seconds": self.eta_seconds,
        }


@dataclass
class RunResult:
    """What a run produced. Series stay in ``output_path``; this holds scores and names only.

    ``attempts`` and ``resumed`` count the whole run across sessions (see the module notes),
    ``evaluated`` the candidates scored by this call; ``preflight`` is the estimate made
    before any work. A partial run (``generation.allow_partial``) keeps in ``partial_error``
    the :class:`~pipeline.errors.FidelityNotReachedError` it would otherwise have raised (its
    reason and the threshold at which a rerun completes).
    """

    run_id: str
    output_path: str
    config: RunConfig
    scores: pd.DataFrame  # one row per accepted scenario: score, attempt, metrics, files
    reference_metrics: pd.Series
    failed: dict[int, float]  # scenario -> best score reached
    attempts: int
    elapsed_seconds: float
    resumed: int
    files: list[str] = field(default_factory=list)
    preflight: Preflight | None = None
    evaluated: int = 0
    partial_error: FidelityNotReachedError | None = None

    @property
    def n_accepted(self) -> int:
        return len(self.scores)

    @property
    def status(self) -> str:
        """``complete``, or ``partial`` when scenarios found no candidate."""
        return "partial" if self.failed else "complete"

    @property
    def manifest_path(self) -> str:
        return _join(self.output_path, MANIFEST)

    def summary(self) -> pd.DataFrame:
        s = self.scores["score"]
        rows = {
            "run id": self.run_id,
            "status": self.status,
            "accepted": f"{self.n_accepted} / {self.n_accepted + len(self.failed)}",
            "fidelity min / median / max": (
                f"{s.min():.2f} / {s.median():.2f} / {s.max():.2f}" if len(s) else "-"
            ),
            "attempts": self.attempts,
            "resumed scenarios": self.resumed,
            "time": f"{self.elapsed_seconds:.1f} s",
            "outputs": redact_text(self.output_path),
        }
        return pd.DataFrame({"value": rows})


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def run_pipeline(
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    client: Client | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    cancel: threading.Event | None = None,
    overrides: tuple[str, ...] = (),
    on_accept: Callable[[str, Mapping[str, Any]], None] | None = None,
) -> RunResult:
    """Run the batch pipeline.

    Parameters
    ----------
    config : RunConfig, mapping, YAML path or None
        The run configuration (None: the defaults, i.e. ``configs/default.yaml``).
    client : distributed.Client, optional
        Use this client (a notebook's, the API's) instead of connecting per ``config.cluster``.
    progress : callable, optional
        Called with a :class:`Progress` after each finished task and at each stage change; the
        ``preflight`` stage, before any task, carries the run's preflight.
    cancel : threading.Event, optional
        When set, outstanding tasks are cancelled and :class:`RunCancelled` is raised; finished
        scenarios stay on disk and a rerun resumes from them.
    overrides : tuple of str
        ``key.path=value`` overrides applied to ``config``.
    on_accept : callable, optional
        Called as ``on_accept(output_path, record)`` for every accepted scenario as soon as its
        files are written (scenarios of a resumed or finished run first); ``record`` is the
        task's record, scenario numbered from 0 (a resumed or finished scenario's as the
        manifest keeps it: reported metrics, no test statistics). :func:`pipeline.iter_scenarios`
        is built on it.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError, InputDataError
        Bad configuration or input, before any task runs.
    FidelityNotReachedError
        Scenarios exhausted ``max_attempts`` and ``generation.allow_partial`` is false. The
        accepted scenarios were written first, with ``scores.parquet`` and a manifest marked
        ``partial``; the error's ``output_path`` says where.

    Warns
    -----
    PreflightWarning
        When no ``progress`` callback is given (a callback gets the preflight instead) and the
        preflight expects the run to be slow or to fail; the threshold is kept as given.
    """
    cfg = load_config(config, overrides)
    started = time.perf_counter()
    frame = load_input(cfg)
    _check_settings(frame, cfg)
    input_hash = content_hash(frame)
    run_id = cfg.fingerprint(input_hash)[:12]
    output_path = cfg.output.path.replace("{run_id}", run_id)
    store = OutputStore(output_path, storage_options=cfg.output.storage_options or None)
    # Before the fit and before any listing: an unreachable or refused output fails in one line.
    store.ensure_writable()
    gen = cfg.generation
    report = _Reporter(progress, run_id, gen.n_samples, started)

    model = fitted_model(frame, cfg, input_hash)
    # The ledger's layout (metrics, timeframes) is the model's, so the markers are read after
    # the fit (a cached model loads in milliseconds).
    done = _completed_scenarios(store, new_ledger(model, gen.n_samples))
    report.resumed = len(done)
    report("preparing", len(done), done.attempts_spent())
    finished = _finished_manifest(store, cfg, input_hash)
    if finished is not None:
        return _finished_result(finished, model, cfg, output_path, started, on_accept)
    reuse = _reusable(cfg, input_hash, done) if cfg.output.resume_from else None
    if cancel is not None and cancel.is_set():
        raise _cancelled(run_id, gen.n_samples, len(done), done.attempts_spent(), len(done))

    def accepted(record: Mapping[str, Any]) -> None:
        if on_accept is not None:
            on_accept(output_path, record)

    if on_accept is not None:
        for s in done.scenarios():
            accepted(done.record(s, record_files(cfg, run_id, model, int(s))))
    with connect(cfg.cluster, client) as cl:
        report.link = getattr(cl, "dashboard_link", None)
        check = _preflight(model, cfg, total_threads(cl))
        report("preflight", len(done), done.attempts_spent(), preflight=check)
        if progress is None and not check.ok:
            warnings.warn(check.message, PreflightWarning, stacklevel=2)
        if reuse is not None:
            _copy_reused(cl, store, cfg, run_id, model, *reuse, ledger=done, accepted=accepted)
            report.resumed = len(done)
        search = _Search(cl, model, store, cfg, run_id, done, report, accepted).run(cancel)
        report("bundling", len(search.ledger), search.attempts, failed=len(search.failed),
               eta=0.0, accepted_now=search.accepted_now, evaluated=search.evaluated)
        files = _bundle(cl, store, cfg, run_id, model, search.ledger)
    return _write_results(store, output_path, cfg, input_hash, run_id, model, search, files,
                          frame, check, report)


def run_preflight(
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    client: Client | None = None,
    *,
    overrides: tuple[str, ...] = (),
) -> Preflight:
    """The preflight of a run, without running it: load the input, fit (or load) the model.

    The time estimate spreads the candidates over ``client``'s worker threads, or over the
    threads ``config.cluster`` would start (one core for a remote scheduler not given as a
    client).
    """
    cfg = load_config(config, overrides)
    frame = load_input(cfg)
    model = fitted_model(frame, cfg, content_hash(frame))
    threads = total_threads(client) if client is not None else planned_threads(cfg.cluster)
    return _preflight(model, cfg, threads or 1)


class _Reporter:
    """Sends :class:`Progress` reports of one run; holds what stays fixed between them."""

    def __init__(self, progress: Callable[[Progress], None] | None, run_id: str,
                 requested: int, started: float) -> None:
        self.progress = progress
        self.run_id = run_id
        self.requested = requested
        self.started = started
        self.resumed = 0
        self.link: str | None = None

    def __call__(self, stage: str, accepted: int, attempts: int, *, failed: int = 0,
                 eta: float | None = None, accepted_now: int = 0, evaluated: int = 0,
                 preflight: Preflight | None = None) -> None:
        if self.progress is None:
            return
        self.progress(Progress(
            self.run_id, stage, accepted, self.requested, attempts, failed,
            time.perf_counter() - self.started, eta, self.link, accepted_now, self.resumed,
            evaluated, preflight))


def _cancelled(run_id: str, requested: int, accepted: int, attempts: int,
               resumed: int) -> RunCancelled:
    return RunCancelled(
        f"run {run_id} cancelled: {accepted} of {requested} scenarios done and kept; rerun the "
        "same configuration to resume", accepted=accepted, attempts=attempts, resumed=resumed)


def _preflight(model, cfg: RunConfig, threads: int) -> Preflight:
    gen = cfg.generation
    choice = model.block_choice
    return preflight(model, gen.min_fidelity, gen.n_samples, gen.max_attempts,
                     seconds_per_candidate=choice.seconds_per_candidate if choice else None,
                     threads=threads)


def _check_settings(frame, cfg: RunConfig) -> None:
    """Settings the data cannot support are refused before the output or the fit is touched."""
    first = frame.first
    gen = cfg.generation
    check_settings(first.index, method=gen.method, block_size=gen.block_size, length=gen.length,
                   regime=gen.regime.model_dump(), timeframes=gen.timeframes)


def _completed_scenarios(store: OutputStore, ledger: Ledger) -> Ledger:
    """``ledger`` with the scenarios finished by an earlier, interrupted run of the same config
    (or copied from ``output.resume_from`` by it), read one marker at a time."""
    requested = len(ledger.accepted)
    # The trailing slash keeps the listing to the markers' folder, not the whole output.
    for name in store.list(STATE_DIR + "/"):
        try:
            records = store.read_json(name)["accepted"]
        except (ValueError, KeyError, TypeError, OSError):
            continue  # an unreadable marker means its scenarios are simply redone
        for record in records:
            try:
                s = int(record["scenario"])
                if 0 <= s < requested and all(store.exists(f) for f in listed_files(record)):
                    ledger.add(record)
            except (ValueError, KeyError, TypeError, AttributeError, OSError):
                continue
    return ledger


def _finished_manifest(store: OutputStore, cfg: RunConfig, input_hash: str) -> RunFolder | None:
    """The finished run of this very configuration in ``store`` (complete or partial)."""
    try:
        run = open_run(store, check_files=False)
    except (InputDataError, OSError):
        return None  # none, or a damaged manifest: the run is redone (markers resume it)
    if run.manifest.fingerprint != cfg.fingerprint(input_hash):
        return None
    return run if run.manifest.status in ("complete", "partial") else None


def _finished_result(run: RunFolder, model, cfg: RunConfig, output_path: str, started: float,
                     on_accept) -> RunResult:
    """A finished run's result from its manifest (a partial one raises, as the run did)."""
    if on_accept is not None:
        for record in run.scenarios:
            on_accept(output_path, record.to_task())
    result = _result_from_manifest(run, cfg, output_path, started)
    result.preflight = _preflight(model, cfg, 1)
    if result.failed:
        result.partial_error = _not_reached(cfg, result.failed, result.n_accepted, output_path)
        if not cfg.generation.allow_partial:
            raise result.partial_error
    return result


def _reusable(cfg: RunConfig, input_hash: str,
              done: Ledger) -> tuple[OutputStore, str, list[ScenarioRecord]]:
    """The scenarios of the run at ``output.resume_from`` this run would accept as they are.

    Returns the run's store, its run id and its manifest records to copy. Messages name the
    setting, not the location (it may be a server's directory).
    """
    out = cfg.output
    try:
        source = open_run(out.resume_from, out.storage_options or None, check_files=False)
    except (InputDataError, OSError):
        raise ConfigError("output.resume_from: there is no finished run there (no readable "
                          "manifest.json); give the output directory of a complete or partial "
                          "run") from None
    manifest = source.manifest
    if manifest.search_fingerprint != cfg.search_fingerprint(input_hash):
        raise ConfigError(
            "output.resume_from: that run was made from another input or with other "
            "generation or scoring settings (method, block size, length, seed, weights, ...) or "
            "by another engine version; only min_fidelity, max_attempts and n_samples may "
            "differ")
    formats = set((manifest.config or {}).get("output", {}).get("formats") or ())
    missing = sorted(set(out.formats) - formats)
    if missing:
        raise ConfigError(f"output.resume_from: that run wrote no {', '.join(missing)} files; "
                          f"ask for its formats ({', '.join(sorted(formats))}) or leave "
                          "output.resume_from out")
    gen = cfg.generation
    records = [r for r in source.scenarios
               if r.index < gen.n_samples and r.index not in done
               and still_accepted(r.attempt, r.score, r.best_before, gen.min_fidelity,
                                  gen.max_attempts)]
    return source.store, manifest.run_id, records


def _copy_reused(cl: Client, store: OutputStore, cfg: RunConfig, run_id: str, model,
                 source: OutputStore, source_run_id: str, entries: list[ScenarioRecord], *,
                 ledger: Ledger, accepted: Callable[[Mapping[str, Any]], None]) -> None:
    """Copy the reusable scenarios of another run (on workers) into ``ledger``, renamed; each
    record goes to ``accepted`` as its copy task finishes.

    At most ``2 x threads`` copy tasks are in flight, as in the search: a task carries the
    records of its scenarios, so submitting them all at once would hold every record.
    """
    formats = list(cfg.output.formats)
    limit = 2 * total_threads(cl)
    jobs: set[Future] = set()

    def collect(return_when: str) -> None:
        for job in _wait_on(cl, list(jobs), None, return_when).done:
            jobs.discard(job)
            for record in job.result():
                ledger.add(record)
                accepted(record)
            job.release()

    for lo in range(0, len(entries), _COPY_CHUNK):
        if len(jobs) >= limit:
            collect("FIRST_COMPLETED")
        records, names = [], []
        for entry in entries[lo:lo + _COPY_CHUNK]:
            s = entry.index
            record = {"attempt": entry.attempt, "score": entry.score, "metrics": entry.metrics,
                      "scenario": s, "best_before": entry.best_before,
                      **record_files(cfg, run_id, model, s)}
            for rule, tf in (entry.timeframes or {}).items():
                record["timeframes"][rule].update(score=tf.score, metrics=tf.metrics)
            if entry.regimes is not None:
                record["regimes"] = entry.regimes
            old = scenario_files(s, source_run_id, formats, model.symbols,
                                 [tf.rule for tf, _ in model.timeframes])
            names += list(zip(listed_files(old), listed_files(record), strict=True))
            records.append(record)
        jobs.add(cl.submit(copy_task, source, store, records, names, pure=False, retries=2))
    if jobs:
        collect("ALL_COMPLETED")


class _Search:
    """The search of one run: windows of attempts out to tasks, results back, until every
    scenario is accepted or has spent ``max_attempts``.

    The task graph stays bounded: at most ``in_flight_target`` (2 x the cluster's threads)
    search tasks are in flight, each with the attempt windows of at most
    ``cluster.task_candidates`` scenarios; a new one is submitted as one finishes (a finished
    task stays on the scheduler until its release, sent after the results are taken, reaches
    it: the scheduler may hold one more round of finished tasks for a moment). The client's
    state does not grow with ``n_samples`` as Python objects: per-scenario state is in arrays
    (the ledger, ``next_attempt``, ``best``), scenarios not yet searched are taken from a
    cursor over ``0 .. n_samples - 1``, and only scenarios searched without a pass wait in
    ``reopened`` (at most those of the tasks in flight); they go out before fresh ones.
    """

    def __init__(self, cl: Client, model, store: OutputStore, cfg: RunConfig, run_id: str,
                 done: Ledger, report: _Reporter, accepted) -> None:
        self.cl, self.model, self.store, self.cfg, self.run_id = cl, model, store, cfg, run_id
        self.report, self.on_accepted = report, accepted
        gen = cfg.generation
        self.ledger = done
        self.failed: dict[int, float] = {}
        self.cursor = 0  # scenarios below it were searched or resumed
        self.reopened: deque[int] = deque()
        self.next_attempt = np.zeros(gen.n_samples, dtype=np.int64)
        self.best = np.full(gen.n_samples, -np.inf)
        self.attempts = self.ledger.attempts_spent()
        self.evaluated = self.accepted_now = self.lost_tasks = 0
        self.futures: dict[Future, dict[int, tuple[int, int]]] = {}  # future -> its windows
        self.model_future: Future | None = None
        self.in_flight_target = 2 * total_threads(cl)

    def acceptance(self) -> float:
        if self.evaluated < 32:
            return _PRIOR_ACCEPTANCE
        return max(self.accepted_now / self.evaluated, 1.0 / _MAX_WINDOW / 4)

    def pending(self) -> bool:
        """Whether scenarios wait to be searched (moves the cursor past resumed ones)."""
        accepted, n = self.ledger.accepted, len(self.ledger.accepted)
        while self.cursor < n and accepted[self.cursor]:
            self.cursor += 1
        return bool(self.reopened) or self.cursor < n

    def next_scenario(self) -> int:
        """The next scenario to search: a reopened one first, else the cursor's."""
        if self.reopened:
            return self.reopened.popleft()
        self.cursor += 1
        return self.cursor - 1

    def submit(self) -> None:
        gen = self.cfg.generation
        while len(self.futures) < self.in_flight_target and self.pending():
            p = self.acceptance()
            window = int(min(_MAX_WINDOW, max(1, math.ceil(1.5 / p))))
            n_scen = max(1, int(self.cfg.cluster.task_candidates * min(1.0, p)))
            windows, prior = {}, {}
            while len(windows) < n_scen and self.pending():
                s = self.next_scenario()
                a = int(self.next_attempt[s])
                windows[s] = (a, min(a + window, gen.max_attempts))
                if self.best[s] > -math.inf:
                    prior[s] = float(self.best[s])
            fut = self.cl.submit(search_task, self.model_future, self.store, self.run_id,
                                 gen.seed, windows, gen.min_fidelity, list(self.cfg.output.formats),
                                 math.ceil(1.0 / p), prior, pure=False, retries=2)
            self.futures[fut] = windows

    def collect(self, fut: Future) -> None:
        windows = self.futures.pop(fut)
        try:
            out = fut.result()
        except CancelledError:
            # The scheduler gave the task up (its worker died while a dependency was being
            # moved, say). Its windows are searched again: the same candidates, the same
            # files, so nothing is duplicated.
            self.lost_tasks += 1
            if self.lost_tasks > _MAX_LOST_TASKS:
                raise
            self.reopened.extendleft(windows)
            return
        self.evaluated += out["evaluated"]
        for rec in out["accepted"]:
            s = int(rec["scenario"])
            self.ledger.add(rec)
            self.attempts += int(rec["attempt"]) + 1 - windows[s][0]
            self.accepted_now += 1
            self.on_accepted(rec)
        for s, (score, _attempt) in out["open"].items():
            s = int(s)
            self.best[s] = max(self.best[s], score)
            self.attempts += windows[s][1] - windows[s][0]
            self.next_attempt[s] = windows[s][1]
            if self.next_attempt[s] >= self.cfg.generation.max_attempts:
                self.failed[s] = float(self.best[s])
            else:
                self.reopened.appendleft(s)
        fut.release()

    def run(self, cancel: threading.Event | None) -> _Search:
        n_samples = self.cfg.generation.n_samples
        self.report("generating", len(self.ledger), self.attempts)
        if not self.pending():
            return self
        started = time.perf_counter()
        # A task, not scattered data: if every worker holding the model is lost, the scheduler
        # can recompute it from the task itself; scattered data would be gone for good and its
        # dependent tasks cancelled. Workers fetch it once and share it between their tasks.
        self.model_future = self.cl.submit(
            _provide, self.model, key=f"sme-model-{self.run_id}-{uuid.uuid4().hex}")
        try:
            self.submit()
            while self.futures:
                if cancel is not None and cancel.is_set():
                    # Running tasks cannot be interrupted; let the few in flight finish so that
                    # nothing writes into the output after this call returns, and count what
                    # they wrote: the counts are what a rerun finds on disk.
                    _wait_on(self.cl, list(self.futures), 120, "ALL_COMPLETED")
                    for fut in [f for f in self.futures if f.status == "finished"]:
                        self.collect(fut)
                    raise _cancelled(self.run_id, n_samples, len(self.ledger), self.attempts,
                                     self.report.resumed)
                try:
                    finished = _wait_on(self.cl, list(self.futures), 0.25, "FIRST_COMPLETED").done
                except DaskTimeoutError:
                    continue
                for fut in finished:
                    self.collect(fut)
                rate = self.accepted_now / max(time.perf_counter() - started, 1e-9)
                remaining = n_samples - len(self.ledger) - len(self.failed)
                self.report("generating", len(self.ledger), self.attempts,
                            failed=len(self.failed), eta=remaining / rate if rate > 0 else None,
                            accepted_now=self.accepted_now, evaluated=self.evaluated)
                self.submit()
        except BaseException:
            for fut in self.futures:
                fut.cancel()
            raise
        finally:
            self.model_future.release()
        return self


def _bundle(cl: Client, store: OutputStore, cfg: RunConfig, run_id: str, model,
            ledger: Ledger) -> list[str]:
    """ZIP bundles, built on a worker (series data never passes through the client)."""
    if not cfg.output.zip:
        return []
    jobs = []
    for fmt, zip_name in (("csv", f"synthetic_batch_{run_id}.zip"),
                          ("xlsx", f"synthetic_batch_{run_id}_xlsx.zip")):
        if fmt in cfg.output.formats:
            members = BundleMembers(ledger.scenarios(), run_id, tuple(cfg.output.formats),
                                    tuple(model.symbols),
                                    tuple(tf.rule for tf, _ in model.timeframes), f".{fmt}")
            jobs.append(cl.submit(zip_task, store, zip_name, members, pure=False, retries=2))
    return [f.result() for f in jobs]


def _not_reached(cfg: RunConfig, failed: Mapping[int, float], n_accepted: int,
                 output_path: str) -> FidelityNotReachedError:
    """The error of a run whose ``failed`` scenarios found no candidate (0-based keys).

    The message names no location (it may be shown by a server); ``output_path`` carries it.
    """
    gen = cfg.generation
    ids = sorted(failed)
    numbers = [scenario_number(i) for i in ids]
    best = max(failed.values())
    suggestion = rerun_threshold(failed.values(), gen.min_fidelity)
    rerun = (f"Every scenario passes at generation.min_fidelity={suggestion:g}: rerun at it with "
             "output.resume_from set to this run's output to reuse the accepted scenarios, "
             "raise generation.max_attempts, or set generation.allow_partial: true."
             if suggestion is not None else
             "Lower generation.min_fidelity, raise generation.max_attempts, or set "
             "generation.allow_partial: true.")
    return FidelityNotReachedError(
        f"{len(failed)} of {gen.n_samples} scenario(s) found no candidate with fidelity >= "
        f"{gen.min_fidelity:g} within max_attempts={gen.max_attempts}: scenarios "
        f"{numbers[:20]}{' ...' if len(ids) > 20 else ''}, best score "
        f"{best:.2f}. The {n_accepted} accepted scenario(s) were written, with a manifest "
        f"marked partial. {rerun}",
        best_score=best,
        attempts=len(failed) * gen.max_attempts,
        failed_scenarios=numbers,
        output_path=output_path,
        accepted=n_accepted,
        suggested_min_fidelity=suggestion,
    )


def _write_results(store: OutputStore, output_path: str, cfg: RunConfig, input_hash: str,
                   run_id: str, model, search: _Search, files: list[str], frame,
                   check: Preflight, report: _Reporter) -> RunResult:
    """scores.parquet, the manifest (partial when scenarios failed), the report; then the
    result, or the error of a partial run that did not allow it."""
    ledger, failed = search.ledger, search.failed
    scores = ledger.frame()
    store.write_bytes(SCORES, frame_to_bytes(scores, "parquet"))
    files += [SCORES, MANIFEST]
    error = _not_reached(cfg, failed, len(ledger), output_path) if failed else None
    header = manifest_header(cfg, input_hash, run_id, model, ledger, failed,
                             (search.attempts, search.report.resumed), files, frame, check, error)
    store.write_chunks(MANIFEST, manifest_chunks(header, cfg, run_id, model, ledger))
    # Every task has finished: what temporaries remain belong to writers that were killed.
    store.remove_orphaned_temporaries()
    # The markers are the resume record of an unfinished run; the manifest now replaces them.
    for name in store.list(STATE_DIR + "/"):
        store.remove(name)
    store.remove_empty_dir(STATE_DIR)
    if cfg.report and len(ledger):
        from pipeline.report import write_report

        write_report(output_path, storage_options=cfg.output.storage_options or None,
                     original=frame.unwrap(), model=model)
        files.append(REPORT)
    report("done", len(ledger), search.attempts, failed=len(failed), eta=0.0,
           accepted_now=search.accepted_now, evaluated=search.evaluated)
    result = RunResult(
        run_id=run_id,
        output_path=output_path,
        config=cfg,
        scores=scores,
        reference_metrics=model.scorer.reference_metrics,
        failed=failed,
        attempts=search.attempts,
        elapsed_seconds=time.perf_counter() - report.started,
        resumed=report.resumed,
        files=files,
        preflight=check,
        evaluated=search.evaluated,
        partial_error=error,
    )
    if error is not None and not cfg.generation.allow_partial:
        raise error
    return result


def _result_from_manifest(run: RunFolder, cfg: RunConfig, output_path: str,
                          started: float) -> RunResult:
    manifest = run.manifest
    ledger = Ledger(cfg.generation.n_samples, manifest.model.metric_names or METRIC_NAMES,
                    manifest.timeframe_rules)
    for record in run.scenarios:
        ledger.add(record.to_task())
    summary = manifest.summary
    failed = summary.failed if summary is not None else {}
    return RunResult(
        run_id=manifest.run_id,
        output_path=output_path,
        config=cfg,
        scores=ledger.frame(),
        reference_metrics=pd.Series(
            {k: np.nan if v is None else v for k, v in manifest.reference_metrics.items()}
        ),
        failed={scenario_index(k): v for k, v in failed.items()},
        # Manifests before attempts added up across sessions: the accepted ones' at least.
        attempts=int((summary and summary.attempts) or ledger.attempts_spent()),
        elapsed_seconds=time.perf_counter() - started,
        resumed=len(ledger),
        files=list(manifest.files),
    )
