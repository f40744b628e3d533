"""What the report shows, loaded from a finished run and computed.

:func:`load_run` is the one place that reads a run's output directory (through the typed run
folder, :func:`pipeline.io.run.open_run`) and gathers the run's original input; everything
else here computes from the :class:`Run` it returns: spreads across scenarios, diversity, the
indistinguishability tests (from :mod:`pipeline.evaluation`), cross-asset correlations,
regimes and timeframes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from pipeline.core.metrics import METRIC_NAMES, cross_asset_metrics
from pipeline.core.regimes import stationary_distribution
from pipeline.core.sampler import GenerationModel, model_metrics
from pipeline.core.timeframes import aggregate, make_timeframe
from pipeline.errors import ConfigError, InputDataError
from pipeline.evaluation import (
    MIN_RUN,
    classifier_two_sample_test,
    predictive_score,
    verbatim_share,
)
from pipeline.io.run import (
    ModelSummary,
    RunFolder,
    RunManifest,
    ScenarioRecord,
    open_run,
    scenario_index,
)
from pipeline.redaction import drop_redacted
from pipeline.run_input import content_hash, fit_configured_model, load_configured_input

__all__ = [
    "ACF_LAGS",
    "P_VALUE_METRICS",
    "REGIME_PATHS",
    "Asset",
    "Run",
    "load_run",
    "model_setting",
    "reload_input",
    "series_sources",
    "acf",
    "spread_row",
    "diversity",
    "indistinguishability",
    "median_distance",
    "rank",
    "cross_asset",
    "asset_overview",
    "regimes",
    "timeframes",
    "spearman_with_base",
]

#: Lags of the ACF plots.
ACF_LAGS = 40
#: Metrics that are p-values: shown as −log10 p, scored on their statistic per observation.
P_VALUE_METRICS = ("ljung_box_p", "arch_lm_p")
#: Regime paths drawn in the strip plot.
REGIME_PATHS = 8
_OHLC = ("Open", "High", "Low", "Close")


# --------------------------------------------------------------------------------------------
# Loading a run
# --------------------------------------------------------------------------------------------


@dataclass
class Asset:
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
class Run:
    """A finished run as the report sees it: its manifest, original input and loaded series."""

    manifest: RunManifest
    original: pd.DataFrame | dict[str, pd.DataFrame]
    assets: list[Asset]
    scenario_ids: list[int]  # scenarios read for the plots and tests
    scenarios: pd.DataFrame  # all scenarios: scenario, score, metrics (manifest names)
    entries: Sequence[ScenarioRecord]  # the manifest's scenario records, by scenario number

    @property
    def symbols(self) -> list[str]:
        """The run's assets in order; empty for a single-series run."""
        return self.manifest.symbols

    @property
    def conditioned(self) -> bool:
        """Whether the run's fidelity reference is the conditioned regime generator."""
        return self.manifest.model.reference == "conditioned"


def model_setting(model: ModelSummary, key: str, default: Any = None) -> Any:
    """A key of the fitted model's summary that :class:`~pipeline.io.run.ModelSummary` keeps
    as given rather than models (``block_choice``, ``spreads``, ``start_price``, ...).

    Parameters
    ----------
    model : ModelSummary
        The manifest's ``model``.
    key : str
    default : optional
        What a manifest without ``key`` gives.

    Returns
    -------
    Any
        The value as the manifest holds it.
    """
    return (model.model_extra or {}).get(key, default)


def load_run(run_dir: str, storage_options: dict | None, max_series: int,
             original: pd.DataFrame | Mapping[str, pd.DataFrame] | None) -> Run:
    """Read a finished run's manifest and its first ``max_series`` series.

    Parameters
    ----------
    run_dir : str
        The run's output directory or URL.
    storage_options : dict or None
        fsspec options to reach ``run_dir``.
    max_series : int
        Series read (the first by scenario number); at least one.
    original : DataFrame, mapping of str to DataFrame, or None
        The run's input; None reloads it from the manifest (:func:`reload_input`).

    Returns
    -------
    Run

    Raises
    ------
    InputDataError
        No manifest, an invalid one, no accepted scenarios, a missing series file, or an
        ``original`` that does not match the run's assets.
    """
    # The series read are checked as they are read: listing a folder of 100,000 scenarios'
    # files to check the others costs seconds and tells the report nothing.
    folder = open_run(run_dir, storage_options, check_files=False)
    entries = folder.require_scenarios(" to report on")
    scenarios = folder.scenario_table().drop(columns="attempt")

    manifest = folder.manifest
    if original is None:
        original = reload_input(manifest)
    original = _check_original(original, manifest.symbols)
    chosen = entries[: max(int(max_series), 1)]
    frames = _read_frames(folder, chosen)
    length = min(len(f) for fs in frames.values() for f in fs)
    run = Run(manifest, original, [], [e.scenario for e in chosen], scenarios, entries)
    for s, asset_frames in frames.items():
        run.assets.append(_asset(run, s, asset_frames, length))
    return run


def _read_frames(folder: RunFolder, chosen: Sequence[ScenarioRecord]
                 ) -> dict[str, list[pd.DataFrame]]:
    """The base series of the chosen scenarios, per asset (``""`` for a single series)."""
    per_asset = folder.manifest.symbols or [""]
    frames: dict[str, list[pd.DataFrame]] = {s: [] for s in per_asset}
    for e in chosen:
        for s in per_asset:
            frames[s].append(folder.read_series(e, s or None))
    return frames


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


def _asset(run: Run, symbol: str, frames: Sequence[pd.DataFrame], length: int) -> Asset:
    m = run.manifest
    model = m.model
    prefix = f"{symbol}:" if symbol else ""

    def own(d: Mapping) -> dict:
        if not prefix:
            return dict(d)
        return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}

    original = run.original[symbol] if symbol else run.original
    cols = list(_OHLC) + (["Volume"] if all("Volume" in f.columns for f in frames) else [])
    bars = np.stack([f[cols].to_numpy(dtype=float)[:length] for f in frames])
    keep = ["scenario", "score"] + [c for c in run.scenarios.columns
                                    if prefix and c.startswith(prefix)]
    scenarios = (run.scenarios[keep].rename(columns=lambda c: c[len(prefix):]
                                            if c.startswith(prefix) else c)
                 if prefix else run.scenarios)
    reference = own(m.reference_metrics)
    if run.conditioned:
        original_metrics = {k: v for k, v in _metrics_of(
            [original], []).items() if not k.startswith(("corr:", "abs_corr:"))}
    else:
        original_metrics = reference
    scored_metrics = METRIC_NAMES if model.scored_metrics is None else model.scored_metrics
    scored = [n for n in own(dict.fromkeys(scored_metrics)) if n in scenarios]
    if symbol:
        start = (model_setting(model, "start_prices") or {}).get(symbol)
    else:
        start = model_setting(model, "start_price")
    return Asset(
        symbol=symbol,
        original=original,
        bars=bars,
        index=frames[0].index[:length],
        scenarios=scenarios,
        reference=reference,
        original_metrics=original_metrics,
        weights=own(model.weights or {}),
        spreads=own(model_setting(model, "spreads", {})),
        scored=scored,
        start_price=float(start or original["Close"].iloc[0]),
    )


def _metrics_of(frames: Sequence[pd.DataFrame], symbols: Sequence[str]) -> dict[str, float]:
    """Metrics of original frames, named as in the manifest (``SYM:metric`` for several)."""
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


def reload_input(manifest: RunManifest | Mapping[str, Any]
                 ) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The run's input, reloaded from its manifest's configuration and checked by its hash.

    Parameters
    ----------
    manifest : RunManifest or mapping
        The run's manifest (as read, or the parsed ``manifest.json``). Credentials were
        redacted from it: they come from the environment.

    Returns
    -------
    DataFrame or dict of str to DataFrame
        One frame, or ``{symbol: frame}`` for a multi-asset run.

    Raises
    ------
    InputDataError
        The input cannot be read from here, or its content hash differs from the manifest's.
    """
    if not isinstance(manifest, RunManifest):
        manifest = RunManifest.model_validate(
            {k: v for k, v in manifest.items() if k != "scenarios"})
    config = drop_redacted(_config(manifest, "its input cannot be reloaded; pass original="))
    inp = config["input"]
    if inp.get("sample"):
        where = f"sample {inp['sample']!r}"
    elif inp.get("assets"):
        where = "assets " + ", ".join(f"{k}={v!r}" for k, v in inp["assets"].items())
    else:
        where = repr(inp.get("path"))
    try:
        frame = load_configured_input(config).unwrap()
    except (InputDataError, OSError) as exc:
        several = inp.get("assets") or inp.get("layout", "single") != "single"
        raise InputDataError(
            f"the run's input {where} cannot be read from here ({exc}); run the report from "
            "the directory the run was started in, or pass the original frame as original="
            + (" (a mapping {symbol: frame})" if several else "")
        ) from exc
    expected = (manifest.input or {}).get("content_sha256")
    if expected and content_hash(frame) != expected:
        raise InputDataError(
            f"the run's input {where} has changed since the run (content hash differs); pass "
            "the original frame as original="
        )
    return frame


def series_sources(run: Run, length: int, model: GenerationModel | None) -> np.ndarray | None:
    """For a ``garch`` run: the input bar each loaded series' bar was built from.

    A GARCH-filtered bar has new returns but the intrabar shape and volume of the input bar it
    was drawn from, which tracing by verbatim returns cannot see; the run's model redraws the
    same rows from the manifest's seed, scenarios and attempts.

    Parameters
    ----------
    run : Run
    length : int
        Bars per loaded series.
    model : GenerationModel or None
        The run's fitted model; None refits it from the manifest's configuration.

    Returns
    -------
    ndarray or None
        ``(series, length)`` one-based input rows; None for other methods (their copies are
        traced by their returns).
    """
    if run.manifest.model.method != "garch":
        return None
    if model is None:
        config = _config(run.manifest, "its model cannot be refitted here; pass model=")
        try:
            model = fit_configured_model(run.original, config)
        except KeyError as exc:
            raise InputDataError(
                f"the run's manifest has no {exc.args[0]!r} setting in its config, so its model "
                "cannot be refitted here; pass the run's fitted model as model="
            ) from None
        except ConfigError as exc:
            raise InputDataError(
                f"the run's manifest records settings this version cannot refit ({exc}); pass "
                "the run's fitted model as model="
            ) from None
    attempts = {e.scenario: e.attempt for e in run.entries}
    idx, _ = model.indices(int(run.manifest.seed), [scenario_index(s) for s in run.scenario_ids],
                           [attempts[s] for s in run.scenario_ids])
    return idx[:, :length] + 1


def _config(manifest: RunManifest, consequence: str) -> dict[str, Any]:
    """The run's configuration; InputDataError saying the ``consequence`` when the manifest
    has none."""
    if manifest.config is None:
        raise InputDataError(f"the run's manifest has no config, so {consequence}")
    return manifest.config


# --------------------------------------------------------------------------------------------
# Statistics for the plots and tables
# --------------------------------------------------------------------------------------------


def acf(x: np.ndarray, nlags: int) -> np.ndarray:
    """ACF (statsmodels definition) of each row of ``x`` at lags 1..nlags.

    Parameters
    ----------
    x : ndarray
        ``(n,)`` or ``(rows, n)`` series.
    nlags : int

    Returns
    -------
    ndarray
        ``(rows, nlags)``; NaN for a constant row.
    """
    x = np.atleast_2d(x)
    d = x - x.mean(axis=1, keepdims=True)
    g0 = np.einsum("ij,ij->i", d, d)
    out = np.empty((x.shape[0], nlags))
    for k in range(1, nlags + 1):
        out[:, k - 1] = np.einsum("ij,ij->i", d[:, :-k], d[:, k:])
    return out / np.where(g0 > 0, g0, np.nan)[:, None]


def spread_row(values: np.ndarray, original: float | None) -> dict:
    """Median, standard deviation and 5–95 % range of the finite ``values``, beside ``original``.

    Parameters
    ----------
    values : ndarray
        One number per scenario (NaN where undefined).
    original : float or None
        The original's value, shown beside them.

    Returns
    -------
    dict
        ``original``, ``median``, ``std``, ``p5``, ``p95``, ``range_5_95``, ``n``.
    """
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


def diversity(a: Asset, x: np.ndarray, y: np.ndarray) -> dict:
    """How different the scenarios are from one another and from the original.

    Parameters
    ----------
    a : Asset
    x, y : ndarray
        The original's and the loaded series' close log-returns (:attr:`Asset.x`, ``.y``).

    Returns
    -------
    dict
        Spreads of the terminal log-return and max drawdown, pairwise correlations of the
        series, the verbatim share (:func:`pipeline.evaluation.verbatim_share`).
    """
    close = a.bars[:, :, 3]
    orig_close = a.original["Close"].to_numpy(dtype=float)
    terminal = np.log(close[:, -1] / a.start_price)
    mdd_all = a.scenarios["max_drawdown"].to_numpy(dtype=float)
    out = {
        "terminal_log_return": spread_row(terminal, math.log(orig_close[-1] / orig_close[0])),
        "max_drawdown": spread_row(mdd_all, a.original_metrics.get("max_drawdown")),
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


def indistinguishability(a: Asset, seed: int, sources: np.ndarray | None) -> dict:
    """The purged classifier two-sample test and train-on-synthetic prediction of one asset.

    Parameters
    ----------
    a : Asset
    seed : int
        Seeds the window sampling and the classifiers.
    sources : ndarray or None
        Input rows of the loaded series' bars (:func:`series_sources`), for a ``garch`` run.

    Returns
    -------
    dict
        ``two_sample`` and ``predictive``, or ``error`` saying why they were not computed.
    """
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


def median_distance(a: Asset, name: str) -> float:
    """Median over scenarios of |metric - reference| in units of the metric's spread.

    Parameters
    ----------
    a : Asset
    name : str
        The asset's own metric name.

    Returns
    -------
    float
        NaN for a p-value metric or one without a reference or spread.
    """
    v = a.scenarios[name].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    r, s = a.reference.get(name), a.spreads.get(name)
    # The p-value metrics are scored on their statistic per observation, whose spread the
    # manifest holds; a p-value difference in those units would mean nothing.
    if r is None or not s or not len(v) or name in P_VALUE_METRICS:
        return float("nan")
    return float(np.median(np.abs(v - r)) / s)


def rank(values: np.ndarray, original: float | None) -> float:
    """Percent of the values below ``original`` (ties count half): where it sits among them.

    Parameters
    ----------
    values : ndarray
    original : float or None

    Returns
    -------
    float
        NaN without finite values or a finite ``original``.
    """
    v = values[np.isfinite(values)]
    if original is None or not len(v) or not math.isfinite(original):
        return float("nan")
    return float(100.0 * (np.sum(v < original) + 0.5 * np.sum(v == original)) / len(v))


def _percentiles(v: np.ndarray) -> tuple[float, float, float]:
    """5th, 50th and 95th percentile of finite ``v`` (NaN when it is empty)."""
    p5, med, p95 = np.percentile(v, [5, 50, 95]) if len(v) else (np.nan,) * 3
    return float(p5), float(med), float(p95)


def cross_asset(run: Run) -> dict:
    """Pairwise return and absolute-return correlations: original, scenarios, reference.

    Parameters
    ----------
    run : Run
        A multi-asset run.

    Returns
    -------
    dict
        ``symbols``, ``n_scenarios``, ``pairs`` (one record per pair and kind) and per kind
        (``corr``, ``abs_corr``) the ``original``, ``median`` and ``difference`` matrices.
    """
    symbols = run.symbols
    closes = {s: run.original[s]["Close"].to_numpy(dtype=float)[None] for s in symbols}
    original = {k: float(v[0]) for k, v in cross_asset_metrics(closes).items()}
    model, ref = run.manifest.model, run.manifest.reference_metrics
    spreads, weights = model_setting(model, "spreads", {}), model.weights or {}
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
                p5, med, p95 = _percentiles(v)
                r, s = ref.get(key), spreads.get(key)
                out["pairs"].append({
                    "kind": kind, "a": a, "b": b, "key": key, "original": o,
                    "reference": r, "p5": p5, "median": med, "p95": p95,
                    "rank": rank(v, o), "spread": s, "weight": weights.get(key),
                    "median_distance": (float(np.median(np.abs(v - r)) / s)
                                        if r is not None and s and len(v) else float("nan")),
                    "n": int(len(v)),
                })
                for name, val in (("original", o), ("median", med), ("difference", med - o)):
                    mats[name][i, j] = mats[name][j, i] = val
        out[kind] = {k: v.tolist() for k, v in mats.items()}
    return out


def asset_overview(a: Asset, div: dict) -> dict:
    """One asset's row of the overview: volatility, terminal return, drawdown, distances.

    Parameters
    ----------
    a : Asset
        The asset, with its scenarios' metrics and the original's.
    div : dict
        The asset's :func:`diversity`.

    Returns
    -------
    dict
    """
    dist = {n: median_distance(a, n) for n in a.scored}
    finite = {n: d for n, d in dist.items() if math.isfinite(d)}
    worst = max(finite, key=finite.get) if finite else None
    vol = a.scenarios["volatility"].to_numpy(dtype=float) if "volatility" in a.scenarios \
        else np.array([])
    return {
        "volatility": spread_row(vol, a.original_metrics.get("volatility")),
        "terminal_log_return": div["terminal_log_return"],
        "max_drawdown": div["max_drawdown"],
        "mean_median_distance": float(np.mean(list(finite.values()))) if finite else float("nan"),
        "worst_metric": worst,
        "worst_median_distance": finite.get(worst, float("nan")) if worst else float("nan"),
    }


def _regime_counts(paths: Mapping[int, list], k: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per path the share of bars in each regime; per regime the stays and their bars."""
    shares = np.full((len(paths), k), np.nan)
    runs_n, runs_bars = np.zeros(k), np.zeros(k)
    for row, path in enumerate(paths.values()):
        counts = np.zeros(k)
        for regime, bars in path:
            counts[int(regime)] += bars
            runs_n[int(regime)] += 1
            runs_bars[int(regime)] += bars
        shares[row] = counts / max(counts.sum(), 1)
    return shares, runs_n, runs_bars


def _regime_volatility(run: Run, paths: Mapping[int, list], k: int) -> list[float]:
    # Volatility within each regime of the loaded series (of the first asset, which the
    # regimes were labelled on): pooled close log-returns of the bars the path puts there.
    y = run.assets[0].y
    pooled: list[list[np.ndarray]] = [[] for _ in range(k)]
    for i, sid in enumerate(run.scenario_ids):
        if sid not in paths:
            continue
        labels = np.repeat([r for r, _ in paths[sid]], [b for _, b in paths[sid]])[: y.shape[1]]
        for r in range(k):
            pooled[r].append(y[i, : len(labels)][labels == r])
    return [float(np.std(np.concatenate(p), ddof=1)) if p and sum(map(len, p)) > 1
            else float("nan") for p in pooled]


def regimes(run: Run) -> dict:
    """The regime model of the manifest and what the scenarios' regime paths did.

    Parameters
    ----------
    run : Run
        A run with ``model.regimes`` in its manifest.

    Returns
    -------
    dict
        Transition matrices (fitted, used), long-run shares, mean stays, per-regime
        volatility of the input and of the loaded series, the scenarios' shares and paths.
    """
    info = run.manifest.model.regimes
    k = int(info["n_regimes"])
    fitted = np.asarray(info["fitted_transition"], dtype=float)
    used = np.asarray(info["transition"], dtype=float)

    def stay(p: np.ndarray) -> list[float]:
        d = np.diag(p)
        return [float(1.0 / (1.0 - v)) if v < 1 else float("inf") for v in d]

    paths = {e.scenario: e.regimes for e in run.entries if e.regimes}
    shares, runs_n, runs_bars = _regime_counts(paths, k)
    q = np.nanpercentile(shares, [5, 50, 95], axis=0) if len(shares) else np.full((3, k), np.nan)
    return {
        "labelling": info.get("labelling"),
        "n_regimes": k,
        "volatility": [float(v) for v in info.get("volatility", [np.nan] * k)],
        "synthetic_volatility": _regime_volatility(run, paths, k),
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
        "paths": {str(s): p for s, p in list(paths.items())[:REGIME_PATHS]},
        "input_path": info.get("input_path"),
        "n_scenarios": len(paths),
        "condition": (run.manifest.config or {}).get("generation", {}).get("regime", {}),
    }


def _aggregated_metrics(frames: Sequence[pd.DataFrame], symbols: Sequence[str], rule: str
                        ) -> tuple[dict[str, float], int | None]:
    """Metrics of the original aggregated to ``rule``, and its bars; empty and None when the
    original cannot be aggregated (shown as missing)."""
    try:
        tf = make_timeframe(pd.DatetimeIndex(frames[0].index), rule)
        arrays = [_frame_array(f) for f in frames]
        has_volume = all(a.shape[1] == 5 for a in arrays)
        agg = np.concatenate([aggregate((a if has_volume else a[:, :4])[None], tf)
                              for a in arrays], axis=2)
        return ({k: float(v[0]) for k, v in model_metrics(agg, symbols, has_volume).items()},
                len(tf.index))
    except Exception:  # noqa: BLE001 - the original cannot be aggregated: shown as missing
        return {}, None


def timeframes(run: Run) -> dict:
    """Fidelity and metrics of the scenarios at each higher timeframe, and the original's.

    Parameters
    ----------
    run : Run
        A run with higher timeframes: its manifest's model lists them (``model.timeframes``)
        with their bars and scored metrics.

    Returns
    -------
    dict of str to dict
        Per rule: ``bars``, ``original_bars``, ``scores`` (per scenario) and ``metrics`` (per
        scored metric: the original aggregated, the scenarios' percentiles and its rank).
    """
    out: dict[str, Any] = {}
    symbols = run.symbols
    frames = [run.original[s] for s in symbols] if symbols else [run.original]
    for rule, info in run.manifest.model.timeframes.items():
        recs = [(e.timeframes or {}).get(rule) for e in run.entries]
        scores = np.array([np.nan if r is None or r.score is None else float(r.score)
                           for r in recs])
        metrics = pd.DataFrame([{k: np.nan if v is None else float(v)
                                 for k, v in (r.metrics if r is not None else {}).items()}
                                for r in recs])
        original, original_bars = _aggregated_metrics(frames, symbols, rule)
        rows = []
        for name in info.get("scored_metrics", []):
            v = metrics[name].to_numpy(dtype=float) if name in metrics else np.array([])
            p5, med, p95 = _percentiles(v[np.isfinite(v)])
            o = original.get(name)
            rows.append({"metric": name, "original": o, "p5": p5, "median": med,
                         "p95": p95, "rank": rank(v, o)})
        out[rule] = {"bars": info.get("bars"), "original_bars": original_bars, "scores": scores,
                     "metrics": rows}
    return out


def spearman_with_base(base: np.ndarray, scores: np.ndarray) -> float:
    """Spearman correlation of the base fidelity and a timeframe's, over scenarios with both.

    Parameters
    ----------
    base, scores : ndarray
        Per scenario, in the same order.

    Returns
    -------
    float
        NaN with fewer than three scenarios or a constant side.
    """
    ok = np.isfinite(scores) & np.isfinite(base)
    if ok.sum() >= 3 and np.ptp(scores[ok]) > 0 and np.ptp(base[ok]) > 0:
        return float(spearmanr(base[ok], scores[ok]).statistic)
    return float("nan")
