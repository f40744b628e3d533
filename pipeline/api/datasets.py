"""Uploaded datasets: stored normalized as Parquet beside a JSON record, under ``datasets/{id}/``.

Everything goes through an :class:`~pipeline.io.writers.OutputStore` on the server's data
directory, so the data directory may be a local path or an fsspec URL (``s3://bucket/sme``).
Ids are made here (``ds_`` + ``uuid4().hex``); a client's id is checked against
:data:`~pipeline.api.schemas.DATASET_ID` before it is used in a path, and an uploaded file's
name is kept only as a display name.

A multi-asset table (uploaded with ``?layout=long|wide``) is validated and aligned by
:func:`~pipeline.io.assets.load_assets` and stored in one canonical form whatever its upload
layout: a long table (``Date``, ``symbol``, OHLCV), which jobs read with ``input.layout: long``.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import math
import threading
import uuid
from collections.abc import Iterator

import pandas as pd

from pipeline.core.metrics import METRIC_NAMES, compute_metrics, cross_asset_metrics
from pipeline.io.inspect import READ_REPORT, describe_frequency
from pipeline.io.writers import OutputStore, frame_to_bytes
from pipeline.runner.tasks import long_frame

from .schemas import DATASET_ID

__all__ = ["DatasetStore", "describe_frequency", "display_name", "now_iso", "read_records",
           "remove_tree", "SYMBOL_COLUMN"]

log = logging.getLogger(__name__)

RECORD = "dataset.json"
DATA = "data.parquet"
#: Symbol column of a stored multi-asset table.
SYMBOL_COLUMN = "symbol"


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string (the stores' timestamps)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def display_name(filename: str | None) -> str:
    """A harmless display name from a client's file name (never used as a path)."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name or "upload")[:200]


def _report_notes(who: str, report: dict) -> list[str]:
    """What a user should know of how the file was read, one line each."""
    notes = []
    if report.get("skipped_lines"):
        notes.append(f"{who}{report['skipped_lines']} line(s) above the header skipped")
    if report.get("order", "oldest first") != "oldest first":
        notes.append(f"{who}rows were {report['order']}: sorted oldest first")
    if report.get("volume_passed_over"):
        notes.append(f"{who}volume taken from {report['volume']!r} ({report['volume_kind']}), "
                     f"not {', '.join(map(repr, report['volume_passed_over']))}")
    if report.get("spikes"):
        notes.append(f"{who}{len(report['spikes'])} price spike(s) kept (see the read report)")
    return notes


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def read_records(store: OutputStore, folder: str, record_name: str, id_pattern
                 ) -> Iterator[tuple[str, dict]]:
    """``(id, record)`` of every ``{folder}/{id}/{record_name}`` whose id matches ``id_pattern``
    and whose record names that id; unreadable records are logged and skipped."""
    for name in store.list(f"{folder}/"):
        parts = name.split("/")
        if len(parts) != 3 or parts[2] != record_name or not id_pattern.match(parts[1]):
            continue
        try:
            record = store.read_json(name)
        except (OSError, ValueError):
            log.warning("skipping unreadable record %s", name)
            continue
        if isinstance(record, dict) and record.get("id") == parts[1]:
            yield parts[1], record


class DatasetStore:
    """Dataset records (kept in memory, persisted as JSON) and their Parquet data."""

    def __init__(self, store: OutputStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._records: dict[str, dict] = {}

    def load(self) -> None:
        """Read every dataset record from storage (at server start)."""
        records = {
            record_id: record
            for record_id, record in read_records(self.store, "datasets", RECORD, DATASET_ID)
            if self.store.exists(self._data_name(record_id))
        }
        with self._lock:
            self._records = records

    @staticmethod
    def _data_name(dataset_id: str) -> str:
        return f"datasets/{dataset_id}/{DATA}"

    def data_url(self, dataset_id: str) -> str:
        """URL (or local path) of the dataset's normalized Parquet file."""
        return self.store.path(self._data_name(dataset_id))

    def create(self, frame: pd.DataFrame | dict[str, pd.DataFrame], name: str,
               size_bytes: int = 0, layout: str = "single") -> dict:
        """Store a normalized OHLCV frame (or aligned ``{symbol: frame}`` of a multi-asset table
        uploaded in ``layout``) as a new dataset; returns its record."""
        dataset_id = f"ds_{uuid.uuid4().hex}"
        frames = frame if isinstance(frame, dict) else {"": frame}
        first = next(iter(frames.values()))
        notes = []
        metrics: dict[str, float | None] = {}
        for symbol, f in frames.items():
            values = compute_metrics(f)
            prefix = f"{symbol}:" if symbol else ""
            metrics.update({f"{prefix}{m}": _finite(values[m]) for m in METRIC_NAMES})
            who = f"{symbol}: " if symbol else ""
            if "Volume" not in f.columns:
                notes.append(f"{who}no usable volume column: volume metrics are skipped")
            repairs = f.attrs.get("repair_report") or {}
            fixed = {k: int(v) for k, v in repairs.items() if int(v)}
            if fixed:
                notes.append(f"{who}repaired rows: "
                             + ", ".join(f"{k} {v}" for k, v in fixed.items()))
        if isinstance(frame, dict):
            cross = cross_asset_metrics({s: f["Close"].to_numpy(dtype=float)[None]
                                         for s, f in frames.items()})
            metrics.update({k: _finite(v[0]) for k, v in cross.items()})
            alignment = first.attrs.get("alignment") or {}
            trimmed = {s: r["trimmed"] for s, r in alignment.items() if r.get("trimmed")}
            if trimmed:
                notes.append("empty rows before a listing (or after the last bar) trimmed: "
                             + ", ".join(f"{s} {n}" for s, n in trimmed.items()))
            lost = {s: r["dropped"] for s, r in alignment.items() if r.get("dropped")}
            if lost:
                notes.append(f"aligned on {len(first)} common timestamps; rows dropped: "
                             + ", ".join(f"{s} {n}" for s, n in lost.items()))
        record = {
            "id": dataset_id,
            "name": name,
            "rows": int(len(first)),
            "start": first.index[0].isoformat(),
            "end": first.index[-1].isoformat(),
            "columns": [str(c) for c in first.columns],
            "frequency": describe_frequency(first.index),
            "has_volume": all("Volume" in f.columns for f in frames.values()),
            "created_at": now_iso(),
            "reference_metrics": metrics,
            "size_bytes": int(size_bytes),
            "notes": notes,
            "layout": layout if isinstance(frame, dict) else "single",
            "symbols": list(frames) if isinstance(frame, dict) else None,
        }
        reports = {s: f.attrs.get(READ_REPORT) for s, f in frames.items()}
        if isinstance(frame, dict):
            record["read_reports"] = {s: r for s, r in reports.items() if r}
        else:
            record["read_report"] = reports[""]
        for who, report in reports.items():
            notes += _report_notes(f"{who}: " if who else "", report or {})
        if isinstance(frame, dict):
            # Date as a column: the long-table reader takes its time from a column.
            buffer = io.BytesIO()
            long_frame(frames).reset_index().to_parquet(buffer, index=False,
                                                        compression="zstd")
            data = buffer.getvalue()
        else:
            data = frame_to_bytes(first, "parquet")
        # Data first, record last: a record on disk always has its data.
        self.store.write_bytes(self._data_name(dataset_id), data)
        self.store.write_json(f"datasets/{dataset_id}/{RECORD}", record)
        with self._lock:
            self._records[dataset_id] = record
        return record

    def get(self, dataset_id: str) -> dict | None:
        with self._lock:
            record = self._records.get(dataset_id)
        return dict(record) if record else None

    def list(self) -> list[dict]:
        with self._lock:
            records = [dict(r) for r in self._records.values()]
        return sorted(records, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def frame(self, dataset_id: str) -> pd.DataFrame:
        """The dataset's normalized OHLCV frame (a multi-asset table: long, with ``symbol``)."""
        frame = pd.read_parquet(io.BytesIO(self.store.read_bytes(self._data_name(dataset_id))))
        if "Date" in frame.columns:
            frame = frame.set_index("Date")
        return frame

    def frames(self, dataset_id: str) -> dict[str, pd.DataFrame]:
        """``{symbol: OHLCV frame}`` of a multi-asset table; ``{"": frame}`` of one series."""
        frame = self.frame(dataset_id)
        if SYMBOL_COLUMN not in frame.columns:
            return {"": frame}
        symbols = frame[SYMBOL_COLUMN].astype(str)
        return {str(s): part.drop(columns=[SYMBOL_COLUMN])
                for s, part in frame.groupby(symbols, sort=False)}

    def delete(self, dataset_id: str) -> bool:
        with self._lock:
            found = self._records.pop(dataset_id, None) is not None
        # Record first: a crash half-way leaves data without a record, which load() ignores.
        self.store.remove(f"datasets/{dataset_id}/{RECORD}")
        remove_tree(self.store, f"datasets/{dataset_id}")
        return found


def remove_tree(store: OutputStore, prefix: str) -> None:
    """Remove the directory ``prefix`` of ``store`` with everything in it (missing: no error)."""
    for name in store.list(prefix.rstrip("/") + "/"):
        store.remove(name)
    path = store.path(prefix)
    try:
        if store.fs.exists(path):
            store.fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
    store.fs.invalidate_cache(path)
