"""Higher timeframes of a synthetic series, aggregated exactly from its base bars.

A timeframe is a pandas frequency (``"15min"``, ``"1h"``, ``"1D"``, ``"W"``, ``"M"``). Base bars
fall in the bucket of their timestamp (``floor`` for fixed spans, the calendar period for
weeks, months, quarters and years); each bucket becomes one bar labelled with its start:
``Open`` = first base open, ``High`` = max, ``Low`` = min, ``Close`` = last close, ``Volume`` =
sum, added left to right. Every synthetic series of a model shares one timestamp index, so the
bucket boundaries are computed once and a whole batch is aggregated with ``reduceat``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError

__all__ = [
    "Timeframe", "check_rule", "make_timeframe", "aggregate", "aggregate_assets", "aggregate_frame",
    "timeframe_label",
]

#: Fewest aggregated bars per series for a timeframe's metrics (the metrics' own minimum).
MIN_TIMEFRAME_BARS = 64


@dataclass(frozen=True, eq=False)
class Timeframe:
    """A timeframe's buckets over a fixed base index.

    Attributes
    ----------
    rule : str
        The pandas frequency as given.
    starts : ndarray of int64
        Position of the first base bar of each bucket.
    index : pandas.DatetimeIndex
        Label (start time) of each aggregated bar.
    """

    rule: str
    starts: np.ndarray
    index: pd.DatetimeIndex

    @property
    def label(self) -> str:
        return timeframe_label(self.rule)

    def __repr__(self) -> str:
        return f"Timeframe({self.rule!r}, bars={len(self.index)})"


def timeframe_label(rule: str) -> str:
    """A file-name-safe label of a timeframe (``"1h"`` -> ``"1h"``, ``"W-SUN"`` -> ``"W_SUN"``)."""
    return "".join(c if c.isalnum() else "_" for c in str(rule))


def _bucket_labels(index: pd.DatetimeIndex, rule: str) -> pd.DatetimeIndex:
    rule = str(rule)
    try:
        return index.floor(rule)  # fixed spans: 15min, 1h, 1D
    except (ValueError, TypeError):
        pass
    head, sep, tail = rule.partition("-")
    # Calendar periods; pandas names month/quarter/year ends "ME"/"QE"/"YE" as offsets but
    # "M"/"Q"/"Y" as periods.
    period = {"ME": "M", "QE": "Q", "YE": "Y"}.get(head.upper(), head) + sep + tail
    try:
        return index.to_period(period).start_time
    except (ValueError, TypeError):
        raise ConfigError(f"generation.timeframes: {rule!r} is not a pandas frequency (e.g. "
                          "15min, 1h, 1D, W, M)") from None


#: Longest timeframe: no series the engine can generate spans more (pandas' calendar ends in 2262).
MAX_TIMEFRAME = pd.Timedelta(days=366 * 100)


def _offset(rule: str) -> pd.DateOffset | None:
    """The rule as a pandas offset (period names ``3M``, ``Q``, ``Y`` as month/quarter/year
    ends), or None."""
    period_end = re.sub(r"^(-?\d*)([MQY])(-|$)", r"\1\2E\3", rule.strip(), flags=re.I)
    for candidate in dict.fromkeys((rule, period_end)):
        try:
            return pd.tseries.frequencies.to_offset(candidate)
        except (ValueError, TypeError, OverflowError):
            continue
    return None


def check_rule(rule: str) -> str:
    """``rule`` if it is a frequency :func:`make_timeframe` understands, else a ConfigError.

    The run configuration calls this too, so a rule is accepted or refused by one piece of code.
    A rule must be a positive span (``-1D`` and ``0h`` are refused) of at most
    :data:`MAX_TIMEFRAME`.
    """
    offset = _offset(str(rule))
    if offset is not None:
        if offset.n <= 0:
            raise ConfigError(f"generation.timeframes: {rule!r} is not a positive span; use a "
                              "count of 1 or more, e.g. 1h, 4h, 1D, W")
        start = pd.Timestamp("2000-01-03")
        try:
            span = (start + offset) - start
        except (ValueError, OverflowError):  # past pandas' calendar
            span = MAX_TIMEFRAME * 2
        if span > MAX_TIMEFRAME:
            raise ConfigError(f"generation.timeframes: {rule!r} is longer than 100 years; use a "
                              "timeframe of at most a few years, e.g. 1D, W, M, Y")
    _bucket_labels(pd.DatetimeIndex(["2000-01-03", "2000-01-04"]), rule)
    return str(rule)


def make_timeframe(index: pd.DatetimeIndex, rule: str) -> Timeframe:
    """Buckets of ``rule`` over ``index``.

    Raises
    ------
    ConfigError
        ``rule`` is not a frequency, is not coarser than the base bars, or leaves fewer than
        ``MIN_TIMEFRAME_BARS`` bars.
    """
    if len(index) < 2:
        raise ConfigError("generation.timeframes: the series needs a timestamp index")
    check_rule(rule)
    labels = _bucket_labels(pd.DatetimeIndex(index), rule)
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    if len(starts) == len(index):
        raise ConfigError(f"generation.timeframes: {rule!r} is not coarser than the input's bars "
                          "(every bucket holds one bar)")
    if not labels.is_monotonic_increasing:
        raise ConfigError(f"generation.timeframes: {rule!r} buckets are not in time order")
    if len(starts) < MIN_TIMEFRAME_BARS:
        raise ConfigError(
            f"generation.timeframes: {rule!r} leaves {len(starts)} bars per series; at least "
            f"{MIN_TIMEFRAME_BARS} are needed to compute its metrics (use a longer "
            "generation.length or a finer timeframe)")
    return Timeframe(rule=str(rule), starts=starts,
                     index=pd.DatetimeIndex(labels[starts], name=index.name or "Date"))


def aggregate(ohlcv: np.ndarray, timeframe: Timeframe) -> np.ndarray:
    """Aggregate ``(batch, length, fields)`` base bars to ``(batch, n_buckets, fields)``."""
    starts = timeframe.starts
    ends = np.concatenate([starts[1:], [ohlcv.shape[1]]]) - 1
    out = np.empty((ohlcv.shape[0], starts.size, ohlcv.shape[2]))
    out[:, :, 0] = ohlcv[:, starts, 0]
    out[:, :, 1] = np.maximum.reduceat(ohlcv[:, :, 1], starts, axis=1)
    out[:, :, 2] = np.minimum.reduceat(ohlcv[:, :, 2], starts, axis=1)
    out[:, :, 3] = ohlcv[:, ends, 3]
    if ohlcv.shape[2] == 5:
        out[:, :, 4] = np.add.reduceat(ohlcv[:, :, 4], starts, axis=1)
    return out


def aggregate_assets(ohlcv: np.ndarray, timeframe: Timeframe, n_assets: int) -> np.ndarray:
    """Aggregate ``(batch, length, fields * n_assets)`` bars of assets side by side."""
    if n_assets == 1:
        return aggregate(ohlcv, timeframe)
    f = ohlcv.shape[2] // n_assets
    return np.concatenate([aggregate(ohlcv[:, :, a * f:(a + 1) * f], timeframe)
                           for a in range(n_assets)], axis=2)


def aggregate_frame(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    """An OHLCV DataFrame aggregated to ``rule`` (the same buckets as :func:`aggregate`)."""
    tf = make_timeframe(pd.DatetimeIndex(frame.index), rule)
    cols = [c for c in ("Open", "High", "Low", "Close", "Volume") if c in frame.columns]
    values = aggregate(frame[cols].to_numpy(dtype=float)[None], tf)[0]
    return pd.DataFrame(values, index=tf.index, columns=cols)
