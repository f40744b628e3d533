"""The read report: how a file was read, before anything is generated from it.

:func:`~pipeline.io.readers.load_ohlcv` builds one :class:`ReadReport` for every frame it
returns (``frame.attrs["read_report"]``, as a plain dict) and
:func:`~pipeline.io.readers.inspect_ohlcv` returns it as an object. ``sme inspect``, the REST
API's dataset record and the dashboard's dataset view all show this one report: which column
became which field, banner lines skipped, the time format and zone, the order of the rows, the
bar frequency and gaps, rows dropped or repaired and why, the volume column taken and suspect
bars (price spikes that revert, kept with a warning).

It also builds the preview of a refused upload (:func:`preview_table`): the first raw lines
split into cells, bounded in size, so a user can map columns by hand.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import SuspectDataWarning

__all__ = [
    "READ_REPORT",
    "SPIKE_FACTOR",
    "ReadReport",
    "build_read_report",
    "describe_frequency",
    "find_gaps",
    "find_spikes",
    "input_order",
    "preview_table",
    "warn_spikes",
]

#: Key of ``frame.attrs`` holding the read report (a dict, see :meth:`ReadReport.to_dict`).
READ_REPORT = "read_report"
#: A bar whose price is this many times (or 1/this) its neighbours' on both sides, and whose
#: neighbours agree with each other, is reported as a spike.
SPIKE_FACTOR = 10.0
_MAX_SPIKES = 20
_UNITS = (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def describe_frequency(index: pd.Index) -> str:
    """The typical bar spacing in words, e.g. ``"1 day (business days)"`` or ``"5 minutes"``."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return "unknown"
    seconds = float(np.median(np.diff(index.asi8))) / 1e9
    if seconds <= 0:
        return "unknown"
    if index.day_of_week.max() <= 4 and 86400 <= seconds <= 3 * 86400:
        return "1 day (business days)"
    return _duration(seconds)


def _duration(seconds: float) -> str:
    for unit, size in _UNITS:
        count = seconds / size
        if count >= 1 and abs(count - round(count)) < 1e-6:
            n = int(round(count))
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


def find_gaps(index: pd.DatetimeIndex) -> dict[str, Any]:
    """Steps longer than 1.5 typical steps: how many, how many span a weekend, the largest.

    A step from a Friday or Saturday to a Sunday or Monday of at most three days plus one
    typical step is counted as a weekend, not as a gap: markets close then.
    """
    out: dict[str, Any] = {"count": 0, "weekend": 0, "largest": None, "largest_from": None,
                           "largest_to": None}
    if len(index) < 3:
        return out
    stamps = index.asi8
    steps = np.diff(stamps)
    typical = float(np.median(steps))
    long = steps > 1.5 * typical
    if not long.any():
        return out
    start_day = index.day_of_week[:-1]
    end_day = index.day_of_week[1:]
    weekend = (long & np.isin(start_day, (4, 5)) & np.isin(end_day, (6, 0))
               & (steps <= 3 * 86_400e9 + typical))
    gaps = long & ~weekend
    out["weekend"] = int(weekend.sum())
    out["count"] = int(gaps.sum())
    if gaps.any():
        at = int(np.flatnonzero(gaps)[np.argmax(steps[gaps])])
        out["largest"] = _duration(steps[at] / 1e9)
        out["largest_from"] = index[at].isoformat()
        out["largest_to"] = index[at + 1].isoformat()
    return out


def find_spikes(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Bars whose price jumps by :data:`SPIKE_FACTOR` or more and comes back the next bar.

    Returns
    -------
    list of dict
        ``{"time", "column", "value", "factor"}`` per spike (at most 20), ``factor`` being
        how many times the bar's price is above (or below) the mean of its neighbours'.
    """
    limit = np.log(SPIKE_FACTOR)
    found: list[dict[str, Any]] = []
    for column in ("Open", "High", "Low", "Close"):
        if column not in frame.columns or len(frame) < 3:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(frame[column].to_numpy(dtype=float))
        before = logs[1:-1] - logs[:-2]
        after = logs[2:] - logs[1:-1]
        around = np.abs(logs[2:] - logs[:-2])
        spike = ((np.abs(before) > limit) & (np.abs(after) > limit)
                 & (np.sign(before) != np.sign(after)) & (around < limit / 2))
        for i in np.flatnonzero(spike) + 1:
            factor = float(np.exp(logs[i] - (logs[i - 1] + logs[i + 1]) / 2))
            found.append({"time": frame.index[i].isoformat(), "column": column,
                          "value": float(frame[column].iat[i]),
                          "factor": factor if factor >= 1 else -1 / factor})
    found.sort(key=lambda s: (s["time"], s["column"]))
    return found[:_MAX_SPIKES]


def warn_spikes(spikes: list[dict[str, Any]], label: str, stacklevel: int) -> None:
    """One :class:`~pipeline.errors.SuspectDataWarning` saying what the spikes are and what
    the scenarios will do with them."""
    if not spikes:
        return
    shown = "; ".join(
        f"{s['column']} {s['value']:.6g} at {s['time'].removesuffix('T00:00:00')} "
        f"({'x' if s['factor'] > 0 else '/'}{abs(s['factor']):.3g} its neighbours)"
        for s in spikes[:3])
    more = f" and {len(spikes) - 3} more" if len(spikes) > 3 else ""
    warnings.warn(
        f"{label!r}: {len(spikes)} price spike(s) of a factor of {SPIKE_FACTOR:g} or more that "
        f"revert the next bar: {shown}{more}. They are kept: the scenarios resample such a bar "
        "like any other, so the jump will reappear in them and weigh on the tail metrics. If "
        "it is a bad tick, correct or delete the row in the file.",
        SuspectDataWarning, stacklevel=stacklevel)


@dataclass(frozen=True)
class ReadReport:
    """How one OHLCV table was read. Every field is plain JSON data.

    Attributes
    ----------
    source, format : str
        The file's name, and ``csv``, ``xlsx``, ``parquet`` or ``DataFrame``.
    delimiter : str or None
        The CSV delimiter.
    skipped_lines : int
        Lines above the header that were skipped (a banner, or ``skiprows``).
    banner : list of str
        The first of them, as written (shortened).
    skiprows : int or None
        ``skiprows`` as given (None: the header was detected).
    columns : dict
        Output field (``time``, ``open``, ...) -> input column (``"Date + Time"`` for two).
    explicit : list of str
        The fields named by the ``columns`` option.
    volume, volume_kind : str or None, str
        The volume column taken and its class (``volume``, ``quote volume``, ``base volume``,
        ``turnover``); ``volume_passed_over`` lists other candidates, ``volume_note`` why a
        volume column was not used.
    symbol : str or None
        The one symbol of a symbol column that was set aside.
    time_format, timezone : str
        How the timestamps were written, and ``"naive"`` or the UTC conversion made.
    order : str
        ``oldest first``, ``newest first`` or ``unsorted`` (as in the file; the frame is
        always sorted).
    rows_read, blank_rows, rows : int
        Data rows in the file, empty rows skipped, rows in the frame.
    dropped : dict of str to int
        Rows dropped per repair reason (``repair=True``); ``high_low_fixed`` rows repaired.
    start, end, frequency : str
        The first and last timestamp and the typical bar spacing.
    gaps : dict
        :func:`find_gaps` of the index.
    spikes : list of dict
        :func:`find_spikes` of the frame.
    """

    source: str
    format: str
    delimiter: str | None
    skipped_lines: int
    banner: list[str]
    skiprows: int | None
    columns: dict[str, str]
    explicit: list[str]
    volume: str | None
    volume_kind: str
    volume_passed_over: list[str]
    volume_note: str
    symbol: str | None
    time_format: str
    timezone: str
    order: str
    rows_read: int
    blank_rows: int
    rows: int
    dropped: dict[str, int]
    high_low_fixed: int
    start: str
    end: str
    frequency: str
    gaps: dict[str, Any]
    spikes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data (what ``frame.attrs["read_report"]`` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReadReport:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_text(self) -> str:
        """The report as aligned ``key: value`` lines, for a terminal."""
        lines = [("source", f"{self.source} ({self.format}"
                  + (f", delimiter {self.delimiter!r}" if self.delimiter else "") + ")")]
        if self.skipped_lines:
            how = "skiprows" if self.skiprows is not None else "detected banner"
            lines.append(("lines skipped", f"{self.skipped_lines} above the header ({how})"
                          + "".join(f"\n    | {b}" for b in self.banner)))
        for name, column in self.columns.items():
            if name == "volume":
                continue
            lines.append((name, repr(column) + (" (named)" if name in self.explicit else "")))
        volume = "none" if self.volume is None else f"{self.volume!r} ({self.volume_kind})"
        if self.volume_passed_over:
            volume += f"; passed over: {', '.join(map(repr, self.volume_passed_over))}"
        if self.volume_note:
            volume += f"; {self.volume_note}"
        lines.append(("volume", volume))
        if self.symbol:
            lines.append(("symbol", f"{self.symbol} (symbol column set aside)"))
        lines += [("time format", self.time_format or "-"), ("time zone", self.timezone),
                  ("order", self.order + ("" if self.order == "oldest first"
                                          else "; sorted oldest first")),
                  ("rows", f"{self.rows} of {self.rows_read} read"
                   + (f", {self.blank_rows} empty skipped" if self.blank_rows else "")),
                  ("dropped", ", ".join(f"{k.replace('_', ' ')} {v}"
                                        for k, v in self.dropped.items() if v) or "none"),
                  ("repaired", f"High/Low fixed in {self.high_low_fixed}"
                   if self.high_low_fixed else "none"),
                  ("range", f"{self.start} .. {self.end}"),
                  ("frequency", self.frequency)]
        gaps = self.gaps
        text = f"{gaps['count']}"
        if gaps["count"]:
            text += (f" (largest {gaps['largest']}: {gaps['largest_from']} .. "
                     f"{gaps['largest_to']})")
        if gaps["weekend"]:
            text += f"; {gaps['weekend']} weekend closes not counted"
        lines.append(("gaps", text))
        spikes = "; ".join(f"{s['column']} {s['value']:.6g} at {s['time']}" for s in self.spikes)
        lines.append(("spikes", f"{len(self.spikes)}: {spikes} (kept)" if self.spikes else "none"))
        width = max(len(k) for k, _ in lines)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)


def input_order(stamps: np.ndarray) -> str:
    """How the file ordered its rows: the frame is sorted whatever it was."""
    steps = np.diff(stamps.astype(np.int64))
    if (steps >= 0).all():
        return "oldest first"
    if (steps <= 0).all():
        return "newest first"
    backwards = int((steps < 0).sum())
    if backwards >= 0.9 * len(steps):
        return f"newest first, {len(steps) - backwards} rows out of order"
    if backwards <= 0.1 * len(steps):
        return f"oldest first, {backwards} rows out of order"
    return "unsorted"


def _timezone(offsets: list[str]) -> str:
    if not offsets:
        return "naive (as written)"
    return f"converted to UTC from {', '.join(offsets)}, then made naive"


def build_read_report(frame: pd.DataFrame, *, label: str, read_info: dict[str, Any],
                      layout: Any, time_column: str, time_how: str, offsets: list[str],
                      order: str, rows_read: int, blank_rows: int,
                      repairs: dict[str, int] | None, spikes: list[dict[str, Any]]
                      ) -> ReadReport:
    """The report of one loaded frame (called by the reader, once per frame)."""
    columns = {"time": time_column}
    columns.update({name.lower(): col for name, col in layout.values.items()})
    if "Volume" not in frame.columns:
        columns.pop("volume", None)
    repairs = dict(repairs or {})
    fixed = int(repairs.pop("high_low_fixed", 0))
    volume = columns.get("volume")
    return ReadReport(
        source=label, format=read_info.get("format", "DataFrame"),
        delimiter=read_info.get("delimiter"),
        skipped_lines=int(read_info.get("skipped_lines") or 0),
        banner=list(read_info.get("banner") or []), skiprows=read_info.get("skiprows"),
        columns=columns, explicit=list(layout.explicit), volume=volume,
        volume_kind=layout.volume_kind if volume else "",
        volume_passed_over=list(layout.passed_over), volume_note=layout.volume_note,
        symbol=layout.symbol, time_format=time_how, timezone=_timezone(offsets),
        order=order, rows_read=rows_read, blank_rows=blank_rows, rows=len(frame),
        dropped={k: int(v) for k, v in repairs.items()}, high_low_fixed=fixed,
        start=frame.index[0].isoformat(), end=frame.index[-1].isoformat(),
        frequency=describe_frequency(frame.index), gaps=find_gaps(frame.index), spikes=spikes)


# --------------------------------------------------------------------------- preview

#: Bounds of a preview: lines, cells per line, characters per cell, bytes decompressed.
PREVIEW_LINES = 12
PREVIEW_CELLS = 60
PREVIEW_CELL_CHARS = 80
_PREVIEW_BYTES = 1 << 16


def _head_bytes(data: bytes) -> bytes:
    """The first bytes of a file, decompressing at most 64 KiB of a gzip stream."""
    if data[:2] != b"\x1f\x8b":
        return data[:_PREVIEW_BYTES]
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, _PREVIEW_BYTES)
    except zlib.error:
        return b""


def preview_table(data: bytes, name: str) -> dict[str, Any]:
    """The first raw rows of a file, split into cells, for mapping columns by hand.

    Parameters
    ----------
    data : bytes
        The file as uploaded (CSV, gzip CSV, XLSX or Parquet).
    name : str
        Its display name (never a server path).

    Returns
    -------
    dict
        ``{"rows": [[cell, ...], ...], "header_row": i, "delimiter": sep, "format": fmt}``:
        at most :data:`PREVIEW_LINES` rows of :data:`PREVIEW_CELLS` cells of
        :data:`PREVIEW_CELL_CHARS` characters; ``header_row`` is the row detection takes for
        the header (lines above it are a banner). Empty ``rows`` when nothing can be shown.
    """
    from pipeline.io.detect import find_header

    def clip(cell: Any) -> str:
        text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell)
        return text.strip()[:PREVIEW_CELL_CHARS]

    rows: list[list[str]] = []
    fmt, sep, header = "csv", None, 0
    try:
        if data[:4] == b"PK\x03\x04":
            fmt = "xlsx"
            raw = pd.read_excel(io.BytesIO(data), header=None, nrows=PREVIEW_LINES,
                                engine="openpyxl")
            rows = [[clip(c) for c in r[:PREVIEW_CELLS]] for r in raw.itertuples(index=False)]
        elif data[:4] == b"PAR1":
            fmt = "parquet"
            raw = pd.read_parquet(io.BytesIO(data)).head(PREVIEW_LINES - 1).reset_index()
            rows = [[clip(c) for c in raw.columns[:PREVIEW_CELLS]]]
            rows += [[clip(c) for c in r[:PREVIEW_CELLS]] for r in raw.itertuples(index=False)]
        else:
            text = _head_bytes(data).decode("utf-8-sig", errors="replace")
            # Blank lines are kept: skiprows counts every line above the header.
            lines = text.splitlines()[:PREVIEW_LINES]
            header = find_header(lines)
            counts = {s: lines[header].count(s) for s in ("\t", ";", ",")} if lines else {}
            sep = max(counts, key=lambda s: counts[s]) if counts and max(counts.values()) else ","
            rows = [[clip(c) for c in line.split(sep)[:PREVIEW_CELLS]] for line in lines]
    except Exception:  # noqa: BLE001 - a preview is a courtesy; an unreadable file has none
        rows = []
    return {"rows": rows, "header_row": header if rows else 0, "delimiter": sep, "format": fmt}

