"""Automatic block size for the block bootstraps.

``block_size: auto`` is chosen in two steps, both recorded with the model (:class:`BlockChoice`):

1. **The dependence length** (:func:`dependence_block_length`): the Politis–White (2004) rule
   with the Patton–Politis–White (2009) correction, the estimator of
   :func:`arch.bootstrap.optimal_block_length` (the reference the tests compare against), applied
   to the close log-returns ``r`` *and* their absolute values ``|r|``; the longer estimate wins,
   clamped to ``[MIN_AUTO_BLOCK, min(3 sqrt(n), n / 10)]``.

   Why ``|r|``: daily returns are nearly uncorrelated, so the rule on ``r`` alone picks blocks of
   1-16 bars, which cut the volatility clusters the fidelity score checks (``vol_clustering``,
   ``vol_persistence``, ``arch_lm_p``, ``hurst``). Their dependence lives in the size of the moves.
   Squared returns, used before, carry it too but are fragile under heavy tails: a handful of
   crash days dominate their autocorrelations, and on a 2,148-bar daily stock the rule on ``r**2``
   gave 8 bars where ``|r|`` gives 85 (and ``vol_persistence`` of the scenarios fell from the
   original's 0.52 to -0.14). ``|r|`` needs only finite variance of the returns, not a finite
   fourth moment. The upper clamp keeps at least ten blocks per series of the input's length,
   so that scenarios are recombinations rather than rotations of the history.

   This length is also the yardstick's: the fidelity scorer measures each metric's sampling
   spread on stationary-bootstrap replicates with this mean block, whatever the method, so the
   choice in step 2 cannot move the yardstick it is judged by.

2. **A pilot** (:func:`choose_block_size`): candidates of the chosen method at a few block
   lengths up to the dependence length (:data:`PILOT_FRACTIONS` of it) are scored by that fixed
   scorer, and the shortest length whose median fidelity is within :data:`PILOT_TOLERANCE`
   points of the best, and whose candidates keep ``vol_clustering`` and ``vol_persistence``
   within :data:`PILOT_DEPENDENCE_ERROR` sampling spreads of the original's in median, is kept
   (for ``garch`` also copying at most :data:`PILOT_MAX_COPIED` of history verbatim). Longer
   blocks copy longer stretches of the history verbatim, so a length that buys less than a point
   of fidelity is not worth it, unless the shorter one tears the volatility clusters apart (the
   fidelity charges a one-spread miss of ``vol_clustering`` less than a point). The pilot draws
   from a fixed random stream (:data:`PILOT_SEED`), so one input and one method always get the
   same block size, whatever the run's seed.

A fixed ``block_size`` (an integer) skips both steps for generation; the scorer's yardstick is
still the dependence length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import ConfigError

__all__ = [
    "MIN_AUTO_BLOCK",
    "PILOT_CANDIDATES",
    "PILOT_FRACTIONS",
    "PILOT_TOLERANCE",
    "PILOT_DEPENDENCE_ERROR",
    "PILOT_MAX_COPIED",
    "PilotResult",
    "copied_share",
    "PILOT_SEED",
    "BlockChoice",
    "politis_white_block_length",
    "dependence_block_length",
    "pilot_grid",
    "choose_block_size",
    "fixed_block_choice",
    "check_block_size",
]

MIN_AUTO_BLOCK = 5
#: Candidates the pilot scores at each block length (from a fixed random stream).
PILOT_CANDIDATES = 24
#: Block lengths the pilot tries, as fractions of the dependence length.
PILOT_FRACTIONS = (0.25, 0.5, 1.0)
#: Fidelity points a shorter block may give up against the best pilot length.
PILOT_TOLERANCE = 1.0
#: Spreads by which a shorter pilot length may miss the original's volatility dependence in median:
#: one spread less two standard errors of the pilot's median (about 0.25 spread each with 24
#: candidates), so that what the pilot lets through holds for the run's scenarios too.
PILOT_DEPENDENCE_ERROR = 0.5
#: Most of a ``garch`` candidate's bars (median over the pilot) that may lie in stretches of
#: 20+ returns equal to the input's own: its purpose is new volatility paths, and a residual
#: block longer than the filter's memory lets the filtered path rejoin the original's exactly.
PILOT_MAX_COPIED = 0.05
#: Root of the pilot's random streams: fixed, so one input and method always get the same block
#: size whatever the run's seed (the preflight continues the same stream).
PILOT_SEED = 0xB10C_5EED


def politis_white_block_length(x: np.ndarray) -> tuple[float, float]:
    """Optimal block length for the stationary and the circular bootstrap.

    Parameters
    ----------
    x : ndarray
        One-dimensional series.

    Returns
    -------
    stationary : float
        Optimal expected block length of the stationary bootstrap (NaN for a constant ``x``).
    circular : float
        Optimal block length of the circular (and moving) block bootstrap (NaN likewise).

    Notes
    -----
    The tuning parameter ``m`` is the first lag after which ``k_n = max(5, log10(n))`` consecutive
    autocorrelations lie inside ``±2 sqrt(log10(n)/n)``; the flat-top lag window then gives

    .. math:: b = \\left(\\frac{2 g^2}{d} n\\right)^{1/3}

    with ``d = 2 sigma^4`` (stationary) or ``4/3 sigma^4`` (circular). Both are capped at
    ``min(3 sqrt(n), n/3)``.

    References
    ----------
    .. [1] Politis, D. N. & White, H. (2004). Automatic Block-Length Selection for the Dependent
       Bootstrap. Econometric Reviews, 23(1), 53-70.
    .. [2] Patton, A., Politis, D. N. & White, H. (2009). Correction to "Automatic Block-Length
       Selection for the Dependent Bootstrap". Econometric Reviews, 28(4), 372-375.
    """
    x = np.asarray(x, dtype=float)
    nobs = x.shape[0]
    eps = x - x.mean()
    b_max = math.ceil(min(3 * math.sqrt(nobs), nobs / 3))
    kn = max(5, int(math.log10(nobs)))
    m_max = int(math.ceil(math.sqrt(nobs))) + kn
    cv = 2 * math.sqrt(math.log10(nobs) / nobs)

    lags = np.arange(m_max + 1)
    cross = np.array([eps[i:] @ eps[: nobs - i] for i in lags])
    acv = cross / nobs
    # Autocorrelation normalised by the two overlapping segments, as in the reference.
    sq = np.concatenate([[0.0], np.cumsum(eps**2)])
    v1 = sq[-1] - sq[lags + 1]  # sum of eps[i+1:]**2
    v2 = sq[nobs - lags - 1]  # sum of eps[:-(i+1)]**2
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_acorr = np.abs(cross) / np.sqrt(v1 * v2)

    opt_m = None
    for i in range(kn, m_max + 1):
        if np.all(abs_acorr[i - kn : i] < cv):
            opt_m = i - kn
            break
    m = 2 * max(opt_m, 1) if opt_m is not None else m_max
    m = min(m, m_max)

    k = np.arange(1, m + 1)
    lam = np.where(k / m <= 0.5, 1.0, 2 * (1 - k / m))
    g = float(np.sum(2 * lam * k * acv[1 : m + 1]))
    lr_acv = float(acv[0] + np.sum(2 * lam * acv[1 : m + 1]))
    if lr_acv == 0:
        # A constant series (squared returns of a flat or evenly alternating price) has no
        # dependence to measure; callers treat NaN as "no estimate".
        return math.nan, math.nan
    b_sb = ((2 * g**2) / (2 * lr_acv**2)) ** (1 / 3) * nobs ** (1 / 3)
    b_cb = ((2 * g**2) / (4 / 3 * lr_acv**2)) ** (1 / 3) * nobs ** (1 / 3)
    return min(b_sb, b_max), min(b_cb, b_max)


def dependence_block_length(log_returns: np.ndarray, method: str = "stationary") -> int:
    """The length over which the input's returns and their sizes stay dependent, in bars.

    Parameters
    ----------
    log_returns : ndarray
        Close log-returns of the input.
    method : {"stationary", "circular", "moving", "iid", "garch", "regime"}
        Fixed-length blocks (``circular``, ``moving``) take the circular-bootstrap estimate, the
        others the stationary one; ``iid`` always gets 1.

    Returns
    -------
    int
        The longer of Politis–White on ``r`` and on ``|r|``, rounded and clamped to
        ``[MIN_AUTO_BLOCK, min(3 sqrt(n), n / 10)]`` (see the module notes).
    """
    if method == "iid":
        return 1
    r = np.asarray(log_returns, dtype=float)
    which = 1 if method in ("circular", "moving") else 0
    raw = max(politis_white_block_length(r)[which], politis_white_block_length(np.abs(r))[which])
    n = r.shape[0]
    upper = max(MIN_AUTO_BLOCK, int(min(3 * math.sqrt(n), n / 10)))
    if not np.isfinite(raw):
        return upper
    return int(min(max(round(raw), MIN_AUTO_BLOCK), upper))


def pilot_grid(reference: int) -> tuple[int, ...]:
    """Block lengths the pilot tries: :data:`PILOT_FRACTIONS` of ``reference``, at least 5."""
    return tuple(sorted({max(MIN_AUTO_BLOCK, min(reference, int(round(f * reference))))
                         for f in PILOT_FRACTIONS}))


@dataclass(frozen=True)
class BlockChoice:
    """How a model's block size was chosen, and the pilot's evidence.

    Attributes
    ----------
    block_size : int
        The (mean) block length generation uses.
    reference : int
        The dependence length (:func:`dependence_block_length`); the scorer's yardstick uses it.
    mode : {"auto", "fixed", "iid"}
        ``auto``: chosen by the pilot; ``fixed``: set by the user; ``iid``: single rows.
    grid : tuple of int
        Block lengths the pilot scored.
    medians : tuple of float
        Median pilot fidelity at each length of ``grid``.
    dependence_errors : tuple of float
        The pilot candidates' volatility-dependence error at each length of ``grid``.
    pilot_scores : tuple of float
        Fidelity of each pilot candidate at ``block_size`` (the preflight's sample).
    reason : str
        One sentence for people: why this length.
    seconds_per_candidate : float, optional
        Wall time of one pilot candidate where it was measured (an estimate for the preflight;
        not part of :meth:`to_dict`, which must be reproducible).
    """

    block_size: int
    reference: int
    mode: str
    grid: tuple[int, ...] = ()
    medians: tuple[float, ...] = ()
    dependence_errors: tuple[float, ...] = ()
    pilot_scores: tuple[float, ...] = field(default=(), repr=False)
    reason: str = ""
    seconds_per_candidate: float | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """A JSON-ready summary (the manifest's ``model.block_choice``)."""
        return {
            "block_size": self.block_size,
            "reference": self.reference,
            "mode": self.mode,
            "grid": list(self.grid),
            "median_fidelity": [round(m, 4) for m in self.medians],
            "dependence_error": [round(e, 4) for e in self.dependence_errors],
            "pilot_candidates": len(self.pilot_scores),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PilotResult:
    """The pilot's candidates at one block length.

    ``scores``: their fidelity; ``dependence_error``: the larger of ``|median - original| /
    spread`` of ``vol_clustering`` and ``vol_persistence``; ``copied``: median share of bars in
    stretches copied verbatim from the input (None when not measured).
    """

    scores: np.ndarray
    dependence_error: float
    copied: float | None = None


def copied_share(returns: np.ndarray, original: np.ndarray, indices: np.ndarray, *,
                 min_run: int = 20, atol: float = 1e-11) -> np.ndarray:
    """Share of each candidate's bars inside stretches copied verbatim from the input.

    A bar is copied when its return equals (within ``atol``) the return of the input row it
    was built from and that row follows the previous bar's row; stretches of ``min_run`` or
    more such bars count. Knowing the source rows, this is exact and cheap (the report's
    :func:`pipeline.evaluation.verbatim_share` finds copies without them).

    Parameters
    ----------
    returns : ndarray, shape (batch, length)
    original : ndarray, shape (n_rows,)
        The input's returns by component row.
    indices : ndarray of int, shape (batch, length)
        The row each bar was built from.
    """
    same = np.abs(returns - np.take(original, indices)) <= atol
    follows = np.zeros_like(same)
    follows[:, 1:] = np.diff(indices, axis=1) == 1
    # A stretch starts at a copied bar whose predecessor is not a copy of the row before.
    starts = same.copy()
    starts[:, 1:] &= ~(follows[:, 1:] & same[:, :-1])
    out = np.empty(returns.shape[0])
    for i in range(returns.shape[0]):
        run = np.cumsum(starts[i])[same[i]]
        lengths = np.bincount(run)
        out[i] = lengths[lengths >= min_run].sum() / returns.shape[1]
    return out


def choose_block_size(
    score_at: Callable[[int], PilotResult],
    reference: int,
    *,
    tolerance: float = PILOT_TOLERANCE,
    max_dependence_error: float = PILOT_DEPENDENCE_ERROR,
    max_copied: float = PILOT_MAX_COPIED,
) -> BlockChoice:
    """Pick the shortest pilot length within ``tolerance`` points of the best that keeps the
    volatility dependence (and, where measured, copies little history verbatim).

    Parameters
    ----------
    score_at : callable
        ``score_at(block_size)`` returns the :class:`PilotResult` of the pilot candidates
        generated with that block size (the same candidates' random streams at every length,
        so lengths are compared on common random numbers).
    reference : int
        The dependence length; the grid is :func:`pilot_grid` of it.
    tolerance : float
        Fidelity points a shorter length may give up.
    max_dependence_error : float
        A shorter length must also keep the volatility dependence within this many spreads:
        the fidelity gives a one-spread miss of ``vol_clustering`` less than a point, so the
        tolerance alone would trade it away.
    max_copied : float
        Where the pilot measures copied history (``garch``), a length whose candidates copy more
        than this share of their bars does not qualify (the filtered path rejoins the
        original's inside a long block of residuals).

    Returns
    -------
    BlockChoice
        When no length qualifies: of those within ``tolerance`` of the best (and
        ``max_copied``), the one with the smallest volatility-dependence error; the reason says
        so.
    """
    grid = pilot_grid(reference)
    results = [score_at(b) for b in grid]
    medians = tuple(float(np.median(r.scores)) for r in results)
    errors = tuple(float(r.dependence_error) for r in results)
    fresh = [r.copied is None or r.copied <= max_copied for r in results]
    best = max(medians)
    ok = [i for i, m in enumerate(medians)
          if m >= best - tolerance and errors[i] <= max_dependence_error and fresh[i]]
    if ok:
        pick = ok[0]
        why = (f"{grid[pick]} is the shortest within {tolerance:g} point of the best that keeps "
               f"the volatility dependence within {max_dependence_error:g} spread")
    else:
        # No length qualifies: the one that comes closest to the volatility dependence among
        # those within the tolerance (and, where measured, the copy limit).
        allowed = [i for i in range(len(grid)) if fresh[i]] or list(range(len(grid)))
        close = [i for i in allowed if medians[i] >= best - tolerance] or allowed
        pick = min(close, key=lambda i: (errors[i], -medians[i]))
        why = (f"{grid[pick]} comes closest to the volatility dependence (no length kept it "
               f"within {max_dependence_error:g} spread within {tolerance:g} point of the best)")
    copied = [r.copied for r in results]
    if any(c is not None for c in copied):
        why += ("; copied history " + " / ".join(f"{100 * (c or 0):.0f} %" for c in copied)
                + f", at most {100 * max_copied:g} % allowed")
    reason = (f"dependence length {reference} bars (Politis-White on |r| and r); pilot median "
              f"fidelity {' / '.join(f'{m:.1f}' for m in medians)} and volatility-dependence "
              f"error {' / '.join(f'{e:.1f}' for e in errors)} spreads at "
              f"{' / '.join(map(str, grid))} bars; {why}")
    return BlockChoice(block_size=grid[pick], reference=reference, mode="auto", grid=grid,
                       medians=medians, pilot_scores=tuple(results[pick].scores.tolist()),
                       reason=reason, dependence_errors=errors)


def fixed_block_choice(block_size: int, reference: int, method: str,
                       pilot_scores: np.ndarray) -> BlockChoice:
    """The :class:`BlockChoice` of a block size set by the user (or of ``iid``)."""
    scores = tuple(np.asarray(pilot_scores, dtype=float).tolist())
    median = float(np.median(scores)) if scores else float("nan")
    if method == "iid":
        reason = "iid resampling draws single bars"
        mode = "iid"
    else:
        reason = (f"fixed by the configuration (block_size: {block_size}); the input's "
                  f"dependence length is {reference} bars")
        mode = "fixed"
    return BlockChoice(block_size=block_size, reference=reference, mode=mode,
                       grid=(block_size,), medians=(median,), pilot_scores=scores,
                       reason=reason)


def check_block_size(block_size: int | str, n_returns: int) -> int | None:
    """Validate a configured ``block_size``: None for ``"auto"``, else the integer.

    Raises
    ------
    ConfigError
        If ``block_size`` is neither ``"auto"`` nor an int in ``[1, n_returns]``.
    """
    if isinstance(block_size, str):
        if block_size.strip().lower() == "auto":
            return None
        raise ConfigError(f"block_size: expected 'auto' or a positive integer, got {block_size!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
        raise ConfigError(f"block_size: expected 'auto' or a positive integer, got {block_size!r}")
    if not 1 <= int(block_size) <= n_returns:
        raise ConfigError(
            f"block_size: {block_size} is out of range; it must be between 1 and the number of "
            f"returns in the input ({n_returns})"
        )
    return int(block_size)
