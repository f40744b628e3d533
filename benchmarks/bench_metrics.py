"""Speed of the batched metrics kernel against the straightforward per-candidate computation.

Run from the repository root::

    python benchmarks/bench_metrics.py [--repeat 5] [--long-reference]

Single-threaded BLAS is forced (as on the workers) before NumPy is imported. Prints:

* candidates per second of :func:`pipeline.core.metrics.compute_metrics_batch` on batches of
  stationary-bootstrap resamples of the S&P 500 sample (5,031 bars);
* the same for the reference implementation of ``benchmarks/reference.py`` (statsmodels, scipy,
  pandas and plain loops, one candidate at a time), and the speed-up ratio;
* milliseconds per candidate on 100,000-bar synthetic series (the reference on one such series
  only with ``--long-reference``: statsmodels' Ljung-Box ACF is O(n^2) and takes over a minute).
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

from benchmarks.reference import FIELDS, reference_metrics, resample, to_frame  # noqa: E402
from pipeline.core.metrics import compute_metrics_batch  # noqa: E402

SP500_BARS = 5031
LONG_BARS = 100_000


def best_time(func, repeat: int) -> float:
    """The fastest of ``repeat`` timed calls, after one warm-up call."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def synthetic(batch: int, length: int, seed: int = 0) -> np.ndarray:
    """Fat-tailed random-walk OHLCV series, shape (batch, length, 5)."""
    rng = np.random.default_rng(seed)
    log_close = np.log(100.0) + np.cumsum(0.01 * rng.standard_t(4, (batch, length)), axis=1)
    close = np.exp(log_close)
    high = close * np.exp(np.abs(rng.normal(0, 0.005, close.shape)))
    low = close * np.exp(-np.abs(rng.normal(0, 0.005, close.shape)))
    volume = rng.lognormal(15, 0.3, close.shape)
    return np.stack([close, high, low, close, volume], axis=-1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (best is kept)")
    parser.add_argument("--reference-candidates", type=int, default=8)
    parser.add_argument("--long-reference", action="store_true")
    args = parser.parse_args(argv)

    from arch.data import sp500

    spx = sp500.load()[FIELDS].astype(float)
    pool = resample(spx, seed=1, count=32)
    print(
        f"threads: OMP={os.environ['OMP_NUM_THREADS']} "
        f"OPENBLAS={os.environ['OPENBLAS_NUM_THREADS']}; numpy {np.__version__}"
    )
    print(f"S&P 500 sample resamples, {SP500_BARS} bars")
    rates = {}
    for batch in (1, 64, 256):
        arr = np.concatenate([pool] * (batch // len(pool) + 1))[:batch]
        seconds = best_time(lambda arr=arr: compute_metrics_batch(arr), args.repeat)
        rates[batch] = batch / seconds
        print(
            f"  kernel, batch {batch:4d}: {rates[batch]:9.0f} candidates/s "
            f"({1e6 * seconds / batch:7.1f} us each)"
        )

    frames = [to_frame(pool[i]) for i in range(args.reference_candidates)]
    seconds = best_time(lambda: [reference_metrics(f) for f in frames], max(1, args.repeat // 2))
    ref_rate = len(frames) / seconds
    print(
        f"  reference, one by one : {ref_rate:9.1f} candidates/s "
        f"({1e3 * seconds / len(frames):7.1f} ms each)"
    )
    print(f"  speed-up (batch 256 vs reference): {rates[256] / ref_rate:.0f}x")

    print(f"Synthetic fat-tailed series, {LONG_BARS} bars")
    for batch in (1, 8):
        arr = synthetic(batch, LONG_BARS)
        seconds = best_time(lambda arr=arr: compute_metrics_batch(arr), max(1, args.repeat // 2))
        print(f"  kernel, batch {batch:4d}: {1e3 * seconds / batch:7.1f} ms per candidate")
    if args.long_reference:
        frame = pd.DataFrame(synthetic(1, LONG_BARS)[0], columns=FIELDS)
        start = time.perf_counter()
        reference_metrics(frame)
        seconds = time.perf_counter() - start
        kernel = best_time(lambda: compute_metrics_batch(frame.to_numpy()), 1)
        print(
            f"  reference, one series : {1e3 * seconds:9.0f} ms (speed-up {seconds / kernel:.0f}x)"
        )


if __name__ == "__main__":
    main()
