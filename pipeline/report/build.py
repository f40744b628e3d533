"""The report of a finished run: load it, compute and draw what it shows, render the HTML.

:func:`build_report` arranges the three layers of the package: :mod:`~pipeline.report.data`
(loading and statistics), :mod:`~pipeline.report.figures` (matplotlib) and
:mod:`~pipeline.report.render` (the Jinja2 template). :func:`write_report` stores the result in
the run's output directory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.sampler import GenerationModel
from pipeline.evaluation import WINDOW
from pipeline.io.run import REPORT
from pipeline.io.writers import OutputStore
from pipeline.report import data, figures, render
from pipeline.report.data import Asset, Run

__all__ = ["REPORT", "build_report", "write_report"]

def build_report(
    run_dir: str,
    *,
    storage_options: dict | None = None,
    max_series: int = 200,
    original: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    seed: int = 0,
    model: GenerationModel | None = None,
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
    model : GenerationModel, optional
        The run's fitted model. Only a ``garch`` run uses it (to trace which input bar each
        synthetic bar was drawn from); by default it is refitted from the manifest's
        configuration.

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
    Definitions of the verbatim share, the windows and the tests: see the package docstring and
    :func:`~pipeline.evaluation.verbatim_share`,
    :func:`~pipeline.evaluation.classifier_two_sample_test`,
    :func:`~pipeline.evaluation.predictive_score`. A multi-asset run gets every per-series
    section for each asset, plus an asset overview and the cross-asset correlations; a regime
    run a regime section; a run with higher timeframes a timeframe section.
    """
    run = data.load_run(str(run_dir), storage_options, max_series, original)
    m = run.manifest
    model_info, cfg = m.model, m.config or {}
    min_fidelity = float(cfg.get("generation", {}).get("min_fidelity", float("nan")))
    scores = run.scenarios["score"].to_numpy(dtype=float)
    multi = bool(run.symbols)

    report_data: dict[str, Any] = {"run": {"status": m.status,
                                           "block_choice": data.model_setting(model_info,
                                                                              "block_choice"),
                                           "preflight": m.preflight,
                                           "partial": m.partial}}
    sources = data.series_sources(run, run.assets[0].bars.shape[1], model)
    assets = [_asset_context(a, seed, sources, run.conditioned) for a in run.assets]
    context: dict[str, Any] = {
        "run_id": m.run_id,
        "header_rows": render.header_rows(run, scores, min_fidelity, max_series),
        "multi": multi,
        "conditioned": run.conditioned,
        "symbols": run.symbols,
        "n_scenarios": len(run.scenarios),
        "window": WINDOW,
        "assets": assets,
        "scores_figure": _scores_figure(run, scores, min_fidelity),
        "timeframes": None,
        "regimes": None,
    }
    if model_info.timeframes:
        context["timeframes"], report_data["timeframes"] = _timeframes_section(
            run, scores, min_fidelity)
    if model_info.regimes:
        context["regimes"], report_data["regimes"] = _regimes_section(run)
    per_asset = {a["symbol"]: {"diversity": a["diversity"],
                               "indistinguishability": a["indistinguishability"]}
                 for a in assets}
    if not multi:
        report_data.update(per_asset[""])
    else:
        cross = data.cross_asset(run)
        overview = {a.symbol: data.asset_overview(a, per_asset[a.symbol]["diversity"])
                    for a in run.assets}
        context.update(nav=_nav(run), overview_rows=render.overview_rows(run, overview),
                       cross=_cross_context(cross, run))
        report_data["assets"] = {s: {**d, "overview": overview[s]} for s, d in per_asset.items()}
        report_data["cross_asset"] = cross
    return render.render_report(report_data=render.report_json(report_data), **context)


def _asset_context(a: Asset, seed: int, sources: np.ndarray | None, conditioned: bool
                   ) -> dict[str, Any]:
    """What the per-series sections of one asset show: figures, numbers and table rows."""
    x, y = a.x, a.y
    div = data.diversity(a, x, y)
    ind = data.indistinguishability(a, seed, sources)
    metric_header, metric_rows = render.metric_table(a, conditioned)
    spreads, values = render.diversity_tables(div)
    tables = {} if "error" in ind else render.indistinguishability_tables(ind)
    return {
        "symbol": a.symbol,
        "fan": figures.fan_chart(a),
        "returns": figures.returns_figure(x, y),
        "acf": figures.acf_figure(x, y),
        "metrics": figures.metrics_figure(a, a.scored, conditioned),
        "n_series": len(y),
        "metric_header": metric_header,
        "metric_rows": metric_rows,
        "diversity": div,
        "diversity_spreads": spreads,
        "diversity_values": values,
        "indistinguishability": ind,
        "two_sample_rows": tables.get("two_sample"),
        "attribution_rows": tables.get("attribution"),
        "predictive_rows": tables.get("predictive"),
    }


def _scores_figure(run: Run, scores: np.ndarray, min_fidelity: float) -> str:
    """The fidelity histogram and one max drawdown histogram per asset."""
    drawdowns = [(f"{a.symbol}: max drawdown" if a.symbol else "Max drawdown across scenarios",
                  a.scenarios["max_drawdown"].to_numpy(dtype=float),
                  _opt_float(a.original_metrics.get("max_drawdown")),
                  _opt_float(a.reference.get("max_drawdown")) if run.conditioned else None)
                 for a in run.assets]
    return figures.scores_figure(scores, min_fidelity, drawdowns)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _timeframes_section(run: Run, base: np.ndarray, min_fidelity: float
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the timeframe section shows, and its numbers for the report's JSON."""
    tfs = data.timeframes(run)
    model = run.manifest.model
    rows = [render.timeframe_row("base", "?" if model.length is None else model.length,
                                  len(model.scored_metrics or []), base, math.nan,
                                  min_fidelity)]
    details = []
    for rule, t in tfs.items():
        s = np.asarray(t["scores"], dtype=float)
        rows.append(render.timeframe_row(rule, t["bars"], len(t["metrics"]), s,
                                          data.spearman_with_base(base, s), min_fidelity))
        details.append({"rule": rule, "bars": t["bars"],
                        "original_bars": t["original_bars"] or "–",
                        "rows": render.timeframe_metric_rows(t["metrics"])})
    numbers = {rule: {**{k: v for k, v in t.items() if k != "scores"},
                      "score_median": float(np.nanmedian(t["scores"]))
                      if np.isfinite(t["scores"]).any() else None}
               for rule, t in tfs.items()}
    return ({"figure": figures.timeframes_figure(base, tfs, min_fidelity), "rows": rows,
             "details": details}, numbers)


def _regimes_section(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the regime section shows, and its numbers for the report's JSON."""
    reg = data.regimes(run)
    cond = reg.get("condition") or {}
    labels = [str(i) for i in range(reg["n_regimes"])]
    numbers = {k: v for k, v in reg.items() if k not in ("shares", "paths", "input_path")}
    return {
        "data": reg,
        "condition": ", ".join(f"{k}={cond[k]}" for k in ("condition", "share",
                                                          "duration_factor")
                               if cond.get(k) is not None),
        "labels": labels,
        "transitions_figure": figures.transitions_figure(reg),
        "fitted_rows": render.matrix_rows(labels, reg["fitted_transition"], ".4f"),
        "used_rows": render.matrix_rows(labels, reg["transition"], ".4f"),
        "shares_figure": figures.regime_shares_figure(reg),
        "paths_figure": figures.regime_paths_figure(reg),
        "rows": render.regime_rows(reg),
        "n_read": len(run.scenario_ids),
    }, numbers


def _cross_context(cross: dict, run: Run) -> dict[str, Any]:
    """What the cross-asset section shows: figures, matrix tables and the pair table."""
    formats = {"original": ".3f", "median": ".3f", "difference": "+.3f"}
    return {
        "data": cross,
        "matrices_figure": figures.correlation_matrices_figure(cross),
        "matrices": {kind: {name: render.matrix_rows(cross["symbols"], cross[kind][name], fmt)
                            for name, fmt in formats.items()}
                     for kind in ("corr", "abs_corr")},
        "pairs_figure": figures.pair_distributions_figure(cross, run.scenarios),
        "rows": render.pair_rows(cross),
    }


def _nav(run: Run) -> list[tuple[str, str]]:
    """The contents of a multi-asset report: anchors and titles."""
    links = [("assets", "Asset overview"), ("cross-asset", "Cross-asset correlations"),
             ("scores", "Scores and drawdowns")]
    if run.manifest.model.timeframes:
        links.append(("timeframes", "Timeframes"))
    if run.manifest.model.regimes:
        links.append(("regimes", "Regimes"))
    return links + [(f"asset-{render.slug(s)}", f"Asset {s}") for s in run.symbols]


def write_report(
    run_dir: str,
    *,
    storage_options: dict | None = None,
    max_series: int = 200,
    out_name: str = REPORT,
    original: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    seed: int = 0,
    model: GenerationModel | None = None,
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
                        original=original, seed=seed, model=model)
    store = OutputStore(str(run_dir), storage_options=storage_options)
    store.write_bytes(out_name, text.encode("utf-8"))
    return store.path(out_name)
