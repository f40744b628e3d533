"""A run's input and generation model, from its configuration as a plain mapping.

The configuration a run's manifest records (``manifest["config"]``: the validated run
configuration dumped to JSON types) is enough to load the run's input again and to refit its
model. The functions here take that mapping, so the runner (which holds the validated
configuration) and readers of a finished run (the report) share one way of doing both, and
readers of a finished run need not import the runner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.factory import fit_model
from pipeline.core.sampler import GenerationModel
from pipeline.io.assets import load_assets
from pipeline.io.readers import load_ohlcv, load_sample

__all__ = ["content_hash", "load_configured_input", "fit_configured_model"]


def content_hash(frame: pd.DataFrame | dict[str, pd.DataFrame]) -> str:
    """SHA-256 of a normalized OHLCV frame's timestamps, column names and values.

    Parameters
    ----------
    frame : DataFrame or dict of str to DataFrame
        One normalized frame, or ``{symbol: frame}`` for several assets.

    Returns
    -------
    str
        The hex digest. For several assets: of each symbol and its frame's hash, in order.
    """
    if isinstance(frame, dict):
        joined = "".join(f"{symbol}={content_hash(f)};" for symbol, f in frame.items())
        return hashlib.sha256(joined.encode()).hexdigest()
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(np.ascontiguousarray(frame.index.asi8 if isinstance(frame.index, pd.DatetimeIndex)
                                  else np.arange(len(frame))).tobytes())
    h.update(np.ascontiguousarray(frame.to_numpy(dtype=float)).tobytes())
    return h.hexdigest()


def load_configured_input(config: Mapping[str, Any]) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Load and validate the input a run configuration describes.

    Parameters
    ----------
    config : mapping
        A run configuration with every key of its ``input`` section (a validated configuration
        dumped with ``model_dump``, or the ``config`` of a run's manifest).

    Returns
    -------
    DataFrame or dict of str to DataFrame
        One frame, or ``{symbol: frame}`` aligned on shared timestamps for several assets.

    Raises
    ------
    InputDataError
        The input cannot be read or is not valid OHLCV data.
    """
    cfg = config["input"]
    options = cfg.get("storage_options") or None
    if cfg.get("sample") is not None:
        return load_sample(cfg["sample"])
    columns = {k: v for k, v in (cfg.get("columns") or {}).items() if v is not None}
    # Part of the input's identity through the data they yield.
    read = {"columns": columns or None, "skiprows": cfg.get("skiprows"),
            "date_format": cfg.get("date_format")}
    repair = bool(cfg.get("repair", False))
    if cfg.get("assets") is not None:
        return load_assets(assets=cfg["assets"], repair=repair, storage_options=options, **read)
    layout = cfg.get("layout", "single")
    if layout != "single":
        return load_assets(cfg["path"], layout=layout, symbol_column=cfg.get("symbol_column",
                                                                             "symbol"),
                           repair=repair, storage_options=options, **read)
    return load_ohlcv(cfg["path"], repair=repair, storage_options=options, **read)


def fit_configured_model(frame: pd.DataFrame | dict[str, pd.DataFrame],
                         config: Mapping[str, Any]) -> GenerationModel:
    """Fit the generation model a run configuration describes to ``frame``.

    Parameters
    ----------
    frame : DataFrame or dict of str to DataFrame
        The run's input, as :func:`load_configured_input` returns it.
    config : mapping
        A run configuration with every key of its ``generation`` and ``scoring`` sections.

    Returns
    -------
    GenerationModel
        The fitted model; the same settings and input always give the same model.
    """
    gen, sc = config["generation"], config["scoring"]
    return fit_model(
        frame,
        method=gen["method"],
        block_size=gen["block_size"],
        length=gen["length"],
        start_price=gen["start_price"],
        weights=sc["weights"],
        tolerance=sc["tolerance"],
        n_replicates=sc["n_replicates"],
        garch=dict(gen["garch"]),
        regime=dict(gen["regime"]),
        timeframes=gen["timeframes"],
    )
