"""From an OHLCV frame to stationary per-bar components, and back to a time index.

Each bar ``t >= 1`` becomes one row of components, sampled jointly so the structure inside a bar
(gap, range, volume against the move) is kept:

=================  ===============================================  ==================
component          definition                                       range
=================  ===============================================  ==================
``log_return``     ``log(C_t / C_{t-1})``                           real
``gap``            ``log(O_t / C_{t-1})`` — open against last close real
``high_excess``    ``log(H_t / max(O_t, C_t))``                     ``>= 0``
``low_excess``     ``log(min(O_t, C_t) / L_t)``                     ``>= 0``
``log_volume``     ``log1p(V_t)`` minus its centred 63-bar mean     real (optional)
=================  ===============================================  ==================

Volume is detrended because traded volume drifts over years (the S&P 500 sample's volume grows
about fourfold); resampled bars would otherwise carry the level of their own era. Synthetic volume
is rebuilt around the input's mean log-volume, ``volume_level``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.metrics import abnormal_log_volume
from pipeline.errors import ConfigError, InputDataError

__all__ = ["Components", "COMPONENT_FIELDS", "preprocess", "output_index", "check_length"]

COMPONENT_FIELDS = ("log_return", "gap", "high_excess", "low_excess", "log_volume")


@dataclass(frozen=True, eq=False)
class Components:
    """Stationary components of one OHLCV series.

    Attributes
    ----------
    values : ndarray, shape (n - 1, 4) or (n - 1, 5)
        One row per bar after the first, columns as in ``COMPONENT_FIELDS`` (without
        ``log_volume`` when the input has no volume).
    start_price : float
        The input's first close: the default price synthetic series start from.
    volume_level : float
        Mean ``log1p(volume)`` of the input (NaN without volume).
    index : pandas.DatetimeIndex
        The input's timestamps (length n).
    """

    values: np.ndarray
    start_price: float
    volume_level: float
    index: pd.DatetimeIndex

    @property
    def has_volume(self) -> bool:
        return self.values.shape[1] == 5

    @property
    def n_bars(self) -> int:
        """Number of bars of the input (one more than component rows)."""
        return self.values.shape[0] + 1

    @property
    def log_returns(self) -> np.ndarray:
        return self.values[:, 0]

    def __repr__(self) -> str:
        return (
            f"Components(rows={self.values.shape[0]}, has_volume={self.has_volume}, "
            f"start_price={self.start_price:.6g})"
        )


def preprocess(frame: pd.DataFrame) -> Components:
    """Split a validated OHLCV frame into stationary components.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``Open High Low Close`` and optionally ``Volume`` with a DatetimeIndex, as returned
        by :func:`pipeline.load_ohlcv`.

    Returns
    -------
    Components
    """
    missing = [c for c in ("Open", "High", "Low", "Close") if c not in frame.columns]
    if missing:
        raise InputDataError(f"<DataFrame>: missing required column(s) {missing}")
    o, h, lo, c = (frame[k].to_numpy(dtype=float) for k in ("Open", "High", "Low", "Close"))
    if len(c) < 3:
        raise InputDataError(f"<DataFrame>: {len(c)} rows; at least 3 are needed to preprocess")
    if not (np.all(np.isfinite([o, h, lo, c])) and np.all(np.minimum(lo, np.minimum(o, c)) > 0)):
        raise InputDataError("<DataFrame>: prices must be finite and positive; load the data "
                             "with pipeline.load_ohlcv to see the offending rows")
    if np.all(c == c[0]):
        # Checked by the reader too; frames built in code (aligned assets) arrive here directly.
        raise InputDataError(f"<DataFrame>: prices never change (Close is {c[0]:g} in every "
                             "row); nothing to resample")
    prev_close = c[:-1]
    o1, h1, l1, c1 = o[1:], h[1:], lo[1:], c[1:]
    body_top = np.maximum(o1, c1)
    body_bottom = np.minimum(o1, c1)
    columns = [
        np.log(c1 / prev_close),
        np.log(o1 / prev_close),
        # Clipped at 0: a High a hair below the body (rounding in the source) must not flip sign.
        np.maximum(np.log(h1 / body_top), 0.0),
        np.maximum(np.log(body_bottom / l1), 0.0),
    ]
    volume_level = float("nan")
    if "Volume" in frame.columns and frame["Volume"].notna().all():
        volume = frame["Volume"].to_numpy(dtype=float)[None]
        # The same detrending as the volume metric, so what is resampled is what is scored.
        columns.append(abnormal_log_volume(volume)[0, 1:])
        volume_level = float(np.log1p(np.maximum(volume, 0.0)).mean())
    index = frame.index if isinstance(frame.index, pd.DatetimeIndex) else pd.DatetimeIndex([])
    return Components(
        values=np.ascontiguousarray(np.column_stack(columns)),
        start_price=float(c[0]),
        volume_level=volume_level,
        index=index,
    )


def output_index(index: pd.DatetimeIndex, length: int) -> pd.DatetimeIndex:
    """Timestamps for a synthetic series of ``length`` bars.

    The input's own timestamps when they suffice; past the input's end they continue at the
    input's most common spacing, on the business-day calendar for daily data that skips weekends.
    (Intraday continuations run around the clock: session breaks are not modelled.)

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The input's timestamps.
    length : int
        Bars wanted.
    """
    if len(index) == 0:
        return pd.date_range("2000-01-03", periods=length, freq="B", name="Date")
    if length <= len(index):
        return pd.DatetimeIndex(index[:length], name="Date")
    extra = length - len(index)
    last = index[-1]
    step, business = _continuation(index)
    check_length(index, length)
    if business:
        more = pd.bdate_range(last, periods=extra + 1)[1:]
    else:
        more = pd.DatetimeIndex([last + step * (i + 1) for i in range(extra)])
    return pd.DatetimeIndex(index.append(more.as_unit(index.unit)), name="Date")


def _continuation(index: pd.DatetimeIndex) -> tuple[pd.Timedelta, bool]:
    """The spacing a series continues at past the input's end, and whether it is business days."""
    steps = pd.Series(index[-min(len(index), 500):]).diff().dropna()
    step = steps.mode().iloc[0] if len(steps) else pd.Timedelta(days=1)
    # Daily data that skips weekends continues on the business-day calendar.
    return step, bool(step == pd.Timedelta(days=1) and (index.day_of_week < 5).all())


def check_length(index: pd.DatetimeIndex, length: int) -> None:
    """Refuse a ``length`` whose timestamps would run past pandas' last date (2262-04-11).

    Checked before any work: the synthetic calendar continues the input's at its spacing, so
    70,000 daily bars after 2018 cannot be labelled.

    Raises
    ------
    ConfigError
        Naming ``generation.length`` and the most bars the input's calendar allows.
    """
    extra = int(length) - len(index)
    if extra <= 0 or len(index) == 0:
        return
    step, business = _continuation(index)
    room = pd.Timestamp.max - index[-1]
    # Five business days per seven calendar days, less a week for the partial first one.
    most = max(0, (room.days - 7) * 5 // 7) if business else int(room // max(step, pd.Timedelta(1)))
    if extra > most:
        spacing = "business days" if business else f"bars of {step}"
        raise ConfigError(
            f"generation.length: {length} bars continue the input's {spacing} past "
            f"{pd.Timestamp.max.date()}, the last date pandas can represent; ask for at most "
            f"{len(index) + most} bars")
