"""Block-bootstrap index samplers, batched and reproducible per candidate.

Every sampler returns integer indices of shape ``(batch, length)`` into the component rows; the
rows are then gathered jointly, so each synthetic bar is a whole bar of the original.

Block joins (:class:`BlockJoins`, used by the engine's block methods): a plain block bootstrap
starts each new block at a uniformly random row, so a calm stretch is as likely to follow a
storm as to follow another calm stretch, and the slow ebb and flow of volatility is cut at every
block boundary. On the real-data panel this left the scenarios' ``vol_persistence`` 1-2 sampling
spreads below the original's even at the dependence length. With joins, each block after the
first starts right after a row whose recent volatility (the mean ``|r|`` over the trailing
:data:`JOIN_WINDOW` bars) is close to that at the end of the previous block: among the rows
ranked within ``±width`` of it by that volatility, uniformly. This is the matched-block
bootstrap of Carlstein et al. (1998) with a rank (uniform) kernel. A row's chance of starting a
block stays uniform, so each bar of the input is still drawn equally often in the long run.

Reproducibility: candidate ``(scenario, attempt)`` draws only from
``numpy.random.default_rng([attempt, scenario, root_seed])`` — the same candidate comes out
whichever batch, task or worker computes it. Drawing each candidate from its own generator costs a
short Python loop over the batch (tens of microseconds a candidate, a few per cent of scoring);
the index arithmetic itself is vectorised over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError

__all__ = [
    "BOOTSTRAP_METHODS",
    "METHODS",
    "JOIN_WINDOW",
    "JOIN_WIDTH",
    "BlockJoins",
    "candidate_rng",
    "sample_indices",
]

#: Index samplers of this module.
BOOTSTRAP_METHODS = ("stationary", "circular", "moving", "iid")
#: Every generation method: the bootstraps, the GARCH-filtered bootstrap
#: (:mod:`pipeline.core.garch`) and the regime-switching bootstrap (:mod:`pipeline.core.regimes`).
METHODS = (*BOOTSTRAP_METHODS, "garch", "regime")


#: Bars of the trailing mean ``|r|`` that block joins match (one month of daily bars; the window
#: of ``vol_persistence``).
JOIN_WINDOW = 21
#: Half-width of a join's neighbourhood, as a share of the input's rows: a new block starts
#: after one of the ``2 * JOIN_WIDTH * n`` rows nearest in recent volatility. Measured on the
#: real-data panel, ``n / 40`` to ``n / 10`` all cut the ``vol_persistence`` bias to a third or
#: less; the middle is used.
JOIN_WIDTH = 0.05


@dataclass(frozen=True, eq=False)
class BlockJoins:
    """Where a new block may start, given the row the previous block ended on.

    Attributes
    ----------
    order : ndarray of int64, shape (n_rows,)
        Rows sorted by recent volatility.
    rank : ndarray of int64, shape (n_rows,)
        Each row's position in ``order``.
    width : int
        Half-width of the neighbourhood in ranks.
    """

    order: np.ndarray
    rank: np.ndarray
    width: int
    state: np.ndarray | None = None

    @classmethod
    def from_returns(cls, returns: Sequence[np.ndarray], *, window: int = JOIN_WINDOW,
                     width: float = JOIN_WIDTH) -> BlockJoins:
        """Joins matched on the trailing mean ``|r|`` of one or several aligned assets.

        Several assets are matched on the mean of their ``|r| / std(r)``, so each counts alike.
        """
        state = np.zeros(np.asarray(returns[0]).shape[0])
        for r in returns:
            a = np.abs(np.asarray(r, dtype=float))
            sd = float(np.std(r))
            state += a / sd if sd > 0 else a
        c = np.concatenate([[0.0], np.cumsum(state)])
        t = np.arange(state.size)
        lo = np.maximum(t + 1 - int(window), 0)
        trailing = (c[t + 1] - c[lo]) / (t + 1 - lo)
        return cls.from_state(trailing, width=width)

    @classmethod
    def from_state(cls, state: np.ndarray, *, width: float = JOIN_WIDTH) -> BlockJoins:
        """Joins matched on a given per-row ``state``."""
        order = np.argsort(state, kind="stable").astype(np.int64)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return cls(order=order, rank=rank, width=max(1, int(round(width * order.size))),
                   state=np.asarray(state, dtype=float))

    def within(self, rows: np.ndarray) -> BlockJoins:
        """The joins of a subset of rows (a regime's pool), indexed by position in ``rows``."""
        return BlockJoins.from_state(self.state[rows], width=self.width / self.order.size)

    def neighbour(self, row: int, u: float) -> int:
        """The row after a uniformly drawn (``u`` in [0, 1)) neighbour of ``row``."""
        n = self.order.size
        r = int(self.rank[row]) + int(u * (2 * self.width + 1)) - self.width
        r = -r - 1 if r < 0 else (2 * n - 1 - r if r >= n else r)
        return (int(self.order[r]) + 1) % n

    def starts(self, first: int, lengths: np.ndarray, offsets: np.ndarray, *,
               last_start: int | None = None) -> np.ndarray:
        """Block starts: ``first``, then each matched to where the block before it ended.

        ``offsets`` (one per block, in ``[-width, width]``) pick the neighbour; ``last_start``
        caps a start so a block does not run past the end (moving blocks).
        """
        n = self.order.size
        order = self.order.tolist()
        rank = self.rank.tolist()
        out = [int(first)]
        for size, offset in zip(lengths[:-1].tolist(), offsets[1:].tolist(), strict=True):
            end = (out[-1] + size - 1) % n
            r = rank[end] + offset
            # Reflect at the ends rather than clamp: clamping would pile the draws of a whole
            # neighbourhood onto the calmest and the stormiest row.
            r = -r - 1 if r < 0 else (2 * n - 1 - r if r >= n else r)
            start = (order[r] + 1) % n
            out.append(start if last_start is None else min(start, last_start))
        return np.asarray(out, dtype=np.int64)

    def __repr__(self) -> str:
        return f"BlockJoins(rows={self.order.size}, width={self.width})"


def candidate_rng(root_seed: int, scenario: int, attempt: int) -> np.random.Generator:
    """The random generator of candidate ``(scenario, attempt)`` of a run seeded ``root_seed``."""
    return np.random.default_rng([int(attempt), int(scenario), int(root_seed)])


def sample_indices(
    method: str,
    n_rows: int,
    length: int,
    block_size: int,
    rngs: Sequence[np.random.Generator],
    joins: BlockJoins | None = None,
) -> np.ndarray:
    """Draw bootstrap indices for a batch of candidates.

    Parameters
    ----------
    method : {"stationary", "circular", "moving", "iid"}
        ``stationary``: Politis–Romano, geometric block lengths with mean ``block_size``, wrapping
        around the end. ``circular``: fixed-length blocks wrapping around. ``moving``: fixed-length
        blocks that do not wrap (Künsch). ``iid``: single rows (the baseline).
    n_rows : int
        Number of component rows to draw from.
    length : int
        Bars per candidate.
    block_size : int
        (Mean) block length.
    rngs : sequence of numpy.random.Generator
        One generator per candidate; ``len(rngs)`` is the batch size.
    joins : BlockJoins, optional
        Match each block's start to where the previous block ended (see the module notes);
        None starts every block uniformly at random.

    Returns
    -------
    ndarray of int64, shape (len(rngs), length)
    """
    if method not in BOOTSTRAP_METHODS:
        raise ConfigError(f"method: unknown method {method!r}; allowed: "
                          f"{', '.join(BOOTSTRAP_METHODS)}")
    batch = len(rngs)
    b = 1 if method == "iid" else max(1, min(int(block_size), n_rows))
    out = np.empty((batch, length), dtype=np.int64)
    if method == "iid":
        for i, rng in enumerate(rngs):
            out[i] = rng.integers(0, n_rows, length)
        return out

    if method == "stationary":
        # Geometric block lengths (mean b) and a uniform start per block; the rows of a block
        # follow on from its start, wrapping around the end. Drawing per block, not per bar,
        # keeps the random draws to about 2 * length / b per candidate.
        p = 1.0 / b
        positions = np.arange(length)
        expected = length // b + 8
        for i, rng in enumerate(rngs):
            lengths = rng.geometric(p, size=expected)
            while lengths.sum() < length:
                lengths = np.concatenate([lengths, rng.geometric(p, size=expected)])
            ends = np.cumsum(lengths)
            n_used = int(np.searchsorted(ends, length)) + 1
            starts = rng.integers(0, n_rows, n_used)
            if joins is not None:
                offsets = rng.integers(-joins.width, joins.width + 1, n_used)
                starts = joins.starts(starts[0], lengths[:n_used], offsets)
            block_pos = np.concatenate([[0], ends[: n_used - 1]])
            used = np.diff(np.concatenate([block_pos, [length]]))
            np.remainder(np.repeat(starts - block_pos, used) + positions, n_rows, out=out[i])
        return out

    n_blocks = -(-length // b)
    high = n_rows if method == "circular" else n_rows - b + 1
    starts = np.empty((batch, n_blocks), dtype=np.int64)
    last = None if method == "circular" else high - 1
    for i, rng in enumerate(rngs):
        starts[i] = rng.integers(0, high, n_blocks)
        if joins is not None:
            offsets = rng.integers(-joins.width, joins.width + 1, n_blocks)
            starts[i] = joins.starts(starts[i, 0], np.full(n_blocks, b), offsets,
                                     last_start=last)
    idx = (starts[:, :, None] + np.arange(b)).reshape(batch, n_blocks * b)[:, :length]
    if method == "circular":
        np.remainder(idx, n_rows, out=idx)
    out[:] = idx
    return out
