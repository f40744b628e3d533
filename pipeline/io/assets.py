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

import numpy as np
import pandas as pd

from pipeline.errors import InputDataError, SMEWarning
from pipeline.io.detect import WIDE_FIELDS, normalize_name, parse_wide_column
from pipeline.io.limits import LIBRARY_LIMITS, InputLimits
from pipeline.io.readers import MIN_ROWS, _read_table, load_ohlcv, load_sample

__all__ = ["LAYOUTS", "SYMBOL_PATTERN", "align_assets", "combine_header_rows", "load_assets",
           "parse_wide_column", "split_long", "split_wide", "trim_unlisted"]

LAYOUTS = ("long", "wide")
#: What a symbol may be: it names files and metric keys (``SYM:metric``, ``corr:A|B``).
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9_.^=\-]{1,40}$")
_FIELD_NAMES = ("Open", "High", "Low", "Close", "Volume")


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
    for symbol, frame in frames.items():
        if frame.attrs.get("trimmed_rows"):
            report[symbol]["trimmed"] = int(frame.attrs["trimmed_rows"])
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
    wanted = normalize_name(symbol_column)
    matches = [c for c in raw.columns if normalize_name(c) == wanted]
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


_UNSAFE = re.compile(r"[^A-Za-z0-9_.^=\-]+")


def _safe_symbol(symbol: str, label: str, renamed: dict[str, str]) -> str:
    """A symbol usable in file names: path characters become ``-`` (and are reported)."""
    if SYMBOL_PATTERN.match(symbol):
        return symbol
    safe = _UNSAFE.sub("-", symbol).strip("-.")[:40]
    if not safe or not SYMBOL_PATTERN.match(safe):
        return _check_symbol(symbol, label)
    renamed[symbol] = safe
    return safe


def split_wide(raw: pd.DataFrame, label: str) -> dict[str, pd.DataFrame]:
    """Split a wide table (``SPX_Close``, ``Close.NDX``, ``BTC:close``, two-row headers).

    Columns that name no (symbol, field) pair, such as the time columns, are shared by every
    symbol. A symbol with characters that cannot be part of a file name (``BTC/USD``) is kept
    as a safe one (``BTC-USD``), with a warning; two symbols that become the same are refused.
    """
    pairs: dict[str, dict[str, Any]] = {}
    shared = []
    renamed: dict[str, str] = {}
    for column in raw.columns:
        found = parse_wide_column(column)
        if found is None:
            shared.append(column)
            continue
        symbol = _safe_symbol(found[0], label, renamed)
        if symbol in pairs and found[1] in pairs[symbol]:
            raise InputDataError(
                f"{label}: columns {pairs[symbol][found[1]]!r} and {column!r} are both "
                f"{symbol} {found[1]}" + (" once their symbols are made usable in file names"
                                          if renamed else "") + "; rename one of them")
        pairs.setdefault(symbol, {})[found[1]] = column
    if not pairs:
        raise InputDataError(
            f"{label}: no SYMBOL_Field columns in a wide table (e.g. SPX_Close, NDX_Close, "
            f"BTC:close); columns are {[str(c) for c in raw.columns][:20]}")
    if renamed:
        warnings.warn(f"{label}: symbols with characters not allowed in file names were "
                      "renamed: " + ", ".join(f"{a!r} -> {b!r}" for a, b in renamed.items()),
                      SMEWarning, stacklevel=3)
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


def trim_unlisted(part: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop the rows at either end of one asset's part of a wide table where all its fields
    are empty (the asset was not listed yet, or no longer); return them counted.

    Either end, because files are written oldest or newest first.
    """
    fields = [c for c in part.columns if c in _FIELD_NAMES]
    if not fields or part.empty:
        return part, 0
    cells = part[fields].astype("string").apply(lambda s: s.str.strip())
    empty = (cells.isna() | cells.eq("")).all(axis=1).to_numpy()
    filled = np.flatnonzero(~empty)
    if not len(filled):
        return part, 0
    first, last = int(filled[0]), int(filled[-1])
    trimmed = first + (len(part) - 1 - last)
    return (part.iloc[first:last + 1].reset_index(drop=True), trimmed) if trimmed else (part, 0)


_NUMBER = re.compile(r"^[+-]?[\d.,eE:/\s-]+$")


def _mostly_fields(cells: list[str]) -> bool:
    return bool(cells) and sum(normalize_name(c) in WIDE_FIELDS for c in cells) * 2 > len(cells)


def combine_header_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Join a two-row header (symbols on one row, fields on the next, either way round) into
    ``(symbol, field)`` column pairs; the table unchanged when it has no such header.

    A third row holding only the index name (``Date,,,,``, as pandas writes a named index
    under a two-level header) names the shared first column.
    """
    header = [re.sub(r"\.\d+$", "", str(c)) for c in raw.columns]  # undo read_csv's "BTC.1"
    if len(raw) < 2 or any(parse_wide_column(c) for c in header):
        return raw
    row = ["" if pd.isna(v) else str(v).strip() for v in raw.iloc[0].tolist()]
    values = [v for v in row[1:] if v]
    names = [h for h in header[1:] if not h.lower().startswith("unnamed")]
    if _mostly_fields(values):
        symbols_row = names
    elif _mostly_fields(names):
        symbols_row = values
    else:
        return raw
    if not symbols_row or any(_NUMBER.match(v) for v in symbols_row):
        return raw  # numbers under a header of fields: a one-series table, not a two-row header
    symbols = []
    for name in header:  # a symbol written once over its group of fields
        unnamed = not name or name.lower().startswith("unnamed")
        symbols.append(symbols[-1] if unnamed and symbols else ("" if unnamed else name))
    columns: list[Any] = [(a, b) if b else a for a, b in zip(symbols, row, strict=True)]
    body = raw.iloc[1:]
    first = ["" if pd.isna(v) else str(v).strip() for v in body.iloc[0].tolist()] \
        if len(body) else []
    if first and first[0] and not any(first[1:]):
        columns[0] = first[0]
        body = body.iloc[1:]
    elif isinstance(columns[0], tuple):
        columns[0] = ""
    out = body.reset_index(drop=True)
    out.columns = [c if isinstance(c, tuple) else (c if c and not c.lower().startswith("unnamed")
                                                   else "") for c in columns]
    return out


def _raw_table(source: Any, storage_options: Mapping[str, Any] | None,
               skiprows: int | None = None, limits: InputLimits = LIBRARY_LIMITS
               ) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        frame = source
        if isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.reset_index()
        return frame, "<DataFrame>"
    raw, label, _ = _read_table(source, storage_options, None, 0, skiprows, limits)
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
    columns: Mapping[str, str] | None = None,
    skiprows: int | None = None,
    date_format: str | None = None,
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
    repair, storage_options, skiprows, date_format, limits
        As for :func:`~pipeline.io.readers.load_ohlcv`.
    columns : mapping, optional
        As for :func:`~pipeline.io.readers.load_ohlcv`, applied to every asset; a wide table
        takes only ``time`` (its other columns are named per symbol).

    Notes
    -----
    In a wide table, the rows at either end where all of an asset's fields are empty (it was
    listed later, or stopped) are trimmed before alignment; a warning says how many, and
    ``attrs["trimmed_rows"]`` and the alignment report of each frame record it.

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
                                            columns=columns, skiprows=skiprows,
                                            date_format=date_format, limits=limits)
        return align_assets(frames)
    if layout not in LAYOUTS:
        raise InputDataError(f"input.layout: expected one of {', '.join(LAYOUTS)}, got "
                             f"{layout!r}")
    if layout == "wide" and columns and set(columns) - {"time"}:
        raise InputDataError(f"columns: a wide table takes only 'time' (its price columns are "
                             f"named per symbol), got {sorted(columns)}")
    raw, label = _raw_table(source, storage_options, skiprows, limits or LIBRARY_LIMITS)
    label = os.fspath(label) if not isinstance(label, str) else label
    if layout == "long":
        split = split_long(raw, label, symbol_column)
    else:
        split = split_wide(combine_header_rows(raw), label)
    trimmed = {}
    for symbol, part in split.items():
        if layout == "wide":
            part, trimmed[symbol] = trim_unlisted(part)
        frames[symbol] = load_ohlcv(part, repair=repair, name=f"{label} [{symbol}]",
                                    columns=columns, date_format=date_format)
        frames[symbol].attrs["source"] = f"{label} [{symbol}]"
        if trimmed.get(symbol):
            frames[symbol].attrs["trimmed_rows"] = trimmed[symbol]
    if any(trimmed.values()):
        warnings.warn(
            f"{label}: empty rows at the start or end of an asset's history (listed later, or "
            "stopped) were trimmed before alignment: "
            + ", ".join(f"{s} {n}" for s, n in sorted(trimmed.items()) if n), SMEWarning,
            stacklevel=2)
    return align_assets(frames)
