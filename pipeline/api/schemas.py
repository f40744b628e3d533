"""Request and response models of the REST API (see ``docs/rest_api.md``).

The job request is *derived* from the run configuration's models rather than written again:
its generation fields (with the nested ``garch`` and ``regime`` models and ``timeframes``),
``formats``, ``weights`` and ``input_layout`` are the very fields (types, bounds, defaults,
descriptions and validators) of :class:`~pipeline.config.GenerationConfig`,
:class:`~pipeline.config.OutputConfig`, :class:`~pipeline.config.ScoringConfig`
and :class:`~pipeline.config.InputConfig`, and the generation fields are checked once
more together by ``GenerationConfig`` itself (its cross-field rules, such as
``regime.condition`` needing ``method: regime``). So a request is accepted or rejected exactly
as the same keys in a YAML config would be.

Where the data comes from is the API's own part: ``dataset_id`` (one uploaded dataset: one
series, or a multi-asset table uploaded with ``?layout=long|wide``) or ``dataset_ids``
(``{symbol: dataset id}``: several single-series datasets, aligned on common timestamps); so is
``resume_from``, a finished job whose accepted scenarios a new job reuses (the run's
``output.resume_from``, pointed at that job's output by the server).
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from pipeline.config import (
    CalibrationConfig,
    GenerationConfig,
    InputConfig,
    OutputConfig,
    ScoringConfig,
)

# The symbol rule of multi-asset inputs (the reader's, so a symbol the API accepts loads).
from pipeline.io.assets import SYMBOL_PATTERN

__all__ = [
    "DATASET_ID",
    "JOB_ID",
    "CALIBRATION_ID",
    "SYMBOL",
    "CalibrationRequest",
    "CALIBRATION_REQUEST_SOURCES",
    "CalibrationProgress",
    "CoverageLevel",
    "StatisticCalibration",
    "CalibrationSummary",
    "CalibrationOrigins",
    "FailedFits",
    "Calibration",
    "CALIBRATION_STATUSES",
    "JobRequest",
    "JOB_REQUEST_SOURCES",
    "JobProgress",
    "Preflight",
    "Partial",
    "Job",
    "Dataset",
    "Series",
    "RegimeBand",
    "Health",
    "Spread",
    "CorrelationSpread",
    "Correlation",
    "TimeframeScore",
    "TimeframeSummary",
    "ScenarioPage",
    "ScenarioResult",
    "ScenarioSort",
    "SCENARIO_SORT_DESCRIPTION",
    "ScoreHistogram",
    "ScoreSummary",
    "FanChart",
    "JobResults",
    "METRIC_DESCRIPTIONS",
    "METHOD_DESCRIPTIONS",
    "METHOD_SECTIONS",
    "JOB_STATUSES",
    "ACTIVE_STATUSES",
    "RESULT_STATUSES",
]

#: Server-made ids: a prefix and 32 lowercase hex digits (``uuid4().hex``).
DATASET_ID = re.compile(r"^ds_[0-9a-f]{32}$")
JOB_ID = re.compile(r"^job_[0-9a-f]{32}$")
CALIBRATION_ID = re.compile(r"^cal_[0-9a-f]{32}$")
#: Asset symbols: letters, digits and ``_ . ^ = -``, at most 40 characters.
SYMBOL = SYMBOL_PATTERN

#: ``partial``: the run ended with scenarios that found no candidate; the accepted ones are
#: results like a succeeded job's.
JOB_STATUSES = ("queued", "running", "succeeded", "partial", "failed", "cancelled")
ACTIVE_STATUSES = frozenset({"queued", "running"})
#: Statuses whose job has results and downloads.
RESULT_STATUSES = frozenset({"succeeded", "partial"})

#: Where each job-request field comes from: (config section, model, field names).
JOB_REQUEST_SOURCES: tuple[tuple[str, type[BaseModel], tuple[str, ...]], ...] = (
    ("generation", GenerationConfig, (
        "n_samples", "min_fidelity", "method", "block_size", "length", "seed", "max_attempts",
        "allow_partial", "drift", "garch", "regime", "timeframes",
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


#: Request sections that only apply to one method: request key -> method.
METHOD_SECTIONS = {"garch": "garch", "regime": "regime"}

_GENERATION_NAMES = next(names for section, _m, names in JOB_REQUEST_SOURCES
                         if section == "generation")

DatasetId = Annotated[str, StringConstraints(pattern=DATASET_ID.pattern)]
JobId = Annotated[str, StringConstraints(pattern=JOB_ID.pattern)]
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL.pattern)]


def _generation_rules(self):  # a model validator of JobRequest
    """The generation fields together through ``GenerationConfig`` (its cross-field rules)."""
    try:
        GenerationConfig.model_validate({n: getattr(self, n) for n in _GENERATION_NAMES})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{key}: {msg}" if key else msg)
        raise ValueError("; ".join(lines)) from None
    return self


def _one_source(self):  # a model validator of JobRequest
    if (self.dataset_id is None) == (self.dataset_ids is None):
        raise ValueError("dataset_id: give exactly one of dataset_id (one dataset) and "
                         "dataset_ids (several datasets as {symbol: dataset id})")
    if self.dataset_ids is not None and self.input_layout not in (None, "single"):
        raise ValueError(f"input_layout: {self.input_layout} describes one uploaded table "
                         "(dataset_id); with dataset_ids every dataset is one series")
    return self


def _input_layout_field() -> tuple[Any, Any]:
    info = InputConfig.model_fields["layout"]
    return (info.annotation | None, Field(
        None, description="How the dataset holds its series: single, long or wide (a multi-asset "
        "table uploaded with ?layout=). Null: as the dataset was uploaded; a different value "
        "is an error."))


def _job_request_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        "dataset_id": (
            DatasetId | None,
            Field(None, description="Id of an uploaded dataset (one series, or a multi-asset "
                                    "table uploaded with ?layout=long|wide).",
                  examples=["ds_0123456789abcdef0123456789abcdef"]),
        ),
        "dataset_ids": (
            dict[Symbol, DatasetId] | None,
            Field(None, min_length=1, max_length=64,
                  description="Several assets: symbol -> id of an uploaded single-series "
                              "dataset. Instead of dataset_id.",
                  examples=[{"SPX": "ds_0123456789abcdef0123456789abcdef",
                             "NDX": "ds_fedcba9876543210fedcba9876543210"}]),
        ),
        "input_layout": _input_layout_field(),
    }
    validators: dict[str, Any] = {}
    for _section, model, names in JOB_REQUEST_SOURCES:
        for name in names:
            info = copy.deepcopy(model.model_fields[name])
            fields[name] = (info.annotation, info)
        validators.update(_copied_validators(model, names))
    fields["resume_from"] = (
        JobId | None,
        Field(None, description="A succeeded or partial job of the same dataset and settings "
                                "(any n_samples, min_fidelity, max_attempts): its accepted "
                                "scenarios that this job would accept too are copied instead "
                                "of searched again.",
              examples=["job_0123456789abcdef0123456789abcdef"]),
    )
    validators["_one_source"] = model_validator(mode="after")(_one_source)
    validators["_generation_rules"] = model_validator(mode="after")(_generation_rules)
    return create_model(
        "JobRequest",
        __config__=ConfigDict(extra="forbid", frozen=True, validate_default=True),
        __doc__="A generation job: the generation settings of a run config, its output formats "
                "and metric weights, applied to one uploaded dataset or several.",
        __validators__=validators,
        **fields,
    )


JobRequest = _job_request_model()


class JobProgress(BaseModel):
    """Progress of a job, as the pipeline reports it after every finished task.

    ``accepted``, ``attempts`` and ``resumed`` count the whole run, across a retry and the
    scenarios taken over from ``resume_from``.
    """

    stage: str = Field("preparing",
                       description="preparing | preflight | generating | bundling | done")
    accepted: int = 0
    requested: int = 0
    attempts: int = Field(0, description="Attempts spent: attempt + 1 per accepted scenario, "
                                         "the attempts searched so far for the others.")
    failed: int = 0
    resumed: int = Field(0, description="Scenarios reused from an interrupted run of this job "
                                        "or from resume_from, not searched again.")
    acceptance_rate: float | None = None
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0


class Preflight(BaseModel):
    """The estimate of a run before any work (``pipeline.core.preflight``)."""

    model_config = ConfigDict(extra="allow")

    min_fidelity: float
    n_samples: int
    max_attempts: int
    pilot_candidates: int
    pilot_passed: int
    acceptance: float = Field(description="Estimated share of candidates that pass.")
    acceptance_interval: list[float] = Field(description="Its 95 % interval.")
    median_fidelity: float
    expected_attempts: float = Field(description="Expected attempts per scenario.")
    expected_candidates: float
    p_run_fails: float = Field(description="Chance that some scenario finds no candidate.")
    p_run_fails_high: float
    suggested_min_fidelity: float | None = Field(
        None, description="A threshold about a quarter of candidates reach (when the verdict "
                          "is not ok).")
    verdict: Literal["ok", "slow", "may_fail", "will_fail"]
    message: str
    expected_seconds: float | None = Field(
        None, description="Expected time on the server's worker threads (measured cost).")
    threads: int | None = None


class Partial(BaseModel):
    """Why a job's run is partial, and the threshold at which a rerun completes."""

    reason: str
    accepted: int
    failed: int
    best_score: float = Field(description="The best fidelity any failed scenario reached.")
    suggested_min_fidelity: float | None = Field(
        None, description="Every scenario passes at this threshold (the failed ones' lowest "
                          "best score, rounded down): resubmit with it and resume_from.")


class Job(BaseModel):
    """A generation job and its state."""

    id: str
    dataset_id: str = Field(description="The job's dataset (with dataset_ids: the first).")
    dataset_ids: dict[str, str] | None = Field(
        None, description="Multi-asset jobs on several datasets: symbol -> dataset id.")
    symbols: list[str] | None = Field(None, description="Assets of a multi-asset job.")
    status: Literal["queued", "running", "succeeded", "partial", "failed", "cancelled"]
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
    preflight: Preflight | None = Field(
        None, description="The run's preflight, as soon as the run has made it.")
    warnings: list[str] = Field(
        default_factory=list, description="The preflight's message when it expects the run to "
                                          "be slow or to fail.")
    partial: Partial | None = Field(None, description="Set when the status is partial.")


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
    layout: Literal["single", "long", "wide"] = Field(
        "single", description="single: one series; long/wide: a multi-asset table (as uploaded).")
    symbols: list[str] | None = Field(
        None, description="Assets of a multi-asset table, in their order in the table.")
    read_report: dict[str, Any] | None = Field(
        None, description="How the file was read (one series): columns taken, lines skipped, "
        "time format and zone, order, frequency, gaps, rows dropped, volume, spikes.")
    read_reports: dict[str, dict[str, Any]] | None = Field(
        None, description="The read report of each asset of a multi-asset table.")


class RegimeBand(BaseModel):
    """One run of bars in one regime (0 = calmest)."""

    regime: int
    start: str = Field(description="Timestamp of the run's first base bar.")
    end: str = Field(description="Timestamp of the run's last base bar.")
    bars: int


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
    symbol: str | None = Field(None, description="The asset shown (multi-asset data).")
    timeframe: str | None = Field(None, description="The higher timeframe shown, null: base bars.")
    regimes: list[RegimeBand] | None = Field(
        None, description="The scenario's regime path (method regime), as runs of base bars.")


class Health(BaseModel):
    """``GET /api/health``: the server is up, its version and its Dask workers."""

    status: str
    version: str
    workers: int


# --------------------------------------------------------------------------- job results
# What GET /api/jobs/{id}/results returns. Parts the route computes are described field by
# field; parts copied from the run's manifest whose shape the run owns (summary, block choice,
# fitted regimes and GARCH fits) are JSON objects here. The route leaves out optional keys a
# run does not have (``response_model_exclude_unset``), as the manifest does.


class Spread(BaseModel):
    """Smallest, median and largest value over the accepted scenarios (null: none finite)."""

    min: float | None
    median: float | None
    max: float | None


class CorrelationSpread(BaseModel):
    """A pair's correlation in the original and its spread over the scenarios."""

    original: float | None = Field(description="The original series' value.")
    min: float | None
    median: float | None
    max: float | None


class Correlation(BaseModel):
    """Original vs synthetic correlation of one asset pair (multi-asset runs)."""

    pair: str = Field(description="The pair as the metrics name it: A|B.")
    symbols: list[str]
    corr: CorrelationSpread = Field(description="Correlation of the log-returns.")
    abs_corr: CorrelationSpread = Field(description="Correlation of the absolute log-returns.")


class TimeframeScore(BaseModel):
    """A scenario's score and metrics at one higher timeframe."""

    score: float | None
    metrics: dict[str, float | None] | None


class TimeframeSummary(BaseModel):
    """One higher timeframe of the run (its manifest entry) and the spread of its scores."""

    model_config = ConfigDict(extra="allow")

    bars: int = Field(description="Bars of the original at this timeframe.")
    reference_metrics: dict[str, float | None] | None = None
    scored_metrics: list[str]
    spreads: dict[str, float | None] | None = Field(
        None, description="Each scored metric's sampling spread, the unit of its score.")
    score: Spread = Field(description="The scenarios' scores at this timeframe.")


class ScenarioResult(BaseModel):
    """One accepted scenario: its fidelity score and metrics."""

    scenario: int = Field(description="The scenario's number, from 1.")
    score: float
    attempt: int = Field(description="The attempt that passed, from 0.")
    metrics: dict[str, float | None]
    timeframes: dict[str, TimeframeScore] | None = Field(
        None, description="Score and metrics at each higher timeframe (timeframe runs).")
    regime_shares: list[float] | None = Field(
        None, description="Share of bars in each regime (method regime).")


class ScoreSummary(BaseModel):
    """The fidelity scores of every accepted scenario, summed up."""

    count: int = Field(description="Accepted scenarios.")
    min: float | None
    median: float | None
    max: float | None
    mean: float | None
    mean_attempts: float | None = Field(
        description="Candidates searched per accepted scenario (its attempt + 1), on average.")
    best_scenario: int | None = Field(
        description="The scenario with the best score (the lowest number among ties).")


class ScoreHistogram(BaseModel):
    """Equal-width bins of every accepted scenario's score: about sqrt(n) bins (5 to 30) of
    a round width (0.1 to 20), aligned to the width."""

    centers: list[float] = Field(description="Each bin's middle.")
    counts: list[int] = Field(description="Scenarios in each bin.")
    width: float = Field(description="The bins' width (1 when there are none).")


#: The orders of a page of scenarios (see :data:`pipeline.api.runs.SCENARIO_ORDERS`).
ScenarioSort = Literal["scenario", "-scenario", "score", "-score"]
SCENARIO_SORT_DESCRIPTION = ("Order of the scenarios: scenario (by number), score (ties by "
                             "number), or either with a leading - for descending.")


class ScenarioPage(BaseModel):
    """A page of a job's accepted scenarios, in the order asked for."""

    total: int = Field(description="Accepted scenarios in all.")
    offset: int = Field(description="Position of the first scenario of the page in the order.")
    limit: int = Field(description="The most scenarios a page holds.")
    sort: ScenarioSort = Field(
        description=SCENARIO_SORT_DESCRIPTION)
    scenarios: list[ScenarioResult]


class FanChart(BaseModel):
    """Percentile bands and sample paths of the accepted series' closes, with the original."""

    index: list[str]
    percentiles: dict[str, list[float | None]] = Field(
        description="Percentile (5, 25, 50, 75, 95) -> the band's closes.")
    samples: list[list[float | None]]
    n_series: int
    original: list[float | None] | None
    original_index: list[str] | None
    symbol: str | None = Field(description="The asset shown (multi-asset runs).")


class JobResults(BaseModel):
    """Scores, metrics and a fan chart of a job's accepted series."""

    run_id: str | None
    status: str | None = Field(description="The manifest's status: complete or partial.")
    summary: dict[str, Any]
    partial: Partial | None
    preflight: Preflight | None
    block_choice: dict[str, Any] | None = Field(
        description="How the block size was chosen (the manifest's model.block_choice).")
    method: str | None
    reference: str = Field(description="original, or conditioned: the conditioned regime mix.")
    reference_metrics: dict[str, float | None]
    weights: dict[str, float]
    scored_metrics: list[str]
    block_size: int | None
    symbols: list[str] | None = Field(description="Assets of a multi-asset run (metrics are "
                                                  "keyed SYM:metric).")
    symbol: str | None
    correlations: list[Correlation]
    timeframes: dict[str, TimeframeSummary]
    regimes: dict[str, Any] | None = Field(
        description="The fitted regimes (method regime; the manifest's model.regimes).")
    garch: dict[str, Any] | None = Field(
        description="The GARCH fit of each series (method garch; the manifest's model.garch).")
    n_scenarios: int = Field(description="Accepted scenarios in all (``scenarios`` lists a "
                                         "page of them).")
    score_summary: ScoreSummary
    score_histogram: ScoreHistogram
    metric_spreads: dict[str, Spread] = Field(
        description="Each metric's spread over every accepted scenario (keyed as the metrics "
                    "are: SYM:metric in a multi-asset run).")
    regime_shares: list[float] | None = Field(
        None, description="Share of bars in each regime, averaged over the scenarios (method "
                          "regime).")
    scenarios: list[ScenarioResult] = Field(
        description="The first scenarios in the order ``sort`` asked for, at most ``limit`` "
                    "(default 1000); every page from GET /api/jobs/{id}/scenarios.")
    fan: FanChart


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

#: One line per generation method for the dashboard's method selector.
METHOD_DESCRIPTIONS: dict[str, str] = {
    "stationary": "Stationary block bootstrap (random block lengths) of the bars' components.",
    "circular": "Circular block bootstrap: fixed-length blocks, wrapping around the end.",
    "moving": "Moving block bootstrap: fixed-length blocks, no wrapping.",
    "iid": "Rows drawn independently (no time dependence): a baseline.",
    "garch": "GARCH-filtered bootstrap: standardized residuals resampled, volatility "
             "re-simulated by a fitted GARCH/GJR/EGARCH model.",
    "regime": "Regime-switching bootstrap: calm and volatile regimes labelled in the input, "
              "blocks drawn within a simulated regime path, which can be conditioned.",
}


# --------------------------------------------------------------------------- calibrations
# A calibration job runs pipeline.calibrate on one uploaded dataset. Its request is derived from
# the config's models like the generation job's: the walk forward's fields are those of
# CalibrationConfig, seed and drift those of GenerationConfig.

#: Statuses of a calibration (it has no partial outcome: every origin is computed or it fails).
CALIBRATION_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")

#: Where each calibration-request field comes from: (config section, model, field names).
CALIBRATION_REQUEST_SOURCES: tuple[tuple[str, type[BaseModel], tuple[str, ...]], ...] = (
    ("calibration", CalibrationConfig, (
        "methods", "horizon", "n_scenarios", "step", "min_window", "window",
    )),
    ("generation", GenerationConfig, ("seed", "drift")),
)


def _calibration_request_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        "dataset_id": (
            DatasetId,
            Field(description="Id of an uploaded single-series dataset.",
                  examples=["ds_0123456789abcdef0123456789abcdef"]),
        ),
    }
    validators: dict[str, Any] = {}
    for _section, model, names in CALIBRATION_REQUEST_SOURCES:
        for name in names:
            info = copy.deepcopy(model.model_fields[name])
            fields[name] = (info.annotation, info)
        validators.update(_copied_validators(model, names))
    return create_model(
        "CalibrationRequest",
        __config__=ConfigDict(extra="forbid", frozen=True, validate_default=True),
        __doc__="A walk-forward calibration: the calibration section of a run config, with "
                "the generation seed and drift, on one uploaded dataset.",
        __validators__=validators,
        **fields,
    )


CalibrationRequest = _calibration_request_model()


class CalibrationProgress(BaseModel):
    """Progress of a calibration: origins finished of all origins."""

    stage: str = Field("preparing",
                       description="preparing | fitting | origins | summary | done")
    done: int = Field(0, description="Origins finished (those read back from disk included).")
    total: int = Field(0, description="Origins of the walk forward.")
    resumed: int = Field(0, description="Origins found on disk from an interrupted run, not "
                                        "computed again.")
    elapsed_seconds: float = 0.0


class CoverageLevel(BaseModel):
    """How often the central ``level`` interval of the scenarios held the realized value."""

    level: float
    hits: int
    n: int
    share: float | None = Field(description="hits / n (null without origins).")
    band: list[float | None] = Field(
        description="[low, high]: the 95 % range of the share a calibrated forecast gives with "
                    "n origins; below: too narrow, above: too wide.")
    verdict: Literal["ok", "too narrow", "too wide", "too few origins"]


class StatisticCalibration(BaseModel):
    """The calibration of one method for one path statistic over all origins."""

    method: str
    statistic: str
    label: str = Field(description="The statistic in words, e.g. '21-bar volatility'.")
    n: int = Field(description="Origins with a PIT.")
    coverage: list[CoverageLevel]
    uniformity_p: float | None = Field(
        description="Kolmogorov-Smirnov p-value of the PITs against uniform.")
    mean_pit: float | None
    bias: str = Field(description="none | scenarios too low | scenarios too high")
    histogram: list[int] = Field(description="PIT counts in equal bins of [0, 1].")
    crps: float | None = Field(description="Mean CRPS, in the statistic's units.")
    verdict: Literal["calibrated", "too narrow", "too wide", "biased", "misshapen",
                     "too few origins"]
    sentence: str = Field(description="The verdict in plain words.")


class CalibrationSummary(BaseModel):
    """The summary of a finished calibration (``calibration.json``)."""

    horizon: int
    methods: list[str]
    overlapping: bool = Field(description="Origins closer than the horizon: their PITs are "
                                          "dependent and the tests too confident.")
    rows: list[StatisticCalibration]


class CalibrationOrigins(BaseModel):
    """The walk forward's origins."""

    count: int
    first: str
    last: str


class FailedFits(BaseModel):
    """Origins at which a method could not be fitted (no PIT there)."""

    origins: int
    first_error: str


class Calibration(BaseModel):
    """A calibration job and its state; with its summary once it has succeeded."""

    id: str
    dataset_id: str
    dataset_name: str | None = None
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    request: dict[str, Any]
    progress: CalibrationProgress
    error: str | None = None
    run_id: str | None = None
    cancel_requested: bool = Field(False, description="DELETE was called while it ran.")
    summary: CalibrationSummary | None = Field(
        None, description="Set on GET /api/calibrations/{id} of a succeeded calibration.")
    origins: CalibrationOrigins | None = None
    failed_fits: dict[str, FailedFits] | None = Field(
        None, description="Methods whose fit failed at some origins: method -> count, first "
                          "error.")
