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
Intraday bars are matched within their slot of the day (:func:`bar_phases`), so a new block
continues the daily cycle where the last one left it, as in the seasonal block bootstrap
(Politis 2001): hourly EUR/USD moves 3.3 times as much in its busiest hour as in its quietest,
and blocks joined at random hours smeared that pattern into the volatility metrics. The first
block starts in the slot of the series' first timestamp, so the cycle sits at the right hours.
Scenarios that continue the history from a bar (``generation.start``) carry that bar's state
(:attr:`BlockJoins.origin`): their first block starts right after a row whose recent volatility
(and slot of the day) matches it, as any later block continues the one before.

Reproducibility: candidate ``(scenario, attempt)`` draws only from
``numpy.random.default_rng([attempt, scenario, root_seed])`` — the same candidate comes out
whichever batch, task or worker computes it. Drawing each candidate from its own generator costs a
short Python loop over the batch (tens of microseconds a candidate, a few per cent of scoring);
the index arithmetic itself is vectorised over the batch.
"""

from __future__ import annotations

import array
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError

__all__ = [
    "BOOTSTRAP_METHODS",
    "METHODS",
    "JOIN_WINDOW",
    "JOIN_WIDTH",
    "BlockJoins",
    "bar_phases",
    "daily_cycle",
    "CYCLE_P_VALUE",
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


#: Significance below which a time-of-day effect on ``|r|`` counts as a daily cycle.
CYCLE_P_VALUE = 1e-3


def daily_cycle(timestamps: pd.DatetimeIndex, log_returns: np.ndarray) -> np.ndarray | None:
    """Each return's slot in the day, when the returns' size has a daily cycle; else None.

    ``timestamps`` are the bars' (one more than ``log_returns``: return ``t`` belongs to bar
    ``t + 1``). The cycle counts when a one-way analysis of variance of ``|r|`` by slot rejects
    equal means at :data:`CYCLE_P_VALUE`: hourly EUR/USD (busiest hour 3.3 times the quietest)
    and hourly Bitcoin (1.4 times) have one by far; a series without one gains nothing from
    slot-aligned joins and would pay for them.
    """
    phases = bar_phases(timestamps)
    if phases is None:
        return None
    slot = phases[1:]
    a = np.abs(np.asarray(log_returns, dtype=float))
    groups = [a[slot == k] for k in np.unique(slot)]
    groups = [g for g in groups if g.size >= 2]
    if len(groups) < 2:
        return None
    from scipy.stats import f_oneway

    with np.errstate(all="ignore"):
        p = f_oneway(*groups).pvalue
    return slot if np.isfinite(p) and p < CYCLE_P_VALUE else None


def bar_phases(timestamps: pd.DatetimeIndex) -> np.ndarray | None:
    """Each bar's slot in the day for intraday bars (None for daily and coarser bars).

    The slot is the time of day in units of the most common spacing, so hourly bars have 24
    slots and 5-minute bars 288. None when the spacing does not divide a day.
    """
    if len(timestamps) < 3:
        return None
    step = pd.Series(timestamps).diff().dropna().median()
    day = pd.Timedelta(days=1)
    if not step or step >= day or (day / step) != int(day / step):
        return None
    offset = (timestamps - timestamps.normalize()) / step
    return np.round(np.asarray(offset, dtype=float)).astype(np.int64) % int(day / step)


@dataclass(frozen=True, eq=False)
class BlockJoins:
    """Where a new block may start, given the row the previous block ended on.

    Rows are grouped into classes (one class, or one per slot of the day for intraday bars) and
    sorted by recent volatility within each; a join moves within the class of the row it leaves.

    Attributes
    ----------
    order : ndarray of int64, shape (n_rows,)
        Rows sorted by class, then by recent volatility.
    rank : ndarray of int64, shape (n_rows,)
        Each row's position in ``order``.
    class_start, class_size : ndarray of int64, shape (n_rows,)
        Where each row's class begins in ``order``, and its number of rows.
    width : float
        Half-width of the neighbourhood, as a share of the class's rows.
    state : ndarray, shape (n_rows,)
        The recent volatility rows are matched on.
    phase : ndarray of int64, optional
        Each row's slot in the day (intraday bars), or None.
    first_rows : ndarray of int64, optional
        Rows a series may start with: those in the slot of the series' first timestamp.
    origin : tuple of (float, int or None), optional
        The recent volatility and slot of the day (None without slots) of the bar a series
        continues from; the first block then starts as if a block had ended there
        (:meth:`near_state`) instead of at a row of :attr:`first_rows`.
    """

    order: np.ndarray
    rank: np.ndarray
    class_start: np.ndarray
    class_size: np.ndarray
    width: float
    state: np.ndarray
    phase: np.ndarray | None = None
    first_rows: np.ndarray | None = None
    origin: tuple[float, int | None] | None = None

    @classmethod
    def from_returns(cls, returns: Sequence[np.ndarray], *, phase: np.ndarray | None = None,
                     first_phase: int | None = None, window: int = JOIN_WINDOW,
                     width: float = JOIN_WIDTH) -> BlockJoins:
        """Joins matched on the trailing mean ``|r|`` of one or several aligned assets.

        Several assets are matched on the mean of their ``|r| / std(r)``, so each counts alike.
        ``phase`` (each row's slot in the day) keeps joins within a slot, so the next block
        continues the daily cycle; ``first_phase`` is the slot of the series' first bar.
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
        joins = cls.from_state(trailing, phase=phase, width=width)
        if phase is not None and first_phase is not None:
            first = np.flatnonzero(phase == first_phase)
            if first.size:
                joins = replace(joins, first_rows=first)
        return joins

    @classmethod
    def from_state(cls, state: np.ndarray, *, phase: np.ndarray | None = None,
                   width: float = JOIN_WIDTH) -> BlockJoins:
        """Joins matched on a given per-row ``state``, within ``phase`` classes if given."""
        state = np.asarray(state, dtype=float)
        classes = np.zeros(state.size, dtype=np.int64) if phase is None else np.asarray(phase)
        order = np.lexsort((state, classes)).astype(np.int64)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        sorted_classes = classes[order]
        first_of = np.flatnonzero(np.r_[True, sorted_classes[1:] != sorted_classes[:-1]])
        sizes = np.diff(np.r_[first_of, order.size])
        which = np.searchsorted(first_of, rank, side="right") - 1
        return cls(order=order, rank=rank, class_start=first_of[which],
                   class_size=sizes[which], width=float(width), state=state,
                   phase=None if phase is None else classes)

    def within(self, rows: np.ndarray) -> BlockJoins:
        """The joins of a subset of rows (a regime's pool), indexed by position in ``rows``."""
        return BlockJoins.from_state(self.state[rows], width=self.width,
                                     phase=None if self.phase is None else self.phase[rows])

    @functools.cached_property
    def _per_row(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row: its class's start in ``order``, size, neighbourhood span ``2w + 1`` and
        ``rank - class start - w`` (what a join needs, looked up once per row)."""
        size = self.class_size
        w = np.minimum(np.maximum(1, np.round(self.width * size).astype(np.int64)),
                       np.maximum(size - 1, 0))
        return self.class_start, size, 2 * w + 1, self.rank - self.class_start - w

    @functools.cached_property
    def _lists(self) -> tuple[array.array, ...]:
        """:attr:`_per_row` and ``order`` as typed arrays of Python ints (8 bytes a row, and
        indexing them is as fast as a list's), for one join at a time."""
        out = []
        for a in (*self._per_row, self.order):
            arr = array.array("q")
            arr.frombytes(np.ascontiguousarray(a, dtype=np.int64).tobytes())
            out.append(arr)
        return tuple(out)

    def __getstate__(self) -> dict:
        # The lookup tables are rebuilt on first use; they need not travel to the workers.
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_per_row", "_lists", "_slots", "_sorted_state")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def neighbour(self, row: int, u: float) -> int:
        """The row after a uniformly drawn (``u`` in [0, 1)) neighbour of ``row`` in its class.

        Reflected at the class's ends rather than clamped: clamping would pile the draws of a
        whole neighbourhood onto its calmest and its stormiest row.
        """
        start, size, span, base, order = self._lists
        k = base[row] + int(u * span[row])
        m = size[row]
        k = -k - 1 if k < 0 else (2 * m - 1 - k if k >= m else k)
        nxt = order[start[row] + k] + 1
        return 0 if nxt == len(order) else nxt

    def in_slot(self, slot: int, u: float) -> int | None:
        """A row drawn uniformly (``u`` in [0, 1)) among those in ``slot`` of the day; None
        without slots or when no row is in that slot."""
        if self.phase is None:
            return None
        where = self._slots.get(int(slot))
        if where is None:
            return None
        start, size = where
        return int(self.order[start + int(u * size)])

    @functools.cached_property
    def _slots(self) -> dict[int, tuple[int, int]]:
        """Each slot's range in ``order`` (classes are contiguous there)."""
        phase = self.phase[self.order]
        edges = np.flatnonzero(np.r_[True, phase[1:] != phase[:-1], True])
        return {int(phase[a]): (int(a), int(b - a)) for a, b in zip(edges[:-1], edges[1:],
                                                                   strict=True)}

    def near_state(self, value: float, slot: int | None, u: float, *,
                   skip_last: bool = False) -> int:
        """The row after a uniformly drawn (``u``) row among the ``2 w + 1`` whose state is
        nearest ``value`` (within ``slot`` of the day when there are slots).

        ``skip_last``: the last row is not drawn (its rank neighbour stands in). A series that
        continues after the last row matches that row's own state first of all, and what
        follows it is not in the input (the row after it would wrap to the first).
        """
        if self.phase is None or slot is None:
            start, size = 0, self.order.size
        else:
            start, size = self._slots.get(int(slot), (0, self.order.size))
        states = self._sorted_state[start : start + size]
        w = min(max(1, int(round(self.width * size))), size - 1)
        k = int(np.searchsorted(states, value)) + int(u * (2 * w + 1)) - w
        k = min(max(k, 0), size - 1) if size <= 2 * w else (
            -k - 1 if k < 0 else (2 * size - 1 - k if k >= size else k))
        if skip_last and size > 1 and int(self.order[start + k]) == self.order.size - 1:
            k = k + 1 if k + 1 < size else k - 1
        return (int(self.order[start + k]) + 1) % self.order.size

    @functools.cached_property
    def _sorted_state(self) -> np.ndarray:
        return self.state[self.order]

    def continuing_last_row(self) -> BlockJoins:
        """These joins for series that continue the input after its last row: their first
        block starts where a block ending on the last row would continue (:attr:`origin`)."""
        slot = None if self.phase is None else int(self.phase[-1])
        return replace(self, origin=(float(self.state[-1]), slot))

    def first(self, u: float) -> int:
        """A series' first row: matched to :attr:`origin` when set, else uniform over
        :attr:`first_rows` (all rows if None)."""
        if self.origin is not None:
            return self.near_state(self.origin[0], self.origin[1], u, skip_last=True)
        if self.first_rows is None:
            return int(u * self.order.size)
        return int(self.first_rows[int(u * self.first_rows.size)])

    def batch_starts(self, lengths: Sequence[np.ndarray], draws: Sequence[np.ndarray], *,
                     last_start: int | None = None) -> list[np.ndarray]:
        """Block starts of several candidates: the first from ``draws[i][0]``, each later one
        matched to where the block before it ended.

        ``lengths[i]`` are candidate ``i``'s block lengths and ``draws[i]`` one uniform per block;
        ``last_start`` caps a start so a block does not run past the end (moving blocks).
        """
        return [self._starts(x, d, last_start) for x, d in zip(lengths, draws, strict=True)]

    def _starts(self, lengths: np.ndarray, draws: np.ndarray, last_start: int | None
                ) -> np.ndarray:
        # The hot loop of a joined bootstrap, one join per block: each step is a few scalars,
        # so it runs compiled (pipeline.core.kernel.join_starts: integer arithmetic and
        # truncation as in Python, so the same starts as the loop run by the interpreter).
        from pipeline.core.kernel import join_starts

        cap = len(self.order) if last_start is None else last_start
        return join_starts(np.asarray(lengths, dtype=np.int64),
                           np.asarray(draws, dtype=np.float64), int(self.first(draws[0])), cap,
                           *self._per_row, self.order)

    def __repr__(self) -> str:
        slots = "" if self.phase is None else f", slots={int(self.phase.max()) + 1}"
        origin = "" if self.origin is None else f", origin_state={self.origin[0]:.4g}"
        return f"BlockJoins(rows={self.order.size}, width={self.width:g}{slots}{origin})"


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
        expected = length // b + 8
        drawn = []
        for rng in rngs:
            lengths = rng.geometric(p, size=expected)
            while lengths.sum() < length:
                lengths = np.concatenate([lengths, rng.geometric(p, size=expected)])
            n_used = int(np.searchsorted(np.cumsum(lengths), length)) + 1
            lengths = lengths[:n_used]
            draws = rng.integers(0, n_rows, n_used) if joins is None else rng.random(n_used)
            drawn.append((lengths, draws))
        if joins is not None:
            starts_of = joins.batch_starts([d[0] for d in drawn], [d[1] for d in drawn])
        from pipeline.core.kernel import fill_blocks

        for i, (lengths, draws) in enumerate(drawn):
            starts = draws if joins is None else starts_of[i]
            fill_blocks(starts, lengths, n_rows, out[i])
        return out

    n_blocks = -(-length // b)
    high = n_rows if method == "circular" else n_rows - b + 1
    starts = np.empty((batch, n_blocks), dtype=np.int64)
    if joins is None:
        for i, rng in enumerate(rngs):
            starts[i] = rng.integers(0, high, n_blocks)
    else:
        last = None if method == "circular" else high - 1
        sizes = np.full(n_blocks, b)
        starts[:] = joins.batch_starts([sizes] * batch, [rng.random(n_blocks) for rng in rngs],
                                       last_start=last)
    idx = (starts[:, :, None] + np.arange(b)).reshape(batch, n_blocks * b)[:, :length]
    if method == "circular":
        np.remainder(idx, n_rows, out=idx)
    out[:] = idx
    return out
