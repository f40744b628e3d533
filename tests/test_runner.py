"""The coordinator's ledger: what a resumed scenario's record is rebuilt from."""

from __future__ import annotations

import json

import pytest

from pipeline import load_sample
from pipeline.factory import fit_model
from pipeline.io.writers import OutputStore
from pipeline.runner.manifest import Ledger, new_ledger
from pipeline.runner.tasks import marker_name, scenario_files, search_task


@pytest.mark.parametrize("method", ["stationary", "regime"])
def test_ledger_rebuilds_the_marker_records_it_was_given(tmp_path, method):
    model = fit_model(load_sample("sp500"), method=method, n_replicates=32, length=300)
    store = OutputStore(tmp_path)
    windows = {s: (0, 40) for s in (0, 3, 4)}
    out = search_task(model, store, "rid", 5, windows, 60.0, ["parquet"], prior_best={3: 50.5})
    marker = json.loads((tmp_path / marker_name(0)).read_text())["accepted"]
    assert [r["scenario"] for r in marker] == [0, 3, 4] == [r["scenario"] for r in out["accepted"]]
    ledger = new_ledger(model, 6)
    for record in marker:
        ledger.add(record)
    assert list(ledger.scenarios()) == [0, 3, 4] and len(ledger) == 3
    for record in marker:
        s = record["scenario"]
        files = scenario_files(s, "rid", ["parquet"], model.symbols)
        # The ledger keeps the reported metrics (the manifest's), not the test statistics.
        reported = {k: record["metrics"][k] for k in model.metric_names}
        assert set(reported) < set(record["metrics"])
        assert ledger.record(s, files) == {**record, "metrics": reported}
    assert (method == "regime") == all("regimes" in r for r in marker)
    assert ledger.attempts_spent() == sum(r["attempt"] + 1 for r in marker)


def test_a_malformed_record_leaves_the_ledger_as_it_was():
    ledger = Ledger(4, ["a", "b"], ["1D"])
    ledger.add({"scenario": 1, "attempt": 2, "score": 91.0, "metrics": {"a": 1.0, "b": None},
                "timeframes": {"1D": {"score": 90.0, "metrics": {"a": 3.0}}}})
    before = (ledger.accepted.copy(), ledger.score.copy(), ledger.metrics.copy())
    with pytest.raises(KeyError):  # a timeframe's scores missing
        ledger.add({"scenario": 2, "attempt": 0, "score": 95.0, "metrics": {"a": 2.0}})
    assert len(ledger) == 1 and 2 not in ledger
    for kept, now in zip(before, (ledger.accepted, ledger.score, ledger.metrics), strict=True):
        assert kept.tobytes() == now.tobytes()
    assert ledger.record(1, {"files": {}, "timeframes": {"1D": {"files": {}}}}) == {
        "scenario": 1, "attempt": 2, "score": 91.0, "best_before": None,
        "metrics": {"a": 1.0, "b": None}, "files": {},
        "timeframes": {"1D": {"files": {}, "score": 90.0, "metrics": {"a": 3.0, "b": None}}}}
