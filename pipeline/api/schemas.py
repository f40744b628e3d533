"""Request and response models of the REST API (see ``docs/rest_api.md``).

The job request is *derived* from the run configuration's models rather than written again:
its generation fields, ``formats`` and ``weights`` are the very fields (types, bounds,
defaults, descriptions and validators) of :class:`~pipeline.runner.config.GenerationConfig`,
:class:`~pipeline.runner.config.OutputConfig` and
:class:`~pipeline.runner.config.ScoringConfig`, so a request is accepted or rejected exactly
as the same keys in a YAML config would be.
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from pipeline.runner.config import GenerationConfig, OutputConfig, ScoringConfig

__all__ = [
    "DATASET_ID",
    "JOB_ID",
    "JobRequest",
    "JOB_REQUEST_SOURCES",
    "JobProgress",
    "Job",
    "Dataset",
    "Series",
    "Health",
    "METRIC_DESCRIPTIONS",
    "JOB_STATUSES",
    "ACTIVE_STATUSES",
]

#: Server-made ids: a prefix and 32 lowercase hex digits (``uuid4().hex``).
DATASET_ID = re.compile(r"^ds_[0-9a-f]{32}$")
JOB_ID = re.compile(r"^job_[0-9a-f]{32}$")

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATUSES = frozenset({"queued", "running"})

#: Where each job-request field comes from: (config section, model, field names).
JOB_REQUEST_SOURCES: tuple[tuple[str, type[BaseModel], tuple[str, ...]], ...] = (
    ("generation", GenerationConfig, (
        "n_samples", "min_fidelity", "method", "block_size", "length", "seed", "max_attempts",
        "allow_partial",
    )),
    ("output", OutputConfig, ("formats",)),
    ("scoring", ScoringConfig, ("weights",)),
)


def _copied_validators(model: type[BaseModel], names: tuple[str, ...]) -> dict[str, Any]:
    """The model's field validators that only concern ``names``, re-registered for a new model."""
    out: dict[str, Any] = {}
    for vname, dec in model.__pydantic_decorators__.field_validators.items():
        if not set(dec.info.fields) <= set(names):
            continue
        bound = dec.func  # a classmethod bound to ``model``: bound(value)
        if len(inspect.signature(bound).parameters) != 1:  # pragma: no cover - guard
            raise TypeError(f"{model.__name__}.{vname}: only (cls, value) validators are copied")

        def check(cls, value, _bound=bound):  # noqa: ARG001 - pydantic passes cls
            return _bound(value)

        out[f"_{model.__name__}_{vname}"] = field_validator(*dec.info.fields, mode=dec.info.mode)(
            check
        )
    return out


def _job_request_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        "dataset_id": (
            str,
            Field(..., pattern=DATASET_ID.pattern, description="Id of an uploaded dataset.",
                  examples=["ds_0123456789abcdef0123456789abcdef"]),
        ),
    }
    validators: dict[str, Any] = {}
    for _section, model, names in JOB_REQUEST_SOURCES:
        for name in names:
            info = copy.deepcopy(model.model_fields[name])
            fields[name] = (info.annotation, info)
        validators.update(_copied_validators(model, names))
    return create_model(
        "JobRequest",
        __config__=ConfigDict(extra="forbid", frozen=True, validate_default=True),
        __doc__="A generation job: the generation settings of a run config, its output formats "
                "and metric weights, applied to an uploaded dataset.",
        __validators__=validators,
        **fields,
    )


JobRequest = _job_request_model()


class JobProgress(BaseModel):
    """Progress of a job, as the pipeline reports it after every finished task."""

    stage: str = Field("preparing", description="preparing | generating | bundling | done")
    accepted: int = 0
    requested: int = 0
    attempts: int = 0
    failed: int = 0
    acceptance_rate: float | None = None
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0


class Job(BaseModel):
    """A generation job and its state."""

    id: str
    dataset_id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    request: dict[str, Any]
    progress: JobProgress
    error: str | None = None
    run_id: str | None = None
    artifacts: list[str] = Field(default_factory=list)
    cancel_requested: bool = Field(False, description="DELETE was called while it ran.")
    dataset_name: str | None = None


class Dataset(BaseModel):
    """An uploaded (or built-in sample) OHLCV series, stored normalized as Parquet."""

    id: str
    name: str
    rows: int
    start: str
    end: str
    columns: list[str]
    frequency: str
    has_volume: bool
    created_at: str
    reference_metrics: dict[str, float | None]
    size_bytes: int = Field(0, description="Size of the uploaded file (0 for built-in samples).")
    notes: list[str] = Field(default_factory=list, description="Repairs made, missing volume, …")


class Series(BaseModel):
    """OHLCV chart data, downsampled to at most ``max_points`` bars."""

    index: list[str]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float] | None = None
    bars: int = Field(0, description="Bars before downsampling.")
    step: int = Field(1, description="Bars aggregated into each point.")


class Health(BaseModel):
    status: str
    version: str
    workers: int


#: One line per metric for the dashboard's weight form (the definitions are in
#: :mod:`pipeline.core.metrics`).
METRIC_DESCRIPTIONS: dict[str, str] = {
    "volatility": "Standard deviation of close log-returns.",
    "skewness": "Skewness of log-returns (asymmetry of gains and losses).",
    "kurtosis": "Excess kurtosis of log-returns (fat tails).",
    "max_drawdown": "Largest fall of the close from its running peak.",
    "acf_lag1": "Lag-1 autocorrelation of returns.",
    "acf_sum_10": "Sum of return autocorrelations at lags 1-10.",
    "vol_clustering": "Mean autocorrelation of absolute returns at lags 1-10.",
    "hurst": "Hurst exponent of returns (rescaled-range analysis).",
    "ljung_box_p": "Ljung-Box test of return autocorrelation at 10 lags.",
    "arch_lm_p": "Engle's ARCH LM test at 10 lags (volatility clustering).",
    "rsi_correlation": "Correlation of RSI(14) with the next return.",
    "vol_persistence": "Lag-1 autocorrelation of 21-bar realized volatility.",
    "leverage_effect": "Correlation of a return with the next absolute return.",
    "volume_volatility_corr": "Correlation of abnormal volume with absolute returns.",
    "var_1pct": "1% value at risk of one bar (log-return quantile).",
    "es_1pct": "1% expected shortfall of one bar.",
    "intrabar_range": "Mean log(high / low) per bar.",
    "tail_index": "Hill estimator of the loss tail index.",
}
