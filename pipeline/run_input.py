"""A run's input and generation model, from its configuration.

The runner (which holds a validated :class:`~pipeline.config.RunConfig`) and readers of a
finished run (the report, which has only the configuration its manifest records) load the input
and refit the model the same way, through the functions here; so readers of a finished run need
not import the runner. A manifest's configuration is validated section by section, with the
same models as a run's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import (
    GenerationConfig,
    InputConfig,
    RunConfig,
    ScoringConfig,
    generation_settings,
    validate_section,
)
from pipeline.core.assets import Assets
from pipeline.core.fit import fit_generation_model
from pipeline.core.sampler import GenerationModel
from pipeline.io.assets import load_assets
from pipeline.io.readers import load_ohlcv, load_sample

__all__ = ["content_hash", "load_configured_input", "fit_configured_model"]

#: Where the errors of a recorded configuration point.
_RECORDED = "the run's recorded configuration"


def content_hash(data: Assets | pd.DataFrame | Mapping[str, pd.DataFrame]) -> str:
    """SHA-256 of the normalized OHLCV input's timestamps, column names and values.

    Parameters
    ----------
    data : Assets, DataFrame or mapping of str to DataFrame
        The input: one series, or several assets.

    Returns
    -------
    str
        The hex digest. For several assets: of each symbol and its frame's hash, in order.
    """
    assets = Assets.of(data)
    if assets.symbols:
        joined = "".join(f"{symbol}={_frame_hash(f)};" for symbol, f in assets.items())
        return hashlib.sha256(joined.encode()).hexdigest()
    return _frame_hash(assets.first)


def _frame_hash(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(np.ascontiguousarray(frame.index.asi8 if isinstance(frame.index, pd.DatetimeIndex)
                                  else np.arange(len(frame))).tobytes())
    h.update(np.ascontiguousarray(frame.to_numpy(dtype=float)).tobytes())
    return h.hexdigest()


def load_configured_input(config: RunConfig | Mapping[str, Any]) -> Assets:
    """Load and validate the input a run configuration describes.

    Parameters
    ----------
    config : RunConfig or mapping
        A run configuration, or the ``config`` a run's manifest records (its ``input`` section
        is validated here).

    Returns
    -------
    Assets
        One series, or several assets aligned on shared timestamps.

    Raises
    ------
    InputDataError
        The input cannot be read or is not valid OHLCV data.
    ConfigError
        A recorded ``input`` section that is not a valid one.
    """
    cfg = (config.input if isinstance(config, RunConfig)
           else validate_section(InputConfig, config["input"], _RECORDED))
    options = cfg.storage_options or None
    if cfg.sample is not None:
        return Assets.single(load_sample(cfg.sample))
    read = cfg.read_options()  # part of the input's identity through the data they yield
    if cfg.assets is not None:
        return Assets.of(load_assets(assets=cfg.assets, repair=cfg.repair,
                                     storage_options=options, **read))
    if cfg.layout != "single":
        return Assets.of(load_assets(cfg.path, layout=cfg.layout, symbol_column=cfg.symbol_column,
                                     repair=cfg.repair, storage_options=options, **read))
    return Assets.single(load_ohlcv(cfg.path, repair=cfg.repair, storage_options=options,
                                    **read))


def fit_configured_model(data: Assets | pd.DataFrame | Mapping[str, pd.DataFrame],
                         config: RunConfig | Mapping[str, Any]) -> GenerationModel:
    """Fit the generation model a run configuration describes to ``data``.

    Parameters
    ----------
    data : Assets, DataFrame or mapping of str to DataFrame
        The run's input, as :func:`load_configured_input` returns it.
    config : RunConfig or mapping
        A run configuration, or the ``config`` a run's manifest records (its ``generation``
        and ``scoring`` sections are validated here).

    Returns
    -------
    GenerationModel
        The fitted model; the same settings and input always give the same model.

    Raises
    ------
    ConfigError
        A recorded ``generation`` or ``scoring`` section that is not a valid one.
    """
    if isinstance(config, RunConfig):
        settings = config.settings()
    else:
        settings = generation_settings(
            validate_section(GenerationConfig, config["generation"], _RECORDED),
            validate_section(ScoringConfig, config["scoring"], _RECORDED))
    return fit_generation_model(Assets.of(data), settings)
