"""Scored candidates per second of the core engine, against a straightforward implementation.

Run from the repository root::

    python benchmarks/bench_core.py [--seconds 3]

Both run in this process on one core (single-threaded BLAS, as on the workers), on the S&P 500
sample (5,031 bars, all metrics, generation + metrics + fidelity score):

* engine: :meth:`pipeline.core.sampler.GenerationModel.evaluate` on batches of
  ``DEFAULT_BATCH_SIZE`` candidates;
* straightforward: one candidate at a time, ``arch``'s ``StationaryBootstrap`` for the path and
  the per-candidate statsmodels/scipy/pandas metrics of ``benchmarks/reference.py``, scored by the
  same scorer;
* the public API: ``SyntheticDataFactory(frame, seed=1).generate(n_samples=1000,
  min_fidelity=0.0)``, every candidate accepted, the result's 1,000 DataFrames included.

Then milliseconds per candidate for a 100,000-bar intraday series (engine only).
Prints the ratios; nothing is asserted. :func:`core_figures` returns the same numbers for
other benchmark scripts. The compiled kernels are loaded (or compiled, on a cold cache) by the
warm-up call before any timing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arch.bootstrap import StationaryBootstrap  # noqa: E402

from benchmarks.reference import reference_metrics  # noqa: E402
from pipeline import load_sample  # noqa: E402
from pipeline.core.reconstruction import reconstruct_reference  # noqa: E402
from pipeline.core.sampler import DEFAULT_BATCH_SIZE  # noqa: E402
from pipeline.factory import SyntheticDataFactory, fit_model  # noqa: E402

__all__ = ["core_figures", "main"]

#: Scenarios of one timed public ``generate`` call.
GENERATE_SAMPLES = 1000


def rate(func, seconds: float, clock=time.perf_counter) -> float:
    """Calls per second of ``func`` (which returns how many candidates it did) over ``seconds``
    of ``clock``."""
    func()  # warm-up
    done, start = 0, clock()
    while clock() - start < seconds:
        done += func()
    return done / (clock() - start)


def long_series(n: int = 100_000) -> pd.DataFrame:
    """A fat-tailed 1-minute OHLCV series of ``n`` bars."""
    rng = np.random.default_rng(0)
    idx = pd.date_range("2020-01-01", periods=n, freq="1min")
    close = 100 * np.exp(np.cumsum(0.0005 * rng.standard_t(4, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame({
        "Open": open_,
        "High": np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 2e-4, n))),
        "Low": np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 2e-4, n))),
        "Close": close,
        "Volume": rng.lognormal(8, 0.5, n),
    }, index=idx)


def core_figures(seconds: float = 3.0, *, cpu_time: bool = False) -> dict[str, float]:
    """The core's speed on one core, each figure measured for about ``seconds``.

    ``cpu_time`` measures this process's CPU time instead of the wall clock: the figures of
    one core on a machine other processes keep busy.

    Returns
    -------
    dict of str to float
        ``generate_cps``: candidates per second of the public ``generate`` (every candidate
        accepted, result frames included); ``engine_cps``: of ``GenerationModel.evaluate`` on
        batches of ``DEFAULT_BATCH_SIZE``; ``reference_cps``: of the straightforward scorer;
        ``ratio``: ``engine_cps / reference_cps``; ``long_ms``: milliseconds per scored
        candidate of a 100,000-bar series; ``bars``: bars of the S&P 500 sample.
    """
    frame = load_sample("sp500")
    factory = SyntheticDataFactory(frame, seed=1)
    model = factory.model
    batch = DEFAULT_BATCH_SIZE
    counter = iter(range(10**9))

    def generate() -> int:
        factory.generate(n_samples=GENERATE_SAMPLES, min_fidelity=0.0)
        return GENERATE_SAMPLES

    def engine() -> int:
        k = next(counter)
        model.evaluate(7, range(k * batch, (k + 1) * batch), [0] * batch)
        return batch

    comps = model.components
    bs = StationaryBootstrap(model.block_size, np.arange(comps.values.shape[0]), seed=1)
    draws = bs.bootstrap(10**9)

    def straightforward() -> int:
        # arch draws as many rows as there are (5,030); the series has one bar more.
        idx = np.resize(next(draws)[0][0], model.length)[None]
        ohlcv = reconstruct_reference(comps.values, idx, model.start_price,
                                      comps.volume_level)[0]
        cand = pd.DataFrame(ohlcv, index=model.index,
                            columns=["Open", "High", "Low", "Close", "Volume"])
        metrics = reference_metrics(cand)
        metrics["ljung_box_stat"] = metrics.get("ljung_box_stat", np.nan)
        model.scorer.score({k: np.array([v]) for k, v in metrics.items()})
        return 1

    clock = time.process_time if cpu_time else time.perf_counter
    figures = {"bars": float(len(frame)), "generate_cps": rate(generate, seconds, clock),
               "engine_cps": rate(engine, seconds, clock),
               "reference_cps": rate(straightforward, seconds, clock)}
    figures["ratio"] = figures["engine_cps"] / figures["reference_cps"]

    long_model = fit_model(long_series(), n_replicates=32)
    long_batch = 4

    def long_engine() -> int:
        k = next(counter)
        long_model.evaluate(7, range(k * long_batch, (k + 1) * long_batch), [0] * long_batch)
        return long_batch

    figures["long_ms"] = 1e3 / rate(long_engine, seconds, clock)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--cpu-time", action="store_true",
                        help="measure CPU time, not wall time (on a busy machine)")
    args = parser.parse_args()
    fig = core_figures(args.seconds, cpu_time=args.cpu_time)
    clock = "CPU time" if args.cpu_time else "wall time"
    print(f"S&P 500 sample, {fig['bars']:.0f} bars, all scored metrics, one core ({clock})")
    print(f"  generate (public API, frames):  {fig['generate_cps']:10.0f} candidates/s "
          f"({1e3 / fig['generate_cps']:.3f} ms each)")
    print(f"  engine (batch {DEFAULT_BATCH_SIZE}):             {fig['engine_cps']:10.0f} scored "
          f"candidates/s ({1e3 / fig['engine_cps']:.3f} ms each)")
    print(f"  straightforward (1 at a time):  {fig['reference_cps']:10.1f} scored candidates/s "
          f"({1e3 / fig['reference_cps']:.1f} ms each)")
    print(f"  ratio engine / straightforward: {fig['ratio']:.1f}x")
    print(f"100,000-bar intraday series: {fig['long_ms']:.1f} ms per scored candidate (batch 4)")


if __name__ == "__main__":
    main()
