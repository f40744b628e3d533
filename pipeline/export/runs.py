"""The exports of a finished run: Parquet dataset, windows in NPZ and TFRecord, frames.

Every export reads the run through :func:`pipeline.io.run.open_run` (the manifest checked and
every series file found before anything is written), one scenario at a time, and writes each
file atomically through :class:`~pipeline.io.writers.OutputStore`. See :mod:`pipeline.export`.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, InputDataError
from pipeline.export.backtest import check_layout, to_backtest_frame
from pipeline.export.tfrecord import frame_records, window_examples
from pipeline.export.windows import (
    check_features,
    check_window,
    cut_windows,
    feature_lag,
    scenario_windows,
)
from pipeline.io.run import RunFolder, open_run
from pipeline.io.writers import OutputStore

__all__ = [
    "DATASET_DIR",
    "NPZ_NAME",
    "TFRECORD_NAME",
    "iter_run_frames",
    "export_parquet_dataset",
    "export_npz",
    "export_tfrecord",
    "export_run",
]

#: Default locations inside a run directory.
DATASET_DIR = "ml/dataset"
NPZ_NAME = "ml/windows.npz"
TFRECORD_NAME = "ml/windows.tfrecord"

_PART_NAME = re.compile(r"^scenario=(\d+)/part-0\.parquet$")
_COPY_CHUNK = 1 << 20
# Records whose CRCs are computed together (vectorized over records).
_CRC_BATCH = 8192
# Windows of one scenario: (scenario, windows, starts, feature names).
_Windows = Iterator[tuple[int, np.ndarray, np.ndarray, tuple[str, ...]]]


def _open(run_dir: str | os.PathLike, storage_options: dict | None) -> RunFolder:
    """The run, checked, with at least one accepted scenario to export."""
    run = open_run(run_dir, storage_options)
    run.require_scenarios()
    return run


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


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
        check_layout(layout)
    run = _open(run_dir, storage_options)

    def frames() -> Iterator[tuple[int, pd.DataFrame | dict[str, pd.DataFrame]]]:
        for s in run.scenarios:
            data = run.read_scenario(s)
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


def _first_missing_dir(out: OutputStore) -> str | None:
    """The outermost directory of ``out.url`` that does not exist yet (local stores only)."""
    if not out.is_local:
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
    run_dir, storage_options
        As in :func:`export_npz`.
    dest : str or os.PathLike, optional
        The dataset directory or URL; default ``<run_dir>/ml/dataset``.

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
    run = _open(run_dir, storage_options)
    out = _dest_store(run.store, dest, DATASET_DIR, storage_options)
    created = _first_missing_dir(out)
    written: list[str] = []
    try:
        for s in run.scenarios:
            name = f"scenario={s.scenario}/part-0.parquet"
            out.write_bytes(name, _table_bytes(_scenario_table(run.read_scenario(s))))
            written.append(name)
    except BaseException:
        for name in written:
            out.remove(name)
        _prune_empty_dirs(out, written, created)
        raise
    keep = {s.scenario for s in run.scenarios}
    for name in out.list("scenario="):
        match = _PART_NAME.match(name)
        if match and int(match.group(1)) not in keep:
            out.remove(name)
    return out.url


# --------------------------------------------------------------------------------------------
# Windows: NPZ and TFRecord
# --------------------------------------------------------------------------------------------


def _run_windows(run: RunFolder, window: int, stride: int, names: tuple[str, ...],
                 optional_volume: bool) -> _Windows:
    """Windows of a run, scenario by scenario: (scenario, windows, starts, feature names)."""
    # A window too long for the run is known from the manifest before any series is read.
    length = run.manifest.model.length
    if length is not None and length > 0:
        lag = feature_lag(names)
        if window > length - lag:
            cut_windows(np.empty((length - lag, 0)), lag, window, stride, "the run's series")
    yield from scenario_windows(((s.scenario, run.read_scenario(s)) for s in run.scenarios),
                                window, stride, names, optional_volume)


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


def _export_windows(run_dir: str | os.PathLike, dest: str | os.PathLike | None, default: str,
                    window: int, stride: int | None, features: Sequence[str] | None,
                    storage_options: dict | None,
                    write: Callable[[IO[bytes], _Windows, int], None]) -> str:
    """Check the arguments and the run, let ``write`` put the run's windows into a local
    temporary file, then write that file to the destination atomically.

    Built locally first, so that a series found unusable halfway leaves nothing behind at the
    destination (not even a directory).
    """
    w, st = check_window(window, stride)
    names, optional_volume = check_features(features)
    run = _open(run_dir, storage_options)
    out, name = _dest_file(run.store, dest, default, storage_options)
    with tempfile.TemporaryFile(prefix="sme-export-") as tmp:
        write(tmp, _run_windows(run, w, st, names, optional_volume), w)
        out.write_chunks(name, _file_chunks(tmp))
    return out.path(name)


def _write_npz(archive: IO[bytes], windows: _Windows, window: int) -> None:
    scen, starts, feature_names, n = [], [], (), 0
    with tempfile.TemporaryFile(prefix="sme-npz-") as raw:
        for k, tensor, first, labels in windows:
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
                member.write(_npy_header(np.dtype("<f4"), (n, window, len(feature_names))))
                for chunk in _file_chunks(raw):
                    member.write(chunk)
            for key, arr in small.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                            buf.getvalue())


def _write_tfrecord(tmp: IO[bytes], windows: _Windows, window: int) -> None:
    pending: list[bytes] = []
    start_entries: dict[int, bytes] = {}
    for k, tensor, starts, labels in windows:
        pending.extend(window_examples(k, tensor, starts, labels, start_entries))
        if len(pending) >= _CRC_BATCH:
            tmp.write(frame_records(pending))
            pending = []
    tmp.write(frame_records(pending))


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
        As in :func:`~pipeline.export.window_tensors` (default 24 bars, non-overlapping,
        :data:`~pipeline.export.DEFAULT_FEATURES`).
    storage_options : dict, optional
        fsspec options for ``run_dir`` and ``dest``.

    Returns
    -------
    str
        The file's full path or URL.

    Raises
    ------
    ConfigError, InputDataError
        As :func:`~pipeline.export.window_tensors`, and for a missing manifest or series file.
        Nothing is written then.

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
    return _export_windows(run_dir, dest, NPZ_NAME, window, stride, features, storage_options,
                           _write_npz)


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
    CRC-32C of the length, data, masked CRC-32C of the data) are written by
    :mod:`pipeline.export.tfrecord`.

    Parameters
    ----------
    run_dir, window, stride, features, storage_options
        As in :func:`export_npz`.
    dest : str or os.PathLike, optional
        The file to write (path or URL); default ``<run_dir>/ml/windows.tfrecord``.

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
    return _export_windows(run_dir, dest, TFRECORD_NAME, window, stride, features,
                           storage_options, _write_tfrecord)


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
    check_window(window, stride)
    check_features(features)
    run = _open(run_dir, storage_options)
    base = run.store.path("ml") if dest is None else os.fspath(dest).rstrip("/")
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
