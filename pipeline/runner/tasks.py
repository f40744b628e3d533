"""Functions that run on Dask workers. They write series themselves and return only small records.

Each function is pure given its arguments: a retried or duplicated task writes the same bytes to
the same names, so a worker lost mid-task costs time, never correctness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.core.sampler import GenerationModel, search_attempts
from pipeline.io.writers import EXTENSIONS, OutputStore

__all__ = ["STATE_DIR", "series_name", "marker_name", "search_task", "zip_task"]

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
