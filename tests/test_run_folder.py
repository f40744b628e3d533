"""The run folder type (pipeline.io.run): a real finished run read back, and malformed folders
refused with errors that say what to fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from pipeline import run_pipeline
from pipeline.errors import ConfigError, InputDataError
from pipeline.io.run import (
    MANIFEST,
    SCORES,
    ScenarioRecord,
    _parse_fast,
    _parse_lines,
    open_run,
    parse_series,
    scenario_index,
    scenario_number,
)

N_SAMPLES = 3
LENGTH = 250


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real, small finished run with Parquet and CSV series (a few seconds)."""
    out = tmp_path_factory.mktemp("run-folder") / "run"
    result = run_pipeline({
        "input": {"sample": "sample"},
        "generation": {"n_samples": N_SAMPLES, "length": LENGTH, "min_fidelity": 0, "seed": 4},
        "scoring": {"n_replicates": 20},
        "cluster": {"n_workers": 1, "processes": False},
        "output": {"path": str(out), "formats": ["parquet", "csv"], "zip": False},
        "cache": {"path": None},
    })
    return out, result


def _copy(run: Path, dest: Path, edit=None) -> Path:
    shutil.copytree(run, dest)
    if edit is not None:
        manifest = json.loads((dest / MANIFEST).read_text())
        edit(manifest)
        (dest / MANIFEST).write_text(json.dumps(manifest))
    return dest


def test_a_finished_run_reads_back_as_written(finished):
    out, result = finished
    run = open_run(out)
    raw = json.loads((out / MANIFEST).read_text())

    assert run.manifest.run_id == result.run_id
    assert run.manifest.status == "complete"
    assert run.manifest.summary.accepted == N_SAMPLES
    assert run.manifest.model.length == LENGTH
    assert run.manifest.symbols == [] and run.manifest.timeframe_rules == []
    assert [s.scenario for s in run.scenarios] == [1, 2, 3]
    # The models keep every key: dumped again, header and records are what the file holds.
    assert run.manifest.to_json() == {k: v for k, v in raw.items() if k != "scenarios"}
    assert [s.to_json() for s in run.scenarios] == raw["scenarios"]

    record = run.scenario(2)
    frame = run.read_series(2)
    written = pd.read_parquet(out / record.files["parquet"])
    assert_frame_equal(frame, written[["Open", "High", "Low", "Close", "Volume"]])
    assert isinstance(frame.index, pd.DatetimeIndex) and len(frame) == LENGTH
    closes = run.read_series(record, columns=["Close"])
    assert list(closes.columns) == ["Close"]
    np.testing.assert_array_equal(closes["Close"], frame["Close"])
    csv = parse_series((out / record.files["csv"]).read_bytes(), "csv")
    np.testing.assert_array_equal(csv.to_numpy(), frame.to_numpy())  # CSV is exact too

    scores = run.scores()
    assert scores["scenario"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(scores["score"], [s.score for s in run.scenarios])


def test_the_one_pass_parse_reads_what_the_record_by_record_check_reads(finished, tmp_path):
    # A manifest as the runner writes it is parsed in one pass; one that only the lax check
    # accepts (an attempt written as 2.0, a score as a string) takes the record-by-record path
    # and opens with the same values.
    out, _ = finished
    data = (out / MANIFEST).read_bytes()
    fast = _parse_fast(data)
    assert fast is not None
    header, records = fast
    run = open_run(out)
    # The run's own layout is read record by record, to the same header and records.
    by_line = _parse_lines(data)
    assert by_line is not None and by_line[0] == header
    assert [r for r, _, _ in by_line[1]] == records
    assert header == run.manifest and header.to_json() == run.manifest.to_json()
    assert list(records) == list(run.scenarios)
    assert [r.to_json() for r in records] == [r.to_json() for r in run.scenarios]

    def loosen(manifest):
        manifest["scenarios"][1]["attempt"] = float(manifest["scenarios"][1]["attempt"])
        manifest["scenarios"][2]["score"] = str(manifest["scenarios"][2]["score"])

    loose = _copy(out, tmp_path / "loose", loosen)
    assert _parse_fast((loose / MANIFEST).read_bytes()) is None
    relaxed = open_run(loose)
    assert [r.model_dump() for r in relaxed.scenarios] == [r.model_dump() for r in run.scenarios]
    assert relaxed.manifest == run.manifest


def test_scenario_numbers_convert_in_one_place(finished):
    run = open_run(finished[0])
    record = run.scenario(1)
    assert scenario_number(0) == 1 and scenario_index(1) == 0 and scenario_index("3") == 2
    np.testing.assert_array_equal(scenario_number(np.arange(3)), [1, 2, 3])
    task = record.to_task()
    assert task["scenario"] == 0 == record.index
    assert ScenarioRecord.from_task(task) == record


def test_bad_arguments_name_what_the_run_has(finished):
    run = open_run(finished[0])
    with pytest.raises(ConfigError, match=r"no accepted scenario 9 \(accepted scenarios: 1\.\.3\)"):
        run.read_series(9)
    with pytest.raises(ConfigError, match="one series; leave symbol out"):
        run.read_series(1, symbol="SPX")
    with pytest.raises(ConfigError, match="timeframe: 'W' is not a timeframe of the run"):
        run.read_series(1, timeframe="W")


def test_no_manifest(tmp_path):
    with pytest.raises(InputDataError,
                       match=r"manifest\.json: not found .*output directory.*output\.path"):
        open_run(tmp_path)


def test_manifest_not_json(finished, tmp_path):
    run = _copy(finished[0], tmp_path / "run")
    (run / MANIFEST).write_text('{"run_id": "abc", "scenarios": [')
    with pytest.raises(InputDataError, match=r"manifest\.json: not valid JSON"):
        open_run(run)


@pytest.mark.parametrize("content", [{"run_id": "x"}, [1, 2], {"run_id": "x", "scenarios": {}}])
def test_not_a_run_manifest(tmp_path, content):
    (tmp_path / MANIFEST).write_text(json.dumps(content))
    with pytest.raises(InputDataError, match=r"not a run manifest \(no 'scenarios' list\)"):
        open_run(tmp_path)


def test_header_field_of_the_wrong_type_is_named(finished, tmp_path):
    run = _copy(finished[0], tmp_path / "run", lambda m: m["summary"].update(requested="many"))
    with pytest.raises(InputDataError, match=r"not a run manifest: summary\.requested"):
        open_run(run)
    run = _copy(finished[0], tmp_path / "score",
                lambda m: m["scenarios"][1].update(score="high"))
    with pytest.raises(InputDataError, match=r"scenarios\[1\] \(scenario 2\): score"):
        open_run(run)


def test_missing_series_file(finished, tmp_path):
    run = _copy(finished[0], tmp_path / "run")
    name = json.loads((run / MANIFEST).read_text())["scenarios"][1]["files"]["parquet"]
    (run / name).unlink()
    with pytest.raises(InputDataError,
                       match="series file of scenario 2 listed in the manifest is missing"):
        open_run(run)
    # Without the listing the run opens; reading that series is what fails.
    folder = open_run(run, check_files=False)
    assert folder.read_series(1).shape == (LENGTH, 5)
    with pytest.raises(InputDataError, match="series file listed in the manifest is missing"):
        folder.read_series(2)


def test_no_readable_series_format(finished, tmp_path):
    run = _copy(finished[0], tmp_path / "run",
                lambda m: m["scenarios"][0].update(files={"feather": "x.feather"}))
    with pytest.raises(InputDataError, match=r"scenario 1: no series file in a readable format "
                                             r"\(have \['feather'\]; readable: parquet"):
        open_run(run)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["scenarios"][0].update(scenario=0), r"scenarios\[0\] is numbered 0; scenarios "
                                                      "are numbered from 1"),
    (lambda m: m["scenarios"][0].pop("scenario"), r"scenarios\[0\] has no scenario number"),
    (lambda m: m["scenarios"][2].update(scenario=2), r"scenario numbers repeat \(\[2\]\)"),
    (lambda m: m["scenarios"][2].update(scenario=4), "scenario 4 is beyond the 3 scenarios the "
                                                      "run requested"),
])
def test_scenario_numbers_off(finished, tmp_path, edit, message):
    run = _copy(finished[0], tmp_path / "run", edit)
    with pytest.raises(InputDataError, match=message):
        open_run(run)


def test_a_partial_run_without_scenarios_opens(finished, tmp_path):
    def none_accepted(m):
        m["scenarios"] = []
        m["status"] = "partial"

    run = open_run(_copy(finished[0], tmp_path / "run", none_accepted))
    assert not run.scenarios and len(run.scenarios) == 0 and run.manifest.status == "partial"
    with pytest.raises(InputDataError, match="the run has no accepted scenarios to export"):
        run.require_scenarios(" to export")


def test_scores_missing(finished, tmp_path):
    run = _copy(finished[0], tmp_path / "run")
    (run / SCORES).unlink()
    with pytest.raises(InputDataError, match=r"scores\.parquet: not found"):
        open_run(run).scores()


def _write_as_the_run_does(run: Path, manifest: dict) -> None:
    # The layout of pipeline.runner.manifest.manifest_chunks: the header, one record a line.
    header = {k: v for k, v in manifest.items() if k != "scenarios"}
    records = ",".join("\n    " + json.dumps(r, sort_keys=True) for r in manifest["scenarios"])
    (run / MANIFEST).write_text(json.dumps(header, indent=2, sort_keys=True)[:-2]
                                + ',\n  "scenarios": [' + records + "\n  ]\n}\n")


def test_records_are_a_sequence_built_on_access(finished, tmp_path):
    out, _ = finished
    raw = json.loads((out / MANIFEST).read_text())
    # Out of order in the file, one metric undefined and one missing: the same records and
    # table as when each record is a model.
    raw["scenarios"] = raw["scenarios"][::-1]
    first_metric = next(iter(raw["scenarios"][0]["metrics"]))
    raw["scenarios"][0]["metrics"][first_metric] = None
    raw["scenarios"][1]["metrics"].pop(first_metric)
    run_path = _copy(out, tmp_path / "run")
    _write_as_the_run_does(run_path, raw)
    assert _parse_lines((run_path / MANIFEST).read_bytes()) is not None
    run = open_run(run_path)
    models = sorted((ScenarioRecord.model_validate(r) for r in raw["scenarios"]),
                    key=lambda r: r.scenario)

    records = run.scenarios
    assert len(records) == 3 and bool(records) and list(records) == models
    assert records[0] == models[0] and records[-1] == models[2] and records[1:] == tuple(models[1:])
    assert [r.scenario for r in records[::-1]] == [3, 2, 1]
    with pytest.raises(IndexError):
        records[3]
    assert run.scenario(2) == models[1] and run.require_scenarios() is records
    table = run.scenario_table()
    assert table["scenario"].tolist() == [1, 2, 3]
    expected = pd.DataFrame.from_records([m.metrics for m in models]).astype(float)
    assert_frame_equal(table[list(expected.columns)], expected)
    assert np.isnan(table.loc[2, first_metric]) and np.isnan(table.loc[1, first_metric])
    assert run.series_files() == [(m.scenario, m.files["parquet"]) for m in models]


def test_a_bad_record_in_the_runs_layout_is_named(finished, tmp_path):
    out, _ = finished
    raw = json.loads((out / MANIFEST).read_text())
    raw["scenarios"][1]["attempt"] = -1
    run = _copy(out, tmp_path / "run")
    _write_as_the_run_does(run, raw)
    with pytest.raises(InputDataError, match=r"scenarios\[1\] \(scenario 2\): attempt: "):
        open_run(run)
