"""``SyntheticDataFactory``: the Python API of the engine, and ``fit_model`` it is built on."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

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
from pipeline.core.garch import fit_garch, volume_elasticity
from pipeline.core.generators import (
    METHODS,
    BlockJoins,
    bar_phases,
    daily_cycle,
    sample_indices,
)
from pipeline.core.preflight import Preflight, preflight
from pipeline.core.preprocessing import check_length, output_index, preprocess
from pipeline.core.regimes import condition_transition, label_regimes, sample_regime_indices
from pipeline.core.sampler import (
    AssetModel,
    GenerationModel,
    batch_size_for,
    model_metrics,
    reconstruct_assets,
    search_attempts,
)
from pipeline.core.scoring import DEFAULT_TOLERANCE, FidelityScorer, score_space
from pipeline.core.timeframes import aggregate_assets, aggregate_frame, make_timeframe
from pipeline.errors import (
    ConfigError,
    FidelityNotReachedError,
    InputDataError,
    PreflightWarning,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_REPLICATES",
    "SyntheticDataFactory",
    "StreamedScenario",
    "SyntheticSeries",
    "check_settings",
    "fit_model",
    "frame_to_array",
]

DEFAULT_MAX_ATTEMPTS = 200
#: Bootstrap replicates of the original used to measure each metric's sampling spread.
DEFAULT_REPLICATES = 256
#: Root of the replicates' random streams: fixed, so one input always gets the same scorer.
_SPREAD_SEED = 0x5ED5_BEAD


def frame_to_array(frame: pd.DataFrame) -> np.ndarray:
    """An OHLCV frame as a ``(length, fields)`` float array (Volume included when present)."""
    cols = ["Open", "High", "Low", "Close"] + (["Volume"] if "Volume" in frame.columns else [])
    return frame[cols].to_numpy(dtype=float)


GARCH_OPTIONS = {"vol": "garch", "dist": "normal"}
REGIME_OPTIONS = {"labels": "markov", "n_regimes": 2, "window": 21, "condition": None,
                  "share": None, "duration_factor": 1.0}


def _options(name: str, given: Mapping | None, defaults: dict) -> dict:
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        raise ConfigError(f"generation.{name}: unknown key(s) {unknown}; allowed: "
                          f"{', '.join(defaults)}")
    return {**defaults, **dict(given or {})}


def _as_assets(frame) -> dict[str, pd.DataFrame]:
    """``{"": frame}`` for one series; the aligned mapping for several assets."""
    if isinstance(frame, pd.DataFrame):
        return {"": frame}
    if not isinstance(frame, Mapping) or not frame:
        raise ConfigError("data: expected an OHLCV DataFrame or a non-empty mapping of symbol "
                          "to DataFrame")
    # Sorted: the symbols' order names the pairs and the first asset, and must not depend on
    # how a mapping was written (JSON round trips sort keys).
    frames = dict(sorted(frame.items()))
    for symbol in frames:
        if not isinstance(symbol, str) or not symbol or any(c in symbol for c in ":|/\\"):
            raise ConfigError(f"assets: symbol {symbol!r} must be a non-empty string without "
                              "':', '|', '/' or '\\'")
    first = next(iter(frames.values())).index
    for symbol, f in frames.items():
        if not f.index.equals(first):
            raise ConfigError(f"assets: {symbol}'s timestamps differ from the first asset's; "
                              "align them first (pipeline.align_assets)")
    if not all("Volume" in f.columns for f in frames.values()):
        # Assets are drawn together, so they must have the same fields.
        frames = {k: f.drop(columns=["Volume"], errors="ignore") for k, f in frames.items()}
    return frames


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
    method, block_size, length, regime, timeframes
        As for :func:`fit_model`.
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
    opts = _options("regime", regime, REGIME_OPTIONS)
    window = opts["window"]
    if method == "regime" and opts["labels"] == "quantile" and not 2 <= window <= n_returns // 4:
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


def fit_model(
    frame,
    *,
    method: str = "stationary",
    block_size: int | str = "auto",
    length: int | None = None,
    start_price: float | None = None,
    weights: Mapping[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    n_replicates: int = DEFAULT_REPLICATES,
    garch: Mapping | None = None,
    regime: Mapping | None = None,
    timeframes: Sequence[str] = (),
) -> GenerationModel:
    """Preprocess a validated OHLCV frame and fit the fidelity scorer.

    Parameters
    ----------
    frame : pandas.DataFrame or mapping of str to DataFrame
        Validated OHLCV input (see :func:`pipeline.load_ohlcv`), or several assets with the same
        timestamps (see :func:`pipeline.align_assets`).
    method : {"stationary", "circular", "moving", "iid", "garch", "regime"}
    block_size : "auto" or int
        ``"auto"``: the shortest of a few lengths up to the input's dependence length whose
        pilot candidates score within a point of the best (see :mod:`pipeline.core.blocks`;
        for ``garch`` the blocks are of standardized residuals, for ``regime`` of each
        regime's rows). The choice and its evidence are ``model.block_choice``.
    length : int, optional
        Bars per synthetic series; default the input's length.
    start_price : float, optional
        Close before the first synthetic bar; default the input's first close (one series only).
    weights : mapping, optional
        Overrides of :data:`pipeline.core.scoring.DEFAULT_WEIGHTS` and ``CROSS_WEIGHTS``.
    tolerance : float
        ``tau`` of the similarity map.
    n_replicates : int
        Bootstrap replicates of the original that measure the metrics' spreads.
    garch : mapping, optional
        ``vol`` (``garch``, ``gjr``, ``egarch``) and ``dist`` (``normal``, ``t``, ``skewt``) of
        the ``garch`` method.
    regime : mapping, optional
        ``labels`` (``markov``, ``quantile``), ``n_regimes``, ``window`` and, to condition,
        ``condition`` (``high_volatility``, ``low_volatility`` or a regime number) with
        ``share`` and/or ``duration_factor``; for the ``regime`` method.
    timeframes : sequence of str
        Higher timeframes (pandas frequencies) delivered and scored with each series.

    Returns
    -------
    GenerationModel

    Notes
    -----
    The spreads come from stationary-bootstrap replicates with the input's dependence length as
    mean block whatever ``method`` and ``block_size`` are, so every method is scored by the same
    yardstick; the assets of a multi-asset model share each replicate's indices. A
    *conditioned* regime model is the exception: its scenarios are meant to differ from the
    original, so its reference is the median of the conditioned generator's own replicates
    (``model.reference == "conditioned"``).
    """
    if method not in METHODS:
        raise ConfigError(f"method: unknown method {method!r}; allowed: {', '.join(METHODS)}")
    garch_opts = _options("garch", garch, GARCH_OPTIONS)
    regime_opts = _options("regime", regime, REGIME_OPTIONS)
    conditioned = regime_opts["condition"] is not None
    if (regime_opts["share"] is not None or regime_opts["duration_factor"] != 1.0) \
            and not conditioned:
        raise ConfigError("generation.regime: share and duration_factor need a condition "
                          "(high_volatility, low_volatility or a regime number)")
    if conditioned and method != "regime":
        raise ConfigError(f"generation.regime.condition needs method: regime (got {method!r})")
    frames = _as_assets(frame)
    multi = "" not in frames
    comps = {k: preprocess(f) for k, f in frames.items()}
    first = next(iter(comps.values()))
    n_rows = first.values.shape[0]
    length = first.n_bars if length is None else length
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 200:
        raise ConfigError(f"length: expected an integer >= 200 (bars per series), got {length!r}")
    length = int(length)
    if multi and start_price is not None:
        raise ConfigError("start_price: applies to one series; each asset of a multi-asset "
                          "input starts from its own first close")
    if start_price is None:
        start_price = first.start_price
    if not (isinstance(start_price, int | float) and np.isfinite(start_price) and start_price > 0):
        raise ConfigError(f"start_price: expected a positive number, got {start_price!r}")
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise ConfigError(f"tolerance: expected a positive number, got {tolerance!r}")
    if n_replicates < 20:
        raise ConfigError(f"n_replicates: at least 20 are needed, got {n_replicates}")
    check_settings(first.index, method=method, block_size=block_size, length=length,
                   regime=regime_opts, timeframes=timeframes, n_bars=first.n_bars)
    index = output_index(first.index, length)
    tfs = [make_timeframe(index, rule) for rule in dict.fromkeys(timeframes)]

    # Intraday bars keep the daily cycle: joins land in the same slot of the day, and the
    # GARCH filter is fitted to returns with that cycle divided out.
    row_phase = daily_cycle(first.index, first.log_returns)
    fits = {k: fit_garch(c.log_returns, garch_opts["vol"], garch_opts["dist"], phase=row_phase)
            if method == "garch" else None for k, c in comps.items()}
    fixed_block = None if method == "iid" else check_block_size(block_size, n_rows)
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
        regimes = label_regimes(first.log_returns, regime_opts["labels"],
                                regime_opts["n_regimes"], regime_opts["window"],
                                smooth=dep_length)
        transition = regimes.transition
        if conditioned:
            transition = condition_transition(
                transition, regime_opts["condition"], share=regime_opts["share"],
                duration_factor=float(regime_opts["duration_factor"]))
    parts = tuple(
        AssetModel(symbol=k, components=c,
                   start_price=float(start_price) if not multi else c.start_price,
                   garch=fits[k],
                   volume_elasticity=volume_elasticity(fits[k], c.values[:, 4])
                   if fits[k] is not None and c.has_volume else 0.0)
        for k, c in comps.items()
    )
    symbols = tuple(frames) if multi else ()
    has_volume = first.has_volume
    fields = 5 if has_volume else 4

    def metrics_of(ohlcv: np.ndarray) -> dict[str, np.ndarray]:
        return model_metrics(ohlcv, symbols, has_volume)

    original = np.concatenate([frame_to_array(f) for f in frames.values()], axis=1)[None]
    reference = metrics_of(original)
    tf_reference = []
    for tf in tfs:
        orig_tf = make_timeframe(first.index, tf.rule)
        agg = aggregate_assets(original, orig_tf, len(parts))
        tf_reference.append((metrics_of(agg), len(orig_tf.index)))

    rngs = [np.random.default_rng([i, _SPREAD_SEED]) for i in range(n_replicates)]
    replicates: dict[str, list[np.ndarray]] = {}
    tf_replicates: list[dict[str, list[np.ndarray]]] = [{} for _ in tfs]
    step = batch_size_for(length, fields * len(parts))
    for lo in range(0, n_replicates, step):
        chunk = rngs[lo : lo + step]
        if conditioned:
            # The conditioned generator's own typical metrics are the reference.
            idx, _ = sample_regime_indices(regimes.labels, transition, length, dep_length,
                                           chunk, joins=joins)
        else:
            idx = sample_indices("stationary", n_rows, length, dep_length, chunk)
        ohlcv = reconstruct_assets(parts, idx, filtered=False)
        for k, v in metrics_of(ohlcv).items():
            replicates.setdefault(k, []).append(v)
        for j, tf in enumerate(tfs):
            agg = aggregate_assets(ohlcv, tf, len(parts))
            for k, v in metrics_of(agg).items():
                tf_replicates[j].setdefault(k, []).append(v)

    def scorer(ref: dict, n_ref: int, reps: dict, n_obs: int) -> FidelityScorer:
        reps = {k: np.concatenate(v) for k, v in reps.items()}
        if conditioned:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN volume metrics
                ref = {k: np.array([np.nanmedian(v)]) for k, v in reps.items()}
            n_ref = n_obs
        return FidelityScorer.from_replicates(
            {k: float(v[0]) for k, v in ref.items()}, reps,
            n_obs_reference=n_ref, n_obs=n_obs, weights=weights, tolerance=tolerance,
            symbols=symbols)

    main = scorer(reference, first.n_bars - 1, replicates, length - 1)
    tf_scorers = tuple(
        (tf, scorer(ref, n_ref - 1, reps, len(tf.index) - 1))
        for tf, (ref, n_ref), reps in zip(tfs, tf_reference, tf_replicates, strict=True)
    )
    model = GenerationModel(
        parts=parts,
        method=method,
        block_size=dep_length if fixed_block is None else fixed_block,
        length=length,
        scorer=main,
        index=index,
        regimes=regimes,
        transition=transition,
        timeframes=tf_scorers,
        reference="conditioned" if conditioned else "original",
        joins=joins,
    )
    choice = _choose_block(model, comps, method, fixed_block, dep_length, n_replicates)
    return replace(model, block_size=choice.block_size, block_choice=choice)


def _first_slot(index: pd.DatetimeIndex) -> int:
    """The slot of the day of a synthetic series' first bar (the input's first timestamp)."""
    return int(bar_phases(index)[0])


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


@dataclass(frozen=True)
class StreamedScenario:
    """One accepted scenario, as the streaming iterators yield it.

    Attributes
    ----------
    scenario : int
        Scenario number, from 1.
    attempt : int
        The attempt that was accepted.
    score : float
        Fidelity in percent.
    metrics : dict
        Its metrics.
    data : DataFrame or dict of str to DataFrame
        The OHLCV series (``{symbol: frame}`` for several assets).
    regimes : list, optional
        Its regime path as ``[[regime, bars], ...]`` (``method="regime"``).
    """

    scenario: int
    attempt: int
    score: float
    metrics: dict[str, float] = field(repr=False)
    data: pd.DataFrame | dict[str, pd.DataFrame] = field(repr=False)
    regimes: list[list[int]] | None = field(default=None, repr=False)


class SyntheticSeries(list):
    """Accepted synthetic series: a list of OHLCV DataFrames with their scores.

    For a multi-asset factory each item is a ``{symbol: DataFrame}`` mapping.

    Attributes
    ----------
    scores : ndarray
        Fidelity of each series, in percent.
    metrics : pandas.DataFrame
        One row of metrics per series.
    attempts : ndarray
        The attempt at which each scenario was accepted.
    regimes : list
        Each series' regime path as ``[[regime, bars], ...]`` (``method="regime"``), else empty.
    timeframe_scores : pandas.DataFrame
        Fidelity of each series at each higher timeframe (one column per timeframe).
    """

    def __init__(self, frames: Sequence, scores, metrics, attempts, regimes=(),
                 timeframe_scores=None) -> None:
        super().__init__(frames)
        self.scores = np.asarray(scores, dtype=float)
        self.metrics = metrics
        self.attempts = np.asarray(attempts, dtype=np.int64)
        self.regimes = list(regimes)
        self.timeframe_scores = (pd.DataFrame(index=metrics.index) if timeframe_scores is None
                                 else timeframe_scores)

    def timeframe(self, rule: str) -> list:
        """Every series aggregated to ``rule`` (exactly; see :mod:`pipeline.core.timeframes`)."""
        out = []
        for item in self:
            if isinstance(item, pd.DataFrame):
                out.append(aggregate_frame(item, rule))
            else:
                out.append({k: aggregate_frame(f, rule) for k, f in item.items()})
        return out

    def __repr__(self) -> str:
        if not len(self):
            return "SyntheticSeries([])"
        first = self[0] if isinstance(self[0], pd.DataFrame) else next(iter(self[0].values()))
        return (
            f"SyntheticSeries(n={len(self)}, length={len(first)}, fidelity "
            f"min={self.scores.min():.1f} median={np.median(self.scores):.1f} "
            f"max={self.scores.max():.1f})"
        )


class SyntheticDataFactory:
    """Generate synthetic OHLCV series that keep the statistical character of an original.

    Parameters
    ----------
    data : DataFrame, path or URL, or a mapping of symbol to any of those
        The original OHLCV series; anything :func:`pipeline.load_ohlcv` reads. A mapping makes
        a multi-asset factory: the assets are aligned on their common timestamps and drawn
        with shared block indices, and each generated item is ``{symbol: DataFrame}``.
    method : {"stationary", "circular", "moving", "iid", "garch", "regime"}, default "stationary"
        Block-bootstrap method (``iid`` is a baseline without time dependence), the
        GARCH-filtered bootstrap, or the regime-switching bootstrap.
    block_size : "auto" or int, default "auto"
        (Mean) block length; ``"auto"`` is Politis–White on squared returns, clamped.
    length : int, optional
        Bars per synthetic series; default the input's length.
    start_price : float, optional
        Close before the first synthetic bar; default the input's first close.
    seed : int or numpy.random.Generator, optional
        Root seed. Scenario ``k``'s attempt ``a`` depends only on ``(seed, k, a)``. A Generator is
        used once to draw an integer root seed; None draws fresh entropy. ``factory.seed`` holds
        the integer in use.
    weights : mapping, optional
        Metric weight overrides, e.g. ``{"hurst": 0}``.
    tolerance : float, default 2.5
        Spreads at which a metric keeps ``exp(-1/2)`` of its weight.
    garch : mapping, optional
        ``{"vol": "garch" | "gjr" | "egarch", "dist": "normal" | "t" | "skewt"}``.
    regime : mapping, optional
        ``{"labels": "markov" | "quantile", "n_regimes": 2, "condition": "high_volatility",
        "share": 0.8, "duration_factor": 1.0}``; see :func:`fit_model`.
    timeframes : sequence of str, optional
        Higher timeframes scored with each series, e.g. ``["1h", "1D"]``.

    Examples
    --------
    >>> factory = SyntheticDataFactory(load_sample("sp500"), seed=42)
    >>> series = factory.generate(n_samples=10, min_fidelity=90.0)
    >>> series.scores
    """

    def __init__(
        self,
        data,
        *,
        method: str = "stationary",
        block_size: int | str = "auto",
        length: int | None = None,
        start_price: float | None = None,
        seed: int | np.random.Generator | None = None,
        weights: Mapping[str, float] | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        garch: Mapping | None = None,
        regime: Mapping | None = None,
        timeframes: Sequence[str] = (),
    ) -> None:
        from pipeline.io.assets import align_assets
        from pipeline.io.readers import load_ohlcv

        if isinstance(data, Mapping):
            self.frame = align_assets({k: load_ohlcv(v) for k, v in data.items()})
        else:
            self.frame = load_ohlcv(data)
        self.seed = _root_seed(seed)
        self.model = fit_model(
            self.frame,
            method=method,
            block_size=block_size,
            length=length,
            start_price=start_price,
            weights=weights,
            tolerance=tolerance,
            garch=garch,
            regime=regime,
            timeframes=timeframes,
        )

    @property
    def reference_metrics(self) -> pd.Series:
        """The original's metrics (for a conditioned regime model: the conditioned reference)."""
        return self.model.scorer.reference_metrics.copy()

    @property
    def block_size(self) -> int:
        return self.model.block_size

    @property
    def block_choice(self):
        """How the block size was chosen (:class:`pipeline.core.blocks.BlockChoice`)."""
        return self.model.block_choice

    def preflight(self, n_samples: int = 10, min_fidelity: float = 90.0, *,
                  max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Preflight:
        """Estimate, before any work, how a :meth:`generate` call with these settings will go.

        See :mod:`pipeline.core.preflight`: the acceptance rate at ``min_fidelity`` with its
        interval, expected attempts and time, the chance of failing, and (when the estimate is
        poor) a threshold that about a quarter of candidates reach.
        """
        _check_int("n_samples", n_samples, 1)
        _check_search(min_fidelity, max_attempts)
        choice = self.model.block_choice
        return preflight(self.model, float(min_fidelity), int(n_samples), int(max_attempts),
                         seconds_per_candidate=choice.seconds_per_candidate if choice else None)

    @property
    def method(self) -> str:
        return self.model.method

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.model.symbols

    def generate(
        self,
        n_samples: int = 10,
        min_fidelity: float = 90.0,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        progress: bool | Callable[[int, int, int], None] = False,
    ) -> SyntheticSeries:
        """Generate ``n_samples`` series, each the lowest attempt scoring >= ``min_fidelity``.

        Parameters
        ----------
        n_samples : int
        min_fidelity : float
            Acceptance threshold in percent, in ``[0, 100]``.
        max_attempts : int
            Candidates tried per scenario before giving up.
        progress : bool or callable
            True shows a progress bar; a callable gets ``(accepted, n_samples, evaluated)``.

        Returns
        -------
        SyntheticSeries

        Raises
        ------
        FidelityNotReachedError
            When a scenario finds no candidate within ``max_attempts``; carries the best score.

        Warns
        -----
        PreflightWarning
            Before any work, when the preflight (:meth:`preflight`) expects the run to be slow
            or to fail; the threshold is kept as given.
        """
        check = self.preflight(n_samples, min_fidelity, max_attempts=max_attempts)
        if not check.ok:
            warnings.warn(check.message, PreflightWarning, stacklevel=2)
        bar = None
        counts = {"accepted": 0, "evaluated": 0}

        def on_batch(evaluated: int, accepted: int) -> None:
            counts["accepted"] += accepted
            counts["evaluated"] += evaluated
            if bar is not None:
                bar.update(accepted)
                bar.set_postfix(attempts=counts["evaluated"], refresh=False)
            elif callable(progress):
                progress(counts["accepted"], n_samples, counts["evaluated"])

        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_samples, desc="accepted", unit="series")
        try:
            result = search_attempts(
                self.model,
                self.seed,
                {k: (0, max_attempts) for k in range(n_samples)},
                float(min_fidelity),
                on_batch=on_batch,
            )
        finally:
            if bar is not None:
                bar.close()
        if result.open:
            failed = sorted(result.open)
            best = max(score for score, _ in result.open.values())
            raise FidelityNotReachedError(
                f"{len(failed)} of {n_samples} scenario(s) found no candidate with fidelity >= "
                f"{min_fidelity} within max_attempts={max_attempts} (scenarios "
                f"{failed[:10]}{' ...' if len(failed) > 10 else ''}); the best score reached was "
                f"{best:.2f}. Lower min_fidelity or raise max_attempts.",
                best_score=best,
                attempts=len(failed) * max_attempts,
                failed_scenarios=failed,
            )
        items = [self._item(acc.ohlcv) for acc in result.accepted]
        index = pd.RangeIndex(n_samples, name="scenario")
        metrics = pd.DataFrame([acc.metrics for acc in result.accepted], index=index)
        tf_scores = pd.DataFrame(
            [{rule: v["score"] for rule, v in acc.timeframes.items()} for acc in result.accepted],
            index=index)
        return SyntheticSeries(
            items,
            [acc.score for acc in result.accepted],
            metrics,
            [acc.attempt for acc in result.accepted],
            regimes=[acc.regimes for acc in result.accepted if acc.regimes is not None],
            timeframe_scores=tf_scores,
        )

    def stream(
        self,
        n_samples: int | None = None,
        min_fidelity: float = 90.0,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> Iterator[StreamedScenario]:
        """Yield accepted scenarios one at a time, in scenario order, as they are found.

        Memory holds one batch of candidates, however many scenarios are drawn; scenario ``k``
        is the same series :meth:`generate` returns as its ``k``-th.

        Parameters
        ----------
        n_samples : int, optional
            Scenarios to yield; None streams without end (stop by leaving the loop).
        min_fidelity, max_attempts
            As for :meth:`generate`.

        Raises
        ------
        FidelityNotReachedError
            When a scenario finds no candidate within ``max_attempts`` (after the scenarios
            before it were yielded).
        """
        if n_samples is not None:
            _check_int("n_samples", n_samples, 1)
        _check_search(min_fidelity, max_attempts)
        chunk = self.model.batch_size
        start = 0
        while n_samples is None or start < n_samples:
            stop = start + chunk if n_samples is None else min(start + chunk, n_samples)
            result = search_attempts(self.model, self.seed,
                                     {k: (0, max_attempts) for k in range(start, stop)},
                                     float(min_fidelity))
            for acc in result.accepted:
                if result.open and acc.scenario > min(result.open):
                    break
                yield StreamedScenario(
                    scenario=acc.scenario + 1, attempt=acc.attempt, score=acc.score,
                    metrics=acc.metrics,
                    data=self._item(acc.ohlcv),
                    regimes=acc.regimes)
            if result.open:
                s = min(result.open)
                best = result.open[s][0]
                raise FidelityNotReachedError(
                    f"scenario {s + 1} found no candidate with fidelity >= {min_fidelity} within "
                    f"max_attempts={max_attempts}; the best score reached was {best:.2f}. Lower "
                    "min_fidelity or raise max_attempts.",
                    best_score=best, attempts=max_attempts, failed_scenarios=[s])
            start = stop

    def _item(self, ohlcv: np.ndarray) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """One accepted array as what the factory hands out: a frame, or ``{symbol: frame}``."""
        return self.model.to_frames(ohlcv) if self.model.symbols else self.model.to_frame(ohlcv)

    def _metrics_of(self, item) -> tuple[dict[str, np.ndarray], int]:
        """Validate one frame (or ``{symbol: frame}``) and compute its metric table."""
        from pipeline.io.readers import load_ohlcv

        symbols = self.model.symbols
        if symbols:
            if not isinstance(item, Mapping) or set(item) != set(symbols):
                raise InputDataError(f"expected a mapping with the symbols {list(symbols)}")
            frames = [load_ohlcv(item[s]) for s in symbols]
            if any(not f.index.equals(frames[0].index) for f in frames):
                raise InputDataError("the assets' timestamps differ; align them first")
        else:
            frames = [load_ohlcv(item)]
        arrays = []
        for frame in frames:
            arr = frame_to_array(frame)
            if not self.model.has_volume:
                arr = arr[:, :4]
            elif arr.shape[1] == 4:
                raise InputDataError("<DataFrame>: the original has Volume; the frame to score "
                                     "has none")
            arrays.append(arr)
        ohlcv = np.concatenate(arrays, axis=1)[None]
        return model_metrics(ohlcv, symbols, self.model.has_volume), len(frames[0])

    def score(self, frames) -> float | np.ndarray:
        """Fidelity of one OHLCV frame (a float) or of a list of frames (an array).

        Frames are validated like any input; each is scored at its own length. A multi-asset
        factory takes ``{symbol: frame}`` mappings.
        """
        single = isinstance(frames, pd.DataFrame | Mapping)
        out = []
        for item in [frames] if single else list(frames):
            metrics, n = self._metrics_of(item)
            out.append(float(self.model.scorer.score(metrics, n_obs=n - 1)[0]))
        return out[0] if single else np.asarray(out)

    def explain(self, frame) -> pd.DataFrame:
        """A frame's score metric by metric (value, original, spreads away, similarity, weight)."""
        metrics, n = self._metrics_of(frame)
        return self.model.scorer.explain({k: float(v[0]) for k, v in metrics.items()},
                                         n_obs=n - 1)

    def __repr__(self) -> str:
        rows = len(next(iter(self.frame.values()))) if isinstance(self.frame, dict) \
            else len(self.frame)
        assets = f", assets={list(self.symbols)}" if self.symbols else ""
        return (
            f"SyntheticDataFactory(rows={rows}, method={self.method!r}, "
            f"block_size={self.block_size}, length={self.model.length}, seed={self.seed}"
            f"{assets})"
        )


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_search(min_fidelity, max_attempts) -> None:
    _check_int("max_attempts", max_attempts, 1)
    if not (isinstance(min_fidelity, int | float) and 0 <= min_fidelity <= 100):
        raise ConfigError(f"min_fidelity: expected a number in [0, 100], got {min_fidelity!r}")


def _root_seed(seed: int | np.random.Generator | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer or a Generator, got {seed!r}")
    return int(seed)

