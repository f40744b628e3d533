"""Synthetic Market Engine: synthetic OHLCV series by block bootstrap, accepted by fidelity.

The flow, one direction::

    load_ohlcv -> preprocess -> sample (batched) -> reconstruct -> metrics -> score -> accept -> write

Public API
----------
load_ohlcv, load_sample
    Read and validate an OHLCV file, URL or DataFrame; the built-in samples.
compute_metrics, compute_metrics_batch, METRIC_NAMES
    The statistical metrics of one series or of a batch.
SyntheticDataFactory
    Generate accepted synthetic series in Python (single process).
run_pipeline, load_config, RunConfig
    The Dask batch pipeline, configured by YAML or mappings.
calibrate, CalibrationResult
    Walk-forward calibration: would the scenarios have covered what happened next?
iter_scenarios, StreamedScenario
    Scenarios streamed as they are accepted (also ``SyntheticDataFactory.stream``).
load_assets, align_assets
    Several assets from separate files, a long table or a wide table, aligned on time.
to_backtest_frame, iter_run_frames
    A finished run's series in the layouts of backtesting libraries (:mod:`pipeline.export`
    also writes ML datasets: partitioned Parquet, NPZ and TFRecord windows).
"""

from importlib.metadata import PackageNotFoundError, version

from pipeline.core.metrics import METRIC_NAMES, compute_metrics, compute_metrics_batch
from pipeline.core.preflight import Preflight
from pipeline.core.scoring import DEFAULT_WEIGHTS
from pipeline.errors import (
    ConfigError,
    DataRepairWarning,
    FidelityNotReachedError,
    InputDataError,
    MissingVolumeWarning,
    PreflightWarning,
    SMEError,
    SMEWarning,
    SuspectDataWarning,
)
from pipeline.factory import StreamedScenario, SyntheticDataFactory, SyntheticSeries, fit_model
from pipeline.io.assets import align_assets, load_assets
from pipeline.io.inspect import ReadReport
from pipeline.io.readers import inspect_ohlcv, load_ohlcv, load_sample

try:
    __version__ = version("synthetic-market-engine")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "load_ohlcv",
    "inspect_ohlcv",
    "ReadReport",
    "load_sample",
    "load_assets",
    "align_assets",
    "compute_metrics",
    "compute_metrics_batch",
    "METRIC_NAMES",
    "DEFAULT_WEIGHTS",
    "SyntheticDataFactory",
    "SyntheticSeries",
    "fit_model",
    "run_pipeline",
    "run_preflight",
    "calibrate",
    "CalibrationResult",
    "load_config",
    "RunConfig",
    "RunResult",
    "iter_scenarios",
    "StreamedScenario",
    "to_backtest_frame",
    "iter_run_frames",
    "SMEError",
    "InputDataError",
    "ConfigError",
    "FidelityNotReachedError",
    "SMEWarning",
    "DataRepairWarning",
    "MissingVolumeWarning",
    "SuspectDataWarning",
    "PreflightWarning",
    "Preflight",
]


def __getattr__(name: str):
    # The runner pulls in dask.distributed; import it only when asked for.
    if name in ("run_pipeline", "run_preflight", "RunResult"):
        from pipeline.runner import coordinator

        return getattr(coordinator, name)
    if name in ("calibrate", "CalibrationResult"):
        from pipeline.runner import calibrate

        return getattr(calibrate, name)
    if name == "iter_scenarios":
        from pipeline import stream

        return stream.iter_scenarios
    if name in ("to_backtest_frame", "iter_run_frames"):
        from pipeline import export

        return getattr(export, name)
    if name in ("load_config", "RunConfig"):
        from pipeline import config

        return getattr(config, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
