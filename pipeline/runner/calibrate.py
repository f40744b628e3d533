"""The walk-forward calibration on the cluster: one task per origin, resumable.

Flow of :func:`calibrate`::

    config -> load input -> origins (walk_origins) -> scatter the input once
      -> one task per origin: fit every method on the bars up to it, N scenarios of h bars,
         rows ranked against what followed -> the worker writes parts/<run id>-<origin>.parquet
      -> the client reads the parts -> calibration.parquet, calibration.json, report.html

An origin's rows depend only on the input, the settings, the seed and the origin
(:func:`pipeline.core.walkforward.origin_seed`), so the table is byte-identical on any number of
workers. A part already on disk is not computed again: an interrupted or cancelled calibration
resumes where it stopped, and a finished one is read back without any task.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client, Future
from distributed import TimeoutError as DaskTimeoutError
from threadpoolctl import threadpool_limits

from pipeline.config import ENGINE_OUTPUT_VERSION, CalibrationConfig, RunConfig, load_config
from pipeline.core.assets import Assets
from pipeline.core.calibration import CalibrationSummary, summarize
from pipeline.core.fit import check_settings
from pipeline.core.settings import GenerationSettings
from pipeline.core.walkforward import forecast_origin, walk_origins
from pipeline.errors import ConfigError
from pipeline.io.writers import OutputStore, frame_to_bytes
from pipeline.redaction import redact_text
from pipeline.runner.cluster import connect, total_threads
from pipeline.runner.coordinator import RunCancelled, _wait_on
from pipeline.runner.inputs import content_hash, load_input

__all__ = ["CalibrationProgress", "CalibrationResult", "calibrate", "calibration_id",
           "failed_fits", "TABLE", "SUMMARY",
           "REPORT_PAGE", "PARTS_DIR"]

#: The files of a calibration's output folder.
TABLE = "calibration.parquet"
SUMMARY = "calibration.json"
REPORT_PAGE = "report.html"
PARTS_DIR = "parts"
#: Version of what a calibration writes: bumped when the same config would give other rows.
CALIBRATION_VERSION = 1
#: Settings of the generation section a calibration does not use: the origin sets the start,
#: length and start price, and nothing is accepted or rejected.
_UNUSED = ("method", "length", "start_price", "start", "n_samples", "min_fidelity",
           "max_attempts", "allow_partial", "timeframes")


@dataclass(frozen=True)
class CalibrationProgress:
    """A progress report: ``stage`` is ``"fitting"`` (before the first origin finished; ``done``
    counts origins found on disk), ``"origins"``, ``"summary"`` or ``"done"``."""

    run_id: str
    stage: str
    done: int
    total: int
    resumed: int
    elapsed_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "stage": self.stage, "done": self.done,
                "total": self.total, "resumed": self.resumed,
                "elapsed_seconds": self.elapsed_seconds}


@dataclass(frozen=True)
class CalibrationResult:
    """What a calibration produced: its table and summary, and where its files are.

    ``origins`` counts the walk forward's origins, ``resumed`` those read from an earlier,
    interrupted session instead of computed.
    """

    run_id: str
    output_path: str
    config: RunConfig
    table: pd.DataFrame
    summary: CalibrationSummary
    origins: int
    resumed: int
    elapsed_seconds: float

    @property
    def report_path(self) -> str:
        return self.output_path.rstrip("/") + "/" + REPORT_PAGE

    def failed_fits(self) -> dict[str, int]:
        """Origins at which each method could not be fitted (no PIT there), by method."""
        return failed_fits(self.table)

    def coverage(self, level: float = 0.9) -> pd.DataFrame:
        """The share of origins whose realized value fell in the central ``level`` band, one row
        per method and one column per statistic."""
        frame = self.summary.coverage_frame()
        frame = frame[(frame["level"] - level).abs() < 1e-9]
        table = frame.pivot(index="method", columns="statistic", values="share")
        return table.loc[list(self.summary.methods),
                         [s for s in dict.fromkeys(frame["statistic"]) if s in table.columns]]


def calibrate(
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    client: Client | None = None,
    progress: Callable[[CalibrationProgress], None] | None = None,
    *,
    cancel: Any = None,
    overrides: tuple[str, ...] = (),
) -> CalibrationResult:
    """Walk forward over the configured input and judge each method's scenarios against what
    happened next.

    Parameters
    ----------
    config : RunConfig, mapping, YAML path or None
        A run configuration; its ``calibration`` section (defaults when absent) places the
        origins and names the methods, ``generation`` gives the seed, drift and the methods'
        options, ``scoring.n_replicates`` the fits' scorer (the automatic block size uses it),
        ``cluster`` and ``output`` where it runs and writes.
    client : distributed.Client, optional
        Use this client instead of connecting per ``config.cluster``.
    progress : callable, optional
        Called with a :class:`CalibrationProgress` as origins finish.
    cancel : threading.Event, optional
        When set, outstanding origins are cancelled and
        :class:`~pipeline.runner.coordinator.RunCancelled` is raised; finished origins stay on
        disk and a rerun resumes from them.
    overrides : tuple of str
        ``key.path=value`` overrides applied to ``config``.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ConfigError
        Bad configuration, a multi-asset input, settings that leave no origin or that a first
        fit window cannot support; before any task runs.
    InputDataError
        Unreadable or invalid input, or a fit that fails at an origin (the message names it).
    """
    cfg = load_config(config, overrides)
    cal = cfg.calibration or CalibrationConfig()
    started = time.perf_counter()
    assets = load_input(cfg)
    if assets.symbols:
        raise ConfigError("calibration: takes one series; calibrate each asset of a multi-asset "
                          "input on its own (input.path)")
    index = assets.first.index
    origins = walk_origins(len(index), cal.horizon, cal.step, cal.min_window)
    methods = _method_settings(cfg, cal)
    for settings in methods:
        _check_method(index, settings, cal)
    run_id = calibration_id(cfg, cal, content_hash(assets))
    output_path = cfg.output.path.replace("{run_id}", run_id)
    store = OutputStore(output_path, storage_options=cfg.output.storage_options or None)
    store.ensure_writable()
    report = _Reporter(progress, run_id, len(origins), started)
    finished = _finished(store, output_path, run_id, cfg, cal, len(origins), started)
    if finished is not None:
        if not store.exists(REPORT_PAGE):  # finished before the page existed, or it was deleted
            _write_report(store, finished.table, finished.summary, cfg, cal, run_id, assets)
        report("done", len(origins))
        return finished
    have = _parts_on_disk(store, run_id, origins)
    report.resumed = len(have)
    report("fitting", len(have))
    todo = [bar for bar in origins if bar not in have]
    if todo:
        if cancel is not None and cancel.is_set():
            raise _cancelled(run_id, len(have), len(origins))
        with connect(cfg.cluster, client) as cl:
            _run_origins(cl, store, assets, methods, todo, cal, cfg.generation.seed, run_id,
                         report, cancel)
    report("summary", len(origins))
    table = _read_parts(store, run_id, origins, [s.method for s in methods])
    summary = summarize(table, cal.horizon)
    _write_outputs(store, table, summary, cfg, cal, run_id, assets)
    _write_report(store, table, summary, cfg, cal, run_id, assets)
    # The parts are in the table now; a rerun finds the finished calibration by its summary.
    for bar in origins:
        store.remove(_part_name(run_id, bar))
    store.remove_empty_dir(PARTS_DIR)
    report("done", len(origins))
    return CalibrationResult(run_id, output_path, cfg, table, summary, len(origins),
                             len(have), time.perf_counter() - started)


def calibration_id(cfg: RunConfig, cal: CalibrationConfig, input_hash: str) -> str:
    """The 12 hex digits naming a calibration: a hash of everything that decides its rows."""
    payload = {"kind": "calibration", "version": CALIBRATION_VERSION,
               "engine": ENGINE_OUTPUT_VERSION, "input": input_hash,
               "calibration": cal.model_dump(mode="json"),
               "generation": _used_generation(cfg),
               "scoring": cfg.scoring.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def failed_fits(table: pd.DataFrame) -> dict[str, int]:
    """Origins at which each method's fit failed, for the methods that failed anywhere."""
    if "error" not in table.columns:
        return {}
    failed = table[table["error"].astype(str) != ""].drop_duplicates(["method", "origin"])
    return {str(m): int(n) for m, n in failed.groupby("method", sort=False).size().items()}


def _used_generation(cfg: RunConfig) -> dict[str, Any]:
    out = cfg.generation.model_dump(mode="json")
    for key in _UNUSED:
        out.pop(key, None)
    return out


def _method_settings(cfg: RunConfig, cal: CalibrationConfig) -> list[GenerationSettings]:
    base = cfg.settings()
    return [replace(base, method=m, length=None, start=None, start_price=None, timeframes=())
            for m in cal.methods]


def _check_method(index: pd.Index, settings: GenerationSettings, cal: CalibrationConfig) -> None:
    """Settings the first fit window cannot support are refused before any task runs."""
    try:
        check_settings(index[: cal.min_window], method=settings.method,
                       block_size=settings.block_size,
                       regime=asdict(settings.regime),
                       n_bars=cal.min_window)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in a first fit window of calibration.min_window = "
                          f"{cal.min_window} bars, method {settings.method})") from None


def _part_name(run_id: str, bar: int) -> str:
    return f"{PARTS_DIR}/{run_id}-{bar:07d}.parquet"


def _origin_task(store: OutputStore, assets: Assets, methods: list[GenerationSettings],
                 bar: int, horizon: int, n_scenarios: int, seed: int, window: int | None,
                 run_id: str) -> int:
    """One origin on a worker: its rows for every method, written as a part file."""
    # One BLAS thread, as Dask's worker processes have: a multithreaded BLAS sums in another
    # order, and the GARCH fits' last digits (so the table's bytes) would depend on whether the
    # cluster runs processes or threads.
    with threadpool_limits(1):
        rows = forecast_origin(assets, methods, bar, horizon, n_scenarios, seed, window)
    store.write_bytes(_part_name(run_id, bar), frame_to_bytes(rows, "parquet"))
    return bar


def _run_origins(cl: Client, store: OutputStore, assets: Assets,
                 methods: list[GenerationSettings], todo: list[int], cal: CalibrationConfig,
                 seed: int, run_id: str, report: _Reporter, cancel: Any) -> None:
    """Run the origins of ``todo``, at most two per worker thread in flight (so a cancel stops
    the walk forward within a few origins, and a shared cluster keeps room for other work)."""
    window = cal.min_window if cal.window == "rolling" else None
    [data] = cl.scatter([assets], broadcast=True)
    queue = list(reversed(todo))
    limit = 2 * total_threads(cl)
    session = uuid.uuid4().hex[:8]
    running: list[Future] = []
    done = report.resumed
    try:
        while queue or running:
            while queue and len(running) < limit:
                bar = queue.pop()
                running.append(cl.submit(
                    _origin_task, store, data, methods, bar, cal.horizon, cal.n_scenarios, seed,
                    window, run_id, key=f"calibrate-{run_id}-{bar}-{session}", pure=False))
            if cancel is not None and cancel.is_set():
                # Running tasks cannot be interrupted: let them finish, so that nothing writes
                # into the output after this call returns and the count is what a rerun finds.
                _wait_on(cl, running, 120, "ALL_COMPLETED")
                done += sum(f.status == "finished" for f in running)
                raise _cancelled(run_id, done, report.total)
            try:
                finished = _wait_on(cl, running, 0.25, "FIRST_COMPLETED").done
            except DaskTimeoutError:
                continue
            for future in finished:
                running.remove(future)
                future.result()  # re-raises a fit's error on the client, with its message
                done += 1
                report("origins", done)
    finally:
        for future in running:
            future.cancel()


def _cancelled(run_id: str, done: int, total: int) -> RunCancelled:
    return RunCancelled(f"calibration {run_id} cancelled: {done} of {total} origins done and "
                        "kept; rerun the same configuration to resume", accepted=done)


def _parts_on_disk(store: OutputStore, run_id: str, origins: list[int]) -> set[int]:
    wanted = {_part_name(run_id, bar): bar for bar in origins}
    return {wanted[name] for name in store.list(PARTS_DIR + "/") if name in wanted}


def _read_table(store: OutputStore, name: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.read_bytes(name)))


def _read_parts(store: OutputStore, run_id: str, origins: list[int],
                methods: list[str]) -> pd.DataFrame:
    frames = [_read_table(store, _part_name(run_id, bar)) for bar in origins]
    table = pd.concat(frames, ignore_index=True)
    # Origins ascending, methods in the configured order, statistics as each part has them.
    order = {m: i for i, m in enumerate(methods)}
    table = table.assign(_m=table["method"].map(order)).sort_values(
        ["origin", "_m"], kind="stable").drop(columns="_m")
    return table.reset_index(drop=True)


def _write_outputs(store: OutputStore, table: pd.DataFrame, summary: CalibrationSummary,
                   cfg: RunConfig, cal: CalibrationConfig, run_id: str, assets: Assets) -> None:
    index = assets.first.index
    times = table.drop_duplicates("origin")["time"]
    store.write_bytes(TABLE, frame_to_bytes(table, "parquet"))
    store.write_json(SUMMARY, {
        "kind": "calibration",
        "run_id": run_id,
        "version": CALIBRATION_VERSION,
        "engine": ENGINE_OUTPUT_VERSION,
        "input": {"bars": len(index), "first": str(index[0]), "last": str(index[-1])},
        "calibration": cal.model_dump(mode="json"),
        "generation": _used_generation(cfg),
        "scoring": {"n_replicates": cfg.scoring.n_replicates},
        "origins": {"count": int(table["origin"].nunique()), "first": str(times.iloc[0]),
                    "last": str(times.iloc[-1])},
        "summary": summary.as_dict(),
        "failed_fits": {m: {"origins": n, "first_error": _first_error(table, m)}
                        for m, n in failed_fits(table).items()},
    })


def _write_report(store: OutputStore, table: pd.DataFrame, summary: CalibrationSummary,
                  cfg: RunConfig, cal: CalibrationConfig, run_id: str, assets: Assets) -> None:
    from pipeline.report.calibration import render_calibration

    index = assets.first.index
    # The file's name only: never the server's path, and no token of a signed URL's query.
    source = (f"sample: {cfg.input.sample}" if cfg.input.sample
              else redact_text(Path(str(cfg.input.path)).name))
    gen = cfg.generation
    details = {
        "input": source,
        "bars": f"{len(index):,} ({index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d})"
        if isinstance(index, pd.DatetimeIndex) else f"{len(index):,}",
        "methods": ", ".join(cal.methods),
        "horizon": f"{cal.horizon} bars",
        "scenarios per origin": cal.n_scenarios,
        "origins": f"every {cal.step} bars after a first fit of {cal.min_window} "
                   f"({cal.window} window)",
        "drift": gen.drift,
        "block size": gen.block_size,
        "seed": gen.seed,
        "calibration id": run_id,
    }
    failed = failed_fits(table)
    if failed:
        details["failed fits"] = ", ".join(f"{m}: {n} origins" for m, n in failed.items())
    page = render_calibration(table, summary, details=details)
    store.write_bytes(REPORT_PAGE, page.encode("utf-8"))


def _first_error(table: pd.DataFrame, method: str) -> str:
    errors = table.loc[(table["method"] == method) & (table["error"] != ""), ["time", "error"]]
    time_, error = errors.iloc[0]
    return f"at {time_}: {error}"


def _finished(store: OutputStore, output_path: str, run_id: str, cfg: RunConfig,
              cal: CalibrationConfig, n_origins: int, started: float
              ) -> CalibrationResult | None:
    """The result of a calibration already finished in this folder, read back (no task)."""
    try:
        if store.read_json(SUMMARY).get("run_id") != run_id:
            return None
        table = _read_table(store, TABLE)
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    return CalibrationResult(run_id, output_path, cfg, table, summarize(table, cal.horizon),
                             n_origins, n_origins, time.perf_counter() - started)


class _Reporter:
    """Sends :class:`CalibrationProgress` reports of one calibration."""

    def __init__(self, progress: Callable[[CalibrationProgress], None] | None, run_id: str,
                 total: int, started: float) -> None:
        self.progress = progress
        self.run_id = run_id
        self.total = total
        self.started = started
        self.resumed = 0

    def __call__(self, stage: str, done: int) -> None:
        if self.progress is not None:
            self.progress(CalibrationProgress(self.run_id, stage, done, self.total, self.resumed,
                                              time.perf_counter() - self.started))
