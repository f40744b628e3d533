"""Regime labelling and regime-conditioned block sampling.

Labelling (once per input) gives each component row a regime, numbered from the calmest (0) to
the most volatile (``n_regimes - 1``):

``markov``
    A Markov-switching model with regime-dependent mean and variance
    (``statsmodels.tsa.regime_switching.MarkovRegression``, ``switching_variance=True``). Its
    smoothed probabilities are averaged over a centred window of ``smooth`` bars (the input's
    dependence length, see :mod:`pipeline.core.blocks`) and each row takes its most likely
    regime under the averaged probabilities; the per-bar transition matrix is counted from these
    labels. Why average: on hourly bars and on short daily histories the fitted chain switches
    every 3-15 bars (intraday activity, single bursts), far faster than the volatility eras the
    fidelity score checks; regime stretches that short, each filled from anywhere in the history,
    tore ``vol_persistence`` apart (0.69 in the original, 0.12 in the scenarios of an hourly
    Bitcoin series; no candidate reached 90). Regimes at the dependence length keep the eras.
``quantile``
    The trailing ``window``-bar realized volatility is cut at its quantiles into equally
    populated regimes; the transition matrix is counted from the labels.

Sampling follows a regime path simulated from a transition matrix: each regime lasts a
geometric number of bars (mean ``1 / (1 - P_kk)``) and hands over to the others in proportion
to ``P``'s off-diagonal. Each stretch of the path is filled with stationary-bootstrap blocks
drawn only from the input's rows of that regime (the regime's rows in their original order
form a pool; a block follows on within the pool, wrapping around).

Conditioning rewrites the transition matrix, not the data: ``share`` sets the long-run share of
a target regime and ``duration_factor`` lengthens (or shortens) its stays, keeping where each
regime hands over to. Every conditioned path is still made of the input's own bars.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.core.generators import BlockJoins
from pipeline.errors import ConfigError, InputDataError

__all__ = [
    "REGIME_LABELLINGS",
    "RegimeModel",
    "label_regimes",
    "condition_transition",
    "stationary_distribution",
    "sample_regime_indices",
    "run_lengths",
]

REGIME_LABELLINGS = ("markov", "quantile")
#: Longest mean stay a transition matrix may ask for; keeps geometric draws well defined.
_MAX_STAY = 1e6


@dataclass(frozen=True, eq=False)
class RegimeModel:
    """The input's regimes.

    Attributes
    ----------
    labels : ndarray of int8, shape (n_rows,)
        Regime of each component row, 0 = calmest.
    transition : ndarray, shape (k, k)
        Fitted per-bar transition matrix, rows sum to 1 (``P[i, j] = P(next = j | now = i)``).
    labelling : str
        ``markov`` or ``quantile``.
    volatility : ndarray, shape (k,)
        Standard deviation of the log-returns of each regime's rows.
    """

    labels: np.ndarray
    transition: np.ndarray
    labelling: str
    volatility: np.ndarray

    @property
    def n_regimes(self) -> int:
        return self.transition.shape[0]

    @property
    def shares(self) -> np.ndarray:
        """Share of the input's rows in each regime."""
        return np.bincount(self.labels, minlength=self.n_regimes) / self.labels.size

    @property
    def mean_stay(self) -> np.ndarray:
        """Mean stay in each regime, in bars, implied by the transition matrix."""
        return 1.0 / np.maximum(1.0 - np.diag(self.transition), 1.0 / _MAX_STAY)

    def __repr__(self) -> str:
        return (f"RegimeModel(labelling={self.labelling!r}, n_regimes={self.n_regimes}, "
                f"shares={np.round(self.shares, 3).tolist()}, "
                f"mean_stay={np.round(self.mean_stay, 1).tolist()})")


def _count_transitions(labels: np.ndarray, k: int) -> np.ndarray:
    counts = np.zeros((k, k))
    np.add.at(counts, (labels[:-1], labels[1:]), 1.0)
    counts += 1e-9  # a regime never left (or never entered) still gets a valid row
    return counts / counts.sum(axis=1, keepdims=True)


def _smoothed_labels(probs: np.ndarray, smooth: int) -> np.ndarray:
    """Most likely regime per row under probabilities averaged over ``smooth`` bars.

    The window is halved until every regime keeps at least ten rows (a short burst regime can
    vanish under a long average).
    """
    k = probs.shape[1]
    w = max(1, smooth)
    while True:
        if w > 1:
            kernel = np.ones(w) / w
            avg = np.column_stack([np.convolve(probs[:, j], kernel, mode="same")
                                   for j in range(k)])
        else:
            avg = probs
        raw = np.argmax(avg, axis=1)
        if w == 1 or np.bincount(raw, minlength=k).min() >= 10:
            return raw
        w //= 2


def label_regimes(
    log_returns: np.ndarray, labelling: str = "markov", n_regimes: int = 2, window: int = 21,
    smooth: int = 1,
) -> RegimeModel:
    """Label each return's regime and estimate the per-bar transition matrix.

    Parameters
    ----------
    log_returns : ndarray, shape (n,)
    labelling : {"markov", "quantile"}
    n_regimes : int
        2 to 4.
    window : int
        Trailing window of the realized volatility (``quantile`` only).
    smooth : int
        Bars over which the Markov model's smoothed probabilities are averaged (``markov``
        only; 1 keeps the bar-by-bar labels). Halved until every regime keeps at least
        ten rows.

    Raises
    ------
    ConfigError
        Unknown labelling or a number of regimes out of range.
    InputDataError
        The Markov-switching fit failed, or a regime got fewer rows than one mean block needs.
    """
    if labelling not in REGIME_LABELLINGS:
        raise ConfigError(f"generation.regime.labels: unknown labelling {labelling!r}; allowed: "
                          f"{', '.join(REGIME_LABELLINGS)}")
    if not 2 <= int(n_regimes) <= 4:
        raise ConfigError(f"generation.regime.n_regimes: expected 2 to 4, got {n_regimes}")
    r = np.asarray(log_returns, dtype=float)
    k = int(n_regimes)
    if labelling == "markov":
        from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the result is checked below
            try:
                res = MarkovRegression(r * 100.0, k_regimes=k, switching_variance=True).fit(
                    disp=False)
            except (ValueError, np.linalg.LinAlgError) as exc:
                raise InputDataError(f"regime labelling (markov, {k} regimes) failed: {exc}; "
                                     "try generation.regime.labels: quantile") from None
        probs = np.asarray(res.smoothed_marginal_probabilities)
        # statsmodels' matrix is column-stochastic: [i, j] = P(s_t = i | s_{t-1} = j).
        trans = np.asarray(res.regime_transition)[:, :, 0].T
        if not (np.all(np.isfinite(probs)) and np.all(np.isfinite(trans))):
            raise InputDataError("regime labelling (markov) did not converge; try "
                                 "generation.regime.labels: quantile")
        raw = _smoothed_labels(probs, int(smooth))
        if int(smooth) > 1:
            trans = None  # counted from the averaged labels below
    else:
        window = int(window)
        if not 2 <= window <= r.size // 4:
            raise ConfigError(f"generation.regime.window: expected 2 to {r.size // 4} bars, "
                              f"got {window}")
        sq = np.concatenate([[0.0], np.cumsum(r * r)])
        t = np.arange(r.size)
        lo = np.maximum(t + 1 - window, 0)
        realized = np.sqrt((sq[t + 1] - sq[lo]) / (t + 1 - lo))
        edges = np.quantile(realized, np.arange(1, k) / k)
        raw = np.searchsorted(edges, realized, side="right")
        trans = None
    # Order regimes from calm to volatile by the returns' spread within each.
    vol = np.array([r[raw == j].std() if np.any(raw == j) else np.inf for j in range(k)])
    order = np.argsort(vol, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    labels = rank[raw].astype(np.int8)
    if trans is None:
        trans = _count_transitions(labels, k)
    else:
        trans = trans[np.ix_(order, order)]
        trans = trans / trans.sum(axis=1, keepdims=True)
    counts = np.bincount(labels, minlength=k)
    if counts.min() < 10:
        raise InputDataError(
            f"regime labelling ({labelling}, {k} regimes) left a regime with {counts.min()} "
            "rows; use fewer regimes (generation.regime.n_regimes) or a longer input")
    return RegimeModel(labels=labels, transition=trans, labelling=labelling,
                       volatility=vol[order])


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """Long-run share of each regime under a row-stochastic transition matrix."""
    k = transition.shape[0]
    a = np.vstack([transition.T - np.eye(k), np.ones(k)])
    b = np.zeros(k + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _resolve_target(condition: str | int, k: int) -> int:
    if condition == "high_volatility":
        return k - 1
    if condition == "low_volatility":
        return 0
    if isinstance(condition, int | np.integer) and not isinstance(condition, bool) \
            and 0 <= condition < k:
        return int(condition)
    raise ConfigError(f"generation.regime.condition: expected high_volatility, low_volatility "
                      f"or a regime number 0..{k - 1}, got {condition!r}")


def condition_transition(
    transition: np.ndarray,
    condition: str | int,
    *,
    share: float | None = None,
    duration_factor: float = 1.0,
) -> np.ndarray:
    """A transition matrix that favours a target regime.

    Parameters
    ----------
    transition : ndarray, shape (k, k)
        Fitted per-bar matrix.
    condition : "high_volatility", "low_volatility" or int
        Target regime.
    share : float, optional
        Long-run share of the target regime, in (0, 1). The other regimes keep their relative
        shares.
    duration_factor : float
        Multiplies the target regime's mean stay (2.0: crises last twice as long).

    Returns
    -------
    ndarray, shape (k, k)

    Notes
    -----
    A regime's mean stay is ``d_j = 1 / (1 - P_jj)`` and it hands over to ``j' != j`` with
    probability ``Q_jj' = P_jj' / (1 - P_jj)``; the long-run shares are ``pi_j ~ mu_j d_j`` with
    ``mu`` the stationary distribution of ``Q``. Keeping ``Q``, the stays that give the asked
    shares are ``d_j ~ pi'_j / mu_j``, scaled so the target's stay is its fitted stay times
    ``duration_factor`` (scaled up further if any stay would fall below one bar).
    """
    p = np.asarray(transition, dtype=float)
    k = p.shape[0]
    target = _resolve_target(condition, k)
    if share is not None and not 0.0 < share < 1.0:
        raise ConfigError(f"generation.regime.share: expected a number in (0, 1), got {share}")
    if not (np.isfinite(duration_factor) and duration_factor > 0):
        raise ConfigError(f"generation.regime.duration_factor: expected a positive number, got "
                          f"{duration_factor}")
    stay = np.minimum(np.diag(p), 1.0 - 1.0 / _MAX_STAY)
    d = 1.0 / (1.0 - stay)
    q = p / (1.0 - stay)[:, None]
    np.fill_diagonal(q, 0.0)
    q = q / np.maximum(q.sum(axis=1, keepdims=True), 1e-300)
    if share is None:
        d_new = d.copy()
        d_new[target] = d[target] * duration_factor
    else:
        pi = stationary_distribution(p)
        others = np.delete(np.arange(k), target)
        pi_new = np.empty(k)
        pi_new[target] = share
        rest = pi[others].sum()
        pi_new[others] = (1.0 - share) * (pi[others] / rest if rest > 0 else 1.0 / (k - 1))
        mu = stationary_distribution(q) if k > 2 else np.full(k, 0.5)
        ratio = pi_new / np.maximum(mu, 1e-12)
        d_new = ratio * (d[target] * duration_factor / ratio[target])
        if d_new.min() < 1.0:
            d_new = d_new / d_new.min()
    d_new = np.clip(d_new, 1.0, _MAX_STAY)
    stay_new = 1.0 - 1.0 / d_new
    out = q * (1.0 - stay_new)[:, None]
    out[np.diag_indices(k)] = stay_new
    return out / out.sum(axis=1, keepdims=True)


def _regime_path(rng: np.random.Generator, transition: np.ndarray, start: np.ndarray,
                 length: int) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encoded regime path: (regimes, run lengths) covering ``length`` bars."""
    k = transition.shape[0]
    stay = np.minimum(np.diag(transition), 1.0 - 1.0 / _MAX_STAY)
    hand_over = transition.copy()
    np.fill_diagonal(hand_over, 0.0)
    hand_over /= np.maximum(hand_over.sum(axis=1, keepdims=True), 1e-300)
    cum = np.cumsum(hand_over, axis=1)
    regimes, lengths = [], []
    state = int(np.searchsorted(np.cumsum(start), rng.random() * start.sum(), side="right"))
    state = min(state, k - 1)
    total = 0
    while total < length:
        stay_len = int(rng.geometric(1.0 - stay[state]))
        regimes.append(state)
        lengths.append(stay_len)
        total += stay_len
        state = min(int(np.searchsorted(cum[state], rng.random(), side="right")), k - 1)
    lengths[-1] -= total - length
    return np.asarray(regimes, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def sample_regime_indices(
    labels: np.ndarray,
    transition: np.ndarray,
    length: int,
    block_size: int,
    rngs: Sequence[np.random.Generator],
    joins: BlockJoins | None = None,
    start_regime: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw regime paths and fill each stretch with blocks of that regime's rows.

    Parameters
    ----------
    labels : ndarray of int, shape (n_rows,)
        Regime of each component row.
    transition : ndarray, shape (k, k)
        Per-bar transition matrix the paths follow (fitted or conditioned).
    length : int
        Bars per candidate.
    block_size : int
        Mean block length within a regime's pool.
    rngs : sequence of numpy.random.Generator
        One per candidate.
    joins : BlockJoins, optional
        Match a new block's start to the volatility where the previous one ended (see
        :mod:`pipeline.core.generators` and :func:`_joined_starts`), among the rows of the same
        regime in the order of its pool; a regime change starts after a row of the new regime
        whose volatility matches where the old one ended. None starts every segment at random.
        With an :attr:`~pipeline.core.generators.BlockJoins.origin` the first segment starts
        after a row of its regime that matches the origin's state.
    start_regime : int, optional
        The regime every path starts in (the regime in force at the bar scenarios continue
        from); None draws it from the transition matrix's stationary distribution.

    Returns
    -------
    indices : ndarray of int64, shape (batch, length)
    regimes : ndarray of int8, shape (batch, length)
        The regime path of each candidate.
    """
    k = transition.shape[0]
    pools = [np.flatnonzero(labels == j) for j in range(k)]
    sizes = np.array([p.size for p in pools])
    flat = np.concatenate(pools)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # A path's first regime is drawn from this distribution: the long-run shares, or all
    # weight on the regime in force where the scenarios continue the history.
    start_dist = (stationary_distribution(transition) if start_regime is None
                  else np.eye(k)[int(start_regime)])
    pool_joins = None if joins is None else [joins.within(pool) for pool in pools]
    first_slot = None
    if joins is not None and joins.phase is not None and joins.first_rows is not None:
        first_slot = int(joins.phase[joins.first_rows[0]])
    p = 1.0 / max(1, int(block_size))
    batch = len(rngs)
    out = np.empty((batch, length), dtype=np.int64)
    path_out = np.empty((batch, length), dtype=np.int8)
    positions = np.arange(length)
    for i, rng in enumerate(rngs):
        run_regime, run_len = _regime_path(rng, transition, start_dist, length)
        run_ends = np.cumsum(run_len)
        # Block boundaries: geometric lengths as in the stationary bootstrap, plus every
        # regime change (a block never crosses into another regime).
        blocks = rng.geometric(p, size=length // max(1, int(block_size)) + 8)
        while blocks.sum() < length:
            blocks = np.concatenate([blocks, rng.geometric(p, size=blocks.size)])
        block_ends = np.cumsum(blocks)
        cuts = np.union1d(run_ends[:-1], block_ends[block_ends < length])
        seg_start = np.concatenate([[0], cuts])
        seg_len = np.diff(np.concatenate([seg_start, [length]]))
        seg_regime = run_regime[np.searchsorted(run_ends, seg_start, side="right")]
        start_in_pool = (rng.random(seg_start.size) * sizes[seg_regime]).astype(np.int64)
        if pool_joins is not None:
            draws = rng.random(seg_start.size)
            new_block = np.isin(seg_start, block_ends)
            start_in_pool = _joined_starts(pool_joins, sizes, seg_regime, seg_len,
                                           start_in_pool, new_block, draws, first_slot,
                                           joins.origin)
        per_bar_regime = np.repeat(seg_regime, seg_len)
        offset_in_seg = positions - np.repeat(seg_start, seg_len)
        pos = (np.repeat(start_in_pool, seg_len) + offset_in_seg) % sizes[per_bar_regime]
        out[i] = flat[offsets[per_bar_regime] + pos]
        path_out[i] = per_bar_regime
    return out, path_out


def _joined_starts(pool_joins: list[BlockJoins], sizes: np.ndarray, seg_regime: np.ndarray,
                   seg_len: np.ndarray, start_in_pool: np.ndarray, new_block: np.ndarray,
                   draws: np.ndarray, first_slot: int | None,
                   origin: tuple[float, int | None] | None = None) -> np.ndarray:
    """Start of each segment in its pool.

    A new block inside a regime's stretch starts after a row of that regime whose recent
    volatility matches where the previous block ended; so does a regime change, among the new
    regime's rows (see the comment below). For intraday bars both keep the slot of the day,
    and the first segment starts at its first timestamp's slot, or, for scenarios that
    continue the history (``origin``: its state and slot), after a row of its regime that
    matches the origin's state.
    """
    out = start_in_pool.tolist()
    prev_regime, prev_end = -1, 0
    for s, (j, size, fresh, u) in enumerate(zip(
            seg_regime.tolist(), seg_len.tolist(), new_block.tolist(), draws.tolist(),
            strict=True)):
        joins = pool_joins[j]
        if fresh and j == prev_regime:
            out[s] = joins.neighbour(prev_end, u)
        elif prev_regime >= 0:
            # A regime change starts after a row of the new regime whose recent volatility
            # matches where the old one ended: the first bars of one of its eras, where the
            # trailing window still holds the calm (or the storm) before. Slots carry on.
            before = pool_joins[prev_regime]
            slot = None if before.phase is None else (
                (int(before.phase[prev_end]) + 1) % (int(joins.phase.max()) + 1))
            out[s] = joins.near_state(float(before.state[prev_end]), slot, u)
        elif origin is not None:
            # The origin is the input's last row, the last of its regime's pool.
            out[s] = joins.near_state(origin[0], origin[1], u, skip_last=True)
        elif joins.phase is not None and first_slot is not None:
            row = joins.in_slot(first_slot, u)
            out[s] = out[s] if row is None else row
        prev_regime, prev_end = j, (out[s] + size - 1) % int(sizes[j])
    return np.asarray(out, dtype=np.int64)


def run_lengths(path: np.ndarray) -> list[list[int]]:
    """A regime path as ``[[regime, bars], ...]`` runs (how the manifest records it)."""
    path = np.asarray(path)
    if path.size == 0:
        return []
    change = np.flatnonzero(np.diff(path)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [path.size]])
    return [[int(path[s]), int(e - s)] for s, e in zip(starts, ends, strict=True)]
