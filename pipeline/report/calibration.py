"""The calibration report of a walk forward: one self-contained HTML page.

:func:`render_calibration` turns the table of a calibration run (the rows of
:func:`~pipeline.core.walkforward.forecast_origin` over every origin, ``calibration.parquet``)
and its :class:`~pipeline.core.calibration.CalibrationSummary` into a page that puts the methods
side by side, statistic by statistic:

* a PIT histogram (:data:`~pipeline.core.calibration.HISTOGRAM_BINS` bins) with the flat line a
  calibrated forecast gives and the 95 % binomial band of one bin's count around it;
* the coverage of the central 50/80/90/95 % intervals: share, hits of origins, the binomial band
  of a calibrated forecast, and the cells outside it flagged *too narrow* or *too wide*;
* the Kolmogorov-Smirnov uniformity p, the mean PIT, the mean CRPS and the verdict in words
  (:attr:`~pipeline.core.calibration.StatisticSummary.sentence`);

with an overview of the verdicts, each method's CRPS of the ``h``-bar return, a fan of the
forecast quantiles of the ``h``-bar return against the realized one over the origins, the run's
settings (``details``) and a paragraph on what the numbers can and cannot show.

Figures are matplotlib drawings inlined as SVG (text as text, ids prefixed per figure so the
inlined drawings cannot clash, a fixed hash salt and no date), the CSS is inlined, and nothing is
fetched: the page reads offline, and the same inputs give the same bytes. Every value that comes
from the caller or the table (title, details, method names) is HTML-escaped by the template, and
drawn with mathtext off.

:func:`pit_figure` draws the PIT histograms of a summary as one matplotlib figure (rows are
statistics, columns methods) for documents that want a picture; :func:`save_pit_png` stores it
as a PNG.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import fsspec
import matplotlib
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from scipy import stats

from pipeline.core.calibration import (
    HISTOGRAM_BINS,
    LEVELS,
    QUANTILES,
    CalibrationSummary,
    StatisticSummary,
    statistic_label,
)
from pipeline.io.writers import OutputStore
from pipeline.report import render

__all__ = [
    "CALIBRATION_REPORT",
    "calibration_context",
    "render_calibration",
    "write_calibration_report",
    "pit_band",
    "pit_figure",
    "save_pit_png",
]

#: The page's usual file name in a calibration run's output directory.
CALIBRATION_REPORT = "calibration.html"

_TEMPLATE = "calibration.html.j2"
_CSS = "report.css"
_TITLE = "Walk-forward calibration"
_BAR = "#1f77b4"
_OUTSIDE = "#d62728"
_BAND_LEVEL = 0.95
# No Creator (it names the matplotlib version), Date, Format or Type: the drawing alone.
_SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_SVG_IDS = re.compile(r'(\bid="|\bhref="#|url\(#)([^")]+)')
_FAN_BANDS = ((0.025, 0.975, 0.14, "2.5–97.5 %"), (0.05, 0.95, 0.2, "5–95 %"),
              (0.25, 0.75, 0.32, "25–75 %"))


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check(table: pd.DataFrame, summary: CalibrationSummary) -> None:
    """Refuse a table and a summary that cannot be shown together, saying what to pass."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"calibration report: table must be a pandas DataFrame (the rows of "
                        f"calibration.parquet), got {type(table).__name__}")
    if not isinstance(summary, CalibrationSummary):
        raise TypeError(f"calibration report: summary must be a CalibrationSummary "
                        f"(pipeline.core.calibration.summarize), got {type(summary).__name__}")
    missing = {"method", "origin", "statistic"} - set(table.columns)
    if missing:
        raise ValueError(f"calibration report: the table lacks column(s) {sorted(missing)}; "
                         f"pass the rows of a calibration run (calibration.parquet)")
    if not summary.rows:
        raise ValueError("calibration report: the summary has no rows; summarize a table that "
                         "holds at least one origin")
    absent = [m for m in summary.methods if m not in set(table["method"].astype(str))]
    if absent:
        raise ValueError(f"calibration report: the summary's method(s) {absent} are not in the "
                         f"table; pass the summary of this table (summarize(table, horizon))")


def _statistics(summary: CalibrationSummary) -> list[str]:
    """The summary's statistics in its order (that of ``STATISTICS``, unknown ones after)."""
    return list(dict.fromkeys(row.statistic for row in summary.rows))


def _row(summary: CalibrationSummary, method: str, statistic: str) -> StatisticSummary | None:
    try:
        return summary.get(method, statistic)
    except KeyError:
        return None


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def pit_band(n: int, bins: int = HISTOGRAM_BINS, level: float = _BAND_LEVEL
             ) -> tuple[float, float]:
    """The range of one PIT histogram bin's count that a calibrated forecast stays in.

    Under calibration the PITs are uniform, so the count of a bin of ``bins`` equal bins over
    ``n`` origins is Binomial(``n``, ``1 / bins``); the band holds its central ``level``.

    Parameters
    ----------
    n : int
        Origins in the histogram.
    bins : int, default HISTOGRAM_BINS
    level : float, default 0.95

    Returns
    -------
    (float, float)
        Lowest and highest count inside the band (``(0, 0)`` for no origin).
    """
    if n <= 0:
        return 0.0, 0.0
    tail = (1.0 - level) / 2.0
    return (float(stats.binom.ppf(tail, n, 1.0 / bins)),
            float(stats.binom.ppf(1.0 - tail, n, 1.0 / bins)))


def _pit_top(rows: Sequence[StatisticSummary | None]) -> float:
    """A y limit that shows every histogram and band of ``rows`` on one scale."""
    top = 1.0
    for row in rows:
        if row is not None and row.n:
            top = max(top, max(row.histogram), pit_band(row.n, len(row.histogram))[1])
    return 1.12 * top


def _draw_pit(ax, row: StatisticSummary | None, top: float, fontsize: float) -> None:
    """One PIT histogram: bars (red outside the band), the uniform line, the band."""
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, top)
    ax.set_xticks([0.0, 0.5, 1.0], ["0", "0.5", "1"])
    ax.tick_params(labelsize=fontsize)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if row is None or row.n == 0:
        ax.text(0.5, 0.5, "no origin", ha="center", va="center", fontsize=fontsize,
                color="0.4", transform=ax.transAxes)
        return
    counts = np.asarray(row.histogram, dtype=float)
    bins = counts.size
    lo, hi = pit_band(row.n, bins)
    ax.axhspan(lo, hi, color="0.55", alpha=0.22, lw=0)
    outside = (counts < lo) | (counts > hi)
    ax.bar(np.arange(bins) / bins, counts, width=1.0 / bins, align="edge",
           color=[_OUTSIDE if o else _BAR for o in outside], alpha=0.8, edgecolor="white",
           linewidth=0.6)
    ax.axhline(row.n / bins, color="0.15", ls="--", lw=1.0)


def _legend_handles() -> list:
    return [Patch(color=_BAR, alpha=0.8, label="origins per PIT bin"),
            Patch(color=_OUTSIDE, alpha=0.8, label="bin outside the band"),
            Line2D([], [], color="0.15", ls="--", lw=1.0, label="uniform (calibrated)"),
            Patch(color="0.55", alpha=0.22, label="95 % binomial band of a bin")]


def _pick(name: str, wanted: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    if wanted is None:
        return list(available)
    chosen = [str(w) for w in wanted]
    unknown = [w for w in chosen if w not in available]
    if unknown or not chosen:
        raise ValueError(f"pit_figure: unknown or no {name} {unknown}; the summary has "
                         f"{list(available)}")
    return chosen


def pit_figure(summary: CalibrationSummary, statistics: Sequence[str] | None = None,
               methods: Sequence[str] | None = None) -> Figure:
    """The PIT histograms of a calibration summary as one figure.

    Parameters
    ----------
    summary : CalibrationSummary
    statistics : sequence of str, optional
        Rows of the grid, in this order; default every statistic of the summary.
    methods : sequence of str, optional
        Columns of the grid, in this order; default every method of the summary.

    Returns
    -------
    matplotlib.figure.Figure
        Rows are statistics and columns methods; a row shares one count scale. Each panel has
        the uniform line and the 95 % binomial band of a bin's count (:func:`pit_band`), bins
        outside it drawn red. The figure is not attached to pyplot.

    Raises
    ------
    ValueError
        A statistic or method the summary does not have.
    """
    if not isinstance(summary, CalibrationSummary) or not summary.rows:
        raise ValueError("pit_figure: expected a CalibrationSummary with rows "
                         "(pipeline.core.calibration.summarize)")
    stat_names = _pick("statistics", statistics, _statistics(summary))
    method_names = _pick("methods", methods, list(summary.methods))
    nrows, ncols = len(stat_names), len(method_names)
    # Margins in inches: two-line panel titles above, the PIT label and the legend below
    # (four entries a row, or two for a narrow grid).
    legend_cols = 4 if ncols > 2 else 2
    legend_rows = math.ceil(len(_legend_handles()) / legend_cols)
    width = 0.9 + 2.9 * ncols
    height = 0.45 + 0.55 + 0.22 * legend_rows + 1.9 * nrows
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.25 / width, top=1 - 0.45 / height,
                        bottom=(0.55 + 0.22 * legend_rows) / height, wspace=0.25,
                        hspace=0.8)
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for i, statistic in enumerate(stat_names):
        rows = [_row(summary, m, statistic) for m in method_names]
        top = _pit_top(rows)
        for j, (method, row) in enumerate(zip(method_names, rows, strict=True)):
            ax = axes[i, j]
            _draw_pit(ax, row, top, fontsize=7)
            n = f" ({row.n} origins)" if row is not None else ""
            ax.set_title(f"{method}{n}\n{statistic_label(statistic, summary.horizon)}",
                         fontsize=8, parse_math=False)
            if j == 0:
                ax.set_ylabel("origins", fontsize=8)
            if i == nrows - 1:
                ax.set_xlabel("PIT", fontsize=8)
    fig.legend(handles=_legend_handles(), loc="lower center", ncols=legend_cols, fontsize=8,
               frameon=False)
    return fig


def save_pit_png(summary: CalibrationSummary, path: str | os.PathLike[str], *,
                 statistics: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                 dpi: int = 120, storage_options: dict | None = None) -> str:
    """Save :func:`pit_figure` as a PNG (no date or software metadata, so reproducible).

    Parameters
    ----------
    summary : CalibrationSummary
    path : str or path-like
        A local file or fsspec URL (``s3://bucket/pit.png``); written atomically.
    statistics, methods : sequence of str, optional
        As for :func:`pit_figure`.
    dpi : int, default 120
    storage_options : dict, optional
        fsspec options to reach ``path``.

    Returns
    -------
    str
        The path or URL written.

    Raises
    ------
    ConfigError
        ``path`` cannot be written.
    """
    fig = pit_figure(summary, statistics, methods)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return _write(path, buf.getvalue(), storage_options)


def _svg(fig: Figure, key: str, title: str) -> Markup:
    """``fig`` as inline SVG markup whose ids all start with ``key``.

    A fixed hash salt makes matplotlib's clip-path and marker ids a function of the drawing;
    the prefix keeps the ids (``figure_1``, ``axes_1``, ... in every drawing) unique on a page of
    many drawings. Text stays text (smaller, searchable); ``title`` is the accessible name.
    """
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata=_SVG_METADATA)
    text = buf.getvalue()
    text = text[text.index("<svg"):].strip()
    text = _SVG_IDS.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", text)
    head = text.index(">") + 1
    text = (text[:head].replace("<svg ", '<svg class="fig" role="img" ', 1)
            + f"<title>{html.escape(title)}</title>" + text[head:])
    return Markup(text)


def _pit_svg(row: StatisticSummary | None, top: float, key: str, title: str) -> Markup:
    fig = Figure(figsize=(3.3, 1.9), dpi=100)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.95, bottom=0.22)
    ax = fig.add_subplot()
    _draw_pit(ax, row, top, fontsize=8)
    ax.set_xlabel("PIT", fontsize=8, labelpad=1)
    ax.set_ylabel("origins", fontsize=8)
    return _svg(fig, key, title)


def _origin_axis(part: pd.DataFrame) -> tuple[np.ndarray, bool]:
    """The origins' positions on a time axis: their timestamps when the table has them
    (``time`` in ISO 8601; naive UTC for plotting), else their bar numbers."""
    if "time" in part.columns:
        times = part["time"].astype(str)
        if not times.str.fullmatch(r"-?\d+").all():
            for utc in (False, True):
                try:
                    when = pd.DatetimeIndex(pd.to_datetime(times, format="ISO8601", utc=utc))
                except (ValueError, TypeError):
                    continue
                if when.tz is not None:
                    when = when.tz_convert("UTC").tz_localize(None)
                return when.to_numpy(), True
    return part["origin"].to_numpy(dtype=float), False


def _fan_svg(table: pd.DataFrame, methods: Sequence[str], horizon: int) -> Markup | None:
    """Forecast quantiles of the ``h``-bar return against the realized one over the origins,
    one panel per method; None when the table has no return rows with quantiles."""
    needed = {"realized"} | {f"q{q:g}" for q in QUANTILES}
    if not needed <= set(table.columns):
        return None
    rows = table[table["statistic"].astype(str) == "return"]
    parts = [(m, rows[rows["method"].astype(str) == m].sort_values("origin", kind="stable"))
             for m in methods]
    parts = [(m, p) for m, p in parts if len(p)]
    if not parts:
        return None
    width, height = 10.0, 0.7 + 2.1 * len(parts)
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=0.08, right=0.99, top=1 - 0.3 / height, bottom=0.45 / height,
                        hspace=0.45)
    axes = np.atleast_1d(fig.subplots(len(parts), 1, sharex=True, sharey=True))
    for ax, (method, part) in zip(axes, parts, strict=True):
        x, dated = _origin_axis(part)
        for lo, hi, alpha, label in _FAN_BANDS:
            ax.fill_between(x, part[f"q{lo:g}"].to_numpy(dtype=float),
                            part[f"q{hi:g}"].to_numpy(dtype=float), color=_BAR, alpha=alpha,
                            lw=0, label=f"scenarios {label}")
        ax.plot(x, part["q0.5"].to_numpy(dtype=float), color=_BAR, lw=0.9,
                label="scenarios' median")
        y = part["realized"].to_numpy(dtype=float)
        out = (y < part["q0.05"].to_numpy(dtype=float)) | (y > part["q0.95"].to_numpy(dtype=float))
        ax.plot(x[~out], y[~out], ".", ms=3.5, color="0.15", label="realized")
        ax.plot(x[out], y[out], ".", ms=4.5, color=_OUTSIDE, label="realized outside 5–95 %")
        ax.axhline(0.0, color="0.4", lw=0.6)
        share = f"{out.mean():.0%}" if len(out) else "–"
        ax.set_title(f"{method}: {horizon}-bar log return at {len(part)} origins "
                     f"({share} outside 5–95 %)", fontsize=9, parse_math=False)
        ax.set_ylabel("log return", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.25, linewidth=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("origin" if dated else "origin (bar)", fontsize=8)
    axes[0].legend(fontsize=7, frameon=False, loc="upper left", ncols=3)
    return _svg(fig, "fan", f"forecast quantiles of the {horizon}-bar return against the "
                            f"realized return, by origin")


# --------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------


def _pct(v: float) -> str:
    return render.num(None if v is None else 100.0 * v, ".1f") + (
        " %" if v is not None and math.isfinite(v) else "")


def _band(band: tuple[float, float]) -> str:
    lo, hi = band
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    return f"{100.0 * lo:.1f}–{100.0 * hi:.1f} %"


def _coverage_rows(row: StatisticSummary) -> list[list[Any]]:
    """Level, share, hits of origins, binomial band and verdict; misses flagged."""
    out = []
    for c in row.coverage:
        flagged = c.verdict in ("too narrow", "too wide")
        share = _pct(c.share)
        out.append([f"{c.level:.0%}", render.warn(share) if flagged else share,
                    f"{c.hits} / {c.n}", _band(c.band),
                    render.warn(c.verdict) if flagged else c.verdict])
    return out


def _verdict(row: StatisticSummary | None) -> Any:
    if row is None:
        return "–"
    return row.verdict if row.verdict == "calibrated" else render.warn(row.verdict)


def _detail(value: Any) -> str:
    """A settings value as text: numbers short, sequences and mappings flattened."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return render.num(float(value), "g")
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_detail(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(_detail(v) for v in items)
    return str(value)


def _ids(names: Sequence[str]) -> list[str]:
    """Unique section ids for ``names``."""
    seen: set[str] = set()
    out = []
    for name in names:
        base = "stat-" + render.slug(name)
        key, k = base, 1
        while key in seen:
            k += 1
            key = f"{base}-{k}"
        seen.add(key)
        out.append(key)
    return out


def _origins(table: pd.DataFrame) -> dict[str, Any]:
    origins = table[["origin"] + (["time"] if "time" in table.columns else [])]
    origins = origins.drop_duplicates("origin").sort_values("origin", kind="stable")
    if origins.empty:
        return {"count": 0, "first": "–", "last": "–"}
    when = origins["time"] if "time" in origins.columns else origins["origin"]
    return {"count": len(origins), "first": _day(when.iloc[0]), "last": _day(when.iloc[-1])}


def _day(value: Any) -> str:
    """A timestamp as text, without a midnight time of day (daily bars)."""
    text = str(value)
    for midnight in ("T00:00:00", " 00:00:00"):
        if text.endswith(midnight):
            return text[: -len(midnight)]
    return text


def calibration_context(table: pd.DataFrame, summary: CalibrationSummary,
                        details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the calibration page shows: table rows, inline SVG figures and numbers.

    Parameters
    ----------
    table : pandas.DataFrame
        The rows of a calibration run (``calibration.parquet``): ``method``, ``origin``,
        ``statistic``, and for the fan of the ``h``-bar return ``time``, ``realized`` and the
        quantile columns ``q0.025`` ... ``q0.975`` (without them the fan is left out).
    summary : CalibrationSummary
        ``summarize(table, horizon)``.
    details : mapping of str to object, optional
        Settings shown as a small table, label to value (input, origins, horizon, scenarios,
        window, seed, ...), in the mapping's order. Values are shown as text.

    Returns
    -------
    dict
        The variables of ``templates/calibration.html.j2`` (without ``title`` and ``css``).
        Cells are plain text, escaped by the template, or markup whose text is escaped.

    Raises
    ------
    TypeError, ValueError
        ``table`` is not a calibration table, or ``summary`` is not its summary.
    """
    _check(table, summary)
    horizon = summary.horizon
    methods = list(summary.methods)
    names = _statistics(summary)
    sections = []
    for i, (name, sid) in enumerate(zip(names, _ids(names), strict=True)):
        label = statistic_label(name, horizon)
        rows = [_row(summary, m, name) for m in methods]
        top = _pit_top(rows)
        cells = []
        for j, (method, row) in enumerate(zip(methods, rows, strict=True)):
            figure = _pit_svg(row, top, f"pit{i + 1}-{j + 1}",
                              f"PIT histogram of {method}: {label}")
            if row is None:
                cells.append({"method": method, "figure": figure, "row": None})
                continue
            cells.append({
                "method": method,
                "figure": figure,
                "row": row,
                "band": pit_band(row.n, len(row.histogram)),
                "coverage_rows": _coverage_rows(row),
                "numbers": [["origins", row.n],
                            ["uniformity p (KS)", render.num(row.uniformity_p, ".2g")],
                            ["mean PIT", render.num(row.mean_pit, ".3f")],
                            ["lean", row.bias],
                            ["mean CRPS", render.num(row.crps, ".4g")]],
                "verdict": _verdict(row),
            })
        sections.append({"id": sid, "name": name, "label": label, "cells": cells})

    returns = {m: _row(summary, m, "return") for m in methods}
    method_rows = []
    for m in methods:
        mine = [r for r in summary.rows if r.method == m]
        good = sum(r.verdict == "calibrated" for r in mine)
        ret = returns[m]
        method_rows.append([m, max((r.n for r in mine), default=0),
                            render.num(None if ret is None else ret.crps, ".4g"),
                            f"{good} of {len(mine)}"])
    verdict_rows = [[render.link(s["id"], s["label"])]
                    + [_verdict(_row(summary, m, s["name"])) for m in methods]
                    for s in sections]
    cells = sum(len(r.coverage) for r in summary.rows)
    return {
        "horizon": horizon,
        "methods": methods,
        "overlapping": summary.overlapping,
        "origins": _origins(table),
        "details": [(str(k), _detail(v)) for k, v in (details or {}).items()],
        "method_rows": method_rows,
        "verdict_rows": verdict_rows,
        "sections": sections,
        "tests": {"cells": cells, "levels": len(LEVELS), "bins": HISTOGRAM_BINS,
                  "chance": cells / 20.0},
        "fan": _fan_svg(table, methods, horizon),
        "report_data": _json({"summary": summary.as_dict(), "origins": _origins(table)}),
    }


def _json(data: Any) -> Markup:
    """``data`` as JSON for the page's data script element, with every ``<`` as ``\\u003c``:
    method names and titles are the caller's text, and ``<!--`` or ``<script`` inside a
    script element can change how the HTML parser reads the rest of the page."""
    # "<" only occurs inside JSON strings, where \u003c decodes to the same character.
    return Markup(str(render.report_json(data)).replace("<", "\\u003c"))


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------


def render_calibration(table: pd.DataFrame, summary: CalibrationSummary, *, title: str = _TITLE,
                       details: Mapping[str, Any] | None = None) -> str:
    """The calibration page as the text of one self-contained HTML file.

    Parameters
    ----------
    table, summary, details
        As for :func:`calibration_context`.
    title : str, default "Walk-forward calibration"
        The page's title and heading (escaped).

    Returns
    -------
    str
        HTML with inline CSS and inline SVG figures; no external asset, no timestamp.
    """
    context = calibration_context(table, summary, details)
    css = resources.files("pipeline.report").joinpath("templates", _CSS).read_text("utf-8")
    template = render._environment().get_template(_TEMPLATE)
    return template.render(title=str(title), css=Markup(css), **context)


def _write(path: str | os.PathLike[str], data: bytes, storage_options: dict | None) -> str:
    """Write ``data`` to the file ``path`` (local or fsspec URL) atomically."""
    path = os.fspath(path)
    protocol, rest = fsspec.core.split_protocol(path)
    local = protocol is None or protocol in ("file", "local")
    if local:
        parent, name = os.path.split(os.path.abspath(os.path.expanduser(rest)))
    else:
        parent, _, name = rest.rpartition("/")
        parent = f"{protocol}://{parent}" if parent else ""
    if not name or path.endswith(("/", os.sep)) or not parent:
        raise ValueError(f"expected the path of a file to write (e.g. out/{CALIBRATION_REPORT}"
                         f" or s3://bucket/{CALIBRATION_REPORT}), got {path!r}")
    store = OutputStore(parent, storage_options=storage_options)
    store.write_bytes(name, data)
    return store.path(name)


def write_calibration_report(table: pd.DataFrame, summary: CalibrationSummary,
                             path: str | os.PathLike[str], *, title: str = _TITLE,
                             details: Mapping[str, Any] | None = None,
                             storage_options: dict | None = None) -> str:
    """Write the calibration page (:func:`render_calibration`) to ``path``.

    Parameters
    ----------
    table, summary, title, details
        As for :func:`render_calibration`.
    path : str or path-like
        The file to write: a local path (parent directories are created) or an fsspec URL
        (``s3://bucket/run/calibration.html``). A local file is written to a hidden temporary
        sibling and renamed into place, an object store gets one PUT of the whole page, so a
        reader never sees half a page and a failed write leaves nothing behind.
    storage_options : dict, optional
        fsspec options to reach ``path`` (e.g. S3 credentials and endpoint).

    Returns
    -------
    str
        The absolute local path or the URL written.

    Raises
    ------
    ConfigError
        ``path`` cannot be written (read-only or missing location, a directory in the way,
        missing bucket); the message names the location and the reason.
    ValueError
        ``path`` names no file, or the table and summary cannot be shown (see
        :func:`calibration_context`).
    """
    text = render_calibration(table, summary, title=title, details=details)
    return _write(path, text.encode("utf-8"), storage_options)
