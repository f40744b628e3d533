"""What a run's manifest is written from: the ledger of accepted scenarios and the header.

The :class:`Ledger` keeps the client's per-scenario results compactly while a run searches;
:func:`manifest_header` and :func:`manifest_chunks` turn it, the fitted model and the
configuration into ``manifest.json`` through the run folder's models
(:mod:`pipeline.io.run`). Nothing measured (times, hosts) goes in, so the same configuration
and seed write the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

import pipeline
from pipeline.config import RunConfig
from pipeline.core.metrics import METRIC_NAMES
from pipeline.core.preflight import Preflight
from pipeline.core.regimes import run_lengths
from pipeline.errors import FidelityNotReachedError
from pipeline.io.run import RunManifest, ScenarioRecord, manifest_text, scenario_number
from pipeline.redaction import redact, redact_text
from pipeline.runner.tasks import scenario_files

__all__ = ["Ledger", "new_ledger", "record_files", "manifest_header", "manifest_chunks",
           "finite"]


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
        self.best_before = np.full(n_samples, np.nan)  # NaN: none (attempt 0) or not recorded
        self.regimes: dict[int, np.ndarray] = {}

    def _row(self, metrics: Mapping[str, Any]) -> list[float]:
        return [np.nan if metrics.get(k) is None else metrics[k] for k in self.metric_names]

    def add(self, record: Mapping[str, Any]) -> None:
        """Record an accepted scenario from its task record (``scenario`` counted from 0)."""
        s = int(record["scenario"])
        # Everything is read before anything is stored: a malformed record (a damaged marker)
        # raises and leaves the ledger as it was.
        attempt, score = int(record["attempt"]), float(record["score"])
        before = record.get("best_before")
        metrics = self._row(record["metrics"])
        tfs = [record["timeframes"][rule] for rule in self.timeframes]
        tf_rows = [(float(tf["score"]), self._row(tf["metrics"])) for tf in tfs]
        regimes = record.get("regimes")
        if regimes is not None:
            regimes = np.asarray(regimes, dtype=np.int32).reshape(-1, 2)
        self.attempt[s], self.score[s], self.metrics[s] = attempt, score, metrics
        self.best_before[s] = np.nan if before is None else float(before)
        for j, (tf_score, tf_metrics) in enumerate(tf_rows):
            self.tf_score[s, j], self.tf_metrics[s, j] = tf_score, tf_metrics
        if regimes is not None:
            self.regimes[s] = regimes
        self.accepted[s] = True

    def record(self, scenario: int, files: Mapping[str, Any]) -> dict:
        """Scenario ``scenario``'s record as its task returned it (``scenario`` from 0), rebuilt
        from the arrays; ``files`` are its file names (a new :func:`record_files` dict, which
        the record takes over and completes).

        Missing metrics (NaN) come back as None, as the manifest writes them.
        """
        s = int(scenario)
        names = self.metric_names
        record = {
            "scenario": s,
            "attempt": int(self.attempt[s]),
            "score": float(self.score[s]),
            "best_before": finite(self.best_before[s]),
            "metrics": {k: finite(v) for k, v in zip(names, self.metrics[s], strict=True)},
            **files,
        }
        for j, rule in enumerate(self.timeframes):
            record["timeframes"][rule]["score"] = float(self.tf_score[s, j])
            record["timeframes"][rule]["metrics"] = {
                k: finite(v) for k, v in zip(names, self.tf_metrics[s, j], strict=True)}
        if s in self.regimes:
            record["regimes"] = self.regimes[s].tolist()
        return record

    def __len__(self) -> int:
        return int(self.accepted.sum())

    def __contains__(self, scenario: int) -> bool:
        return bool(self.accepted[scenario])

    def scenarios(self) -> np.ndarray:
        """Accepted scenarios (0-based), in order."""
        return np.flatnonzero(self.accepted)

    def attempts_spent(self) -> int:
        """Attempts the accepted scenarios spent (``attempt + 1`` each)."""
        return int(np.sum(self.attempt[self.accepted] + 1))

    def frame(self) -> pd.DataFrame:
        """One row per accepted scenario (numbered from 1): attempt, score, timeframe scores
        (``score_{rule}``) and metrics."""
        idx = self.scenarios()
        frame = pd.DataFrame(self.metrics[idx], columns=self.metric_names)
        for j, rule in reversed(list(enumerate(self.timeframes))):
            frame.insert(0, f"score_{rule}", self.tf_score[idx, j])
        frame.insert(0, "score", self.score[idx])
        frame.insert(0, "attempt", self.attempt[idx])
        frame.insert(0, "scenario", scenario_number(idx.astype(np.int64)))
        return frame


def new_ledger(model, n_samples: int) -> Ledger:
    """An empty ledger for ``n_samples`` scenarios of ``model``'s metrics and timeframes."""
    return Ledger(n_samples, model.metric_names, [tf.rule for tf, _ in model.timeframes])


def record_files(cfg: RunConfig, run_id: str, model, scenario: int) -> dict:
    """The files of scenario ``scenario`` (0-based) as its record lists them."""
    return scenario_files(scenario, run_id, list(cfg.output.formats), model.symbols,
                          [tf.rule for tf, _ in model.timeframes])


def manifest_header(cfg: RunConfig, input_hash: str, run_id: str, model, ledger: Ledger,
                    failed: Mapping[int, float], counts: tuple[int, int], files: list[str],
                    frame, check: Preflight,
                    error: FidelityNotReachedError | None) -> RunManifest:
    """Everything in the manifest but the scenarios; nothing measured, so a rerun of the same
    configuration writes the same bytes.

    ``failed`` maps the scenarios that found no candidate (0-based) to their best score;
    ``counts`` is ``(attempts, resumed)`` of the whole run.
    """
    attempts, resumed = counts
    header = {
        "run_id": run_id,
        "status": "complete" if not failed else "partial",
        "fingerprint": cfg.fingerprint(input_hash),
        "search_fingerprint": cfg.search_fingerprint(input_hash),
        "package_version": pipeline.__version__,
        # Credentials never reach a manifest; the run id does not depend on them.
        "config": redact(cfg.recorded()),
        "seed": cfg.generation.seed,
        "input": _input_summary(frame, input_hash),
        "model": _model_summary(model),
        "reference_metrics": {k: finite(v) for k, v in model.scorer.reference_metrics.items()},
        "preflight": check.reproducible().to_dict(),
        "summary": {
            "requested": cfg.generation.n_samples,
            "accepted": len(ledger),
            "failed": {str(scenario_number(s)): b for s, b in sorted(failed.items())},
            "attempts": attempts,
            "resumed": resumed,
        },
        "files": files,
    }
    if error is not None:
        header["partial"] = {
            "reason": str(error),
            "failed_scenarios": [{"scenario": scenario_number(s), "best_score": b,
                                  "attempts": cfg.generation.max_attempts}
                                 for s, b in sorted(failed.items())],
            "suggested_min_fidelity": error.suggested_min_fidelity,
        }
    return RunManifest.model_validate(header)


def manifest_chunks(header: RunManifest, cfg: RunConfig, run_id: str, model,
                    ledger: Ledger) -> Iterator[bytes]:
    """The manifest as JSON, in chunks (:func:`pipeline.io.run.manifest_text`): the records
    are built scenario by scenario, so the client never holds the whole text (several MB at
    10,000 scenarios)."""
    records = (ScenarioRecord.from_task(
        ledger.record(int(s), record_files(cfg, run_id, model, int(s)))).to_json()
        for s in ledger.scenarios())
    return manifest_text(header.to_json(), records)


def _input_summary(frame, input_hash: str) -> dict:
    first = frame.first
    out = {
        "content_sha256": input_hash,
        "source": redact_text(str(first.attrs.get("source", ""))),
        "rows": len(first),
        "start": str(first.index[0]),
        "end": str(first.index[-1]),
        "columns": list(first.columns),
    }
    if frame.symbols:
        out["source"] = {sym: redact_text(str(f.attrs.get("source", "")))
                         for sym, f in frame.items()}
        out["assets"] = list(frame.symbols)
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
    if model.origin is not None:
        # Where the scenarios continue the history and the state they start in.
        out["origin"] = {**model.origin.to_dict(), "start_price": model.start_price}
        if model.symbols:
            out["origin"]["start_prices"] = {p.symbol: p.start_price for p in model.parts}
    if model.drift is not None:
        out["drift"] = model.drift.to_dict()
    if model.block_choice is not None:
        # The chosen block length and why (the pilot's medians); nothing measured.
        out["block_choice"] = model.block_choice.to_dict()
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
                      "reference_metrics": {k: finite(v)
                                            for k, v in sc.reference_metrics.items()},
                      "spreads": dict(zip(sc.names, sc.spread.tolist(), strict=True))}
            for tf, sc in model.timeframes}
    return out


def finite(v: float) -> float | None:
    """``v`` as a float, or None when it is not finite (JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None
