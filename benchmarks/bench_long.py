"""Long horizons: memory follows one batch, not the run; time per scenario grows linearly.

Run from the repository root::

    python benchmarks/bench_long.py [--bars 1000000] [--replicates 64]

Two cases, each searched and written the way a worker does it (``search_task``: every accepted
series is written to Parquet as soon as it is found and then dropped):

1. the S&P 500 sample (5,031 bars) generated at its own length (the reference) and at 10x
   (50,310 bars);
2. a ``--bars``-bar 5-minute intraday series (default 1,000,000; synthetic, GARCH-like), generated
   at its own length.

For each: the fit time, the time per accepted scenario, and the peak traced memory (tracemalloc:
numpy's buffers included) while searching ``few`` and ``many`` scenarios. Memory proportional to
one batch means the ``many / few`` ratio stays near 1 however many scenarios are searched.
Prints ratios against the reference; nothing is asserted.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reference import make_intraday  # noqa: E402
from pipeline import load_sample  # noqa: E402
from pipeline.factory import fit_model  # noqa: E402
from pipeline.io.writers import OutputStore  # noqa: E402
from pipeline.runner.tasks import search_task  # noqa: E402

MIN_FIDELITY = 0.0  # every candidate passes: the cost measured is generate + score + write


def _search(model, n: int, out: Path) -> tuple[float, float]:
    """Seconds per accepted scenario and peak traced MiB while searching ``n`` scenarios."""
    store = OutputStore(str(out))
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = search_task(model, store, "bench", 1, {s: (0, 4) for s in range(n)}, MIN_FIDELITY,
                         ["parquet"])
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result["accepted"]) == n
    return elapsed / n, peak / 2**20


def _case(name: str, frame, length: int | None, few: int, many: int, replicates: int,
          tmp: Path) -> dict:
    started = time.perf_counter()
    model = fit_model(frame, length=length, n_replicates=replicates)
    fit = time.perf_counter() - started
    per_few, peak_few = _search(model, few, tmp / f"{name}-few")
    per_many, peak_many = _search(model, many, tmp / f"{name}-many")
    row = {"name": name, "bars": model.length, "batch": model.batch_size, "fit": fit,
           "per_scenario": (per_few * few + per_many * many) / (few + many),
           "peak_few": peak_few, "peak_many": peak_many, "few": few, "many": many}
    print(f"{name:>24}: {row['bars']:>9,} bars, batch {row['batch']:>2}, fit {fit:6.1f} s, "
          f"{row['per_scenario'] * 1000:8.1f} ms/scenario, peak {peak_few:7.1f} MiB for {few} "
          f"and {peak_many:7.1f} MiB for {many} scenarios (x{peak_many / peak_few:.2f})",
          flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--replicates", type=int, default=64,
                        help="bootstrap replicates of the scorer (the default run uses 256)")
    args = parser.parse_args()
    sp500 = load_sample("sp500")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ref = _case("S&P 500 x1", sp500, None, 16, 64, args.replicates, tmp)
        long = _case("S&P 500 x10", sp500, 10 * len(sp500), 4, 16, args.replicates, tmp)
        intraday = make_intraday(args.bars, seed=1)
        big = _case(f"intraday {args.bars:,}", intraday, None, 2, 6, args.replicates, tmp)
    print()
    print(f"time per scenario, x10 length / x1:        {long['per_scenario'] / ref['per_scenario']:6.2f}"
          f"  (bars x{long['bars'] / ref['bars']:.0f})")
    print(f"time per scenario, {args.bars:,} bars / x1:  "
          f"{big['per_scenario'] / ref['per_scenario']:8.1f}  (bars x{big['bars'] / ref['bars']:.0f})")
    for row in (ref, long, big):
        print(f"peak memory {row['name']}, {row['many']} vs {row['few']} scenarios: "
              f"{row['peak_many'] / row['peak_few']:.2f}")
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
