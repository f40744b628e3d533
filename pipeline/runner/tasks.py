"""Functions that run on Dask workers. They write series themselves and return only small records.

Each function is pure given its arguments: a retried or duplicated task writes the same bytes to
the same names, so a worker lost mid-task costs time, never correctness.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.assets import Assets
from pipeline.core.sampler import Accepted, GenerationModel, search_attempts
from pipeline.core.timeframes import timeframe_label
from pipeline.io.run import (  # STATE_DIR: resume record of a run
    STATE_DIR,
    listed_files,
    scenario_number,
)
from pipeline.io.writers import EXTENSIONS, OutputStore

__all__ = [
    "STATE_DIR", "BundleMembers", "copy_task", "long_name", "marker_name", "scenario_files",
    "search_task", "series_name", "tune_allocator", "write_accepted", "zip_task", "long_frame",
]



def series_name(scenario: int, run_id: str, fmt: str, symbol: str | None = None,
                timeframe: str = "") -> str:
    """File name of scenario ``scenario`` (0-based) in format ``fmt``; files count from 1.

    ``symbol`` names an asset of a multi-asset run (None for a single series), ``timeframe`` a
    higher timeframe (its file-name label, see :func:`pipeline.core.timeframes.timeframe_label`).
    """
    asset = f"_{symbol}" if symbol else ""
    tf = f"_{timeframe}" if timeframe else ""
    return f"synthetic_{scenario_number(scenario)}{asset}_batch_{run_id}{tf}{EXTENSIONS[fmt]}"


def long_name(scenario: int, run_id: str, timeframe: str = "") -> str:
    """The long-format Parquet (all assets, a ``symbol`` column) of a multi-asset scenario."""
    tf = f"_{timeframe}" if timeframe else ""
    return f"synthetic_{scenario_number(scenario)}_batch_{run_id}{tf}_long.parquet"


def scenario_files(scenario: int, run_id: str, formats: Sequence[str],
                   symbols: Sequence[str] = (), timeframes: Sequence[str] = ()) -> dict:
    """The files of one scenario, as its manifest record lists them.

    ``files``: ``{format: name}`` of the series (of the first asset in a multi-asset run, so
    a reader that wants "the series" finds one). Multi-asset runs add ``assets``
    (``{symbol: {format: name}}``) and ``long`` (the long-format Parquet). Each higher timeframe
    gets the same keys under ``timeframes[rule]``.
    """
    def one(tf_label: str) -> dict:
        first = symbols[0] if symbols else None
        entry: dict = {"files": {f: series_name(scenario, run_id, f, first, tf_label)
                                 for f in formats}}
        if symbols:
            entry["assets"] = {sym: {f: series_name(scenario, run_id, f, sym, tf_label)
                                     for f in formats} for sym in symbols}
            entry["long"] = long_name(scenario, run_id, tf_label)
        return entry

    out = one("")
    if timeframes:
        out["timeframes"] = {rule: one(timeframe_label(rule)) for rule in timeframes}
    return out


def marker_name(first_scenario: int, kind: str = "accepted") -> str:
    """Marker of the task whose lowest accepted scenario is ``first_scenario``.

    A scenario is accepted by exactly one task (a retried task writes the same marker), so the
    lowest accepted scenario names a task's marker uniquely and deterministically. ``kind`` is
    ``accepted`` (searched) or ``reused`` (copied from another run, :func:`copy_task`).
    """
    return f"{STATE_DIR}/{kind}_{first_scenario:08d}.json"


_ALLOCATOR_TUNED = False


def tune_allocator() -> None:
    """Let glibc reuse freed large blocks instead of unmapping them (once per process).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which also switches off
    glibc's adaptive mmap threshold: every array above 128 KiB is then mmapped and unmapped on
    each use and its pages faulted in again. Candidates are scored in batches of arrays of a few
    hundred KiB, so this cost about 40 % of the throughput (measured: 213 vs 123 accepted
    scenarios/s in one process). Raising the thresholds restores reuse; a worker keeps at most
    a few hundred MB of freed memory. Elsewhere than glibc this does nothing.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or not sys.platform.startswith("linux"):
        return
    _ALLOCATOR_TUNED = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 2**20)
        libc.mallopt(m_trim_threshold, 256 * 2**20)
    except (OSError, AttributeError):
        pass


def write_accepted(model: GenerationModel, store: OutputStore, run_id: str, acc: Accepted,
                   formats: Sequence[str], prior_best: float | None = None) -> dict:
    """Write one accepted scenario's files; return its record (without the series).

    ``best_before`` in the record is the best fidelity of every attempt before the accepted
    one: the search's own (``acc.best_before``) and ``prior_best``, the best of the attempt
    windows searched before this one.
    """
    symbols = model.symbols
    rules = [tf.rule for tf, _ in model.timeframes]
    files = scenario_files(acc.scenario, run_id, formats, symbols, rules)

    def write(entry: dict, assets: Assets) -> None:
        if not symbols:
            for fmt, name in entry["files"].items():
                store.write_frame(name, assets.first, fmt)
            return
        for sym, per_format in entry["assets"].items():
            for fmt, name in per_format.items():
                store.write_frame(name, assets[sym], fmt)
        store.write_frame(entry["long"], long_frame(assets), "parquet")

    write(files, model.to_assets(acc.ohlcv))
    for tf, _ in model.timeframes:
        write(files["timeframes"][tf.rule], model.to_assets(acc.ohlcv, tf))
    earlier = [b for b in (prior_best, acc.best_before) if b is not None]
    record = {
        "scenario": acc.scenario,
        "attempt": acc.attempt,
        "score": acc.score,
        "best_before": max(earlier) if earlier else None,
        "metrics": acc.metrics,
        **files,
    }
    for rule, values in acc.timeframes.items():
        record["timeframes"][rule].update(values)
    if acc.regimes is not None:
        record["regimes"] = acc.regimes
    return record


def long_frame(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Assets' frames stacked in long format: ``Date`` index, ``symbol`` column, OHLCV."""
    parts = []
    for symbol, frame in frames.items():
        part = frame.copy()
        part.insert(0, "symbol", symbol)
        parts.append(part)
    return pd.concat(parts)


def search_task(
    model: GenerationModel,
    store: OutputStore,
    run_id: str,
    root_seed: int,
    windows: Mapping[int, tuple[int, int]],
    min_fidelity: float,
    formats: Sequence[str],
    lookahead: int | None = None,
    prior_best: Mapping[int, float] | None = None,
) -> dict:
    """Search the scenarios' attempt windows; write each accepted series as it is found, then
    one marker.

    Series are written as soon as they are accepted, so a task holds one batch of series at a
    time however long they are. ``prior_best`` maps a scenario to the best fidelity of its
    attempts before its window (windows searched by earlier tasks); it completes the
    records' ``best_before``.

    Returns
    -------
    dict
        ``accepted``: records (scenario, attempt, score, metrics, files, ...); ``open``:
        scenario -> (best score, best attempt) for scenarios with no pass in their window;
        ``evaluated``.
    """
    tune_allocator()
    accepted: list[dict] = []
    prior_best = prior_best or {}
    result = search_attempts(
        model, root_seed, windows, min_fidelity, lookahead=lookahead,
        on_accept=lambda acc: accepted.append(write_accepted(
            model, store, run_id, acc, formats, prior_best.get(acc.scenario))),
    )
    accepted.sort(key=lambda r: r["scenario"])
    if accepted:
        store.write_json(marker_name(accepted[0]["scenario"]), {"accepted": accepted})
    return {"accepted": accepted, "open": result.open, "evaluated": result.evaluated}


def copy_task(source: OutputStore, store: OutputStore, records: Sequence[dict],
              names: Sequence[tuple[str, str]]) -> list[dict]:
    """Copy scenarios accepted by another run (``output.resume_from``) into ``store``.

    ``names`` are ``(name in source, name in store)`` pairs (file names carry the run id);
    ``records`` are the scenarios' records under this run's names. The files are copied byte
    for byte (each write atomic), then one ``reused`` marker lists the records, so an
    interrupted run resumes from them like from searched scenarios.
    """
    for old, new in names:
        store.write_bytes(new, source.read_bytes(old))
    records = sorted(records, key=lambda r: r["scenario"])
    if records:
        store.write_json(marker_name(records[0]["scenario"], "reused"), {"accepted": records})
    return list(records)


@dataclass(frozen=True)
class BundleMembers:
    """The files of one format of a run's accepted scenarios, in scenario order.

    It travels to the worker that builds the ZIP instead of the list of names: an array of
    scenario numbers (8 bytes each) rather than a name per file, so neither the client nor the
    task's message grows by a string per scenario.
    """

    scenarios: np.ndarray  # accepted scenarios, 0-based, in order
    run_id: str
    formats: tuple[str, ...]
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    extension: str  # ".csv", ".xlsx"

    def __iter__(self) -> Iterator[str]:
        for s in self.scenarios:
            files = scenario_files(int(s), self.run_id, self.formats, self.symbols,
                                   self.timeframes)
            yield from (name for name in listed_files(files) if name.endswith(self.extension))


def zip_task(store: OutputStore, name: str, members: Iterable[str]) -> str:
    """Bundle ``members`` of the store into the ZIP ``name``; returns ``name``."""
    store.write_zip_from(name, list(members))
    return name
