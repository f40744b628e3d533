"""Bounds on what one input file may cost, checked on its bytes before any table is parsed.

A few hundred kilobytes can describe gigabytes: a gzip stream that inflates a thousandfold, a
Parquet file whose run-length encoding holds millions of rows, an XLSX workbook of empty rows,
a CSV header of a million names. pandas, pyarrow and openpyxl materialize all of it before any
check of the table could run, so the reader first measures the raw bytes against an
:class:`InputLimits` and refuses with an :class:`InputLimitError` that names the limit, what the
file has, and the option that raises the limit.

What is measured, format by format:

=========  ===================================================================================
CSV        gzip inflated in chunks, stopping past ``max_bytes``; then the longest line
           (``max_line_bytes``), the header's fields (``max_columns``, counted with the
           delimiter of the header) and the line breaks (``max_rows``)
Parquet    the footer's metadata: rows, columns and the uncompressed size of the row groups
XLSX       the ZIP directory's uncompressed sizes (``max_bytes``), then each worksheet's XML
           inflated in chunks, counting ``<row`` tags (``max_rows``) and reading the
           ``<dimension>`` element and the widest of the first rows (``max_columns``)
=========  ===================================================================================

The library's defaults (:data:`LIBRARY_LIMITS`) only stop inputs no machine could load; the
REST server uses the stricter :data:`SERVER_LIMITS`, configurable by ``sme serve`` options.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.errors import InputDataError

__all__ = [
    "InputLimits",
    "InputLimitError",
    "LIBRARY_LIMITS",
    "SERVER_LIMITS",
    "inflate_gzip",
    "check_content",
    "unique_names",
]

_MB = 2**20
_CHUNK = 8 * _MB
_GZIP_WBITS = 16 + zlib.MAX_WBITS


@dataclass(frozen=True, kw_only=True)
class InputLimits:
    """Largest input a reader accepts; checked on the raw bytes before parsing.

    Parameters
    ----------
    max_bytes : int, default 2 GiB
        Bytes of content after decompression: CSV text (a ``.gz`` inflated), a Parquet file's
        uncompressed row groups, an XLSX workbook's uncompressed members. Over it: HTTP 413.
    max_line_bytes : int, default 1 MiB
        Longest line of a CSV file (a one-line upload of many megabytes keeps a parser busy
        for minutes).
    max_columns : int, default 10,000
        Fields in the header (OHLCV needs six; a wide table of several assets needs five per
        asset).
    max_rows : int, default 50,000,000
        Data rows (CSV line breaks, Parquet rows, XLSX ``<row>`` elements).
    option_names : mapping of str to str, optional
        How a user raises each limit, shown in messages: e.g. ``{"max_rows":
        "sme serve --max-upload-rows"}``. Limits not named here are shown as
        ``InputLimits(max_rows=...)``.

    Notes
    -----
    Counts are upper bounds: a quoted CSV field with a line break counts as two rows, CRLF
    line ends are not double counted, blank lines count.
    """

    max_bytes: int = 2 * 2**30
    max_line_bytes: int = _MB
    max_columns: int = 10_000
    max_rows: int = 50_000_000
    option_names: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_line_bytes", "max_columns", "max_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"InputLimits.{name}: expected a positive integer, got {value!r}")
        object.__setattr__(self, "option_names", dict(self.option_names))

    def option(self, limit: str) -> str:
        """How to raise ``limit`` (an option name, or the InputLimits field)."""
        return self.option_names.get(limit) or f"InputLimits({limit}=...)"

    def replace(self, **changes) -> InputLimits:
        """A copy with some limits changed."""
        return replace(self, **changes)


#: Defaults of :func:`~pipeline.io.readers.load_ohlcv`: refuse only what cannot be loaded.
LIBRARY_LIMITS = InputLimits()

#: Defaults of the REST server (``sme serve`` options change them): an upload of the largest
#: size accepted (200 MB) may not cost more than about a gigabyte of memory to parse.
SERVER_LIMITS = InputLimits(
    max_bytes=512 * _MB,
    max_line_bytes=64 * 1024,
    max_columns=1_000,
    max_rows=1_000_000,
    option_names={
        "max_bytes": "sme serve --max-upload-inflated-mb",
        "max_line_bytes": "sme serve --max-upload-line-kb",
        "max_columns": "sme serve --max-upload-columns",
        "max_rows": "sme serve --max-upload-rows",
    },
)


class InputLimitError(InputDataError):
    """An input over one of its :class:`InputLimits`.

    Attributes
    ----------
    limit : str
        The :class:`InputLimits` field that was exceeded.
    allowed, found : int
        The limit and what the input has (``found`` may be a lower bound: counting stops
        past the limit).
    status : int
        413 for ``max_bytes`` (a size), 422 for the others (a shape).
    """

    def __init__(self, message: str, *, limit: str, allowed: int, found: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.allowed = int(allowed)
        self.found = int(found)
        self.status = 413 if limit == "max_bytes" else 422

    def __reduce__(self):
        # Sent between processes (the server parses uploads in a child process).
        return (_rebuild_limit_error, (str(self), self.limit, self.allowed, self.found))


def _rebuild_limit_error(message: str, limit: str, allowed: int, found: int) -> InputLimitError:
    return InputLimitError(message, limit=limit, allowed=allowed, found=found)


_WHAT = {
    "max_bytes": "bytes of content",
    "max_line_bytes": "bytes in one line",
    "max_columns": "columns",
    "max_rows": "rows",
}


def _over(label: str, limits: InputLimits, limit: str, found: int, where: str = "",
          at_least: bool = False) -> InputLimitError:
    allowed = getattr(limits, limit)
    has = f"at least {found:,}" if at_least else f"{found:,}"
    return InputLimitError(
        f"Cannot use {label!r} as OHLCV input: it has {has} {_WHAT[limit]}{where}, over the "
        f"limit of {allowed:,} ({limit}). Use a smaller file, or raise the limit with "
        f"{limits.option(limit)}.",
        limit=limit, allowed=allowed, found=found,
    )


# ------------------------------------------------------------------------------- gzip


def inflate_gzip(data: bytes, label: str, limits: InputLimits) -> bytes:
    """Decompress gzip ``data`` (several members allowed), refusing past ``max_bytes``.

    Raises
    ------
    InputLimitError
        The inflated content would exceed ``limits.max_bytes`` (it is never built whole).
    zlib.error, EOFError
        Corrupt or truncated data (the reader reports those).
    """
    out = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        pending = rest
        while pending and not inflater.eof:
            room = limits.max_bytes + 1 - len(out)
            out += inflater.decompress(pending, min(room, _CHUNK))
            if len(out) > limits.max_bytes:
                raise _over(label, limits, "max_bytes", len(out), " once decompressed",
                            at_least=True)
            pending = inflater.unconsumed_tail
        if not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        # Members may be concatenated (gzip.decompress reads them all); padding zeros are not.
        rest = inflater.unused_data.lstrip(b"\x00")
    return bytes(out)


# ------------------------------------------------------------------------------- CSV


def _line_breaks(data: bytes) -> Iterator[np.ndarray]:
    """Positions of the line breaks of ``data``, chunk by chunk (no copy of the whole)."""
    view = np.frombuffer(data, dtype=np.uint8)
    for start in range(0, len(view), _CHUNK):
        chunk = view[start : start + _CHUNK]
        yield start + np.flatnonzero((chunk == 10) | (chunk == 13))


def _check_csv(data: bytes, label: str, limits: InputLimits) -> None:
    longest, rows, last = 0, 0, -1
    newline_rows = data.count(b"\n")
    for breaks in _line_breaks(data):
        if len(breaks):
            gaps = np.diff(breaks, prepend=last) - 1
            longest = max(longest, int(gaps.max()))
            last = int(breaks[-1])
        if longest > limits.max_line_bytes:
            raise _over(label, limits, "max_line_bytes", longest)
        rows += len(breaks)
    longest = max(longest, len(data) - last - 1)
    if longest > limits.max_line_bytes:
        raise _over(label, limits, "max_line_bytes", longest)
    # CRLF ends count once; files with only CR ends (old Mac exports) count their CRs.
    rows = newline_rows if newline_rows else rows
    if rows - 1 > limits.max_rows:
        raise _over(label, limits, "max_rows", rows - 1, " (counting line breaks)")
    header = next((line for line in re.split(rb"[\r\n]", data[: limits.max_line_bytes + 2])
                   if line.strip()), b"")
    columns = 1 + max(header.count(sep) for sep in (b",", b";", b"\t"))
    if columns > limits.max_columns:
        raise _over(label, limits, "max_columns", columns, " in its header")


# ------------------------------------------------------------------------------- Parquet


def _check_parquet(data: bytes, label: str, limits: InputLimits) -> None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception:  # noqa: BLE001 - a broken footer is reported by the reader's own parse
        return
    if meta.num_columns > limits.max_columns:
        raise _over(label, limits, "max_columns", meta.num_columns)
    if meta.num_rows > limits.max_rows:
        raise _over(label, limits, "max_rows", meta.num_rows)
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > limits.max_bytes:
        raise _over(label, limits, "max_bytes", size, " once decompressed")


# ------------------------------------------------------------------------------- XLSX

_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]*\d*:?([A-Z]+)\d+"')
_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>/]")
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number


def _check_xlsx(data: bytes, label: str, limits: InputLimits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return  # reported by the reader's own parse
    with archive:
        members = archive.infolist()
        size = sum(info.file_size for info in members)
        if size > limits.max_bytes:
            raise _over(label, limits, "max_bytes", size, " once decompressed")
        for info in members:
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                _check_sheet(archive, info, label, limits)


def _check_sheet(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str,
                 limits: InputLimits) -> None:
    """Count a worksheet's rows and its widest early row while inflating it chunk by chunk."""
    rows, tail, widest, first = 0, b"", 0, True
    with archive.open(info) as handle:
        while chunk := handle.read(_CHUNK):
            text = tail + chunk
            # A tag cut at the chunk's end is counted in the next round, with its start.
            cut = max(text.rfind(b"<"), len(text) - 16, 0)
            body, tail = text[:cut], text[cut:]
            if first:
                match = _DIMENSION.search(body)
                if match is not None:
                    widest = _column_number(match.group(1))
                first = False
            rows += len(_ROW_TAG.findall(body))
            if rows > limits.max_rows:
                raise _over(label, limits, "max_rows", rows, at_least=True)
            if rows <= 16:  # the header and the first rows: cells per row
                for row in _ROW_END.split(body)[:16]:
                    widest = max(widest, len(_CELL_TAG.findall(row)))
            if widest > limits.max_columns:
                raise _over(label, limits, "max_columns", widest)
    rows += len(_ROW_TAG.findall(tail))
    if rows > limits.max_rows:
        raise _over(label, limits, "max_rows", rows)


# ------------------------------------------------------------------------------- entry points


def check_content(data: bytes, fmt: str, label: str, limits: InputLimits) -> None:
    """Refuse ``data`` (already decompressed, of format ``fmt``) if it is over ``limits``.

    Parameters
    ----------
    data : bytes
        The file's content: CSV text bytes, a Parquet file or an XLSX workbook.
    fmt : {"csv", "parquet", "xlsx"}
    label : str
        The file name used in messages.
    limits : InputLimits

    Raises
    ------
    InputLimitError
        Naming the limit, what the file has and how to raise the limit.
    """
    if len(data) > limits.max_bytes:
        raise _over(label, limits, "max_bytes", len(data))
    if fmt == "parquet":
        _check_parquet(data, label, limits)
    elif fmt == "xlsx":
        _check_xlsx(data, label, limits)
    else:
        _check_csv(data, label, limits)


def unique_names(names: list[str]) -> list[str]:
    """Make header names unique as pandas does (``x, x.1, x.2``), in linear time.

    pandas' own de-duplication tests each new name against a list of all names, which takes
    minutes on a header that repeats one name 100,000 times. Names that would collide with a
    name present anywhere in the header are skipped, as pandas skips them.
    """
    taken = set(names)
    counts: dict[str, int] = {}
    out = []
    for name in names:
        count = counts.get(name, 0)
        counts[name] = count + 1
        if count == 0:
            out.append(name)
            continue
        candidate = f"{name}.{count}"
        while candidate in taken:
            count += 1
            candidate = f"{name}.{count}"
        counts[name] = count + 1
        taken.add(candidate)
        out.append(candidate)
    return out
