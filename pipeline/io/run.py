"""The run folder: what a finished run's output directory holds, and the one way to read it.

A run (:func:`pipeline.run_pipeline`, ``sme run``, a REST job) writes into its output directory
(a local path or any fsspec URL)::

    manifest.json      MANIFEST: the run's header (run id, status, config, input, model,
                       summary, ...) and one record per accepted scenario (ScenarioRecord)
    scores.parquet     SCORES: one row per accepted scenario (score, attempt, metrics)
    report.html        REPORT: the HTML fidelity report, when the run asked for one
    synthetic_*        the series files each record names, in one or more formats
    _state/            STATE_DIR: completion markers of a run not finished yet

Everything that reads a finished run (the exports, the report, the REST API, the stream)
goes through :func:`open_run`, which checks the manifest once and says what to fix when it
cannot be used, and :meth:`RunFolder.read_series`, which reads a scenario's series in the
preferred format (:data:`SERIES_FORMATS`).

Scenario numbers
----------------
Code counts scenarios from 0 (seeds, arrays, task records); the run folder counts them from 1
(file names, the manifest, what users see). :func:`scenario_number` and
:func:`scenario_index` are the one conversion between the two.
"""

from __future__ import annotations

import csv
import io
import json
import operator
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError, InputDataError
from pipeline.io.writers import EXTENSIONS, OutputStore
from pipeline.redaction import redact_text

__all__ = [
    "MANIFEST",
    "SCORES",
    "REPORT",
    "STATE_DIR",
    "SERIES_FORMATS",
    "OHLC",
    "scenario_number",
    "scenario_index",
    "listed_files",
    "SeriesFiles",
    "TimeframeRecord",
    "ScenarioRecord",
    "RunSummary",
    "ModelSummary",
    "RunManifest",
    "ScenarioRecords",
    "RunFolder",
    "manifest_text",
    "open_run",
    "read_record_series",
    "read_series_file",
    "parse_series",
    "series_format",
]

#: The run's manifest: header and scenario records.
MANIFEST = "manifest.json"
#: One row per accepted scenario: scenario, attempt, score, timeframe scores, metrics.
SCORES = "scores.parquet"
#: The HTML fidelity report (``report: true``).
REPORT = "report.html"
#: Completion markers of an unfinished run (its resume record); removed when it finishes.
STATE_DIR = "_state"
#: Series formats in the order a reader prefers them: Parquet is exact and fastest, CSV exact,
#: XLSX one digit short of round-trip precision.
SERIES_FORMATS: tuple[str, ...] = ("parquet", "csv", "xlsx")
_Index = TypeVar("_Index")

#: Columns every series has (``Volume`` follows when the input had volume).
OHLC: tuple[str, ...] = ("Open", "High", "Low", "Close")


def scenario_number(index: _Index) -> _Index:
    """The run folder's number (from 1) of the scenario with 0-based ``index`` in code.

    Works elementwise on an integer array of indices too.
    """
    return index + 1


def scenario_index(number: int | str) -> int:
    """The 0-based index in code of the scenario numbered ``number`` (from 1) in the folder;
    ``number`` may be a manifest key (``summary.failed`` keys are strings)."""
    return int(number) - 1


# --------------------------------------------------------------------------------------------
# The manifest's records
# --------------------------------------------------------------------------------------------


def listed_files(entry: Mapping[str, Any]) -> list[str]:
    """Every file name a scenario record lists, once each: its series in each format, each
    asset's, the multi-asset ``long`` table, and the same of each higher timeframe.

    ``entry`` is a manifest record or a task's record of a scenario (they list files alike).
    """
    names = list(entry.get("files", {}).values())
    for per_asset in (entry.get("assets") or {}).values():
        names.extend(per_asset.values())
    if entry.get("long"):
        names.append(entry["long"])
    for tf in (entry.get("timeframes") or {}).values():
        names.extend(listed_files(tf))
    return list(dict.fromkeys(names))


class _Record(BaseModel):
    # Keys this engine version does not model are kept as they are (a manifest read and dumped
    # again is unchanged), and a record, once read, is not changed in place.
    model_config = ConfigDict(extra="allow", frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The record as written in the manifest: only the keys it was given, JSON values."""
        return self.model_dump(mode="json", exclude_unset=True)


class SeriesFiles(_Record):
    """Where one series (of every asset) is: ``files``, plus ``assets`` and ``long`` for a
    multi-asset run.

    Attributes
    ----------
    files : dict of str to str
        ``{format: file name}``; in a multi-asset run, the first asset's (symbols sorted).
    assets : dict of str to dict, optional
        ``{symbol: {format: file name}}`` of a multi-asset run.
    long : str, optional
        The long-format Parquet of a multi-asset run (all assets, a ``symbol`` column).
    """

    files: dict[str, str] = Field(default_factory=dict)
    assets: dict[str, dict[str, str]] | None = None
    long: str | None = None

    def series_file(self, symbol: str | None = None) -> tuple[str, str]:
        """``(format, file name)`` of the series of ``symbol`` (None: ``files``) to read, in
        the order of :data:`SERIES_FORMATS`; KeyError if there is none."""
        files = self.files if symbol is None else (self.assets or {}).get(symbol, {})
        for fmt in SERIES_FORMATS:
            if files.get(fmt):
                return fmt, files[fmt]
        raise KeyError(symbol)

    def all_files(self) -> list[str]:
        """Every file name the record lists (see :func:`listed_files`)."""
        return listed_files(self.to_json())


class TimeframeRecord(SeriesFiles):
    """A scenario's series at a higher timeframe: its files, fidelity score and metrics."""

    score: float | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)


class ScenarioRecord(SeriesFiles):
    """One accepted scenario as the manifest records it.

    Attributes
    ----------
    scenario : int
        Its number in the run folder, from 1 (see :func:`scenario_index`).
    attempt : int
        The accepted attempt (0-based): the lowest that passed ``min_fidelity``.
    score : float
        Fidelity score of the accepted series.
    best_before : float or None
        Best score of the attempts searched before it (None: none, or not recorded).
    metrics : dict of str to float or None
        The series' metrics (None where undefined).
    timeframes : dict of str to TimeframeRecord, optional
        The same series at each higher timeframe of the run.
    regimes : list of [regime, bars], optional
        Its regime path, run-length encoded (``method: regime``).
    """

    scenario: int = Field(ge=1)
    attempt: int = Field(ge=0)
    score: float
    best_before: float | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    timeframes: dict[str, TimeframeRecord] | None = None
    regimes: list[list[int]] | None = None

    @property
    def index(self) -> int:
        """The scenario's 0-based index in code."""
        return scenario_index(self.scenario)

    @classmethod
    def from_task(cls, record: Mapping[str, Any]) -> ScenarioRecord:
        """The manifest record of a task's record (whose ``scenario`` counts from 0)."""
        return cls.model_validate({**record, "scenario": scenario_number(record["scenario"])})

    def to_task(self) -> dict[str, Any]:
        """The record as tasks and ``on_accept`` callbacks see it (``scenario`` from 0)."""
        return {**self.to_json(), "scenario": self.index}


class RunSummary(_Record):
    """The counts of a run, across every session that worked on it."""

    requested: int
    accepted: int
    failed: dict[str, float] = Field(default_factory=dict)  # scenario number -> best score
    attempts: int | None = None
    resumed: int = 0


class ModelSummary(_Record):
    """What the fitted model recorded that readers of a run use; other keys are kept as given.

    ``assets`` lists the symbols of a multi-asset run (sorted), ``timeframes`` maps each
    higher timeframe to its bars and reference metrics, ``length`` is the bars per series.
    """

    method: str | None = None
    block_size: int | None = None
    length: int | None = None
    reference: str | None = None
    metric_names: list[str] | None = None
    scored_metrics: list[str] | None = None
    weights: dict[str, float] | None = None
    assets: list[str] | None = None
    timeframes: dict[str, dict[str, Any]] | None = None
    regimes: dict[str, Any] | None = None


class RunManifest(_Record):
    """The header of a run's manifest: everything but its scenario records.

    Nothing in it is measured (times, hosts), so a rerun of the same configuration writes the
    same bytes. ``config`` holds no credentials (they are redacted before it is written).
    """

    run_id: str
    status: str = "complete"  # "complete", or "partial" when scenarios found no candidate
    fingerprint: str | None = None
    search_fingerprint: str | None = None
    package_version: str | None = None
    config: dict[str, Any] | None = None
    seed: int | None = None
    input: dict[str, Any] | None = None
    model: ModelSummary = Field(default_factory=ModelSummary)
    reference_metrics: dict[str, float | None] = Field(default_factory=dict)
    preflight: dict[str, Any] | None = None
    summary: RunSummary | None = None
    files: list[str] = Field(default_factory=list)
    partial: dict[str, Any] | None = None

    @property
    def symbols(self) -> list[str]:
        """The assets of a multi-asset run (empty for one series)."""
        return list(self.model.assets or [])

    @property
    def timeframe_rules(self) -> list[str]:
        """The run's higher timeframes (empty when it has none)."""
        return list(self.model.timeframes or {})


# --------------------------------------------------------------------------------------------
# Reading series
# --------------------------------------------------------------------------------------------


def _shown(store: OutputStore, name: str) -> str:
    """Where ``name`` is, for a message (credentials in the URL redacted)."""
    return redact_text(store.path(name))


def series_format(name: str) -> str:
    """The format of a series file, from its name's extension (``.parquet``, ``.csv``,
    ``.xlsx``); ConfigError for any other."""
    for fmt, ext in EXTENSIONS.items():
        if str(name).endswith(ext):
            return fmt
    raise ConfigError(f"{name!r}: not a series file (expected one of "
                      f"{', '.join(EXTENSIONS.values())})")


def _parse(data: bytes, fmt: str, columns: Sequence[str] | None) -> pd.DataFrame:
    buf = io.BytesIO(data)
    if fmt == "parquet":
        # pandas' metadata in the file brings the date index along with the chosen columns.
        return pd.read_parquet(buf, columns=None if columns is None else list(columns))
    if fmt == "csv":
        # The date column is the first (named ``Date`` unless the index had a name).
        first = next(csv.reader([data.split(b"\n", 1)[0].decode()]))[0]
        return pd.read_csv(buf, index_col=0, parse_dates=True,
                           usecols=None if columns is None else [first, *columns])
    return pd.read_excel(buf, index_col=0)


def parse_series(data: bytes, fmt: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Parse the bytes of one series file into an OHLCV frame on its date index.

    Parameters
    ----------
    data : bytes
        The file's content.
    fmt : {"parquet", "csv", "xlsx"}
        Its format (see :func:`series_format`).
    columns : sequence of str, optional
        Only these columns (Parquet reads no others); default ``Open, High, Low, Close`` and
        ``Volume`` when there is one.

    Returns
    -------
    pandas.DataFrame
        ``DatetimeIndex`` and the columns, in that order; no ``attrs``.

    Raises
    ------
    InputDataError
        The bytes cannot be parsed, or lack a column or a date index (the message does not
        name the file: :func:`read_series_file` adds where it is).
    """
    try:
        frame = _parse(data, fmt, columns)
    except Exception as exc:  # noqa: BLE001 - any parser failure means an unusable file
        raise InputDataError(f"cannot read the series ({exc})") from exc
    wanted = list(OHLC) if columns is None else list(columns)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InputDataError(f"series lacks column(s) {', '.join(missing)} "
                             f"(has {', '.join(map(str, frame.columns))})")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InputDataError("the first column is not a date/time index")
    if columns is None and "Volume" in frame.columns:
        wanted.append("Volume")
    frame = frame[wanted]
    frame.attrs = {}
    return frame


def read_series_file(store: OutputStore, fmt: str, name: str,
                     columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read one series file of a run folder with :func:`parse_series`.

    Parameters
    ----------
    store : OutputStore
        The run folder.
    fmt : {"parquet", "csv", "xlsx"}
        The file's format.
    name : str
        The file's name in the folder.
    columns : sequence of str, optional
        As in :func:`parse_series`.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputDataError
        The file is missing or unusable; the message names it.
    """
    try:
        data = store.read_bytes(name)
    except FileNotFoundError:
        raise InputDataError(f"{_shown(store, name)}: series file listed in the manifest is "
                             "missing") from None
    try:
        return parse_series(data, fmt, columns)
    except InputDataError as exc:
        raise InputDataError(f"{_shown(store, name)}: {exc}") from exc


def read_record_series(store: OutputStore, record: ScenarioRecord | Mapping[str, Any]
                       ) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The series of one scenario record: a frame, or ``{symbol: frame}`` for several assets.

    ``record`` is a manifest record, or a task's record of a scenario just written (before the
    run has a manifest: what :func:`pipeline.iter_scenarios` reads). Parquet is read if
    listed, else CSV, else XLSX.
    """
    if not isinstance(record, ScenarioRecord):
        record = ScenarioRecord.from_task(record)
    where = f"scenario {record.scenario}"
    if record.assets:
        return {sym: read_series_file(store, *_readable(record, sym, where))
                for sym in record.assets}
    return read_series_file(store, *_readable(record, None, where))


def _readable(record: SeriesFiles, symbol: str | None, where: str) -> tuple[str, str]:
    try:
        return record.series_file(symbol)
    except KeyError:
        files = record.files if symbol is None else (record.assets or {}).get(symbol, {})
        at = where if symbol is None else f"{where}, asset {symbol!r}"
        raise InputDataError(
            f"{at}: no series file in a readable format (have {sorted(files)}; "
            f"readable: {', '.join(SERIES_FORMATS)})"
        ) from None


# --------------------------------------------------------------------------------------------
# The run folder
# --------------------------------------------------------------------------------------------


class _MetricColumns:
    """The records' metrics gathered column by column as they are read (a dict of metrics
    per record, all held until the table is built, took more memory than the table)."""

    def __init__(self) -> None:
        self.columns: dict[str, array] = {}
        self.rows = 0

    def add(self, metrics: Mapping[str, float | None]) -> None:
        """Append one record's metrics: NaN where a value is None or the record lacks one."""
        for name, value in metrics.items():
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = array("d", [np.nan]) * self.rows
            column.append(np.nan if value is None else value)
        self.rows += 1
        if len(metrics) < len(self.columns):
            for column in self.columns.values():
                if len(column) < self.rows:
                    column.append(np.nan)

    def table(self, order: np.ndarray) -> pd.DataFrame:
        """The metrics as floats, rows in ``order``, columns in the order records name them
        (as :meth:`pandas.DataFrame.from_records` would give them)."""
        index = pd.RangeIndex(self.rows)
        if not self.columns:
            return pd.DataFrame.from_records([], index=index)
        return pd.DataFrame({name: np.frombuffer(column, float)[order]
                             for name, column in self.columns.items()}, index=index)


class ScenarioRecords(Sequence[ScenarioRecord]):
    """The accepted scenarios of a run, by number: a read-only sequence of
    :class:`ScenarioRecord` that keeps each record as its JSON text and builds the model when
    it is accessed (the last few built are kept).

    A model per record costs about 4 kB: 100,000 of them held by an opened run took 400 MiB.
    What checks and tables need of every record (numbers, attempts, scores, metrics) is kept in
    arrays instead, beside the text (the manifest's bytes, about 0.8 kB a record).

    Parameters
    ----------
    numbers, attempts : numpy.ndarray of int64
        Scenario numbers (ascending, from 1) and accepted attempts, one per record.
    scores : numpy.ndarray of float
        Fidelity scores.
    metrics : pandas.DataFrame
        One row per record: its metrics as floats (NaN where undefined), in the order the
        records name them.
    text : bytes
        The records' JSON (the manifest itself, when it was read in the run's layout).
    spans : numpy.ndarray of int64, shape (n, 2)
        Where each record's JSON is in ``text`` (start, end); each was validated when read.
    """

    _CACHED = 256

    def __init__(self, numbers: np.ndarray, attempts: np.ndarray, scores: np.ndarray,
                 metrics: pd.DataFrame, text: bytes, spans: np.ndarray) -> None:
        self.numbers = numbers
        self.attempts = attempts
        self.scores = scores
        self.metrics = metrics
        self._text = text
        self._spans = spans
        # The records built last (a cache of bound methods would tie the sequence in a
        # reference cycle, and a dropped run's text would wait for the garbage collector).
        self._built: OrderedDict[int, ScenarioRecord] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_records(cls, records: Iterable[tuple[ScenarioRecord, int, int]],
                     text: bytes) -> ScenarioRecords:
        """The sequence of ``(record, start, end)``: each record and where its JSON is in
        ``text``, in any order (sorted here by scenario number). Each model is needed only
        while it is read, so a stream of them is never held at once."""
        numbers, attempts, scores, spans = (array("q"), array("q"), array("d"), array("q"))
        metrics = _MetricColumns()
        for record, start, end in records:
            numbers.append(record.scenario)
            attempts.append(record.attempt)
            scores.append(record.score)
            metrics.add(record.metrics)
            spans.extend((start, end))
        order = np.argsort(np.frombuffer(numbers, np.int64), kind="stable")
        return cls(np.frombuffer(numbers, np.int64)[order],
                   np.frombuffer(attempts, np.int64)[order],
                   np.frombuffer(scores, float)[order], metrics.table(order), text,
                   np.frombuffer(spans, np.int64).reshape(-1, 2)[order])

    def _build(self, position: int) -> ScenarioRecord:
        start, end = self._spans[position]
        return ScenarioRecord.model_validate_json(self._text[start:end])

    def _record(self, position: int) -> ScenarioRecord:
        with self._lock:
            record = self._built.get(position)
            if record is not None:
                self._built.move_to_end(position)
                return record
        record = self._build(position)
        with self._lock:
            self._built[position] = record
            if len(self._built) > self._CACHED:
                self._built.popitem(last=False)
        return record

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, position: int) -> ScenarioRecord: ...

    @overload
    def __getitem__(self, position: slice) -> tuple[ScenarioRecord, ...]: ...

    def __getitem__(self, position: int | slice) -> ScenarioRecord | tuple[ScenarioRecord, ...]:
        if isinstance(position, slice):
            return tuple(self._record(i) for i in range(*position.indices(len(self))))
        i = operator.index(position)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"scenario position {position} out of range ({len(self)} scenarios)")
        return self._record(i)

    def __iter__(self) -> Iterator[ScenarioRecord]:
        # Straight from the text: a pass over every record would only churn the cache.
        for position in range(len(self)):
            yield self._build(position)

    def __repr__(self) -> str:
        return f"ScenarioRecords({len(self)} scenarios)"

    def position(self, number: int) -> int | None:
        """The position of scenario ``number`` (from 1) in the sequence; None if not there."""
        i = int(np.searchsorted(self.numbers, number))
        return i if i < len(self.numbers) and self.numbers[i] == number else None


class RunFolder:
    """A finished run's output directory, its manifest checked (see :func:`open_run`).

    Attributes
    ----------
    store : OutputStore
        The folder.
    manifest : RunManifest
        The manifest's header.
    scenarios : ScenarioRecords
        The accepted scenarios, by number (may be empty: a partial run that accepted none): a
        read-only sequence of ScenarioRecord, each built when it is accessed.
    """

    def __init__(self, store: OutputStore, manifest: RunManifest,
                 scenarios: ScenarioRecords | Iterable[ScenarioRecord]) -> None:
        self.store = store
        self.manifest = manifest
        if not isinstance(scenarios, ScenarioRecords):
            scenarios = ScenarioRecords.from_records(*_with_text(list(scenarios)))
        self.scenarios = scenarios

    def __repr__(self) -> str:
        return (f"RunFolder({redact_text(self.store.url)!r}, run_id={self.manifest.run_id!r}, "
                f"scenarios={len(self.scenarios)})")

    def location(self, name: str = MANIFEST) -> str:
        """Where ``name`` in the folder is, for messages (credentials redacted)."""
        return _shown(self.store, name)

    def require_scenarios(self, purpose: str = "") -> ScenarioRecords:
        """The accepted scenarios; InputDataError when there are none (``purpose`` says for
        what they were needed, e.g. ``" to report on"``)."""
        if not self.scenarios:
            raise InputDataError(f"{self.location()}: the run has no accepted scenarios{purpose}")
        return self.scenarios

    def scenario(self, number: int | ScenarioRecord) -> ScenarioRecord:
        """The record of scenario ``number`` (from 1, as in the folder)."""
        if isinstance(number, ScenarioRecord):
            return number
        position = self.scenarios.position(int(number))
        if position is None:
            numbers = self.scenarios.numbers
            span = f"{numbers[0]}..{numbers[-1]}" if len(numbers) else "none"
            raise ConfigError(f"scenario: the run has no accepted scenario {number} (accepted "
                              f"scenarios: {span})")
        return self.scenarios[position]

    def _node(self, record: ScenarioRecord, timeframe: str | None) -> SeriesFiles:
        if timeframe is None:
            return record
        node = (record.timeframes or {}).get(timeframe)
        if node is None:
            rules = self.manifest.timeframe_rules
            have = ", ".join(rules) if rules else "none"
            raise ConfigError(f"timeframe: {timeframe!r} is not a timeframe of the run; its "
                              f"timeframes are {have}")
        return node

    def _check_symbol(self, symbol: str | None) -> None:
        symbols = self.manifest.symbols
        if symbol is None or symbol in symbols:
            return
        if not symbols:
            raise ConfigError(f"symbol: the run has one series; leave symbol out (got "
                              f"{symbol!r})")
        raise ConfigError(f"symbol: {symbol!r} is not an asset of the run; its assets are "
                          f"{', '.join(symbols)}")

    def read_series(self, scenario: int | ScenarioRecord, symbol: str | None = None,
                    timeframe: str | None = None, columns: Sequence[str] | None = None
                    ) -> pd.DataFrame:
        """One series of a scenario, read in the preferred format.

        Parameters
        ----------
        scenario : int or ScenarioRecord
            The scenario's number (from 1) or record.
        symbol : str, optional
            The asset of a multi-asset run; default the first (symbols sorted).
        timeframe : str, optional
            One of the run's higher timeframes; default the base bars.
        columns : sequence of str, optional
            Only these columns; default OHLC and ``Volume`` when there is one.

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        ConfigError
            No such scenario, symbol or timeframe in the run.
        InputDataError
            The series file is missing or unusable.
        """
        record = self.scenario(scenario)
        self._check_symbol(symbol)
        node = self._node(record, timeframe)
        where = f"{self.location()}: scenario {record.scenario}"
        fmt, name = _readable(node, symbol if node.assets else None, where)
        return read_series_file(self.store, fmt, name, columns)

    def read_scenario(self, scenario: int | ScenarioRecord
                      ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """The base series of a scenario: a frame, or ``{symbol: frame}`` (symbols sorted)."""
        record = self.scenario(scenario)
        if not record.assets:
            return self.read_series(record)
        return {sym: self.read_series(record, sym) for sym in sorted(record.assets)}

    def scores(self) -> pd.DataFrame:
        """The run's ``scores.parquet``: one row per accepted scenario (numbered from 1)."""
        try:
            return pd.read_parquet(io.BytesIO(self.store.read_bytes(SCORES)))
        except FileNotFoundError:
            raise InputDataError(f"{self.location(SCORES)}: not found; the run did not finish "
                                 "writing its results") from None

    def scenario_table(self) -> pd.DataFrame:
        """The scenario records' numbers as a table: one row per accepted scenario, by number.

        Returns
        -------
        pandas.DataFrame
            Columns ``scenario``, ``attempt``, ``score``, then each metric the records name
            (in the order they name them) as floats, NaN where undefined (None in the
            manifest).
        """
        scenarios = self.scenarios
        head = pd.DataFrame({"scenario": scenarios.numbers.copy(),
                             "attempt": scenarios.attempts.copy(),
                             "score": scenarios.scores.copy()})
        metrics = scenarios.metrics.drop(columns=list(head.columns), errors="ignore")
        return pd.concat([head, metrics], axis=1)

    def series_files(self) -> list[tuple[int, str]]:
        """``(scenario, file name)`` of every series a reader would read: each asset's, at the
        base bars and each higher timeframe, in the preferred format.

        Raises
        ------
        InputDataError
            A record lists no series file in a readable format.
        """
        location = self.location()  # redacting the location is not free: once, not per record
        return [(record.scenario, name) for record in self.scenarios
                for name in _series_names(record, location)]

    def check_files(self) -> None:
        """Every series file a reader would read exists (one listing of the folder).

        Raises
        ------
        InputDataError
            A listed series file is missing; the message names it and its scenario.
        """
        _check_present(self, self.series_files())


def _series_names(record: ScenarioRecord, location: str) -> list[str]:
    """The series files of ``record`` a reader would read (see :meth:`RunFolder.series_files`);
    InputDataError if it lists none in a readable format."""
    where = f"{location}: scenario {record.scenario}"
    return [_readable(node, symbol, where)[1]
            for node in (record, *(record.timeframes or {}).values())
            for symbol in (sorted(node.assets) if node.assets else (None,))]


def _check_present(run: RunFolder, series: Iterable[tuple[int, str]]) -> None:
    present = set(run.store.list())
    for number, name in series:
        if name not in present:
            raise InputDataError(f"{run.location(name)}: series file of scenario {number} "
                                 "listed in the manifest is missing")


def _manifest_bytes(store: OutputStore) -> bytes:
    try:
        return store.read_bytes(MANIFEST)
    except FileNotFoundError:
        raise InputDataError(
            f"{_shown(store, MANIFEST)}: not found (no manifest.json there, so not a finished "
            "run's output directory); pass the output.path of a finished `sme run`, which holds "
            "manifest.json and the series files"
        ) from None


class _ManifestFile(RunManifest):
    # The whole file in one model, so that pydantic-core parses and checks it in one pass.
    scenarios: list[ScenarioRecord]


def _parse_fast(data: bytes) -> tuple[RunManifest, list[ScenarioRecord]] | None:
    """The header and records of a well-formed manifest, parsed and checked in one pass of
    pydantic-core (several times faster than ``json`` and a validation per record: about 1 s
    instead of 4 at 100,000 scenarios); None when anything is off, so that the slow path says
    what.

    Strict: it accepts only what the lax per-record check accepts with the same values (no
    ``true`` for a number, no ``1.0`` for a scenario number), so both paths agree.
    """
    try:
        whole = _ManifestFile.model_validate_json(data, strict=True)
    except ValidationError:
        return None
    fields_set = whole.model_fields_set - {"scenarios"}
    values = {name: getattr(whole, name) for name in fields_set}
    header = RunManifest.model_construct(_fields_set=fields_set, **values,
                                         **(whole.model_extra or {}))
    return header, whole.scenarios


#: Where the run's own layout of the manifest (see :func:`manifest_text`) starts its
#: records, one a line, and how it ends them.
_RECORDS_START = b',\n  "scenarios": ['
_RECORDS_END = b"\n  ]\n}\n"
_RECORD_INDENT = b"    "


def manifest_text(header: Mapping[str, Any], records: Iterable[Mapping[str, Any]], *,
                  batch: int = 1000) -> Iterator[bytes]:
    """A manifest's JSON text in the run's own layout, in chunks.

    The layout :func:`open_run` reads record by record: the header indented, keys sorted, then
    the scenario records, one a line. Chunks of ``batch`` records, so that a manifest of
    100,000 scenarios (some 80 MB) is never held whole. The run writes its ``manifest.json``
    with it and the REST API serves a job's manifest with it.

    Parameters
    ----------
    header : mapping
        The manifest without ``scenarios`` (:meth:`RunManifest.to_json`).
    records : iterable of mapping
        The scenario records (:meth:`ScenarioRecord.to_json`), by number.
    batch : int, default 1000
        Records per chunk.
    """
    # The header with its closing brace cut off, so the scenarios follow as one more key.
    yield json.dumps(dict(header), indent=2, sort_keys=True)[:-2].encode() + _RECORDS_START
    lead = "\n" + _RECORD_INDENT.decode()
    lines: list[str] = []
    for i, record in enumerate(records):
        lines.append(("," if i else "") + lead + json.dumps(record, sort_keys=True))
        if len(lines) == batch:
            yield "".join(lines).encode()
            lines = []
    yield "".join(lines).encode() + _RECORDS_END


#: ``(record, start, end)``: a record and where its JSON is in the text it was read from.
_Spans = Iterator[tuple[ScenarioRecord, int, int]]


class _OtherLayout(Exception):
    """The manifest is not in the layout a run writes."""


def _parse_lines(data: bytes) -> tuple[RunManifest, _Spans] | None:
    """The header of a manifest in the layout a run writes it (the header, then one scenario
    record a line), and its records, each checked when the iterator reaches it, so that the
    models are not all held at once; None when the header is not in that layout.

    Each part is checked as strictly as :func:`_parse_fast` checks the whole. The iterator
    raises ValidationError at a record that fails, _OtherLayout where the lines are laid out
    otherwise; the caller then reads the manifest as a whole.
    """
    begin = data.find(_RECORDS_START)
    if begin < 0 or not data.startswith(b"{") or not data.endswith(_RECORDS_END):
        return None
    try:
        header = RunManifest.model_validate_json(data[:begin] + b"\n}", strict=True)
    except ValidationError:
        return None
    if "scenarios" in (header.model_extra or {}):
        return None
    return header, _record_lines(data, begin + len(_RECORDS_START),
                                 len(data) - len(_RECORDS_END))


def _record_lines(data: bytes, pos: int, stop: int) -> _Spans:
    """The records on the lines of ``data[pos:stop]``: ``\\n    {record},`` each, the last
    without the comma."""
    lead = b"\n" + _RECORD_INDENT
    while pos < stop:
        if not data.startswith(lead, pos):
            raise _OtherLayout
        start = pos + len(lead)
        newline = data.find(b"\n", start, stop)
        end = stop if newline < 0 else newline - 1
        if newline >= 0 and data[end] != ord(","):
            raise _OtherLayout
        yield ScenarioRecord.model_validate_json(data[start:end], strict=True), start, end
        pos = stop if newline < 0 else newline


def _with_text(records: Sequence[ScenarioRecord]) -> tuple[_Spans, bytes]:
    """Records and the text of their JSON, for :meth:`ScenarioRecords.from_records`."""
    texts = [_record_text(r) for r in records]
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return zip(records, starts.tolist(), ends.tolist(), strict=True), b"".join(texts)


def _record_text(record: ScenarioRecord) -> bytes:
    """A record's JSON: only the keys it was given (json, not pydantic's serializer, which
    would write a NaN as null)."""
    return json.dumps(record.model_dump(exclude_unset=True)).encode()


def _load_manifest(data: bytes, where: str) -> dict:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{where}: not valid JSON ({exc}); the run did not finish "
                             "writing it, or it was changed since") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("scenarios"), list):
        raise InputDataError(f"{where}: not a run manifest (no 'scenarios' list)")
    return manifest


def _invalid(where: str, exc: ValidationError) -> InputDataError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return InputDataError(f"{where}: {key}: {err['msg']}")


def _records(manifest: dict, where: str) -> list[ScenarioRecord]:
    out = []
    for i, entry in enumerate(manifest["scenarios"]):
        number = entry.get("scenario") if isinstance(entry, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise InputDataError(f"{where}: scenarios[{i}] has no scenario number")
        if number < 1:
            raise InputDataError(f"{where}: scenarios[{i}] is numbered {number}; scenarios are "
                                 "numbered from 1 in a run folder")
        try:
            out.append(ScenarioRecord.model_validate(entry))
        except ValidationError as exc:
            raise _invalid(f"{where}: scenarios[{i}] (scenario {entry['scenario']})",
                           exc) from None
    return out


def _check_numbers(numbers: np.ndarray, summary: RunSummary | None, where: str) -> None:
    """Scenario numbers (ascending) are each listed once, and within the run's count."""
    repeated = np.unique(numbers[1:][numbers[1:] == numbers[:-1]]).tolist()
    if repeated:
        raise InputDataError(f"{where}: scenario numbers repeat ({repeated[:10]}); each "
                             "accepted scenario is listed once")
    if summary is not None and len(numbers) and numbers[-1] > summary.requested:
        raise InputDataError(
            f"{where}: scenario {int(numbers[-1])} is beyond the {summary.requested} scenarios "
            "the run requested (scenarios are numbered from 1)")


def _compact(records: _Spans, text: bytes, location: str
             ) -> tuple[ScenarioRecords, list[tuple[int, str]], InputDataError | None]:
    """The records kept compactly (see :meth:`ScenarioRecords.from_records`), with what the
    checks of :func:`open_run` need of each model while it is at hand: the series files a
    reader would read (as :meth:`RunFolder.series_files` lists them) and the error of the
    lowest-numbered record that lists none in a readable format (None when every record
    does)."""
    series: list[tuple[int, str]] = []
    unreadable: dict[int, InputDataError] = {}

    def checked() -> _Spans:
        for record, start, end in records:
            try:
                series.extend((record.scenario, name)
                              for name in _series_names(record, location))
            except InputDataError as exc:
                unreadable.setdefault(record.scenario, exc)
            yield record, start, end

    scenarios = ScenarioRecords.from_records(checked(), text)
    series.sort(key=lambda pair: pair[0])  # stable: by scenario, each record's files in order
    return scenarios, series, unreadable[min(unreadable)] if unreadable else None


def open_run(path: str | os.PathLike | OutputStore, storage_options: dict | None = None, *,
             check_files: bool = True) -> RunFolder:
    """Open a finished run's output directory, its manifest checked once.

    Parameters
    ----------
    path : str, os.PathLike or OutputStore
        The run's output directory or URL (``s3://bucket/run``), holding ``manifest.json``.
    storage_options : dict, optional
        fsspec options to reach ``path`` (e.g. S3 credentials and endpoint).
    check_files : bool, default True
        Also check, with one listing of the folder, that every series file a reader would
        read is there, so a missing file is found before anything is read or written.

    Returns
    -------
    RunFolder

    Raises
    ------
    InputDataError
        No manifest, a manifest that is not JSON or not a run's (no ``scenarios`` list, a
        record without a scenario number or with a field of the wrong type, no series file in a
        readable format), scenario numbers repeated or beyond the run's requested count, or
        (``check_files``) a listed series file missing. The message says which file and what
        to fix.

    Examples
    --------
    >>> run = open_run("outputs/default/1a2b3c4d5e6f")          # doctest: +SKIP
    >>> run.manifest.run_id, len(run.scenarios)                  # doctest: +SKIP
    ('1a2b3c4d5e6f', 100)
    >>> run.read_series(1).columns.tolist()                      # doctest: +SKIP
    ['Open', 'High', 'Low', 'Close', 'Volume']
    """
    store = path if isinstance(path, OutputStore) else OutputStore(
        path, storage_options=storage_options)
    data = _manifest_bytes(store)
    where = _shown(store, MANIFEST)
    manifest, scenarios, series, unreadable = _read_manifest(data, where)
    _check_numbers(scenarios.numbers, manifest.summary, where)
    if unreadable is not None:
        raise unreadable
    run = RunFolder(store, manifest, scenarios)
    if check_files:
        _check_present(run, series)
    return run


def _read_manifest(data: bytes, where: str) -> tuple[
        RunManifest, ScenarioRecords, list[tuple[int, str]], InputDataError | None]:
    """The checked header and records of a manifest (see :func:`_compact`): record by record
    in the run's own layout, else in one pass of pydantic-core, else (to say what is wrong)
    with ``json`` and a check per record."""
    lines = _parse_lines(data)
    if lines is not None:
        try:
            return lines[0], *_compact(lines[1], data, where)
        except (ValidationError, _OtherLayout):
            pass
    parsed = _parse_fast(data)
    if parsed is not None:
        manifest, records = parsed
    else:
        raw = _load_manifest(data, where)
        try:
            manifest = RunManifest.model_validate({k: v for k, v in raw.items()
                                                   if k != "scenarios"})
        except ValidationError as exc:
            raise _invalid(f"{where}: not a run manifest", exc) from None
        records = _records(raw, where)
    return manifest, *_compact(*_with_text(records), where)
