"""Several assets at once: loading (one file per asset, a long table, a wide table) and alignment.

Assets are generated with shared block indices, so their bars must line up: :func:`align_assets`
keeps the timestamps every asset has (an inner join) and reports how many rows each asset lost.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline.errors import InputDataError, SMEWarning
from pipeline.io.limits import LIBRARY_LIMITS, InputLimits
from pipeline.io.readers import (
    MIN_ROWS,
    _normalize_name,
    _parse_bytes,
    _read_source,
    load_ohlcv,
    load_sample,
)

__all__ = ["LAYOUTS", "SYMBOL_PATTERN", "align_assets", "load_assets", "split_long",
           "split_wide"]

LAYOUTS = ("long", "wide")
_FIELDS = {"open": "Open", "o": "Open", "high": "High", "h": "High", "low": "Low", "l": "Low",
           "close": "Close", "c": "Close", "volume": "Volume", "vol": "Volume", "v": "Volume",
           "adjclose": "Adj Close"}
#: What a symbol may be: it names files and metric keys (``SYM:metric``, ``corr:A|B``).
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9_.^=\-]{1,40}$")
_SEPARATORS = re.compile(r"[ _.:/\-]")


def _check_symbol(symbol: Any, label: str) -> str:
    text = str(symbol).strip()
    if not SYMBOL_PATTERN.match(text) or any(c in text for c in ":|/\\"):
        raise InputDataError(f"{label}: symbol {symbol!r} is not usable; use letters, digits and "
                             "_ . ^ = - (at most 40 characters)")
    return text


def align_assets(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Keep the timestamps all assets share.

    Parameters
    ----------
    frames : mapping of symbol to validated OHLCV DataFrame

    Returns
    -------
    dict of symbol to DataFrame
        Same timestamps in every frame, symbols in sorted order (the order is part of a run's
        identity and must survive JSON round trips, which sort keys). ``attrs["alignment"]`` of each frame (and the warning
        raised when rows were dropped) says per asset how many rows it had and how many it lost.

    Raises
    ------
    InputDataError
        Fewer than ``MIN_ROWS`` common timestamps remain.
    """
    if not frames:
        raise InputDataError("assets: no assets given")
    common = None
    for frame in frames.values():
        common = frame.index if common is None else common.intersection(frame.index)
    report = {s: {"rows": len(f), "dropped": int(len(f) - len(common))}
              for s, f in sorted(frames.items())}
    if len(common) < MIN_ROWS:
        detail = ", ".join(f"{s}: {r['rows']} rows" for s, r in report.items())
        raise InputDataError(
            f"assets: only {len(common)} timestamps are common to all assets ({detail}); at "
            f"least {MIN_ROWS} are needed. Check that the assets cover the same period at the "
            "same bar spacing.")
    out = {}
    for symbol, frame in sorted(frames.items()):
        aligned = frame.loc[common].copy()
        aligned.attrs = {**frame.attrs, "alignment": report}
        out[symbol] = aligned
    lost = {s: r["dropped"] for s, r in report.items() if r["dropped"]}
    if lost:
        warnings.warn(
            f"assets aligned on {len(common)} common timestamps; rows dropped: "
            + ", ".join(f"{s} {n}" for s, n in lost.items()), SMEWarning, stacklevel=2)
    return out


def split_long(raw: pd.DataFrame, label: str, symbol_column: str = "symbol"
               ) -> dict[str, pd.DataFrame]:
    """Split a long table (one row per symbol and bar) into one raw table per symbol."""
    wanted = _normalize_name(symbol_column)
    matches = [c for c in raw.columns if _normalize_name(c) == wanted]
    if not matches:
        raise InputDataError(
            f"{label}: no symbol column {symbol_column!r} in a long table; columns are "
            f"{[str(c) for c in raw.columns][:20]}. Set input.symbol_column.")
    col = matches[0]
    if raw.empty:
        raise InputDataError(f"{label}: the table has no data rows")
    if raw[col].isna().any():
        rows = (raw.index[raw[col].isna()][:5] + 1).tolist()
        raise InputDataError(f"{label}: column {col!r} is empty in data rows {rows}")
    out = {}
    for symbol, group in raw.groupby(raw[col].astype(str).str.strip(), sort=False):
        out[_check_symbol(symbol, label)] = group.drop(columns=[col]).reset_index(drop=True)
    return out


def split_wide(raw: pd.DataFrame, label: str) -> dict[str, pd.DataFrame]:
    """Split a wide table (``SPX_Close``, ``Close.NDX``, or (field, symbol) column pairs).

    Columns that name no (symbol, field) pair, such as the time columns, are shared by every
    symbol.
    """
    pairs: dict[str, dict[str, Any]] = {}
    shared = []
    for column in raw.columns:
        parts = [str(p) for p in column] if isinstance(column, tuple) else \
            _SEPARATORS.split(str(column).strip(), maxsplit=1)
        found = None
        if len(parts) == 2:
            a, b = (p.strip() for p in parts)
            if _normalize_name(a) in _FIELDS and b:
                found = (b, _FIELDS[_normalize_name(a)])
            elif _normalize_name(b) in _FIELDS and a:
                found = (a, _FIELDS[_normalize_name(b)])
        if found is None:
            shared.append(column)
        else:
            pairs.setdefault(_check_symbol(found[0], label), {})[found[1]] = column
    if not pairs:
        raise InputDataError(
            f"{label}: no SYMBOL_Field columns in a wide table (e.g. SPX_Close, NDX_Close); "
            f"columns are {[str(c) for c in raw.columns][:20]}")
    out = {}
    for symbol, fields in pairs.items():
        missing = [f for f in ("Open", "High", "Low", "Close") if f not in fields]
        if missing:
            raise InputDataError(f"{label}: symbol {symbol} has no {missing} column(s) in the "
                                 "wide table")
        part = raw[shared + list(fields.values())].copy()
        part.columns = [str(c) if not isinstance(c, tuple) else "_".join(map(str, c))
                        for c in shared] + list(fields)
        out[symbol] = part
    return out


def _raw_table(source: Any, storage_options: Mapping[str, Any] | None,
               limits: InputLimits) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        frame = source
        if isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.reset_index()
        return frame, "<DataFrame>"
    data, label = _read_source(source, storage_options, None, limits)
    raw, _ = _parse_bytes(data, label, 0, limits)
    if isinstance(raw.index, pd.DatetimeIndex):
        # A Parquet file written from a frame keeps its time index (the engine's own long
        # outputs do): make it a column like any other table's.
        raw = raw.reset_index()
    return raw, label


def load_assets(
    source: Any = None,
    *,
    assets: Mapping[str, Any] | None = None,
    layout: str = "long",
    symbol_column: str = "symbol",
    repair: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    limits: InputLimits | None = None,
) -> dict[str, pd.DataFrame]:
    """Load several assets, validate each like :func:`~pipeline.io.readers.load_ohlcv`, align them.

    Parameters
    ----------
    source : path, URL, file object or DataFrame, optional
        One table holding every asset, in ``layout``.
    assets : mapping of symbol to source, optional
        One source per asset instead: a path/URL, a DataFrame, or ``"sample:sp500"`` for a
        built-in sample.
    layout : {"long", "wide"}
        ``long``: one row per bar and symbol, with a ``symbol_column``; ``wide``: one row per
        bar, columns ``SYMBOL_Field``.
    symbol_column : str
    repair, storage_options, limits
        As for :func:`~pipeline.io.readers.load_ohlcv`.

    Returns
    -------
    dict of symbol to DataFrame, aligned (see :func:`align_assets`).
    """
    if (source is None) == (assets is None):
        raise InputDataError("give either one multi-asset table (source) or a mapping of assets")
    frames: dict[str, pd.DataFrame] = {}
    if assets is not None:
        if not isinstance(assets, Mapping) or not assets:
            raise InputDataError("assets: expected a non-empty mapping of symbol to file")
        for symbol, src in assets.items():
            symbol = _check_symbol(symbol, "assets")
            if isinstance(src, str) and src.startswith("sample:"):
                frames[symbol] = load_sample(src.removeprefix("sample:"))
            else:
                frames[symbol] = load_ohlcv(src, repair=repair, storage_options=storage_options,
                                            limits=limits)
    else:
        if layout not in LAYOUTS:
            raise InputDataError(f"input.layout: expected one of {', '.join(LAYOUTS)}, got "
                                 f"{layout!r}")
        raw, label = _raw_table(source, storage_options, limits or LIBRARY_LIMITS)
        label = os.fspath(label) if not isinstance(label, str) else label
        split = split_long(raw, label, symbol_column) if layout == "long" else \
            split_wide(raw, label)
        for symbol, part in split.items():
            frames[symbol] = load_ohlcv(part, repair=repair, name=f"{label} [{symbol}]")
            frames[symbol].attrs["source"] = f"{label} [{symbol}]"
    return align_assets(frames)
