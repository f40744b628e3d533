"""One step of a walk forward: fit at an origin, forecast ``h`` bars, rank what happened.

:func:`walk_origins` places the origins of a walk forward over a history; :func:`forecast_origin`
does the work of one origin for one or more methods: it fits each method on the bars up to the
origin ``T`` only (all of them, or the last ``window`` of them), generates ``N`` scenarios of
``h`` bars that continue from ``T`` (its close and, where the method has one, its state), and
compares their path statistics with those of the ``h`` bars that followed ``T``
(:mod:`pipeline.core.calibration`). The runner makes each origin a task on the cluster
(:mod:`pipeline.runner.calibrate`); the known-model tests call these functions directly.

Everything here is a function of its arguments: the scenarios of an origin and method come from
a seed derived from the run's seed, the origin's bar and the method's name, so any number of
workers, in any order, give the same table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from pipeline.core.assets import Assets
from pipeline.core.calibration import (
    QUANTILES,
    STATISTICS,
    origin_rows,
    path_statistics,
    var_threshold,
)
from pipeline.core.fit import MIN_FIT_BARS, fit_generation_model, frame_to_array
from pipeline.core.sampler import GenerationModel
from pipeline.core.settings import GenerationSettings
from pipeline.errors import ConfigError, InputDataError

__all__ = [
    "walk_origins",
    "origin_seed",
    "window_start",
    "fit_at",
    "realized_bars",
    "score_forecast",
    "forecast_origin",
]


def walk_origins(n_bars: int, horizon: int, step: int, min_window: int) -> list[int]:
    """The origins of a walk forward: bar positions ``T`` every ``step`` bars.

    The first is bar ``min_window - 1`` (a fit of ``min_window`` bars); the last leaves ``horizon``
    bars after it, so every origin has a realized path to be judged by.

    Raises
    ------
    ConfigError
        Settings that leave no origin, naming the key to change.
    """
    for key, value, low in (("horizon", horizon, 1), ("step", step, 1),
                            ("min_window", min_window, MIN_FIT_BARS)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ConfigError(f"calibration.{key}: expected an integer >= {low}, got {value!r}")
    first, last = min_window - 1, n_bars - 1 - horizon
    if last < first:
        raise ConfigError(
            f"calibration: the input's {n_bars} bars leave no origin with a fit window of "
            f"{min_window} bars (calibration.min_window) and {horizon} bars after it "
            f"(calibration.horizon); lower either to at most {max(n_bars - horizon, 0)} bars "
            f"together, or use a longer history")
    return list(range(first, last + 1, step))


def origin_seed(seed: int, bar: int, method: str) -> np.random.SeedSequence:
    """The random stream of one origin and method: a function of the run's seed, the origin's
    bar and the method's name only (never of which worker, or in which order)."""
    tag = int.from_bytes(hashlib.sha256(method.encode()).digest()[:4], "little")
    return np.random.SeedSequence([int(seed), int(bar), tag])


def window_start(bar: int, window: int | None) -> int:
    """The first bar a fit at ``bar`` sees: 0 (expanding), or the first of the last ``window``
    bars up to ``bar`` (rolling)."""
    return 0 if window is None else max(0, bar + 1 - window)


def fit_at(assets: Assets, settings: GenerationSettings, bar: int, horizon: int,
           window: int | None = None) -> GenerationModel:
    """The model of ``settings`` fitted on the bars up to ``bar`` (the last ``window`` of them
    when given), continuing from ``bar`` for ``horizon`` bars.

    The scorer of the fit is built as usual (the automatic block size needs it); the model is
    then shortened to ``horizon`` bars (:meth:`GenerationModel.with_length`), which keeps the
    state at the origin.
    """
    first = window_start(bar, window)
    cut = assets.map(lambda f: f.iloc[first : bar + 1])
    model = fit_generation_model(cut, replace(settings, start=-1, length=None, start_price=None))
    return model.with_length(horizon)


def realized_bars(assets: Assets, bar: int, horizon: int) -> np.ndarray:
    """The ``horizon`` bars after ``bar`` as one path, shape ``(1, horizon, fields)``."""
    frame = assets.first
    if bar + horizon >= len(frame):
        raise ConfigError(f"calibration: origin bar {bar} has fewer than {horizon} bars after it")
    return frame_to_array(frame.iloc[bar + 1 : bar + 1 + horizon])[None, :, :]


def score_forecast(model: GenerationModel, assets: Assets, bar: int, n_scenarios: int,
                   seed: np.random.SeedSequence, window: int | None = None) -> list[dict]:
    """The rows of one origin for a fitted ``model``: its ``n_scenarios`` scenarios' path
    statistics ranked against the realized ones (:func:`pipeline.core.calibration.origin_rows`).

    The 1 % VaR threshold is the fit window's own; both the scenarios and the realized path
    start from the origin's close.
    """
    frame = assets.first
    first = window_start(bar, window)
    close = frame["Close"].to_numpy(dtype=float)[first : bar + 1]
    limit = var_threshold(np.diff(np.log(close)))
    start = float(close[-1])
    sample_seed, pit_seed = seed.spawn(2)
    root = int(sample_seed.generate_state(1, dtype=np.uint32)[0])
    scenarios, _ = model.sample(root, range(n_scenarios), [0] * n_scenarios)
    fields = 5 if scenarios.shape[2] >= 5 else 4
    paths = path_statistics(scenarios[:, :, :fields], start, limit)
    real = path_statistics(realized_bars(assets, bar, model.length)[:, :, :fields], start, limit)
    realized = {k: float(v[0]) for k, v in real.items()}
    return origin_rows(paths, realized, np.random.default_rng(pit_seed))


def forecast_origin(assets: Assets, methods: Sequence[GenerationSettings], bar: int,
                    horizon: int, n_scenarios: int, seed: int, window: int | None = None
                    ) -> pd.DataFrame:
    """The calibration rows of one origin for each of ``methods``.

    Parameters
    ----------
    assets : Assets
        One validated OHLCV series.
    methods : sequence of GenerationSettings
        The settings of each method compared (their ``method`` names the rows; the
        ``start``, ``length`` and ``start_price`` are set by the origin).
    bar : int
        The origin ``T``: a 0-based bar position with at least ``horizon`` bars after it.
    horizon, n_scenarios, seed : int
        Bars per scenario, scenarios per method, the run's seed.
    window : int, optional
        Bars of a rolling fit window; None fits on every bar up to ``T`` (expanding).

    Returns
    -------
    pandas.DataFrame
        One row per method and path statistic: ``method``, ``origin`` (the bar), ``time`` (its
        timestamp, ISO 8601), ``fit_bars``, ``block_size``, then the columns of
        :func:`~pipeline.core.calibration.origin_rows`.
    """
    if assets.symbols:
        raise ConfigError("calibration: takes one series; calibrate each asset of a "
                          "multi-asset input on its own")
    index = assets.first.index
    when = index[bar].isoformat() if isinstance(index, pd.DatetimeIndex) else str(bar)
    fit_bars = bar + 1 - window_start(bar, window)
    out = []
    for settings in methods:
        head = {"method": settings.method, "origin": int(bar), "time": when,
                "fit_bars": int(fit_bars)}
        try:
            model = fit_at(assets, settings, bar, horizon, window)
        except InputDataError as exc:
            out.extend({**head, **_failed_row(name, str(exc))} for name in STATISTICS)
            continue
        rows = score_forecast(model, assets, bar, n_scenarios,
                              origin_seed(seed, bar, settings.method), window)
        out.extend({**head, "block_size": int(model.block_size), **row, "error": ""}
                   for row in rows)
    return pd.DataFrame(out)


def _failed_row(statistic: str, error: str) -> dict:
    nan = float("nan")
    row = {"block_size": -1, "statistic": statistic, "realized": nan, "pit": nan, "crps": nan}
    row.update({f"q{q:g}": nan for q in QUANTILES})
    return {**row, "error": error}
