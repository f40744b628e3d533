"""Cells of an input table: conversion to numbers and times, and the defects found in them.

:mod:`pipeline.io.readers` reads every column as it was written (text for CSV) and converts
it here, one column at a time, into a :class:`Converted`: the values, and masks of empty and
unusable cells, with the original cells kept for messages. The readers gather the converted
columns into a :class:`CellTable`; :func:`cell_defects` lists what is wrong with its cells (in
the order ``repair=True`` drops rows), :func:`duplicate_rows` and :func:`high_low_problems`
what is wrong between cells, and :func:`widen_high_low` the repair of the latter. A defect
becomes a :class:`Problem`, one line of the refusal message that names the column, its first
offending rows (numbered from 1 = first data row) and what to fix.

Numbers: plain, with thousands separators (``1,234.5``, ``1'234.5``, ``1 234.5``), or with a
decimal comma (``1,25``, ``1.234,5``) when the file uses one. Times: datetimes, ``YYYYMMDD``
numbers, unix epochs (s/ms/us/ns, from 1973 on), text dates (see :mod:`pipeline.io.times`) and
separate clock columns; tz-aware times become naive UTC; years 1800..2199.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.io import times as _times
from pipeline.io.detect import Layout, option_hint

__all__ = [
    "MAX_SHOWN",
    "PRICE_COLUMNS",
    "CellTable",
    "Converted",
    "Defect",
    "Problem",
    "cell_defects",
    "duplicate_rows",
    "high_low_problems",
    "show_time",
    "to_clock",
    "to_float",
    "to_times",
    "uses_decimal_comma",
    "widen_high_low",
]

#: The price fields, in this order (each must be positive; High and Low bound the others).
PRICE_COLUMNS = ("Open", "High", "Low", "Close")

#: Offending rows a :class:`Problem` shows (with their values); the rest are counted.
MAX_SHOWN = 5
_NA_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "nat", "#n/a", "-", "--"})


# ------------------------------------------------------------------ messages


@dataclass
class Problem:
    """One kind of defect in one column, with the 1-based rows where it occurs.

    Attributes
    ----------
    column : str
        The input column's name, as written in the file.
    what : str
        The defect, plural-ready: ``"non-numeric value(s)"``.
    rows : numpy.ndarray
        Data-row numbers (1 = first data row) of every offending row.
    values : list of str
        How the first :data:`MAX_SHOWN` offending cells were written (may be empty).
    fix : str
        What the user should do about it.
    """

    column: str
    what: str
    rows: np.ndarray
    values: list[str] = field(default_factory=list)
    fix: str = ""

    def render(self) -> str:
        """The problem as one line of a refusal message."""
        count = len(self.rows)
        shown = []
        for i, row in enumerate(self.rows[:MAX_SHOWN]):
            value = f" ({self.values[i]})" if i < len(self.values) else ""
            shown.append(f"{int(row)}{value}")
        more = f" and {count - MAX_SHOWN} more" if count > MAX_SHOWN else ""
        word = "row" if count == 1 else "rows"
        text = f"- column '{self.column}': {count} {self.what} at {word} {', '.join(shown)}{more}."
        return f"{text} {self.fix}" if self.fix else text


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def show_time(stamp: np.datetime64) -> str:
    """A timestamp as a message shows it: without a midnight time of day."""
    text = str(pd.Timestamp(stamp))
    return text.removesuffix(" 00:00:00")


# --------------------------------------------------------------- conversions


_COMMA_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_DOT_DECIMAL = re.compile(r"^[+-]?\d*\.\d+$")
_THOUSANDS_COMMA = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
_THOUSANDS_DOT = r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$"


def _as_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    missing = text.isna() | text.str.lower().isin(_NA_TOKENS)
    return text.mask(missing)


def uses_decimal_comma(columns: list[pd.Series]) -> bool:
    """Decide once per file: more cells look like ``1,25`` than like ``1.25``."""
    comma = dot = 0
    for values in columns:
        if pd.api.types.is_numeric_dtype(values.dtype):
            continue
        text = _as_text(values).dropna()
        comma += int(text.str.match(_COMMA_DECIMAL).sum())
        dot += int(text.str.match(_DOT_DECIMAL).sum())
    return comma > dot


@dataclass
class Converted:
    """A column converted to an array, with masks of empty and unusable cells."""

    values: np.ndarray
    missing: np.ndarray
    bad: np.ndarray
    shown: np.ndarray  # the original cells, for messages
    how: str = ""  # times: how the cells were written, for the read report
    offsets: list[str] = field(default_factory=list)  # times: UTC offsets converted


def to_float(values: pd.Series, decimal_comma: bool) -> Converted:
    """Convert a price or volume column to float64.

    Parameters
    ----------
    values : pandas.Series
        The column as read: numbers, or text as written in the file.
    decimal_comma : bool
        Text cells use a decimal comma (``1,25``, ``1.234,5``); see
        :func:`uses_decimal_comma`. Otherwise commas are thousands separators.

    Returns
    -------
    Converted
        NaN where a cell is empty (``missing``) or not a finite number (``bad``).
    """
    shown = values.to_numpy(dtype=object)
    if pd.api.types.is_bool_dtype(values.dtype):
        nan = np.full(len(values), np.nan)
        return Converted(nan, np.zeros(len(values), bool), np.ones(len(values), bool), shown)
    if pd.api.types.is_numeric_dtype(values.dtype):
        # A copy: with copy-on-write the array may be a read-only view of the caller's frame.
        out = np.array(values.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
        missing = np.isnan(out)
        bad = np.isinf(out)
        out[bad] = np.nan
        return Converted(out, missing, bad, shown)
    text = _as_text(values)
    missing = text.isna().to_numpy()
    if not decimal_comma:
        # Most files hold plain numbers: parse them directly and clean only the cells that
        # fail (thousands separators, inner blanks). 3x faster on a 1,000,000-row file.
        out = np.array(pd.to_numeric(text, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan), copy=True)
        retry = ~missing & np.isnan(out)
        if retry.any():
            out[retry] = _clean_to_float(text[retry], missing[retry], shown[retry], False).values
        bad = ~missing & ~np.isfinite(out)
        out[bad] = np.nan
        return Converted(out, missing, bad, shown)
    return _clean_to_float(text, missing, shown, decimal_comma)


def _clean_to_float(text: pd.Series, missing: np.ndarray, shown: np.ndarray,
                    decimal_comma: bool) -> Converted:
    cleaned = text.str.replace(r"[\s\u00a0\u202f']", "", regex=True)
    if decimal_comma:
        cleaned = cleaned.mask(
            cleaned.str.match(_THOUSANDS_DOT).fillna(False), cleaned.str.replace(".", "")
        )
        cleaned = cleaned.str.replace(",", ".")
    else:
        cleaned = cleaned.mask(
            cleaned.str.match(_THOUSANDS_COMMA).fillna(False), cleaned.str.replace(",", "")
        )
    out = np.array(
        pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
        copy=True,
    )
    bad = ~missing & ~np.isfinite(out)
    out[bad] = np.nan
    return Converted(out, missing, bad, shown)


_EPOCH_MIN_NS = 1e17  # 1973-03-03 as unix nanoseconds
_NS_MAX = pd.Timestamp("2200-01-01").value


def _finish_times(parsed: pd.Series | pd.DatetimeIndex, missing: np.ndarray) -> np.ndarray:
    """tz-aware -> UTC -> naive, nanosecond unit, implausible years turned into NaT."""
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    lo, hi = pd.Timestamp("1800-01-01"), pd.Timestamp("2200-01-01")
    index = index.where((index >= lo) & (index < hi))
    out = index.as_unit("ns").to_numpy().copy()  # copy: may be a read-only view
    out[missing] = np.datetime64("NaT", "ns")
    return out


def _numeric_times(numbers: np.ndarray, allow_epoch: bool) -> tuple[np.ndarray, str]:
    """``YYYYMMDD`` integers, else unix epochs in s/ms/us/ns chosen by magnitude; the times
    and how they were read (for the read report)."""
    out = np.full(len(numbers), np.datetime64("NaT", "ns"))
    finite = np.isfinite(numbers)
    if not finite.any():
        return out, ""
    values = numbers[finite]
    integral = np.all(values == np.round(values))
    if integral and np.all((values >= 18000101) & (values <= 22001231)):
        text = pd.Series(values.astype(np.int64).astype(str))
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        out[finite] = pd.DatetimeIndex(parsed).as_unit("ns").to_numpy()
        return out, "YYYYMMDD numbers"
    if not allow_epoch:
        return out, ""
    magnitude = np.median(np.abs(values))
    scale = 1e9 if magnitude < 1e11 else 1e6 if magnitude < 1e14 else 1e3 if magnitude < 1e17 else 1
    ns = values * scale
    # Epochs before 1973 (below 1e8 seconds) are far more likely row counters than times.
    ok = (ns >= _EPOCH_MIN_NS) & (ns < _NS_MAX)
    stamps = np.full(len(values), np.datetime64("NaT", "ns"))
    stamps[ok] = ns[ok].astype(np.int64).astype("datetime64[ns]")
    out[finite] = stamps
    unit = {1e9: "seconds", 1e6: "milliseconds", 1e3: "microseconds"}.get(scale, "nanoseconds")
    return out, f"unix epoch {unit}"


_CLOCK_ONLY = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def to_times(values: pd.Series | pd.Index, *, allow_epoch: bool,
             date_format: str | None = None, column: str = "", label: str = "") -> Converted:
    """Convert a time column to naive UTC ``datetime64[ns]``.

    Parameters
    ----------
    values : pandas.Series or pandas.Index
        Datetimes (tz-aware ones are converted to UTC), numbers or text, or a mix of
        datetimes and text (spreadsheets).
    allow_epoch : bool
        Numbers that are not ``YYYYMMDD`` may be unix epochs (not for an unnamed column,
        which is more likely a saved row counter).
    date_format : str, optional
        ``strftime`` format of the text cells; cells that do not match it are bad.
    column, label : str
        The column and the file, named when mixed UTC offsets are refused.

    Returns
    -------
    Converted
        NaT where a cell is empty (``missing``) or not a time in 1800..2199 (``bad``);
        ``how`` says how the cells were read, ``offsets`` the UTC offsets converted.

    Raises
    ------
    InputDataError
        The text mixes times with and without a UTC offset.
    """
    series = pd.Series(values).reset_index(drop=True)
    shown = series.to_numpy(dtype=object)
    n = len(series)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        series.dtype
    ):
        missing = series.isna().to_numpy()
        out = _finish_times(series, missing)
        tz = getattr(series.dtype, "tz", None)
        return Converted(out, missing, np.isnat(out) & ~missing, shown, "datetime values",
                          [str(tz)] if tz is not None else [])
    if pd.api.types.is_bool_dtype(series.dtype):
        nat = np.full(n, np.datetime64("NaT", "ns"))
        return Converted(nat, np.zeros(n, bool), np.ones(n, bool), shown)
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(numbers)
        out, how = _numeric_times(numbers, allow_epoch)
        return Converted(out, missing, np.isnat(out) & ~missing, shown, how)

    # Text, or objects mixing datetimes and text (spreadsheets): datetimes go through as is.
    is_stamp = series.map(
        lambda v: (
            isinstance(v, (pd.Timestamp, np.datetime64))
            or (hasattr(v, "year") and hasattr(v, "month") and hasattr(v, "day"))
        )
    ).to_numpy(dtype=bool)
    text = _as_text(series.where(~is_stamp))
    missing = text.isna().to_numpy() & ~is_stamp
    out = np.full(n, np.datetime64("NaT", "ns"))
    if is_stamp.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(series[is_stamp].astype(object), errors="coerce", utc=True)
        out[is_stamp] = _finish_times(stamps, np.zeros(int(is_stamp.sum()), bool))
    has_text = ~missing & ~is_stamp
    how, offsets = "datetime values" if is_stamp.any() else "", []
    if has_text.any():
        words = text[has_text]
        numeric = pd.to_numeric(words, errors="coerce")
        if numeric.notna().all() and date_format is None:
            out[has_text], how = _numeric_times(numeric.to_numpy(dtype=np.float64), allow_epoch)
        elif date_format is not None or not words.str.match(_CLOCK_ONLY).all():
            offsets = _times.check_offsets(words, column, label)
            parsed, how = _times.parse_text(words, date_format)
            out[has_text] = _finish_times(parsed, np.zeros(len(words), bool))
    return Converted(out, missing, np.isnat(out) & ~missing, shown, how, offsets)


def to_clock(values: pd.Series) -> Converted:
    """Convert a ``Time`` column (``09:30``, ``09:30:00``, time objects, day fractions)."""
    series = values.reset_index(drop=True)
    shown = series.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        # Spreadsheets store a time of day as a fraction of a day.
        days = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(days)
        ok = ~missing & (days >= 0) & (days < 1)
        out = np.full(len(series), np.timedelta64("NaT", "ns"))
        out[ok] = np.round(days[ok] * 86_400e9).astype(np.int64).astype("timedelta64[ns]")
        return Converted(out, missing, ~missing & ~ok, shown)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = pd.DatetimeIndex(series)
        out = (stamps - stamps.normalize()).as_unit("ns").to_numpy().copy()
        missing = np.isnat(out)
        return Converted(out, missing, np.zeros(len(series), bool), shown)
    text = _as_text(series.map(lambda v: v.strftime("%H:%M:%S.%f") if hasattr(v, "hour") else v))
    missing = text.isna().to_numpy()
    # "09:30" is read by to_timedelta as minutes:seconds; pad it to hours:minutes:seconds.
    padded = text.where(~text.str.match(r"^\d{1,2}:\d{2}$").fillna(False), text + ":00")
    clock = padded.where(padded.str.match(_CLOCK_ONLY).fillna(False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        delta = pd.to_timedelta(clock, errors="coerce")
    out = pd.TimedeltaIndex(delta).as_unit("ns").to_numpy().copy()
    too_long = ~np.isnat(out) & (out >= np.timedelta64(1, "D"))
    out[too_long] = np.timedelta64("NaT", "ns")
    return Converted(out, missing, np.isnat(out) & ~missing, shown)


# ------------------------------------------------------------------- defects


@dataclass
class CellTable:
    """The converted input, one entry per input row, before any row is dropped."""

    label: str
    rows: np.ndarray  # 1-based data-row numbers, as in the input
    times: Converted
    time_column: str
    values: dict[str, Converted]  # output name -> converted cells
    columns: dict[str, str]  # output name -> input column name
    blank: np.ndarray  # rows with every used cell empty
    time_kind: str  # as in Layout
    layout: Layout


Defect = tuple[str, np.ndarray, Callable[[np.ndarray], Problem]]


def cell_defects(table: CellTable) -> list[Defect]:
    """Cell-level defects as ``(repair reason, row mask, problem maker)``, in repair order."""

    def maker(conv: Converted, column: str, what: str, fix: str, *, show: bool = True):
        def make(hit: np.ndarray) -> Problem:
            idx = np.flatnonzero(hit)[:MAX_SHOWN]
            shown = [_show(conv.shown[i]) for i in idx] if show else []
            return Problem(column, what, table.rows[hit], shown, fix)

        return make

    times, values, columns = table.times, table.values, table.columns
    defects: list[Defect] = [
        (
            "bad_timestamp",
            times.missing,
            maker(
                times,
                table.time_column,
                "empty timestamp cell(s)",
                "Fill in the date or drop the row.",
                show=False,
            ),
        ),
        (
            "bad_timestamp",
            times.bad,
            maker(
                times,
                table.time_column,
                "unparseable timestamp(s)",
                "Use one date format throughout, e.g. 2024-01-31 or 2024-01-31 09:30:00, "
                "with years 1800-2199; numbers are read as YYYYMMDD or as unix epoch "
                "seconds/milliseconds after 1973."
                + (
                    " A Time column alone must hold dates too: for clock times add a Date column."
                    if table.time_kind == "time"
                    else ""
                )
                + (
                    f" The cells do not match date_format {table.times.how[13:-1]!r}."
                    if table.times.how.startswith("date_format")
                    else f" Or give the format with {option_hint('date_format')}."
                ),
            ),
        ),
    ]
    defects += [
        (
            "missing_value",
            conv.missing,
            maker(
                conv, columns[name], "empty cell(s)", f"Every row needs a {name} value.", show=False
            ),
        )
        for name, conv in values.items()
    ]
    defects += [
        (
            "non_numeric_value",
            conv.bad,
            maker(
                conv,
                columns[name],
                "non-numeric value(s)",
                "Write plain finite numbers such as 101.25 (a decimal comma such as 101,25 "
                "works with ';' or tab delimiters).",
            ),
        )
        for name, conv in values.items()
    ]
    defects += [
        (
            "non_positive_price",
            values[name].values <= 0,
            maker(
                values[name], columns[name], "non-positive price(s)", "Prices must be above zero."
            ),
        )
        for name in PRICE_COLUMNS
    ]
    if "Volume" in values:
        volume = values["Volume"]
        defects.append(
            (
                "negative_volume",
                volume.values < 0,
                maker(
                    volume, columns["Volume"], "negative volume(s)", "Volume must be zero or more."
                ),
            )
        )
    return defects


def duplicate_rows(stamps: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (among ``keep``) whose timestamp repeats: all of them, and all but the last."""
    order = np.flatnonzero(keep)
    order = order[np.argsort(stamps[order], kind="stable")]
    same_as_next = stamps[order][:-1] == stamps[order][1:]
    involved = np.zeros(len(stamps), bool)
    earlier = np.zeros(len(stamps), bool)
    # The stable sort keeps equal timestamps in input order, so the last one of a run is the
    # row that repair keeps.
    earlier[order[:-1][same_as_next]] = True
    involved[order[:-1][same_as_next]] = True
    involved[order[1:][same_as_next]] = True
    return involved, earlier


def high_low_problems(table: CellTable, keep: np.ndarray) -> list[Problem]:
    """Rows among ``keep`` whose High or Low does not bound the bar's other prices."""
    o, h, low, c = (table.values[name].values for name in PRICE_COLUMNS)

    def problem(mask: np.ndarray, column: str, what: str, fix: str) -> list[Problem]:
        hit = keep & mask
        if not hit.any():
            return []
        shown = [
            f"O={o[i]:g} H={h[i]:g} L={low[i]:g} C={c[i]:g}"
            for i in np.flatnonzero(hit)[:MAX_SHOWN]
        ]
        return [Problem(table.columns[column], what, table.rows[hit], shown, fix)]

    with np.errstate(invalid="ignore"):
        return [
            *problem(h < low, "High", "High below Low", "High and Low look swapped."),
            *problem(
                h < np.fmax(o, c),
                "High",
                "High below max(Open, Close)",
                "High must be the highest price of the bar.",
            ),
            *problem(
                low > np.fmin(o, c),
                "Low",
                "Low above min(Open, Close)",
                "Low must be the lowest price of the bar.",
            ),
        ]


def widen_high_low(table: CellTable, keep: np.ndarray) -> int:
    """Set High/Low to the max/min of the row's four prices where they are violated."""
    stack = np.vstack([table.values[name].values for name in PRICE_COLUMNS])
    high, low = stack.max(axis=0), stack.min(axis=0)
    fix = keep & ((table.values["High"].values < high) | (table.values["Low"].values > low))
    table.values["High"].values[fix] = high[fix]
    table.values["Low"].values[fix] = low[fix]
    return int(fix.sum())
