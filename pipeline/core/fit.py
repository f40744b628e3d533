"""Fitting a :class:`~pipeline.core.sampler.GenerationModel` to validated OHLCV input.

The fit runs in steps, each a function below: the input's time dependence (GARCH filter,
dependence length, block joins, regimes), its assets as :class:`AssetModel` parts, the fidelity
scorers (the original's metrics against bootstrap replicates of it) and last the block size
(the pilot of :mod:`pipeline.core.blocks`). It works on frames and arrays only: reading files
is the readers' job, and the user-facing :class:`~pipeline.factory.SyntheticDataFactory` builds
on this module.

With ``start`` (a bar T) the input is cut after bar T before anything else, so every step sees
only the bars up to T, and the model carries the state at T (:class:`~pipeline.core.sampler.Origin`)
that its scenarios continue from. With a ``drift`` the scorer's reference is the original with
its close log-returns moved to the target mean, and the model's candidates are moved by the
shift measured on its own sampler (:class:`~pipeline.core.sampler.Drift`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from pipeline.core.assets import Assets
from pipeline.core.blocks import (
    MIN_AUTO_BLOCK,
    PILOT_CANDIDATES,
    PILOT_SEED,
    BlockChoice,
    PilotResult,
    check_block_size,
    choose_block_size,
    copied_share,
    dependence_block_length,
    fixed_block_choice,
)
from pipeline.core.garch import GarchFit, fit_garch, forecast_variance, volume_elasticity
from pipeline.core.generators import (
    BlockJoins,
    bar_phases,
    daily_cycle,
    sample_indices,
)
from pipeline.core.preprocessing import Components, check_length, output_index, preprocess
from pipeline.core.reconstruction import reconstruct
from pipeline.core.regimes import (
    RegimeModel,
    condition_transition,
    label_regimes,
    sample_regime_indices,
)
from pipeline.core.sampler import (
    AssetModel,
    Drift,
    GenerationModel,
    Origin,
    batch_size_for,
    measured_drift,
    model_metrics,
    reconstruct_assets,
    scenario_index,
)
from pipeline.core.scoring import FidelityScorer, score_space
from pipeline.core.settings import GenerationSettings, RegimeOptions
from pipeline.core.timeframes import Timeframe, aggregate_assets, make_timeframe
from pipeline.errors import ConfigError

__all__ = [
    "MIN_FIT_BARS",
    "bars_per_year",
    "check_settings",
    "fit_generation_model",
    "frame_to_array",
    "resolve_start",
]
#: Fewest bars a fit takes (as ``generation.length`` asks at least as many bars per series):
#: below it the metrics the scorer compares, and the GARCH and regime fits, are too noisy.
MIN_FIT_BARS = 200
#: Root of the replicates' random streams: fixed, so one input always gets the same scorer.
_SPREAD_SEED = 0x5ED5_BEAD


def frame_to_array(frame: pd.DataFrame) -> np.ndarray:
    """An OHLCV frame as a ``(length, fields)`` float array (Volume included when present)."""
    cols = ["Open", "High", "Low", "Close"] + (["Volume"] if "Volume" in frame.columns else [])
    return frame[cols].to_numpy(dtype=float)


def check_settings(
    index: pd.DatetimeIndex,
    *,
    method: str = "stationary",
    block_size: int | str = "auto",
    length: int | None = None,
    regime: Mapping | None = None,
    timeframes: Sequence[str] = (),
    n_bars: int | None = None,
) -> None:
    """Refuse generation settings the input cannot support, before any fit.

    The run checks them first (so a bad setting costs no GARCH or regime fit) and the REST API
    at submission, from the dataset's timestamps.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The input's timestamps (of the aligned assets for several).
    method, block_size, length, timeframes
        As in :class:`~pipeline.core.settings.GenerationSettings`.
    regime : mapping, optional
        The fields of :class:`~pipeline.core.settings.RegimeOptions` (defaults where left out).
    n_bars : int, optional
        Bars of the input, when ``index`` is empty (a frame without timestamps).

    Raises
    ------
    ConfigError
        Naming the key: ``generation.block_size`` not in 1 to the input's returns,
        ``generation.regime.window`` longer than a quarter of them (quantile labels),
        ``generation.length`` past pandas' calendar, a ``generation.timeframes`` rule that
        leaves too few bars.
    """
    n_returns = (len(index) if n_bars is None else n_bars) - 1
    if method != "iid":
        try:
            check_block_size(block_size, n_returns)
        except ConfigError as exc:
            raise ConfigError(f"generation.{exc}") from None
    opts = RegimeOptions(**dict(regime or {}))
    window = opts.window
    if method == "regime" and opts.labels == "quantile" and not 2 <= window <= n_returns // 4:
        raise ConfigError(f"generation.regime.window: {window} bars is too long for the input's "
                          f"{n_returns} returns; use 2 to {n_returns // 4}")
    length = len(index) if length is None else int(length)
    check_length(index, length)
    rules = list(dict.fromkeys(timeframes))
    if rules:
        out = output_index(index, length)
        for rule in rules:
            make_timeframe(index, rule)
            make_timeframe(out, rule)


def fit_generation_model(assets: Assets, settings: GenerationSettings) -> GenerationModel:
    """Preprocess validated OHLCV input and fit the generation model and its fidelity scorer.

    Parameters
    ----------
    assets : Assets
        Validated OHLCV input (see :func:`pipeline.load_ohlcv`): one series, or several assets
        with the same timestamps (see :func:`pipeline.align_assets`).
    settings : GenerationSettings
        Validated settings (see :mod:`pipeline.core.settings`). With ``block_size="auto"`` the
        block size is the shortest of a few lengths up to the input's dependence length whose
        pilot candidates score within a point of the best (see :mod:`pipeline.core.blocks`;
        for ``garch`` the blocks are of standardized residuals, for ``regime`` of each
        regime's rows). The choice and its evidence are ``model.block_choice``.

    Returns
    -------
    GenerationModel

    Raises
    ------
    ConfigError
        Settings the input cannot support (:func:`check_settings`), a ``start_price`` for
        several assets, a ``start`` outside the input or leaving fewer than
        :data:`MIN_FIT_BARS` bars (:func:`resolve_start`), an annualized ``drift`` for input
        without timestamps.
    InputDataError
        Input without movement, a GARCH fit that fails or is not stationary, a regime
        labelling that fails.

    Notes
    -----
    The spreads come from stationary-bootstrap replicates with the input's dependence length as
    mean block whatever the method and block size are, so every method is scored by the same
    yardstick; the assets of a multi-asset model share each replicate's indices. A
    *conditioned* regime model is the exception: its scenarios are meant to differ from the
    original, so its reference is the median of the conditioned generator's own replicates
    (``model.reference == "conditioned"``).

    With ``start = T`` the fit runs on bars ``0..T`` only (a bar after T cannot change the
    model), each scenario starts from bar T's close unless ``start_price`` is given, its
    timestamps continue after bar T, and ``length`` defaults to ``T + 1``. The state at T
    (``model.origin``) is what each method carries over: ``garch`` starts every candidate's
    volatility at the fit's forecast from T, ``regime`` starts every path in T's regime, and
    block methods with joins start their first block after a row whose recent volatility
    matches T's.

    A ``drift`` other than ``"keep"`` moves the scorer's reference and replicates to the
    target mean log-return per bar (the original rebuilt from its own gaps and ranges around
    the moved closes) and the candidates by the shift measured on the model's own sampler at
    the chosen block size; the block pilot's candidates are moved by the target less the
    history's mean, which the sampler's differs from only slightly.
    """
    frames, origin_bar = _window(assets.common_fields(), settings.start)
    symbols = frames.symbols
    comps = {k: preprocess(f) for k, f in frames.items()}
    first = next(iter(comps.values()))
    length = first.n_bars if settings.length is None else settings.length
    if length < 200:
        raise ConfigError(f"length: expected an integer >= 200 (bars per series), got {length!r}")
    if symbols and settings.start_price is not None:
        raise ConfigError("start_price: applies to one series; each asset of a multi-asset "
                          "input starts from its own first close (or its close at the start "
                          "bar)")
    check_settings(first.index, method=settings.method, block_size=settings.block_size,
                   length=length, regime=asdict(settings.regime),
                   timeframes=settings.timeframes, n_bars=first.n_bars)
    index = scenario_index(first.index, length, origin_bar is not None)
    tfs = [make_timeframe(index, rule) for rule in dict.fromkeys(settings.timeframes)]
    dynamics = _fit_dynamics(comps, settings)
    parts = _asset_models(frames, comps, dynamics, settings.start_price,
                          continued=origin_bar is not None)
    origin = None
    if origin_bar is not None:
        origin, dynamics = _origin(origin_bar, first.index, parts, dynamics)
    drift = _drift(settings.drift, first.index, parts)
    conditioned = settings.regime.conditioned
    references = _references(frames, first, parts, symbols, tfs, drift)
    replicates = _replicates(parts, dynamics, conditioned, length, symbols, tfs,
                             settings.n_replicates, drift)
    main, *tf_scorers = (
        _scorer(ref, n_ref - 1, reps, n_obs - 1, conditioned, settings, symbols)
        for (ref, n_ref), reps, n_obs in zip(
            references, replicates, [length, *(len(tf.index) for tf in tfs)], strict=True)
    )
    model = GenerationModel(
        parts=parts,
        method=settings.method,
        block_size=dynamics.dependence if dynamics.fixed_block is None else dynamics.fixed_block,
        length=length,
        scorer=main,
        index=index,
        regimes=dynamics.regimes,
        transition=dynamics.transition,
        timeframes=tuple(zip(tfs, tf_scorers, strict=True)),
        reference="conditioned" if conditioned else "original",
        joins=dynamics.joins,
        origin=origin,
        drift=drift,
    )
    choice = _choose_block(model, comps, settings.method, dynamics.fixed_block,
                           dynamics.dependence, settings.n_replicates)
    model = replace(model, block_size=choice.block_size, block_choice=choice)
    if drift is not None:
        model = replace(model, drift=measured_drift(model, drift))
    return model


def _window(frames: Assets, start: int | str | None) -> tuple[Assets, int | None]:
    """The bars a fit sees: all of them, or those up to the start bar (and its position)."""
    if start is None:
        return frames, None
    bar = resolve_start(frames.first.index, start)
    return frames.map(lambda f: f.iloc[: bar + 1]), bar


def _asset_models(frames: Assets, comps: Mapping[str, Components], dynamics: _Dynamics,
                  start_price: float | None, *, continued: bool) -> tuple[AssetModel, ...]:
    """Each asset's part of the model: components, start price and (``garch``) volatility.

    A series continuing the history starts from the last fitted close, a series of the whole
    history from the input's first; ``start_price`` replaces it for a single series.
    """
    symbols = frames.symbols
    parts = []
    for (k, frame), c in zip(frames.items(), comps.values(), strict=True):
        own = float(frame["Close"].iloc[-1]) if continued else c.start_price
        fit = dynamics.garch[k]
        parts.append(AssetModel(
            symbol=k, components=c,
            start_price=own if symbols or start_price is None else float(start_price),
            garch=fit,
            volume_elasticity=volume_elasticity(fit, c.values[:, 4])
            if fit is not None and c.has_volume else 0.0))
    return tuple(parts)


def resolve_start(index: pd.DatetimeIndex, start: int | str) -> int:
    """The bar position ``generation.start`` names in an input with timestamps ``index``.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The input's timestamps (of the first asset; aligned assets share them).
    start : int or str
        A 0-based bar position (negative counts from the end: -1 is the last bar) or a
        timestamp (the last bar at or before it).

    Returns
    -------
    int
        The position, from :data:`MIN_FIT_BARS` ``- 1`` to ``len(index) - 1``.

    Raises
    ------
    ConfigError
        Naming ``generation.start``: outside the input, before its first bar, or leaving
        fewer than :data:`MIN_FIT_BARS` bars to fit; the message gives the valid range.
    """
    n = len(index)
    lowest = MIN_FIT_BARS - 1
    if n < MIN_FIT_BARS:
        raise ConfigError(f"generation.start: the input has {n} bars; a fit up to a start bar "
                          f"needs at least {MIN_FIT_BARS}")
    valid = (f"use a bar from {lowest} to {n - 1} (or -{n - lowest} to -1 from the end)"
             + (f", or a time from {index[lowest]} on" if n and _has_times(index) else ""))
    if isinstance(start, str):
        pos = _bar_at_or_before(index, start)
        if pos < 0:
            raise ConfigError(f"generation.start: {start!r} is before the input's first bar "
                              f"({index[0]}); {valid}")
    else:
        pos = int(start) + n if int(start) < 0 else int(start)
        if not 0 <= pos < n:
            raise ConfigError(f"generation.start: bar {start} is outside the input's {n} "
                              f"bars; {valid}")
    if pos < lowest:
        raise ConfigError(f"generation.start: {start!r} leaves {pos + 1} bars to fit, and a "
                          f"fit needs at least {MIN_FIT_BARS}; {valid}")
    return pos


def _has_times(index: pd.Index) -> bool:
    return isinstance(index, pd.DatetimeIndex) and len(index) > 0


def _bar_at_or_before(index: pd.DatetimeIndex, text: str) -> int:
    """Position of the last bar at or before the timestamp ``text`` (-1: before the first)."""
    if not _has_times(index):
        raise ConfigError(f"generation.start: {text!r} is a time, but the input has no "
                          "timestamps; give a bar position")
    try:
        when = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"generation.start: expected a bar position or a timestamp, got "
                          f"{text!r}") from None
    # A time with a zone compares to an index with one; a naive time means the index's zone.
    if index.tz is not None:
        when = when.tz_localize(index.tz) if when.tz is None else when.tz_convert(index.tz)
    elif when.tz is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    return int(index.searchsorted(when, side="right")) - 1


def _origin(bar: int, history: pd.DatetimeIndex, parts: Sequence[AssetModel],
            dynamics: _Dynamics) -> tuple[Origin, _Dynamics]:
    """The state at the origin (the fitted history's last bar) and joins that start there."""
    garch = tuple(forecast_variance(p.garch) for p in parts if p.garch is not None) or None
    regime = None if dynamics.regimes is None else int(dynamics.regimes.labels[-1])
    joins = None if dynamics.joins is None else dynamics.joins.continuing_last_row()
    origin = Origin(
        bar=int(bar), time=history[-1] if _has_times(history) else None,
        garch_variance=garch, regime=regime,
        join_state=None if joins is None else joins.origin[0],
        join_slot=None if joins is None else joins.origin[1])
    return origin, replace(dynamics, joins=joins)


def bars_per_year(index: pd.DatetimeIndex) -> float | None:
    """Bars a year of an input: ``(n - 1)`` over the years its timestamps span (None without
    two distinct timestamps)."""
    if not _has_times(index) or len(index) < 2:
        return None
    years = (index[-1] - index[0]) / pd.Timedelta(days=365.25)
    return float((len(index) - 1) / years) if years > 0 else None


def _drift(setting: str | float, history: pd.DatetimeIndex, parts: Sequence[AssetModel]
           ) -> Drift | None:
    """The drift asked for, its sampler mean standing in as the history's until measured."""
    if setting == "keep":
        return None
    per_year = bars_per_year(history)
    if setting == "zero":
        target = 0.0
    elif per_year is None:
        raise ConfigError("generation.drift: an annualized drift needs the input's timestamps "
                          "to count its bars per year; use zero or keep")
    else:
        target = float(setting) / per_year
    means = tuple(float(np.mean(p.components.log_returns)) for p in parts)
    return Drift(setting=setting, target=target, bars_per_year=per_year, history_mean=means,
                 sampler_mean=means, standard_error=tuple(0.0 for _ in parts), draws=0)


@dataclass(frozen=True)
class _Dynamics:
    """What the fit learns about the input's time dependence, before any scoring."""

    #: The GARCH fit of each asset (``garch`` method), else None per asset.
    garch: dict[str, GarchFit | None]
    #: The user's block size, None for ``"auto"`` (and for ``iid``, which has no blocks).
    fixed_block: int | None
    #: The input's dependence length (the longest any asset needs).
    dependence: int
    joins: BlockJoins | None
    regimes: RegimeModel | None
    transition: np.ndarray | None


def _fit_dynamics(comps: Mapping[str, Components], settings: GenerationSettings) -> _Dynamics:
    """Fit what carries the input's time dependence: GARCH filter, joins and regimes."""
    method, garch, regime = settings.method, settings.garch, settings.regime
    first = next(iter(comps.values()))
    n_rows = first.values.shape[0]
    # Intraday bars keep the daily cycle: joins land in the same slot of the day, and the
    # GARCH filter is fitted to returns with that cycle divided out.
    row_phase = daily_cycle(first.index, first.log_returns)
    fits = {k: fit_garch(c.log_returns, garch.vol, garch.dist, phase=row_phase)
            if method == "garch" else None for k, c in comps.items()}
    fixed_block = None if method == "iid" else check_block_size(settings.block_size, n_rows)
    # The dependence length: the yardstick's block (spreads, conditioned reference) for every
    # method, the regimes' time scale, and the longest block the pilot tries. The longest any
    # asset needs wins.
    dep_length = max(dependence_block_length(c.log_returns) for c in comps.values())
    # Joins match on the input's recent volatility (for garch too: its rows carry their era's
    # gaps, ranges and volume, and matching on the residuals instead lost 8 points of median
    # fidelity on the NASDAQ). They keep what the input has to keep: volatility dependence
    # beyond the shortest block, or a daily cycle; a series with neither (returns whose size
    # carries no memory) gets plain random starts, which cost nothing.
    keep = dep_length > MIN_AUTO_BLOCK or row_phase is not None
    joins = None if method == "iid" or not keep else BlockJoins.from_returns(
        [c.log_returns for c in comps.values()],
        phase=row_phase,
        first_phase=None if row_phase is None else _first_slot(first.index))
    regimes = transition = None
    if method == "regime":
        # Regimes of a multi-asset input are those of its first asset.
        regimes = label_regimes(first.log_returns, regime.labels, regime.n_regimes,
                                regime.window, smooth=dep_length)
        transition = regimes.transition
        if regime.conditioned:
            transition = condition_transition(
                transition, regime.condition, share=regime.share,
                duration_factor=float(regime.duration_factor))
    return _Dynamics(fits, fixed_block, dep_length, joins, regimes, transition)


def _first_slot(index: pd.DatetimeIndex) -> int:
    """The slot of the day of a synthetic series' first bar (the input's first timestamp)."""
    return int(bar_phases(index)[0])


_MetricTable = dict[str, np.ndarray]


def _references(frames: Assets, first: Components,
                parts: Sequence[AssetModel], symbols: tuple[str, ...],
                tfs: Sequence[Timeframe], drift: Drift | None) -> list[tuple[_MetricTable, int]]:
    """The original's metric table and bars, at the base bars and at each timeframe.

    With a drift the original's close log-returns are first moved to the target mean
    (:func:`_drifted_original`), so the scorer compares scenarios with a history of that trend.
    """
    arrays = [frame_to_array(f) for f in frames.values()]
    if drift is not None:
        arrays = [_drifted_original(a, p.components, shift)
                  for a, p, shift in zip(arrays, parts, drift.shift, strict=True)]
    original = np.concatenate(arrays, axis=1)[None]
    out = [(model_metrics(original, symbols, first.has_volume), first.n_bars)]
    for tf in tfs:
        orig_tf = make_timeframe(first.index, tf.rule)
        agg = aggregate_assets(original, orig_tf, len(parts))
        out.append((model_metrics(agg, symbols, first.has_volume), len(orig_tf.index)))
    return out


def _drifted_original(original: np.ndarray, comps: Components, shift: float) -> np.ndarray:
    """The original ``(n, fields)`` bars with every close log-return moved by ``shift``.

    Bars after the first are rebuilt from the original's own components in order (each open
    by its gap from the moved previous close, highs and lows by their excesses over the body);
    the first bar and the volume are the original's.
    """
    rows = np.arange(comps.values.shape[0])[None]
    rebuilt = reconstruct(comps.values, rows, float(original[0, 3]), comps.volume_level,
                          return_shift=shift)[0]
    out = original.copy()
    out[1:, :4] = rebuilt[:, :4]
    return out


def _replicates(parts: Sequence[AssetModel], dynamics: _Dynamics, conditioned: bool,
                length: int, symbols: tuple[str, ...], tfs: Sequence[Timeframe],
                n_replicates: int, drift: Drift | None) -> list[dict[str, list[np.ndarray]]]:
    """Metric tables of bootstrap replicates of the original, base bars then each timeframe.

    Drawn in batches sized like the search's, so memory follows one batch at any length. With
    a drift their close log-returns are moved by the target less the history's mean, so they
    are replicates of the moved original (the plain stationary bootstrap's mean is the
    history's).
    """
    first = parts[0].components
    n_rows = first.values.shape[0]
    fields = 5 if first.has_volume else 4
    rngs = [np.random.default_rng([i, _SPREAD_SEED]) for i in range(n_replicates)]
    tables: list[dict[str, list[np.ndarray]]] = [{} for _ in range(1 + len(tfs))]
    step = batch_size_for(length, fields * len(parts))
    for lo in range(0, n_replicates, step):
        chunk = rngs[lo : lo + step]
        if conditioned:
            # The conditioned generator's own typical metrics are the reference.
            idx, _ = sample_regime_indices(dynamics.regimes.labels, dynamics.transition, length,
                                           dynamics.dependence, chunk, joins=dynamics.joins)
        else:
            idx = sample_indices("stationary", n_rows, length, dynamics.dependence, chunk)
        ohlcv = reconstruct_assets(parts, idx, filtered=False,
                                   return_shifts=None if drift is None else drift.shift)
        for table, tf in zip(tables, [None, *tfs], strict=True):
            agg = ohlcv if tf is None else aggregate_assets(ohlcv, tf, len(parts))
            for k, v in model_metrics(agg, symbols, first.has_volume).items():
                table.setdefault(k, []).append(v)
    return tables


def _scorer(ref: _MetricTable, n_ref: int, reps: Mapping[str, list[np.ndarray]], n_obs: int,
            conditioned: bool, settings: GenerationSettings, symbols: tuple[str, ...]
            ) -> FidelityScorer:
    """The fidelity scorer of one timeframe from its reference and replicate metrics."""
    reps = {k: np.concatenate(v) for k, v in reps.items()}
    if conditioned:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN volume metrics
            ref = {k: np.array([np.nanmedian(v)]) for k, v in reps.items()}
        n_ref = n_obs
    return FidelityScorer.from_replicates(
        {k: float(v[0]) for k, v in ref.items()}, reps,
        n_obs_reference=n_ref, n_obs=n_obs, weights=settings.weights,
        tolerance=settings.tolerance, symbols=symbols)


def _choose_block(model: GenerationModel, comps: Mapping, method: str, fixed: int | None,
                  reference: int, n_replicates: int) -> BlockChoice:
    """The block size of ``model``: the user's, or the pilot's choice (see core.blocks).

    Either way the pilot candidates at the block size in use are kept: they are the preflight's
    sample of the fidelity distribution. The pilot scales with the fit (a tenth of the
    replicates per length, 8 to 24), so it stays well under the fit's own cost.
    """
    n_pilot = max(8, min(PILOT_CANDIDATES, n_replicates // 10))

    scorer = model.scorer
    vol_columns = [i for i, name in enumerate(scorer.names)
                   if name.rpartition(":")[2] in ("vol_clustering", "vol_persistence")]

    def score_at(b: int) -> PilotResult:
        trial = replace(model, block_size=b)
        batches = trial.evaluate_first_attempts(PILOT_SEED, 0, n_pilot)
        scores = np.concatenate([c.scores for c in batches])
        values = np.concatenate([score_space(c.metrics, scorer.names, trial.length - 1)
                                 for c in batches])[:, vol_columns]
        errors = np.abs(np.median(values, axis=0) - scorer.reference[vol_columns]) \
            / scorer.spread[vol_columns]
        copied = None
        if method == "garch":
            part = trial.parts[0]
            shares = []
            for cand in batches:
                close = np.log(cand.ohlcv[:, :, 3])
                returns = np.diff(close, axis=1, prepend=np.log(part.start_price))
                shares.append(copied_share(returns, part.components.log_returns, cand.indices))
            copied = float(np.median(np.concatenate(shares)))
        return PilotResult(scores, float(errors.max()) if errors.size else 0.0, copied)

    started = time.perf_counter()
    if method == "iid" or fixed is not None:
        b = 1 if method == "iid" else fixed
        choice = fixed_block_choice(b, reference, method, score_at(b).scores)
    else:
        # Fixed-length blocks (circular, moving) take the circular-bootstrap estimate.
        own = reference if method not in ("circular", "moving") else max(
            dependence_block_length(c.log_returns, method) for c in comps.values())
        choice = choose_block_size(score_at, own)
    per_candidate = (time.perf_counter() - started) / (n_pilot * len(choice.grid))
    return replace(choice, seconds_per_candidate=per_candidate)
