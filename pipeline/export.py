"""Export a finished run for machine learning and backtesting.

A run directory written by :func:`pipeline.run_pipeline` (local or any fsspec URL, e.g.
``s3://bucket/run``) holds ``manifest.json`` and one series file per scenario. This module turns
it into the shapes ML and backtesting tools take, reading **one scenario at a time** (memory holds
one series, never the run) and writing every file atomically through
:class:`~pipeline.io.writers.OutputStore`:

* :func:`export_parquet_dataset` — one hive-partitioned Parquet dataset per run,
  ``scenario=k/part-0.parquet`` with columns ``timestamp, Open, High, Low, Close[, Volume]``;
  ``pyarrow.dataset`` and ``pandas.read_parquet(dir)`` add the ``scenario`` column.
* :func:`export_npz` / :func:`window_tensors` — fixed-length windows of per-bar features as a
  ``float32`` tensor ``(n_windows, window, n_features)`` in a NumPy ``.npz``.
* :func:`export_tfrecord` — the same windows as ``tf.train.Example`` records in a TFRecord file,
  encoded here without TensorFlow (protobuf wire format and TFRecord framing written by hand).
* :func:`to_backtest_frame` / :func:`iter_run_frames` — OHLCV frames in the layouts of
  backtesting.py, backtrader, vectorbt and zipline.

Window features
---------------
Each bar ``t`` becomes a row of features (:data:`FEATURES`; default :data:`DEFAULT_FEATURES`),
with ``O, H, L, C, V`` the bar's open, high, low, close and volume:

==================  ==================================  ======================================
name                definition                          note
==================  ==================================  ======================================
``log_return``      ``log(C_t / C_{t-1})``              close-to-close log-return
``log_high_close``  ``log(H_t / C_t)``                  >= 0: how far the high reaches above C
``log_low_close``   ``log(L_t / C_t)``                  <= 0: how far the low reaches below C
``log_open_gap``    ``log(O_t / C_{t-1})``              overnight gap
``log1p_volume``    ``log(1 + V_t)``                    only when the series has volume
``Open`` ...        raw ``O_t, H_t, L_t, C_t, V_t``     not stationary; ask for them explicitly
==================  ==================================  ======================================

The first four are scale-free and stationary, which is what a model trained on many scenarios
(each at its own price level) needs; together with the close they determine the bar exactly
(``O_t = C_{t-1} e^{gap}``, ``H_t = C_t e^{log_high_close}``, ...). ``log_return`` and
``log_open_gap`` need the previous close, so when any of them is asked for, bar 0 has no row and
windows begin at bar 1. A window's ``start`` is the position (0-based) of its first bar in the
series, so ``frame.iloc[start : start + window]`` are the bars it covers.

Multi-asset runs
----------------
A scenario record of the manifest lists its series as ``files: {format: name}``. A multi-asset
record also carries ``assets: {symbol: {format: name}}`` (one series per asset, on one time
index; ``files`` then names the first asset's), which takes precedence. Then the Parquet
dataset gets an ``asset`` column (rows ordered by asset, then time), window features are laid
out asset by asset along the feature axis with names ``"{symbol}:{feature}"`` (symbols sorted),
and :func:`iter_run_frames` yields ``{symbol: frame}`` instead of a frame. A
single-asset run is the plain case: no ``asset`` column, no prefixes. Higher-timeframe series a
record may list under ``timeframes`` are not exported.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, InputDataError
from pipeline.io.writers import OutputStore

__all__ = [
    "FEATURES",
    "DEFAULT_FEATURES",
    "LAYOUTS",
    "DATASET_DIR",
    "NPZ_NAME",
    "TFRECORD_NAME",
    "WindowMeta",
    "window_tensors",
    "export_parquet_dataset",
    "export_npz",
    "export_tfrecord",
    "export_run",
    "to_backtest_frame",
    "iter_run_frames",
    "read_record_series",
    "crc32c",
    "masked_crc32c",
]

#: Every window feature this module computes, in its canonical order.
FEATURES: tuple[str, ...] = (
    "log_return",
    "log_high_close",
    "log_low_close",
    "log_open_gap",
    "log1p_volume",
    "Open",
    "High",
    "Low",
    "Close",
    "Volume",
)
#: Features used when none are asked for (``log1p_volume`` only for series with volume).
DEFAULT_FEATURES: tuple[str, ...] = FEATURES[:5]
#: Backtest layouts understood by :func:`to_backtest_frame`.
LAYOUTS: tuple[str, ...] = ("backtesting.py", "backtrader", "vectorbt", "zipline")

#: Default locations inside a run directory.
DATASET_DIR = "ml/dataset"
NPZ_NAME = "ml/windows.npz"
TFRECORD_NAME = "ml/windows.tfrecord"

_MANIFEST = "manifest.json"
_FORMAT_PREFERENCE = ("parquet", "csv", "xlsx")
_OHLC = ("Open", "High", "Low", "Close")
_LAGGED = frozenset({"log_return", "log_open_gap"})
_NEEDS_VOLUME = frozenset({"log1p_volume", "Volume"})
_PART_NAME = re.compile(r"^scenario=(\d+)/part-0\.parquet$")
_COPY_CHUNK = 1 << 20
# Records whose CRCs are computed together (vectorized over records, see _crc32c_rows).
_CRC_BATCH = 8192


# --------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as TFRecord framing needs it
# --------------------------------------------------------------------------------------------


def _crc_table() -> np.ndarray:
    poly = np.uint32(0x82F63B78)  # reflected Castagnoli polynomial
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ poly, table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc_table()
_CRC_TABLE_LIST = [int(v) for v in _CRC_TABLE]
_MASK_DELTA = 0xA282EAD8


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as used by TFRecord, iSCSI and ext4.

    Parameters
    ----------
    data : bytes-like

    Returns
    -------
    int
        The checksum, in ``[0, 2**32)``. ``crc32c(b"123456789") == 0xE3069283``.

    Notes
    -----
    A table-driven, byte-at-a-time implementation in pure Python: fine for the short inputs it
    is used for (record lengths, tests). Records are checksummed in batches by a vectorized
    version of the same recurrence.
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE_LIST
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc: int | np.ndarray) -> int | np.ndarray:
    # TFRecord stores a rotated and offset CRC, so that a CRC of data that itself holds CRCs
    # does not degenerate.
    if isinstance(crc, np.ndarray):
        crc = crc.astype(np.uint64)
        return ((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF).astype(np.uint32)
    return ((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF)


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C of ``data`` that TFRecord framing stores.

    ``((crc >> 15) | (crc << 17)) + 0xA282EAD8``, modulo ``2**32``, with ``crc = crc32c(data)``.
    """
    return int(_mask(crc32c(data)))


def _crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-32C of every row of a ``(n, length)`` uint8 array, vectorized over rows."""
    rows = np.asfortranarray(rows, dtype=np.uint8)
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    table = _CRC_TABLE
    for j in range(rows.shape[1]):
        crc = table[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


# --------------------------------------------------------------------------------------------
# Protobuf wire format of tf.train.Example
# --------------------------------------------------------------------------------------------
#
#   Example   { Features features = 1; }
#   Features  { map<string, Feature> feature = 1; }   (entry: string key = 1; Feature value = 2)
#   Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
#                            Int64List int64_list = 3; } }
#   BytesList { repeated bytes value = 1; }
#   FloatList { repeated float value = 1 [packed = true]; }
#   Int64List { repeated int64 value = 1 [packed = true]; }


def _varint(value: int) -> bytes:
    value = int(value)
    if value < 0:  # int64 two's complement, as protobuf encodes negative int64 (10 bytes)
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): tag, length, payload."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _float_feature(values: np.ndarray) -> bytes:
    packed = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return _delimited(2, _delimited(1, packed))


def _int64_feature(values: Iterable[int]) -> bytes:
    return _delimited(3, _delimited(1, b"".join(_varint(v) for v in values)))


def _bytes_feature(values: Iterable[bytes]) -> bytes:
    return _delimited(1, b"".join(_delimited(1, v) for v in values))


def _map_entry(key: str, feature: bytes) -> bytes:
    return _delimited(1, _delimited(1, key.encode("utf-8")) + _delimited(2, feature))


def _window_examples(scenario: int, tensor: np.ndarray, starts: np.ndarray,
                     labels: Sequence[str], start_entries: dict[int, bytes]) -> list[bytes]:
    """Encoded ``Example`` of each window of one scenario (see :func:`export_tfrecord`).

    ``Example{features: Features{feature: {key: Feature}}}`` with map entries in sorted key
    order. The parts that do not change between windows are encoded once: encoding, not
    checksumming, is what a TFRecord export spends its time on.
    """
    n, window, n_features = tensor.shape
    constant = (  # sorted keys: feature_names, scenario, shape, (start, window)
        _map_entry("feature_names", _bytes_feature(lbl.encode("utf-8") for lbl in labels))
        + _map_entry("scenario", _int64_feature([scenario]))
        + _map_entry("shape", _int64_feature([window, n_features]))
    )
    size = window * n_features * 4
    template = _map_entry("window", _float_feature(np.zeros(window * n_features)))
    window_prefix = template[: len(template) - size]  # the float payload comes last
    data = np.ascontiguousarray(tensor, dtype="<f4").tobytes()
    out = []
    for i in range(n):
        start = int(starts[i])
        entry = start_entries.get(start)
        if entry is None:
            entry = start_entries[start] = _map_entry("start", _int64_feature([start]))
        body = b"".join((constant, entry, window_prefix, data[i * size : (i + 1) * size]))
        out.append(_varint(1 << 3 | 2) + _varint(len(body)) + body)
    return out


def _frame_records(records: Sequence[bytes]) -> bytes:
    """TFRecord framing of ``records``: length, masked CRC of length, data, masked CRC of data."""
    if not records:
        return b""
    lengths = [struct.pack("<Q", len(r)) for r in records]
    length_crc = _mask(_crc32c_rows(np.frombuffer(b"".join(lengths), np.uint8).reshape(-1, 8)))
    data_crc = np.empty(len(records), dtype=np.uint32)
    by_length: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        by_length.setdefault(len(r), []).append(i)
    for size, idx in by_length.items():
        rows = np.frombuffer(b"".join(records[i] for i in idx), np.uint8).reshape(len(idx), size)
        data_crc[idx] = _mask(_crc32c_rows(rows))
    out = bytearray()
    for i, r in enumerate(records):
        out += lengths[i]
        out += struct.pack("<I", int(length_crc[i]))
        out += r
        out += struct.pack("<I", int(data_crc[i]))
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Reading a finished run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scenario:
    scenario: int
    sources: tuple[tuple[str | None, str, str], ...]  # (asset or None, format, file name)

    @property
    def multi_asset(self) -> bool:
        return self.sources[0][0] is not None


def _pick_format(files: Any, where: str) -> tuple[str, str]:
    if not isinstance(files, Mapping):
        raise InputDataError(f"{where}: 'files' must map format to file name, got {files!r}")
    for fmt in _FORMAT_PREFERENCE:
        name = files.get(fmt)
        if name:
            return fmt, str(name)
    raise InputDataError(
        f"{where}: no series file in a readable format (have {sorted(files)}; "
        f"readable: {', '.join(_FORMAT_PREFERENCE)})"
    )


def _open_run(run_dir: str | os.PathLike, storage_options: dict | None
              ) -> tuple[OutputStore, dict, list[_Scenario]]:
    """The run's store, manifest and scenarios (sorted), every listed file checked to exist."""
    store = OutputStore(run_dir, storage_options=storage_options)
    try:
        manifest = store.read_json(_MANIFEST)
    except FileNotFoundError:
        raise InputDataError(
            f"{store.path(_MANIFEST)}: not found; pass a finished run's output directory (the "
            "output.path of `sme run`, holding manifest.json and the series files)"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{store.path(_MANIFEST)}: not valid JSON ({exc})") from exc
    entries = manifest.get("scenarios") if isinstance(manifest, dict) else None
    if not isinstance(entries, list):
        raise InputDataError(f"{store.path(_MANIFEST)}: not a run manifest (no 'scenarios' list)")
    if not entries:
        raise InputDataError(f"{store.path(_MANIFEST)}: the run has no accepted scenarios")

    scenarios = []
    for i, entry in enumerate(entries):
        try:
            k = int(entry["scenario"])
        except (KeyError, TypeError, ValueError):
            raise InputDataError(
                f"{store.path(_MANIFEST)}: scenarios[{i}] has no scenario number"
            ) from None
        where = f"{store.path(_MANIFEST)}: scenario {k}"
        assets = entry.get("assets")
        if assets:
            if not isinstance(assets, Mapping):
                raise InputDataError(f"{where}: 'assets' must map symbol to {{format: name}}")
            sources = tuple((str(sym), *_pick_format(assets[sym], f"{where}, asset {sym!r}"))
                            for sym in sorted(assets, key=str))
        else:
            sources = ((None, *_pick_format(entry.get("files"), where)),)
        scenarios.append(_Scenario(k, sources))
    scenarios.sort(key=lambda s: s.scenario)
    numbers = [s.scenario for s in scenarios]
    if len(set(numbers)) != len(numbers):
        raise InputDataError(f"{store.path(_MANIFEST)}: scenario numbers repeat")

    # One listing instead of a request per file: a missing file is found before anything is
    # written, not after half of the export.
    present = set(store.list())
    for s in scenarios:
        for _, _, name in s.sources:
            if name not in present:
                raise InputDataError(
                    f"{store.path(name)}: series file of scenario {s.scenario} listed in the "
                    "manifest is missing"
                )
    return store, manifest, scenarios


def _read_frame(store: OutputStore, fmt: str, name: str) -> pd.DataFrame:
    try:
        data = store.read_bytes(name)
    except FileNotFoundError:
        raise InputDataError(f"{store.path(name)}: series file listed in the manifest is missing"
                             ) from None
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        elif fmt == "csv":
            frame = pd.read_csv(io.BytesIO(data), index_col=0, parse_dates=True)
        else:
            frame = pd.read_excel(io.BytesIO(data), index_col=0)
    except Exception as exc:  # noqa: BLE001 - any parser failure means an unusable file
        raise InputDataError(f"{store.path(name)}: cannot read the series ({exc})") from exc
    missing = [c for c in _OHLC if c not in frame.columns]
    if missing:
        raise InputDataError(
            f"{store.path(name)}: series lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, frame.columns))})"
        )
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InputDataError(f"{store.path(name)}: the first column is not a date/time index")
    cols = list(_OHLC) + (["Volume"] if "Volume" in frame.columns else [])
    frame = frame[cols]
    frame.attrs = {}
    return frame


def read_record_series(store: OutputStore, record: Mapping[str, Any]
                       ) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The series of one manifest (or task) record: a frame, or ``{symbol: frame}``.

    Parquet is read if listed, else CSV, else XLSX.
    """
    where = f"scenario {record.get('scenario')}"
    assets = record.get("assets")
    if assets:
        return {sym: _read_frame(store, *_pick_format(files, where)) for sym, files in assets.items()}
    return _read_frame(store, *_pick_format(record.get("files"), where))


def _read_scenario(store: OutputStore, s: _Scenario) -> pd.DataFrame | dict[str, pd.DataFrame]:
    if not s.multi_asset:
        _, fmt, name = s.sources[0]
        return _read_frame(store, fmt, name)
    return {asset: _read_frame(store, fmt, name) for asset, fmt, name in s.sources}


def iter_run_frames(
    run_dir: str | os.PathLike,
    storage_options: dict | None = None,
    layout: str | None = None,
) -> Iterator[tuple[int, pd.DataFrame | dict[str, pd.DataFrame]]]:
    """Yield ``(scenario, frame)`` of a finished run, one scenario at a time.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run's output directory or URL (holding ``manifest.json``).
    storage_options : dict, optional
        fsspec options to reach ``run_dir`` (e.g. S3 credentials and endpoint).
    layout : {"backtesting.py", "backtrader", "vectorbt", "zipline"}, optional
        Convert each frame with :func:`to_backtest_frame`; default: the frame as stored
        (``Date`` index, ``Open, High, Low, Close[, Volume]``).

    Yields
    ------
    scenario : int
        Scenario number (from 1), ascending.
    frame : pandas.DataFrame or dict of str to pandas.DataFrame
        The series; for a multi-asset scenario, ``{symbol: frame}``.

    Raises
    ------
    InputDataError
        ``run_dir`` holds no run manifest, a listed series file is missing or unreadable
        (raised before the first frame is yielded, for the checks the manifest allows).
    ConfigError
        Unknown ``layout``.

    Notes
    -----
    Series are read lazily: memory holds one scenario at a time. Of the files of a scenario,
    Parquet is read if listed, else CSV, else XLSX.
    """
    if layout is not None:
        _check_layout(layout)
    store, _, scenarios = _open_run(run_dir, storage_options)

    def frames() -> Iterator[tuple[int, pd.DataFrame | dict[str, pd.DataFrame]]]:
        for s in scenarios:
            data = _read_scenario(store, s)
            if layout is not None:
                if isinstance(data, dict):
                    data = {a: to_backtest_frame(f, layout) for a, f in data.items()}
                else:
                    data = to_backtest_frame(data, layout)
            yield s.scenario, data

    return frames()


# --------------------------------------------------------------------------------------------
# Parquet dataset
# --------------------------------------------------------------------------------------------


def _scenario_table(data: pd.DataFrame | dict[str, pd.DataFrame]) -> pa.Table:
    def one(frame: pd.DataFrame, asset: str | None) -> pa.Table:
        arrays = [pa.array(frame.index)]
        names = ["timestamp"]
        if asset is not None:
            arrays.append(pa.array([asset] * len(frame), type=pa.string()))
            names.append("asset")
        for col in frame.columns:
            arrays.append(pa.array(np.asarray(frame[col], dtype=np.float64)))
            names.append(str(col))
        return pa.Table.from_arrays(arrays, names=names)

    if isinstance(data, pd.DataFrame):
        return one(data, None)
    tables = [one(frame, asset) for asset, frame in data.items()]
    columns = {tuple(t.column_names) for t in tables}
    if len(columns) > 1:
        raise InputDataError(f"assets of one scenario have different columns: {sorted(columns)}")
    return pa.concat_tables(tables)


def _table_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    # As the run's own series files: zstd, no dictionary encoding (prices rarely repeat).
    pq.write_table(table, out, compression="zstd", use_dictionary=False)
    return out.getvalue()


def _dest_store(run: OutputStore, dest: str | os.PathLike | None, default: str,
                storage_options: dict | None) -> OutputStore:
    url = run.path(default) if dest is None else dest
    return OutputStore(url, storage_options=storage_options)


def _dest_file(run: OutputStore, dest: str | os.PathLike | None, default: str,
               storage_options: dict | None) -> tuple[OutputStore, str]:
    url = str(run.path(default) if dest is None else os.fspath(dest)).replace("\\", "/")
    parent, _, name = url.rpartition("/")
    if not name or parent.endswith(":/"):
        raise ConfigError(f"dest: expected a file path or URL (e.g. out/windows.npz), got {dest!r}")
    if not parent:  # "windows.npz" (current directory) or "/windows.npz"
        parent = "/" if url.startswith("/") else "."
    return OutputStore(parent, storage_options=storage_options), name


def _is_local(out: OutputStore) -> bool:
    protocol = out.fs.protocol
    return "file" in ({protocol} if isinstance(protocol, str) else set(protocol))


def _first_missing_dir(out: OutputStore) -> str | None:
    """The outermost directory of ``out.url`` that does not exist yet (local stores only)."""
    if not _is_local(out):
        return None
    path, missing = out.url, None
    while not os.path.exists(path):
        missing, path = path, os.path.dirname(path)
    return missing


def _prune_empty_dirs(out: OutputStore, names: Sequence[str], created: str | None) -> None:
    """Remove the local directories this export created and left empty (object stores have
    none): partition directories, then ``out.url`` and its parents up to ``created``."""
    if created is None:
        return
    dirs = sorted({os.path.dirname(out.path(n)) for n in names}, key=len, reverse=True)
    path = out.url
    while True:
        dirs.append(path)
        if path == created or len(path) <= len(created):
            break
        path = os.path.dirname(path)
    for path in dirs:
        try:
            os.rmdir(path)  # only succeeds when empty
        except OSError:
            pass


def export_parquet_dataset(
    run_dir: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    storage_options: dict | None = None,
) -> str:
    """Write a run's series as one hive-partitioned Parquet dataset.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run's output directory or URL (holding ``manifest.json``).
    dest : str or os.PathLike, optional
        The dataset directory or URL; default ``<run_dir>/ml/dataset``.
    storage_options : dict, optional
        fsspec options for ``run_dir`` and ``dest``.

    Returns
    -------
    str
        The dataset's full path or URL.

    Raises
    ------
    InputDataError
        No run manifest, a listed series file missing or unreadable. Missing files are found
        before anything is written; if a file cannot be parsed midway, the partitions written by
        this call (and the directories they left empty) are removed again.

    Notes
    -----
    One file per scenario, ``scenario={k}/part-0.parquet`` (zstd), with columns
    ``timestamp, Open, High, Low, Close[, Volume]`` (plus ``asset`` after ``timestamp`` for a
    multi-asset run): the values of the run's series files exactly. ``scenario`` lives in the
    directory name, as hive partitioning has it: ``pyarrow.dataset.dataset(path,
    partitioning="hive")`` reads it as an int32 column, ``pandas.read_parquet(path)`` as a
    categorical. Files are written scenario by scenario, each atomically; memory holds one
    scenario. Partition files ``scenario=N/part-0.parquet`` already in ``dest`` for scenarios
    this run does not have are deleted, so the directory is exactly this run's dataset.
    """
    run, _, scenarios = _open_run(run_dir, storage_options)
    out = _dest_store(run, dest, DATASET_DIR, storage_options)
    created = _first_missing_dir(out)
    written: list[str] = []
    try:
        for s in scenarios:
            name = f"scenario={s.scenario}/part-0.parquet"
            out.write_bytes(name, _table_bytes(_scenario_table(_read_scenario(run, s))))
            written.append(name)
    except BaseException:
        for name in written:
            out.remove(name)
        _prune_empty_dirs(out, written, created)
        raise
    keep = {s.scenario for s in scenarios}
    for name in out.list("scenario="):
        match = _PART_NAME.match(name)
        if match and int(match.group(1)) not in keep:
            out.remove(name)
    return out.url


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowMeta:
    """What each window of :func:`window_tensors` is.

    Attributes
    ----------
    scenario : ndarray of int64, shape (n_windows,)
        The scenario (series) each window comes from.
    start : ndarray of int64, shape (n_windows,)
        Position (0-based) in its series of the window's first bar.
    feature_names : tuple of str
        Names along the last axis of the windows.
    window : int
        Bars per window.
    stride : int
        Bars between the starts of consecutive windows of a series.
    """

    scenario: np.ndarray
    start: np.ndarray
    feature_names: tuple[str, ...]
    window: int
    stride: int


def _check_window(window: Any, stride: Any) -> tuple[int, int]:
    try:
        w = int(window)
        st = w if stride is None else int(stride)
    except (TypeError, ValueError):
        raise ConfigError(f"window/stride: expected integers, got {window!r}, {stride!r}"
                          ) from None
    if w < 1 or w != window:
        raise ConfigError(f"window: expected an integer >= 1, got {window!r}")
    if st < 1 or (stride is not None and st != stride):
        raise ConfigError(f"stride: expected an integer >= 1, got {stride!r}")
    return w, st


def _check_features(features: Sequence[str] | str | None) -> tuple[tuple[str, ...], bool]:
    """The asked-for features, and whether ``log1p_volume`` may be dropped (the default)."""
    if features is None:
        return DEFAULT_FEATURES, True
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    names = tuple(str(f) for f in features)
    if not names:
        raise ConfigError("features: expected at least one feature")
    unknown = [f for f in names if f not in FEATURES]
    if unknown:
        raise ConfigError(
            f"features: unknown feature(s) {', '.join(map(repr, unknown))}; "
            f"allowed values are {', '.join(FEATURES)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"features: repeated feature in {list(names)}")
    return names, False


def _resolve_features(names: tuple[str, ...], optional_volume: bool, has_volume: bool,
                      where: str) -> tuple[str, ...]:
    if has_volume:
        return names
    if optional_volume:
        return tuple(f for f in names if f not in _NEEDS_VOLUME)
    wanted = [f for f in names if f in _NEEDS_VOLUME]
    if wanted:
        raise InputDataError(
            f"{where}: feature(s) {', '.join(wanted)} need volume but the series has no Volume "
            "column; leave them out of features"
        )
    return names


def _feature_matrix(frame: pd.DataFrame, names: tuple[str, ...], where: str
                    ) -> tuple[np.ndarray, int]:
    """``(bars - lag, n_features)`` float64 features of ``frame``, and ``lag`` (0 or 1)."""
    lag = 1 if _LAGGED.intersection(names) else 0
    cols = {c: np.asarray(frame[c], dtype=np.float64) for c in frame.columns if c in FEATURES}
    close = cols["Close"]
    prev_close = close[:-1]
    cur = {c: v[lag:] for c, v in cols.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        compute = {
            "log_return": lambda: np.log(cur["Close"] / prev_close),
            "log_high_close": lambda: np.log(cur["High"] / cur["Close"]),
            "log_low_close": lambda: np.log(cur["Low"] / cur["Close"]),
            "log_open_gap": lambda: np.log(cur["Open"] / prev_close),
            "log1p_volume": lambda: np.log1p(cur["Volume"]),
        }
        columns = [compute[f]() if f in compute else cur[f] for f in names]
    values = np.stack(columns, axis=1) if columns else np.empty((len(close) - lag, 0))
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputDataError(
            f"{where}: feature {names[col]!r} is not finite at bar {row + lag} "
            "(prices must be > 0 and volume >= 0)"
        )
    return values, lag


def _scenario_features(data: pd.DataFrame | Mapping[str, pd.DataFrame], names: tuple[str, ...],
                       optional_volume: bool, where: str
                       ) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """Features of one scenario (assets side by side): values, lag, feature names."""
    if isinstance(data, pd.DataFrame):
        frames: dict[str | None, pd.DataFrame] = {None: data}
    elif isinstance(data, Mapping) and data:
        frames = {str(a): data[a] for a in sorted(data, key=str)}
    else:
        raise InputDataError(f"{where}: expected a DataFrame or a non-empty {{asset: DataFrame}}")
    blocks, labels, lag, index = [], [], 0, None
    for asset, frame in frames.items():
        at = where if asset is None else f"{where}, asset {asset!r}"
        if not isinstance(frame, pd.DataFrame):
            raise InputDataError(f"{at}: expected a DataFrame, got {type(frame).__name__}")
        missing = [c for c in _OHLC if c not in frame.columns]
        if missing:
            raise InputDataError(f"{at}: missing column(s) {', '.join(missing)}")
        if index is not None and not frame.index.equals(index):
            raise InputDataError(f"{at}: the assets of a scenario must share one time index")
        index = frame.index
        used = _resolve_features(names, optional_volume, "Volume" in frame.columns, at)
        values, lag = _feature_matrix(frame, used, at)
        blocks.append(values)
        labels.extend(used if asset is None else [f"{asset}:{f}" for f in used])
    return np.concatenate(blocks, axis=1), lag, tuple(labels)


def _windows(values: np.ndarray, lag: int, window: int, stride: int, where: str
             ) -> tuple[np.ndarray, np.ndarray]:
    usable = values.shape[0]
    if window > usable:
        extra = " that have every feature (bar 0 has no previous close)" if lag else ""
        raise ConfigError(
            f"window: {window} bars is longer than the {usable} bars of {where}{extra}; "
            "choose a smaller window"
        )
    starts = np.arange(0, usable - window + 1, stride, dtype=np.int64)
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (n, F, window)
    out = view[starts].transpose(0, 2, 1).astype(np.float32)  # copy, C-contiguous
    return out, starts + lag


def _as_scenarios(frames: Any) -> list[tuple[int, Any]]:
    if isinstance(frames, pd.DataFrame):
        return [(1, frames)]
    if isinstance(frames, Mapping):
        if frames and all(isinstance(v, pd.DataFrame) for v in frames.values()) and not all(
            isinstance(k, int | np.integer) for k in frames
        ):
            return [(1, frames)]  # {asset: frame}: one multi-asset series
        try:
            return [(int(k), frames[k]) for k in frames]
        except (TypeError, ValueError):
            raise InputDataError("frames: mapping keys must be scenario numbers") from None
    if isinstance(frames, Sequence) and not isinstance(frames, str | bytes):
        return list(enumerate(frames, start=1))
    raise InputDataError(
        f"frames: expected a DataFrame, a sequence of them or {{scenario: DataFrame}}, got "
        f"{type(frames).__name__}"
    )


def window_tensors(
    frames: pd.DataFrame | Sequence[pd.DataFrame] | Mapping[int, pd.DataFrame],
    window: int,
    stride: int | None = None,
    features: Sequence[str] | None = None,
) -> tuple[np.ndarray, WindowMeta]:
    """Cut OHLCV series into fixed-length windows of per-bar features.

    Parameters
    ----------
    frames : DataFrame, sequence of DataFrames, or mapping of scenario number to DataFrame
        OHLCV series (columns ``Open, High, Low, Close[, Volume]``). A sequence is numbered from
        1 (as a run numbers its scenarios). A value may also be ``{symbol: DataFrame}`` for a
        multi-asset scenario whose assets share one time index.
    window : int
        Bars per window, >= 1.
    stride : int, optional
        Bars between the starts of consecutive windows of a series; default ``window``
        (non-overlapping windows). ``stride=1`` gives every window.
    features : sequence of str, optional
        Names from :data:`FEATURES`, in the order wanted along the last axis. Default
        :data:`DEFAULT_FEATURES`, where ``log1p_volume`` is left out for series without volume
        (asked for explicitly, a volume feature on such a series is an error).

    Returns
    -------
    windows : ndarray of float32, shape (n_windows, window, n_features)
        Windows of all series, series after series, each in order of ``start``.
    meta : WindowMeta
        ``scenario``, ``start`` (per window), ``feature_names``, ``window``, ``stride``.

    Raises
    ------
    ConfigError
        Bad ``window``/``stride``, unknown feature, or a window longer than a series.
    InputDataError
        A frame lacking OHLC columns, a volume feature asked for without volume, non-finite
        features (non-positive prices), or series whose feature sets differ.

    Notes
    -----
    Series ``k`` with ``n`` bars gives windows starting at bars ``lag, lag + stride, ...`` up to
    ``n - window``, where ``lag`` is 1 if a feature needs the previous close, else 0. Features
    are computed in float64 and then rounded to float32.
    """
    w, st = _check_window(window, stride)
    names, optional_volume = _check_features(features)
    tensors, scen, starts, feature_names = [], [], [], None
    for k, data in _as_scenarios(frames):
        where = f"scenario {k}"
        values, lag, labels = _scenario_features(data, names, optional_volume, where)
        if feature_names is not None and labels != feature_names:
            raise InputDataError(
                f"{where}: features {list(labels)} differ from the first series' "
                f"{list(feature_names)}"
            )
        feature_names = labels
        out, first = _windows(values, lag, w, st, where)
        tensors.append(out)
        scen.append(np.full(len(first), k, dtype=np.int64))
        starts.append(first)
    if feature_names is None:
        raise InputDataError("frames: no series given")
    meta = WindowMeta(np.concatenate(scen), np.concatenate(starts), feature_names, w, st)
    return np.concatenate(tensors), meta


def _run_windows(run: OutputStore, manifest: dict, scenarios: list[_Scenario], window: int,
                 stride: int, names: tuple[str, ...], optional_volume: bool
                 ) -> Iterator[tuple[int, np.ndarray, np.ndarray, tuple[str, ...]]]:
    """Windows of a run, scenario by scenario: (scenario, windows, starts, feature names)."""
    # A window too long for the run is known from the manifest before any series is read.
    length = (manifest.get("model") or {}).get("length")
    if isinstance(length, int) and length > 0:
        lag = 1 if _LAGGED.intersection(names) else 0
        if window > length - lag:
            _windows(np.empty((length - lag, 0)), lag, window, stride, "the run's series")
    feature_names = None
    for s in scenarios:
        where = f"scenario {s.scenario}"
        values, lag, labels = _scenario_features(_read_scenario(run, s), names, optional_volume,
                                                 where)
        if feature_names is not None and labels != feature_names:
            raise InputDataError(
                f"{where}: features {list(labels)} differ from scenario "
                f"{scenarios[0].scenario}'s {list(feature_names)}"
            )
        feature_names = labels
        out, starts = _windows(values, lag, window, stride, where)
        yield s.scenario, out, starts, labels


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    out = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(int(n) for n in shape)}
    np.lib.format.write_array_header_2_0(out, header)
    return out.getvalue()


def _file_chunks(handle: Any) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(_COPY_CHUNK):
        yield chunk


def export_npz(
    run_dir: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    window: int = 24,
    stride: int | None = None,
    features: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> str:
    """Write a run's feature windows as a NumPy ``.npz`` file.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run's output directory or URL (holding ``manifest.json``).
    dest : str or os.PathLike, optional
        The file to write (path or URL); default ``<run_dir>/ml/windows.npz``.
    window, stride, features
        As in :func:`window_tensors` (default 24 bars, non-overlapping, :data:`DEFAULT_FEATURES`).
    storage_options : dict, optional
        fsspec options for ``run_dir`` and ``dest``.

    Returns
    -------
    str
        The file's full path or URL.

    Raises
    ------
    ConfigError, InputDataError
        As :func:`window_tensors`, and for a missing manifest or series file. Nothing is written
        then.

    Notes
    -----
    Arrays (``numpy.load(path)``, no pickle needed):

    * ``windows`` float32 ``(n_windows, window, n_features)``
    * ``scenario`` int64 ``(n_windows,)`` and ``start`` int64 ``(n_windows,)``
    * ``feature_names`` str ``(n_features,)``

    Windows are streamed scenario by scenario into a local temporary file, then zipped (stored,
    not compressed: float32 noise hardly compresses) and written atomically; memory holds one
    scenario, local disk about twice the output's size.
    """
    w, st = _check_window(window, stride)
    names, optional_volume = _check_features(features)
    run, manifest, scenarios = _open_run(run_dir, storage_options)
    out, name = _dest_file(run, dest, NPZ_NAME, storage_options)

    scen, starts, feature_names, n = [], [], (), 0
    with tempfile.TemporaryFile(prefix="sme-npz-") as raw, \
            tempfile.TemporaryFile(prefix="sme-npz-") as archive:
        for k, tensor, first, labels in _run_windows(run, manifest, scenarios, w, st, names,
                                                     optional_volume):
            raw.write(tensor.tobytes())
            scen.append(np.full(len(first), k, dtype=np.int64))
            starts.append(first)
            feature_names = labels
            n += len(first)
        small = {
            "scenario": np.concatenate(scen),
            "start": np.concatenate(starts),
            "feature_names": np.array(feature_names, dtype=str),
        }
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            info = zipfile.ZipInfo("windows.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as member:
                member.write(_npy_header(np.dtype("<f4"), (n, w, len(feature_names))))
                for chunk in _file_chunks(raw):
                    member.write(chunk)
            for key, arr in small.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                            buf.getvalue())
        out.write_chunks(name, _file_chunks(archive))
    return out.path(name)


def export_tfrecord(
    run_dir: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    window: int = 24,
    stride: int | None = None,
    features: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> str:
    """Write a run's feature windows as ``tf.train.Example`` records in a TFRecord file.

    TensorFlow is not needed: the protobuf wire format and the TFRecord framing (length, masked
    CRC-32C of the length, data, masked CRC-32C of the data) are written by this module.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run's output directory or URL (holding ``manifest.json``).
    dest : str or os.PathLike, optional
        The file to write (path or URL); default ``<run_dir>/ml/windows.tfrecord``.
    window, stride, features
        As in :func:`window_tensors` (default 24 bars, non-overlapping, :data:`DEFAULT_FEATURES`).
    storage_options : dict, optional
        fsspec options for ``run_dir`` and ``dest``.

    Returns
    -------
    str
        The file's full path or URL.

    Raises
    ------
    ConfigError, InputDataError
        As :func:`export_npz`. Nothing is written then.

    Notes
    -----
    One record per window, in the order of :func:`export_npz`, uncompressed. Features of each
    ``Example``:

    * ``window``: float_list, the ``(window, n_features)`` window flattened row-major (bar by bar)
    * ``shape``: int64_list ``[window, n_features]``
    * ``scenario``: int64_list ``[k]``; ``start``: int64_list ``[start]``
    * ``feature_names``: bytes_list, UTF-8 names

    Records are streamed into a local temporary file, which is then written atomically; memory
    holds one scenario and a batch of records, local disk the output's size.
    """
    w, st = _check_window(window, stride)
    names, optional_volume = _check_features(features)
    run, manifest, scenarios = _open_run(run_dir, storage_options)
    out, name = _dest_file(run, dest, TFRECORD_NAME, storage_options)

    # Built in a local temporary file first, so that a series found unusable halfway leaves
    # nothing behind at the destination (not even a directory).
    with tempfile.TemporaryFile(prefix="sme-tfrecord-") as tmp:
        pending: list[bytes] = []
        start_entries: dict[int, bytes] = {}
        for k, tensor, starts, labels in _run_windows(run, manifest, scenarios, w, st, names,
                                                      optional_volume):
            pending.extend(_window_examples(k, tensor, starts, labels, start_entries))
            if len(pending) >= _CRC_BATCH:
                tmp.write(_frame_records(pending))
                pending = []
        tmp.write(_frame_records(pending))
        out.write_chunks(name, _file_chunks(tmp))
    return out.path(name)


def export_run(
    run_dir: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    parquet: bool = True,
    npz: bool = True,
    tfrecord: bool = True,
    window: int = 24,
    stride: int | None = None,
    features: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> dict[str, str]:
    """Run the chosen exports of a run into one directory (what ``sme export`` does).

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run's output directory or URL.
    dest : str or os.PathLike, optional
        Directory or URL receiving ``dataset/``, ``windows.npz`` and ``windows.tfrecord``;
        default ``<run_dir>/ml``.
    parquet, npz, tfrecord : bool, default True
        Which exports to make.
    window, stride, features, storage_options
        As in :func:`export_npz`.

    Returns
    -------
    dict of str to str
        ``{"parquet": ..., "npz": ..., "tfrecord": ...}``: where each asked-for export went.

    Notes
    -----
    Arguments and the manifest are checked before anything is written, and the windowed
    exports run first, so a window that does not fit the series stops the call before the
    dataset is written.
    """
    if not (parquet or npz or tfrecord):
        raise ConfigError("export: nothing to do; ask for at least one of parquet, npz, tfrecord")
    _check_window(window, stride)
    _check_features(features)
    run, _, _ = _open_run(run_dir, storage_options)
    base = run.path("ml") if dest is None else os.fspath(dest).rstrip("/")
    kwargs = {"window": window, "stride": stride, "features": features,
              "storage_options": storage_options}
    done: dict[str, str] = {}
    if npz:
        done["npz"] = export_npz(run_dir, f"{base}/windows.npz", **kwargs)
    if tfrecord:
        done["tfrecord"] = export_tfrecord(run_dir, f"{base}/windows.tfrecord", **kwargs)
    if parquet:
        done["parquet"] = export_parquet_dataset(run_dir, f"{base}/dataset",
                                                 storage_options=storage_options)
    return {k: done[k] for k in ("parquet", "npz", "tfrecord") if k in done}


# --------------------------------------------------------------------------------------------
# Backtest layouts
# --------------------------------------------------------------------------------------------


def _check_layout(layout: str) -> str:
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
    _check_layout(layout)
    if not isinstance(frame, pd.DataFrame):
        raise InputDataError(f"expected a DataFrame, got {type(frame).__name__}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        for col in ("timestamp", "Date", "date", "datetime"):
            if col in frame.columns:
                frame = frame.set_index(col)
                break
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InputDataError("the frame has no DatetimeIndex (nor a timestamp or Date column)")
    missing = [c for c in _OHLC if c not in frame.columns]
    if missing:
        raise InputDataError(f"the frame lacks column(s) {', '.join(missing)}")
    if frame.index.has_duplicates:
        raise InputDataError("the frame has duplicate timestamps")
    cols = list(_OHLC) + (["Volume"] if "Volume" in frame.columns else [])
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
