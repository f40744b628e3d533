"""What the results and series routes show, computed from a job's run folder.

The routes of :mod:`pipeline.api.routes.results` read a job's output only through
:mod:`pipeline.io.run`: :func:`open_job_run` opens it (its manifest checked),
:func:`check_run_shape` checks the requested asset and timeframe against it, and
:func:`build_job_results` computes the body of ``GET /api/jobs/{id}/results``, reading up to
:data:`FAN_SERIES` series for the fan chart. A file of the output that cannot be read becomes
a 500 with the API's own message (:func:`reading_output`): the run folder's messages name the
server's paths, which only the log shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from starlette.exceptions import HTTPException

from pipeline.errors import InputDataError
from pipeline.io.run import MANIFEST, RunFolder, RunManifest, ScenarioRecord, open_run
from pipeline.io.writers import OutputStore

from .charts import fan_chart
from .deps import shown

__all__ = [
    "FAN_PATHS",
    "FAN_SERIES",
    "build_job_results",
    "check_run_shape",
    "open_job_run",
    "reading_output",
    "regime_bands",
    "symbol_of",
]

log = logging.getLogger(__name__)

#: Series read for a fan chart, and sample paths shown in it.
FAN_SERIES = 200
FAN_PATHS = 5


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


def _unreadable(job_id: str, exc: InputDataError) -> HTTPException:
    """The 500 of an output file that cannot be read; the run folder's message (it names the
    server's paths) goes to the log."""
    log.warning("job %s: %s", job_id, exc)
    return HTTPException(500, f"job {job_id}'s output cannot be read: a file of it was changed "
                              "or removed since the job finished; the details are in the "
                              "server log")


@contextmanager
def reading_output(job_id: str) -> Iterator[None]:
    """Reads of the job's output in this block that fail (:class:`InputDataError`: a series
    file missing, changed or unusable) answer 500 with the API's own message."""
    try:
        yield
    except InputDataError as exc:
        raise _unreadable(job_id, exc) from None


def open_job_run(out: OutputStore, job_id: str) -> RunFolder:
    """The job's run folder, its manifest checked (series files are checked when read).

    404 when its output was removed (no manifest), 500 when the manifest cannot be used.
    """
    try:
        return open_run(out, check_files=False)
    except InputDataError as exc:
        if not out.exists(MANIFEST):
            raise HTTPException(404, f"job {job_id} has no {MANIFEST}; its output was "
                                     "removed") from None
        raise _unreadable(job_id, exc) from None


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


def _spread(values: list) -> dict[str, float | None]:
    """min / median / max of the finite values (all None when there are none)."""
    arr = np.array([v for v in values if isinstance(v, int | float) and np.isfinite(v)], float)
    if not arr.size:
        return {"min": None, "median": None, "max": None}
    return {"min": float(arr.min()), "median": float(np.median(arr)), "max": float(arr.max())}


def _correlations(reference: Mapping[str, Any],
                  scenarios: tuple[ScenarioRecord, ...]) -> list[dict]:
    """Original vs synthetic correlation of every asset pair (``corr:A|B``, ``abs_corr:A|B``)."""
    out = []
    for key in reference:
        if not key.startswith("corr:"):
            continue
        pair = key.removeprefix("corr:")
        a, _, b = pair.partition("|")
        entry: dict[str, Any] = {"pair": pair, "symbols": [a, b]}
        for kind in ("corr", "abs_corr"):
            name = f"{kind}:{pair}"
            entry[kind] = {"original": reference.get(name),
                           **_spread([rec.metrics.get(name) for rec in scenarios])}
        out.append(entry)
    return out


def _regime_shares(runs: list, n_regimes: int) -> list[float]:
    """Share of a scenario's bars spent in each regime."""
    bars = np.zeros(max(n_regimes, 1 + max((int(r) for r, _ in runs), default=0)))
    for regime, n in runs:
        bars[int(regime)] += n
    total = bars.sum()
    return [float(v / total) if total else 0.0 for v in bars]


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


def _scenario_rows(scenarios: tuple[ScenarioRecord, ...], n_regimes: int) -> list[dict]:
    """Each accepted scenario's score and metrics (and timeframes, regime shares)."""
    rows = []
    for rec in scenarios:
        row: dict[str, Any] = {"scenario": rec.scenario, "score": rec.score,
                               "attempt": rec.attempt, "metrics": rec.metrics}
        if rec.timeframes:
            row["timeframes"] = {rule: {"score": tf.score, "metrics": tf.metrics}
                                 for rule, tf in rec.timeframes.items()}
        if rec.regimes is not None:
            row["regime_shares"] = _regime_shares(rec.regimes, n_regimes)
        rows.append(row)
    return rows


def _timeframe_scores(run: RunFolder) -> dict[str, dict]:
    """Each higher timeframe's bars and reference metrics, with the spread of its scores."""
    out = {}
    for rule, info in (run.manifest.model.timeframes or {}).items():
        scores = [rec.timeframes[rule].score for rec in run.scenarios
                  if rec.timeframes and rule in rec.timeframes]
        out[rule] = {**info, "score": _spread(scores)}
    return out


def _fan(run: RunFolder, symbol: str | None, max_points: int,
         originals: Callable[[], dict[str, pd.DataFrame] | None]) -> dict:
    """The fan chart of the first :data:`FAN_SERIES` scenarios' closes, with the original's."""
    index, closes = None, []
    for rec in run.scenarios[:FAN_SERIES]:
        frame = run.read_series(rec, symbol, columns=["Close"])
        if index is None:
            index = frame.index
        closes.append(frame["Close"].to_numpy(dtype=float))
    frames = originals()
    original = frames[symbol or ""]["Close"] if frames is not None else None
    if index is None:
        index = pd.DatetimeIndex([])
    return {**fan_chart(closes, index, original, max_points, FAN_PATHS), "symbol": symbol}


def build_job_results(job: dict, run: RunFolder, symbol: str | None, max_points: int,
                      originals: Callable[[], dict[str, pd.DataFrame] | None]) -> dict:
    """The body of ``GET /api/jobs/{id}/results`` (a :class:`~pipeline.api.schemas.JobResults`).

    Parameters
    ----------
    job : dict
        The job's record.
    run : RunFolder
        Its output (:func:`open_job_run`).
    symbol : str or None
        The asset of the fan chart, checked (:func:`check_run_shape`).
    max_points : int
        Points of the fan chart.
    originals : callable
        The job's input frames by symbol, None when a dataset was deleted (then the fan
        chart has no original).

    Raises
    ------
    HTTPException
        500 when a series file of the fan chart cannot be read (:func:`reading_output`).
    """
    with reading_output(job["id"]):
        fan = _fan(run, symbol, max_points, originals)
    manifest, scenarios = run.manifest, run.scenarios
    model = manifest.model
    regimes = model.regimes
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
        "correlations": _correlations(reference, scenarios),
        "timeframes": _timeframe_scores(run),
        "regimes": regimes,
        "garch": getattr(model, "garch", None),
        "scenarios": _scenario_rows(scenarios, int(regimes.get("n_regimes", 0)) if regimes
                                    else 0),
        "fan": fan,
    }
