"""The notebooks run top to bottom, as a reader would run them, at small sizes.

Each notebook reads its sizes from ``SME_NB_*`` environment variables (its first code cell) and
leaves a JSON summary in ``$SME_NB_OUTPUT``; the checks below read that summary. The kernel is
this interpreter (``sys.executable``), whatever kernel specs the machine has.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT = 240  # seconds; a whole notebook takes well under a minute at these sizes


def _kernel_manager(tmp_path: Path) -> KernelManager:
    # A kernel spec of our own: a user-level "python3" spec could point at another interpreter.
    spec = tmp_path / "kernels" / "sme-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher",
            "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "SME tests", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
    return KernelManager(kernel_name="sme-test", kernel_spec_manager=specs)


def run_notebook(name: str, tmp_path: Path, monkeypatch, **env: str) -> tuple[dict, object]:
    """Execute ``notebooks/<name>.ipynb`` in a fresh kernel; return its summary and the notebook."""
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("SME_NB_OUTPUT", str(out))
    # CI machines are small and shared: one OpenMP/BLAS thread per process (the Dask workers of
    # notebook 04 are separate processes) instead of threads oversubscribing the cores.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    print(f"{name}: {time.perf_counter() - started:.1f} s")
    summary = json.loads((out / f"{name}.json").read_text())
    return summary, nb


def n_figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "SME_NB_OUTPUT" in code[0].source  # the parameters cell comes first


def test_01_basic_usage(tmp_path, monkeypatch):
    summary, nb = run_notebook("01_basic_usage", tmp_path, monkeypatch, SME_NB_SCENARIOS="20")
    assert summary["n_scenarios"] == 20
    assert len(summary["scores"]) == len(summary["attempts"]) == 20
    assert all(90.0 <= s <= 100.0 for s in summary["scores"])
    assert summary["original_score"] == pytest.approx(100.0)
    assert {"spreads_away", "similarity", "weight"} <= set(summary["explain_columns"])
    assert n_figures(nb) >= 4


def test_02_validation_metrics(tmp_path, monkeypatch):
    summary, nb = run_notebook("02_validation_metrics", tmp_path, monkeypatch,
                               SME_NB_SCENARIOS="24")
    medians = summary["median_scores"]
    assert all(0.0 <= medians[k] <= 100.0 for k in medians)
    # The ranking a quant expects, computed in the notebook with factory.score.
    assert summary["ranking"] == ["original", "stationary", "iid", "gaussian_walk"]
    assert medians["original"] > medians["stationary"] > medians["iid"] > medians["gaussian_walk"]
    assert summary["n_per_generator"] == 24
    assert n_figures(nb) >= 6


def test_03_ml_integration(tmp_path, monkeypatch):
    summary, nb = run_notebook("03_ml_integration", tmp_path, monkeypatch, SME_NB_SCENARIOS="4")
    assert summary["n_synthetic"] == 4
    # The factory saw the training slice only, and the test period follows it.
    assert summary["factory_rows"] == summary["train_rows"]
    assert summary["train_end"] < summary["test_start"]
    for setup in ("real", "real+synthetic", "synthetic"):
        for model in summary["mse"][setup]:
            assert math.isfinite(summary["mse"][setup][model]) and summary["mse"][setup][model] > 0
        assert 0.0 <= summary["accuracy"][setup] <= 1.0
    assert n_figures(nb) >= 1


def test_04_monte_carlo_backtest(tmp_path, monkeypatch):
    summary, nb = run_notebook("04_monte_carlo_backtest", tmp_path, monkeypatch,
                               SME_NB_SCENARIOS="20", SME_NB_LENGTH="1000")
    assert summary["n_scenarios"] == summary["n_accepted"] == 20
    for key in ("sharpe", "max_drawdown", "var_1pct", "var_5pct"):
        for who in ("strategy", "buy_and_hold"):
            values = summary["per_scenario"][who][key]
            assert len(values) == 20 and all(math.isfinite(v) for v in values)
    assert all(0.0 <= v < 1.0 for v in summary["per_scenario"]["strategy"]["max_drawdown"])
    assert all(v1 >= v5 for v1, v5 in zip(summary["per_scenario"]["buy_and_hold"]["var_1pct"],
                                          summary["per_scenario"]["buy_and_hold"]["var_5pct"],
                                          strict=True))
    assert set(summary["original"]["strategy"]) >= {"sharpe", "max_drawdown", "var_1pct"}
    assert n_figures(nb) >= 2
