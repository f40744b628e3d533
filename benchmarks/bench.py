"""The engine's benchmark in one table: the core, the pipeline at three sizes, memory, overhead.

Run from the repository root (``make bench``; needs only the package, not the dev extras)::

    python benchmarks/bench.py [--quick] [--seconds 3] [--cpu-time] [--write-docs]

Takes about 4 minutes on a quiet 2-core machine (longer when the cores are shared) and up to
about 5 GB of temporary disk for the 100,000-scenario run, deleted as it goes. ``--quick``
skips that run (1,000 and 10,000 scenarios, 2-worker scaling at 1,000; about a minute and a
half). ``--write-docs`` rewrites the table in docs/methodology.md (``bench`` block) with the
machine's core count and the command.

The figures come from ``benchmarks/bench_core.py`` (:func:`core_figures`: scored candidates per
second on one core, against a straightforward implementation, and a 100,000-bar series) and
``benchmarks/bench_pipeline.py`` (:func:`pipeline_figures`: ``run_pipeline`` on local clusters
of 2 and 1 workers; see its notes for what each figure is and how it is measured). Nothing is
asserted.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_core import core_figures  # noqa: E402
from benchmarks.bench_pipeline import SIZES, pipeline_figures  # noqa: E402

__all__ = ["table"]

MIB = 2**20


def table(core: dict[str, float], pipe: dict) -> str:
    """The benchmark's one table (Markdown) from the core and the pipeline figures."""
    rows = [
        ("core: scored candidates/s, public `generate` (frames included), 1 core",
         f"{core['generate_cps']:,.0f}"),
        ("core: scored candidates/s, engine only, 1 core", f"{core['engine_cps']:,.0f}"),
        ("straightforward scorer: candidates/s, 1 core", f"{core['reference_cps']:,.1f}"),
        ("ratio engine / straightforward", f"{core['ratio']:,.1f}x"),
        ("100,000-bar series: ms per scored candidate", f"{core['long_ms']:,.1f}"),
    ]
    runs = pipe["runs"]
    for size in sorted(runs):
        r = runs[size]
        rows.append((f"pipeline, {size:,} scenarios: scenarios/s (generation; whole run)",
                     f"{r.rate:,.0f} ({r.generation:,.1f} s; {r.wall:,.1f} s in all)"))
    rows.append((f"2 workers / 1 worker, scenarios/s at {pipe['scaling_size']:,} scenarios",
                 f"{pipe['scaling']:.2f}x"))
    for size in sorted(runs):
        r = runs[size]
        rows.append((f"client peak memory at {size:,}: RSS growth / Python heap",
                     f"{r.rss / MIB:,.0f} MiB / {r.heap / MIB:,.0f} MiB"))
    for size in sorted(runs):
        r = runs[size]
        rows.append((f"Dask overhead at {size:,} (share of worker time not in a task)",
                     f"{r.overhead:.1%}"))
    largest = runs[max(runs)]
    rows.append((f"search tasks at {largest.scenarios:,}: in all; most in flight; most held; "
                 "most scenarios in one",
                 f"{largest.tasks:,}; {largest.most_running}; {largest.most_held}; "
                 f"{largest.task_scenarios}"))
    lines = ["| figure | value |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="no 100,000-scenario run; 2-worker scaling at 1,000 scenarios")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="time per core measurement")
    parser.add_argument("--cpu-time", action="store_true",
                        help="core figures in this process's CPU time (for a busy machine)")
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the table in docs/methodology.md")
    args = parser.parse_args()
    sizes, scaling = ((1_000, 10_000), 1_000) if args.quick else (SIZES, 10_000)
    load_before = os.getloadavg()[0]
    print("core figures ...", file=sys.stderr)
    core = core_figures(args.seconds, cpu_time=args.cpu_time)
    print("pipeline runs ...", file=sys.stderr)
    pipe = pipeline_figures(sizes, scaling,
                            echo=lambda line: print("  " + line, file=sys.stderr))
    text = table(core, pipe)
    # Other processes on the machine slow every figure; the load says whether there were any.
    machine = (f"a machine with {os.cpu_count()} cores (1-minute load average "
               f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)")
    print(text)
    print(f"on {machine}")
    if args.write_docs:
        from benchmarks.docs_block import write_block

        command = " ".join(["python benchmarks/bench.py"]
                           + [flag for flag, on in (("--quick", args.quick),
                                                    ("--cpu-time", args.cpu_time)) if on])
        write_block("bench", f"Made by `{command}` (`make bench`) on {machine}:\n\n{text}")


if __name__ == "__main__":
    main()
