"""Write accepted series, manifests and archives to a local path or any fsspec URL.

Workers write, the client coordinates: every Dask task that accepts a series writes it itself
through an :class:`OutputStore`, which is small, picklable and knows only a URL and the
``storage_options`` to reach it. Two promises hold for every write:

* **Atomic.** A reader never sees half a file. On a local (or any rename-capable) filesystem the
  bytes go to a hidden temporary sibling first and are then moved into place; on object stores
  (S3, GCS, Azure, ``memory://``) a single PUT of the full body is atomic by nature, so that is
  what is done there (a rename on S3 would be a copy plus a delete, and not atomic at all).
* **Idempotent and deterministic.** The same frame always serializes to the same bytes
  (:func:`frame_to_bytes` pins every timestamp the file formats like to embed), so a retried task
  or a rerun overwrites a file with identical content and a run on 1 worker or 200 yields
  byte-identical outputs.

Examples
--------
>>> store = OutputStore("memory://sme-doc/run-1")
>>> store.write_json("manifest.json", {"n_samples": 2, "best": float("nan")})
>>> store.read_json("manifest.json")
{'best': None, 'n_samples': 2}
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import math
import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.errors import ConfigError
from pipeline.redaction import redact_text

__all__ = [
    "FORMATS",
    "EXTENSIONS",
    "OutputStore",
    "frame_to_bytes",
]

#: Output formats a series can be written in, in the order the docs list them.
FORMATS: tuple[str, ...] = ("csv", "xlsx", "parquet")

#: File-name extension of each format.
EXTENSIONS: dict[str, str] = {"csv": ".csv", "xlsx": ".xlsx", "parquet": ".parquet"}

# Protocols whose single PUT is atomic (the object appears whole or not at all) and that
# have no atomic rename, so temp-then-move would only add a non-atomic copy.
_ATOMIC_PUT_PROTOCOLS = frozenset(
    {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "memory"}
)
_LOCAL_PROTOCOLS = frozenset({"file", "local"})

# The earliest timestamp a ZIP entry can carry; any fixed value would do, this one is the
# conventional "no meaningful time" choice of reproducible-build tools.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# openpyxl stamps docProps/core.xml with "now"; pin it so workbooks are reproducible.
_XLSX_DOC_TIME = _dt.datetime(2000, 1, 1)
# A fixed Unix mode for archive members (rw-r--r--), so the umask of the writer cannot leak in.
_ZIP_EXTERNAL_ATTR = 0o100644 << 16
_COPY_CHUNK = 1 << 20

_TMP_MARK = ".tmp-"
_TMP_NAME = re.compile(r"^\..+\.tmp-[0-9a-f]{32}$")


def _check_format(fmt: str) -> str:
    key = str(fmt).lower()
    if key not in FORMATS:
        allowed = ", ".join(repr(f) for f in FORMATS)
        raise ConfigError(f"output.formats: unknown format {fmt!r}; allowed values are {allowed}")
    return key


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"


def _is_storage_error(exc: BaseException) -> bool:
    # s3fs turns most S3 failures into OSError subclasses, but connection failures can surface
    # as raw botocore/aiohttp exceptions; recognise those by module so botocore stays optional.
    if isinstance(exc, OSError):
        return True
    module = type(exc).__module__ or ""
    return module.split(".", 1)[0] in {"botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs"}


# --------------------------------------------------------------------------------------------
# Serialization
# --------------------------------------------------------------------------------------------


def _index_kwargs(frame: pd.DataFrame) -> dict[str, Any]:
    # An OHLCV frame carries its dates in a DatetimeIndex; write it as the first column, named
    # ``Date`` unless it already has a name. A plain RangeIndex carries nothing worth writing.
    if isinstance(frame.index, pd.RangeIndex) and frame.index.name is None:
        return {"index": False}
    return {"index": True, "index_label": frame.index.name or "Date"}


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    # pyarrow's CSV writer is about ten times faster than pandas' and, like pandas, writes each
    # float as its shortest round-trip repr: exact and deterministic. The line terminator is
    # "\n" on every platform. Dates are ISO strings (a day, or a day and time).
    if isinstance(frame.index, pd.RangeIndex) and frame.index.name is None:
        columns: dict[str, Any] = {}
    else:
        columns = {frame.index.name or "Date": _date_strings(frame.index)}
    for name in frame.columns:
        columns[str(name)] = pa.array(np.asarray(frame[name]))
    out = io.BytesIO()
    pacsv.write_csv(pa.table(columns), out,
                    write_options=pacsv.WriteOptions(quoting_style="none"))
    return out.getvalue()


# Formatting timestamps is the slowest part of writing a CSV; the series of one run share one
# index object, so its strings are kept for the last few indexes seen (strong references, so an
# ``is`` check cannot be fooled by a recycled id).
_DATE_CACHE: list[tuple[pd.Index, pa.Array]] = []


def _date_strings(index: pd.Index) -> pa.Array:
    for cached, strings in _DATE_CACHE:
        if cached is index:
            return strings
    if isinstance(index, pd.DatetimeIndex):
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        values = index.to_numpy(dtype="datetime64[ns]")
        midnight = (values - values.astype("datetime64[D]")).astype(np.int64) == 0
        unit = "D" if midnight.all() else "s"
        if unit == "s" and ((values.astype(np.int64) % 10**9) != 0).any():
            unit = "us"
        text = np.datetime_as_string(values, unit=unit)
        if unit != "D":
            text = np.char.replace(text, "T", " ")
        strings = pa.array(text)
    else:
        strings = pa.array(index.astype(str))
    _DATE_CACHE.insert(0, (index, strings))
    del _DATE_CACHE[8:]
    return strings


def _xlsx_bytes(frame: pd.DataFrame) -> bytes:
    from openpyxl.packaging.core import DocumentProperties
    from openpyxl.xml.functions import tostring

    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is not None:
        # Excel has no time zones; store UTC wall time rather than failing deep in pandas.
        frame = frame.tz_convert("UTC").tz_localize(None)
    raw = io.BytesIO()
    frame.to_excel(raw, engine="openpyxl", sheet_name="OHLCV", **_index_kwargs(frame))

    # Two things differ run to run in what openpyxl writes: the created/modified stamps in
    # docProps/core.xml (openpyxl overwrites ``modified`` with "now" inside save(), so setting
    # it on the workbook beforehand does not help) and every ZIP entry's date_time. Rebuild the
    # archive with a pinned core.xml and fixed entry times; the member order is kept.
    core = DocumentProperties(creator="openpyxl", created=_XLSX_DOC_TIME, modified=_XLSX_DOC_TIME)
    core_xml = tostring(core.to_tree())
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = core_xml if info.filename == "docProps/core.xml" else src.read(info)
            dst.writestr(_zip_info(info.filename), data)
    return out.getvalue()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    # Built column by column with pyarrow (pandas' to_parquet spends most of its time in
    # generic conversion), with the pandas metadata attached, so pandas reads the dates back
    # as the index. That metadata depends only on the column layout, so it is computed once per
    # layout. The bytes depend only on the frame and the library versions.
    kwargs = _index_kwargs(frame)
    keep_index = kwargs.get("index", False)
    if keep_index and frame.index.name is None:
        # Name the column as CSV/XLSX do, instead of pandas' ``__index_level_0__``.
        frame = frame.rename_axis("Date")
    arrays, names = [], []
    if keep_index:
        arrays.append(pa.array(frame.index))
        names.append(str(frame.index.name))
    for name in frame.columns:
        arrays.append(pa.array(np.asarray(frame[name])))
        names.append(str(name))
    table = pa.Table.from_arrays(arrays, names=names)
    table = table.replace_schema_metadata(_pandas_metadata(frame, keep_index))
    out = io.BytesIO()
    # Dictionary encoding is the slowest part of writing float prices and makes the file larger:
    # prices rarely repeat. Plain zstd alone is 4x faster and 20 % smaller.
    pq.write_table(table, out, compression="zstd", use_dictionary=False)
    return out.getvalue()


_PANDAS_META: dict[tuple, dict] = {}


def _pandas_metadata(frame: pd.DataFrame, keep_index: bool) -> dict:
    key = (keep_index, str(frame.index.name), str(frame.index.dtype), str(frame.columns.dtype),
           tuple((str(c), str(t)) for c, t in frame.dtypes.items()))
    if key not in _PANDAS_META:
        head = frame.iloc[:1].copy()
        # pandas stores ``DataFrame.attrs`` in the metadata; a file's bytes must not depend on
        # whatever attrs the first frame of a layout happened to carry.
        head.attrs = {}
        sample = pa.Table.from_pandas(head, preserve_index=keep_index)
        _PANDAS_META[key] = dict(sample.schema.metadata or {})
    return _PANDAS_META[key]


def frame_to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """Serialize an OHLCV frame to the bytes of a file, deterministically.

    Parameters
    ----------
    frame : pandas.DataFrame
        OHLCV data: a ``DatetimeIndex`` (named ``Date``, or unnamed and then written as
        ``Date``) and float columns.
    fmt : {"csv", "xlsx", "parquet"}
        Output format (case-insensitive).

    Returns
    -------
    bytes
        The file content. The same frame always gives the same bytes (for fixed library
        versions), whatever the machine, time or process.

    Raises
    ------
    ConfigError
        If ``fmt`` is not one of :data:`FORMATS`.

    Notes
    -----
    * CSV: UTF-8, ``\\n`` line ends, the date first, floats at round-trip (``repr``) precision.
    * XLSX: one sheet ``OHLCV``; the document's created/modified properties are pinned to
      2000-01-01 and ZIP entry times to 1980-01-01. Time-zone-aware dates are written as UTC
      wall time because Excel has no time zones. openpyxl writes numbers with ``%.16g``, one
      digit short of round-trip: values read back agree to about 1e-16 relative, not bit for
      bit (Excel itself computes with 15 significant digits). Use CSV or Parquet for exactness.
    * Parquet: pyarrow, zstd compression, pandas metadata so the index round-trips.
    """
    key = _check_format(fmt)
    if key == "csv":
        return _csv_bytes(frame)
    if key == "xlsx":
        return _xlsx_bytes(frame)
    return _parquet_bytes(frame)


# --------------------------------------------------------------------------------------------
# ZIP archives
# --------------------------------------------------------------------------------------------


_ZIP_LEVEL = 1


def _zip_info(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    # ZipFile(compresslevel=) is not applied to a ZipInfo passed to ZipFile.open: without this
    # the member is deflated at level 6, five times slower (3.1 s against 0.6 s for 50 MB of
    # CSV) for 10 % less size. Python >= 3.13 names the attribute compress_level.
    if hasattr(info, "compress_level"):
        info.compress_level = _ZIP_LEVEL
    else:
        info._compresslevel = _ZIP_LEVEL
    info.external_attr = _ZIP_EXTERNAL_ATTR
    info.create_system = 3  # Unix, whatever OS the worker runs, so the bytes do not differ
    return info


def _build_zip(entries: Iterable[tuple[str, int, IO[bytes]]], sink: IO[bytes] | None = None
               ) -> bytes | None:
    """Zip ``(arcname, size, stream)`` entries in the order given, one stream at a time.

    Into ``sink`` when given (returns None), else into memory (returns the bytes). Deflate level 1:
    most of the size gain of the default level on CSV text at a third of the time.
    """
    out = io.BytesIO() if sink is None else sink
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL) as archive:
        for arcname, size, stream in entries:
            info = _zip_info(arcname)
            # A known size lets zipfile decide on ZIP64 up front rather than fail at 2 GiB.
            info.file_size = size
            with stream, archive.open(info, "w") as member:
                while chunk := stream.read(_COPY_CHUNK):
                    member.write(chunk)
    return out.getvalue() if sink is None else None


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    """Turn ``obj`` into plain JSON types; non-finite floats become ``None`` (JSON ``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, _dt.date | _dt.datetime | pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    # numpy scalars and arrays (imported lazily: only their duck methods are needed)
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class OutputStore:
    """An output location (local path or fsspec URL) that writes atomically.

    Parameters
    ----------
    url : str or os.PathLike
        Where outputs go: a local directory (``outputs/run-1``, ``/mnt/shared/run-1``,
        ``file:///...``) or a URL (``s3://bucket/prefix``, ``memory://x``). Relative local paths
        are made absolute against the current directory *when the store is created*, so Dask
        workers with another working directory write to the same place.
    storage_options : dict, optional
        Passed to fsspec to build the filesystem, e.g. for S3
        ``{"key": ..., "secret": ..., "client_kwargs": {"endpoint_url": ...}}``.
    fsync : bool, default False
        Local files only: flush each file to disk before it is moved into place. The move alone
        already guarantees that readers and killed processes never leave half files; ``fsync``
        adds durability across an operating-system crash or power loss, at about a millisecond
        per file.

    Notes
    -----
    The store is sent to Dask workers: it pickles as its URL and options only, and each process
    builds its filesystem lazily on first use (fsspec caches instances, so tasks in one worker
    share it). Names passed to the methods are relative, ``/``-separated paths below ``url``.
    Temporary files are named ``.{name}.tmp-{uuid}`` and never listed.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        storage_options: dict | None = None,
        *,
        fsync: bool = False,
    ) -> None:
        url = os.fspath(url)
        protocol, rest = fsspec.core.split_protocol(url)
        if protocol is None or protocol in _LOCAL_PROTOCOLS:
            url = os.path.abspath(os.path.expanduser(rest))
        else:
            url = f"{protocol}://{rest.rstrip('/')}"
        self.url: str = url
        self.storage_options: dict = dict(storage_options or {})
        self.fsync = bool(fsync)
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root: str | None = None

    # -- pickling and display ------------------------------------------------------------------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # Filesystem objects hold sessions, event loops and sockets: rebuild them per process.
        state["_fs"] = None
        state["_root"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        # Option keys only: storage_options usually hold credentials, and reprs end up in logs.
        opts = f", storage_options=<{', '.join(sorted(self.storage_options))}>"
        return f"OutputStore({redact_text(self.url)!r}{opts if self.storage_options else ''})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputStore):
            return NotImplemented
        return (self.url, self.storage_options) == (other.url, other.storage_options)

    __hash__ = None  # type: ignore[assignment]  # storage_options is a mutable dict

    # -- filesystem ----------------------------------------------------------------------------

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem behind the store, built on first use in each process."""
        if self._fs is None:
            self._fs, self._root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return self._fs

    @property
    def _root_path(self) -> str:
        self.fs  # noqa: B018 - builds _root as a side effect
        assert self._root is not None
        return self._root.rstrip("/")

    @property
    def _protocols(self) -> set[str]:
        protocol = self.fs.protocol
        return {protocol} if isinstance(protocol, str) else set(protocol)

    @property
    def is_local(self) -> bool:
        """The store is on this machine's filesystem (paths can be opened directly)."""
        return bool(self._protocols & _LOCAL_PROTOCOLS)

    @property
    def _atomic_put(self) -> bool:
        return bool(self._protocols & _ATOMIC_PUT_PROTOCOLS)

    @staticmethod
    def _clean_name(name: str) -> str:
        parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise ValueError(f"output name must be a relative path below the store, got {name!r}")
        return "/".join(parts)

    def _fs_path(self, name: str) -> str:
        return f"{self._root_path}/{self._clean_name(name)}"

    def path(self, name: str) -> str:
        """Return the full URL (or absolute local path) of the relative ``name``."""
        return f"{self.url}/{self._clean_name(name)}"

    def _unwritable(self, name: str, exc: BaseException) -> ConfigError:
        return ConfigError(
            f"output location {redact_text(self.url)!r} is not writable "
            f"(writing {self._clean_name(name)!r}): {redact_text(_one_line(exc))}"
        )

    # -- bytes ---------------------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` atomically, creating parent directories as needed.

        Parameters
        ----------
        name : str
            Relative name below the store.
        data : bytes
            The full content. Overwriting an existing file (identical or not) is allowed.

        Raises
        ------
        ConfigError
            If the location cannot be written (permission denied, missing bucket, unreachable
            endpoint, ...); the message names the URL and the underlying reason.
        """
        data = bytes(data)
        target = self._fs_path(name)
        try:
            if self.is_local:
                self._write_local(target, data)
            elif self._atomic_put:
                self.fs.pipe_file(target, data)
            else:
                self._write_via_move(target, data)
        except Exception as exc:
            if _is_storage_error(exc):
                raise self._unwritable(name, exc) from exc
            raise

    @staticmethod
    def _tmp_sibling(target: str) -> str:
        parent, _, base = target.rpartition("/")
        return f"{parent}/.{base}{_TMP_MARK}{uuid.uuid4().hex}"

    def _write_local(self, target: str, data: bytes) -> None:
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        tmp = self._tmp_sibling(target)
        try:
            # open() rather than mkstemp: mkstemp creates 0600 files, which other users of a
            # shared output directory could not read after the move.
            with open(tmp, "xb") as handle:
                handle.write(data)
                if self.fsync:
                    # Without it an OS crash soon after the rename can leave an empty file.
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _write_via_move(self, target: str, data: bytes) -> None:
        fs = self.fs
        parent = target.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        tmp = self._tmp_sibling(target)
        try:
            fs.pipe_file(tmp, data)
            fs.mv(tmp, target)
        except BaseException:
            try:
                fs.rm(tmp)
            except Exception:  # noqa: BLE001 - best-effort cleanup, the first error matters
                pass
            raise

    def read_bytes(self, name: str) -> bytes:
        """Return the content of ``name``; raises ``FileNotFoundError`` if it does not exist."""
        return self.fs.cat_file(self._fs_path(name))

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists (as a file or directory), seen fresh (no cached listing)."""
        path = self._fs_path(name)
        # Another worker may have written it since this process cached a listing.
        self.fs.invalidate_cache(path)
        return self.fs.exists(path)

    def remove(self, name: str) -> None:
        """Remove the file ``name``; a missing file is not an error."""
        path = self._fs_path(name)
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass
        self.fs.invalidate_cache(path)

    def remove_empty_dir(self, name: str) -> None:
        """Remove the directory ``name`` if it is empty (object stores have none to remove)."""
        if not self.is_local:
            return
        try:
            os.rmdir(self._fs_path(name))
        except OSError:
            pass  # missing, or not empty: either way nothing to do

    def list(self, prefix: str = "") -> list[str]:
        """Return the sorted relative names of the files whose name starts with ``prefix``.

        Temporary files of writes in progress (or of writers that were killed) are left out.
        """
        root = self._root_path
        prefix = str(prefix).replace("\\", "/").lstrip("/")
        # Only walk the deepest directory the prefix names, not the whole store.
        base = f"{root}/{prefix.rpartition('/')[0]}".rstrip("/")
        self.fs.invalidate_cache(base)
        names = []
        for path in self._file_paths(base):
            if not path.startswith(root + "/"):
                continue
            rel = path[len(root) + 1 :]
            if rel.startswith(prefix) and not _TMP_NAME.match(rel.rpartition("/")[2]):
                names.append(rel)
        return sorted(names)

    def remove_orphaned_temporaries(self) -> int:
        """Delete the temporary files that killed writers left behind; return how many.

        Call only when no writer of this store can still be running (the coordinator does it
        after every task of a run has finished): a worker that is SIGKILLed mid-write never
        reaches its own clean-up, and its ``.{name}.tmp-{uuid}`` would otherwise stay forever.
        """
        root = self._root_path
        self.fs.invalidate_cache(root)
        removed = 0
        for path in self._temporaries(root):
            try:
                self.fs.rm_file(path)
                removed += 1
            except FileNotFoundError:
                pass
        self.fs.invalidate_cache(root)
        return removed

    def _temporaries(self, root: str) -> list[str]:
        """Paths of the temporary files under ``root``."""
        return [p for p in self._file_paths(root) if _TMP_NAME.match(p.rpartition("/")[2])]

    def _file_paths(self, base: str) -> Iterator[str]:
        """Full paths of the files under the folder ``base``, at any depth (none if missing).

        A local store is walked with ``os.scandir``, one entry at a time: ``fs.find`` holds a
        details dict of every file (about 170 MB for a run of 100,000 scenarios).
        """
        if not self.is_local:
            try:
                yield from self.fs.find(base)
            except FileNotFoundError:
                pass
            return
        folders = [base]
        while folders:
            folder = folders.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(f"{folder}/{entry.name}")
                        else:
                            yield f"{folder}/{entry.name}"
            except (FileNotFoundError, NotADirectoryError):
                continue

    def ensure_writable(self) -> None:
        """Write and remove a probe file, so a bad location fails before any work is spent.

        Local directories the probe had to create are removed again, so a run that fails
        later leaves no empty output directory behind.

        Raises
        ------
        ConfigError
            If the location cannot be written; the message names the URL and the reason.
        """
        probe = f".sme-write-check-{uuid.uuid4().hex}"
        created = []
        if self.is_local:
            path = self._root_path
            while path and not os.path.exists(path):
                created.append(path)
                path = os.path.dirname(path)
        self.write_bytes(probe, b"")
        try:
            self.remove(probe)
        except Exception as exc:
            if _is_storage_error(exc):
                raise self._unwritable(probe, exc) from exc
            raise
        for path in created:  # deepest first
            try:
                os.rmdir(path)
            except OSError:
                break  # something else was written there meanwhile: keep it

    # -- structured content --------------------------------------------------------------------

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as UTF-8 JSON (indent 2, sorted keys), atomically.

        NaN and infinities become ``null`` (strict JSON has no such numbers); numpy scalars and
        arrays, dates and paths are converted to plain JSON values.
        """
        text = json.dumps(
            _jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
        )
        self.write_bytes(name, (text + "\n").encode("utf-8"))

    def read_json(self, name: str) -> Any:
        """Return the JSON content of ``name``."""
        return json.loads(self.read_bytes(name).decode("utf-8"))

    def write_frame(self, name: str, frame: pd.DataFrame, fmt: str) -> None:
        """Serialize ``frame`` with :func:`frame_to_bytes` and write it atomically.

        ``name`` is used as given: add the extension (:data:`EXTENSIONS`) yourself.
        """
        self.write_bytes(name, frame_to_bytes(frame, fmt))

    def write_zip(self, name: str, members: Mapping[str, bytes]) -> None:
        """Write a ZIP of ``members`` (archive name -> content), deterministically and atomically.

        Members are stored in sorted name order, deflated, with date 1980-01-01, so the same
        members always give the same bytes.
        """
        entries = (
            (arcname, len(members[arcname]), io.BytesIO(bytes(members[arcname])))
            for arcname in sorted(members)
        )
        self.write_bytes(name, _build_zip(entries))

    @contextlib.contextmanager
    def _atomic_file(self, name: str) -> Iterator[IO[bytes]]:
        """A binary file whose content appears at ``name`` atomically when the block ends.

        Locally the hidden temporary sibling, moved into place; elsewhere a local temporary
        file uploaded in one put. If the block raises, nothing appears and nothing is left.
        """
        target = self._fs_path(name)
        try:
            if self.is_local:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                tmp = self._tmp_sibling(target)
                try:
                    with open(tmp, "xb") as handle:
                        yield handle
                        if self.fsync:
                            handle.flush()
                            os.fsync(handle.fileno())
                    os.replace(tmp, target)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            else:
                with tempfile.NamedTemporaryFile(prefix="sme-", suffix=".part") as handle:
                    yield handle
                    handle.flush()
                    self.fs.put_file(handle.name, target)
        except Exception as exc:
            if _is_storage_error(exc):
                raise self._unwritable(name, exc) from exc
            raise

    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> None:
        """Write the concatenation of ``chunks`` to ``name`` atomically, without holding it all.

        For large generated files (a manifest of many thousand scenarios): memory holds one
        chunk at a time.
        """
        with self._atomic_file(name) as handle:
            for chunk in chunks:
                handle.write(chunk)

    def write_zip_from(
        self,
        name: str,
        member_names: Sequence[str],
        arcnames: Sequence[str] | None = None,
    ) -> None:
        """Zip files of this store into ``name``, reading one member at a time.

        Parameters
        ----------
        name : str
            The archive to write.
        member_names : sequence of str
            Relative names of the files to include.
        arcnames : sequence of str, optional
            Names inside the archive, one per member; defaults to ``member_names``.

        Notes
        -----
        Members are streamed in chunks, so memory holds the archive being built plus one
        chunk; they are stored in sorted archive-name order, as in :meth:`write_zip`.
        """
        member_names = list(member_names)
        arcnames = member_names if arcnames is None else list(arcnames)
        if len(arcnames) != len(member_names):
            raise ValueError(
                f"arcnames has {len(arcnames)} entries but member_names has {len(member_names)}"
            )
        if len(set(arcnames)) != len(arcnames):
            raise ValueError("arcnames must be unique")
        pairs = sorted(zip(arcnames, member_names, strict=True))

        def entries() -> Iterable[tuple[str, int, IO[bytes]]]:
            for arcname, member in pairs:
                path = self._fs_path(member)
                yield arcname, int(self.fs.size(path) or 0), self.fs.open(path, "rb")

        # The archive can be larger than memory (thousands of series): it is built in a file.
        with self._atomic_file(name) as handle:
            _build_zip(entries(), handle)
