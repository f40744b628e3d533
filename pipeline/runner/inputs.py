"""The run's input: loading, content hashing and the fitted-model cache."""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.assets import Assets
from pipeline.core.fit import fit_generation_model
from pipeline.core.sampler import GenerationModel
from pipeline.io.assets import load_assets
from pipeline.io.readers import load_ohlcv, load_sample
from pipeline.runner.config import ENGINE_OUTPUT_VERSION, RunConfig

__all__ = ["load_input", "content_hash", "fitted_model"]



def load_input(config: RunConfig) -> Assets:
    """Load and validate the configured input: one series, or several assets aligned."""
    cfg = config.input
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


def content_hash(assets: Assets) -> str:
    """SHA-256 of the normalized OHLCV input's timestamps, column names and values.

    For several assets: of each symbol and its frame's hash, in order.
    """
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


def fitted_model(assets: Assets, config: RunConfig, input_hash: str) -> GenerationModel:
    """The generation model for ``assets``, from the cache when an identical fit was made before.

    The cache key covers the input's content hash and every setting the fit depends on; entries
    are written atomically (temporary file, then rename), so concurrent runs cannot corrupt them.
    """
    gen, sc = config.generation, config.scoring
    settings = (
        ENGINE_OUTPUT_VERSION, input_hash, gen.method, gen.block_size, gen.length, gen.start_price,
        sorted(sc.weights.items()), sc.tolerance, sc.n_replicates,
        gen.garch.model_dump_json(), gen.regime.model_dump_json(), gen.timeframes,
    )
    key = hashlib.sha256(repr(settings).encode()).hexdigest()[:32]
    cache_dir = Path(config.cache.path) if config.cache.path else None
    path = cache_dir / f"model-{key}.pkl" if cache_dir else None
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                model = pickle.load(fh)
            if isinstance(model, GenerationModel):
                return model
        except Exception:  # noqa: BLE001 - a damaged cache entry is refitted, not fatal
            pass
    model = fit_generation_model(assets, config.settings())
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-model-")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache location only costs a refit next time
    return model
