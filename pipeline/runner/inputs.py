"""The run's input: loading, content hashing and the fitted-model cache."""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from pipeline.config import ENGINE_OUTPUT_VERSION, RunConfig
from pipeline.core.assets import Assets
from pipeline.core.sampler import GenerationModel
from pipeline.run_input import content_hash, fit_configured_model, load_configured_input

__all__ = ["load_input", "content_hash", "fitted_model"]


def load_input(config: RunConfig) -> Assets:
    """Load and validate the configured input: one series, or several assets aligned."""
    return load_configured_input(config)


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
    if gen.start is not None or gen.drift != "keep":
        # Only when set, so the keys of fits that do not use them stay as they were.
        settings += (gen.start, gen.drift)
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
    model = fit_configured_model(assets, config)
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
