"""Scored candidates per second of the core engine, against a straightforward implementation.

Run from the repository root::

    python benchmarks/bench_core.py [--seconds 3]

Both run in this process on one core (single-threaded BLAS, as on the workers), on the S&P 500
sample (5,031 bars, all metrics, generation + metrics + fidelity score):

* engine: :meth:`pipeline.core.sampler.GenerationModel.evaluate` on batches of
  ``DEFAULT_BATCH_SIZE`` candidates;
* straightforward: one candidate at a time, ``arch``'s ``StationaryBootstrap`` for the path and
  the per-candidate statsmodels/scipy/pandas metrics of ``benchmarks/reference.py``, scored by the
  same scorer.

Then milliseconds per candidate for a 100,000-bar intraday series (engine only).
Prints the ratios; nothing is asserted.
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
from pipeline import SyntheticDataFactory, load_sample  # noqa: E402
from pipeline.core.reconstruction import reconstruct  # noqa: E402
from pipeline.core.sampler import DEFAULT_BATCH_SIZE  # noqa: E402
from pipeline.factory import fit_model  # noqa: E402


def rate(func, seconds: float) -> float:
    """Calls per second of ``func`` (which returns how many candidates it did) over ``seconds``."""
    func()  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += func()
    return done / (time.perf_counter() - start)


def core_figures(seconds: float = 3.0) -> dict[str, float]:
    """The core figures, each measured over ``seconds``.

    Returns
    -------
    dict
        ``generate_cps``: scored candidates/s of the public
        :meth:`~pipeline.SyntheticDataFactory.generate` at ``min_fidelity`` 0 (every candidate
        accepted, so frames included); ``engine_cps``: of the engine alone
        (:meth:`~pipeline.core.sampler.GenerationModel.evaluate`); ``reference_cps``: of the
        straightforward implementation; ``ratio``: ``engine_cps / reference_cps``;
        ``long_ms``: milliseconds per scored candidate of a 100,000-bar intraday series.
    """
    frame = load_sample("sp500")
    model = fit_model(frame)
    batch = DEFAULT_BATCH_SIZE
    counter = iter(range(10**9))

    def engine() -> int:
        k = next(counter)
        model.evaluate(7, range(k * batch, (k + 1) * batch), [0] * batch)
        return batch

    factory = SyntheticDataFactory(frame, seed=7)

    def generate() -> int:
        return len(factory.generate(batch, min_fidelity=0.0))

    comps = model.components
    bs = StationaryBootstrap(model.block_size, np.arange(comps.values.shape[0]), seed=1)
    draws = bs.bootstrap(10**9)

    def straightforward() -> int:
        # arch draws as many rows as there are (5,030); the series has one bar more.
        idx = np.resize(next(draws)[0][0], model.length)[None]
        ohlcv = reconstruct(comps.values, idx, model.start_price, comps.volume_level)[0]
        cand = pd.DataFrame(ohlcv, index=model.index,
                            columns=["Open", "High", "Low", "Close", "Volume"])
        metrics = reference_metrics(cand)
        metrics["ljung_box_stat"] = metrics.get("ljung_box_stat", np.nan)
        model.scorer.score({k: np.array([v]) for k, v in metrics.items()})
        return 1

    eng = rate(engine, seconds)
    gen = rate(generate, seconds)
    ref = rate(straightforward, seconds)

    rng = np.random.default_rng(0)
    n = 100_000
    idx = pd.date_range("2020-01-01", periods=n, freq="1min")
    close = 100 * np.exp(np.cumsum(0.0005 * rng.standard_t(4, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    intraday = pd.DataFrame({
        "Open": open_,
        "High": np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 2e-4, n))),
        "Low": np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 2e-4, n))),
        "Close": close,
        "Volume": rng.lognormal(8, 0.5, n),
    }, index=idx)
    long_model = fit_model(intraday, n_replicates=32)
    long_batch = 4

    def long_engine() -> int:
        k = next(counter)
        long_model.evaluate(7, range(k * long_batch, (k + 1) * long_batch), [0] * long_batch)
        return long_batch

    lr = rate(long_engine, seconds)
    return {"generate_cps": gen, "engine_cps": eng, "reference_cps": ref, "ratio": eng / ref,
            "long_ms": 1e3 / lr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    f = core_figures(args.seconds)
    print("S&P 500 sample, 5,031 bars, all scored metrics, one core")
    print(f"  generate (frames included):    {f['generate_cps']:10.0f} scored candidates/s")
    print(f"  engine (batch {DEFAULT_BATCH_SIZE}):        {f['engine_cps']:10.0f} scored "
          f"candidates/s ({1e3 / f['engine_cps']:.3f} ms each)")
    print(f"  straightforward (1 at a time): {f['reference_cps']:10.1f} scored candidates/s "
          f"({1e3 / f['reference_cps']:.1f} ms each)")
    print(f"  ratio engine / straightforward: {f['ratio']:.1f}x")
    print(f"100,000-bar intraday series: {f['long_ms']:.1f} ms per scored candidate (batch 4)")


if __name__ == "__main__":
    main()
