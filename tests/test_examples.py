"""The example scripts run as a user would run them."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "examples" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_basic_generation(tmp_path):
    done = run("basic_generation.py", "--n-samples", "2", "--out", str(tmp_path / "b"),
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 series written" in done.stdout
    assert len(list((tmp_path / "b").glob("synthetic_*.csv"))) == 2


def test_batch_processing(tmp_path):
    out = tmp_path / "batch-{run_id}"
    done = run("batch_processing.py", "--n-samples", "20", "--workers", "1", "--out", str(out),
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "lowest-scoring accepted scenarios" in done.stdout
    (run_dir,) = tmp_path.glob("batch-*")
    assert len(list(run_dir.glob("synthetic_*.parquet"))) == 20


def test_stress_and_pairs(tmp_path):
    done = run("stress_and_pairs.py", "--n-samples", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "stress: 80 % high volatility" in done.stdout
    assert "SPX/NDX return correlation: original 0.887" in done.stdout
