"""What the results and scenarios routes show, computed from a job's opened run.

The routes of :mod:`pipeline.api.routes.results` read a job's output only through
:mod:`pipeline.io.run`, and once per finished job (:class:`~pipeline.api.runs.RunCache`).
:func:`check_run_shape` checks the requested asset and timeframe against the run, and
:func:`build_job_results` computes the body of ``GET /api/jobs/{id}/results``: summary
statistics, the score histogram and each metric's spread over every accepted scenario
(:meth:`~pipeline.api.runs.JobRun.overview`), at most a page of the scenarios themselves (all
of them, a page at a time, from ``GET /api/jobs/{id}/scenarios``: :func:`scenario_page`), and
a fan chart of up to :data:`~pipeline.api.runs.FAN_SERIES` series. A file of the output that
cannot be read becomes a 500 with the API's own message
(:func:`~pipeline.api.runs.reading_output`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
from starlette.exceptions import HTTPException

from pipeline.io.run import RunManifest, ScenarioRecord

from .charts import fan_chart
from .deps import shown
from .runs import JobRun, n_regimes, reading_output, regime_shares

__all__ = [
    "FAN_PATHS",
    "MAX_PAGE",
    "PAGE_SIZE",
    "build_job_results",
    "check_run_shape",
    "regime_bands",
    "scenario_page",
    "scenario_rows",
    "symbol_of",
]

#: Sample paths shown in a fan chart.
FAN_PATHS = 5
#: Scenarios of a page when the request does not say, and the most one request returns.
PAGE_SIZE = 100
MAX_PAGE = 1000


def symbol_of(symbol: str | None, symbols: list[str], what: str) -> str | None:
    """The asset to show: ``symbol`` checked against ``symbols`` (default the first)."""
    if symbol is None:
        return symbols[0] if symbols else None
    if not symbols:
        raise HTTPException(422, f"symbol: {what} holds one series, not several assets; leave "
                                 "symbol out")
    if symbol not in symbols:
        raise HTTPException(422, f"symbol: {shown(symbol)} is not an asset of {what}; its "
                                 f"symbols are {', '.join(symbols)}")
    return symbol


def check_run_shape(manifest: RunManifest, symbol: str | None, timeframe: str | None,
                    job_id: str) -> str | None:
    """Checks ``symbol`` and ``timeframe`` against the run (422 naming the parameter);
    returns the asset to show (None for single-series runs)."""
    symbol = symbol_of(symbol, manifest.symbols, f"job {job_id}")
    rules = manifest.timeframe_rules
    if timeframe is not None and timeframe not in rules:
        have = ", ".join(rules) if rules else "none (the job set no timeframes)"
        raise HTTPException(422, f"timeframe: {shown(timeframe)} is not a timeframe of job "
                                 f"{job_id}; its timeframes are {have}")
    return symbol


def regime_bands(runs: list, index: pd.Index) -> list[dict]:
    """A run-length encoded regime path as bands with the timestamps of their first/last bar."""
    out, pos = [], 0
    for regime, n in runs:
        end = min(pos + int(n), len(index)) - 1
        if end < pos:
            break
        out.append({"regime": int(regime), "start": pd.Timestamp(index[pos]).isoformat(),
                    "end": pd.Timestamp(index[end]).isoformat(), "bars": end - pos + 1})
        pos = end + 1
    return out


def scenario_rows(scenarios: Iterable[ScenarioRecord], n_regimes: int) -> list[dict]:
    """Each scenario's score and metrics (and timeframes, regime shares): a
    :class:`~pipeline.api.schemas.ScenarioResult` each."""
    rows = []
    for rec in scenarios:
        row: dict[str, Any] = {"scenario": rec.scenario, "score": rec.score,
                               "attempt": rec.attempt, "metrics": rec.metrics}
        if rec.timeframes:
            row["timeframes"] = {rule: {"score": tf.score, "metrics": tf.metrics}
                                 for rule, tf in rec.timeframes.items()}
        if rec.regimes is not None:
            row["regime_shares"] = regime_shares(rec.regimes, n_regimes)
        rows.append(row)
    return rows


def _fan(job_run: JobRun, symbol: str | None, max_points: int,
         originals: Callable[[], dict[str, pd.DataFrame] | None]) -> dict:
    """The fan chart of the first :data:`FAN_SERIES` scenarios' closes, with the original's."""
    index, closes = job_run.closes(symbol)
    frames = originals()
    original = frames[symbol or ""]["Close"] if frames is not None else None
    return {**fan_chart(closes, index, original, max_points, FAN_PATHS), "symbol": symbol}


def build_job_results(job: dict, job_run: JobRun, symbol: str | None, max_points: int,
                      originals: Callable[[], dict[str, pd.DataFrame] | None],
                      limit: int = MAX_PAGE, sort: str = "scenario") -> dict:
    """The body of ``GET /api/jobs/{id}/results`` (a :class:`~pipeline.api.schemas.JobResults`).

    Parameters
    ----------
    job : dict
        The job's record.
    job_run : JobRun
        Its output (:meth:`RunCache.get`).
    symbol : str or None
        The asset of the fan chart, checked (:func:`check_run_shape`).
    max_points : int
        Points of the fan chart.
    originals : callable
        The job's input frames by symbol, None when a dataset was deleted (then the fan
        chart has no original).
    limit : int, default MAX_PAGE
        Scenarios listed in ``scenarios``: the first in the order ``sort``.
    sort : str, default "scenario"
        One of :data:`SCENARIO_ORDERS`.

    Raises
    ------
    HTTPException
        500 when a series file of the fan chart cannot be read (:func:`reading_output`).
    """
    with reading_output(job["id"]):
        fan = _fan(job_run, symbol, max_points, originals)
    overview = job_run.overview()
    manifest = job_run.run.manifest
    model = manifest.model
    reference = manifest.reference_metrics
    return {
        "run_id": manifest.run_id,
        "status": manifest.status,
        "summary": manifest.summary.to_json() if manifest.summary is not None else {},
        "partial": job.get("partial"),
        "preflight": manifest.preflight,
        "block_choice": getattr(model, "block_choice", None),
        "method": model.method,
        "reference": model.reference or "original",
        "reference_metrics": reference,
        "weights": model.weights or {},
        "scored_metrics": model.scored_metrics or [],
        "block_size": model.block_size,
        "symbols": model.assets,
        "symbol": symbol,
        "regimes": model.regimes,
        "garch": getattr(model, "garch", None),
        **{key: value for key, value in overview.items() if key != "orders"},
        "scenarios": scenario_rows(job_run.page(0, limit, sort), n_regimes(manifest)),
        "fan": fan,
    }


def scenario_page(job_run: JobRun, offset: int, limit: int, sort: str) -> dict:
    """The body of ``GET /api/jobs/{id}/scenarios`` (a
    :class:`~pipeline.api.schemas.ScenarioPage`)."""
    rows = scenario_rows(job_run.page(offset, limit, sort), n_regimes(job_run.run.manifest))
    return {"total": len(job_run.run.scenarios), "offset": offset, "limit": limit,
            "sort": sort, "scenarios": rows}
