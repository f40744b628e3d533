"""``GET /api/options``: what the dashboard's job form needs (schema, defaults, choices, limits)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends

from pipeline.config import RegimeConfig
from pipeline.core.garch import GARCH_DISTS, GARCH_VOLS
from pipeline.core.generators import METHODS
from pipeline.core.metrics import METRIC_NAMES
from pipeline.core.regimes import REGIME_LABELLINGS
from pipeline.core.scoring import DEFAULT_WEIGHTS
from pipeline.core.timeframes import MIN_TIMEFRAME_BARS
from pipeline.io.assets import LAYOUTS
from pipeline.io.readers import SAMPLE_NAMES
from pipeline.io.writers import FORMATS

from ..deps import SettingsDep, require_token
from ..schemas import METHOD_DESCRIPTIONS, METHOD_SECTIONS, METRIC_DESCRIPTIONS, JobRequest

__all__ = ["SUGGESTED_TIMEFRAMES", "router"]

#: Timeframes the dashboard offers as one-click choices (any pandas frequency is accepted).
SUGGESTED_TIMEFRAMES = ("15min", "1h", "4h", "1D", "W", "M")

router = APIRouter(prefix="/api", tags=["options"], dependencies=[Depends(require_token)])


def _regime_options() -> dict:
    """The regime section's choices: labellings, conditions and the bounds of n_regimes."""
    schema = RegimeConfig.model_json_schema()["properties"]
    return {
        "labellings": list(REGIME_LABELLINGS),
        "conditions": [v for part in schema["condition"]["anyOf"] for v in part.get("enum", [])],
        "n_regimes": {k: schema["n_regimes"][k] for k in ("minimum", "maximum")},
    }


def _defaults() -> dict:
    """The job request's defaults as JSON (nested models as objects)."""
    defaults = {name: f.get_default(call_default_factory=True)
                for name, f in JobRequest.model_fields.items()
                if name not in ("dataset_id", "dataset_ids")}
    return json.loads(json.dumps(defaults, default=lambda m: m.model_dump(mode="json")))


@router.get("/options")
def options(settings: SettingsDep) -> dict:
    """Everything the dashboard's job form needs: schema, defaults, choices and limits."""
    return {
        "schema": JobRequest.model_json_schema(),
        "defaults": _defaults(),
        "methods": list(METHODS),
        "method_descriptions": {m: METHOD_DESCRIPTIONS.get(m, "") for m in METHODS},
        "method_sections": dict(METHOD_SECTIONS),
        "garch": {"vols": list(GARCH_VOLS), "dists": list(GARCH_DISTS)},
        "regime": _regime_options(),
        "timeframes": {"suggested": list(SUGGESTED_TIMEFRAMES),
                       "min_bars": MIN_TIMEFRAME_BARS},
        "layouts": ["single", *LAYOUTS],
        "formats": list(FORMATS),
        "metrics": [{"name": m, "weight": DEFAULT_WEIGHTS.get(m, 1.0),
                     "description": METRIC_DESCRIPTIONS.get(m, "")} for m in METRIC_NAMES],
        "limits": settings.limits(),
        "samples": list(SAMPLE_NAMES),
    }
