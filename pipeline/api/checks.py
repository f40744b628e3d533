"""The server's checks of a job request against its limits and its datasets.

``POST /api/jobs`` and ``POST /api/preflight`` refuse the same requests with the same
messages: a field over this server's limits, a dataset that does not exist or does not fit
``dataset_ids``, and settings the run would refuse against the data, before any work starts.
"""

from __future__ import annotations

import pandas as pd
from starlette.exceptions import HTTPException

from pipeline.core.factory import check_settings
from pipeline.errors import ConfigError

from .deps import dataset_or_404
from .state import AppState, ServerSettings

__all__ = ["check_job_request"]


def check_job_request(body: dict, state: AppState,
                      settings: ServerSettings) -> tuple[str, list[str] | None]:
    """The server's limits and the datasets of a job request.

    Parameters
    ----------
    body : dict
        The validated request (``JobRequest.model_dump(mode="json")``).
    state, settings
        The app's stores and limits.

    Returns
    -------
    name : str
        The job's display name (its datasets' names).
    symbols : list of str or None
        Its assets (None for one series).

    Raises
    ------
    HTTPException
        404 for an unknown ``dataset_id``, 422 naming the field for the rest.
    """
    if body["n_samples"] > settings.max_n_samples:
        raise HTTPException(422, f"n_samples: {body['n_samples']} is above this server's "
                                 f"limit of {settings.max_n_samples} scenarios per job; ask for "
                                 "fewer or split the work into several jobs")
    if body["dataset_ids"]:
        records = _asset_datasets(body["dataset_ids"], state)
        symbols: list[str] | None = list(records)
        name = " · ".join(f"{sym}: {r['name']}" for sym, r in records.items())
        rows = min(r["rows"] for r in records.values())
    else:
        record = dataset_or_404(body["dataset_id"], state)
        layout = record.get("layout", "single")
        if body["input_layout"] not in (None, layout):
            raise HTTPException(
                422, f"input_layout: dataset {record['id']} was uploaded as "
                + ("one series" if layout == "single" else f"a {layout} table")
                + f", not as {body['input_layout']}; upload the file again with "
                f"?layout={body['input_layout']} (or leave input_layout out)")
        records = {"": record}
        symbols = record.get("symbols")
        name, rows = record["name"], record["rows"]
    length = body["length"] or rows
    if length > settings.max_length:
        which = "length" if body["length"] else "length (the dataset's rows, by default)"
        raise HTTPException(422, f"{which}: {length} bars is above this server's limit of "
                                 f"{settings.max_length} bars per series; set a shorter length")
    _check_settings(records, body, state)
    return name, symbols


def _asset_datasets(dataset_ids: dict[str, str], state: AppState) -> dict[str, dict]:
    """The records of ``dataset_ids`` (symbol -> id), each a single-series dataset."""
    records = {}
    for symbol, ds_id in dataset_ids.items():
        record = state.datasets.get(ds_id)
        if record is None:
            raise HTTPException(422, f"dataset_ids.{symbol}: dataset {ds_id} not found; "
                                     "list them with GET /api/datasets or upload it")
        if record.get("layout", "single") != "single":
            raise HTTPException(
                422, f"dataset_ids.{symbol}: dataset {ds_id} is a multi-asset table "
                f"({', '.join(record.get('symbols') or [])}); give it alone as "
                "dataset_id, or give single-series datasets in dataset_ids")
        records[symbol] = record
    return records


def _check_settings(records: dict[str, dict], body: dict, state: AppState) -> None:
    """422 for settings the run would refuse against the data (a block longer than the
    series, a regime window too long, a length past the calendar, a timeframe that leaves
    too few bars), before the job starts."""
    index = None
    for record in records.values():
        frames = state.datasets.frames(record["id"])
        for frame in frames.values():
            index = frame.index if index is None else index.intersection(frame.index)
    try:
        check_settings(pd.DatetimeIndex(index), method=body["method"],
                       block_size=body["block_size"], length=body["length"],
                       regime=body["regime"], timeframes=body["timeframes"])
    except ConfigError as exc:
        raise HTTPException(422, str(exc).removeprefix("generation.")) from None
