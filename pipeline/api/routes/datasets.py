"""``/api/datasets``: upload an OHLCV file or a built-in sample, list, show, chart, delete."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from pipeline.config import ColumnsConfig, InputConfig
from pipeline.errors import InputDataError
from pipeline.io.limits import InputLimitError
from pipeline.io.readers import SAMPLE_NAMES, load_sample

from ..charts import downsample_ohlcv
from ..datasets import display_name
from ..deps import (
    AppStateDep,
    DatasetRecord,
    SettingsDep,
    dataset_or_404,
    require_token,
    shown,
)
from ..errors import json_error
from ..results import symbol_of
from ..schemas import Dataset, Series
from ..state import ServerSettings

__all__ = ["router"]

#: How an upload holds its series: the run config's ``input.layout`` choices.
Layout = InputConfig.model_fields["layout"].annotation
#: Bytes read from an upload at a time.
_CHUNK = 1 << 20

router = APIRouter(prefix="/api", tags=["datasets"], dependencies=[Depends(require_token)])


def _columns_field(text: str | None) -> dict[str, str] | None:
    """The upload's ``columns`` form field: a JSON object checked like ``input.columns``."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise HTTPException(422, 'columns: not valid JSON; send an object such as '
                                 '{"time": "dt", "volume": "value"}') from None
    if not isinstance(value, dict):
        raise HTTPException(422, 'columns: expected a JSON object such as {"time": "dt"}')
    try:
        return ColumnsConfig.model_validate(value).mapping()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = (f"unknown key; allowed keys: {', '.join(ColumnsConfig.model_fields)}"
               if err["type"] == "extra_forbidden" else err["msg"])
        raise HTTPException(422, f"columns.{key}: {msg}") from None


def _read_upload(file: UploadFile, settings: ServerSettings) -> tuple[bytes, int]:
    """The upload's bytes and size, read in chunks (413 past the server's limit)."""
    chunks, size = [], 0
    while chunk := file.file.read(_CHUNK):
        size += len(chunk)
        if size > settings.upload_limit:
            raise HTTPException(413, f"the upload is larger than this server's limit of "
                                     f"{settings.max_upload_mb:g} MB")
        chunks.append(chunk)
    return b"".join(chunks), size


@router.post("/datasets", status_code=201, response_model=Dataset,
             responses={413: {"description": "upload too large"},
                        422: {"description": "not a usable OHLCV file"}})
def upload_dataset(
    state: AppStateDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, XLSX or Parquet OHLCV file.")],
    repair: bool = Query(False, description="Drop or fix invalid rows instead of failing."),
    layout: Annotated[Layout, Query(  # type: ignore[valid-type]
        description="single: one series. long: several assets, one row per bar and symbol "
        "(a symbol column). wide: several assets, SYMBOL_Field columns.")] = "single",
    symbol_column: str = Query(
        InputConfig.model_fields["symbol_column"].default, min_length=1, max_length=100,
        description="Symbol column of a long table."),
    columns: Annotated[str | None, Form(
        max_length=2000, description='Columns for the fields detection cannot find, as a '
        'JSON object: {"time": "dt", "volume": "value"} (keys time, open, high, low, '
        'close, volume).')] = None,
    skiprows: Annotated[int | None, Form(
        ge=0, le=10_000, description="Lines above the header row (default: detected).")
    ] = None,
    date_format: Annotated[str | None, Form(
        min_length=2, max_length=100, pattern="%",
        description="strftime format of the time column, e.g. %d.%m.%Y %H:%M.")] = None,
) -> dict | JSONResponse:
    """Upload an OHLCV file; it is validated, normalized and stored as Parquet. A
    multi-asset table (``layout=long|wide``) is split by symbol, each asset validated, and
    the assets aligned on their common timestamps. A refused file answers 422 with the
    message and ``preview``: its first raw rows, to map its columns by hand."""
    read = {"columns": _columns_field(columns), "skiprows": skiprows,
            "date_format": date_format}
    data, size = _read_upload(file, settings)
    name = display_name(file.filename)
    try:
        frame = state.uploads.parse(data, name, layout=layout, symbol_column=symbol_column,
                                    repair=repair, read=read,
                                    timeout_option="--upload-parse-seconds")
    except InputLimitError:
        raise  # 413 or 422 by its handler, without a preview: the file is too costly to open
    except InputDataError as exc:
        preview = getattr(exc, "preview", None)
        return json_error(422, str(exc), **({"preview": preview} if preview else {}))
    return state.datasets.create(frame, name, size, layout=layout)


@router.post("/datasets/samples/{name}", status_code=201, response_model=Dataset)
def sample_dataset(name: str, state: AppStateDep) -> dict:
    """A built-in sample (sp500, nasdaq, sample) as a dataset."""
    if name not in SAMPLE_NAMES:
        raise HTTPException(404, f"no built-in sample {shown(name)}; samples are "
                                 f"{', '.join(SAMPLE_NAMES)}")
    frame = load_sample(name)
    return state.datasets.create(frame, f"{name} (built-in sample)", 0)


@router.get("/datasets", response_model=list[Dataset])
def list_datasets(state: AppStateDep) -> list[dict]:
    return state.datasets.list()


@router.get("/datasets/{dataset_id}", response_model=Dataset)
def get_dataset(record: DatasetRecord) -> dict:
    return record


@router.get("/datasets/{dataset_id}/ohlcv", response_model=Series)
def dataset_ohlcv(dataset_id: str, state: AppStateDep,
                  max_points: int = Query(1000, ge=2, le=100_000),
                  symbol: str | None = Query(None, max_length=100, description=(
                      "Asset of a multi-asset table (default: the first)."))) -> dict:
    # The lookup after the query's validation (see pipeline.api.deps).
    record = dataset_or_404(dataset_id, state)
    symbol = symbol_of(symbol, record.get("symbols") or [], f"dataset {dataset_id}")
    frames = state.datasets.frames(dataset_id)
    return {**downsample_ohlcv(frames[symbol or ""], max_points), "symbol": symbol}


@router.delete("/datasets/{dataset_id}", status_code=204)
def delete_dataset(record: DatasetRecord, state: AppStateDep) -> Response:
    if state.jobs.uses_dataset(record["id"]):
        raise HTTPException(409, f"dataset {record['id']} is used by a running job; cancel "
                                 "the job first")
    state.datasets.delete(record["id"])
    return Response(status_code=204)
