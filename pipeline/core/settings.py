"""The generation settings: one immutable value the fit takes whole.

:class:`GenerationSettings` holds every setting that decides a fitted
:class:`~pipeline.core.sampler.GenerationModel`: the method and its options, the block size, the
output length and start price, the timeframes, and how the fidelity score is built. It is a
plain value and checks nothing itself: the run configuration's pydantic models validate every
setting once, for YAML, the REST API and the Python API alike, and build it (``RunConfig.settings``
and ``validate_settings`` of the runner's config module). What depends on the data (a block
longer than the input, a length past the calendar) is checked by
:func:`pipeline.core.fit.check_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from pipeline.core.scoring import DEFAULT_TOLERANCE

__all__ = [
    "DEFAULT_REPLICATES",
    "MAX_DRIFT",
    "GarchOptions",
    "RegimeOptions",
    "GenerationSettings",
    "SETTING_NAMES",
]

#: Bootstrap replicates of the original used to measure each metric's sampling spread.
DEFAULT_REPLICATES = 256
#: Largest annualized log return ``drift`` may ask for (e**10 a year is past any market).
MAX_DRIFT = 10.0


@dataclass(frozen=True, kw_only=True)
class GarchOptions:
    """The volatility model of the ``garch`` method.

    Attributes
    ----------
    vol : {"garch", "gjr", "egarch"}
        GARCH(1,1), GJR-GARCH or EGARCH.
    dist : {"normal", "t", "skewt"}
        Error distribution of the fit's likelihood.
    """

    vol: str = "garch"
    dist: str = "normal"


@dataclass(frozen=True, kw_only=True)
class RegimeOptions:
    """Regime labelling and conditioning of the ``regime`` method.

    Attributes
    ----------
    labels : {"markov", "quantile"}
        Markov-switching model or realized-volatility quantiles.
    n_regimes : int
        Number of regimes, calm to volatile.
    window : int
        Realized-volatility window of quantile labels, in bars.
    condition : {"high_volatility", "low_volatility"} or int, optional
        The regime to favour; None draws regimes as fitted.
    share : float, optional
        Long-run share of the conditioned regime.
    duration_factor : float
        Multiplies the conditioned regime's mean stay.
    """

    labels: str = "markov"
    n_regimes: int = 2
    window: int = 21
    condition: str | int | None = None
    share: float | None = None
    duration_factor: float = 1.0

    @property
    def conditioned(self) -> bool:
        """Whether a regime is favoured (the model's reference is then its own replicates)."""
        return self.condition is not None


@dataclass(frozen=True, kw_only=True)
class GenerationSettings:
    """Everything a fit depends on besides the data.

    Attributes
    ----------
    method : {"stationary", "circular", "moving", "iid", "garch", "regime"}
        Block-bootstrap method, the GARCH-filtered or the regime-switching bootstrap.
    block_size : "auto" or int
        (Mean) block length; ``"auto"`` lets the pilot choose (:mod:`pipeline.core.blocks`).
    length : int, optional
        Bars per synthetic series; None is the input's length (with ``start``: the bars up to
        and including the origin).
    start_price : float, optional
        Close before the first synthetic bar; None is the input's first close (with
        ``start``: the origin's close).
    start : int or str, optional
        The origin: scenarios continue the history from this bar and the fit sees only the
        bars up to it (see :mod:`pipeline.core.fit`). A 0-based bar position (negative counts
        from the end, -1 is the last bar) or a timestamp (the last bar at or before it). None
        fits the whole input and starts each scenario where its sampler starts it.
    drift : "keep", "zero" or float
        The scenarios' expected close log-return per bar: ``"keep"`` leaves what the sampler
        gives (the history's own trend), ``"zero"`` removes it, a number sets it from an
        annualized log return (see :class:`pipeline.core.sampler.Drift`).
    garch : GarchOptions
        Options of the ``garch`` method.
    regime : RegimeOptions
        Options of the ``regime`` method.
    timeframes : tuple of str
        Higher timeframes (pandas frequencies) delivered and scored with each series.
    weights : mapping of str to float
        Overrides of the metric weights (:data:`pipeline.core.scoring.DEFAULT_WEIGHTS`).
    tolerance : float
        Spreads at which a metric keeps ``exp(-1/2)`` of its weight.
    n_replicates : int
        Bootstrap replicates of the original that measure the metrics' spreads.
    """

    method: str = "stationary"
    block_size: int | str = "auto"
    length: int | None = None
    start_price: float | None = None
    start: int | str | None = None
    drift: str | float = "keep"
    garch: GarchOptions = field(default_factory=GarchOptions)
    regime: RegimeOptions = field(default_factory=RegimeOptions)
    timeframes: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE
    n_replicates: int = DEFAULT_REPLICATES


#: The settings' names, as the Python API takes them as keyword arguments.
SETTING_NAMES = tuple(f.name for f in fields(GenerationSettings))
