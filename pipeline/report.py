"""The fidelity report of a finished run: one self-contained HTML file.

:func:`write_report` reads a run's output directory (``manifest.json``, the series files) and the
run's original input, and writes ``report.html``: plots as inline base64 PNG (matplotlib, Agg),
inline CSS, no external asset, readable offline. Sections:

1. **Run** — run id, input, method, block size and how it was chosen (the dependence
   length, the pilot's median fidelity at each length tried, the reason), series,
   fidelity, threshold, the preflight's estimate; a partial run is marked as such, with
   why.
2. **Price paths** — fan chart of the synthetic closes (5–95 % and 25–75 % bands, median, a few
   sample paths) over the original close.
3. **Returns** — density of the close log-returns (pooled synthetic vs original, linear and log
   scale) and a QQ plot.
4. **Dependence** — ACF of returns and of absolute returns, lags 1–40: the original as a line, the
   synthetic series as a 5–95 % band across series.
5. **Metrics** — each metric's distribution across scenarios with the original's value marked,
   and a table (original, synthetic min/median/max, weight, spread).
6. **Scores and drawdowns** — fidelity histogram with ``min_fidelity``; max drawdown histogram.
7. **Diversity** — how different the scenarios are from one another and from the original
   (:func:`pipeline.evaluation.verbatim_share`).
8. **Indistinguishability** — the purged, blocked classifier two-sample test
   (:func:`pipeline.evaluation.classifier_two_sample_test`) beside its real-versus-real
   calibration row, with a verdict and each bar feature's attribution, and train-on-synthetic /
   test-on-real prediction (:func:`pipeline.evaluation.predictive_score`).

Runs of other shapes get more sections:

* **Multi-asset runs** (``manifest["model"]["assets"]``): an **asset overview** (one row per
  asset), **cross-asset correlations** (the matrices of pairwise correlations of returns and of
  absolute returns — original, median over the scenarios, and their difference — as annotated
  heatmaps and as tables, and each pair's distribution across scenarios with the original
  marked), the scores section with one drawdown histogram per asset, then sections 2–5, 7 and 8
  for every asset (in a foldable ``<details>`` block; section ids end in ``-SYMBOL``). Each
  asset is compared with its own original (the ``SYMBOL:metric`` reference values).
* **Regime runs** (``model.regimes``): **regimes** — fitted and used transition matrices, the
  share of bars in each regime across scenarios against the input's shares and the long-run
  shares, a strip plot of the first scenarios' regime paths, and per regime the volatility and
  mean stay. A *conditioned* run says so in the header, the regime section and the metric
  tables, and shows the original and the conditioned reference side by side: its fidelity
  measures distance to the conditioned generator, not to the original.
* **Timeframe runs** (``model.timeframes``): **timeframes** — the fidelity distribution at each
  higher timeframe next to the base one, a scatter of the same scenarios' scores, and per
  timeframe the metrics of the scenarios against the original aggregated to that timeframe.

The numbers of sections 7 and 8 are also embedded as JSON in
``<script type="application/json" id="report-data">`` for tools that read reports: keys
``diversity`` and ``indistinguishability`` for a single series; ``assets`` (per symbol:
``diversity``, ``indistinguishability``, ``overview``) and ``cross_asset`` for several assets;
``regimes`` and ``timeframes`` when the run has them.

Definitions
-----------
*Log-returns.* ``r_t = log(C_t / C_{t-1})``. A synthetic series' first return is taken against
the run's start price (the close before its first bar), so it has as many returns as bars.

*Verbatim share*, *windows*, the *purged two-sample test* with its calibration row and
verdict, and *train on synthetic, test on real*: see :mod:`pipeline.evaluation`, which computes
them. For a ``garch`` run the report redraws, from the run's model, seed and attempts, which
input bar each synthetic bar was built from, so that windows shaped by held-out history are
purged as exactly as the bootstraps' verbatim copies.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import InputDataError
from pipeline.evaluation import (
    MIN_RUN,
    WINDOW,
    classifier_two_sample_test,
    predictive_score,
    verbatim_share,
)
from pipeline.io.writers import OutputStore
from pipeline.redaction import drop_redacted

__all__ = ["REPORT", "build_report", "write_report"]

#: Default file name of the report in a run's output directory.
REPORT = "report.html"
#: Lags of the ACF plots.
ACF_LAGS = 40
_MANIFEST = "manifest.json"
_FORMAT_PREFERENCE = ("parquet", "csv", "xlsx")
_OHLC = ("Open", "High", "Low", "Close")
_SYN = "#1f77b4"
_ORIG = "#d62728"


# --------------------------------------------------------------------------------------------
# Loading a run
# --------------------------------------------------------------------------------------------


@dataclass
class _Asset:
    """One asset's view of a run (a single-series run has one, with ``symbol == ""``).

    Metric names are the asset's own, without the ``SYM:`` prefix of a multi-asset manifest.
    """

    symbol: str
    original: pd.DataFrame
    bars: np.ndarray  # (n_series, length, fields) of the loaded series
    index: pd.Index  # timestamps of the synthetic bars
    scenarios: pd.DataFrame  # all scenarios: scenario, score (the run's), this asset's metrics
    reference: dict  # the scoring reference of the manifest
    original_metrics: dict  # the original's metrics (the reference unless it is conditioned)
    weights: dict
    spreads: dict
    scored: list[str]  # scored metrics present in the scenarios
    start_price: float

    @property
    def x(self) -> np.ndarray:
        """The original's close log-returns."""
        return np.diff(np.log(self.original["Close"].to_numpy(dtype=float)))

    @property
    def y(self) -> np.ndarray:
        """The loaded series' close log-returns, the first against the start price."""
        close = self.bars[:, :, 3]
        return np.diff(np.log(np.concatenate([np.full((len(close), 1), self.start_price), close],
                                             axis=1)), axis=1)


@dataclass
class _Run:
    manifest: dict
    original: pd.DataFrame | dict[str, pd.DataFrame]
    assets: list[_Asset]
    scenario_ids: list[int]  # scenarios read for the plots and tests
    scenarios: pd.DataFrame  # all scenarios: scenario, score, metrics (manifest names)
    entries: list[dict]  # the manifest's scenario records, by scenario number

    @property
    def symbols(self) -> list[str]:
        return list(self.manifest["model"].get("assets") or [])

    @property
    def conditioned(self) -> bool:
        return self.manifest["model"].get("reference") == "conditioned"


def _load_run(run_dir: str, storage_options: dict | None, max_series: int,
              original: pd.DataFrame | Mapping[str, pd.DataFrame] | None) -> _Run:
    store = OutputStore(run_dir, storage_options=storage_options)
    if not store.exists(_MANIFEST):
        raise InputDataError(
            f"{run_dir}: no {_MANIFEST} found; pass a run's output directory (the output.path "
            "of a finished `sme run`, which holds manifest.json and the series files)"
        )
    try:
        manifest = store.read_json(_MANIFEST)
        entries = manifest["scenarios"]
        manifest["model"], manifest["config"]  # noqa: B018 - required keys
    except (ValueError, KeyError, TypeError) as exc:
        raise InputDataError(f"{store.path(_MANIFEST)}: not a run manifest ({exc})") from exc
    if not entries:
        raise InputDataError(f"{run_dir}: the run has no accepted scenarios to report on")
    entries = sorted(entries, key=lambda e: int(e["scenario"]))

    rows = []
    for e in entries:
        row = {"scenario": int(e["scenario"]), "score": float(e["score"])}
        row.update({k: np.nan if v is None else float(v) for k, v in e["metrics"].items()})
        rows.append(row)
    scenarios = pd.DataFrame(rows).sort_values("scenario", kind="stable").reset_index(drop=True)

    symbols = list(manifest["model"].get("assets") or [])
    if original is None:
        original = _reload_input(manifest)
    original = _check_original(original, symbols)
    chosen = entries[: max(int(max_series), 1)]
    per_asset = symbols or [""]
    frames = {s: [] for s in per_asset}
    for e in chosen:
        for s in per_asset:
            files = e.get("assets", {}).get(s) if s else e.get("files")
            frames[s].append(_read_series(store, {"scenario": e.get("scenario"),
                                                  "files": files}))
    length = min(len(f) for fs in frames.values() for f in fs)
    run = _Run(manifest, original, [], [int(e["scenario"]) for e in chosen], scenarios, entries)
    for s in per_asset:
        run.assets.append(_asset(run, s, frames[s], length))
    return run


def _check_original(original: Any, symbols: Sequence[str]
                    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
    if symbols:
        if not isinstance(original, Mapping):
            raise InputDataError(
                f"the run has several assets ({', '.join(symbols)}); pass original= as a "
                "mapping {symbol: frame}, not one frame")
        missing = [s for s in symbols if s not in original]
        if missing:
            raise InputDataError(f"original=: no frame for the run's asset(s) {missing}; the run "
                                 f"has {list(symbols)}")
        return {s: original[s] for s in symbols}
    if isinstance(original, Mapping):
        raise InputDataError("the run has one series; pass original= as one frame, not a "
                             f"mapping of {len(original)} assets")
    return original


def _asset(run: _Run, symbol: str, frames: Sequence[pd.DataFrame], length: int) -> _Asset:
    m = run.manifest
    model = m["model"]
    prefix = f"{symbol}:" if symbol else ""

    def own(d: Mapping) -> dict:
        if not prefix:
            return dict(d)
        return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}

    from pipeline.core.metrics import METRIC_NAMES

    original = run.original[symbol] if symbol else run.original
    cols = list(_OHLC) + (["Volume"] if all("Volume" in f.columns for f in frames) else [])
    bars = np.stack([f[cols].to_numpy(dtype=float)[:length] for f in frames])
    keep = ["scenario", "score"] + [c for c in run.scenarios.columns
                                    if prefix and c.startswith(prefix)]
    scenarios = (run.scenarios[keep].rename(columns=lambda c: c[len(prefix):]
                                            if c.startswith(prefix) else c)
                 if prefix else run.scenarios)
    reference = own(m["reference_metrics"])
    if run.conditioned:
        original_metrics = {k: v for k, v in _metrics_of(
            [original], []).items() if not k.startswith(("corr:", "abs_corr:"))}
    else:
        original_metrics = reference
    scored = [n for n in own(dict.fromkeys(model.get("scored_metrics", METRIC_NAMES)))
              if n in scenarios]
    if symbol:
        start = (model.get("start_prices") or {}).get(symbol)
    else:
        start = model.get("start_price")
    return _Asset(
        symbol=symbol,
        original=original,
        bars=bars,
        index=frames[0].index[:length],
        scenarios=scenarios,
        reference=reference,
        original_metrics=original_metrics,
        weights=own(model.get("weights", {})),
        spreads=own(model.get("spreads", {})),
        scored=scored,
        start_price=float(start or original["Close"].iloc[0]),
    )


def _metrics_of(frames: Sequence[pd.DataFrame], symbols: Sequence[str]) -> dict[str, float]:
    """Metrics of original frames, named as in the manifest (``SYM:metric`` for several)."""
    from pipeline.core.sampler import model_metrics

    arrays = [_frame_array(f) for f in frames]
    has_volume = all(a.shape[1] == 5 for a in arrays)
    if not has_volume:
        arrays = [a[:, :4] for a in arrays]
    ohlcv = np.concatenate(arrays, axis=1)[None]
    return {k: float(v[0]) for k, v in model_metrics(ohlcv, list(symbols), has_volume).items()}


def _frame_array(frame: pd.DataFrame) -> np.ndarray:
    # As the engine reads a frame: volume counts when it is there for every bar.
    cols = list(_OHLC)
    if "Volume" in frame.columns and frame["Volume"].notna().all():
        cols.append("Volume")
    return frame[cols].to_numpy(dtype=float)


def _reload_input(manifest: dict) -> pd.DataFrame | dict[str, pd.DataFrame]:
    from pipeline.runner.config import load_config
    from pipeline.runner.inputs import content_hash, load_input

    # Credentials were redacted from the manifest: they come from the environment here.
    cfg = load_config(drop_redacted(manifest["config"]))
    if cfg.input.sample:
        where = f"sample {cfg.input.sample!r}"
    elif cfg.input.assets:
        where = "assets " + ", ".join(f"{k}={v!r}" for k, v in cfg.input.assets.items())
    else:
        where = repr(cfg.input.path)
    try:
        assets = load_input(cfg)
    except (InputDataError, OSError) as exc:
        raise InputDataError(
            f"the run's input {where} cannot be read from here ({exc}); run the report from "
            "the directory the run was started in, or pass the original frame as original="
            + (" (a mapping {symbol: frame})" if cfg.input.assets or cfg.input.layout != "single"
               else "")
        ) from exc
    expected = manifest.get("input", {}).get("content_sha256")
    if expected and content_hash(assets) != expected:
        raise InputDataError(
            f"the run's input {where} has changed since the run (content hash differs); pass "
            "the original frame as original="
        )
    return assets.unwrap()


def _read_series(store: OutputStore, entry: Mapping) -> pd.DataFrame:
    files = entry.get("files") or {}
    for fmt in _FORMAT_PREFERENCE:
        name = files.get(fmt)
        if not name:
            continue
        try:
            data = store.read_bytes(name)
        except FileNotFoundError:
            raise InputDataError(
                f"{store.path(name)}: series file listed in the manifest is missing"
            ) from None
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data), index_col=0, parse_dates=True)
        return pd.read_excel(io.BytesIO(data), index_col=0)
    raise InputDataError(f"scenario {entry.get('scenario')}: no readable series file in manifest")


# --------------------------------------------------------------------------------------------
# Statistics for the plots and tables
# --------------------------------------------------------------------------------------------


def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    """ACF (statsmodels definition) of each row of ``x`` at lags 1..nlags."""
    x = np.atleast_2d(x)
    d = x - x.mean(axis=1, keepdims=True)
    g0 = np.einsum("ij,ij->i", d, d)
    out = np.empty((x.shape[0], nlags))
    for k in range(1, nlags + 1):
        out[:, k - 1] = np.einsum("ij,ij->i", d[:, :-k], d[:, k:])
    return out / np.where(g0 > 0, g0, np.nan)[:, None]


def _spread_row(values: np.ndarray, original: float | None) -> dict:
    v = values[np.isfinite(values)]
    p5, p50, p95 = np.percentile(v, [5, 50, 95]) if len(v) else (np.nan,) * 3
    return {
        "original": np.nan if original is None else float(original),
        "median": float(p50),
        "std": float(np.std(v, ddof=1)) if len(v) > 1 else np.nan,
        "p5": float(p5),
        "p95": float(p95),
        "range_5_95": float(p95 - p5),
        "n": int(len(v)),
    }


def _diversity(a: _Asset, x: np.ndarray, y: np.ndarray) -> dict:
    close = a.bars[:, :, 3]
    orig_close = a.original["Close"].to_numpy(dtype=float)
    terminal = np.log(close[:, -1] / a.start_price)
    mdd_all = a.scenarios["max_drawdown"].to_numpy(dtype=float)
    out = {
        "terminal_log_return": _spread_row(terminal, math.log(orig_close[-1] / orig_close[0])),
        "max_drawdown": _spread_row(mdd_all, a.original_metrics.get("max_drawdown")),
    }
    n = y.shape[0]
    if n >= 2:
        c = np.corrcoef(y)
        off = c[~np.eye(n, dtype=bool)]
        out["mean_pairwise_corr"] = float(np.mean(off))
        out["max_pairwise_corr"] = float(np.max(off))
    else:
        out["mean_pairwise_corr"] = out["max_pairwise_corr"] = float("nan")
    out["corr_noise"] = 1.0 / math.sqrt(y.shape[1])
    share = verbatim_share(x, y)
    out["verbatim_share"] = {"mean": float(np.mean(share)), "min": float(np.min(share)),
                             "max": float(np.max(share)), "min_run": MIN_RUN}
    out["n_series"] = int(n)
    return out


def _stat(scores, stat: str) -> dict:
    mean, lo, hi = scores.interval(stat)
    return {"mean": mean, "lo": lo, "hi": hi, "folds": list(getattr(scores, stat))}


def _two_sample_summary(t) -> dict:
    """The numbers of a :class:`~pipeline.evaluation.TwoSampleResult` the report shows."""
    return {
        "verdict": t.verdict,
        "top_feature": t.top_feature,
        "window": t.window,
        "n_folds": t.n_folds,
        "n_train": t.n_train,
        "n_test": t.n_test,
        "channels": list(t.channels),
        "classifiers": {
            c: {"balanced_accuracy": _stat(s, "balanced_accuracy"), "auc": _stat(s, "auc"),
                "floor": list(t.floors[c]), "verdict": t.verdicts[c],
                "importance": s.importance}
            for c, s in t.scores.items()},
        "calibration": {
            c: {"balanced_accuracy": _stat(s, "balanced_accuracy"), "auc": _stat(s, "auc")}
            for c, s in t.calibration.scores.items()},
    }


def _indistinguishability(a: _Asset, seed: int, sources: np.ndarray | None) -> dict:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return {"error": "scikit-learn is not installed (pip install scikit-learn)"}
    real = a.original
    synthetic = list(a.bars)
    out: dict[str, Any] = {}
    try:
        # Five folds by default; a report of fewer series uses as many folds as it has series.
        folds = min(5, len(synthetic))
        if folds < 2:
            raise ValueError("the two-sample test needs at least two synthetic series")
        t = classifier_two_sample_test(real, synthetic, n_folds=folds, seed=seed,
                                       sources=None if sources is None else list(sources))
        out["two_sample"] = _two_sample_summary(t)
        out["predictive"] = asdict(predictive_score(real, synthetic, n_folds=folds, seed=seed))
    except ValueError as exc:
        out["error"] = str(exc)
    return out


def _sources(run: _Run, length: int) -> np.ndarray | None:
    """For a ``garch`` run: the input bar each loaded series' bar was built from.

    A GARCH-filtered bar has new returns but the intrabar shape and volume of the input bar it
    was drawn from, which tracing by verbatim returns cannot see; the run's model redraws the
    same rows from the manifest's seed, scenarios and attempts. None for other methods (their
    copies are traced by their returns).
    """
    if run.manifest["model"].get("method") != "garch":
        return None
    from pipeline.core.assets import Assets
    from pipeline.runner.config import load_config
    from pipeline.runner.inputs import content_hash, fitted_model

    cfg = load_config(run.manifest["config"])
    original = Assets.of(run.original)
    model = fitted_model(original, cfg, content_hash(original))
    attempts = {int(e["scenario"]): int(e["attempt"]) for e in run.entries}
    idx, _ = model.indices(int(run.manifest["seed"]), [s - 1 for s in run.scenario_ids],
                           [attempts[s] for s in run.scenario_ids])
    return idx[:, :length] + 1


def _median_distance(a: _Asset, name: str) -> float:
    """Median over scenarios of |metric - reference| in units of the metric's spread."""
    v = a.scenarios[name].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    r, s = a.reference.get(name), a.spreads.get(name)
    # The p-value metrics are scored on their statistic per observation, whose spread the
    # manifest holds; a p-value difference in those units would mean nothing.
    if r is None or not s or not len(v) or name in _P_VALUE_METRICS:
        return float("nan")
    return float(np.median(np.abs(v - r)) / s)


def _rank(values: np.ndarray, original: float | None) -> float:
    """Percent of the values below ``original`` (ties count half): where it sits among them."""
    v = values[np.isfinite(values)]
    if original is None or not len(v) or not math.isfinite(original):
        return float("nan")
    return float(100.0 * (np.sum(v < original) + 0.5 * np.sum(v == original)) / len(v))


def _cross_asset(run: _Run) -> dict:
    """Pairwise return and absolute-return correlations: original, scenarios, reference."""
    from pipeline.core.metrics import cross_asset_metrics

    symbols = run.symbols
    closes = {s: run.original[s]["Close"].to_numpy(dtype=float)[None] for s in symbols}
    original = {k: float(v[0]) for k, v in cross_asset_metrics(closes).items()}
    model, ref = run.manifest["model"], run.manifest["reference_metrics"]
    n = len(symbols)
    out: dict[str, Any] = {"symbols": symbols, "n_scenarios": len(run.scenarios), "pairs": []}
    for kind in ("corr", "abs_corr"):
        mats = {"original": np.eye(n), "median": np.eye(n),
                "difference": np.where(np.eye(n, dtype=bool), np.nan, 0.0)}
        for i, a in enumerate(symbols):
            for j in range(i + 1, n):
                b = symbols[j]
                key = f"{kind}:{a}|{b}"
                v = (run.scenarios[key].to_numpy(dtype=float) if key in run.scenarios
                     else np.array([]))
                v = v[np.isfinite(v)]
                o = original.get(key, float("nan"))
                p5, med, p95 = np.percentile(v, [5, 50, 95]) if len(v) else (np.nan,) * 3
                r, s = ref.get(key), model.get("spreads", {}).get(key)
                out["pairs"].append({
                    "kind": kind, "a": a, "b": b, "key": key, "original": o,
                    "reference": r, "p5": float(p5), "median": float(med), "p95": float(p95),
                    "rank": _rank(v, o), "spread": s, "weight": model.get("weights", {}).get(key),
                    "median_distance": (float(np.median(np.abs(v - r)) / s)
                                        if r is not None and s and len(v) else float("nan")),
                    "n": int(len(v)),
                })
                for name, val in (("original", o), ("median", med), ("difference", med - o)):
                    mats[name][i, j] = mats[name][j, i] = val
        out[kind] = {k: v.tolist() for k, v in mats.items()}
    return out


def _asset_overview(a: _Asset, diversity: dict) -> dict:
    dist = {n: _median_distance(a, n) for n in a.scored}
    finite = {n: d for n, d in dist.items() if math.isfinite(d)}
    worst = max(finite, key=finite.get) if finite else None
    vol = a.scenarios["volatility"].to_numpy(dtype=float) if "volatility" in a.scenarios \
        else np.array([])
    return {
        "volatility": _spread_row(vol, a.original_metrics.get("volatility")),
        "terminal_log_return": diversity["terminal_log_return"],
        "max_drawdown": diversity["max_drawdown"],
        "mean_median_distance": float(np.mean(list(finite.values()))) if finite else float("nan"),
        "worst_metric": worst,
        "worst_median_distance": finite.get(worst, float("nan")) if worst else float("nan"),
    }


def _regimes(run: _Run) -> dict:
    """The regime model of the manifest and what the scenarios' regime paths did."""
    from pipeline.core.regimes import stationary_distribution

    info = run.manifest["model"]["regimes"]
    k = int(info["n_regimes"])
    fitted = np.asarray(info["fitted_transition"], dtype=float)
    used = np.asarray(info["transition"], dtype=float)

    def stay(p: np.ndarray) -> list[float]:
        d = np.diag(p)
        return [float(1.0 / (1.0 - v)) if v < 1 else float("inf") for v in d]

    paths = {int(e["scenario"]): e["regimes"] for e in run.entries if e.get("regimes")}
    shares = np.full((len(paths), k), np.nan)
    runs_n, runs_bars = np.zeros(k), np.zeros(k)
    for row, path in enumerate(paths.values()):
        counts = np.zeros(k)
        for regime, bars in path:
            counts[int(regime)] += bars
            runs_n[int(regime)] += 1
            runs_bars[int(regime)] += bars
        shares[row] = counts / max(counts.sum(), 1)
    # Volatility within each regime of the loaded series (of the first asset, which the
    # regimes were labelled on): pooled close log-returns of the bars the path puts there.
    a = run.assets[0]
    y = a.y
    pooled: list[list[np.ndarray]] = [[] for _ in range(k)]
    for i, sid in enumerate(run.scenario_ids):
        if sid not in paths:
            continue
        labels = np.repeat([r for r, _ in paths[sid]], [b for _, b in paths[sid]])[: y.shape[1]]
        for r in range(k):
            pooled[r].append(y[i, : len(labels)][labels == r])
    syn_vol = [float(np.std(np.concatenate(p), ddof=1)) if p and sum(map(len, p)) > 1
               else float("nan") for p in pooled]
    q = np.nanpercentile(shares, [5, 50, 95], axis=0) if len(shares) else np.full((3, k), np.nan)
    return {
        "labelling": info.get("labelling"),
        "n_regimes": k,
        "volatility": [float(v) for v in info.get("volatility", [np.nan] * k)],
        "synthetic_volatility": syn_vol,
        "input_shares": [float(v) for v in info.get("input_shares", [np.nan] * k)],
        "fitted_transition": fitted.tolist(),
        "transition": used.tolist(),
        "conditioned": bool(run.conditioned),
        "longrun_fitted": stationary_distribution(fitted).tolist(),
        "longrun_used": stationary_distribution(used).tolist(),
        "mean_stay_fitted": stay(fitted),
        "mean_stay_used": stay(used),
        "synthetic_mean_stay": [float(runs_bars[r] / runs_n[r]) if runs_n[r] else float("nan")
                                for r in range(k)],
        "share_p5": q[0].tolist(), "share_median": q[1].tolist(), "share_p95": q[2].tolist(),
        "shares": shares.tolist(),
        "paths": {str(s): p for s, p in list(paths.items())[:_REGIME_PATHS]},
        "input_path": info.get("input_path"),
        "n_scenarios": len(paths),
        "condition": run.manifest["config"].get("generation", {}).get("regime", {}),
    }


def _timeframes(run: _Run) -> dict:
    """Fidelity and metrics of the scenarios at each higher timeframe, and the original's."""
    from pipeline.core.sampler import model_metrics
    from pipeline.core.timeframes import aggregate, make_timeframe

    out: dict[str, Any] = {}
    symbols = run.symbols
    frames = [run.original[s] for s in symbols] if symbols else [run.original]
    for rule, info in run.manifest["model"]["timeframes"].items():
        recs = [e.get("timeframes", {}).get(rule, {}) for e in run.entries]
        scores = np.array([np.nan if r.get("score") is None else float(r["score"])
                           for r in recs])
        metrics = pd.DataFrame([{k: np.nan if v is None else float(v)
                                 for k, v in r.get("metrics", {}).items()} for r in recs])
        try:
            tf = make_timeframe(pd.DatetimeIndex(frames[0].index), rule)
            arrays = [_frame_array(f) for f in frames]
            has_volume = all(a.shape[1] == 5 for a in arrays)
            agg = np.concatenate([aggregate((a if has_volume else a[:, :4])[None], tf)
                                  for a in arrays], axis=2)
            original = {k: float(v[0]) for k, v in
                        model_metrics(agg, symbols, has_volume).items()}
            original_bars = len(tf.index)
        except Exception:  # noqa: BLE001 - the original cannot be aggregated: shown as missing
            original, original_bars = {}, None
        rows = []
        for name in info.get("scored_metrics", []):
            v = metrics[name].to_numpy(dtype=float) if name in metrics else np.array([])
            f = v[np.isfinite(v)]
            p5, med, p95 = np.percentile(f, [5, 50, 95]) if len(f) else (np.nan,) * 3
            o = original.get(name)
            rows.append({"metric": name, "original": o, "p5": float(p5), "median": float(med),
                         "p95": float(p95), "rank": _rank(v, o)})
        out[rule] = {"bars": info.get("bars"), "original_bars": original_bars, "scores": scores,
                     "metrics": rows}
    return out


_REGIME_PATHS = 8  # regime paths drawn in the strip plot


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _figure(w: float, h: float, **adjust: float):
    # Fixed margins rather than a layout engine: constrained layout cost a quarter of the run.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    fig.subplots_adjust(**adjust)
    return fig


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _small_panel(ax, title: str) -> None:
    """One small histogram of a grid: a title, few x ticks, no y axis."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _style(ax) -> None:
    ax.grid(True, alpha=0.25, linewidth=0.6)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _fig_fan(a: _Asset) -> str:
    close = a.bars[:, :, 3]
    fig = _figure(10, 4.2, left=0.075, right=0.99, top=0.93, bottom=0.08)
    ax = fig.add_subplot()
    t = a.index if isinstance(a.index, pd.DatetimeIndex) else np.arange(close.shape[1])
    p = np.percentile(close, [5, 25, 50, 75, 95], axis=0)
    ax.fill_between(t, p[0], p[4], color=_SYN, alpha=0.15, lw=0, label="synthetic 5–95 %")
    ax.fill_between(t, p[1], p[3], color=_SYN, alpha=0.3, lw=0, label="synthetic 25–75 %")
    ax.plot(t, p[2], color=_SYN, lw=1.2, label="synthetic median")
    for i in range(min(3, close.shape[0])):
        ax.plot(t, close[i], color="0.35", lw=0.5, alpha=0.7,
                label="sample paths" if i == 0 else None)
    orig = a.original["Close"]
    to = orig.index if isinstance(a.index, pd.DatetimeIndex) else np.arange(len(orig))
    ax.plot(to, orig.to_numpy(dtype=float), color=_ORIG, lw=1.2, label="original")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.4g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("close (log scale)", fontsize=9)
    ax.set_title((f"{a.symbol}: closes" if a.symbol else "Closes")
                 + f" of {close.shape[0]} synthetic series over the original", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncols=3, frameon=False)
    _style(ax)
    return _png(fig)


def _fig_returns(x: np.ndarray, y: np.ndarray) -> str:
    from matplotlib.ticker import MaxNLocator

    pooled = y.ravel()
    fig = _figure(12, 3.8, left=0.04, right=0.99, top=0.92, bottom=0.14, wspace=0.25)
    axes = fig.subplots(1, 3)
    lo, hi = min(x.min(), pooled.min()), max(x.max(), pooled.max())
    bins = np.linspace(lo, hi, int(np.clip(2 * math.sqrt(len(x)), 20, 100)) + 1)
    for ax, log in ((axes[0], False), (axes[1], True)):
        ax.hist(pooled, bins=bins, density=True, color=_SYN, alpha=0.45, label="synthetic (pooled)")
        ax.hist(x, bins=bins, density=True, histtype="step", color=_ORIG, lw=1.3, label="original")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("log-return", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_title("density" + (" (log scale: tails)" if log else ""), fontsize=10)
        _style(ax)
    axes[0].legend(fontsize=8, frameon=False)
    probs = (np.arange(min(len(x), 1000)) + 0.5) / min(len(x), 1000)
    qx, qy = np.quantile(x, probs), np.quantile(pooled, probs)
    ax = axes[2]
    ax.plot(qx, qy, ".", ms=3, color=_SYN)
    lim = [min(qx[0], qy[0]), max(qx[-1], qy[-1])]
    ax.plot(lim, lim, color="0.3", lw=0.8, ls="--")
    ax.set_xlabel("original quantile", fontsize=9)
    ax.set_ylabel("synthetic quantile (pooled)", fontsize=9)
    ax.set_title("QQ plot", fontsize=10)
    _style(ax)
    return _png(fig)


def _fig_acf(x: np.ndarray, y: np.ndarray) -> str:
    fig = _figure(12, 3.6, left=0.04, right=0.99, top=0.92, bottom=0.14, wspace=0.12)
    axes = fig.subplots(1, 2)
    lags = np.arange(1, ACF_LAGS + 1)
    for ax, f, title in ((axes[0], lambda v: v, "ACF of returns"),
                         (axes[1], np.abs, "ACF of absolute returns")):
        syn = _acf(f(y), ACF_LAGS)
        p5, p50, p95 = np.nanpercentile(syn, [5, 50, 95], axis=0)
        ax.fill_between(lags, p5, p95, color=_SYN, alpha=0.25, lw=0,
                        label="synthetic 5–95 % across series")
        ax.plot(lags, p50, color=_SYN, lw=1, label="synthetic median")
        ax.plot(lags, _acf(f(x), ACF_LAGS)[0], color=_ORIG, lw=1.3, marker=".", ms=4,
                label="original")
        band = 1.96 / math.sqrt(len(x))
        ax.axhspan(-band, band, color="0.5", alpha=0.12, lw=0, label="±1.96/√n (white noise)")
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_xlabel("lag (bars)", fontsize=9)
        ax.set_title(title, fontsize=10)
        _style(ax)
    axes[1].legend(fontsize=8, frameon=False, loc="upper right")
    return _png(fig)


_P_VALUE_METRICS = ("ljung_box_p", "arch_lm_p")


def _metric_values(name: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    if name in _P_VALUE_METRICS:
        return -np.log10(np.clip(values, 1e-300, None)), f"{name} (−log10)"
    return values, name


def _fig_metrics(a: _Asset, names: Sequence[str], conditioned: bool = False) -> str:
    ncols = 6
    nrows = math.ceil(len(names) / ncols)
    fig = _figure(14, 2.1 * nrows, left=0.02, right=0.98, top=1 - 0.12 / nrows,
                  bottom=0.12 / nrows, hspace=0.55, wspace=0.12)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, name in zip(axes, names, strict=False):
        vals, label = _metric_values(name, a.scenarios[name].to_numpy(dtype=float))
        vals = vals[np.isfinite(vals)]
        if len(vals):
            ax.hist(vals, bins=min(30, max(5, len(vals) // 4)), color=_SYN, alpha=0.6)
        r = a.original_metrics.get(name)
        if r is not None:
            rv, _ = _metric_values(name, np.array([float(r)]))
            ax.axvline(rv[0], color=_ORIG, lw=1.5)
        c = a.reference.get(name) if conditioned else None
        if c is not None:
            cv, _ = _metric_values(name, np.array([float(c)]))
            ax.axvline(cv[0], color="0.1", lw=1.2, ls="--")
        _small_panel(ax, label)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return _png(fig)


def _fig_scores(scores: np.ndarray, min_fidelity: float,
                drawdowns: Sequence[tuple[str, np.ndarray, float | None, float | None]]) -> str:
    """Fidelity histogram, then one max drawdown histogram per ``(title, values, original,
    conditioned reference)``."""
    from matplotlib.ticker import MaxNLocator

    n = 1 + len(drawdowns)
    if n == 2:
        fig = _figure(12, 3.4, left=0.05, right=0.99, top=0.91, bottom=0.15, wspace=0.18)
        axes = list(fig.subplots(1, 2))
    else:
        ncols = min(n, 4)
        nrows = math.ceil(n / ncols)
        fig = _figure(14, 3.2 * nrows, left=0.045, right=0.99, top=1 - 0.28 / (3.2 * nrows),
                      bottom=0.5 / (3.2 * nrows), wspace=0.22, hspace=0.45)
        axes = list(np.atleast_1d(fig.subplots(nrows, ncols)).ravel())
        for ax in axes[n:]:
            ax.set_visible(False)
    a = axes[0]
    s = scores
    a.hist(s, bins=min(40, max(5, len(s) // 4)), color=_SYN, alpha=0.6)
    a.axvline(min_fidelity, color="0.2", ls="--", lw=1.2, label=f"min_fidelity = {min_fidelity:g}")
    a.set_xlabel("fidelity score", fontsize=9)
    a.set_title(f"Fidelity of the {len(s)} accepted scenarios", fontsize=10)
    a.legend(fontsize=8, frameon=False)
    for b, (title, mdd, ref, cond) in zip(axes[1:], drawdowns, strict=False):
        mdd = mdd[np.isfinite(mdd)]
        b.hist(mdd, bins=min(40, max(5, len(mdd) // 4)), color=_SYN, alpha=0.6)
        if ref is not None:
            b.axvline(float(ref), color=_ORIG, lw=1.5, label=f"original {float(ref):.3f}")
        if cond is not None:
            b.axvline(float(cond), color="0.1", lw=1.2, ls="--",
                      label=f"conditioned reference {float(cond):.3f}")
        if ref is not None or cond is not None:
            b.legend(fontsize=8, frameon=False)
        b.set_xlabel("max drawdown (fraction)", fontsize=9)
        b.set_title(title, fontsize=10)
    for ax in axes[:n]:
        _style(ax)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("scenarios", fontsize=9)
    return _png(fig)


def _heatmap(ax, mat: np.ndarray, labels: Sequence[str], title: str, *, vmin: float,
             vmax: float, cmap: str, fmt: str, fontsize: float) -> None:
    ax.imshow(mat, cmap=cmap, vmin=vmin, vmax=vmax)
    k = mat.shape[0]
    ax.set_xticks(range(k), labels, fontsize=8, rotation=45 if k > 4 else 0)
    ax.set_yticks(range(k), labels, fontsize=8)
    span = max(abs(vmin), abs(vmax)) or 1.0
    for i in range(k):
        for j in range(k):
            v = mat[i, j]
            if not np.isfinite(v):
                continue
            # Dark cells get white text: far from the colour map's pale centre (diverging) or
            # low end (sequential).
            dark = abs(v - (0 if vmin < 0 else vmin)) / span > (0.6 if vmin < 0 else 0.55)
            ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "0.1")
    ax.set_title(title, fontsize=10)
    for side in ax.spines.values():
        side.set_visible(False)


def _fig_corr_matrices(cross: dict) -> str:
    symbols = cross["symbols"]
    k = len(symbols)
    size = max(3.2, 0.55 * k + 1.6)
    fig = _figure(3 * size + 0.6, 2 * size + 0.4, left=0.06, right=0.99, top=0.95,
                  bottom=0.05, wspace=0.3, hspace=0.3)
    axes = fig.subplots(2, 3)
    fontsize = float(np.clip(11 - 0.6 * k, 5, 10))
    for row, (kind, label) in enumerate((("corr", "returns"), ("abs_corr", "absolute returns"))):
        mats = {name: np.asarray(v, dtype=float) for name, v in cross[kind].items()}
        diff = mats["difference"]  # NaN on the diagonal: 1 - 1, nothing to see
        lim = float(max(0.05, np.nanmax(np.abs(diff)) if k > 1 else 0.05))
        _heatmap(axes[row, 0], mats["original"], symbols, f"original: {label}",
                 vmin=-1, vmax=1, cmap="RdBu_r", fmt=".2f", fontsize=fontsize)
        _heatmap(axes[row, 1], mats["median"], symbols,
                 f"synthetic median ({cross['n_scenarios']}): {label}",
                 vmin=-1, vmax=1, cmap="RdBu_r", fmt=".2f", fontsize=fontsize)
        _heatmap(axes[row, 2], diff, symbols, f"synthetic − original: {label}",
                 vmin=-lim, vmax=lim, cmap="PuOr_r", fmt="+.3f", fontsize=fontsize)
    return _png(fig)


def _fig_pair_distributions(cross: dict, scenarios: pd.DataFrame) -> str:
    pairs = cross["pairs"]
    ncols = min(4, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    fig = _figure(3.5 * ncols, 2.3 * nrows, left=0.03, right=0.98, top=1 - 0.35 / (2.3 * nrows),
                  bottom=0.4 / (2.3 * nrows), hspace=0.6, wspace=0.15)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()

    # Pairs in order, returns and absolute returns of a pair next to each other.
    order = sorted(range(len(pairs)), key=lambda i: (pairs[i]["a"], pairs[i]["b"],
                                                     pairs[i]["kind"] != "corr"))
    for ax, i in zip(axes, order, strict=False):
        p = pairs[i]
        v = scenarios[p["key"]].to_numpy(dtype=float) if p["key"] in scenarios else np.array([])
        v = v[np.isfinite(v)]
        if len(v):
            ax.hist(v, bins=min(30, max(5, len(v) // 4)), color=_SYN, alpha=0.6)
        if math.isfinite(p["original"]):
            ax.axvline(p["original"], color=_ORIG, lw=1.5)
        what = "corr" if p["kind"] == "corr" else "|r| corr"
        _small_panel(ax, f"{p['a']}–{p['b']} {what}")
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    return _png(fig)


def _regime_colors(k: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["RdYlBu_r"]  # calm blue to volatile red
    return [cmap(0.1 + 0.8 * i / max(k - 1, 1)) for i in range(k)]


def _fig_transitions(reg: dict) -> str:
    fitted = np.asarray(reg["fitted_transition"], dtype=float)
    used = np.asarray(reg["transition"], dtype=float)
    k = fitted.shape[0]
    labels = [str(i) for i in range(k)]
    changed = not np.allclose(fitted, used)
    n = 3 if changed else 2
    size = max(3.2, 0.7 * k + 1.8)
    fig = _figure(n * size + 0.4, size + 0.3, left=0.06, right=0.99, top=0.88, bottom=0.12,
                  wspace=0.3)
    axes = np.atleast_1d(fig.subplots(1, n))
    fontsize = float(np.clip(11 - 0.7 * k, 5, 10))
    _heatmap(axes[0], fitted, labels, "fitted P (from the input)", vmin=0, vmax=1,
             cmap="Blues", fmt=".4f", fontsize=fontsize)
    _heatmap(axes[1], used, labels, "used P" + (" (conditioned)" if changed else ""),
             vmin=0, vmax=1, cmap="Blues", fmt=".4f", fontsize=fontsize)
    if changed:
        diff = used - fitted
        lim = float(max(1e-4, np.abs(diff).max()))
        _heatmap(axes[2], diff, labels, "used − fitted", vmin=-lim, vmax=lim, cmap="PuOr_r",
                 fmt="+.4f", fontsize=fontsize)
    for ax in axes:
        ax.set_xlabel("to regime", fontsize=8)
        ax.set_ylabel("from regime", fontsize=8)
    return _png(fig)


def _fig_regime_shares(reg: dict) -> str:
    k = reg["n_regimes"]
    shares = np.asarray(reg["shares"], dtype=float).reshape(-1, k)
    fig = _figure(max(6.5, 1.6 * k + 3.0), 3.8, left=0.1, right=0.98, top=0.91, bottom=0.24)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    colors = _regime_colors(k)
    for r in range(k):
        v = shares[:, r][np.isfinite(shares[:, r])]
        if len(v):
            ax.boxplot([v], positions=[r], widths=0.5, showfliers=False,
                       medianprops={"color": "0.1"})
            ax.plot(r + rng.uniform(-0.18, 0.18, len(v)), v, "o", ms=3, alpha=0.7,
                    color=colors[r], mec="none", label="scenarios" if r == 0 else None)
        ax.plot([r - 0.3, r + 0.3], [reg["input_shares"][r]] * 2, color=_ORIG, lw=2,
                label="input" if r == 0 else None)
        ax.plot([r - 0.3, r + 0.3], [reg["longrun_used"][r]] * 2, color="0.1", lw=1.2, ls="--",
                label="long-run share of used P" if r == 0 else None)
    ax.set_xticks(range(k), [f"regime {r}" for r in range(k)], fontsize=8)
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of bars", fontsize=9)
    ax.set_title("Share of bars in each regime", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1),
              ncols=3)
    _style(ax)
    return _png(fig)


def _fig_regime_paths(reg: dict) -> str:
    from matplotlib.patches import Patch

    rows = {f"scenario {s}": p for s, p in reg["paths"].items()}
    if reg.get("input_path"):
        # The input's own path first: what the scenarios' paths are drawn against.
        rows = {"input": reg["input_path"], **rows}
    paths = rows
    k = reg["n_regimes"]
    colors = _regime_colors(k)
    fig = _figure(12, 0.32 * len(paths) + 1.1, left=0.08, right=0.84,
                  top=1 - 0.35 / (0.32 * len(paths) + 1.1),
                  bottom=0.55 / (0.32 * len(paths) + 1.1))
    ax = fig.add_subplot()
    for row, path in enumerate(paths.values()):
        starts = np.concatenate([[0], np.cumsum([b for _, b in path])[:-1]])
        for r in range(k):
            segs = [(int(s), int(b)) for s, (g, b) in zip(starts, path, strict=True) if g == r]
            if segs:
                ax.broken_barh(segs, (row - 0.4, 0.8), facecolors=colors[r], lw=0)
    ax.set_yticks(range(len(paths)), list(paths), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("bar", fontsize=9)
    ax.set_xlim(0, max((sum(b for _, b in p) for p in paths.values()), default=1))
    ax.tick_params(labelsize=8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=[Patch(color=colors[r], label=f"regime {r}") for r in range(k)],
              fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    n_scen = len(reg["paths"])
    title = f"Regime paths of the first {n_scen} scenarios"
    ax.set_title(title + (" and of the input" if reg.get("input_path") else ""), fontsize=10)
    return _png(fig)


def _fig_timeframes(base: np.ndarray, tfs: dict, min_fidelity: float) -> str:
    from matplotlib.ticker import MaxNLocator

    rules = list(tfs)
    n = len(rules) + 2
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    fig = _figure(14, 3.2 * nrows, left=0.045, right=0.99, top=1 - 0.28 / (3.2 * nrows),
                  bottom=0.5 / (3.2 * nrows), wspace=0.22, hspace=0.45)
    axes = list(np.atleast_1d(fig.subplots(nrows, ncols)).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    every = [base] + [np.asarray(tfs[r]["scores"], dtype=float) for r in rules]
    finite = np.concatenate([v[np.isfinite(v)] for v in every])
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 100.0)
    bins = np.linspace(lo - 0.25, hi + 0.25, int(np.clip(len(base) // 4, 10, 40)) + 1)
    xlim = (min(lo, min_fidelity) - 1 if math.isfinite(min_fidelity) else lo - 1, hi + 1)
    for ax, v, title in zip(axes, every, ["base bars"] + [f"timeframe {r}" for r in rules],
                            strict=False):
        ax.hist(v[np.isfinite(v)], bins=bins, color=_SYN, alpha=0.6)
        if math.isfinite(min_fidelity):
            ax.axvline(min_fidelity, color="0.2", ls="--", lw=1.2,
                       label=f"min_fidelity = {min_fidelity:g}")
        ax.axvline(float(np.nanmedian(v)) if np.isfinite(v).any() else lo, color=_SYN, lw=1.2,
                   label="median")
        ax.set_xlim(*xlim)
        ax.set_title(f"Fidelity at {title}", fontsize=10)
        ax.set_xlabel("fidelity score", fontsize=9)
        ax.set_ylabel("scenarios", fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _style(ax)
    axes[0].legend(fontsize=8, frameon=False)
    ax = axes[len(rules) + 1]
    for j, r in enumerate(rules):
        ax.plot(base, every[j + 1], ".", ms=4, alpha=0.7, color=f"C{j}", label=r)
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.8, ls="--")
    ax.set_xlabel("fidelity at base bars", fontsize=9)
    ax.set_ylabel("fidelity at timeframe", fontsize=9)
    ax.set_title("Same scenario, base vs timeframe", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    _style(ax)
    return _png(fig)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
max-width:1200px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{font-size:1.6em;margin:.2em 0 .6em}h2{font-size:1.25em;margin:1.8em 0 .5em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.note{color:#555;font-size:12.5px;max-width:70em}.warn{color:#a40}
code{background:#f3f3f3;padding:0 .2em}
.row{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
table.matrix caption{font-size:12.5px;color:#555;text-align:left;padding-bottom:.2em}
nav ul{margin:.4em 0;padding-left:1.2em;columns:2}
summary{cursor:pointer}summary h2{display:inline-block;margin:1.2em 0 .3em;border:none}
details>table{margin-left:1em}
"""


def _date(v: Any) -> str:
    text = str(v)
    return text[:-9] if text.endswith(" 00:00:00") else text


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, fmt: str = ".4g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return format(v, fmt) if isinstance(v, float | np.floating) else _esc(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], first_left: bool = True,
           table_id: str | None = None) -> str:
    tid = f' id="{table_id}"' if table_id else ""
    head = "".join(f'<th class="l">{_esc(h)}</th>' if i == 0 and first_left else
                   f"<th>{_esc(h)}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = "".join(f'<td class="l">{c}</td>' if i == 0 and first_left else f"<td>{c}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{b64}">'


def build_report(
    run_dir: str,
    *,
    storage_options: dict | None = None,
    max_series: int = 200,
    original: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    seed: int = 0,
) -> str:
    """The fidelity report of a finished run, as the text of one self-contained HTML file.

    Parameters
    ----------
    run_dir : str
        The run's output directory or URL (holding ``manifest.json``).
    storage_options : dict, optional
        fsspec options to reach ``run_dir`` (e.g. S3 credentials).
    max_series : int, default 200
        Series read for the plots, the diversity and the indistinguishability sections (the
        first by scenario number). Metric, score and drawdown distributions use every scenario.
    original : DataFrame or mapping of str to DataFrame, optional
        The run's input: one frame, or ``{symbol: frame}`` for a multi-asset run. By default
        it is reloaded from the manifest's configuration (a relative path is resolved against
        the current directory) and checked against the manifest's content hash.
    seed : int, default 0
        Seeds the window sampling and the classifier, so a report is reproducible.

    Returns
    -------
    str
        The HTML text.

    Raises
    ------
    InputDataError
        ``run_dir`` holds no run manifest, a listed series file is missing, the input cannot
        be reloaded, or ``original`` does not match the run (one frame for a multi-asset run,
        or the other way round).

    Notes
    -----
    Definitions of the verbatim share, the windows and the tests: see the module docstring and
    :func:`verbatim_share`, :func:`classifier_two_sample_test`, :func:`predictive_score`.
    A multi-asset run gets every per-series section for each asset, plus an asset overview
    and the cross-asset correlations; a regime run a regime section; a run with higher
    timeframes a timeframe section (see the module docstring).
    """
    run = _load_run(str(run_dir), storage_options, max_series, original)
    m = run.manifest
    model, cfg = m["model"], m["config"]
    min_fidelity = float(cfg.get("generation", {}).get("min_fidelity", float("nan")))
    scores = run.scenarios["score"].to_numpy(dtype=float)
    n_acc = len(run.scenarios)
    multi = bool(run.symbols)

    header = _header_rows(run, scores, min_fidelity, max_series)
    blocks: dict[str, dict[str, str]] = {}
    data: dict[str, Any] = {"run": {"status": m.get("status"),
                                    "block_choice": model.get("block_choice"),
                                    "preflight": m.get("preflight"),
                                    "partial": m.get("partial")}}
    per_asset: dict[str, dict] = {}
    sources = _sources(run, run.assets[0].bars.shape[1])
    for a in run.assets:
        x, y = a.x, a.y
        div = _diversity(a, x, y)
        ind = _indistinguishability(a, seed, sources)
        per_asset[a.symbol] = {"diversity": div, "indistinguishability": ind}
        blocks[a.symbol] = _asset_blocks(a, x, y, div, ind, n_acc, run.conditioned)

    drawdowns = [(f"{a.symbol}: max drawdown" if a.symbol else "Max drawdown across scenarios",
                  a.scenarios["max_drawdown"].to_numpy(dtype=float),
                  _opt_float(a.original_metrics.get("max_drawdown")),
                  _opt_float(a.reference.get("max_drawdown")) if run.conditioned else None)
                 for a in run.assets]
    scores_html = "\n".join([
        '<section id="scores"><h2>Scores and drawdowns</h2>',
        _img(_fig_scores(scores, min_fidelity, drawdowns),
             "fidelity and max drawdown histograms"),
        *(['<p class="note">The fidelity score of a multi-asset scenario is one score over '
           "all assets' metrics and the pairs' correlations; max drawdowns are per asset.</p>"]
          if multi else []),
        "</section>",
    ])

    extra = []
    if model.get("timeframes"):
        tfs = _timeframes(run)
        extra.append(_timeframes_html(tfs, scores, model, min_fidelity, run.conditioned))
        data["timeframes"] = {
            rule: {**{k: v for k, v in t.items() if k != "scores"},
                   "score_median": float(np.nanmedian(t["scores"]))
                   if np.isfinite(t["scores"]).any() else None}
            for rule, t in tfs.items()}
    if model.get("regimes"):
        reg = _regimes(run)
        extra.append(_regimes_html(reg, run))
        data["regimes"] = {k: v for k, v in reg.items()
                           if k not in ("shares", "paths", "input_path")}

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Fidelity report {_esc(m.get('run_id', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Fidelity report — run {_esc(m.get('run_id', ''))}</h1>",
        '<section id="run"><h2>Run</h2>',
        _table(["", ""], header, table_id="run-table"),
        "</section>",
    ]
    if not multi:
        b = blocks[""]
        parts += [b["paths"], b["returns"], b["dependence"], b["metrics"], scores_html, *extra,
                  b["diversity"], b["indistinguishability"]]
        data.update(per_asset[""])
    else:
        cross = _cross_asset(run)
        overview = {a.symbol: _asset_overview(a, per_asset[a.symbol]["diversity"])
                    for a in run.assets}
        parts += [_nav(run, extra), _overview_html(run, overview), _cross_html(cross, run),
                  scores_html, *extra]
        for a in run.assets:
            b = blocks[a.symbol]
            sid = _slug(a.symbol)
            parts += [f'<section id="asset-{sid}" class="asset"><details open>'
                      f"<summary><h2>Asset {_esc(a.symbol)}</h2></summary>",
                      b["paths"], b["returns"], b["dependence"], b["metrics"], b["diversity"],
                      b["indistinguishability"], "</details></section>"]
        data["assets"] = {s: {**d, "overview": overview[s]} for s, d in per_asset.items()}
        data["cross_asset"] = cross
    parts += [
        '<script type="application/json" id="report-data">',
        json.dumps(_jsonable(data), sort_keys=True).replace("</", "<\\/"),
        "</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _slug(symbol: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in symbol)


def _header_rows(run: _Run, scores: np.ndarray, min_fidelity: float, max_series: int
                 ) -> list[tuple[str, str]]:
    m = run.manifest
    model = m["model"]
    inp = m.get("input", {})
    summary = m.get("summary", {})
    first = run.assets[0]
    n_acc = len(run.scenarios)
    source = inp.get("source", "?")
    if isinstance(source, Mapping):
        source = ", ".join(f"{k}: {v}" for k, v in source.items())
    rows = [
        ("run id", _esc(m.get("run_id", "?")) + ("" if m.get("status") == "complete"
                                                  else ' <span class="warn">(partial)</span>')),
        ("input", f"{_esc(source)}: {inp.get('rows', len(first.original))} rows, "
                  f"{_esc(_date(inp.get('start', first.original.index[0])))} .. "
                  f"{_esc(_date(inp.get('end', first.original.index[-1])))}"),
    ]
    if run.symbols:
        align = inp.get("alignment") or {}
        dropped = ", ".join(f"{s} {align[s].get('dropped', 0)}" for s in run.symbols
                            if isinstance(align.get(s), Mapping))
        rows.append(("assets", f"{len(run.symbols)}: {_esc(', '.join(run.symbols))}"
                     + (f" (aligned on shared timestamps; rows dropped: {_esc(dropped)})"
                        if dropped else "")))
    rows += [
        ("method", _esc(model.get("method"))),
        *_block_rows(model),
        ("bars per series", _esc(model.get("length", first.bars.shape[1]))),
        ("series", f"{n_acc} accepted of {summary.get('requested', n_acc)} requested"
                   f" ({len(first.bars)} read for plots and tests, max_series={max_series})"),
        ("fidelity min / median / max",
         f"{scores.min():.2f} / {np.median(scores):.2f} / {scores.max():.2f}"),
        ("threshold (min_fidelity)", _num(min_fidelity, "g")),
    ]
    if run.conditioned:
        rows.append(("fidelity reference", '<span class="warn">conditioned</span>: scores measure '
                     'distance to the conditioned regime generator, not to the original '
                     '(<a href="#regimes">Regimes</a>)'))
    if model.get("timeframes"):
        rows.append(("higher timeframes", _esc(", ".join(model["timeframes"]))
                     + ' (<a href="#timeframes">Timeframes</a>)'))
    rows += _preflight_rows(m)
    rows += [
        ("seed", _esc(m.get("seed", "?"))),
        ("package version", _esc(m.get("package_version", "?"))),
    ]
    return rows


def _block_rows(model: Mapping) -> list[tuple[str, str]]:
    """The block size, and how it was chosen: the dependence length, the pilot's median
    fidelity at each length it tried, and the reason."""
    choice = model.get("block_choice")
    if not choice:
        return [("block size", _esc(model.get("block_size")))]
    rows = [("block size", f"{_esc(choice['block_size'])} ({_esc(choice['mode'])}; dependence "
                           f"length {_esc(choice['reference'])} bars)")]
    grid, medians = choice.get("grid") or [], choice.get("median_fidelity") or []
    if grid and len(grid) == len(medians):
        rows.append(("block length pilot", "median fidelity " + ", ".join(
            f"{_num(m, '.1f')} at {_esc(b)} bars" for b, m in zip(grid, medians, strict=True))
            + f" ({_esc(choice.get('pilot_candidates', '?'))} candidates per length)"))
    rows.append(("why this block size", _esc(choice.get("reason", ""))))
    return rows


def _preflight_rows(m: Mapping) -> list[tuple[str, str]]:
    """The preflight's estimate, and for a partial run why it is partial."""
    rows = []
    check = m.get("preflight")
    if check:
        verdict = _esc(check.get("verdict", "?"))
        if check.get("verdict") != "ok":
            verdict = f'<span class="warn">{verdict}</span>'
        rows.append(("preflight", f"{verdict}: {_esc(check.get('message', ''))}"))
    partial = m.get("partial")
    if m.get("status") == "partial" and partial:
        failed = partial.get("failed_scenarios") or []
        rows.append(("partial run", f'<span class="warn">{len(failed)} scenario(s) found no '
                     f"candidate</span>: {_esc(partial.get('reason', ''))}"))
    return rows


def _asset_blocks(a: _Asset, x: np.ndarray, y: np.ndarray, div: dict, ind: dict, n_acc: int,
                  conditioned: bool) -> dict[str, str]:
    """The per-series sections of one asset (ids and headings suffixed for a multi-asset run)."""
    h = "h3" if a.symbol else "h2"

    def open_(name: str, title: str) -> str:
        sid = f"{name}-{_slug(a.symbol)}" if a.symbol else name
        return f'<section id="{sid}"><{h}>{title}</{h}>'

    metric_rows = []
    for n in a.scored:
        v = a.scenarios[n].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        r = a.original_metrics.get(n)
        row = [_esc(n), _num(None if r is None else float(r))]
        if conditioned:
            c = a.reference.get(n)
            row.append(_num(None if c is None else float(c)))
        row += [_num(float(v.min())) if len(v) else "–",
                _num(float(np.median(v))) if len(v) else "–",
                _num(float(v.max())) if len(v) else "–",
                _num(a.weights.get(n), "g"),
                _num(a.spreads.get(n)) + ("&thinsp;†" if n in _P_VALUE_METRICS else ""),
                _num(_median_distance(a, n), ".2f")]
        metric_rows.append(row)
    head = ["metric", "original"] + (["conditioned reference"] if conditioned else []) + [
        "synthetic min", "synthetic median", "synthetic max", "weight", "spread",
        "median |Δ| / spread"]
    tid = f"metric-table-{_slug(a.symbol)}" if a.symbol else "metric-table"
    cond_note = (" The dashed black line is the conditioned reference the score measures "
                 "against (median of the conditioned generator's replicates)." if conditioned
                 else "")
    spread_note = (
        "Spread: the metric's sampling spread from bootstrap replicates of the conditioned "
        "generator, the unit in which the fidelity score measures distance "
        "(docs/methodology.md); median |Δ| / spread is the median distance of the scenarios "
        "from the conditioned reference in those units, not from the original."
        if conditioned else
        "Spread: the metric's sampling spread from bootstrap replicates of the original, the "
        "unit in which the fidelity score measures distance (docs/methodology.md); median "
        "|Δ| / spread is the median distance of the scenarios from the original in those "
        "units.")
    return {
        "paths": "\n".join([
            open_("paths", "Price paths"),
            _img(_fig_fan(a), "fan chart of synthetic closes over the original close"
                 + (f" ({a.symbol})" if a.symbol else "")),
            '<p class="note">Percentile bands across the synthetic series at each bar, their '
            "median, three sample paths and the original close (log scale).</p></section>"]),
        "returns": "\n".join([
            open_("returns", "Return distribution"),
            _img(_fig_returns(x, y), "return densities and QQ plot"),
            '<p class="note">Close log-returns <code>log(C_t / C_{t-1})</code>; synthetic '
            f"returns pooled over {len(y)} series. The QQ plot sets quantiles of the pooled "
            "synthetic returns against the original's at the same probabilities; points on the "
            "dashed line mean equal distributions.</p></section>"]),
        "dependence": "\n".join([
            open_("dependence", "Dependence"),
            _img(_fig_acf(x, y), "ACF of returns and of absolute returns"),
            '<p class="note">Autocorrelation (statsmodels definition) at lags 1–40. The band is '
            "the 5–95 % range of the synthetic series' ACFs; the grey band the ±1.96/√n range of "
            "white noise of the original's length.</p></section>"]),
        "metrics": "\n".join([
            open_("metrics", "Metrics"),
            _img(_fig_metrics(a, a.scored, conditioned), "metric distributions across scenarios"),
            f'<p class="note">Histograms over all {n_acc} scenarios; the red line is the '
            "original's value. The Ljung–Box and ARCH LM p-values are shown as −log10 p (they "
            f"underflow toward 0 on long series; the score uses the statistic per observation)."
            f"{cond_note}</p>",
            _table(head, metric_rows, table_id=tid),
            f'<p class="note">{spread_note} † Spread of the test statistic per observation '
            "(Q / n, LM / n), on which these two metrics are scored.</p></section>"]),
        "diversity": _diversity_html(div, open_("diversity", "Diversity"),
                                     f"diversity-spread-{_slug(a.symbol)}" if a.symbol
                                     else "diversity-spread",
                                     f"diversity-table-{_slug(a.symbol)}" if a.symbol
                                     else "diversity-table"),
        "indistinguishability": _indist_html(ind, open_("indistinguishability",
                                                        "Indistinguishability"),
                                             h="h4" if a.symbol else "h3",
                                             suffix=f"-{_slug(a.symbol)}" if a.symbol else ""),
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _nav(run: _Run, extra: Sequence[str]) -> str:
    links = [("assets", "Asset overview"), ("cross-asset", "Cross-asset correlations"),
             ("scores", "Scores and drawdowns")]
    if run.manifest["model"].get("timeframes"):
        links.append(("timeframes", "Timeframes"))
    if run.manifest["model"].get("regimes"):
        links.append(("regimes", "Regimes"))
    links += [(f"asset-{_slug(s)}", f"Asset {s}") for s in run.symbols]
    items = "".join(f'<li><a href="#{i}">{_esc(t)}</a></li>' for i, t in links)
    return f'<nav id="contents"><ul>{items}</ul></nav>'


def _overview_html(run: _Run, overview: dict) -> str:
    rows = []
    sources = run.manifest.get("input", {}).get("source")
    for a in run.assets:
        o = overview[a.symbol]
        src = sources.get(a.symbol, "") if isinstance(sources, Mapping) else ""
        v, t, d = o["volatility"], o["terminal_log_return"], o["max_drawdown"]
        rows.append([
            f'<a href="#asset-{_slug(a.symbol)}">{_esc(a.symbol)}</a>', _esc(src),
            _num(v["original"]), _num(v["median"]),
            _num(d["original"], ".3f"), _num(d["median"], ".3f"),
            f"{_num(t['original'], '.3f')}",
            f"{_num(t['median'], '.3f')} [{_num(t['p5'], '.3f')}, {_num(t['p95'], '.3f')}]",
            _num(o["mean_median_distance"], ".2f"),
            (f"{_esc(o['worst_metric'])} ({_num(o['worst_median_distance'], '.2f')})"
             if o["worst_metric"] else "–"),
        ])
    return "".join([
        '<section id="assets"><h2>Asset overview</h2>',
        _table(["asset", "source", "volatility: original", "volatility: synthetic median",
                "max drawdown: original", "max drawdown: synthetic median",
                "terminal log-return: original", "terminal log-return: synthetic median [5 %, "
                "95 %]", "mean median |Δ| / spread", "farthest metric (median |Δ| / spread)"],
               rows, table_id="asset-overview"),
        '<p class="note">One row per asset; each asset has its own full set of sections below '
        "(price paths, returns, dependence, metrics, diversity, indistinguishability), which "
        "can be folded. Volatility is the standard deviation of close log-returns per bar. "
        "Median |Δ| / spread: as in each asset's metric table, averaged over its scored metrics "
        "(p-value metrics excluded); the farthest metric is the one the scenarios miss most, "
        "in units of its sampling spread.</p></section>",
    ])


def _matrix_table(symbols: Sequence[str], mat: Sequence[Sequence[float]], fmt: str,
                  table_id: str, caption: str) -> str:
    rows = [[_esc(s)] + [_num(float(v), fmt) for v in row] for s, row in zip(symbols, mat,
                                                                                strict=True)]
    t = _table([""] + list(symbols), rows, table_id=table_id)
    return t.replace(f'<table id="{table_id}">',
                     f'<table id="{table_id}" class="matrix"><caption>{_esc(caption)}</caption>', 1)


def _cross_html(cross: dict, run: _Run) -> str:
    symbols = cross["symbols"]
    matrices = []
    for kind, label in (("corr", "returns"), ("abs_corr", "absolute returns")):
        tables = [_matrix_table(symbols, cross[kind][name], fmt, f"{kind}-{name}",
                                f"{title}: {label}")
                  for name, fmt, title in (("original", ".3f", "original"),
                                           ("median", ".3f", "synthetic median"),
                                           ("difference", "+.3f", "synthetic − original"))]
        matrices.append('<div class="row">' + "".join(tables) + "</div>")
    rows = []
    for p in cross["pairs"]:
        outside = math.isfinite(p["rank"]) and not 5 <= p["rank"] <= 95
        rank = _num(p["rank"], ".0f") + (" %" if math.isfinite(p["rank"]) else "")
        rows.append([
            f"{_esc(p['a'])} – {_esc(p['b'])}",
            "returns" if p["kind"] == "corr" else "absolute returns",
            _num(p["original"], ".3f"),
            _num(p["p5"], ".3f"), _num(p["median"], ".3f"), _num(p["p95"], ".3f"),
            _num(p["median"] - p["original"], "+.3f"),
            f'<span class="warn">{rank}</span>' if outside else rank,
            _num(p["spread"], ".4f"), _num(p["weight"], "g"), _num(p["median_distance"], ".2f"),
        ])
    cond = (" The run's fidelity reference is conditioned: the score measures each pair "
            "against the conditioned generator's median correlation, not the original's."
            if run.conditioned else "")
    return "\n".join([
        '<section id="cross-asset"><h2>Cross-asset correlations</h2>',
        _img(_fig_corr_matrices(cross), "correlation matrices: original, synthetic median, "
             "difference"),
        *matrices,
        _img(_fig_pair_distributions(cross, run.scenarios),
             "distribution of each pair's correlation across scenarios"),
        _table(["pair", "of", "original", "synthetic 5 %", "synthetic median", "synthetic 95 %",
                "median − original", "original's rank", "spread", "weight",
                "median |Δ| / spread"], rows, table_id="cross-asset-table"),
        '<p class="note">Pearson correlation of two assets\' close log-returns bar by bar '
        "(<code>corr</code>), and of their absolute log-returns (<code>abs_corr</code>: do "
        "volatility bursts coincide?), over the whole series. The synthetic median is the "
        f"median over all {cross['n_scenarios']} scenarios of each scenario's correlation, "
        "taken pair by pair (so the median matrix need not be positive semi-definite). In the "
        "histograms the red line is the original. The original's rank is the percentage of "
        "scenarios whose correlation is below the original's (marked when outside 5–95 %). "
        "Spread and weight are those the fidelity score uses for the pair; median |Δ| / spread "
        f"is the median distance of the scenarios from the reference in spreads.{cond}</p>",
        "</section>",
    ])


def _regimes_html(reg: dict, run: _Run) -> str:
    k = reg["n_regimes"]
    rows = []
    for r in range(k):
        name = f"{r}" + (" (calmest)" if r == 0 else " (most volatile)" if r == k - 1 else "")
        rows.append([
            name, _num(reg["volatility"][r], ".5f"), _num(reg["synthetic_volatility"][r], ".5f"),
            _num(reg["input_shares"][r], ".3f"), _num(reg["longrun_fitted"][r], ".3f"),
            _num(reg["longrun_used"][r], ".3f"),
            f"{_num(reg['share_median'][r], '.3f')} [{_num(reg['share_p5'][r], '.3f')}, "
            f"{_num(reg['share_p95'][r], '.3f')}]",
            _num(reg["mean_stay_fitted"][r], ".1f"), _num(reg["mean_stay_used"][r], ".1f"),
            _num(reg["synthetic_mean_stay"][r], ".1f"),
        ])
    labels = [str(i) for i in range(k)]

    def matrix(key: str, caption: str) -> str:
        return _matrix_table(labels, reg[key], ".4f", f"transition-{key.split('_')[0]}"
                             if key != "transition" else "transition-used", caption)

    cond = reg.get("condition") or {}
    if reg["conditioned"]:
        spec = ", ".join(f"{k_}={cond[k_]}" for k_ in ("condition", "share", "duration_factor")
                         if cond.get(k_) is not None)
        ref_note = (
            '<p class="warn"><b>Reference: conditioned.</b> The scenarios follow a conditioned '
            f"transition matrix ({_esc(spec)}), and their fidelity is measured against the "
            "conditioned generator (the median of its own bootstrap replicates' metrics), not "
            "against the original: a high score says that a scenario is typical of the stressed "
            "generator, not that it resembles the original history. The metric sections show "
            "both the original and this reference.</p>")
    else:
        ref_note = ('<p class="note">Reference: the original. The regime paths follow the '
                    "fitted transition matrix.</p>")
    multi = (f" Regimes are labelled on the first asset ({_esc(run.symbols[0])}) and shared by "
             "all assets (their bars are drawn at the same indices)." if run.symbols else "")
    return "\n".join([
        '<section id="regimes"><h2>Regimes</h2>',
        ref_note,
        _img(_fig_transitions(reg), "regime transition matrices: fitted and used"),
        '<div class="row">' + matrix("fitted_transition", "fitted P") + matrix(
            "transition", "used P") + "</div>",
        _img(_fig_regime_shares(reg), "share of bars in each regime across scenarios"),
        _img(_fig_regime_paths(reg), "regime paths of the first scenarios"),
        _table(["regime", "input volatility", "synthetic volatility",
                "input share", "long-run share, fitted P", "long-run share, used P",
                "synthetic share median [5 %, 95 %]", "mean stay, fitted P (bars)",
                "mean stay, used P (bars)", "synthetic mean stay (bars)"], rows,
               table_id="regime-table"),
        f'<p class="note">Labelling: {_esc(reg["labelling"])}, {k} regimes numbered from the '
        "calmest. <code>P[i, j]</code> is the per-bar probability of moving from regime i to "
        "regime j; the long-run share is P's stationary distribution and the mean stay "
        "<code>1 / (1 − P[i, i])</code>. Input volatility: standard deviation of the input's "
        "close log-returns in the regime; synthetic volatility: of the bars the scenarios' "
        f"regime paths put in it (pooled over the {len(run.scenario_ids)} series read). Shares "
        f"and mean stays of the scenarios are over all {reg['n_scenarios']} regime paths in the "
        "manifest; a stay cut by a path's start or end counts as a shorter stay, so mean stays "
        f"of long-lived regimes come out below <code>1 / (1 − P[i, i])</code>.{multi}</p>",
        "</section>",
    ])


def _timeframes_html(tfs: dict, base: np.ndarray, model: dict, min_fidelity: float,
                     conditioned: bool) -> str:
    from scipy.stats import spearmanr

    def fid_row(label: str, bars: Any, n_metrics: int, s: np.ndarray, rho: str) -> list:
        f = s[np.isfinite(s)]
        return [label, _esc(bars), n_metrics,
                _num(float(f.min()), ".2f") if len(f) else "–",
                _num(float(np.median(f)), ".2f") if len(f) else "–",
                _num(float(f.max()), ".2f") if len(f) else "–",
                _num(float(np.mean(f >= min_fidelity)) * 100, ".0f") + " %" if len(f) else "–",
                rho]

    rows = [fid_row("base", model.get("length", "?"), len(model.get("scored_metrics", [])),
                    base, "–")]
    details = []
    for rule, t in tfs.items():
        s = np.asarray(t["scores"], dtype=float)
        ok = np.isfinite(s) & np.isfinite(base)
        rho = (_num(float(spearmanr(base[ok], s[ok]).statistic), ".2f")
               if ok.sum() >= 3 and np.ptp(s[ok]) > 0 and np.ptp(base[ok]) > 0 else "–")
        rows.append(fid_row(_esc(rule), t["bars"], len(t["metrics"]), s, rho))
        mrows = []
        for r in t["metrics"]:
            outside = math.isfinite(r["rank"]) and not 5 <= r["rank"] <= 95
            rank = _num(r["rank"], ".0f") + (" %" if math.isfinite(r["rank"]) else "")
            mrows.append([_esc(r["metric"]), _num(r["original"]), _num(r["p5"]),
                          _num(r["median"]), _num(r["p95"]),
                          f'<span class="warn">{rank}</span>' if outside else rank])
        details.append(
            f"<details><summary>Metrics at {_esc(rule)} ({_esc(t['bars'])} bars per series; "
            f"original aggregated: {_esc(t['original_bars'] or '–')} bars)</summary>"
            + _table(["metric", "original (aggregated)", "synthetic 5 %", "synthetic median",
                      "synthetic 95 %", "original's rank"], mrows,
                     table_id=f"timeframe-metrics-{_tf_id(rule)}")
            + "</details>")
    cond = (" The run's reference is conditioned: timeframe scores, like the base score, "
            "measure distance to the conditioned generator; the original column is the "
            "original aggregated." if conditioned else "")
    return "\n".join([
        '<section id="timeframes"><h2>Timeframes</h2>',
        _img(_fig_timeframes(base, tfs, min_fidelity),
             "fidelity at the base bars and at each higher timeframe"),
        _table(["timeframe", "bars per series", "scored metrics", "fidelity min",
                "fidelity median", "fidelity max", "share ≥ min_fidelity",
                "Spearman ρ with base"], rows, table_id="timeframe-table"),
        *details,
        '<p class="note">Each scenario is also delivered aggregated to the higher timeframes '
        "(open of the first bar, highest high, lowest low, close of the last bar, summed "
        "volume) and scored there against the original aggregated the same way, with spreads "
        "from bootstrap replicates aggregated likewise. Only the base score decides acceptance "
        "(min_fidelity); a timeframe's share ≥ min_fidelity says how many accepted scenarios "
        "would also pass there. Spearman ρ: do the scenarios that score well on base bars also "
        "score well at the timeframe? The original's rank is the percentage of scenarios "
        f"whose metric at the timeframe is below the original's (marked outside 5–95 %).{cond}"
        "</p>",
        "</section>",
    ])


def _tf_id(rule: str) -> str:
    return _slug(str(rule))


def _diversity_html(d: dict, head: str = '<section id="diversity"><h2>Diversity</h2>',
                    spread_id: str = "diversity-spread", table_id: str = "diversity-table"
                    ) -> str:
    rows = []
    for key, label in (("terminal_log_return", "terminal log-return log(C_end / S)"),
                       ("max_drawdown", "max drawdown")):
        r = d[key]
        rows.append([label, _num(r["original"]), _num(r["median"]), _num(r["std"]),
                     _num(r["p5"]), _num(r["p95"]), _num(r["range_5_95"]), r["n"]])
    vs = d["verbatim_share"]
    return "".join([
        head,
        _table(["quantity", "original", "median", "std", "5 %", "95 %", "5–95 % range",
                "series"], rows, table_id=spread_id),
        _table(["quantity", "value"], [
            ["mean pairwise correlation of log-return paths", _num(d["mean_pairwise_corr"])],
            ["max pairwise correlation", _num(d["max_pairwise_corr"])],
            ["noise level of one correlation (1/√bars)", _num(d["corr_noise"])],
            [f"verbatim share, mean over series (runs ≥ {vs['min_run']} bars)",
             _num(vs["mean"], ".3f")],
            ["verbatim share, min / max", f"{_num(vs['min'], '.3f')} / {_num(vs['max'], '.3f')}"],
        ], table_id=table_id),
        '<p class="note">Spreads are across scenarios: terminal log-returns over the '
        f"{d['n_series']} series read, max drawdowns over all scenarios. Pairwise correlations "
        "are Pearson correlations between the series' log-return paths bar by bar; independent "
        "scenarios give a mean near 0, and duplicated or heavily overlapping scenarios show as "
        "a maximum near 1.<br>"
        f"<b>Verbatim share</b>: a bar of a synthetic series is verbatim if it lies in a stretch "
        f"of at least {vs['min_run']} consecutive returns equal to a consecutive stretch of the "
        "original's returns (equal within 1e-11, to absorb the rounding of rebuilding prices); "
        "the share is the fraction of the series' bars that are verbatim. Block bootstrap "
        "copies blocks of the original, so a high share is expected with long blocks: it says "
        "how much of each scenario is the original history replayed in a new order.</p>",
        "</section>",
    ])


def _interval(v: dict) -> str:
    return f"{v['mean']:.3f} [{v['lo']:.3f}, {v['hi']:.3f}]"


def _indist_html(d: dict,
                head: str = '<section id="indistinguishability"><h2>Indistinguishability</h2>',
                h: str = "h3", suffix: str = "") -> str:
    if "error" in d:
        return head + f'<p class="warn">Not computed: {_esc(d["error"])}</p></section>'
    t, p = d["two_sample"], d["predictive"]
    names = {"gbm": "gradient boosting", "rocket": "random convolutional kernels"}
    rows = []
    for c, v in t["classifiers"].items():
        cal = t["calibration"][c]
        lo, hi = v["floor"]
        rows.append([names.get(c, c), _interval(v["balanced_accuracy"]), _interval(v["auc"]),
                     _interval(cal["balanced_accuracy"]), _interval(cal["auc"]),
                     f"{lo:.3f} – {hi:.3f}", _esc(v["verdict"])])
    drops = {ch: float(np.mean([v["importance"][ch] for v in t["classifiers"].values()]))
             for ch in t["channels"]}
    return "".join([
        head,
        f"<{h}>Classifier two-sample test</{h}>",
        f'<p class="verdict">Verdict: <b>{_esc(t["verdict"])}</b> '
        f"(the classifier's mean held-out AUC against the floor of real-versus-real folds)."
        "</p>",
        _table(["classifier", "balanced accuracy", "AUC", "real vs real: balanced accuracy",
                "real vs real: AUC", "floor (AUC)", "verdict"], rows,
               table_id=f"two-sample-table{suffix}"),
        _table(["feature", "held-out AUC drop when shuffled"],
               [[_esc(ch), _num(v, ".3f")] for ch, v in drops.items()],
               table_id=f"attribution-table{suffix}"),
        f'<p class="note">Windows of {t["window"]} consecutive bars of four scale-free bar '
        "features: log return, log range log(H/L), log body log(C/O) and the change of "
        "log(1 + volume). The real series is cut into "
        f"{t['n_folds']} contiguous folds; each is held out in turn with a gap of one window on "
        "either side, so no training window overlaps or touches a test window, and the synthetic "
        "series are split by scenario (windows copied from held-out history are purged). Two "
        "classifiers (gradient-boosted trees on the whole window; random convolutional kernels "
        "with a ridge classifier) are trained on balanced classes, about "
        f"{t['n_train']} windows per class, and tested on about {t['n_test']} per class and fold; "
        "values are means over folds with a 95 % t-interval. The real-vs-real columns run the "
        "same test on alternate blocks of the real series (a calibration): the floor is the "
        "range a generator that <i>is</i> the real process would fall in, given how much the "
        "market changes over time. Inside it the result is <i>not distinguishable</i> by this "
        "test (not a proof of equality); above it <i>distinguishable</i>; below both the floor "
        "and 0.5 <i>dominated by non-stationarity</i> (held-out real windows look less like the "
        "real training folds than synthetic ones do: the market changed, which is no merit of "
        "the generator). The attribution table shows how much AUC each feature carries: the "
        "held-out AUC minus the AUC with that feature shuffled across test windows, averaged "
        "over classifiers and folds. A random split of overlapping windows (the published "
        "discriminative score) cannot judge whole-path generators: see docs/methodology.md.</p>",
        f"<{h}>Train on synthetic, test on real</{h}>",
        _table(["model", "mean absolute error", "training windows"], [
            ["TSTR: trained on synthetic", _num(p["tstr_mae"], ".5f"), p["n_train_synthetic"]],
            ["TRTR: trained on real (reference)", _num(p["trtr_mae"], ".5f"), p["n_train_real"]],
            ["constant: real training mean", _num(p["constant_mae"], ".5f"), "–"],
            ["TSTR / TRTR", _num(p["tstr_mae"] / p["trtr_mae"], ".3f")
             if p["trtr_mae"] else "–", "–"],
        ], table_id=f"predictive-table{suffix}"),
        f'<p class="note">A ridge regression (standardized features, alpha 1) predicts the '
        f"absolute log-return of a bar from the {WINDOW - 1} absolute returns before it, trained "
        "on synthetic windows (TSTR) or on the real training folds (TRTR), and tested on the "
        f"same {p['n_test']} held-out real windows of the purged folds above (synthetic windows "
        "copied from a held-out fold are left out of its training). TSTR close to TRTR means the "
        "synthetic series carry the volatility dynamics a model learns from the real one.</p>",
        "</section>",
    ])


def write_report(
    run_dir: str,
    *,
    storage_options: dict | None = None,
    max_series: int = 200,
    out_name: str = REPORT,
    original: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    seed: int = 0,
) -> str:
    """Write the fidelity report of a finished run into its output directory.

    Parameters are those of :func:`build_report`, plus ``out_name`` (default ``report.html``),
    the report's name inside ``run_dir``. The file is written atomically.

    Returns
    -------
    str
        The report's full path or URL.

    Raises
    ------
    InputDataError
        ``run_dir`` is not a run's output directory (no ``manifest.json``), or its files or
        input cannot be read.
    """
    text = build_report(run_dir, storage_options=storage_options, max_series=max_series,
                        original=original, seed=seed)
    store = OutputStore(str(run_dir), storage_options=storage_options)
    store.write_bytes(out_name, text.encode("utf-8"))
    return store.path(out_name)
