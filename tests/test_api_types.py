"""The dashboard's TypeScript types of the API are the ones its OpenAPI schema produces.

``ui/src/lib/schema.gen.ts`` is generated from the schema (``make types``) and committed;
``ui/src/lib/types.ts`` exports its response models to the dashboard.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.api.openapi import main, openapi_schema

REPO = Path(__file__).resolve().parent.parent
UI = REPO / "ui"
GENERATED = UI / "src" / "lib" / "schema.gen.ts"
TYPES = UI / "src" / "lib" / "types.ts"
GENERATOR = UI / "node_modules" / ".bin" / "openapi-typescript"


@pytest.fixture(scope="module")
def schema() -> dict:
    return openapi_schema()


def test_committed_types_are_generated_from_the_current_schema(tmp_path, schema):
    if not GENERATOR.exists():
        pytest.skip("the dashboard's packages are not installed (make ui)")
    source = tmp_path / "openapi.json"
    main([str(source)])
    assert json.loads(source.read_text()) == schema
    target = tmp_path / "schema.gen.ts"
    subprocess.run([str(GENERATOR), str(source), "-o", str(target)], cwd=UI, check=True,
                   capture_output=True, timeout=120)
    assert target.read_text() == GENERATED.read_text(), (
        "ui/src/lib/schema.gen.ts is not what the API's schema produces: run make types")


def test_the_dashboard_types_name_models_of_the_schema(schema):
    models = set(schema["components"]["schemas"])
    used = set(re.findall(r'Schemas\["(\w+)"\]', TYPES.read_text()))
    assert {"Dataset", "Job", "JobResults", "Series", "Preflight", "Health"} <= used
    assert used <= models, f"types.ts names models the API does not have: {used - models}"


def test_the_results_route_declares_its_model(schema):
    ok = schema["paths"]["/api/jobs/{job_id}/results"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobResults"}
    results = schema["components"]["schemas"]["JobResults"]
    assert {"scenarios", "fan", "correlations", "timeframes", "partial"} <= set(
        results["properties"])
