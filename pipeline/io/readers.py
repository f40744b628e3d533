"""Input readers: load one OHLCV table, normalize it and validate it.

Every input path of the engine (CLI, notebook, Dask runner, REST upload) goes through
:func:`load_ohlcv`, so a file is accepted or rejected the same way everywhere.  The reader
works in three steps:

1. **read** -- bytes from a local path, an fsspec URL or a file-like object, parsed as CSV
   (comma, semicolon or tab; decimal point or decimal comma), XLSX or Parquet; or a
   :class:`pandas.DataFrame` taken as is;
2. **normalize** -- map column names and aliases onto ``Open, High, Low, Close, Volume``,
   build a tz-naive ``DatetimeIndex`` named ``Date`` and convert every cell to float64;
3. **validate** (or, with ``repair=True``, drop and fix rows first) -- the result is
   sorted by time, has unique timestamps, positive finite prices, non-negative volume,
   ``Low <= min(Open, Close) <= max(Open, Close) <= High`` and at least :data:`MIN_ROWS` rows.

Problems are reported as one :class:`~pipeline.errors.InputDataError` that names the file,
each offending column and its first offending rows, and says what to fix.

Reading rules
-------------
*Formats.* Binary formats are recognised by their magic bytes (``PK`` -> XLSX, ``PAR1`` ->
Parquet, ``1f 8b`` -> gzip-compressed CSV), everything else is read as CSV text. A file named
``.xlsx``/``.parquet`` whose bytes do not match is rejected rather than guessed at. The CSV
delimiter (comma, semicolon, tab) is taken from the header line; with semicolon or tab
delimiters a decimal comma (``1,25``, also ``1.234,5``) is recognised when most numeric cells
use it.

*Header.* Lines above the header (a banner such as ``Created on 10-17-2019,https://...``) are
detected and skipped; ``skiprows`` overrides this.

*Columns.* Names are matched ignoring case, blanks, ``_``, ``-``, ``.`` and ``<>``; aliases are
``o/h/l/c/v`` and ``vol``; volume is taken by a documented precedence (plain volume, quote
volume such as ``VolumeTo``, base volume such as ``volume_btc``, then ``turnover``/``value``;
see :mod:`pipeline.io.detect`). A ``symbol`` column holding one symbol is set aside; holding
several, the table is refused (load it with :func:`~pipeline.io.assets.load_assets` and
``layout="long"``). Other columns are ignored. **Adj Close is dropped**: adjusted prices are not
consistent with Open/High/Low, so it is never used as Close and is not kept, which keeps the
output schema fixed for all downstream code.

*Time.* In order of preference: a ``DateTime``/``Timestamp`` column, ``Date`` plus ``Time``
(combined), ``Date``, ``Time``, an unnamed first column of dates (a saved pandas index), the
DataFrame's ``DatetimeIndex``. Numeric values are read as ``YYYYMMDD`` when they all look like
it, else as unix epochs in seconds, milliseconds, microseconds or nanoseconds, chosen by
magnitude, from 1973 on (earlier values are more likely row counters); an unnamed first column
is used only when it holds dates, never epochs. Text dates are parsed month-first and day-first
and the reading with fewer failures (then the one in time order) wins; 12-hour clocks
(``09-AM``, ``9:00 PM``) and dotted dates (``01.01.2017``, always day first) are recognised.
tz-aware times are converted to UTC and made naive; a column mixing timestamps with and without
a UTC offset is refused. Years must be in 1800..2199. Rows are sorted by time; unsorted input is
not an error.

*Row numbers* in messages count data rows from 1 (the header is not counted), in the order of
the input, for every format; fully empty rows are skipped silently but still counted, so numbers
stay aligned with the file's data rows.
"""

from __future__ import annotations

import importlib.resources
import io
import os
import warnings
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import fsspec
import numpy as np
import pandas as pd

from pipeline.errors import DataRepairWarning, InputDataError, MissingVolumeWarning
from pipeline.io.cells import (
    MAX_SHOWN,
    PRICE_COLUMNS,
    CellTable,
    Converted,
    Problem,
    cell_defects,
    duplicate_rows,
    high_low_problems,
    show_time,
    to_clock,
    to_float,
    to_times,
    uses_decimal_comma,
    widen_high_low,
)
from pipeline.io.detect import (
    Layout,
    check_read_options,
    find_layout,
    option_hint,
    skip_banner,
)
from pipeline.io.inspect import (
    READ_REPORT,
    ReadReport,
    build_read_report,
    find_spikes,
    input_order,
    warn_spikes,
)
from pipeline.io.limits import (
    LIBRARY_LIMITS,
    InputLimits,
    check_content,
    inflate_gzip,
    unique_names,
)
from pipeline.redaction import redact_text

__all__ = [
    "MIN_ROWS",
    "OHLCV_COLUMNS",
    "PRICE_COLUMNS",
    "SAMPLE_NAMES",
    "REPAIR_REASONS",
    "inspect_ohlcv",
    "load_ohlcv",
    "load_sample",
]

#: Fewest rows an input may have: the fidelity metrics (tail quantiles, ARCH LM, Ljung-Box,
#: drawdowns, bootstrap spreads) are not meaningful on shorter series.
MIN_ROWS = 200

#: The output columns, in this order (``Volume`` only when the input has volume).
OHLCV_COLUMNS = ("Open", "High", "Low", "Close", "Volume")

#: Names accepted by :func:`load_sample`.
SAMPLE_NAMES = ("sp500", "nasdaq", "sample")

#: Keys of ``frame.attrs["repair_report"]``, in the order the repairs are applied.
REPAIR_REASONS = (
    "bad_timestamp",
    "missing_value",
    "non_numeric_value",
    "non_positive_price",
    "negative_volume",
    "duplicate_timestamp",
    "high_low_fixed",
)

_ROW_NOTE = "rows are numbered from 1 = first data row, the header is not counted"

_EXT_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
}


# --------------------------------------------------------------------------- messages


def _fail(label: str, problem: str) -> InputDataError:
    return InputDataError(f"Cannot use {label!r} as OHLCV input: {problem}")


# --------------------------------------------------------------------------- reading


def _read_source(
    source: Any,
    storage_options: Mapping[str, Any] | None,
    name: str | None,
    limits: InputLimits = LIBRARY_LIMITS,
) -> tuple[bytes, str]:
    """Return the raw bytes of ``source`` (at most one byte over ``limits.max_bytes``, which
    :func:`~pipeline.io.limits.check_content` then refuses) and the label used in messages."""
    if isinstance(source, (str, os.PathLike)):
        label = name or redact_text(os.fspath(source))
        try:
            with fsspec.open(os.fspath(source), "rb", **dict(storage_options or {})) as handle:
                data = handle.read(limits.max_bytes + 1)
        except FileNotFoundError as exc:
            raise _fail(label, "the file does not exist. Check the path or URL.") from exc
        except IsADirectoryError as exc:
            raise _fail(label, "this is a directory, not a file.") from exc
        except Exception as exc:  # fsspec backends raise many kinds; the user needs the gist
            raise _fail(
                label, f"the file could not be opened ({type(exc).__name__}: "
                f"{redact_text(str(exc))})."
            ) from exc
        return data, label
    if hasattr(source, "read"):
        label = name or str(getattr(source, "name", None) or "<upload>")
        try:
            data = source.read(limits.max_bytes + 1)
        except Exception as exc:
            raise _fail(label, f"the upload could not be read ({exc}).") from exc
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise _fail(label, "the file-like object did not return bytes.")
        return bytes(data), label
    raise InputDataError(
        f"Cannot read OHLCV input of type {type(source).__name__}: pass a path, an fsspec URL, "
        "a binary file-like object or a pandas DataFrame."
    )


_BINARY_FORMAT_NAMES = {"xlsx": "an XLSX workbook", "parquet": "a Parquet file"}


def _detect_format(data: bytes, label: str) -> tuple[str, bool]:
    """Return ``(format, gzipped)`` from magic bytes first, then the extension.

    Magic bytes win because uploads often carry a wrong or missing extension; a binary
    extension on a file whose bytes do not match is reported instead of guessed around.
    """
    lower = label.lower().split("?", 1)[0]
    gzipped = data[:2] == b"\x1f\x8b"
    if lower.endswith(".gz"):
        lower = lower[:-3]
    ext = os.path.splitext(lower)[1]
    if not gzipped:
        if data[:4] == b"PK\x03\x04":
            return "xlsx", False
        if data[:4] == b"PAR1":
            return "parquet", False
    by_ext = _EXT_FORMATS.get(ext)
    if ext == ".xls":
        raise _fail(label, "old .xls workbooks are not supported. Save the sheet as .xlsx or .csv.")
    if by_ext in _BINARY_FORMAT_NAMES and not gzipped:
        raise _fail(
            label,
            f"the extension says {ext} but the content is not {_BINARY_FORMAT_NAMES[by_ext]}. "
            "Check that the file was not truncated or renamed.",
        )
    return "csv", gzipped


def _parse_bytes(data: bytes, label: str, sheet_name: str | int,
                 skiprows: int | None = None, limits: InputLimits = LIBRARY_LIMITS
                 ) -> tuple[pd.DataFrame, bool]:
    """Parse bytes into a raw table; return it and whether decimal commas may occur."""
    if not data.strip():
        raise _fail(label, "the file is empty. Provide a table with a header row and data rows.")
    fmt, gzipped = _detect_format(data, label)
    if gzipped:
        try:
            data = inflate_gzip(data, label, limits)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(label, f"the gzip data is corrupt or truncated ({exc}).") from exc
        if not data.strip():
            raise _fail(label, "the compressed file is empty.")
    check_content(data, fmt, label, limits)
    try:
        if fmt == "xlsx":
            raw = pd.read_excel(io.BytesIO(data), sheet_name=sheet_name, engine="openpyxl",
                                skiprows=skiprows)
            return _with_read_info(raw, "xlsx", skiprows, []), True
        if fmt == "parquet":
            raw = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
            return _with_read_info(raw, "parquet", None, []), True
        return _parse_csv(data, label, skiprows)
    except InputDataError:
        raise
    except Exception as exc:  # pandas/openpyxl/pyarrow/zipfile errors must not reach users bare
        what = _BINARY_FORMAT_NAMES.get(fmt, "a CSV table")
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " and that every row has as many fields as the header" if fmt == "csv" else ""
        raise _fail(
            label,
            f"it could not be read as {what} ({detail}). Check that the file is complete{hint}.",
        ) from exc


def _source_label(source: Any, name: str | None) -> str:
    """How messages name ``source`` before it is read (no credentials of a URL)."""
    if name:
        return name
    if isinstance(source, pd.DataFrame):
        return "<DataFrame>"
    if isinstance(source, (str, os.PathLike)):
        return redact_text(os.fspath(source))
    return "<upload>"


def _read_table(source: Any, storage_options: Mapping[str, Any] | None, name: str | None,
                sheet_name: str | int, skiprows: int | None, limits: InputLimits
                ) -> tuple[pd.DataFrame, str, bool]:
    """The raw table of a path, URL or file-like ``source``, its label in messages (from the
    file-like's name if it has one) and whether decimal commas may occur."""
    data, label = _read_source(source, storage_options, name, limits)
    raw, decimal_comma_allowed = _parse_bytes(data, label, sheet_name, skiprows, limits)
    if isinstance(raw, dict):  # sheet_name=None returns every sheet
        raise _fail(label, "sheet_name must name one worksheet, not None.")
    return raw, label, decimal_comma_allowed


def _decode(data: bytes, label: str) -> str:
    if b"\x00" in data[:4096]:
        raise _fail(label, "this is a binary file, not a CSV, XLSX or Parquet table.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet exports on Windows are often cp1252/latin-1; latin-1 never fails.
        return data.decode("latin-1")


def _with_read_info(raw: Any, fmt: str, skiprows: int | None, banner: list[str],
                    skipped: int = 0, delimiter: str | None = None) -> Any:
    """Note on the parsed table how it was read (``attrs`` travel with it to the report)."""
    if isinstance(raw, pd.DataFrame):
        raw.attrs[_READ_INFO] = {"format": fmt, "skiprows": skiprows, "banner": banner,
                                 "skipped_lines": skipped if fmt == "csv" else skiprows or 0,
                                 "delimiter": delimiter}
    return raw


_READ_INFO = "sme_read_info"


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter from the header line, where no decimal commas can confuse it."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in ("\t", ";", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def _parse_csv(data: bytes, label: str, skiprows: int | None = None
               ) -> tuple[pd.DataFrame, bool]:
    text = _decode(data, label)
    text, banner, skipped = skip_banner(text, skiprows, label)
    sep = _sniff_delimiter(text)
    # Everything is read as text: numbers and dates are converted by this module so that bad
    # cells can be shown to the user as they were written, and decimal commas handled.
    options = dict(sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True, engine="c")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = _read_csv_text(text, options)
    if not isinstance(raw.index, pd.RangeIndex):
        raise _fail(
            label,
            "the data rows have more fields than the header has names. Give every column "
            "a header name (or remove the trailing delimiters)"
            + ("" if skiprows is not None else
               f"; if lines above the header were taken for it, skip them with "
               f"{option_hint('skiprows')}") + ".",
        )
    return _with_read_info(raw, "csv", skiprows, banner, skipped, sep), sep != ","


def _read_csv_text(text: str, options: dict) -> pd.DataFrame:
    """``pandas.read_csv`` of ``text``, but linear in the header's length.

    pandas de-duplicates repeated header names in quadratic time (minutes for a header that
    repeats one name 100,000 times): such a header is read as a data row and renamed here.
    """
    first = pd.read_csv(io.StringIO(text), header=None, nrows=1, **options)
    names = [value if value != "" else f"Unnamed: {i}"
             for i, value in enumerate(first.iloc[0].tolist())] if len(first) else []
    if len(set(names)) == len(names):
        return pd.read_csv(io.StringIO(text), **options)
    raw = pd.read_csv(io.StringIO(text), header=None, names=unique_names(names), **options)
    return raw.iloc[1:].reset_index(drop=True)


# --------------------------------------------------------------------------- normalize


def _time_values(raw: pd.DataFrame, layout: Layout, date_format: str | None,
                 label: str) -> tuple[Converted, str]:
    """Timestamps of every row and the column name used in messages."""
    if layout.time_kind == "index":
        return to_times(raw.index.to_series(), allow_epoch=True), str(raw.index.name or "index")
    if layout.time_kind == "date+time":
        date_col, time_col = layout.time_columns
        dates = to_times(raw[date_col], allow_epoch=False, date_format=date_format,
                          column=date_col, label=label)
        clock = to_clock(raw[time_col])
        day = dates.values.astype("datetime64[D]").astype("datetime64[ns]")
        combined = day + clock.values
        missing = dates.missing | clock.missing
        bad = ~missing & (dates.bad | clock.bad)
        combined[missing | bad] = np.datetime64("NaT", "ns")
        shown = np.array(
            [f"{d} {t}" for d, t in zip(dates.shown, clock.shown, strict=True)], dtype=object
        )
        return (Converted(combined, missing, bad, shown, dates.how, dates.offsets),
                f"{date_col} + {time_col}")
    column = layout.time_columns[0]
    allow_epoch = layout.time_kind != "unnamed"  # a saved integer index is no time column
    converted = to_times(raw[column], allow_epoch=allow_epoch, date_format=date_format,
                          column=column, label=label)
    return converted, str(column)


def _mostly_times(values: pd.Series) -> bool:
    probe = to_times(values, allow_epoch=False)
    filled = ~probe.missing
    return bool(filled.any() and (~probe.bad[filled]).mean() > 0.5)


def _convert(raw: pd.DataFrame, label: str, decimal_comma_allowed: bool,
             mapping: Mapping[str, str], date_format: str | None) -> CellTable:
    if raw.shape[1] == 0 or raw.shape[0] == 0:
        raise _fail(label, "the table has no data rows. Provide a header row and data rows.")
    raw = raw.copy()
    if raw.index.name is not None and not isinstance(raw.index, (pd.RangeIndex, pd.DatetimeIndex)):
        # A frame indexed by a text "Date" column (set_index on strings): use it as a column.
        raw = raw.reset_index()
    raw.columns = [str(c) for c in raw.columns]
    layout = find_layout(raw, label, mapping, _mostly_times)

    decimal_comma = decimal_comma_allowed and uses_decimal_comma(
        [raw[col] for col in layout.values.values()]
    )
    values = {name: to_float(raw[col], decimal_comma) for name, col in layout.values.items()}
    times, time_column = _time_values(raw, layout, date_format, label)
    # Blank lines and trailing ",,,,," rows that spreadsheets leave behind are not data.
    blank = times.missing.copy()
    for conv in values.values():
        blank &= conv.missing
    if blank.all():
        raise _fail(label, "the table has no data rows (every row is empty).")
    rows = np.arange(1, len(raw) + 1)
    table = CellTable(
        label, rows, times, time_column, values, dict(layout.values), blank, layout.time_kind,
        layout,
    )
    _drop_unusable_volume(table)
    return table


def _drop_unusable_volume(table: CellTable) -> None:
    """Warn about absent volume; an all-empty or all-zero Volume column counts as absent."""
    if "Volume" not in table.values:
        warnings.warn(
            f"{table.label!r} has no volume column; volume metrics are skipped. (Accepted "
            "volume column names: volume, vol, v; quote volume: VolumeTo, Quote volume, "
            "Volume USD; base volume: VolumeFrom, Volume BTC; turnover, value. Or name it with "
            f"{option_hint('columns', 'volume')}.)",
            MissingVolumeWarning,
            stacklevel=5,
        )
        return
    volume = table.values["Volume"]
    used = ~table.blank
    filled = used & ~volume.missing
    if not filled.any():
        why = "is empty"
    elif not volume.bad[used].any() and np.all(volume.values[filled] == 0):
        # Index data (e.g. some ^GSPC downloads) carries Volume = 0 everywhere.
        why = "is zero in every row"
    else:
        return
    warnings.warn(
        f"{table.label!r}: column {table.columns['Volume']!r} {why}; it is treated as no "
        "volume, and volume metrics are skipped.",
        MissingVolumeWarning,
        stacklevel=5,
    )
    table.layout.volume_note = f"column {table.columns['Volume']!r} {why}: treated as no volume"
    del table.values["Volume"], table.columns["Volume"]


def _normalize(
    raw: pd.DataFrame,
    label: str,
    *,
    repair: bool,
    decimal_comma_allowed: bool,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    table = _convert(raw, label, decimal_comma_allowed, mapping or {}, date_format)
    keep = ~table.blank
    if keep.sum() < MIN_ROWS:
        # Checked first: fixing cells cannot help a history that is too short anyway.
        raise _too_short(label, int(keep.sum()), "data rows")
    report = dict.fromkeys(REPAIR_REASONS, 0)

    problems: list[Problem] = []
    for reason, mask, make_problem in cell_defects(table):
        hit = mask & keep
        if not hit.any():
            continue
        if repair:
            # A row is counted under its first defect only, so the counts add up to the drops.
            report[reason] += int(hit.sum())
            keep &= ~hit
        else:
            problems.append(make_problem(hit))
    if problems:
        # Row-level checks below compare cells, which is meaningless until the cells are clean.
        raise _problems_error(label, problems, len(table.rows))

    stamps = table.times.values
    involved, earlier = duplicate_rows(stamps, keep)
    if repair:
        report["duplicate_timestamp"] = int(earlier.sum())
        keep &= ~earlier
        report["high_low_fixed"] = widen_high_low(table, keep)
    else:
        if involved.any():
            idx = np.flatnonzero(involved)[:MAX_SHOWN]
            problems.append(
                Problem(
                    table.time_column,
                    "rows sharing a timestamp with another row",
                    table.rows[involved],
                    [show_time(stamps[i]) for i in idx],
                    "Each timestamp may occur once; remove the duplicated rows.",
                )
            )
        problems += high_low_problems(table, keep)
        if problems:
            raise _problems_error(label, problems, len(table.rows))

    final = np.flatnonzero(keep)
    final = final[np.argsort(stamps[final], kind="stable")]
    frame = pd.DataFrame(
        {name: table.values[name].values[final] for name in OHLCV_COLUMNS if name in table.values},
        index=pd.DatetimeIndex(stamps[final], name="Date"),
    )

    dropped = int((~keep & ~table.blank).sum())
    if repair:
        frame.attrs["repair_report"] = report
        if dropped or report["high_low_fixed"]:
            details = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in report.items() if v)
            warnings.warn(
                f"{label!r}: repaired the input - dropped {dropped} of "
                f"{int((~table.blank).sum())} rows and fixed High/Low in "
                f"{report['high_low_fixed']} ({details}).",
                DataRepairWarning,
                stacklevel=3,
            )
    if len(frame) < MIN_ROWS:
        raise _too_short(label, len(frame), f"usable rows after repair dropped {dropped} rows")
    _refuse_flat(frame, label)
    spikes = find_spikes(frame)
    warn_spikes(spikes, label, stacklevel=4)
    frame.attrs[READ_REPORT] = build_read_report(
        frame, label=label, read_info=raw.attrs.get(_READ_INFO, {}), layout=table.layout,
        time_column=table.time_column, time_how=table.times.how, offsets=table.times.offsets,
        order=input_order(stamps[np.flatnonzero(keep)]), rows_read=len(table.rows),
        blank_rows=int(table.blank.sum()), repairs=report if repair else None, spikes=spikes,
    ).to_dict()
    return frame


def _refuse_flat(frame: pd.DataFrame, label: str) -> None:
    """A Close that never changes has no returns to resample: every statistic is 0/0."""
    close = frame["Close"].to_numpy()
    if np.all(close == close[0]):
        prices = np.unique(frame[list(PRICE_COLUMNS)].to_numpy())
        what = "every price" if len(prices) == 1 else "Close"
        raise _fail(
            label,
            f"prices never change ({what} is {close[0]:g} in all {len(frame)} rows); nothing "
            "to resample. "
            "Provide a series whose Close moves.",
        )


def _too_short(label: str, n_rows: int, what: str) -> InputDataError:
    return _fail(
        label,
        f"it has {n_rows} {what}, but at least {MIN_ROWS} (MIN_ROWS) are needed for the "
        "fidelity metrics. Provide a longer history.",
    )


def _problems_error(label: str, problems: list[Problem], n_rows: int) -> InputDataError:
    count = len(problems)
    head = "1 problem" if count == 1 else f"{count} problems"
    body = "\n".join(p.render() for p in problems)
    return _fail(
        label,
        f"{head} found in {n_rows} rows ({_ROW_NOTE}):\n{body}\n"
        "Fix the file, or pass repair=True to drop or fix such rows automatically.",
    )


# --------------------------------------------------------------------------- public API


def load_ohlcv(
    source: str | os.PathLike[str] | BinaryIO | pd.DataFrame,
    *,
    repair: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    sheet_name: str | int = 0,
    name: str | None = None,
    columns: Mapping[str, str] | None = None,
    skiprows: int | None = None,
    date_format: str | None = None,
    limits: InputLimits | None = None,
) -> pd.DataFrame:
    """Load, normalize and validate one OHLCV table.

    Parameters
    ----------
    source : str, os.PathLike, binary file-like or pandas.DataFrame
        A local path, any fsspec URL (``s3://bucket/x.csv``, ``memory://x.parquet``), a
        file-like object returning bytes (an upload), or a DataFrame, which is normalized
        and validated the same way (it is not modified).
    repair : bool, default False
        When False any defect raises :class:`~pipeline.errors.InputDataError`. When True, rows
        with a missing or unparseable timestamp, a missing or non-numeric cell, a non-positive
        price or a negative volume are dropped, of duplicate timestamps the last row is kept,
        and High/Low violations are fixed by widening High to the row's maximum and Low to its
        minimum of Open, High, Low, Close. One :class:`~pipeline.errors.DataRepairWarning`
        then says what was done, and ``frame.attrs["repair_report"]`` holds the counts per
        reason (keys :data:`REPAIR_REASONS`, zero included).
    storage_options : mapping, optional
        Passed to ``fsspec.open`` for URLs (credentials, endpoint, ...).
    sheet_name : str or int, default 0
        The worksheet of an XLSX workbook.
    name : str, optional
        The file name used in messages (and for the format's extension) when ``source`` is
        a file-like object; defaults to its ``name`` attribute or ``"<upload>"``.
    columns : mapping, optional
        Explicit columns for some or all fields, when detection is not enough: keys among
        ``time, open, high, low, close, volume``, values column names of the file (matched
        exactly, else ignoring case and blanks). Fields not named are detected.
    skiprows : int, optional
        Lines above the header row to skip (CSV and XLSX). By default a banner above the
        header is detected (see :mod:`pipeline.io.detect`).
    date_format : str, optional
        ``strftime`` format of the time column, e.g. ``"%d.%m.%Y %H:%M"``; cells that do not
        match it are reported as unparseable. With separate Date and Time columns it applies
        to the Date column.
    limits : InputLimits, optional
        Bounds on the file's size and shape, checked on its bytes before it is parsed
        (default :data:`~pipeline.io.limits.LIBRARY_LIMITS`); see :mod:`pipeline.io.limits`.

    Returns
    -------
    pandas.DataFrame
        Indexed by a sorted, unique, tz-naive ``DatetimeIndex`` (nanosecond unit) named
        ``Date``; float64 columns ``Open, High, Low, Close`` and ``Volume`` (only when the
        input has volume). ``frame.attrs["source"]`` is the source string, or
        ``"<DataFrame>"``; ``frame.attrs["read_report"]`` says how it was read (a dict, see
        :class:`~pipeline.io.inspect.ReadReport` and :func:`inspect_ohlcv`).

    Raises
    ------
    InputDataError
        The input is missing, unreadable, not a table, lacks a required column, or has
        defects; the message names the file, each offending column and up to five offending
        rows with their values, and says what to fix. Also when every Close is the same
        (nothing to resample).
    InputLimitError
        The file is over ``limits`` (an :class:`InputDataError` naming the limit).

    Warns
    -----
    MissingVolumeWarning
        The input has no volume column, or its volume is empty or zero in every row.
    DataRepairWarning
        ``repair=True`` dropped or fixed rows.
    SuspectDataWarning
        A bar's price jumps by a factor of 10 or more and comes back the next bar (a bad tick
        or a flash crash); it is kept, and the scenarios will resample it like any bar.

    Notes
    -----
    How formats are recognised, header lines skipped, columns matched, times read and
    rows numbered in messages: see the module's docstring
    (``help(pipeline.io.readers)``).
    """
    given = isinstance(source, pd.DataFrame)
    label = _source_label(source, name)
    mapping = check_read_options(columns, skiprows, date_format, repr(label))
    if given:
        if skiprows:
            raise _fail(label, "skiprows applies to files, not to a DataFrame; drop the rows "
                               "with frame.iloc[n:] instead.")
        raw, decimal_comma_allowed = source, True
    else:
        raw, label, decimal_comma_allowed = _read_table(
            source, storage_options, name, sheet_name, skiprows,
            LIBRARY_LIMITS if limits is None else limits)
    # Called here, not in a helper: the warnings it issues point at load_ohlcv's caller.
    frame = _normalize(raw, label, repair=repair, decimal_comma_allowed=decimal_comma_allowed,
                       mapping=mapping, date_format=date_format)
    frame.attrs["source"] = "<DataFrame>" if given else label
    return frame


def inspect_ohlcv(
    source: str | os.PathLike[str] | BinaryIO | pd.DataFrame,
    **options: Any,
) -> ReadReport:
    """How :func:`load_ohlcv` reads ``source``, before anything is generated from it.

    Parameters
    ----------
    source, **options
        As for :func:`load_ohlcv` (``repair``, ``columns``, ``skiprows``, ``date_format``,
        ``storage_options``, ``sheet_name``, ``name``).

    Returns
    -------
    ReadReport
        Which column became which field, lines skipped, time format and zone, order, bar
        frequency and gaps, rows dropped or repaired, the volume column taken and suspect
        bars. ``report.to_dict()`` is JSON data, ``report.to_text()`` a terminal rendering.

    Raises
    ------
    InputDataError
        As :func:`load_ohlcv`: the file is refused, with the option that would make it load.
    """
    frame = load_ohlcv(source, **options)
    return ReadReport.from_dict(frame.attrs[READ_REPORT])


def load_sample(name: str = "sp500") -> pd.DataFrame:
    """Load a bundled sample as a normalized OHLCV frame.

    Parameters
    ----------
    name : {"sp500", "nasdaq", "sample"}, default "sp500"
        ``"sp500"``: S&P 500 daily OHLCV 1999-2018 from :mod:`arch.data.sp500` (5031 rows).
        ``"nasdaq"``: NASDAQ Composite daily OHLCV from :mod:`arch.data.nasdaq`.
        ``"sample"``: the last 750 S&P 500 rows, shipped as ``pipeline/data/sample_ohlcv.csv``
        (read with :mod:`importlib.resources`, so it also works from an installed wheel).

    Returns
    -------
    pandas.DataFrame
        As :func:`load_ohlcv` returns it (Adj Close dropped); ``attrs["source"]`` names the
        sample, e.g. ``"arch.data.sp500"``.

    Raises
    ------
    InputDataError
        ``name`` is not one of :data:`SAMPLE_NAMES`.
    """
    key = str(name).strip().lower()
    if key in ("sp500", "nasdaq"):
        if key == "sp500":
            from arch.data import sp500 as dataset
        else:
            from arch.data import nasdaq as dataset
        label = f"arch.data.{key}"
        frame = _normalize(dataset.load(), label, repair=False, decimal_comma_allowed=False)
        frame.attrs["source"] = label
        return frame
    if key == "sample":
        resource = importlib.resources.files("pipeline").joinpath("data", "sample_ohlcv.csv")
        return load_ohlcv(io.BytesIO(resource.read_bytes()), name="sample_ohlcv.csv")
    raise InputDataError(
        f"Unknown sample {name!r}; choose one of {', '.join(map(repr, SAMPLE_NAMES))}."
    )
