"""``SyntheticDataFactory``: the Python API of the engine.

It reads its input through :mod:`pipeline.io` (a frame, a path or URL, or several assets) and
builds on the core's fit (:mod:`pipeline.core.fit`) and rejection sampling
(:mod:`pipeline.core.sampler`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.core.assets import Assets
from pipeline.core.fit import fit_generation_model, frame_to_array
from pipeline.core.preflight import Preflight, preflight
from pipeline.core.sampler import GenerationModel, model_metrics, search_attempts
from pipeline.core.scoring import DEFAULT_TOLERANCE
from pipeline.core.settings import GenerationSettings
from pipeline.core.timeframes import aggregate_frame
from pipeline.errors import (
    ConfigError,
    FidelityNotReachedError,
    InputDataError,
    PreflightWarning,
)
from pipeline.io.assets import align_assets
from pipeline.io.readers import load_ohlcv

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "SyntheticDataFactory",
    "StreamedScenario",
    "SyntheticSeries",
    "fit_model",
]

DEFAULT_MAX_ATTEMPTS = 200


def _validated(settings: dict, source: str) -> GenerationSettings:
    """``settings`` through the configuration's models (:func:`pipeline.config.validate_settings`).

    Imported here, not at the top: the models bring pydantic and PyYAML (about 0.1 s), which
    ``import pipeline`` and ``sme --help`` need not load before a factory is made.
    """
    from pipeline.config import validate_settings

    return validate_settings(settings, source)


def fit_model(data, **settings) -> GenerationModel:
    """Fit the generation model of validated OHLCV input (what the factory is built on).

    Parameters
    ----------
    data : pandas.DataFrame or mapping of str to DataFrame
        Validated OHLCV input (see :func:`pipeline.load_ohlcv`), or several assets with the same
        timestamps (see :func:`pipeline.align_assets`).
    **settings
        The fields of :class:`~pipeline.core.settings.GenerationSettings` (``method``,
        ``block_size``, ``length``, ``start_price``, ``start``, ``drift``, ``garch``,
        ``regime``, ``timeframes``, ``weights``, ``tolerance``, ``n_replicates``), validated
        like a YAML config's.

    Returns
    -------
    GenerationModel

    Raises
    ------
    ConfigError
        A bad setting, or one the input cannot support.
    """
    return fit_generation_model(Assets.of(data), _validated(settings, "fit_model"))


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
        return [Assets.of(item).map(lambda f: aggregate_frame(f, rule)).unwrap() for item in self]

    def __repr__(self) -> str:
        if not len(self):
            return "SyntheticSeries([])"
        first = Assets.of(self[0]).first
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
        Bars per synthetic series; default the input's length (with ``start``: the bars up to
        and including the start bar).
    start_price : float, optional
        Close before the first synthetic bar; default the input's first close (with
        ``start``: the start bar's close).
    start : int or str, optional
        Continue the history from this bar: the model is fitted on the bars up to it only, and
        each series starts in the state the history was in there (its close, GARCH volatility,
        regime or recent volatility; see ``model.origin``) with timestamps after it. A 0-based
        bar position (-1 is the last bar) or a timestamp (the last bar at or before it).
    drift : "keep", "zero" or float, default "keep"
        The series' trend: the history's own (``"keep"``), none (``"zero"``), or an annualized
        log return such as ``0.05``; the expected log-return per bar is then exactly that, and
        the series are scored against the original moved to the same trend (see
        ``model.drift``).
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
        "share": 0.8, "duration_factor": 1.0}``; see :class:`~pipeline.core.settings.RegimeOptions`.
    timeframes : sequence of str, optional
        Higher timeframes scored with each series, e.g. ``["1h", "1D"]``.

    Attributes
    ----------
    frame : DataFrame or dict of str to DataFrame
        The validated input: one frame, or ``{symbol: frame}`` aligned for several assets.
    assets : Assets
        The same as :class:`~pipeline.core.assets.Assets`, as the fit takes it.
    settings : GenerationSettings
        The settings above, validated by the same models as a YAML config or a REST request.
    model : GenerationModel
        The fitted model.

    Raises
    ------
    ConfigError
        A bad setting (named as in a YAML config, e.g. ``generation.block_size``), or one the
        input cannot support.
    InputDataError
        Input that cannot be read or validated.

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
        start: int | str | None = None,
        drift: str | float = "keep",
        seed: int | np.random.Generator | None = None,
        weights: Mapping[str, float] | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        garch: Mapping | None = None,
        regime: Mapping | None = None,
        timeframes: Sequence[str] = (),
    ) -> None:
        #: The validated settings (:class:`~pipeline.core.settings.GenerationSettings`).
        self.settings: GenerationSettings = _validated(
            {"method": method, "block_size": block_size, "length": length,
             "start_price": start_price, "start": start, "drift": drift,
             "weights": weights, "tolerance": tolerance,
             "garch": garch, "regime": regime, "timeframes": timeframes},
            "SyntheticDataFactory")
        #: The validated input (:class:`~pipeline.core.assets.Assets`).
        self.assets = Assets.of(
            align_assets({k: load_ohlcv(v) for k, v in data.items()})
            if isinstance(data, Mapping) else load_ohlcv(data))
        self.seed = _root_seed(seed)
        self.model = fit_generation_model(self.assets, self.settings)

    @property
    def frame(self) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """The validated input: one frame, or ``{symbol: frame}`` aligned for several assets."""
        return self.assets.unwrap()

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
        return self.model.to_assets(ohlcv).unwrap()

    def _metrics_of(self, item) -> tuple[dict[str, np.ndarray], int]:
        """Validate one frame (or ``{symbol: frame}``) and compute its metric table."""
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
        rows = len(self.assets.first)
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

