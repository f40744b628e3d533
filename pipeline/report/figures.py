"""The report's figures: matplotlib (Agg) drawings returned as base64 PNG text.

Each figure function takes what :mod:`pipeline.report.data` loaded or computed and returns the
PNG, ready to embed as ``data:image/png;base64,...``. The PNGs carry no software or date
metadata, so the same run gives the same bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from pipeline.report.data import ACF_LAGS, P_VALUE_METRICS, Asset, acf

__all__ = [
    "fan_chart",
    "returns_figure",
    "acf_figure",
    "metrics_figure",
    "scores_figure",
    "correlation_matrices_figure",
    "pair_distributions_figure",
    "transitions_figure",
    "regime_shares_figure",
    "regime_paths_figure",
    "timeframes_figure",
]

_SYN = "#1f77b4"
_ORIG = "#d62728"
#: Points one scatter draws at most: past it, every k-th scenario (a run of 100,000 would
#: take seconds to draw and show a solid blot all the same).
_MAX_POINTS = 5000


def _every_kth(n: int) -> slice:
    """The scenarios a scatter of ``n`` draws: all up to :data:`_MAX_POINTS`, else every k-th."""
    return slice(None, None, max(1, math.ceil(n / _MAX_POINTS)))


def _figure(w: float, h: float, **adjust: float):
    # Fixed margins rather than a layout engine: constrained layout cost a quarter of the run.
    fig = Figure(figsize=(w, h), dpi=100)
    fig.subplots_adjust(**adjust)
    return fig


def _png(fig) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _histogram_grid(n: int) -> tuple[Figure, list]:
    """A figure of ``n`` full-size panels, four a row; the grid's spare panels hidden."""
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    fig = _figure(14, 3.2 * nrows, left=0.045, right=0.99, top=1 - 0.28 / (3.2 * nrows),
                  bottom=0.5 / (3.2 * nrows), wspace=0.22, hspace=0.45)
    axes = list(np.atleast_1d(fig.subplots(nrows, ncols)).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _small_panel(ax, title: str) -> None:
    """One small histogram of a grid: a title, few x ticks, no y axis."""
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


def fan_chart(a: Asset) -> str:
    """Fan chart of an asset's synthetic closes (percentile bands, median, three sample
    paths) over the original close, log scale; a base64 PNG."""
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


def returns_figure(x: np.ndarray, y: np.ndarray) -> str:
    """Density of the original's (``x``) and the pooled synthetic (``y``) log-returns, linear
    and log scale, and their QQ plot; a base64 PNG."""
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


def acf_figure(x: np.ndarray, y: np.ndarray) -> str:
    """ACF of returns and of absolute returns: the original as a line, the synthetic series
    as a 5–95 % band; a base64 PNG."""
    fig = _figure(12, 3.6, left=0.04, right=0.99, top=0.92, bottom=0.14, wspace=0.12)
    axes = fig.subplots(1, 2)
    lags = np.arange(1, ACF_LAGS + 1)
    for ax, f, title in ((axes[0], lambda v: v, "ACF of returns"),
                         (axes[1], np.abs, "ACF of absolute returns")):
        syn = acf(f(y), ACF_LAGS)
        p5, p50, p95 = np.nanpercentile(syn, [5, 50, 95], axis=0)
        ax.fill_between(lags, p5, p95, color=_SYN, alpha=0.25, lw=0,
                        label="synthetic 5–95 % across series")
        ax.plot(lags, p50, color=_SYN, lw=1, label="synthetic median")
        ax.plot(lags, acf(f(x), ACF_LAGS)[0], color=_ORIG, lw=1.3, marker=".", ms=4,
                label="original")
        band = 1.96 / math.sqrt(len(x))
        ax.axhspan(-band, band, color="0.5", alpha=0.12, lw=0, label="±1.96/√n (white noise)")
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_xlabel("lag (bars)", fontsize=9)
        ax.set_title(title, fontsize=10)
        _style(ax)
    axes[1].legend(fontsize=8, frameon=False, loc="upper right")
    return _png(fig)


def _metric_values(name: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    if name in P_VALUE_METRICS:
        return -np.log10(np.clip(values, 1e-300, None)), f"{name} (−log10)"
    return values, name


def metrics_figure(a: Asset, names: Sequence[str], conditioned: bool = False) -> str:
    """One histogram per metric across scenarios, the original's value marked (and the
    conditioned reference's, for a conditioned run); a base64 PNG."""
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


def scores_figure(scores: np.ndarray, min_fidelity: float,
                drawdowns: Sequence[tuple[str, np.ndarray, float | None, float | None]]) -> str:
    """Fidelity histogram, then one max drawdown histogram per ``(title, values, original,
    conditioned reference)``."""
    n = 1 + len(drawdowns)
    if n == 2:
        fig = _figure(12, 3.4, left=0.05, right=0.99, top=0.91, bottom=0.15, wspace=0.18)
        axes = list(fig.subplots(1, 2))
    else:
        fig, axes = _histogram_grid(n)
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


def correlation_matrices_figure(cross: dict) -> str:
    """Heatmaps of the return and absolute-return correlation matrices (original, synthetic
    median, difference) of :func:`~pipeline.report.data.cross_asset`; a base64 PNG."""
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


def pair_distributions_figure(cross: dict, scenarios: pd.DataFrame) -> str:
    """Each pair's correlation across scenarios, the original marked; a base64 PNG."""
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
    cmap = colormaps["RdYlBu_r"]  # calm blue to volatile red
    return [cmap(0.1 + 0.8 * i / max(k - 1, 1)) for i in range(k)]


def transitions_figure(reg: dict) -> str:
    """Heatmaps of the fitted and used transition matrices (and their difference when they
    differ) of :func:`~pipeline.report.data.regimes`; a base64 PNG."""
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


def regime_shares_figure(reg: dict) -> str:
    """Share of bars in each regime across scenarios, against the input's and the used
    matrix's long-run shares; a base64 PNG."""
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
            drawn = v[_every_kth(len(v))]
            ax.plot(r + rng.uniform(-0.18, 0.18, len(drawn)), drawn, "o", ms=3, alpha=0.7,
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


def regime_paths_figure(reg: dict) -> str:
    """Strip plot of the regime paths of the input and the first scenarios; a base64 PNG."""
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


def timeframes_figure(base: np.ndarray, tfs: dict, min_fidelity: float) -> str:
    """Fidelity at the base bars and at each timeframe of
    :func:`~pipeline.report.data.timeframes`, and the same scenarios' scores base against
    timeframe; a base64 PNG."""
    rules = list(tfs)
    n = len(rules) + 2
    fig, axes = _histogram_grid(n)
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
    drawn = _every_kth(len(base))
    for j, r in enumerate(rules):
        ax.plot(base[drawn], every[j + 1][drawn], ".", ms=4, alpha=0.7, color=f"C{j}", label=r)
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.8, ls="--")
    ax.set_xlabel("fidelity at base bars", fontsize=9)
    ax.set_ylabel("fidelity at timeframe", fontsize=9)
    ax.set_title("Same scenario, base vs timeframe", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    _style(ax)
    return _png(fig)
