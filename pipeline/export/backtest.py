"""OHLCV frames in the layouts of backtesting libraries (backtesting.py, backtrader, vectorbt,
zipline)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError, InputDataError
from pipeline.io.run import OHLC

__all__ = ["LAYOUTS", "check_layout", "to_backtest_frame"]

#: Backtest layouts understood by :func:`to_backtest_frame`.
LAYOUTS: tuple[str, ...] = ("backtesting.py", "backtrader", "vectorbt", "zipline")


def check_layout(layout: str) -> str:
    """``layout`` if it is one of :data:`LAYOUTS`; a ConfigError naming the allowed values
    otherwise."""
    if layout not in LAYOUTS:
        raise ConfigError(
            f"layout: unknown layout {layout!r}; allowed values are "
            f"{', '.join(map(repr, LAYOUTS))}"
        )
    return layout


def to_backtest_frame(frame: pd.DataFrame, layout: str = "backtesting.py") -> pd.DataFrame:
    """Return an OHLCV frame in the layout a backtesting library takes.

    Parameters
    ----------
    frame : pandas.DataFrame
        OHLCV series: columns ``Open, High, Low, Close[, Volume]`` and a ``DatetimeIndex`` (or a
        ``timestamp``/``Date`` column, as in the Parquet dataset).
    layout : {"backtesting.py", "backtrader", "vectorbt", "zipline"}
        ``"backtesting.py"`` and ``"vectorbt"``: columns ``Open, High, Low, Close[, Volume]``,
        time-zone-naive ``DatetimeIndex`` named ``Date`` (``Backtest(frame, ...)``;
        vectorbt's OHLCV accessor finds these names, ``vbt.Portfolio.from_signals(
        frame["Close"], ...)``).
        ``"backtrader"``: lowercase ``open, high, low, close[, volume], openinterest``
        (open interest 0: synthetic series have none) and a ``DatetimeIndex`` named
        ``datetime``, as ``bt.feeds.PandasData(dataname=frame)`` autodetects them.
        ``"zipline"``: lowercase ``open, high, low, close, volume`` on a UTC ``DatetimeIndex``
        named ``date`` (midnight-UTC session labels for a daily bar writer); volume is required.

    Returns
    -------
    pandas.DataFrame
        A new frame (float64 columns), sorted by time.

    Raises
    ------
    ConfigError
        Unknown ``layout``.
    InputDataError
        Missing OHLC columns or dates, duplicate timestamps, or no volume for zipline.
    """
    check_layout(layout)
    if not isinstance(frame, pd.DataFrame):
        raise InputDataError(f"expected a DataFrame, got {type(frame).__name__}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        for col in ("timestamp", "Date", "date", "datetime"):
            if col in frame.columns:
                frame = frame.set_index(col)
                break
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InputDataError("the frame has no DatetimeIndex (nor a timestamp or Date column)")
    missing = [c for c in OHLC if c not in frame.columns]
    if missing:
        raise InputDataError(f"the frame lacks column(s) {', '.join(missing)}")
    if frame.index.has_duplicates:
        raise InputDataError("the frame has duplicate timestamps")
    cols = list(OHLC) + (["Volume"] if "Volume" in frame.columns else [])
    out = frame[cols].astype(np.float64).sort_index()
    out.attrs = {}

    if layout in ("backtesting.py", "vectorbt"):
        return out.rename_axis("Date")
    out = out.rename(columns=str.lower)
    if layout == "backtrader":
        return out.assign(openinterest=0.0).rename_axis("datetime")
    if "volume" not in out.columns:
        raise InputDataError(
            "zipline needs volume but the series has none (generate from an input with volume)"
        )
    index = out.index
    out.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return out.rename_axis("date")

