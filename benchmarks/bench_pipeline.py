"""Throughput and scaling of the Dask pipeline, against the core engine in the same run.

Run from the repository root (writes a few GB of Parquet under a temporary directory)::

    python benchmarks/bench_pipeline.py [--scenarios 10000] [--small 1000]

Measures, on the S&P 500 sample with ``min_fidelity`` 90 and Parquet output:

1. core throughput in this process (one core, no Dask): accepted scenarios per second of the
   rejection sampler alone, and with the same Parquet writes a worker does;
2. the pipeline on a LocalCluster of 1 worker and of 2 workers (``--small`` scenarios each);
3. the pipeline on 2 workers for ``--scenarios`` scenarios: wall time;
4. the client's peak resident memory during the small and the large run.

and prints the ratios the targets are stated in. Nothing is asserted.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distributed import Client, LocalCluster  # noqa: E402

from pipeline import load_sample  # noqa: E402
from pipeline.core.sampler import search_attempts  # noqa: E402
from pipeline.factory import fit_model  # noqa: E402
from pipeline.io.writers import OutputStore  # noqa: E402
from pipeline.runner.coordinator import run_pipeline  # noqa: E402
from pipeline.runner.tasks import search_task  # noqa: E402

MIN_FIDELITY = 90.0


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Peak memory of this (the client) process during the block.

    ``peak``: resident memory above the starting value, sampled every 20 ms (includes what the
    allocator keeps after freeing). ``heap_peak``: Python's traced allocations (tracemalloc).
    """

    def __enter__(self) -> PeakRSS:
        tracemalloc.start()
        self.base = rss_bytes()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes() - self.base)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def raw_rates(n: int, out: Path) -> tuple[float, float]:
    """Accepted scenarios/s in this process: (search only, search + the same Parquet writes)."""
    model = fit_model(load_sample("sp500"))
    search_attempts(model, 1, {s: (0, 200) for s in range(16)}, MIN_FIDELITY)  # warm-up
    start = time.perf_counter()
    result = search_attempts(model, 1, {s: (0, 200) for s in range(n)}, MIN_FIDELITY)
    search_only = len(result.accepted) / (time.perf_counter() - start)
    store = OutputStore(out)
    start = time.perf_counter()
    done = search_task(model, store, "raw", 2, {s: (0, 200) for s in range(n)}, MIN_FIDELITY,
                       ["parquet"], lookahead=2)
    with_writes = len(done["accepted"]) / (time.perf_counter() - start)
    return search_only, with_writes


def pipeline_run(workers: int, scenarios: int, out: Path, cache: Path
                 ) -> tuple[float, float, PeakRSS]:
    """(wall seconds, accepted per second of the generation phase, client memory peaks)."""
    config = {
        "input": {"sample": "sp500"},
        "generation": {"n_samples": scenarios, "min_fidelity": MIN_FIDELITY, "seed": 11},
        "cluster": {"task_candidates": 256},
        "output": {"path": str(out), "formats": ["parquet"], "zip": False},
        "cache": {"path": str(cache)},
    }
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(lambda: None)
        marks: dict[str, float] = {}

        def on_progress(p) -> None:
            marks.setdefault(p.stage, time.perf_counter())

        with PeakRSS() as mem:
            start = time.perf_counter()
            result = run_pipeline(config, client=client, progress=on_progress)
            wall = time.perf_counter() - start
    gen_time = marks.get("bundling", time.perf_counter()) - marks["generating"]
    assert result.n_accepted == scenarios
    return wall, scenarios / gen_time, mem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sme-bench-"))
    try:
        cache = tmp / "cache"
        raw_search, raw = raw_rates(400, tmp / "raw")
        print(f"core, 1 process, no writes:      {raw_search:8.1f} accepted scenarios/s")
        print(f"core, 1 process, Parquet writes: {raw:8.1f} accepted scenarios/s")
        w1, r1, _ = pipeline_run(1, args.small, tmp / "w1", cache)
        print(f"pipeline, 1 worker,  {args.small:>6} scenarios: {w1:6.1f} s wall, "
              f"{r1:8.1f} accepted/s")
        w2, r2, mem_small = pipeline_run(2, args.small, tmp / "w2", cache)
        print(f"pipeline, 2 workers, {args.small:>6} scenarios: {w2:6.1f} s wall, "
              f"{r2:8.1f} accepted/s")
        shutil.rmtree(tmp / "w1", ignore_errors=True)
        shutil.rmtree(tmp / "w2", ignore_errors=True)
        wl, rl, mem_large = pipeline_run(2, args.scenarios, tmp / "large", cache)
        print(f"pipeline, 2 workers, {args.scenarios:>6} scenarios: {wl:6.1f} s wall, "
              f"{rl:8.1f} accepted/s")
        print()
        print(f"1 worker  / core with writes:       {r1 / raw:5.2f}")
        print(f"2 workers / (2 x core with writes): {r2 / (2 * raw):5.2f}")
        print(f"2 workers / (2 x core, no writes):  {r2 / (2 * raw_search):5.2f}")
        print(f"2 workers / 1 worker:           {r2 / r1:5.2f}x")
        print(f"{args.scenarios} scenarios wall time:   {wl:5.1f} s")
        print(f"client peak Python heap: {mem_small.heap_peak / 2**20:6.1f} MiB at {args.small}, "
              f"{mem_large.heap_peak / 2**20:6.1f} MiB at {args.scenarios} "
              f"(ratio {mem_large.heap_peak / max(mem_small.heap_peak, 1):.2f})")
        print(f"client peak RSS growth:  {mem_small.peak / 2**20:6.1f} MiB at {args.small}, "
              f"{mem_large.peak / 2**20:6.1f} MiB at {args.scenarios}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
