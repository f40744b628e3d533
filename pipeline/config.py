"""The run configuration: one set of pydantic models for YAML, CLI overrides, REST API and UI.

Every model forbids unknown keys; :func:`load_config` turns pydantic's errors into one
:class:`~pipeline.errors.ConfigError` whose lines name each bad key and what is allowed.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.core.garch import GARCH_DISTS, GARCH_VOLS
from pipeline.core.generators import METHODS
from pipeline.core.regimes import REGIME_LABELLINGS
from pipeline.core.scoring import DEFAULT_TOLERANCE, resolve_weights
from pipeline.core.settings import (
    DEFAULT_REPLICATES,
    MAX_DRIFT,
    SETTING_NAMES,
    GarchOptions,
    GenerationSettings,
    RegimeOptions,
)
from pipeline.core.timeframes import check_rule
from pipeline.errors import ConfigError

__all__ = [
    "ColumnsConfig",
    "InputConfig",
    "GarchConfig",
    "RegimeConfig",
    "GenerationConfig",
    "ScoringConfig",
    "ClusterConfig",
    "OutputConfig",
    "RunConfig",
    "CacheConfig",
    "CalibrationConfig",
    "generation_settings",
    "validate_section",
    "load_config",
    "validate_settings",
    "apply_overrides",
    "parse_yaml",
    "MAX_YAML_NODES",
]

OutputFormat = Literal["csv", "xlsx", "parquet"]
#: Bumped whenever a change makes the same config and seed produce different files.
ENGINE_OUTPUT_VERSION = 4


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ColumnsConfig(_Model):
    """Explicit input columns for the fields detection cannot find (``input.columns``)."""

    time: str | None = Field(None, min_length=1, description="Time column, e.g. dt.")
    open: str | None = Field(None, min_length=1, description="Open price column.")
    high: str | None = Field(None, min_length=1, description="High price column.")
    low: str | None = Field(None, min_length=1, description="Low price column.")
    close: str | None = Field(None, min_length=1, description="Close price column.")
    volume: str | None = Field(None, min_length=1, description="Volume column, e.g. value.")

    def mapping(self) -> dict[str, str]:
        """The named fields only, as :func:`~pipeline.io.readers.load_ohlcv` takes them."""
        return self.model_dump(exclude_none=True)


class InputConfig(_Model):
    """Where the original comes from: a file/URL, a built-in sample, or several assets."""

    path: str | None = Field(None, description="Local path or fsspec URL of a CSV, XLSX or Parquet file.")
    sample: Literal["sp500", "nasdaq", "sample"] | None = Field(
        None, description="Built-in sample instead of a file."
    )
    assets: dict[str, str] | None = Field(
        None, description="Several assets: symbol -> path/URL, or 'sample:sp500' for a built-in sample."
    )
    layout: Literal["single", "long", "wide"] = Field(
        "single", description="input.path holds one series, or several assets as a long table "
        "(one row per bar and symbol) or a wide table (SYMBOL_Field columns)."
    )
    symbol_column: str = Field("symbol", min_length=1, description="Symbol column of a long table.")
    repair: bool = Field(False, description="Drop or fix invalid rows instead of failing.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options.")
    columns: ColumnsConfig = Field(
        default_factory=ColumnsConfig, description="Columns for fields detection cannot find.")
    skiprows: int | None = Field(
        None, ge=0, le=10_000, description="Lines above the header row (default: detected).")
    date_format: str | None = Field(
        None, min_length=2, pattern="%", description="strftime format of the time column, "
        "e.g. '%d.%m.%Y %H:%M' (default: detected).")

    def read_options(self) -> dict[str, Any]:
        """``columns``, ``skiprows`` and ``date_format`` as the readers take them."""
        return {"columns": self.columns.mapping() or None, "skiprows": self.skiprows,
                "date_format": self.date_format}

    @model_validator(mode="after")
    def _one_source(self) -> InputConfig:
        given = [k for k in ("path", "sample", "assets") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of input.path, input.sample or input.assets")
        if self.layout != "single" and self.path is None:
            raise ValueError(f"input.layout: {self.layout} describes the table at input.path")
        if self.assets is not None and not self.assets:
            raise ValueError("input.assets: give at least one symbol: path")
        return self

    @property
    def multi_asset(self) -> bool:
        return self.assets is not None or self.layout != "single"


class GarchConfig(_Model):
    """The volatility model of ``method: garch``."""

    vol: Literal[GARCH_VOLS] = Field("garch", description="GARCH(1,1), GJR-GARCH or EGARCH.")  # type: ignore[valid-type]
    dist: Literal[GARCH_DISTS] = Field(  # type: ignore[valid-type]
        "normal", description="Error distribution of the fit: normal, t or skewt."
    )


class RegimeConfig(_Model):
    """Regime labelling and conditioning of ``method: regime``."""

    labels: Literal[REGIME_LABELLINGS] = Field(  # type: ignore[valid-type]
        "markov", description="Markov-switching model (statsmodels) or volatility quantiles."
    )
    n_regimes: int = Field(2, ge=2, le=4, description="Number of regimes, calm to volatile.")
    window: int = Field(21, ge=2, le=10_000, description="Realized-volatility window (quantile labels).")
    condition: Literal["high_volatility", "low_volatility"] | int | None = Field(
        None, description="Favour a regime: high_volatility, low_volatility or a regime number."
    )
    share: float | None = Field(
        None, gt=0, lt=1, description="Long-run share of the conditioned regime."
    )
    duration_factor: float = Field(
        1.0, gt=0, le=1000, description="Multiplies the conditioned regime's mean stay."
    )

    @model_validator(mode="after")
    def _needs_condition(self) -> RegimeConfig:
        if self.condition is None and (self.share is not None or self.duration_factor != 1.0):
            raise ValueError("share and duration_factor need a condition (high_volatility, "
                             "low_volatility or a regime number)")
        if isinstance(self.condition, int) and not 0 <= self.condition < self.n_regimes:
            raise ValueError(f"condition: regime numbers are 0..{self.n_regimes - 1}")
        return self


class GenerationConfig(_Model):
    """How candidates are made and accepted."""

    method: Literal[METHODS] = Field(  # type: ignore[valid-type]
        "stationary", description="Block bootstrap, GARCH-filtered bootstrap or regime-switching bootstrap."
    )
    block_size: int | Literal["auto"] = Field(
        "auto", description="(Mean) block length in bars, or 'auto' (Politis-White)."
    )
    length: int | None = Field(
        None, ge=200, le=10_000_000, description="Bars per series; default the input's length."
    )
    n_samples: int = Field(1000, ge=1, le=10_000_000, description="Scenarios to generate.")
    min_fidelity: float = Field(90.0, ge=0, le=100, description="Acceptance threshold, percent.")
    max_attempts: int = Field(200, ge=1, le=1_000_000, description="Candidates per scenario at most.")
    seed: int = Field(42, ge=0, lt=2**63, description="Root seed of the run.")
    start_price: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Close before the first bar.")
    start: int | str | None = Field(
        None, description="Continue the history from this bar, fitted on the bars up to it: a "
        "bar position (0-based; -1 is the last bar) or a timestamp (the last bar at or before "
        "it). Null: fit the whole input.")
    drift: Literal["keep", "zero"] | Annotated[
            float, Field(ge=-MAX_DRIFT, le=MAX_DRIFT, allow_inf_nan=False)] = Field(
        "keep", description="The scenarios' trend: keep the history's, zero, or an annualized "
        f"log return (a number from -{MAX_DRIFT:g} to {MAX_DRIFT:g}, e.g. 0.05).")
    allow_partial: bool = Field(
        False, description="Finish with the scenarios that passed instead of failing."
    )
    garch: GarchConfig = Field(default_factory=GarchConfig, description="For method: garch.")
    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="For method: regime.")
    timeframes: list[str] = Field(
        default_factory=list, description="Higher timeframes delivered with each series, e.g. [1h, 1D]."
    )

    @field_validator("timeframes")
    @classmethod
    def _timeframes(cls, v: list[str]) -> list[str]:
        for rule in v:
            try:
                check_rule(rule)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("generation.timeframes: ")) from None
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _method_options(self) -> GenerationConfig:
        if self.regime.condition is not None and self.method != "regime":
            raise ValueError(f"regime.condition needs method: regime (method is {self.method})")
        return self

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        return _start_value(v)

    def recorded(self) -> dict[str, Any]:
        """The section as run ids hash it and manifests record it.

        ``start`` and ``drift`` at their defaults are left out, so the run ids and manifests
        of runs that do not use them are those from before the two settings existed.
        """
        out = self.model_dump(mode="json")
        for key, default in _OMITTED_DEFAULTS.items():
            if out[key] == default:
                del out[key]
        return out

    @field_validator("drift", mode="before")
    @classmethod
    def _drift(cls, v: Any) -> Any:
        # One message for every bad value, instead of one per branch of the union.
        if v in ("keep", "zero"):
            return v
        bad = ValueError(f"expected keep, zero or an annualized log return from "
                         f"-{MAX_DRIFT:g} to {MAX_DRIFT:g}")
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise bad
        try:
            number = float(v)
        except ValueError:
            raise bad from None
        if not (math.isfinite(number) and abs(number) <= MAX_DRIFT):
            raise bad
        return number

    @field_validator("block_size")
    @classmethod
    def _positive_block(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("block_size must be 'auto' or an integer >= 1")
        return v


#: Generation settings left out of recorded configs at these defaults
#: (:meth:`GenerationConfig.recorded`).
_OMITTED_DEFAULTS = {"start": None, "drift": "keep"}


def _start_value(v: Any) -> Any:
    """``generation.start`` as an int position or a timestamp string.

    YAML reads ``2020-03-16`` as a date and a CLI ``--set`` may give ``"-1"``; both are taken.
    A string must parse as a timestamp (which bar it means is settled against the input).
    """
    if isinstance(v, bool):
        raise ValueError("expected a bar position (integer) or a timestamp")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, str):
        text = v.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            raise ValueError(f"expected a bar position (integer) or a timestamp such as "
                             f"2020-03-16, got {v!r}") from None
        if stamp is pd.NaT:
            raise ValueError("expected a bar position (integer) or a timestamp, got NaT")
        return text
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


class ScoringConfig(_Model):
    """How the fidelity score weighs the metrics."""

    weights: dict[str, float] = Field(default_factory=dict, description="Metric weight overrides.")
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0, allow_inf_nan=False,
                             description="Spreads at which similarity is e^-1/2.")
    n_replicates: int = Field(DEFAULT_REPLICATES, ge=20, le=100_000, description="Bootstrap replicates for spreads.")

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, v: dict[str, float]) -> dict[str, float]:
        try:
            resolve_weights(v)
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return v


class ClusterConfig(_Model):
    """Where tasks run: a LocalCluster (address null) or an existing scheduler."""

    address: str | None = Field(None, description="Scheduler address, e.g. tcp://127.0.0.1:8786.")
    n_workers: int | None = Field(None, ge=1, le=1024, description="LocalCluster workers.")
    threads_per_worker: int = Field(1, ge=1, le=256, description="LocalCluster threads per worker.")
    processes: bool = Field(True, description="LocalCluster with processes (else threads).")
    task_candidates: int = Field(
        256, ge=1, le=100_000, description="Candidates a task scores before it returns."
    )


class OutputConfig(_Model):
    """Where and how accepted series are written."""

    path: str = Field("outputs/{run_id}", description="Directory or URL; {run_id} is filled in.")
    formats: list[OutputFormat] = Field(
        default_factory=lambda: ["csv", "parquet"], min_length=1, description="Files per series."
    )
    zip: bool = Field(True, description="Also bundle the CSVs (and XLSXs) into ZIP files.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options.")
    resume_from: str | None = Field(
        None, min_length=1, description="A finished (complete or partial) run's output directory "
        "or URL: its accepted scenarios that this run would accept too are copied instead of "
        "searched again (same input, method, seed and scoring; any min_fidelity, max_attempts "
        "or n_samples).")

    @field_validator("formats")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class CacheConfig(_Model):
    """Where preprocessing and reference metrics are cached (by input content hash)."""

    path: str | None = Field(".sme-cache", description="Cache directory; null disables the cache.")


class CalibrationConfig(_Model):
    """A walk-forward calibration (``sme calibrate``): would the scenarios have covered what
    happened next?

    Origins are placed every ``step`` bars from the end of a first fit window of ``min_window``
    bars to ``horizon`` bars before the end of the input. At each, every method of ``methods``
    is fitted on the bars up to the origin (all of them, or the last ``min_window`` with
    ``window: rolling``) with the generation section's other settings, and ``n_scenarios``
    scenarios of ``horizon`` bars are ranked against what followed.
    """

    methods: list[Literal[METHODS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["stationary", "garch", "regime"], min_length=1,
        description="Methods compared side by side; each uses the generation section's options.")
    horizon: int = Field(21, ge=1, le=10_000, description="Bars per scenario after each origin.")
    n_scenarios: int = Field(500, ge=20, le=100_000,
                             description="Scenarios per origin and method.")
    step: int = Field(21, ge=1, le=1_000_000, description="Bars between origins.")
    min_window: int = Field(500, ge=200, le=10_000_000,
                            description="Bars of the first fit (and of every fit when rolling).")
    window: Literal["expanding", "rolling"] = Field(
        "expanding", description="Fit on every bar up to the origin, or on the last min_window.")

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class RunConfig(_Model):
    """A whole run."""

    input: InputConfig = Field(default_factory=lambda: InputConfig(sample="sp500"))
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    report: bool = Field(False, description="Write an HTML fidelity report at the end.")
    calibration: CalibrationConfig | None = Field(
        None, description="Walk-forward calibration settings (sme calibrate); null: defaults.")

    def settings(self) -> GenerationSettings:
        """The generation and scoring settings as the core's fit takes them."""
        return generation_settings(self.generation, self.scoring)

    def recorded(self) -> dict[str, Any]:
        """The configuration as a run's manifest records it (see
        :meth:`GenerationConfig.recorded`)."""
        out = {**self.model_dump(mode="json"), "generation": self.generation.recorded()}
        if out["calibration"] is None:
            # Left out unless set, so the manifests of runs stay as they were before it existed.
            del out["calibration"]
        return out

    def fingerprint(self, input_hash: str) -> str:
        """Hash of everything that decides the run's outputs (not where or how fast it runs).

        It includes the engine's output version, so that a run directory written by an engine
        that generated or scored differently is never resumed or reused by this one.
        """
        payload = {
            "engine": ENGINE_OUTPUT_VERSION,
            "input": input_hash,
            "generation": self.generation.recorded(),
            "scoring": self.scoring.model_dump(mode="json"),
            "formats": sorted(self.output.formats),
            "zip": self.output.zip,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def search_fingerprint(self, input_hash: str) -> str:
        """Hash of what decides every candidate's series and score: the fingerprint without
        the acceptance settings (``min_fidelity``, ``max_attempts``, ``n_samples``,
        ``allow_partial``) and the output formats.

        Two runs with the same search fingerprint score the same candidate ``(scenario,
        attempt)`` identically, so one can reuse the other's accepted scenarios
        (``output.resume_from``).
        """
        generation = self.generation.recorded()
        for key in _ACCEPTANCE_KEYS:
            generation.pop(key)
        payload = {
            "engine": ENGINE_OUTPUT_VERSION,
            "input": input_hash,
            "generation": generation,
            "scoring": self.scoring.model_dump(mode="json"),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


#: Generation settings that decide which candidate is accepted, not what candidates are.
_ACCEPTANCE_KEYS = ("n_samples", "min_fidelity", "max_attempts", "allow_partial")


#: Most nodes a YAML document may expand to, aliases counted at their full size (a config has a
#: few hundred; nine nested levels of ten aliases, a 900-byte file, expand to a billion).
MAX_YAML_NODES = 100_000


def generation_settings(generation: GenerationConfig, scoring: ScoringConfig
                        ) -> GenerationSettings:
    """The settings the core's fit takes, from the validated ``generation`` and ``scoring``
    sections (the one place the config's fields become the core's)."""
    return GenerationSettings(
        method=generation.method, block_size=generation.block_size, length=generation.length,
        start_price=generation.start_price, start=generation.start, drift=generation.drift,
        garch=GarchOptions(**generation.garch.model_dump()),
        regime=RegimeOptions(**generation.regime.model_dump()),
        timeframes=tuple(generation.timeframes), weights=dict(scoring.weights),
        tolerance=scoring.tolerance, n_replicates=scoring.n_replicates)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of a composed YAML document with every alias expanded, stopping past the bound."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # Iterative post-order walk: a node's size is known once its children's are. LIFO order
    # sizes a shared node before its other mention is popped, so meeting an open node again
    # means it contains itself (a recursive alias): infinite.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = [c for item in node.value
                    for c in (item if isinstance(node, yaml.MappingNode) else (item,))]
        if children_done:
            total = 1 + sum(sizes.get(id(c), MAX_YAML_NODES + 1) for c in children)
            sizes[id(node)] = min(total, MAX_YAML_NODES + 1)
            continue
        if id(node) in open_nodes:
            return MAX_YAML_NODES + 1
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely, refusing documents whose aliases expand past :data:`MAX_YAML_NODES`.

    ``yaml.safe_load`` shares an aliased node instead of copying it, but everything after it
    (validation, copies, JSON dumps) expands the sharing: a few hundred bytes of nested aliases
    become gigabytes. Recursive aliases are refused too.

    Raises
    ------
    ConfigError
        Invalid YAML, or a document too large once its aliases are expanded.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node) > MAX_YAML_NODES:
            raise ConfigError(
                f"{source}: the YAML expands to more than {MAX_YAML_NODES:,} values through its "
                "anchors and aliases (&name / *name); write the values out or use fewer aliases")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from None


def _format_errors(exc: ValidationError, source: str, *, keywords: bool = False) -> ConfigError:
    """One ConfigError naming every bad key of a pydantic error.

    ``keywords``: the settings came as Python keyword arguments, so an unknown key is named
    inside the mapping that holds it (``generation.garch: unknown key 'p'``), the argument the
    caller has to fix.
    """
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            model = _model_at(err["loc"][:-1])
            allowed = ", ".join(model.model_fields) if model else "see configs/default.yaml"
            if keywords:
                parent = ".".join(str(p) for p in err["loc"][:-1])
                key = f"{parent}: unknown key {err['loc'][-1]!r}"
            else:
                key = f"{key}: unknown key"
            lines.append(f"{key}; allowed keys here: {allowed}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            lines.append(f"{key}: {msg}{shown}")
    where = f" in {source}" if source else ""
    return ConfigError(f"invalid configuration{where}:\n  " + "\n  ".join(lines))


#: Settings of the ``scoring`` section; the others are of ``generation``.
_SCORING_SETTINGS = ("weights", "tolerance", "n_replicates")


def validate_settings(options: Mapping[str, Any], source: str = "the settings"
                      ) -> GenerationSettings:
    """Validate Python keyword settings by the config's own models and build the settings.

    The Python API (:class:`~pipeline.factory.SyntheticDataFactory`,
    :func:`~pipeline.factory.fit_model`) takes the settings as keyword arguments; they are
    checked here by the same pydantic models as a YAML config or a REST request, so each
    setting is refused with the same key and reason wherever it comes from.

    Parameters
    ----------
    options : mapping
        Settings by their names in :class:`~pipeline.core.settings.GenerationSettings`
        (``garch`` and ``regime`` as mappings); None means the default.
    source : str
        What the settings were given to, for the error message.

    Raises
    ------
    ConfigError
        An unknown setting, or bad values; the message names every bad key.
    """
    unknown = sorted(set(options) - set(SETTING_NAMES))
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {unknown}; allowed: "
                          f"{', '.join(SETTING_NAMES)}")
    given = {k: v for k, v in options.items() if v is not None}
    sections = {
        "generation": {k: v for k, v in given.items() if k not in _SCORING_SETTINGS},
        "scoring": {k: v for k, v in given.items() if k in _SCORING_SETTINGS},
    }
    try:
        return RunConfig.model_validate(sections).settings()
    except ValidationError as exc:
        raise _format_errors(exc, source, keywords=True) from None


def _model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    model: type[BaseModel] = RunConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def validate_section(model: type[_Model], data: Any, source: str) -> Any:
    """``data`` as one section's model (e.g. a run manifest's recorded ``generation``), with the
    errors :func:`load_config` gives.

    Raises
    ------
    ConfigError
        ``data`` is not a valid section; each line names a bad key and what is allowed.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _format_errors(exc, source) from None


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to a config mapping."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. generation.n_samples=500")
        value = parse_yaml(raw, f"--set {item!r}") if raw.strip() else None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def load_config(
    source: str | Path | Mapping[str, Any] | RunConfig | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """Read and validate a run configuration.

    Parameters
    ----------
    source : path, mapping, RunConfig or None
        A YAML file, a mapping of the same shape, a ready config, or None for the defaults.
    overrides : sequence of str
        ``key.path=value`` items applied on top, e.g. ``generation.n_samples=5000``.

    Raises
    ------
    ConfigError
        Unreadable YAML, unknown keys or bad values; the message names every bad key.
    """
    name = ""
    if isinstance(source, RunConfig):
        if not overrides:
            return source
        data: Any = source.model_dump(mode="json")
    elif source is None:
        data = {}
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        name = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {name}: {exc.strerror or exc}") from None
        data = parse_yaml(text, name)
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{name}: the top level must be a mapping of sections")
    data = apply_overrides(data, overrides)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise _format_errors(exc, name) from None
