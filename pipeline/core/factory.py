"""``SyntheticDataFactory``: the Python API of the engine, and ``fit_model`` it is built on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.core.blocks import auto_block_size, resolve_block_size
from pipeline.core.generators import METHODS, sample_indices
from pipeline.core.metrics import compute_metrics_batch
from pipeline.core.preprocessing import output_index, preprocess
from pipeline.core.reconstruction import reconstruct
from pipeline.core.sampler import DEFAULT_BATCH_SIZE, GenerationModel, search_attempts
from pipeline.core.scoring import DEFAULT_TOLERANCE, FidelityScorer
from pipeline.errors import ConfigError, FidelityNotReachedError, InputDataError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_REPLICATES",
    "SyntheticDataFactory",
    "SyntheticSeries",
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


def fit_model(
    frame: pd.DataFrame,
    *,
    method: str = "stationary",
    block_size: int | str = "auto",
    length: int | None = None,
    start_price: float | None = None,
    weights: Mapping[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    n_replicates: int = DEFAULT_REPLICATES,
) -> GenerationModel:
    """Preprocess a validated OHLCV frame and fit the fidelity scorer.

    Parameters
    ----------
    frame : pandas.DataFrame
        Validated OHLCV input (see :func:`pipeline.load_ohlcv`).
    method : {"stationary", "circular", "moving", "iid"}
    block_size : "auto" or int
        ``"auto"``: see :mod:`pipeline.core.blocks`.
    length : int, optional
        Bars per synthetic series; default the input's length.
    start_price : float, optional
        Close before the first synthetic bar; default the input's first close.
    weights : mapping, optional
        Overrides of :data:`pipeline.core.scoring.DEFAULT_WEIGHTS`.
    tolerance : float
        ``tau`` of the similarity map.
    n_replicates : int
        Bootstrap replicates of the original that measure the metrics' spreads.

    Returns
    -------
    GenerationModel

    Notes
    -----
    The spreads come from stationary-bootstrap replicates with the automatic block size whatever
    ``method`` is, so every method is scored by the same yardstick.
    """
    if method not in METHODS:
        raise ConfigError(f"method: unknown method {method!r}; allowed: {', '.join(METHODS)}")
    components = preprocess(frame)
    n_rows = components.values.shape[0]
    length = components.n_bars if length is None else length
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 200:
        raise ConfigError(f"length: expected an integer >= 200 (bars per series), got {length!r}")
    if start_price is None:
        start_price = components.start_price
    if not (isinstance(start_price, int | float) and np.isfinite(start_price) and start_price > 0):
        raise ConfigError(f"start_price: expected a positive number, got {start_price!r}")
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise ConfigError(f"tolerance: expected a positive number, got {tolerance!r}")
    if n_replicates < 20:
        raise ConfigError(f"n_replicates: at least 20 are needed, got {n_replicates}")
    block = resolve_block_size(block_size, components.log_returns, method)

    original = frame_to_array(frame)[None]
    reference = compute_metrics_batch(original, has_volume=components.has_volume)
    spread_block = auto_block_size(components.log_returns, "stationary")
    rngs = [np.random.default_rng([i, _SPREAD_SEED]) for i in range(n_replicates)]
    replicates: dict[str, list[np.ndarray]] = {}
    for lo in range(0, n_replicates, DEFAULT_BATCH_SIZE):
        chunk = rngs[lo : lo + DEFAULT_BATCH_SIZE]
        idx = sample_indices("stationary", n_rows, length, spread_block, chunk)
        ohlcv = reconstruct(components.values, idx, start_price, components.volume_level)
        for k, v in compute_metrics_batch(ohlcv, has_volume=components.has_volume).items():
            replicates.setdefault(k, []).append(v)
    scorer = FidelityScorer.from_replicates(
        {k: float(v[0]) for k, v in reference.items()},
        {k: np.concatenate(v) for k, v in replicates.items()},
        n_obs_reference=components.n_bars - 1,
        n_obs=length - 1,
        weights=weights,
        tolerance=tolerance,
    )
    return GenerationModel(
        components=components,
        method=method,
        block_size=block,
        length=int(length),
        start_price=float(start_price),
        scorer=scorer,
        index=output_index(components.index, int(length)),
    )


class SyntheticSeries(list):
    """Accepted synthetic series: a list of OHLCV DataFrames with their scores.

    Attributes
    ----------
    scores : ndarray
        Fidelity of each series, in percent.
    metrics : pandas.DataFrame
        One row of metrics per series.
    attempts : ndarray
        The attempt at which each scenario was accepted.
    """

    def __init__(self, frames: Sequence[pd.DataFrame], scores, metrics, attempts) -> None:
        super().__init__(frames)
        self.scores = np.asarray(scores, dtype=float)
        self.metrics = metrics
        self.attempts = np.asarray(attempts, dtype=np.int64)

    def __repr__(self) -> str:
        if not len(self):
            return "SyntheticSeries([])"
        return (
            f"SyntheticSeries(n={len(self)}, length={len(self[0])}, fidelity "
            f"min={self.scores.min():.1f} median={np.median(self.scores):.1f} "
            f"max={self.scores.max():.1f})"
        )


class SyntheticDataFactory:
    """Generate synthetic OHLCV series that keep the statistical character of an original.

    Parameters
    ----------
    data : DataFrame, path or URL
        The original OHLCV series; anything :func:`pipeline.load_ohlcv` reads.
    method : {"stationary", "circular", "moving", "iid"}, default "stationary"
        Block-bootstrap method (``iid`` is a baseline without time dependence).
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
    ) -> None:
        from pipeline.io.readers import load_ohlcv

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
        )

    @property
    def reference_metrics(self) -> pd.Series:
        """The original's metrics."""
        return self.model.scorer.reference_metrics.copy()

    @property
    def block_size(self) -> int:
        return self.model.block_size

    @property
    def method(self) -> str:
        return self.model.method

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
        """
        _check_int("n_samples", n_samples, 1)
        _check_int("max_attempts", max_attempts, 1)
        if not (isinstance(min_fidelity, int | float) and 0 <= min_fidelity <= 100):
            raise ConfigError(f"min_fidelity: expected a number in [0, 100], got {min_fidelity!r}")
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
        frames = [self.model.to_frame(acc.ohlcv) for acc in result.accepted]
        metrics = pd.DataFrame([acc.metrics for acc in result.accepted])
        metrics.index = pd.RangeIndex(n_samples, name="scenario")
        return SyntheticSeries(
            frames,
            [acc.score for acc in result.accepted],
            metrics,
            [acc.attempt for acc in result.accepted],
        )

    def score(self, frames) -> float | np.ndarray:
        """Fidelity of one OHLCV frame (a float) or of a list of frames (an array).

        Frames are validated like any input; each is scored at its own length.
        """
        from pipeline.io.readers import load_ohlcv

        single = isinstance(frames, pd.DataFrame)
        out = []
        for frame in [frames] if single else list(frames):
            frame = load_ohlcv(frame)
            arr = frame_to_array(frame)
            if not self.model.components.has_volume:
                arr = arr[:, :4]
            elif arr.shape[1] == 4:
                raise InputDataError("<DataFrame>: the original has Volume; the frame to score "
                                     "has none")
            metrics = compute_metrics_batch(arr[None], has_volume=arr.shape[1] == 5)
            out.append(float(self.model.scorer.score(metrics, n_obs=len(frame) - 1)[0]))
        return out[0] if single else np.asarray(out)

    def explain(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A frame's score metric by metric (value, original, spreads away, similarity, weight)."""
        arr = frame_to_array(frame)
        metrics = compute_metrics_batch(arr[None], has_volume=arr.shape[1] == 5)
        return self.model.scorer.explain(
            {k: float(v[0]) for k, v in metrics.items()}, n_obs=len(frame) - 1
        )

    def __repr__(self) -> str:
        return (
            f"SyntheticDataFactory(rows={len(self.frame)}, method={self.method!r}, "
            f"block_size={self.block_size}, length={self.model.length}, seed={self.seed})"
        )


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _root_seed(seed: int | np.random.Generator | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer or a Generator, got {seed!r}")
    return int(seed)

