"""Functions that run on Dask workers. They write series themselves and return only small records.

Each function is pure given its arguments: a retried or duplicated task writes the same bytes to
the same names, so a worker lost mid-task costs time, never correctness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.core.sampler import GenerationModel, search_attempts
from pipeline.io.writers import EXTENSIONS, OutputStore

__all__ = ["STATE_DIR", "series_name", "marker_name", "search_task", "zip_task"]

#: Per-scenario completion markers, written after the scenario's files: the resume record.
STATE_DIR = "_state"


def series_name(scenario: int, run_id: str, fmt: str) -> str:
    """File name of scenario ``scenario`` (0-based) in format ``fmt``; files count from 1."""
    return f"synthetic_{scenario + 1}_batch_{run_id}{EXTENSIONS[fmt]}"


def marker_name(scenario: int) -> str:
    return f"{STATE_DIR}/scenario_{scenario:08d}.json"


def search_task(
    model: GenerationModel,
    store: OutputStore,
    run_id: str,
    root_seed: int,
    windows: Mapping[int, tuple[int, int]],
    min_fidelity: float,
    formats: Sequence[str],
) -> dict:
    """Search the scenarios' attempt windows; write each accepted series and its marker.

    Returns
    -------
    dict
        ``accepted``: records (scenario, attempt, score, metrics, files); ``open``: scenario ->
        (best score, best attempt) for scenarios with no pass in their window; ``evaluated``.
    """
    result = search_attempts(model, root_seed, windows, min_fidelity)
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
        store.write_json(marker_name(acc.scenario), record)
        accepted.append(record)
    return {"accepted": accepted, "open": result.open, "evaluated": result.evaluated}


def zip_task(store: OutputStore, name: str, members: Sequence[str]) -> str:
    """Bundle ``members`` of the store into the ZIP ``name``; returns ``name``."""
    store.write_zip_from(name, list(members))
    return name
