"""Block-bootstrap index samplers, batched and reproducible per candidate.

Every sampler returns integer indices of shape ``(batch, length)`` into the component rows; the
rows are then gathered jointly, so each synthetic bar is a whole bar of the original.

Reproducibility: candidate ``(scenario, attempt)`` draws only from
``numpy.random.default_rng([attempt, scenario, root_seed])`` — the same candidate comes out
whichever batch, task or worker computes it. Drawing each candidate from its own generator costs a
short Python loop over the batch (tens of microseconds a candidate, a few per cent of scoring);
the index arithmetic itself is vectorised over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.errors import ConfigError

__all__ = ["BOOTSTRAP_METHODS", "METHODS", "candidate_rng", "sample_indices"]

#: Index samplers of this module.
BOOTSTRAP_METHODS = ("stationary", "circular", "moving", "iid")
#: Every generation method: the bootstraps, the GARCH-filtered bootstrap
#: (:mod:`pipeline.core.garch`) and the regime-switching bootstrap (:mod:`pipeline.core.regimes`).
METHODS = (*BOOTSTRAP_METHODS, "garch", "regime")


def candidate_rng(root_seed: int, scenario: int, attempt: int) -> np.random.Generator:
    """The random generator of candidate ``(scenario, attempt)`` of a run seeded ``root_seed``."""
    return np.random.default_rng([int(attempt), int(scenario), int(root_seed)])


def sample_indices(
    method: str,
    n_rows: int,
    length: int,
    block_size: int,
    rngs: Sequence[np.random.Generator],
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
            block_pos = np.concatenate([[0], ends[: n_used - 1]])
            used = np.diff(np.concatenate([block_pos, [length]]))
            np.remainder(np.repeat(starts - block_pos, used) + positions, n_rows, out=out[i])
        return out

    n_blocks = -(-length // b)
    high = n_rows if method == "circular" else n_rows - b + 1
    starts = np.empty((batch, n_blocks), dtype=np.int64)
    for i, rng in enumerate(rngs):
        starts[i] = rng.integers(0, high, n_blocks)
    idx = (starts[:, :, None] + np.arange(b)).reshape(batch, n_blocks * b)[:, :length]
    if method == "circular":
        np.remainder(idx, n_rows, out=idx)
    out[:] = idx
    return out
