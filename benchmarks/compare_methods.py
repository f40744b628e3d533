"""Every generation method and two outside baselines, side by side on the built-in samples.

Run from the repository root::

    python benchmarks/compare_methods.py [--n 256] [--write-docs]

For each sample (S&P 500, NASDAQ; 5,031 daily bars) and each generator, ``--n`` candidates of
the input's length are drawn (no rejection) and scored by the engine's scorer (stationary-bootstrap
spreads, the original as reference):

* the engine's methods: ``stationary``, ``circular``, ``moving``, ``iid``, ``garch`` (GARCH(1,1)
  filter, normal QML) and ``regime`` (two-regime Markov switching, unconditioned);
* ``gaussian_rw``: a Gaussian random walk with the input's mean and volatility of log-returns;
* ``garch_sim``: a simulation from a GARCH(1,1) with Student-t errors fitted by ``arch``
  (``arch_model(...).simulate``), the usual parametric alternative.

The baselines have no bars of their own: their opens are the previous close and their highs and
lows lie a half-normal distance (scale 0.5 % of the price) outside the body; volume is the
input's, bar for bar.

Columns: median fidelity; share of candidates reaching 90 (the default ``min_fidelity``);
diversity (the standard deviation of the terminal log-return across candidates, the mean
pairwise correlation of their return paths, the mean share of bars in verbatim copies of 20+
bars of the original); and the time per *accepted* series at 90 (generation + scoring time per
candidate / acceptance rate; one core). Whether a classifier can tell the methods' windows from
real ones is measured by ``benchmarks/classifier_panel.py`` (purged, blocked folds beside a
real-versus-real calibration), not here.

``--write-docs`` replaces the table in docs/methodology.md (between its markers).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from pipeline import load_sample  # noqa: E402
from pipeline.core.generators import METHODS  # noqa: E402
from pipeline.core.metrics import compute_metrics_batch  # noqa: E402
from pipeline.evaluation import (  # noqa: E402
    bars_from_returns,
    gaussian_random_walk,
    verbatim_share,
)
from pipeline.factory import fit_model  # noqa: E402

THRESHOLD = 90.0


def _garch_sim(frame, n: int, seed: int) -> np.ndarray:
    from arch import arch_model
    from arch.univariate import GARCH, ConstantMean, StudentsT

    r = np.diff(np.log(frame["Close"].to_numpy(dtype=float))) * 100
    res = arch_model(r, p=1, q=1, dist="t", rescale=False).fit(disp="off")
    rng = np.random.default_rng(seed)
    sim_model = ConstantMean(None, volatility=GARCH(p=1, q=1),
                             distribution=StudentsT(seed=np.random.default_rng(seed)))
    paths = [sim_model.simulate(res.params, nobs=r.size, burn=500)["data"].to_numpy() / 100
             for _ in range(n)]
    return bars_from_returns(frame, np.asarray(paths), rng)


def _row(name: str, frame, scorer, bars: np.ndarray, seconds: float, n_series: int) -> dict:
    metrics = compute_metrics_batch(bars)
    scores = scorer.score(metrics)
    acceptance = float(np.mean(scores >= THRESHOLD))
    close = bars[:, :, 3]
    start = float(frame["Close"].iloc[0])
    terminal = np.log(close[:, -1] / start)
    y = np.diff(np.log(close[:n_series]), axis=1)
    c = np.corrcoef(y)
    x = np.diff(np.log(frame["Close"].to_numpy(dtype=float)))
    per_candidate = seconds / bars.shape[0]
    return {
        "generator": name,
        "median_fidelity": float(np.median(scores)),
        "accept_90": acceptance,
        "terminal_sd": float(terminal.std()),
        "pairwise_corr": float(np.mean(c[~np.eye(len(c), dtype=bool)])),
        "verbatim": float(np.mean(verbatim_share(x, y))),
        "ms_per_accepted": per_candidate / acceptance * 1000 if acceptance > 0 else float("inf"),
    }


def compare(sample: str, n: int, n_series: int, seed: int) -> list[dict]:
    frame = load_sample(sample)
    rows = []
    scorer = None
    for method in METHODS:
        model = fit_model(frame, method=method)
        if scorer is None:
            scorer = model.scorer  # every method scored by the same yardstick
        started = time.perf_counter()
        bars = np.concatenate([model.generate(seed, range(lo, min(lo + 16, n)),
                                              [0] * (min(lo + 16, n) - lo))
                               for lo in range(0, n, 16)])
        scorer.score(compute_metrics_batch(bars))
        seconds = time.perf_counter() - started
        rows.append(_row(method, frame, scorer, bars, seconds, n_series))
        print(f"  {sample} {method}: done", flush=True)
    for name, make in (("gaussian_rw", gaussian_random_walk), ("garch_sim", _garch_sim)):
        started = time.perf_counter()
        bars = make(frame, n, seed)
        scorer.score(compute_metrics_batch(bars))
        rows.append(_row(name, frame, scorer, bars, time.perf_counter() - started, n_series))
        print(f"  {sample} {name}: done", flush=True)
    return rows


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| input | generator | median fidelity | accepted at 90 "
             "| terminal log-return sd | mean pairwise corr | verbatim share | ms per accepted |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for sample, rows in results.items():
        for r in rows:
            ms = "never" if not np.isfinite(r["ms_per_accepted"]) else f"{r['ms_per_accepted']:.1f}"
            lines.append(
                f"| {sample} | {r['generator']} | {r['median_fidelity']:.1f} | "
                f"{100 * r['accept_90']:.0f} % | "
                f"{r['terminal_sd']:.2f} | {r['pairwise_corr']:.3f} | {r['verbatim']:.2f} | "
                f"{ms} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="candidates per generator")
    parser.add_argument("--series", type=int, default=50,
                        help="candidates whose pairwise correlation and verbatim share are "
                        "measured")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    results = {s: compare(s, args.n, args.series, args.seed) for s in ("sp500", "nasdaq")}
    text = table(results)
    print(text)
    if args.write_docs:
        command = (f"python benchmarks/compare_methods.py --n {args.n} --series {args.series} "
                   f"--seed {args.seed} --write-docs")
        write_block("compare_methods", f"Made by `{command}`:\n\n{text}")


if __name__ == "__main__":
    main()
