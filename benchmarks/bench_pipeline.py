"""Throughput, scaling, client memory and Dask overhead of the batch pipeline.

Run from the repository root (writes up to about 5 GB of Parquet under a temporary directory,
deleted as it goes)::

    python benchmarks/bench_pipeline.py [--sizes 1000,10000,100000] [--scaling 10000]

Each run is ``run_pipeline`` on the S&P 500 sample as ``sme run`` does it on a local cluster
(one single-threaded worker process per core here, the scheduler in this process):
``generation.length`` 1000, ``min_fidelity`` 90, seed 11, Parquet only, no ZIP, no report.
For every size in ``--sizes`` (2 workers) it measures

* scenarios/s: accepted scenarios per second of the generation phase (from the ``generating``
  to the ``bundling`` progress report), and the wall time of the whole call (fit from the
  cache, search, ``scores.parquet`` and ``manifest.json``);
* the client's peak memory: resident memory (RSS) above its value just before the call,
  sampled every 20 ms, and the peak of Python's traced heap (``tracemalloc``, numpy buffers
  included; tracing slows this process a little, not the workers);
* the task graph: search tasks in all, and the most at once on the scheduler in flight
  (submitted, not finished) and held (until forgotten: a finished task stays until the
  client's release reaches the scheduler, which may be just after the next submission);
* Dask's overhead: ``1 - busy / (threads x generation wall)``, where ``busy`` is the sum over
  every task of its ``compute`` time as the workers' task stream records it
  (``distributed.get_task_stream``) and ``threads`` the workers' threads. What is left is the
  time worker threads were not running a task's function: scheduling, moving arguments and
  results, the client's turnaround between a task finishing and the next one arriving, and
  the run's start and tail.

and then the same ``--scaling`` scenarios on 1 worker, for the 2 workers / 1 worker ratio of
scenarios/s. The 100,000-scenario run takes about 3 minutes and 4.7 GB of disk on a quiet
2-core machine. ``benchmarks/bench.py`` prints these figures in its table. Nothing is asserted.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

from pipeline.runner.coordinator import run_pipeline  # noqa: E402

__all__ = ["RunFigures", "pipeline_figures", "pipeline_run"]

MIN_FIDELITY = 90.0
LENGTH = 1000
SIZES = (1_000, 10_000, 100_000)


def rss_bytes() -> int:
    """Resident memory of this process."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """Peak memory of this (the client's) process during the block.

    ``rss``: resident memory above the starting value, sampled every 20 ms (it includes what
    the allocator keeps after freeing). ``heap``: the peak of Python's traced allocations.
    """

    def __enter__(self) -> PeakMemory:
        gc.collect()
        tracemalloc.start()
        self.base = rss_bytes()
        self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.rss = max(self.rss, rss_bytes() - self.base)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.heap = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


class TaskCount(SchedulerPlugin):
    """Search tasks on ``scheduler``: in all, the most at once in flight (submitted, not
    finished) and held (until forgotten: a finished task waits for the client's release), and
    the scenarios each one searches (the length of its ``windows`` argument)."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.running: set[str] = set()
        self.held: set[str] = set()
        self.most_running = self.most_held = 0
        self.scenarios: list[int] = []

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if not str(key).startswith("search_task-"):
            return
        if start == "released" and finish != "forgotten" and key not in self.held:
            self.held.add(key)
            self.running.add(key)
            # search_task(model, store, run_id, root_seed, windows, ...)
            self.scenarios.append(len(self.scheduler.tasks[key].run_spec.args[4]))
        if finish in ("memory", "erred", "forgotten"):
            self.running.discard(key)
        if finish == "forgotten":
            self.held.discard(key)
        self.most_running = max(self.most_running, len(self.running))
        self.most_held = max(self.most_held, len(self.held))


@dataclass
class RunFigures:
    """What one pipeline run measured (see the module notes)."""

    scenarios: int
    workers: int
    wall: float
    generation: float
    rss: int
    heap: int
    tasks: int
    most_running: int
    most_held: int
    task_scenarios: int  # the most scenarios one task searched
    busy: float

    @property
    def rate(self) -> float:
        """Accepted scenarios per second of the generation phase."""
        return self.scenarios / self.generation

    @property
    def overhead(self) -> float:
        """Share of the workers' threads' generation time not spent computing a task."""
        return 1.0 - self.busy / (self.workers * self.generation)


def pipeline_run(workers: int, scenarios: int, out: Path, cache: Path) -> RunFigures:
    """One run of ``scenarios`` on a local cluster of ``workers`` single-threaded processes."""
    config = {
        "input": {"sample": "sp500"},
        "generation": {"n_samples": scenarios, "length": LENGTH, "min_fidelity": MIN_FIDELITY,
                       "seed": 11},
        "output": {"path": str(out), "formats": ["parquet"], "zip": False},
        "cache": {"path": str(cache)},
        "report": False,
    }
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        client.run(lambda: None)
        count = TaskCount(cluster.scheduler)
        cluster.scheduler.add_plugin(count, name="sme-bench-task-count")
        marks: dict[str, float] = {}

        def on_progress(p) -> None:
            marks.setdefault(p.stage, time.perf_counter())

        with get_task_stream(client=client) as stream, PeakMemory() as mem:
            start = time.perf_counter()
            result = run_pipeline(config, client=client, progress=on_progress)
            wall = time.perf_counter() - start
    if result.n_accepted != scenarios:
        raise SystemExit(f"the run accepted {result.n_accepted} of {scenarios} scenarios")
    busy = sum(ss["stop"] - ss["start"] for task in stream.data
               for ss in task["startstops"] if ss["action"] == "compute")
    return RunFigures(scenarios, workers, wall, marks["bundling"] - marks["generating"],
                      mem.rss, mem.heap, len(count.scenarios), count.most_running,
                      count.most_held, max(count.scenarios), busy)


def pipeline_figures(sizes=SIZES, scaling: int = 10_000, *, echo=print) -> dict:
    """Run every size on 2 workers and ``scaling`` on 1; return the figures.

    Returns
    -------
    dict
        ``runs``: {size: RunFigures} on 2 workers (``scaling`` included); ``scaling``: the
        2-workers / 1-worker ratio of scenarios/s at ``scaling`` scenarios; ``scaling_size``.
    """
    tmp = Path(tempfile.mkdtemp(prefix="sme-bench-"))
    cache = tmp / "cache"
    runs: dict[int, RunFigures] = {}
    try:
        # Unmeasured: fits the model into the cache and imports what a run imports lazily.
        pipeline_run(2, 50, tmp / "out", cache)
        shutil.rmtree(tmp / "out", ignore_errors=True)
        for size in sorted(set(sizes) | {scaling}):
            runs[size] = pipeline_run(2, size, tmp / "out", cache)
            shutil.rmtree(tmp / "out", ignore_errors=True)
            echo(describe(runs[size]))
        single = pipeline_run(1, scaling, tmp / "out", cache)
        echo(describe(single))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"runs": runs, "scaling": runs[scaling].rate / single.rate, "scaling_size": scaling}


def describe(run: RunFigures) -> str:
    """One line about one run."""
    return (f"{run.scenarios:>7} scenarios, {run.workers} worker(s): {run.rate:7.1f} scenarios/s "
            f"({run.generation:.1f} s generating, {run.wall:.1f} s in all), client +"
            f"{run.rss / 2**20:.0f} MiB RSS / {run.heap / 2**20:.0f} MiB heap, "
            f"{run.tasks} tasks (at most {run.most_running} in flight, {run.most_held} held, "
            f"{run.task_scenarios} scenarios each), "
            f"Dask overhead {run.overhead:.1%}")


def parse_sizes(text: str) -> tuple[int, ...]:
    """``1000,10000`` -> (1000, 10000)."""
    return tuple(int(part) for part in text.split(",") if part.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=SIZES,
                        help="scenarios per run, comma-separated (default 1000,10000,100000)")
    parser.add_argument("--scaling", type=int, default=10_000,
                        help="scenarios of the 1-worker vs 2-worker comparison")
    args = parser.parse_args()
    figures = pipeline_figures(args.sizes, args.scaling)
    print(f"2 workers / 1 worker at {args.scaling} scenarios: {figures['scaling']:.2f}x")


if __name__ == "__main__":
    main()
