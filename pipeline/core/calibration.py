"""Walk-forward calibration: would the scenarios have covered what happened next?

At each origin ``T`` of a walk forward over the history, a method fitted on the bars up to ``T``
generates ``N`` scenarios of ``h`` bars. Each scenario's *path statistics* (:data:`STATISTICS`)
are compared with the realized ones of the ``h`` bars after ``T`` by the **probability integral
transform** (PIT): the realized value's rank among the scenarios. If the scenarios are
calibrated, the PITs of many origins are uniform on (0, 1), the central ``p`` interval of the
scenarios holds the realized value a share ``p`` of the time, and nothing in the PITs leans to
one side.

This module is pure: path statistics of arrays, one origin's rows, and the summary of a whole
table (coverage with binomial bands, a uniformity test, PIT histograms, the CRPS, and a verdict
in plain words). The walk forward itself runs on the cluster (:mod:`pipeline.runner.calibrate`).

What the numbers can show and what they cannot
-----------------------------------------------
* Coverage is judged against a **binomial band**: with ``n`` origins and a calibrated forecast,
  the hits of a central ``p`` interval are Binomial(``n``, ``p``); the band holds 95 % of that
  distribution. A share outside it is evidence of miscalibration; a share inside is only
  *consistent* with calibration (a few dozen origins cannot tell 85 % from 90 %).
* Many cells are tested at once (methods x statistics x levels): at 95 % bands about one cell in
  twenty falls outside by chance alone. Read a verdict as evidence when it is repeated across
  levels, statistics or series.
* The uniformity test (Kolmogorov-Smirnov against U(0, 1)) assumes independent PITs. Origins
  whose horizons overlap (``step < h``) give dependent PITs and p-values that are too small; the
  summary says so (:attr:`CalibrationSummary.overlapping`).
* Discrete statistics (the count of VaR exceedances, a drawdown of exactly 0) tie with many
  scenarios; the PIT is *randomized* within the ties (Czado, Gneiting and Held 2009), so it is
  uniform under calibration whatever the ties.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "STATISTICS",
    "LEVELS",
    "QUANTILES",
    "HISTOGRAM_BINS",
    "var_threshold",
    "path_statistics",
    "randomized_pit",
    "crps_ensemble",
    "origin_rows",
    "Coverage",
    "StatisticSummary",
    "CalibrationSummary",
    "statistic_label",
    "summarize",
]

#: Path statistics of a scenario of ``h`` bars, in the order tables and reports show them.
STATISTICS = ("return", "volatility", "max_drawdown", "var_exceedances", "path_high", "path_low")
#: Central intervals of the scenarios whose coverage is reported.
LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Quantiles of the scenarios kept per origin and statistic (for fan plots of forecast against
#: realized).
QUANTILES = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)
#: Bins of the PIT histograms.
HISTOGRAM_BINS = 10
#: Significance of the uniformity and bias tests behind a verdict.
TEST_LEVEL = 0.01
#: Fewest origins a verdict is given for.
MIN_ORIGINS = 10


def var_threshold(log_returns: np.ndarray, level: float = 0.01) -> float:
    """The historical ``level`` value-at-risk of one bar: the empirical ``level`` quantile of the
    fit window's close log-returns (a negative number for any market that ever falls).

    Exceedances of it are counted on the scenarios and on the realized path alike, so the
    statistic asks whether the scenarios expect as many bad bars as came.
    """
    r = np.asarray(log_returns, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise ValueError("var_threshold: no finite log-returns")
    return float(np.quantile(r, level))


def path_statistics(ohlcv: np.ndarray, start_price: float, var_limit: float
                    ) -> dict[str, np.ndarray]:
    """The path statistics of ``n`` paths of ``h`` bars that start from ``start_price``.

    Parameters
    ----------
    ohlcv : ndarray, shape (n, h, fields)
        Bars ``Open High Low Close [Volume]`` of each path (the scenarios, or the realized bars
        as one path).
    start_price : float
        The close at the origin, before the first bar.
    var_limit : float
        One-bar log-return threshold whose exceedances are counted (:func:`var_threshold`).

    Returns
    -------
    dict of str to ndarray of shape (n,)
        ``return``: ``log(C_h / S)``. ``volatility``: the root mean square of the ``h`` close
        log-returns (the first from ``S``), per bar. ``max_drawdown``: the largest fall from a
        running peak (the start included), as a fraction in [0, 1). ``var_exceedances``: the
        bars whose close log-return is below ``var_limit``. ``path_high`` and ``path_low``:
        ``log(max High / S)`` and ``log(min Low / S)``.
    """
    a = np.asarray(ohlcv, dtype=float)
    if a.ndim != 3 or a.shape[1] < 1 or a.shape[2] < 4:
        raise ValueError(f"path_statistics: expected (paths, bars, >=4 fields), got {a.shape}")
    if not (math.isfinite(start_price) and start_price > 0):
        raise ValueError(f"path_statistics: start price must be positive, got {start_price!r}")
    log_close = np.log(a[:, :, 3])
    log_start = math.log(start_price)
    r = np.diff(log_close, axis=1, prepend=log_start)
    peak = np.maximum(np.maximum.accumulate(log_close, axis=1), log_start)
    drawdown = -np.expm1(np.min(log_close - peak, axis=1))
    return {
        "return": log_close[:, -1] - log_start,
        "volatility": np.sqrt(np.mean(r * r, axis=1)),
        "max_drawdown": np.maximum(drawdown, 0.0),
        "var_exceedances": np.sum(r < var_limit, axis=1).astype(float),
        "path_high": np.log(np.max(a[:, :, 1], axis=1)) - log_start,
        "path_low": np.log(np.min(a[:, :, 2], axis=1)) - log_start,
    }


def randomized_pit(scenarios: np.ndarray, realized: float, u: float) -> float:
    """The realized value's rank among the scenarios as a number in (0, 1).

    ``(#below + u (#equal + 1)) / (N + 1)`` with ``u`` uniform on [0, 1): the realized value
    takes a uniformly drawn place among the scenarios equal to it. If it is a draw from the
    scenarios' distribution, the result is uniform on (0, 1), ties or not.
    """
    x = np.asarray(scenarios, dtype=float)
    below = int(np.count_nonzero(x < realized))
    equal = int(np.count_nonzero(x == realized))
    return (below + u * (equal + 1)) / (x.size + 1)


def crps_ensemble(scenarios: np.ndarray, realized: float) -> float:
    """The continuous ranked probability score of the scenarios' empirical distribution.

    ``E|X - y| - E|X - X'| / 2`` over the scenarios ``X``, ``X'``: the mean absolute error of
    the whole distribution, in the statistic's units (lower is better; a point forecast's CRPS
    is its absolute error). Computed from the sorted scenarios in ``O(N log N)``.
    """
    x = np.sort(np.asarray(scenarios, dtype=float))
    n = x.size
    spread = np.dot(2.0 * np.arange(1, n + 1) - n - 1, x) / (n * n)
    return float(np.mean(np.abs(x - realized)) - spread)


def origin_rows(paths: Mapping[str, np.ndarray], realized: Mapping[str, float],
                rng: np.random.Generator) -> list[dict]:
    """The table rows of one origin and method: one per statistic.

    Parameters
    ----------
    paths : mapping of str to ndarray
        The scenarios' path statistics (:func:`path_statistics`).
    realized : mapping of str to float
        The realized path's statistics.
    rng : numpy.random.Generator
        Draws the PITs' tie-breaking uniforms (one per statistic, in :data:`STATISTICS` order),
        so a fixed seed gives the same rows.

    Returns
    -------
    list of dict
        ``statistic``, ``realized``, ``pit``, ``crps`` and the scenarios' quantiles as
        ``q0.025`` ... ``q0.975``.
    """
    rows = []
    draws = rng.random(len(STATISTICS))
    for name, u in zip(STATISTICS, draws, strict=True):
        x = np.asarray(paths[name], dtype=float)
        y = float(realized[name])
        row = {"statistic": name, "realized": y, "pit": randomized_pit(x, y, float(u)),
               "crps": crps_ensemble(x, y)}
        row.update({f"q{q:g}": float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES),
                                                          strict=True)})
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Coverage:
    """How often the central ``level`` interval of the scenarios held the realized value.

    ``band`` is the 95 % range of the hit share a calibrated forecast gives with ``n`` origins
    (binomial); ``verdict`` is ``"ok"`` inside it, ``"too narrow"`` below (the realized value
    fell outside too often) and ``"too wide"`` above.
    """

    level: float
    hits: int
    n: int
    share: float
    band: tuple[float, float]
    verdict: str


@dataclass(frozen=True)
class StatisticSummary:
    """The calibration of one method for one path statistic over all origins.

    Attributes
    ----------
    method, statistic : str
    n : int
        Origins with a PIT.
    coverage : tuple of Coverage
        One per :data:`LEVELS`.
    uniformity_p : float
        Kolmogorov-Smirnov p-value of the PITs against U(0, 1) (NaN under :data:`MIN_ORIGINS`).
    mean_pit : float
        0.5 under calibration; above it, realized values sat high among the scenarios (the
        scenarios ran too low), below it too high.
    bias : str
        ``"none"``, ``"scenarios too low"`` or ``"scenarios too high"`` (mean PIT off 0.5 at
        :data:`TEST_LEVEL`).
    histogram : tuple of int
        PIT counts in :data:`HISTOGRAM_BINS` equal bins of [0, 1].
    crps : float
        Mean CRPS over the origins, in the statistic's units.
    verdict : str
        ``"calibrated"``, ``"too narrow"``, ``"too wide"``, ``"biased"``, ``"misshapen"`` or
        ``"too few origins"``.
    sentence : str
        The verdict in plain words, with the numbers behind it.
    """

    method: str
    statistic: str
    n: int
    coverage: tuple[Coverage, ...]
    uniformity_p: float
    mean_pit: float
    bias: str
    histogram: tuple[int, ...]
    crps: float
    verdict: str
    sentence: str

    def at(self, level: float) -> Coverage:
        """The coverage of the central ``level`` interval."""
        for c in self.coverage:
            if math.isclose(c.level, level):
                return c
        raise KeyError(f"no coverage at level {level}; levels: {[c.level for c in self.coverage]}")


@dataclass(frozen=True)
class CalibrationSummary:
    """Every method's calibration for every path statistic (:func:`summarize`).

    ``overlapping``: some origins are closer than the horizon, so their PITs are dependent and
    the uniformity p-values too small.
    """

    horizon: int
    methods: tuple[str, ...]
    rows: tuple[StatisticSummary, ...]
    overlapping: bool

    def get(self, method: str, statistic: str) -> StatisticSummary:
        for row in self.rows:
            if row.method == method and row.statistic == statistic:
                return row
        raise KeyError(f"no summary for method {method!r} and statistic {statistic!r}")

    def coverage_frame(self) -> pd.DataFrame:
        """One row per method, statistic and level: hits, origins, share, band and verdict."""
        out = []
        for row in self.rows:
            for c in row.coverage:
                out.append({"method": row.method, "statistic": row.statistic,
                            "level": c.level, "hits": c.hits, "origins": c.n,
                            "share": c.share, "band_low": c.band[0], "band_high": c.band[1],
                            "verdict": c.verdict})
        return pd.DataFrame(out)

    def frame(self) -> pd.DataFrame:
        """One row per method and statistic: origins, coverage at each level, uniformity p,
        mean PIT, CRPS and verdict."""
        out = []
        for row in self.rows:
            item = {"method": row.method, "statistic": row.statistic, "origins": row.n}
            item.update({f"cover{c.level:g}": c.share for c in row.coverage})
            item.update({"uniformity_p": row.uniformity_p, "mean_pit": row.mean_pit,
                         "crps": row.crps, "verdict": row.verdict})
            out.append(item)
        return pd.DataFrame(out)

    def as_dict(self) -> dict:
        """A JSON-ready form (NaN as None)."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [clean(x) for x in v]
            return v
        return clean({"horizon": self.horizon, "methods": list(self.methods),
                      "overlapping": self.overlapping,
                      "rows": [asdict(r) for r in self.rows]})


def statistic_label(statistic: str, horizon: int) -> str:
    """A path statistic in words, e.g. ``21-bar volatility``."""
    labels = {
        "return": f"{horizon}-bar return",
        "volatility": f"{horizon}-bar volatility",
        "max_drawdown": f"maximum drawdown over {horizon} bars",
        "var_exceedances": f"count of 1 % VaR breaches in {horizon} bars",
        "path_high": f"highest high over {horizon} bars",
        "path_low": f"lowest low over {horizon} bars",
    }
    return labels.get(statistic, statistic)


def _coverage(pit: np.ndarray, level: float) -> Coverage:
    n = int(pit.size)
    lo, hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    hits = int(np.count_nonzero((pit >= lo) & (pit <= hi)))
    share = hits / n if n else math.nan
    if n == 0:
        return Coverage(level, 0, 0, math.nan, (math.nan, math.nan), "too few origins")
    band = (float(stats.binom.ppf(0.025, n, level)) / n,
            float(stats.binom.ppf(0.975, n, level)) / n)
    verdict = "too narrow" if share < band[0] else "too wide" if share > band[1] else "ok"
    return Coverage(level, hits, n, share, band, verdict)


def _bias(pit: np.ndarray) -> tuple[float, str]:
    """Mean PIT and whether it is off 0.5 (its sd under uniformity is sqrt(1 / 12n))."""
    if pit.size == 0:
        return math.nan, "none"
    mean = float(pit.mean())
    z = (mean - 0.5) / math.sqrt(1.0 / (12.0 * pit.size))
    if abs(z) < stats.norm.ppf(1.0 - TEST_LEVEL / 2.0):
        return mean, "none"
    return mean, "scenarios too low" if z > 0 else "scenarios too high"


def _verdict(coverage: Sequence[Coverage], p: float, bias: str, n: int) -> str:
    if n < MIN_ORIGINS:
        return "too few origins"
    narrow = sum(c.verdict == "too narrow" for c in coverage)
    wide = sum(c.verdict == "too wide" for c in coverage)
    if narrow > wide:
        return "too narrow"
    if wide > narrow:
        return "too wide"
    if bias != "none":
        return "biased"
    if p < TEST_LEVEL:
        return "misshapen"
    return "calibrated"


_EXPLAIN = {
    "calibrated": "consistent with calibration",
    "too narrow": "too narrow (the realized value fell outside the scenarios' band too often)",
    "too wide": "too wide (the scenarios' band was wider than what happened needed)",
    "biased": "the band's width fits but the scenarios lean to one side",
    "misshapen": "coverage fits but the PITs are not uniform (the scenarios' shape is off)",
    "too few origins": "too few origins to judge",
}


_LEANS = {
    "scenarios too low": "realized values sat high among the scenarios (they ran too low)",
    "scenarios too high": "realized values sat low among the scenarios (they ran too high)",
}


def _sentence(method: str, statistic: str, horizon: int, cov: Coverage, p: float, bias: str,
              verdict: str) -> str:
    label = statistic_label(statistic, horizon)
    if cov.n == 0:
        return f"{method}: no origin for the {label}."
    text = (f"{method}: the {cov.level:.0%} band for the {label} held {cov.share:.0%} of the "
            f"time ({cov.band[0]:.0%}-{cov.band[1]:.0%} expected from {cov.n} origins): "
            f"{_EXPLAIN[verdict]}")
    if bias != "none":
        text += "; " + _LEANS[bias]
    if math.isfinite(p):
        text += f"; uniformity p = {p:.2g}"
    return text + "."


def _cited(coverage: Sequence[Coverage], verdict: str) -> Coverage:
    """The interval a sentence cites: the 90 % one, unless the verdict is about the width and
    that one is inside its band; then the level that is furthest outside, in band widths (so the
    sentence shows the evidence for its verdict)."""
    main = next(c for c in coverage if math.isclose(c.level, 0.9))
    if verdict not in ("too narrow", "too wide") or main.verdict == verdict:
        return main

    def outside(c: Coverage) -> float:
        low, high = c.band
        return max(low - c.share, c.share - high) / max(high - low, 1e-12)

    return max((c for c in coverage if c.verdict == verdict), key=outside)


def _summarize_one(method: str, statistic: str, part: pd.DataFrame, horizon: int
                   ) -> StatisticSummary:
    pit = part["pit"].to_numpy(dtype=float)
    pit = pit[np.isfinite(pit)]
    coverage = tuple(_coverage(pit, level) for level in LEVELS)
    p = (float(stats.kstest(pit, "uniform").pvalue) if pit.size >= MIN_ORIGINS else math.nan)
    mean, bias = _bias(pit)
    histogram = np.histogram(pit, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
    crps = part["crps"].to_numpy(dtype=float)
    crps = float(np.mean(crps[np.isfinite(crps)])) if np.isfinite(crps).any() else math.nan
    verdict = _verdict(coverage, p, bias, int(pit.size))
    main = _cited(coverage, verdict)
    return StatisticSummary(
        method=method, statistic=statistic, n=int(pit.size), coverage=coverage,
        uniformity_p=p, mean_pit=mean, bias=bias,
        histogram=tuple(int(c) for c in histogram), crps=crps, verdict=verdict,
        sentence=_sentence(method, statistic, horizon, main, p, bias, verdict))


def summarize(table: pd.DataFrame, horizon: int) -> CalibrationSummary:
    """Coverage, uniformity, PIT histograms, CRPS and a verdict per method and statistic.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of a calibration (``calibration.parquet``): at least ``method``, ``origin``,
        ``statistic``, ``pit`` and ``crps``.
    horizon : int
        Bars per scenario (``h``).

    Returns
    -------
    CalibrationSummary
        Methods in their order of first appearance in ``table``, statistics in
        :data:`STATISTICS` order (unknown statistics after them).
    """
    missing = {"method", "origin", "statistic", "pit", "crps"} - set(table.columns)
    if missing:
        raise ValueError(f"summarize: the table lacks column(s) {sorted(missing)}")
    methods = tuple(dict.fromkeys(table["method"].tolist()))
    order = {s: i for i, s in enumerate(STATISTICS)}
    rows = []
    for method in methods:
        mine = table[table["method"] == method]
        names = sorted(dict.fromkeys(mine["statistic"].tolist()),
                       key=lambda s: (order.get(s, len(order)), s))
        rows.extend(_summarize_one(method, name, mine[mine["statistic"] == name], horizon)
                    for name in names)
    origins = np.unique(table["origin"].to_numpy())
    overlapping = bool(origins.size > 1 and np.min(np.diff(origins)) < horizon)
    return CalibrationSummary(horizon=int(horizon), methods=methods, rows=tuple(rows),
                              overlapping=overlapping)
