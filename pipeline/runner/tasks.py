"""Functions that run on Dask workers. They write series themselves and return only small records.

Each function is pure given its arguments: a retried or duplicated task writes the same bytes to
the same names, so a worker lost mid-task costs time, never correctness.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Mapping, Sequence

from pipeline.core.sampler import GenerationModel, search_attempts
from pipeline.io.writers import EXTENSIONS, OutputStore

__all__ = [
    "STATE_DIR", "series_name", "marker_name", "search_task", "tune_allocator", "zip_task",
]

#: Completion markers, one per task that accepted anything, written after the series files of
#: the scenarios it lists: the resume record of an interrupted run.
STATE_DIR = "_state"


def series_name(scenario: int, run_id: str, fmt: str) -> str:
    """File name of scenario ``scenario`` (0-based) in format ``fmt``; files count from 1."""
    return f"synthetic_{scenario + 1}_batch_{run_id}{EXTENSIONS[fmt]}"


def marker_name(first_scenario: int) -> str:
    """Marker of the task whose lowest accepted scenario is ``first_scenario``.

    A scenario is accepted by exactly one task (a retried task writes the same marker), so the
    lowest accepted scenario names a task's marker uniquely and deterministically.
    """
    return f"{STATE_DIR}/accepted_{first_scenario:08d}.json"


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


def search_task(
    model: GenerationModel,
    store: OutputStore,
    run_id: str,
    root_seed: int,
    windows: Mapping[int, tuple[int, int]],
    min_fidelity: float,
    formats: Sequence[str],
    lookahead: int | None = None,
) -> dict:
    """Search the scenarios' attempt windows; write the accepted series, then one marker.

    Returns
    -------
    dict
        ``accepted``: records (scenario, attempt, score, metrics, files); ``open``: scenario ->
        (best score, best attempt) for scenarios with no pass in their window; ``evaluated``.
    """
    tune_allocator()
    result = search_attempts(model, root_seed, windows, min_fidelity, lookahead=lookahead)
    accepted = []
    for acc in result.accepted:
        frame = model.to_frame(acc.ohlcv)
        files = {}
        for fmt in formats:
            name = series_name(acc.scenario, run_id, fmt)
            store.write_frame(name, frame, fmt)
            files[fmt] = name
        record = {
            "scenario": acc.scenario,
            "attempt": acc.attempt,
            "score": acc.score,
            "metrics": acc.metrics,
            "files": files,
        }
        accepted.append(record)
    if accepted:
        store.write_json(marker_name(accepted[0]["scenario"]), {"accepted": accepted})
    return {"accepted": accepted, "open": result.open, "evaluated": result.evaluated}


def zip_task(store: OutputStore, name: str, members: Sequence[str]) -> str:
    """Bundle ``members`` of the store into the ZIP ``name``; returns ``name``."""
    store.write_zip_from(name, list(members))
    return name
