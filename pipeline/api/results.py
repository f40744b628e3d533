"""What the results and series routes show, computed from a job's manifest and series files.

The routes of :mod:`pipeline.api.routes.results` read a job's run folder through these
functions: :func:`read_manifest` (its ``manifest.json``), :func:`entry_files` and
:func:`series_file` (which file of a scenario to read) and :func:`build_job_results` (the
body of ``GET /api/jobs/{id}/results``, reading up to :data:`FAN_SERIES` series for the fan
chart).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from starlette.exceptions import HTTPException

from pipeline.io.writers import OutputStore
from pipeline.runner.coordinator import MANIFEST

from .charts import fan_chart, read_series
from .deps import shown

__all__ = [
    "FAN_PATHS",
    "FAN_SERIES",
    "check_run_shape",
    "entry_files",
    "build_job_results",
    "read_manifest",
    "regime_bands",
    "series_file",
    "symbol_of",
]

#: Series read for a fan chart, and sample paths shown in it.
FAN_SERIES = 200
FAN_PATHS = 5
#: Which written format of a series to read, first found first.
_READ_PREFERENCE = ("parquet", "csv", "xlsx")


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


def read_manifest(out: OutputStore, job_id: str) -> dict:
    """The job's ``manifest.json`` (404 when its output was removed)."""
    try:
        return out.read_json(MANIFEST)
    except FileNotFoundError:
        raise HTTPException(404, f"job {job_id} has no manifest.json; its output was "
                                 "removed") from None


def series_file(files: Mapping[str, str], scenario: Any) -> str:
    """The file of a scenario's series to read, by :data:`_READ_PREFERENCE` (404: none)."""
    for fmt in _READ_PREFERENCE:
        if fmt in files:
            return files[fmt]
    raise HTTPException(404, f"scenario {scenario} has no readable file")


def entry_files(entry: dict, symbol: str | None, timeframe: str | None) -> dict:
    """``{format: name}`` of a scenario's series of ``symbol`` at ``timeframe``."""
    node = entry if timeframe is None else (entry.get("timeframes") or {}).get(timeframe, {})
    if symbol is not None:
        return (node.get("assets") or {}).get(symbol) or {}
    return node.get("files") or {}


def check_run_shape(manifest: dict, symbol: str | None, timeframe: str | None,
                    job_id: str) -> str | None:
    """Checks ``symbol`` and ``timeframe`` against the run (422 naming the parameter);
    returns the asset to show (None for single-series runs)."""
    model = manifest.get("model", {})
    symbol = symbol_of(symbol, list(model.get("assets") or []), f"job {job_id}")
    rules = list(model.get("timeframes") or {})
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


def _correlations(reference: Mapping[str, Any], scenarios: list[dict]) -> list[dict]:
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
                           **_spread([(e.get("metrics") or {}).get(name) for e in scenarios])}
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


def _scenario_rows(scenarios: list[dict], n_regimes: int) -> list[dict]:
    """Each accepted scenario's score and metrics (and timeframes, regime shares)."""
    rows = []
    for e in scenarios:
        row = {k: e.get(k) for k in ("scenario", "score", "attempt", "metrics")}
        if e.get("timeframes"):
            row["timeframes"] = {rule: {"score": tf.get("score"), "metrics": tf.get("metrics")}
                                 for rule, tf in e["timeframes"].items()}
        if e.get("regimes") is not None:
            row["regime_shares"] = _regime_shares(e["regimes"], n_regimes)
        rows.append(row)
    return rows


def _fan(out: OutputStore, scenarios: list[dict], symbol: str | None, max_points: int,
         originals: Callable[[], dict[str, pd.DataFrame] | None]) -> dict:
    """The fan chart of the first :data:`FAN_SERIES` scenarios' closes, with the original's."""
    index, closes = None, []
    for entry in scenarios[:FAN_SERIES]:
        name = series_file(entry_files(entry, symbol, None), entry.get("scenario"))
        frame = read_series(out.read_bytes(name), name, ["Close"])
        if index is None:
            index = frame.index
        closes.append(frame["Close"].to_numpy(dtype=float))
    frames = originals()
    original = frames[symbol or ""]["Close"] if frames is not None else None
    if index is None:
        index = pd.DatetimeIndex([])
    return {**fan_chart(closes, index, original, max_points, FAN_PATHS), "symbol": symbol}


def build_job_results(job: dict, out: OutputStore, manifest: dict, symbol: str | None,
                max_points: int,
                originals: Callable[[], dict[str, pd.DataFrame] | None]) -> dict:
    """The body of ``GET /api/jobs/{id}/results`` (a :class:`~pipeline.api.schemas.JobResults`).

    Parameters
    ----------
    job : dict
        The job's record.
    out, manifest
        Its output store and manifest.
    symbol : str or None
        The asset of the fan chart, checked (:func:`check_run_shape`).
    max_points : int
        Points of the fan chart.
    originals : callable
        The job's input frames by symbol, None when a dataset was deleted (then the fan
        chart has no original).
    """
    scenarios = manifest.get("scenarios", [])
    fan = _fan(out, scenarios, symbol, max_points, originals)
    model = manifest.get("model", {})
    regimes = model.get("regimes")
    reference = manifest.get("reference_metrics", {})
    timeframes = {
        rule: {**info, "score": _spread([((e.get("timeframes") or {}).get(rule) or {})
                                         .get("score") for e in scenarios])}
        for rule, info in (model.get("timeframes") or {}).items()
    }
    return {
        "run_id": manifest.get("run_id"),
        "status": manifest.get("status"),
        "summary": manifest.get("summary", {}),
        "partial": job.get("partial"),
        "preflight": manifest.get("preflight"),
        "block_choice": model.get("block_choice"),
        "method": model.get("method"),
        "reference": model.get("reference", "original"),
        "reference_metrics": reference,
        "weights": model.get("weights", {}),
        "scored_metrics": model.get("scored_metrics", []),
        "block_size": model.get("block_size"),
        "symbols": model.get("assets"),
        "symbol": symbol,
        "correlations": _correlations(reference, scenarios),
        "timeframes": timeframes,
        "regimes": regimes,
        "garch": model.get("garch"),
        "scenarios": _scenario_rows(scenarios, int(regimes.get("n_regimes", 0)) if regimes
                                    else 0),
        "fan": fan,
    }
