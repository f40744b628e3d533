"""The report's HTML: a Jinja2 template, a CSS file and the rows of its tables.

The template (``templates/report.html.j2``) lays out the sections and their prose; its macros
draw tables, figures and section headings. :func:`render_report` fills it and inlines
``templates/report.css``, so the report stays one self-contained file. The functions here turn
what :mod:`pipeline.report.data` computed into table rows: each cell is plain text (escaped by
the template) or :class:`~markupsafe.Markup` built with :func:`text`, :func:`warn` and
:func:`link`, whose own text is escaped too.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipeline.io.run import ModelSummary, RunManifest
from pipeline.report.data import P_VALUE_METRICS, Asset, Run, median_distance, model_setting

__all__ = [
    "render_report",
    "report_json",
    "text",
    "warn",
    "link",
    "num",
    "slug",
    "header_rows",
    "metric_table",
    "diversity_tables",
    "indistinguishability_tables",
    "overview_rows",
    "matrix_rows",
    "pair_rows",
    "regime_rows",
    "timeframe_row",
    "timeframe_metric_rows",
]

_TEMPLATE = "report.html.j2"
_CSS = "report.css"
_CLASSIFIER_NAMES = {"gbm": "gradient boosting", "rocket": "random convolutional kernels"}


def _escape(value: Any) -> Markup:
    # Every value the template prints goes through html.escape, so text and attributes read
    # the same whichever markup library spells the entities.
    return value if hasattr(value, "__html__") else Markup(html.escape(str(value)))


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("pipeline.report", "templates"), autoescape=True,
                      finalize=_escape, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = num
    env.filters["slug"] = slug
    return env


def render_report(**context: Any) -> str:
    """Fill the report template with ``context`` and inline its CSS.

    Parameters
    ----------
    **context
        The template's variables (see ``templates/report.html.j2``).

    Returns
    -------
    str
        The HTML text of the report.
    """
    css = resources.files("pipeline.report").joinpath("templates", _CSS).read_text("utf-8")
    return _environment().get_template(_TEMPLATE).render(css=Markup(css), **context)


def report_json(data: Any) -> Markup:
    """``data`` as JSON for the ``report-data`` script element (NaN and inf as null).

    Parameters
    ----------
    data : object
        Dicts, lists, numbers (numpy too) and strings.

    Returns
    -------
    Markup
        Sorted-key JSON in which ``</`` cannot close the script element.
    """
    return Markup(json.dumps(_jsonable(data), sort_keys=True).replace("</", "<\\/"))


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


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


def text(value: Any) -> Markup:
    """``value`` as escaped text, to join with other markup of a cell."""
    return _escape(value)


def warn(content: Any) -> Markup:
    """``content`` (text, or markup as is) marked as a warning."""
    return Markup('<span class="warn">') + _escape(content) + Markup("</span>")


def link(anchor: str, content: Any) -> Markup:
    """A link to ``#anchor`` showing ``content``."""
    return Markup(f'<a href="#{html.escape(anchor)}">') + _escape(content) + Markup("</a>")


def num(v: Any, fmt: str = ".4g") -> str:
    """A float formatted with ``fmt``, ``–`` for None or a non-finite value; others as text."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return format(v, fmt) if isinstance(v, float | np.floating) else str(v)


def slug(symbol: str) -> str:
    """``symbol`` with every character but letters, digits, ``-`` and ``_`` made ``_``."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(symbol))


def _date(v: Any) -> str:
    value = str(v)
    return value[:-9] if value.endswith(" 00:00:00") else value


def _ranked(value: float) -> Any:
    """The original's rank among the scenarios, marked when outside 5–95 %."""
    shown = num(value, ".0f") + (" %" if math.isfinite(value) else "")
    return warn(shown) if math.isfinite(value) and not 5 <= value <= 95 else shown


def _interval(v: Mapping) -> str:
    return f"{v['mean']:.3f} [{v['lo']:.3f}, {v['hi']:.3f}]"


def _stats(values: np.ndarray, fmt: str) -> list[str]:
    """Min, median and max of ``values`` (finite ones) formatted, ``–`` when there are none."""
    if not len(values):
        return ["–"] * 3
    return [num(float(values.min()), fmt), num(float(np.median(values)), fmt),
            num(float(values.max()), fmt)]


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def header_rows(run: Run, scores: np.ndarray, min_fidelity: float, max_series: int
                ) -> list[tuple[str, Any]]:
    """The rows of the run table: identity, input, method, block choice, series, scores.

    Parameters
    ----------
    run : Run
    scores : ndarray
        Every scenario's fidelity.
    min_fidelity : float
    max_series : int

    Returns
    -------
    list of (str, str or Markup)
    """
    m = run.manifest
    model = m.model
    inp = m.input or {}
    first = run.assets[0]
    n_acc = len(run.scenarios)
    source = inp.get("source", "?")
    if isinstance(source, Mapping):
        source = ", ".join(f"{k}: {v}" for k, v in source.items())
    rows: list[tuple[str, Any]] = [
        ("run id", text(m.run_id) + ("" if m.status == "complete"
                                                 else Markup(" ") + warn("(partial)"))),
        ("input", f"{source}: {inp.get('rows', len(first.original))} rows, "
                  f"{_date(inp.get('start', first.original.index[0]))} .. "
                  f"{_date(inp.get('end', first.original.index[-1]))}"),
    ]
    if run.symbols:
        align = inp.get("alignment") or {}
        dropped = ", ".join(f"{s} {align[s].get('dropped', 0)}" for s in run.symbols
                            if isinstance(align.get(s), Mapping))
        rows.append(("assets", f"{len(run.symbols)}: {', '.join(run.symbols)}"
                     + (f" (aligned on shared timestamps; rows dropped: {dropped})"
                        if dropped else "")))
    rows += [
        ("method", model.method),
        *_block_rows(model),
        ("bars per series", first.bars.shape[1] if model.length is None else model.length),
        ("series", f"{n_acc} accepted of "
                   f"{n_acc if m.summary is None else m.summary.requested} requested"
                   f" ({len(first.bars)} read for plots and tests, max_series={max_series})"),
        ("fidelity min / median / max",
         f"{scores.min():.2f} / {np.median(scores):.2f} / {scores.max():.2f}"),
        ("threshold (min_fidelity)", num(min_fidelity, "g")),
    ]
    if run.conditioned:
        rows.append(("fidelity reference", warn("conditioned") + Markup(
            ": scores measure distance to the conditioned regime generator, not to the "
            "original (") + link("regimes", "Regimes") + Markup(")")))
    if model.timeframes:
        rows.append(("higher timeframes", text(", ".join(model.timeframes)) + Markup(" (")
                     + link("timeframes", "Timeframes") + Markup(")")))
    rows += _preflight_rows(m)
    rows += [("seed", "?" if m.seed is None else m.seed),
             ("package version", "?" if m.package_version is None else m.package_version)]
    return rows


def _block_rows(model: ModelSummary) -> list[tuple[str, Any]]:
    """The block size, and how it was chosen: the dependence length, the pilot's median
    fidelity at each length it tried, and the reason."""
    choice = model_setting(model, "block_choice")
    if not choice:
        return [("block size", model.block_size)]
    rows = [("block size", f"{choice['block_size']} ({choice['mode']}; dependence "
                           f"length {choice['reference']} bars)")]
    grid, medians = choice.get("grid") or [], choice.get("median_fidelity") or []
    if grid and len(grid) == len(medians):
        rows.append(("block length pilot", "median fidelity " + ", ".join(
            f"{num(m, '.1f')} at {b} bars" for b, m in zip(grid, medians, strict=True))
            + f" ({choice.get('pilot_candidates', '?')} candidates per length)"))
    rows.append(("why this block size", choice.get("reason", "")))
    return rows


def _preflight_rows(m: RunManifest) -> list[tuple[str, Any]]:
    """The preflight's estimate, and for a partial run why it is partial."""
    rows: list[tuple[str, Any]] = []
    check = m.preflight
    if check:
        verdict = check.get("verdict", "?")
        shown = text(verdict) if verdict == "ok" else warn(verdict)
        rows.append(("preflight", shown + text(f": {check.get('message', '')}")))
    partial = m.partial
    if m.status == "partial" and partial:
        failed = partial.get("failed_scenarios") or []
        rows.append(("partial run", warn(f"{len(failed)} scenario(s) found no candidate")
                     + text(f": {partial.get('reason', '')}")))
    return rows


def metric_table(a: Asset, conditioned: bool) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of an asset's metric table: original (and conditioned reference),
    the scenarios' min, median and max, weight, spread and median distance in spreads.

    Parameters
    ----------
    a : Asset
    conditioned : bool
        Whether the run's reference is conditioned (adds its column).

    Returns
    -------
    (list of str, list of list)
    """
    rows = []
    for n in a.scored:
        v = a.scenarios[n].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        r = a.original_metrics.get(n)
        row: list[Any] = [n, num(None if r is None else float(r))]
        if conditioned:
            c = a.reference.get(n)
            row.append(num(None if c is None else float(c)))
        spread = num(a.spreads.get(n))
        row += [*_stats(v, ".4g"), num(a.weights.get(n), "g"),
                text(spread) + Markup("&thinsp;†") if n in P_VALUE_METRICS else spread,
                num(median_distance(a, n), ".2f")]
        rows.append(row)
    head = ["metric", "original"] + (["conditioned reference"] if conditioned else []) + [
        "synthetic min", "synthetic median", "synthetic max", "weight", "spread",
        "median |Δ| / spread"]
    return head, rows


def diversity_tables(d: Mapping) -> tuple[list[list[Any]], list[list[Any]]]:
    """Rows of the diversity spread table and of the correlation / verbatim share table.

    Parameters
    ----------
    d : mapping
        An asset's :func:`~pipeline.report.data.diversity`.

    Returns
    -------
    (list of list, list of list)
    """
    spreads = []
    for key, label in (("terminal_log_return", "terminal log-return log(C_end / S)"),
                       ("max_drawdown", "max drawdown")):
        r = d[key]
        spreads.append([label, num(r["original"]), num(r["median"]), num(r["std"]),
                        num(r["p5"]), num(r["p95"]), num(r["range_5_95"]), r["n"]])
    vs = d["verbatim_share"]
    values = [
        ["mean pairwise correlation of log-return paths", num(d["mean_pairwise_corr"])],
        ["max pairwise correlation", num(d["max_pairwise_corr"])],
        ["noise level of one correlation (1/√bars)", num(d["corr_noise"])],
        [f"verbatim share, mean over series (runs ≥ {vs['min_run']} bars)",
         num(vs["mean"], ".3f")],
        ["verbatim share, min / max", f"{num(vs['min'], '.3f')} / {num(vs['max'], '.3f')}"],
    ]
    return spreads, values


def indistinguishability_tables(d: Mapping) -> dict[str, list[list[Any]]]:
    """Rows of the two-sample, attribution and predictive tables of one asset.

    Parameters
    ----------
    d : mapping
        An asset's :func:`~pipeline.report.data.indistinguishability` without ``error``.

    Returns
    -------
    dict
        ``two_sample``, ``attribution`` and ``predictive`` rows.
    """
    t, p = d["two_sample"], d["predictive"]
    rows = []
    for c, v in t["classifiers"].items():
        cal = t["calibration"][c]
        lo, hi = v["floor"]
        rows.append([_CLASSIFIER_NAMES.get(c, c), _interval(v["balanced_accuracy"]),
                     _interval(v["auc"]), _interval(cal["balanced_accuracy"]),
                     _interval(cal["auc"]), f"{lo:.3f} – {hi:.3f}", v["verdict"]])
    drops = {ch: float(np.mean([v["importance"][ch] for v in t["classifiers"].values()]))
             for ch in t["channels"]}
    predictive = [
        ["TSTR: trained on synthetic", num(p["tstr_mae"], ".5f"), p["n_train_synthetic"]],
        ["TRTR: trained on real (reference)", num(p["trtr_mae"], ".5f"), p["n_train_real"]],
        ["constant: real training mean", num(p["constant_mae"], ".5f"), "–"],
        ["TSTR / TRTR", num(p["tstr_mae"] / p["trtr_mae"], ".3f") if p["trtr_mae"] else "–",
         "–"],
    ]
    return {"two_sample": rows,
            "attribution": [[ch, num(v, ".3f")] for ch, v in drops.items()],
            "predictive": predictive}


def overview_rows(run: Run, overview: Mapping[str, Mapping]) -> list[list[Any]]:
    """One row per asset of the asset overview.

    Parameters
    ----------
    run : Run
    overview : mapping
        Per symbol, its :func:`~pipeline.report.data.asset_overview`.

    Returns
    -------
    list of list
    """
    rows = []
    sources = (run.manifest.input or {}).get("source")
    for a in run.assets:
        o = overview[a.symbol]
        src = sources.get(a.symbol, "") if isinstance(sources, Mapping) else ""
        v, t, d = o["volatility"], o["terminal_log_return"], o["max_drawdown"]
        rows.append([
            link(f"asset-{slug(a.symbol)}", a.symbol), src,
            num(v["original"]), num(v["median"]),
            num(d["original"], ".3f"), num(d["median"], ".3f"),
            num(t["original"], ".3f"),
            f"{num(t['median'], '.3f')} [{num(t['p5'], '.3f')}, {num(t['p95'], '.3f')}]",
            num(o["mean_median_distance"], ".2f"),
            (f"{o['worst_metric']} ({num(o['worst_median_distance'], '.2f')})"
             if o["worst_metric"] else "–"),
        ])
    return rows


def matrix_rows(labels: Sequence[str], mat: Sequence[Sequence[float]], fmt: str
                ) -> list[list[Any]]:
    """Rows of a labelled square matrix table.

    Parameters
    ----------
    labels : sequence of str
    mat : sequence of sequences of float
    fmt : str
        Format of the entries.

    Returns
    -------
    list of list
    """
    return [[s] + [num(float(v), fmt) for v in row] for s, row in zip(labels, mat, strict=True)]


def pair_rows(cross: Mapping) -> list[list[Any]]:
    """One row per asset pair and kind of correlation of the cross-asset table.

    Parameters
    ----------
    cross : mapping
        :func:`~pipeline.report.data.cross_asset`.

    Returns
    -------
    list of list
    """
    return [[
        f"{p['a']} – {p['b']}",
        "returns" if p["kind"] == "corr" else "absolute returns",
        num(p["original"], ".3f"),
        num(p["p5"], ".3f"), num(p["median"], ".3f"), num(p["p95"], ".3f"),
        num(p["median"] - p["original"], "+.3f"),
        _ranked(p["rank"]),
        num(p["spread"], ".4f"), num(p["weight"], "g"), num(p["median_distance"], ".2f"),
    ] for p in cross["pairs"]]


def regime_rows(reg: Mapping) -> list[list[Any]]:
    """One row per regime: volatility, shares, long-run shares and mean stays.

    Parameters
    ----------
    reg : mapping
        What :func:`~pipeline.report.data.regimes` found: the regime model of the run and
        its scenarios' regime paths.

    Returns
    -------
    list of list
    """
    k = reg["n_regimes"]
    rows = []
    for r in range(k):
        name = f"{r}" + (" (calmest)" if r == 0 else " (most volatile)" if r == k - 1 else "")
        rows.append([
            name, num(reg["volatility"][r], ".5f"), num(reg["synthetic_volatility"][r], ".5f"),
            num(reg["input_shares"][r], ".3f"), num(reg["longrun_fitted"][r], ".3f"),
            num(reg["longrun_used"][r], ".3f"),
            f"{num(reg['share_median'][r], '.3f')} [{num(reg['share_p5'][r], '.3f')}, "
            f"{num(reg['share_p95'][r], '.3f')}]",
            num(reg["mean_stay_fitted"][r], ".1f"), num(reg["mean_stay_used"][r], ".1f"),
            num(reg["synthetic_mean_stay"][r], ".1f"),
        ])
    return rows


def timeframe_row(label: str, bars: Any, n_metrics: int, scores: np.ndarray, rho: float,
                   min_fidelity: float) -> list[Any]:
    """One row of the timeframe table: the fidelity spread at one timeframe.

    Parameters
    ----------
    label : str
    bars : object
        Bars per series at the timeframe.
    n_metrics : int
        Scored metrics there.
    scores : ndarray
        Per scenario.
    rho : float
        Spearman correlation with the base fidelity (NaN shows ``–``).
    min_fidelity : float

    Returns
    -------
    list
    """
    f = scores[np.isfinite(scores)]
    share = num(float(np.mean(f >= min_fidelity)) * 100, ".0f") + " %" if len(f) else "–"
    return [label, bars, n_metrics, *_stats(f, ".2f"), share, num(rho, ".2f")]


def timeframe_metric_rows(metrics: Sequence[Mapping]) -> list[list[Any]]:
    """Rows of a timeframe's metric table: original aggregated, percentiles, rank.

    Parameters
    ----------
    metrics : sequence of mapping
        The ``metrics`` of one rule of :func:`~pipeline.report.data.timeframes`.

    Returns
    -------
    list of list
    """
    return [[r["metric"], num(r["original"]), num(r["p5"]), num(r["median"]), num(r["p95"]),
             _ranked(r["rank"])] for r in metrics]
