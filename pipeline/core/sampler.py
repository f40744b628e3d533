"""Candidates and rejection sampling.

A :class:`GenerationModel` holds all a worker needs to make and score candidates: the input's
components, method, block size, output length and the fitted scorer. It is built once per input
and sent to each worker once. Two optional parts change what its candidates continue from and
where they head: an :class:`Origin` (scenarios that continue the history from a bar, in the
state the history was in there) and a :class:`Drift` (the scenarios' expected log-return per
bar set by the user instead of inherited from the history).

The accepted candidate of scenario ``k`` is its **lowest** attempt whose fidelity reaches
``min_fidelity``. :func:`search_attempts` evaluates attempts of many scenarios in batches, always
in increasing attempt order per scenario, so the answer does not depend on batch sizes, task
boundaries, worker counts or completion order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pipeline.core.assets import Assets
from pipeline.core.blocks import BlockChoice
from pipeline.core.garch import GarchFit, simulate_garch
from pipeline.core.generators import BlockJoins, candidate_rng, sample_indices
from pipeline.core.metrics import METRIC_NAMES, compute_metrics_batch, cross_asset_metrics
from pipeline.core.preprocessing import Components, output_index
from pipeline.core.reconstruction import OHLCV_FIELDS, reconstruct
from pipeline.core.regimes import RegimeModel, run_lengths, sample_regime_indices
from pipeline.core.scoring import FidelityScorer
from pipeline.core.timeframes import Timeframe, aggregate_assets
from pipeline.errors import ConfigError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "AssetModel",
    "Origin",
    "Drift",
    "DRIFT_SEED",
    "drift_draws",
    "measure_sampler_mean",
    "measured_drift",
    "scenario_index",
    "batch_size_for",
    "model_metrics",
    "reconstruct_assets",
    "GenerationModel",
    "CandidateBatch",
    "Accepted",
    "SearchResult",
    "search_attempts",
    "still_accepted",
]

#: Candidates scored together. Measured on the S&P 500 sample (5,031 bars): 16 candidates keep
#: the working arrays (a few MB) in cache and score fastest per candidate; 64 were 35 % slower.
DEFAULT_BATCH_SIZE = 16
#: Most float64 values of OHLCV a batch may hold (64 MiB): long series get smaller batches, so a
#: worker's memory follows one batch whatever the length (one candidate at 1,000,000 bars).
BATCH_VALUES = 2**23


@functools.cache
def _column_index(fields: int) -> pd.Index:
    """The (immutable, shared) column index of a frame of ``fields`` OHLCV fields."""
    return pd.Index(OHLCV_FIELDS[:fields])


def batch_size_for(length: int, fields: int) -> int:
    """Candidates per batch for series of ``length`` bars with ``fields`` values per bar."""
    return max(1, min(DEFAULT_BATCH_SIZE, BATCH_VALUES // max(1, length * fields)))


def model_metrics(ohlcv: np.ndarray, symbols: Sequence[str], has_volume: bool
                  ) -> dict[str, np.ndarray]:
    """Metric table of ``(batch, length, fields * assets)`` arrays.

    One series (``symbols`` empty): :func:`~pipeline.core.metrics.compute_metrics_batch`.
    Several assets: each asset's metrics as ``SYM:metric``, and every pair's correlations
    (:func:`~pipeline.core.metrics.cross_asset_metrics`).
    """
    if not symbols:
        return compute_metrics_batch(ohlcv, has_volume=has_volume)
    out: dict[str, np.ndarray] = {}
    closes = {}
    f = ohlcv.shape[2] // len(symbols)
    for a, symbol in enumerate(symbols):
        part = np.ascontiguousarray(ohlcv[:, :, a * f : (a + 1) * f])
        for k, v in compute_metrics_batch(part, has_volume=has_volume).items():
            out[f"{symbol}:{k}"] = v
        closes[symbol] = ohlcv[:, :, a * f + 3]
    out.update(cross_asset_metrics(closes))
    return out


@dataclass(frozen=True, eq=False)
class CandidateBatch:
    """A batch of generated and scored candidates.

    ``indices`` are the input rows each candidate's bars were built from; ``regimes`` holds each
    candidate's regime path (``method="regime"``); ``timeframes`` maps a timeframe to its
    ``(metrics, scores)`` at that timeframe.
    """

    scenarios: np.ndarray
    attempts: np.ndarray
    ohlcv: np.ndarray
    metrics: dict[str, np.ndarray]
    scores: np.ndarray
    regimes: np.ndarray | None = None
    timeframes: dict[str, tuple[dict[str, np.ndarray], np.ndarray]] = field(default_factory=dict)
    indices: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class AssetModel:
    """One asset of a model: its components, start price and (``garch``) volatility fit.

    ``symbol`` is empty for a single-series model. ``volume_elasticity`` is the slope of the
    input's detrended log-volume on its log conditional volatility (``garch``; 0 without volume).
    """

    symbol: str
    components: Components
    start_price: float
    garch: GarchFit | None = None
    volume_elasticity: float = 0.0

    def __repr__(self) -> str:
        return f"AssetModel({self.symbol!r}, rows={self.components.values.shape[0]})"


@dataclass(frozen=True)
class Origin:
    """The bar scenarios continue from (``generation.start``) and the state they start in.

    The fit saw only the bars up to and including this one; each part of the state below is
    what the method carries over from it, the same for every candidate.

    Attributes
    ----------
    bar : int
        Position of the bar in the input (0-based).
    time : pandas.Timestamp, optional
        Its timestamp (None for input without timestamps).
    garch_variance : tuple of float, optional
        ``garch``: each asset's conditional variance of the first synthetic bar, the fit's
        one-step-ahead forecast from this bar (percent squared;
        :func:`~pipeline.core.garch.forecast_variance`).
    regime : int, optional
        ``regime``: the regime in force at this bar (its row's label), where every regime
        path starts.
    join_state : float, optional
        Block methods with volatility-matched joins: the recent volatility at this bar that the
        first block's start is matched to (:attr:`~pipeline.core.generators.BlockJoins.origin`).
    join_slot : int, optional
        The bar's slot of the day when joins keep a daily cycle.
    """

    bar: int
    time: pd.Timestamp | None = None
    garch_variance: tuple[float, ...] | None = None
    regime: int | None = None
    join_state: float | None = None
    join_slot: int | None = None

    def to_dict(self) -> dict:
        """The origin as plain JSON values (how the run manifest records it)."""
        return {
            "bar": self.bar,
            "time": None if self.time is None else str(self.time),
            "garch_variance": None if self.garch_variance is None else list(self.garch_variance),
            "regime": self.regime,
            "join_state": self.join_state,
            "join_slot": self.join_slot,
        }

    def __repr__(self) -> str:
        state = {k: v for k, v in self.to_dict().items() if v is not None and k != "bar"}
        shown = "".join(f", {k}={v!r}" for k, v in state.items())
        return f"Origin(bar={self.bar}{shown})"


#: Root seed of the fixed random stream :func:`measure_sampler_mean` draws its candidates from
#: (scenario ``i``, attempt 0), whatever the run's seed: one model always gets one shift.
DRIFT_SEED = 0xD41F7


def drift_draws(length: int) -> int:
    """Candidates the sampler's mean log-return is measured on, for series of ``length`` bars.

    About four million bars in all, between 1,024 and 8,192 candidates. The measured mean's
    standard error is the spread of one candidate's mean over ``sqrt(draws)``: on the S&P 500
    sample (5,031 daily bars, 1,024 candidates) 0.12 % a year, against the history's mean of
    3.6 % a year (and the regime bootstrap's own 2.8 %, which the measurement is for); about
    half the standard error of the mean of 300 scenarios, a fifth of it for 21-bar series
    (8,192 candidates).
    """
    return int(min(8192, max(1024, 2**22 // max(1, int(length)))))


@dataclass(frozen=True)
class Drift:
    """The scenarios' expected close log-return per bar, set instead of inherited.

    The sampler's own mean per bar differs from the history's plain mean (joins, regime paths,
    a GARCH recursion and an origin all weigh the rows differently), so it is measured from the
    model's own candidates (:func:`measure_sampler_mean`) and every synthetic bar's close
    log-return is moved by the constant :attr:`shift`; the mean per bar is then the target in
    expectation. Opens follow the moved closes by their own gaps and highs and lows wrap the
    bodies, so every bar stays valid.

    Attributes
    ----------
    setting : "zero" or float
        As given: ``"zero"``, or an annualized log return.
    target : float
        The expected close log-return per bar: 0, or ``setting / bars_per_year``.
    bars_per_year : float, optional
        Bars a year of the fitted input, ``(n - 1) / years spanned`` by its timestamps (None
        without timestamps).
    history_mean : tuple of float
        Each asset's mean close log-return per bar over the fitted input.
    sampler_mean : tuple of float
        Each asset's mean close log-return per bar of the model's own candidates, before any
        shift.
    standard_error : tuple of float
        Standard error of ``sampler_mean`` (over the candidates' own means).
    draws : int
        Candidates ``sampler_mean`` was measured on (0: not measured, the history's mean
        stands in).
    """

    setting: str | float
    target: float
    bars_per_year: float | None
    history_mean: tuple[float, ...]
    sampler_mean: tuple[float, ...]
    standard_error: tuple[float, ...]
    draws: int

    @property
    def shift(self) -> tuple[float, ...]:
        """Each asset's shift of every close log-return: ``target - sampler_mean``."""
        return tuple(self.target - m for m in self.sampler_mean)

    def to_dict(self) -> dict:
        """The drift as plain JSON values (how the run manifest records it)."""
        return {"setting": self.setting, "target_per_bar": self.target,
                "bars_per_year": self.bars_per_year, "history_mean": list(self.history_mean),
                "sampler_mean": list(self.sampler_mean),
                "standard_error": list(self.standard_error), "draws": self.draws,
                "shift": list(self.shift)}

    def __repr__(self) -> str:
        return (f"Drift(setting={self.setting!r}, target={self.target:.3g}/bar, "
                f"shift={[float(f'{x:.3g}') for x in self.shift]})")


def scenario_index(history: pd.DatetimeIndex, length: int, continued: bool
                   ) -> pd.DatetimeIndex:
    """Timestamps of a synthetic series of ``length`` bars.

    ``continued``: the bars after the fitted history's last (an :class:`Origin`), at its
    spacing (:func:`~pipeline.core.preprocessing.output_index`); else the history's own
    timestamps, continued past its end when the series is longer.

    Raises
    ------
    ConfigError
        Timestamps past pandas' last date.
    """
    if not continued:
        return output_index(history, length)
    n = len(history)
    try:
        return output_index(history, n + int(length))[n:]
    except ConfigError:
        raise ConfigError(
            f"generation.length: {length} bars after generation.start run past "
            f"{pd.Timestamp.max.date()}, the last date pandas can represent; ask for fewer "
            "bars") from None


def reconstruct_assets(parts: Sequence[AssetModel], indices: np.ndarray, *,
                       filtered: bool = True,
                       start_variances: Sequence[float | None] | None = None,
                       return_shifts: Sequence[float] | None = None) -> np.ndarray:
    """OHLCV ``(batch, length, fields * assets)`` of every asset from shared row ``indices``.

    An asset with a GARCH fit runs its resampled residuals through the fitted recursion unless
    ``filtered`` is False (the plain bootstrap the scorer's replicates use), from its entry of
    ``start_variances`` when given (:attr:`Origin.garch_variance`). ``return_shifts`` are added
    to each asset's close log-returns (:attr:`Drift.shift`).
    """
    arrays = []
    for a, part in enumerate(parts):
        comps = part.components
        shift = 0.0 if return_shifts is None else float(return_shifts[a])
        if part.garch is None or not filtered:
            arrays.append(reconstruct(comps.values, indices, part.start_price,
                                      comps.volume_level, return_shift=shift))
        else:
            start = None if start_variances is None else start_variances[a]
            returns, sigma = simulate_garch(part.garch, indices, start)
            # The matched bars' gaps and ranges scale with the new volatility: a calm bar
            # drawn into a storm gets a storm's range.
            scale = sigma / np.take(part.garch.sigma, indices)
            # Volume follows too, by the input's own elasticity of (detrended) log-volume to
            # its conditional volatility: a quiet bar's volume drawn into a storm would give
            # the bar away (the purged classifier found change of log volume to be the feature
            # that set GARCH scenarios of hourly EUR/USD apart).
            volume_shift = (None if not comps.has_volume or part.volume_elasticity == 0.0
                            else part.volume_elasticity * np.log(scale))
            arrays.append(reconstruct(comps.values, indices, part.start_price,
                                      comps.volume_level, log_returns=returns, scale=scale,
                                      volume_shift=volume_shift, return_shift=shift))
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=2)


@dataclass(frozen=True, eq=False)
class GenerationModel:
    """Everything needed to generate and score candidates for one input.

    Attributes
    ----------
    parts : tuple of AssetModel
        The assets; one with an empty symbol for a single series. The assets' component rows
        are aligned bar by bar and drawn with shared indices, so cross-asset correlation and
        lead-lag survive.
    method : str
        ``stationary``, ``circular``, ``moving``, ``iid``, ``garch`` or ``regime``.
    block_size : int
        (Mean) block length.
    length : int
        Bars per synthetic series.
    scorer : FidelityScorer
        Scores metric tables against the original.
    index : pandas.DatetimeIndex
        Timestamps of a synthetic series (length ``length``).
    regimes : RegimeModel, optional
        The input's regimes (``method="regime"``).
    transition : ndarray, optional
        The per-bar regime transition matrix scenarios follow (fitted, or conditioned).
    timeframes : tuple of (Timeframe, FidelityScorer)
        Higher timeframes delivered with each scenario, with their scorers.
    reference : str
        ``"original"``: scored against the input's metrics; ``"conditioned"``: against the
        typical metrics of the conditioned generator (regime conditioning).
    block_choice : BlockChoice, optional
        How ``block_size`` was chosen, with the pilot's scores (the preflight's sample).
    joins : BlockJoins, optional
        Volatility-matched block joins (see :mod:`pipeline.core.generators`); None starts
        every block at random.
    origin : Origin, optional
        The bar the scenarios continue from and its state (``generation.start``); None for a
        model of the whole history, whose candidates start where their sampler draws.
    drift : Drift, optional
        The set expected log-return per bar and the shift that reaches it; None keeps the
        sampler's own (the history's trend).
    """

    parts: tuple[AssetModel, ...]
    method: str
    block_size: int
    length: int
    scorer: FidelityScorer
    index: pd.DatetimeIndex
    regimes: RegimeModel | None = None
    transition: np.ndarray | None = None
    timeframes: tuple[tuple[Timeframe, FidelityScorer], ...] = ()
    reference: str = "original"
    block_choice: BlockChoice | None = None
    joins: BlockJoins | None = None
    origin: Origin | None = None
    drift: Drift | None = None

    @property
    def components(self) -> Components:
        """Components of the (first) asset."""
        return self.parts[0].components

    @property
    def start_price(self) -> float:
        return self.parts[0].start_price

    @property
    def symbols(self) -> tuple[str, ...]:
        """The assets' symbols; empty for a single series."""
        return tuple(p.symbol for p in self.parts) if self.parts[0].symbol else ()

    @property
    def has_volume(self) -> bool:
        return self.components.has_volume

    @property
    def fields(self) -> int:
        """Values per bar and asset (4 or 5)."""
        return 5 if self.has_volume else 4

    @property
    def columns(self) -> pd.Index:
        """Column index of one asset's frame (immutable, shared by every frame)."""
        return _column_index(self.fields)

    @property
    def metric_names(self) -> list[str]:
        """Names of the reported metrics (the metric table without the test statistics)."""
        if not self.symbols:
            return list(METRIC_NAMES)
        names = [f"{s}:{m}" for s in self.symbols for m in METRIC_NAMES]
        for prefix in ("corr", "abs_corr"):
            names += [f"{prefix}:{a}|{b}" for i, a in enumerate(self.symbols)
                      for b in self.symbols[i + 1 :]]
        return names

    @property
    def batch_size(self) -> int:
        return batch_size_for(self.length, self.fields * len(self.parts))

    def indices(
        self, root_seed: int, scenarios: Sequence[int], attempts: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Component rows ``(batch, length)`` candidates are built from, and regime paths.

        Row ``r`` is the input's bar ``r + 1``: which bar of history each synthetic bar copies
        (its whole bar for a bootstrap; its intrabar shape, volume and residual for ``garch``).
        """
        rngs = [candidate_rng(root_seed, s, a) for s, a in zip(scenarios, attempts, strict=True)]
        if self.method == "regime":
            return sample_regime_indices(
                self.regimes.labels, self.transition, self.length, self.block_size, rngs,
                joins=self.joins, start_regime=None if self.origin is None else self.origin.regime)
        kind = "stationary" if self.method == "garch" else self.method
        n_rows = self.components.values.shape[0]
        return sample_indices(kind, n_rows, self.length, self.block_size, rngs,
                              joins=self.joins), None

    def sample(
        self, root_seed: int, scenarios: Sequence[int], attempts: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """OHLCV arrays ``(batch, length, fields * assets)`` and regime paths (or None)."""
        idx, paths = self.indices(root_seed, scenarios, attempts)
        return self._reconstruct(idx), paths

    def _reconstruct(self, indices: np.ndarray) -> np.ndarray:
        """Candidates' OHLCV from their rows, from the origin's state and with the drift."""
        return reconstruct_assets(
            self.parts, indices,
            start_variances=None if self.origin is None else self.origin.garch_variance,
            return_shifts=None if self.drift is None else self.drift.shift)

    def with_length(self, length: int) -> GenerationModel:
        """The same fitted model making series of ``length`` bars.

        Everything fitted is kept: rows, block size, joins, regimes, GARCH fits, the origin's
        state and the scorer. The timestamps follow the new length (after the origin for a
        model with one), and a drift is measured again at the new length, so it stays exact in
        expectation. The scorer was fitted to series of :attr:`length` bars: candidates of
        another length are meant for unscored use such as forecasting from the origin, and
        higher timeframes (scorers of the fitted length) are not carried over.

        Parameters
        ----------
        length : int
            Bars per series, at least 1.

        Raises
        ------
        ConfigError
            ``length`` not an integer >= 1, or timestamps past pandas' last date.
        """
        if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 1:
            raise ConfigError(f"length: expected an integer >= 1 (bars per series), got "
                              f"{length!r}")
        length = int(length)
        index = scenario_index(self.components.index, length, self.origin is not None)
        model = replace(self, length=length, index=index, timeframes=())
        if self.drift is not None:
            model = replace(model, drift=measured_drift(model, self.drift))
        return model

    def generate(self, root_seed: int, scenarios: Sequence[int], attempts: Sequence[int]) -> np.ndarray:
        """OHLCV arrays ``(batch, length, fields * assets)`` of candidates ``(scenario, attempt)``."""
        return self.sample(root_seed, scenarios, attempts)[0]

    def metrics(self, ohlcv: np.ndarray) -> dict[str, np.ndarray]:
        """The metric table of a ``(batch, length, fields * assets)`` array.

        Multi-asset: every asset's metrics as ``SYM:metric`` and the pairs' correlations.
        """
        return model_metrics(ohlcv, self.symbols, self.has_volume)

    def aggregate(self, ohlcv: np.ndarray, timeframe: Timeframe) -> np.ndarray:
        """Base bars ``(batch, length, fields * assets)`` aggregated to ``timeframe``."""
        return aggregate_assets(ohlcv, timeframe, len(self.parts))

    def evaluate(
        self, root_seed: int, scenarios: Sequence[int], attempts: Sequence[int]
    ) -> CandidateBatch:
        """Generate and score candidates ``(scenario, attempt)``."""
        idx, paths = self.indices(root_seed, scenarios, attempts)
        ohlcv = self._reconstruct(idx)
        metrics = self.metrics(ohlcv)
        by_timeframe = {}
        for tf, scorer in self.timeframes:
            tf_metrics = self.metrics(self.aggregate(ohlcv, tf))
            by_timeframe[tf.rule] = (tf_metrics, scorer.score(tf_metrics))
        return CandidateBatch(
            scenarios=np.asarray(scenarios, dtype=np.int64),
            attempts=np.asarray(attempts, dtype=np.int64),
            ohlcv=ohlcv,
            metrics=metrics,
            scores=self.scorer.score(metrics),
            regimes=paths,
            timeframes=by_timeframe,
            indices=idx,
        )

    def evaluate_first_attempts(self, root_seed: int, start: int, stop: int
                                ) -> list[CandidateBatch]:
        """Attempt 0 of scenarios ``start .. stop - 1``, in batches of :attr:`batch_size`.

        The block pilot and the preflight draw their candidates this way (from their fixed
        stream), so the preflight's extra candidates continue the pilot's.
        """
        step = self.batch_size
        return [self.evaluate(root_seed, range(lo, min(lo + step, stop)),
                              [0] * (min(lo + step, stop) - lo))
                for lo in range(start, stop, step)]

    def to_frame(self, ohlcv: np.ndarray, timeframe: Timeframe | None = None) -> pd.DataFrame:
        """One single-asset candidate's ``(length, fields)`` array as an OHLCV DataFrame.

        The frame is built on ``ohlcv`` without a copy, and every frame shares the model's one
        index and one column index (immutable): building a thousand frames then costs no
        thousand copies and index constructions. Hand over an array nothing else writes to
        (as :func:`search_attempts` copies each accepted series out of its batch). Writes into
        the frame go to that array only, never to another frame's.
        """
        index = self.index if timeframe is None else timeframe.index
        return pd.DataFrame(ohlcv, index=index, columns=self.columns, copy=False)

    def to_assets(self, ohlcv: np.ndarray, timeframe: Timeframe | None = None) -> Assets:
        """One candidate's ``(length, fields * assets)`` array as OHLCV frames, one per asset."""
        if timeframe is not None:
            ohlcv = self.aggregate(ohlcv[None], timeframe)[0]
        f = self.fields
        return Assets({p.symbol: self.to_frame(ohlcv[:, a * f : (a + 1) * f], timeframe)
                       for a, p in enumerate(self.parts)})

    def __repr__(self) -> str:
        assets = f", assets={list(self.symbols)}" if self.symbols else ""
        origin = "" if self.origin is None else f", origin={self.origin!r}"
        drift = "" if self.drift is None else f", drift={self.drift!r}"
        return (
            f"GenerationModel(method={self.method!r}, block_size={self.block_size}, "
            f"length={self.length}, rows={self.components.values.shape[0]}{assets}"
            f"{origin}{drift})"
        )


def measure_sampler_mean(model: GenerationModel, draws: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray, int]:
    """Each asset's mean close log-return per bar of ``model``'s candidates, before any drift.

    The candidates are ``(scenario i, attempt 0)`` of the root seed :data:`DRIFT_SEED`, for
    ``i < draws`` (default :func:`drift_draws` of the model's length): a fixed stream, so a
    model always measures the same mean. They are drawn from the model's own sampler (joins,
    regime path, GARCH recursion and origin state included); only their close log-returns are
    built, not their bars.

    Returns
    -------
    mean, standard_error : ndarray, shape (assets,)
        The mean over candidates of each candidate's mean log-return per bar, and its
        standard error.
    draws : int
    """
    n = drift_draws(model.length) if draws is None else int(draws)
    step = max(1, min(256, BATCH_VALUES // max(1, model.length * len(model.parts))))
    variances = None if model.origin is None else model.origin.garch_variance
    per_candidate = []
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        idx, _ = model.indices(DRIFT_SEED, range(lo, hi), [0] * (hi - lo))
        means = []
        for a, part in enumerate(model.parts):
            if part.garch is None:
                returns = np.take(part.components.log_returns, idx)
            else:
                returns = simulate_garch(part.garch, idx,
                                         None if variances is None else variances[a])[0]
            means.append(returns.mean(axis=1))
        per_candidate.append(np.column_stack(means))
    table = np.concatenate(per_candidate)
    se = table.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(table.shape[1], np.nan)
    return table.mean(axis=0), se, n


def measured_drift(model: GenerationModel, drift: Drift) -> Drift:
    """``drift`` with its sampler mean measured on ``model`` (:func:`measure_sampler_mean`)."""
    mean, se, n = measure_sampler_mean(model)
    return replace(drift, sampler_mean=tuple(float(x) for x in mean),
                   standard_error=tuple(float(x) for x in se), draws=n)


@dataclass(frozen=True)
class Accepted:
    """An accepted scenario: its attempt, fidelity, metrics and OHLCV array.

    ``regimes`` is its regime path as ``[[regime, bars], ...]`` runs (``method="regime"``);
    ``timeframes`` maps each higher timeframe to ``{"score": float, "metrics": {...}}``.
    ``ohlcv`` is None in a :class:`SearchResult` whose series went to an ``on_accept`` callback.
    ``best_before`` is the best fidelity of the attempts searched before the accepted one in
    the same search (None when it was the first): a scenario accepted at ``attempt`` stays the
    lowest passing attempt at any lower threshold above the best of *all* its earlier attempts.
    """

    scenario: int
    attempt: int
    score: float
    metrics: dict[str, float]
    ohlcv: np.ndarray | None = field(repr=False)
    regimes: list[list[int]] | None = field(default=None, repr=False)
    timeframes: dict[str, dict] = field(default_factory=dict, repr=False)
    best_before: float | None = None

    def without_series(self) -> Accepted:
        return replace(self, ohlcv=None)


@dataclass
class SearchResult:
    """Outcome of :func:`search_attempts` for a set of scenarios.

    Attributes
    ----------
    accepted : list of Accepted
        Scenarios that found their lowest passing attempt, in scenario order.
    open : dict int -> (best_score, best_attempt)
        Scenarios with no passing attempt in the searched range.
    evaluated : int
        Candidates generated and scored.
    """

    accepted: list[Accepted] = field(default_factory=list)
    open: dict[int, tuple[float, int]] = field(default_factory=dict)
    evaluated: int = 0


def search_attempts(
    model: GenerationModel,
    root_seed: int,
    windows: Mapping[int, tuple[int, int]],
    min_fidelity: float,
    *,
    batch_size: int | None = None,
    lookahead: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_accept: Callable[[Accepted], None] | None = None,
) -> SearchResult:
    """Find, for each scenario, the lowest attempt in its window that passes ``min_fidelity``.

    Parameters
    ----------
    model : GenerationModel
    root_seed : int
    windows : mapping int -> (int, int)
        Scenario -> attempt range ``[start, stop)`` to search.
    min_fidelity : float
        Acceptance threshold in percent.
    batch_size : int, optional
        Candidates scored per batch; default ``model.batch_size`` (fewer for long series).
    lookahead : int, optional
        Most attempts of one scenario scored in one batch. Attempts scored after a scenario's
        first pass are wasted, so with a high acceptance rate this should be small (about
        ``1 / acceptance rate``); None lets a few open scenarios fill whole batches.
    on_batch : callable, optional
        Called as ``on_batch(evaluated, accepted)`` after each batch (counts in that batch).
    on_accept : callable, optional
        Called with each :class:`Accepted` as soon as it is found (in the order found). The
        result then keeps the accepted records without their series, so memory stays at one
        batch however many scenarios are searched.

    Returns
    -------
    SearchResult
    """
    if batch_size is None:
        batch_size = model.batch_size
    next_attempt = {int(s): int(a) for s, (a, b) in windows.items() if b > a}
    stop_at = {int(s): int(b) for s, (_, b) in windows.items()}
    best: dict[int, tuple[float, int]] = {s: (-math.inf, -1) for s in next_attempt}
    result = SearchResult()
    while next_attempt:
        # Spread the batch over the open scenarios; each scenario's attempts stay contiguous
        # from its next untried attempt, so its lowest pass is found in order.
        per_scenario = max(1, batch_size // len(next_attempt))
        if lookahead is not None:
            per_scenario = min(per_scenario, max(1, int(lookahead)))
        batch_s: list[int] = []
        batch_a: list[int] = []
        for s, a in next_attempt.items():
            stop = min(a + per_scenario, stop_at[s])
            batch_s.extend([s] * (stop - a))
            batch_a.extend(range(a, stop))
            if len(batch_s) >= batch_size:
                break
        cand = model.evaluate(root_seed, batch_s, batch_a)
        result.evaluated += len(batch_s)
        n_accepted = 0
        passed = cand.scores >= min_fidelity
        for s in dict.fromkeys(batch_s):
            rows = np.flatnonzero(cand.scenarios == s)
            scores = cand.scores[rows]
            earlier = best[s][0]  # of the batches before this one
            top = int(np.argmax(scores))
            if scores[top] > best[s][0]:
                best[s] = (float(scores[top]), int(cand.attempts[rows[top]]))
            hits = np.flatnonzero(passed[rows])
            if hits.size:
                # Rows are in attempt order: the first hit is the lowest attempt.
                first = int(hits[0])
                i = int(rows[first])
                before = max([earlier, *scores[:first].tolist()])
                acc = Accepted(
                    scenario=s,
                    attempt=int(cand.attempts[i]),
                    score=float(cand.scores[i]),
                    metrics={k: float(v[i]) for k, v in cand.metrics.items()},
                    ohlcv=cand.ohlcv[i].copy(),
                    regimes=None if cand.regimes is None else run_lengths(cand.regimes[i]),
                    timeframes={
                        rule: {"score": float(tf_scores[i]),
                               "metrics": {k: float(v[i]) for k, v in tf_metrics.items()}}
                        for rule, (tf_metrics, tf_scores) in cand.timeframes.items()
                    },
                    best_before=float(before) if math.isfinite(before) else None,
                )
                if on_accept is not None:
                    on_accept(acc)
                    acc = acc.without_series()
                result.accepted.append(acc)
                del next_attempt[s]
                n_accepted += 1
            else:
                last = int(cand.attempts[rows[-1]]) + 1
                if last >= stop_at[s]:
                    del next_attempt[s]
                    result.open[s] = best[s]
                else:
                    next_attempt[s] = last
        if on_batch is not None:
            on_batch(len(batch_s), n_accepted)
    result.accepted.sort(key=lambda acc: acc.scenario)
    return result


def still_accepted(attempt: int, score: float, best_before: float | None, min_fidelity: float,
                   max_attempts: int) -> bool:
    """Whether a scenario accepted at ``attempt`` would be accepted there at other settings.

    Parameters
    ----------
    attempt, score : int, float
        The accepted attempt and its fidelity.
    best_before : float or None
        The best fidelity of all the scenario's attempts before ``attempt`` (None: none,
        which is only known for attempt 0).
    min_fidelity, max_attempts : float, int
        The other run's settings (with the same seed, input, method and scoring).

    Notes
    -----
    The accepted attempt is the lowest that reaches the threshold. At ``min_fidelity`` it is
    still ``attempt`` exactly when ``attempt`` reaches it, every earlier attempt stays below
    it (``best_before < min_fidelity``) and ``attempt < max_attempts``. A threshold above
    the original one keeps the earlier attempts below it; a lower one needs ``best_before``.
    """
    if attempt >= max_attempts or not score >= min_fidelity:
        return False
    if attempt == 0:
        return True
    return best_before is not None and best_before < min_fidelity
