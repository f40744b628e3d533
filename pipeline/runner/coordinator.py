"""The client-side coordinator: submits search tasks, accepts by threshold, resubmits the rest.

Flow of :func:`run_pipeline`::

    config -> load input -> content hash -> fitted model (cached) -> scatter to workers once
      -> tasks: (scenarios, attempt windows) -> workers write accepted series + markers
      -> open scenarios resubmitted with their next windows until accepted or max_attempts
      -> ZIP bundles (on a worker) -> scores.parquet + manifest.json (client; small)

Only scores, metrics and file names travel back to the client. For each scenario the accepted
candidate is its lowest passing attempt, found by searching attempt windows in order, so the
outputs are byte-identical whatever the number of workers or the order tasks finish in.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client, Future, wait
from distributed import TimeoutError as DaskTimeoutError

import pipeline
from pipeline.core.factory import check_settings
from pipeline.core.metrics import METRIC_NAMES
from pipeline.core.regimes import run_lengths
from pipeline.errors import FidelityNotReachedError, SMEError
from pipeline.io.writers import OutputStore, frame_to_bytes
from pipeline.redaction import redact, redact_text
from pipeline.runner.cluster import connect, total_threads
from pipeline.runner.config import RunConfig, load_config
from pipeline.runner.inputs import content_hash, fitted_model, load_input
from pipeline.runner.tasks import STATE_DIR, all_files, scenario_files, search_task, zip_task

__all__ = ["Progress", "RunResult", "RunCancelled", "run_pipeline", "MANIFEST", "SCORES"]

MANIFEST = "manifest.json"
SCORES = "scores.parquet"
#: Acceptance rate assumed before the first task reports.
_PRIOR_ACCEPTANCE = 0.5
#: Longest attempt window one task searches for one scenario.
_MAX_WINDOW = 64
#: Tasks the scheduler may cancel under a run (lost workers) before the run gives up.
_MAX_LOST_TASKS = 100


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
    """The run was cancelled through its ``cancel`` event; finished scenarios are kept."""


@dataclass(frozen=True)
class Progress:
    """A progress report, sent to ``progress=`` callbacks after every finished task."""

    run_id: str
    stage: str  # "preparing", "generating", "bundling", "done"
    accepted: int
    requested: int
    attempts: int
    failed: int
    elapsed_seconds: float
    eta_seconds: float | None
    dashboard_link: str | None = None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted_now / self.attempts if self.attempts else None

    # Scenarios accepted in this process (resumed ones cost no attempts here).
    accepted_now: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "accepted": self.accepted,
            "requested": self.requested,
            "attempts": self.attempts,
            "failed": self.failed,
            "acceptance_rate": self.acceptance_rate,
            "elapsed_seconds": self.elapsed_seconds,
            "eta_seconds": self.eta_seconds,
        }


@dataclass
class RunResult:
    """What a run produced. Series stay in ``output_path``; this holds scores and names only."""

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

    @property
    def n_accepted(self) -> int:
        return len(self.scores)

    @property
    def manifest_path(self) -> str:
        return _join(self.output_path, MANIFEST)

    def summary(self) -> pd.DataFrame:
        s = self.scores["score"]
        rows = {
            "run id": self.run_id,
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


class Ledger:
    """Compact per-scenario results on the client: arrays, not a dict per scenario.

    Client memory must stay flat as ``n_samples`` grows; a dict of metrics per scenario costs
    about 2 KB, these arrays cost 8 bytes a number. File names are not stored: they follow from
    the scenario number, the run id, the formats, the symbols and the timeframes. Regime paths
    (``method: regime``) are kept run-length encoded, a few hundred bytes a scenario.
    """

    def __init__(self, n_samples: int, metric_names: Sequence[str] = METRIC_NAMES,
                 timeframes: Sequence[str] = ()) -> None:
        self.metric_names = list(metric_names)
        self.timeframes = list(timeframes)
        self.accepted = np.zeros(n_samples, dtype=bool)
        self.attempt = np.full(n_samples, -1, dtype=np.int64)
        self.score = np.full(n_samples, np.nan)
        self.metrics = np.full((n_samples, len(self.metric_names)), np.nan)
        self.tf_score = np.full((n_samples, len(self.timeframes)), np.nan)
        self.tf_metrics = np.full((n_samples, len(self.timeframes), len(self.metric_names)),
                                  np.nan)
        self.regimes: dict[int, np.ndarray] = {}

    def _row(self, metrics: Mapping[str, Any]) -> list[float]:
        return [np.nan if metrics.get(k) is None else metrics[k] for k in self.metric_names]

    def add(self, record: Mapping[str, Any]) -> None:
        s = int(record["scenario"])
        self.accepted[s] = True
        self.attempt[s] = int(record["attempt"])
        self.score[s] = float(record["score"])
        self.metrics[s] = self._row(record["metrics"])
        for j, rule in enumerate(self.timeframes):
            tf = record["timeframes"][rule]
            self.tf_score[s, j] = float(tf["score"])
            self.tf_metrics[s, j] = self._row(tf["metrics"])
        if record.get("regimes") is not None:
            self.regimes[s] = np.asarray(record["regimes"], dtype=np.int32).reshape(-1, 2)

    def __len__(self) -> int:
        return int(self.accepted.sum())

    def __contains__(self, scenario: int) -> bool:
        return bool(self.accepted[scenario])

    def scenarios(self) -> np.ndarray:
        """Accepted scenarios (0-based), in order."""
        return np.flatnonzero(self.accepted)

    def frame(self) -> pd.DataFrame:
        """One row per accepted scenario (numbered from 1): attempt, score, timeframe scores
        (``score_{rule}``) and metrics."""
        idx = self.scenarios()
        frame = pd.DataFrame(self.metrics[idx], columns=self.metric_names)
        for j, rule in reversed(list(enumerate(self.timeframes))):
            frame.insert(0, f"score_{rule}", self.tf_score[idx, j])
        frame.insert(0, "score", self.score[idx])
        frame.insert(0, "attempt", self.attempt[idx])
        frame.insert(0, "scenario", idx.astype(np.int64) + 1)
        return frame


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
        Called with a :class:`Progress` after each finished task and at each stage change.
    cancel : threading.Event, optional
        When set, outstanding tasks are cancelled and :class:`RunCancelled` is raised; finished
        scenarios stay on disk and a rerun resumes from them.
    overrides : tuple of str
        ``key.path=value`` overrides applied to ``config``.
    on_accept : callable, optional
        Called as ``on_accept(output_path, record)`` for every accepted scenario as soon as its
        files are written (scenarios of a resumed or finished run first); ``record`` is the
        task's record, scenario numbered from 0. :func:`pipeline.iter_scenarios` is built on it.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError, InputDataError
        Bad configuration or input, before any task runs.
    FidelityNotReachedError
        Scenarios exhausted ``max_attempts`` and ``generation.allow_partial`` is false.
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
    requested = gen.n_samples

    def report(stage: str, accepted: int, attempts: int, failed: int, eta: float | None,
               accepted_now: int = 0, link: str | None = None) -> None:
        if progress is not None:
            progress(Progress(run_id, stage, accepted, requested, attempts, failed,
                              time.perf_counter() - started, eta, link, accepted_now))

    report("preparing", 0, 0, 0, None)
    model = fitted_model(frame, cfg, input_hash)

    done = _completed_scenarios(store, requested)
    if store.exists(MANIFEST):
        manifest = store.read_json(MANIFEST)
        if manifest.get("fingerprint") == cfg.fingerprint(input_hash) and manifest.get(
            "status"
        ) == "complete":
            if on_accept is not None:
                for entry in manifest["scenarios"]:
                    on_accept(output_path, {**entry, "scenario": int(entry["scenario"]) - 1})
            return _result_from_manifest(manifest, cfg, output_path, started)

    def accepted(record: Mapping[str, Any]) -> None:
        if on_accept is not None:
            on_accept(output_path, record)

    for record in sorted(done.values(), key=lambda r: int(r["scenario"])):
        accepted(record)
    with connect(cfg.cluster, client) as cl:
        link = getattr(cl, "dashboard_link", None)
        ledger, failed, attempts = _coordinate(
            cl, model, store, cfg, run_id, done, report, cancel, link, accepted
        )
        if failed and not gen.allow_partial:
            best = max(failed.values())
            ids = sorted(failed)
            raise FidelityNotReachedError(
                f"{len(failed)} of {requested} scenario(s) found no candidate with fidelity >= "
                f"{gen.min_fidelity} within max_attempts={gen.max_attempts}: scenarios "
                f"{[i + 1 for i in ids[:20]]}{' ...' if len(ids) > 20 else ''}, best score "
                f"{best:.2f}. Lower generation.min_fidelity, raise generation.max_attempts, or "
                "set generation.allow_partial: true. Accepted scenarios are kept in "
                f"{output_path}; a rerun resumes from them.",
                best_score=best,
                attempts=len(failed) * gen.max_attempts,
                failed_scenarios=[i + 1 for i in ids],
            )
        accepted_now = len(ledger) - len(done)
        report("bundling", len(ledger), attempts, len(failed), 0.0, accepted_now, link)
        files = _bundle(cl, store, cfg, run_id, model, ledger)

    scores = ledger.frame()
    store.write_bytes(SCORES, frame_to_bytes(scores, "parquet"))
    files += [SCORES, MANIFEST]
    elapsed = time.perf_counter() - started
    store.write_chunks(MANIFEST, _manifest_chunks(cfg, input_hash, run_id, model, ledger, failed,
                                                  files, attempts, elapsed, frame))
    # Every task has finished: what temporaries remain belong to writers that were killed.
    store.remove_orphaned_temporaries()
    # The markers are the resume record of an unfinished run; the manifest now replaces them.
    for name in store.list(STATE_DIR):
        store.remove(name if name.startswith(STATE_DIR) else _join(STATE_DIR, name))
    store.remove_empty_dir(STATE_DIR)
    if cfg.report:
        from pipeline.report import REPORT, write_report

        write_report(output_path, storage_options=cfg.output.storage_options or None,
                     original=frame)
        files.append(REPORT)
    report("done", len(ledger), attempts, len(failed), 0.0, accepted_now)
    return RunResult(
        run_id=run_id,
        output_path=output_path,
        config=cfg,
        scores=scores,
        reference_metrics=model.scorer.reference_metrics,
        failed=failed,
        attempts=attempts,
        elapsed_seconds=elapsed,
        resumed=len(done),
        files=files,
    )


def _check_settings(frame, cfg: RunConfig) -> None:
    """Settings the data cannot support are refused before the output or the fit is touched."""
    first = next(iter(frame.values())) if isinstance(frame, dict) else frame
    gen = cfg.generation
    check_settings(first.index, method=gen.method, block_size=gen.block_size, length=gen.length,
                   regime=gen.regime.model_dump(), timeframes=gen.timeframes)


def _completed_scenarios(store: OutputStore, requested: int) -> dict[int, dict]:
    """Records of scenarios finished by an earlier, interrupted run of the same config."""
    out: dict[int, dict] = {}
    for name in store.list(STATE_DIR):
        rel = name if name.startswith(STATE_DIR) else _join(STATE_DIR, name)
        try:
            records = store.read_json(rel)["accepted"]
        except (ValueError, KeyError, TypeError, OSError):
            continue  # an unreadable marker means its scenarios are simply redone
        for record in records:
            try:
                s = int(record["scenario"])
                if 0 <= s < requested and all(store.exists(f) for f in all_files(record)):
                    out[s] = record
            except (ValueError, KeyError, TypeError, AttributeError, OSError):
                continue
    return out


def _coordinate(cl, model, store, cfg, run_id, done, report, cancel, link, accepted):
    gen = cfg.generation
    ledger = _ledger(model, gen.n_samples)
    for record in done.values():
        ledger.add(record)
    failed: dict[int, float] = {}
    queue: deque[int] = deque(s for s in range(gen.n_samples) if s not in done)
    next_attempt = dict.fromkeys(queue, 0)
    best = dict.fromkeys(queue, -math.inf)
    evaluated = accepted_now = lost_tasks = 0
    gen_started = time.perf_counter()
    report("generating", len(ledger), 0, 0, None, link=link)
    if not queue:
        return ledger, failed, 0

    # A task, not scattered data: if every worker holding the model is lost, the scheduler can
    # recompute it from the task itself; scattered data would be gone for good and its
    # dependent tasks cancelled. Workers fetch it once and share it between their tasks.
    model_future = cl.submit(_provide, model, key=f"sme-model-{run_id}-{uuid.uuid4().hex}")
    in_flight_target = 2 * total_threads(cl)
    formats = list(cfg.output.formats)
    futures: dict[Future, dict[int, tuple[int, int]]] = {}  # future -> windows it searches

    def acceptance() -> float:
        if evaluated < 32:
            return _PRIOR_ACCEPTANCE
        return max(accepted_now / evaluated, 1.0 / _MAX_WINDOW / 4)

    def submit() -> None:
        while queue and len(futures) < in_flight_target:
            p = acceptance()
            window = int(min(_MAX_WINDOW, max(1, math.ceil(1.5 / p))))
            n_scen = max(1, int(cfg.cluster.task_candidates * min(1.0, p)))
            windows = {}
            while queue and len(windows) < n_scen:
                s = queue.popleft()
                a = next_attempt[s]
                windows[s] = (a, min(a + window, gen.max_attempts))
            fut = cl.submit(search_task, model_future, store, run_id, gen.seed, windows,
                            gen.min_fidelity, formats, math.ceil(1.0 / p), pure=False,
                            retries=2)
            futures[fut] = windows

    try:
        submit()
        while futures:
            if cancel is not None and cancel.is_set():
                # Running tasks cannot be interrupted; let the few in flight finish so that
                # nothing writes into the output after this call returns.
                _wait_on(cl, list(futures), 120, "ALL_COMPLETED")
                raise RunCancelled(
                    f"run {run_id} cancelled: {len(ledger)} of {gen.n_samples} scenarios done "
                    "and kept; rerun the same configuration to resume"
                )
            try:
                finished = _wait_on(cl, list(futures), 0.25, "FIRST_COMPLETED").done
            except DaskTimeoutError:
                continue
            for fut in finished:
                windows = futures.pop(fut)
                try:
                    out = fut.result()
                except CancelledError:
                    # The scheduler gave the task up (its worker died while a dependency was
                    # being moved, say). Its windows are searched again: the same candidates,
                    # the same files, so nothing is duplicated.
                    lost_tasks += 1
                    if lost_tasks > _MAX_LOST_TASKS:
                        raise
                    queue.extendleft(windows)
                    continue
                evaluated += out["evaluated"]
                for rec in out["accepted"]:
                    ledger.add(rec)
                    accepted_now += 1
                    accepted(rec)
                for s, (score, _attempt) in out["open"].items():
                    s = int(s)
                    best[s] = max(best[s], score)
                    next_attempt[s] = windows[s][1]
                    if next_attempt[s] >= gen.max_attempts:
                        failed[s] = best[s]
                    else:
                        queue.appendleft(s)
                fut.release()
            rate = accepted_now / max(time.perf_counter() - gen_started, 1e-9)
            remaining = gen.n_samples - len(ledger) - len(failed)
            report("generating", len(ledger), evaluated, len(failed),
                   remaining / rate if rate > 0 else None, accepted_now, link)
            submit()
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    finally:
        model_future.release()
    return ledger, failed, evaluated


def _ledger(model, n_samples: int) -> Ledger:
    return Ledger(n_samples, model.metric_names, [tf.rule for tf, _ in model.timeframes])


def _files(cfg: RunConfig, run_id: str, model, scenario: int) -> dict:
    return scenario_files(scenario, run_id, list(cfg.output.formats), model.symbols,
                          [tf.rule for tf, _ in model.timeframes])


def _bundle(cl: Client, store: OutputStore, cfg: RunConfig, run_id: str, model,
            ledger: Ledger) -> list[str]:
    """ZIP bundles, built on a worker (series data never passes through the client)."""
    if not cfg.output.zip:
        return []
    jobs = []
    for fmt, zip_name in (("csv", f"synthetic_batch_{run_id}.zip"),
                          ("xlsx", f"synthetic_batch_{run_id}_xlsx.zip")):
        if fmt in cfg.output.formats:
            members = [name for s in ledger.scenarios()
                       for name in all_files(_files(cfg, run_id, model, int(s)))
                       if name.endswith(f".{fmt}")]
            jobs.append(cl.submit(zip_task, store, zip_name, members, pure=False, retries=2))
    return [f.result() for f in jobs]


def _manifest_chunks(cfg, input_hash, run_id, model, ledger, failed, files, attempts, elapsed,
                     frame) -> Iterator[bytes]:
    """The manifest as JSON, in chunks: the per-scenario part is produced scenario by scenario,
    so the client never holds the whole text (several MB at 10,000 scenarios)."""
    header = {
        "run_id": run_id,
        "status": "complete" if not failed else "partial",
        "fingerprint": cfg.fingerprint(input_hash),
        "package_version": pipeline.__version__,
        # Credentials never reach a manifest; the run id does not depend on them.
        "config": redact(cfg.model_dump(mode="json")),
        "seed": cfg.generation.seed,
        "input": _input_summary(frame, input_hash),
        "model": _model_summary(model),
        "reference_metrics": {k: _finite(v) for k, v in model.scorer.reference_metrics.items()},
        "summary": {
            "requested": cfg.generation.n_samples,
            "accepted": len(ledger),
            "failed": {str(s + 1): b for s, b in sorted(failed.items())},
            "attempts": attempts,
            "elapsed_seconds": round(elapsed, 3),
        },
        "files": files,
    }
    # The header with its closing brace cut off, so the scenarios can follow as one more key.
    yield (json.dumps(header, indent=2, sort_keys=True)[:-2] + ',\n  "scenarios": [').encode()
    names = ledger.metric_names
    for i, s in enumerate(ledger.scenarios()):
        s = int(s)
        entry = {
            "scenario": s + 1,
            "attempt": int(ledger.attempt[s]),
            "score": float(ledger.score[s]),
            "metrics": {k: _finite(v) for k, v in zip(names, ledger.metrics[s], strict=True)},
            **_files(cfg, run_id, model, s),
        }
        for j, rule in enumerate(ledger.timeframes):
            entry["timeframes"][rule]["score"] = float(ledger.tf_score[s, j])
            entry["timeframes"][rule]["metrics"] = {
                k: _finite(v) for k, v in zip(names, ledger.tf_metrics[s, j], strict=True)}
        if s in ledger.regimes:
            entry["regimes"] = ledger.regimes[s].tolist()
        yield (("\n    " if i == 0 else ",\n    ") + json.dumps(entry, sort_keys=True)).encode()
    yield b"\n  ]\n}\n"


def _input_summary(frame, input_hash: str) -> dict:
    frames = frame if isinstance(frame, dict) else {"": frame}
    first = next(iter(frames.values()))
    out = {
        "content_sha256": input_hash,
        "source": redact_text(str(first.attrs.get("source", ""))),
        "rows": len(first),
        "start": str(first.index[0]),
        "end": str(first.index[-1]),
        "columns": list(first.columns),
    }
    if isinstance(frame, dict):
        out["source"] = {sym: redact_text(str(f.attrs.get("source", "")))
                         for sym, f in frames.items()}
        out["assets"] = list(frames)
        out["alignment"] = first.attrs.get("alignment", {})
    return out


def _model_summary(model) -> dict:
    scorer = model.scorer
    out = {
        "method": model.method,
        "block_size": model.block_size,
        "length": model.length,
        "start_price": model.start_price,
        "reference": model.reference,
        "metric_names": model.metric_names,
        "scored_metrics": list(scorer.names),
        "weights": dict(zip(scorer.names, scorer.weights.tolist(), strict=True)),
        "spreads": dict(zip(scorer.names, scorer.spread.tolist(), strict=True)),
    }
    if model.symbols:
        out["assets"] = list(model.symbols)
        out["start_prices"] = {p.symbol: p.start_price for p in model.parts}
    garch = [p.garch for p in model.parts if p.garch is not None]
    if garch:
        out["garch"] = {p.symbol or "series": {"vol": p.garch.vol, "dist": p.garch.dist,
                                               "params": p.garch.params,
                                               "persistence": p.garch.persistence}
                        for p in model.parts}
    if model.regimes is not None:
        r = model.regimes
        out["regimes"] = {
            "labelling": r.labelling,
            "n_regimes": r.n_regimes,
            "volatility": r.volatility.tolist(),
            "input_shares": r.shares.tolist(),
            "fitted_transition": r.transition.tolist(),
            "transition": np.asarray(model.transition).tolist(),
            # The input's own labels, run-length encoded like the scenarios' paths.
            "input_path": run_lengths(r.labels),
        }
    if model.timeframes:
        out["timeframes"] = {
            tf.rule: {"bars": len(tf.index),
                      "scored_metrics": list(sc.names),
                      "reference_metrics": {k: _finite(v)
                                            for k, v in sc.reference_metrics.items()},
                      "spreads": dict(zip(sc.names, sc.spread.tolist(), strict=True))}
            for tf, sc in model.timeframes}
    return out


def _finite(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _result_from_manifest(manifest: dict, cfg: RunConfig, output_path: str,
                          started: float) -> RunResult:
    info = manifest.get("model", {})
    ledger = Ledger(cfg.generation.n_samples, info.get("metric_names", METRIC_NAMES),
                    list(info.get("timeframes", {})))
    for entry in manifest["scenarios"]:
        ledger.add({**entry, "scenario": int(entry["scenario"]) - 1})
    return RunResult(
        run_id=manifest["run_id"],
        output_path=output_path,
        config=cfg,
        scores=ledger.frame(),
        reference_metrics=pd.Series(
            {k: np.nan if v is None else v for k, v in manifest["reference_metrics"].items()}
        ),
        failed={int(k) - 1: v for k, v in manifest["summary"]["failed"].items()},
        attempts=0,
        elapsed_seconds=time.perf_counter() - started,
        resumed=len(ledger),
        files=list(manifest["files"]),
    )
