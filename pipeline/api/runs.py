"""A finished job's run, opened once: :class:`RunCache` and what it computes of every scenario.

A finished job's output does not change, so the results routes read and check its manifest
once (:func:`open_job_run`) and keep the opened run folder, a :class:`JobRun`, with what they
computed from it (:meth:`JobRun.overview`: counts, spreads, the score histogram; the orders of
the scenarios a page is cut from; the closes of the fan chart). :class:`RunCache` holds the
runs of the jobs read last and opens one again when its manifest was replaced or removed behind
the server's back; the delete route lets go of a deleted job's.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from starlette.exceptions import HTTPException

from pipeline.errors import InputDataError
from pipeline.io.run import MANIFEST, RunFolder, RunManifest, ScenarioRecord, open_run
from pipeline.io.writers import OutputStore

__all__ = [
    "FAN_SERIES",
    "SCENARIO_ORDERS",
    "JobRun",
    "RunCache",
    "n_regimes",
    "open_job_run",
    "reading_output",
    "regime_shares",
    "score_histogram",
]

log = logging.getLogger(__name__)

#: Series read for a fan chart.
FAN_SERIES = 200
#: The orders of a page of scenarios: by number or by score, ``-`` for descending.
SCENARIO_ORDERS = ("scenario", "-scenario", "score", "-score")
#: Bin widths of the score histogram (the dashboard drew the same from the scores before).
_NICE_WIDTHS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0)


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


def _spread(values: list | np.ndarray) -> dict[str, float | None]:
    """min / median / max of the finite values (all None when there are none); None counts
    as not finite."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if not arr.size:
        return {"min": None, "median": None, "max": None}
    return {"min": float(arr.min()), "median": float(np.median(arr)), "max": float(arr.max())}


def score_histogram(scores: np.ndarray) -> dict[str, Any]:
    """Equal-width bins of the finite ``scores``: about sqrt(n) of them (5 to 30), of a round
    width (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10 or 20), aligned to the width.

    Returns
    -------
    dict
        ``centers`` (each bin's middle, rounded to 6 decimals), ``counts`` and ``width``;
        no bins (width 1) without a finite score.
    """
    v = np.asarray(scores, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"centers": [], "counts": [], "width": 1.0}
    lo, hi = float(v.min()), float(v.max())
    target = min(30, max(5, math.ceil(math.sqrt(v.size))))
    span = max(hi - lo, 0.5)
    width = next((w for w in _NICE_WIDTHS if span / w <= target), _NICE_WIDTHS[-1])
    start = math.floor(lo / width) * width
    n = max(1, math.floor((hi - start) / width + 1e-9) + 1)
    # The 1e-9 keeps a score on a bin's lower edge in that bin despite rounding.
    bins = np.minimum(n - 1, np.floor((v - start) / width + 1e-9).astype(int))
    counts = np.bincount(bins, minlength=n)
    return {"centers": [round(start + (i + 0.5) * width, 6) for i in range(n)],
            "counts": counts.tolist(), "width": width}


def _score_summary(numbers: np.ndarray, scores: np.ndarray,
                   attempts: np.ndarray) -> dict[str, Any]:
    """Count and spread of the scores, the mean candidates per scenario, the best scenario."""
    finite = np.isfinite(scores)
    out: dict[str, Any] = {"count": int(scores.size), **_spread(scores), "mean": None,
                           "mean_attempts": None, "best_scenario": None}
    if finite.any():
        out["mean"] = float(scores[finite].mean())
        # The lowest number among the best scores: the first of the order "-score".
        best = np.lexsort((numbers, -np.where(finite, scores, -np.inf)))[0]
        out["best_scenario"] = int(numbers[best])
    if attempts.size:
        out["mean_attempts"] = float((attempts + 1).mean())
    return out


def _correlations(reference: Mapping[str, Any], table: pd.DataFrame) -> list[dict]:
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
            values = table[name].to_numpy(dtype=float) if name in table else []
            entry[kind] = {"original": reference.get(name), **_spread(values)}
        out.append(entry)
    return out


def regime_shares(runs: list, n_regimes: int) -> list[float]:
    """Share of a scenario's bars spent in each regime."""
    bars = np.zeros(max(n_regimes, 1 + max((int(r) for r, _ in runs), default=0)))
    for regime, n in runs:
        bars[int(regime)] += n
    total = bars.sum()
    return [float(v / total) if total else 0.0 for v in bars]


def n_regimes(manifest: RunManifest) -> int:
    """The regimes of a regime run (0 for other methods)."""
    regimes = manifest.model.regimes
    return int(regimes.get("n_regimes", 0)) if regimes else 0


def _mean_regime_shares(scenarios: tuple[ScenarioRecord, ...], n_regimes: int
                        ) -> list[float] | None:
    """Each regime's share of bars averaged over the scenarios with a regime path (None when
    none has one)."""
    rows = [regime_shares(rec.regimes, n_regimes) for rec in scenarios
            if rec.regimes is not None]
    if not rows:
        return None
    width = max(len(r) for r in rows)
    table = np.array([r + [0.0] * (width - len(r)) for r in rows])
    return table.mean(axis=0).tolist()


def _timeframe_scores(run: RunFolder) -> dict[str, dict]:
    """Each higher timeframe's bars and reference metrics, with the spread of its scores."""
    out = {}
    for rule, info in (run.manifest.model.timeframes or {}).items():
        scores = [rec.timeframes[rule].score for rec in run.scenarios
                  if rec.timeframes and rule in rec.timeframes]
        out[rule] = {**info, "score": _spread(scores)}
    return out


def _overview(run: RunFolder) -> dict[str, Any]:
    """What the results show of every accepted scenario at once: counts, spreads, histogram,
    correlations, timeframe scores, mean regime shares."""
    scenarios = run.scenarios
    table = run.scenario_table()
    numbers = table["scenario"].to_numpy()
    scores = table["score"].to_numpy(dtype=float)
    out = {
        "n_scenarios": len(scenarios),
        "score_summary": _score_summary(numbers, scores, table["attempt"].to_numpy()),
        "score_histogram": score_histogram(scores),
        "metric_spreads": {name: _spread(table[name].to_numpy(dtype=float))
                           for name in table.columns[3:]},
        "correlations": _correlations(run.manifest.reference_metrics, table),
        "timeframes": _timeframe_scores(run),
    }
    shares = _mean_regime_shares(scenarios, n_regimes(run.manifest))
    if shares is not None:
        out["regime_shares"] = shares
    # Positions of the scenarios in each order; the ties of a score go by number.
    out["orders"] = {
        "scenario": np.arange(len(scenarios)),
        "-scenario": np.arange(len(scenarios))[::-1],
        "score": np.lexsort((numbers, scores)),
        "-score": np.lexsort((numbers, -scores)),
    }
    return out


@dataclass(eq=False)
class JobRun:
    """A finished job's run folder, opened once, and what the routes computed from it once.

    Attributes
    ----------
    run : RunFolder
        The job's output.
    version : tuple
        What the manifest's file looked like when it was opened (size, modification time,
        ...): :class:`RunCache` opens the run again when it changed.
    """

    run: RunFolder
    version: tuple
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _overview: dict | None = field(default=None, repr=False)
    _closes: dict = field(default_factory=dict, repr=False)

    def overview(self) -> dict[str, Any]:
        """Counts, spreads and histogram of every scenario (computed on the first call)."""
        with self._lock:
            if self._overview is None:
                self._overview = _overview(self.run)
            return self._overview

    def page(self, offset: int, limit: int, sort: str = "scenario"
             ) -> tuple[ScenarioRecord, ...]:
        """Up to ``limit`` scenarios from position ``offset`` in the order ``sort`` (one of
        :data:`SCENARIO_ORDERS`)."""
        positions = self.overview()["orders"][sort][offset:offset + limit]
        return tuple(self.run.scenarios[int(i)] for i in positions)

    def closes(self, symbol: str | None) -> tuple[pd.Index, list[np.ndarray]]:
        """The date index and closes of the first :data:`FAN_SERIES` scenarios of ``symbol``
        (read on the first call; InputDataError when a series file cannot be read)."""
        with self._lock:
            if symbol not in self._closes:
                self._closes[symbol] = _read_closes(self.run, symbol)
            return self._closes[symbol]


def _manifest_version(out: OutputStore) -> tuple | None:
    """What the output's manifest file looks like now (None: it is gone): a manifest replaced
    or removed behind the server's back looks different."""
    path = out.path(MANIFEST)
    out.fs.invalidate_cache(path)
    try:
        info = out.fs.info(path)
    except FileNotFoundError:
        return None
    return tuple(str(info.get(key)) for key in ("size", "mtime", "ino", "LastModified", "ETag"))


class RunCache:
    """The opened runs (:class:`JobRun`) of the finished jobs read last.

    A finished job's output does not change, so its manifest is read and checked once, not on
    every request; one look at the manifest file per request (:func:`_manifest_version`) still
    notices a manifest replaced or removed behind the server's back. The least recently read
    runs are let go when the runs held have more than ``max_scenarios`` scenarios in all (the
    last one read is always kept); :meth:`forget` lets go of a deleted job's.

    Parameters
    ----------
    max_scenarios : int, default 200_000
        Scenarios held in all (about 1.5 kB of memory each once opened: the manifest's text
        and the metric table; some 150 MB for a run of 100,000).
    """

    def __init__(self, max_scenarios: int = 200_000) -> None:
        self.max_scenarios = max_scenarios
        self._runs: OrderedDict[str, JobRun] = OrderedDict()
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _cached(self, job_id: str, version: tuple) -> JobRun | None:
        with self._lock:
            cached = self._runs.get(job_id)
            if cached is None or cached.version != version:
                return None
            self._runs.move_to_end(job_id)
            return cached

    def get(self, out: OutputStore, job_id: str) -> JobRun:
        """The opened run of job ``job_id``, whose output is ``out``.

        Raises
        ------
        HTTPException
            404 when its output was removed (no manifest), 500 when the manifest cannot be
            used (see :func:`open_job_run`).
        """
        version = _manifest_version(out)
        if version is not None and (cached := self._cached(job_id, version)) is not None:
            return cached
        with self._lock:
            opening = self._opening.setdefault(job_id, threading.Lock())
        # One request opens the run; the others of the same job wait for it and reuse it.
        with opening:
            if version is not None and (cached := self._cached(job_id, version)) is not None:
                return cached
            job_run = JobRun(open_job_run(out, job_id), version or ())
            with self._lock:
                self._runs[job_id] = job_run
                self._runs.move_to_end(job_id)
                held = sum(len(r.run.scenarios) for r in self._runs.values())
                while held > self.max_scenarios and len(self._runs) > 1:
                    _, dropped = self._runs.popitem(last=False)
                    held -= len(dropped.run.scenarios)
        return job_run

    def forget(self, job_id: str) -> None:
        """Let go of the run of job ``job_id`` (deleted)."""
        with self._lock:
            self._runs.pop(job_id, None)
            self._opening.pop(job_id, None)


def _read_closes(run: RunFolder, symbol: str | None) -> tuple[pd.Index, list[np.ndarray]]:
    index, closes = None, []
    for rec in run.scenarios[:FAN_SERIES]:
        frame = run.read_series(rec, symbol, columns=["Close"])
        if index is None:
            index = frame.index
        closes.append(frame["Close"].to_numpy(dtype=float))
    return (pd.DatetimeIndex([]) if index is None else index), closes
