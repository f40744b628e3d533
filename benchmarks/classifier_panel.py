"""The purged classifier two-sample test on every panel series and every method.

Run from the repository root::

    python benchmarks/classifier_panel.py [--series goog,sp500] [--methods garch,iid]
        [--n-scenarios 20] [--folds 5] [--min-fidelity 0] [--write-docs] [--json out.json]

For each series of the real-data panel (:func:`pipeline.io.panel.panel_names`, the S&P 500 /
NASDAQ pair included) it draws ``--n-scenarios`` series from ``SyntheticDataFactory(frame,
method=m, seed=--seed)`` for every engine method (default settings otherwise) and a Gaussian random
walk (:func:`pipeline.evaluation.gaussian_random_walk`), and runs
:func:`pipeline.evaluation.classifier_two_sample_test` (24-bar windows of log return, log range,
log body and change of log volume; purged, blocked folds; gradient boosting and a random
convolutional kernel classifier) beside the series' calibration row
(:func:`pipeline.evaluation.calibration_test`, real folds against real folds).

``--min-fidelity 0`` (the default) takes each scenario's first candidate: the generator itself,
before the fidelity filter. The filter can only move accepted series toward the original's
metrics, and iid resampling and the random walk never reach the default threshold, so raw
candidates are the one setting under which every row is comparable. ``--min-fidelity 90``
tests what a default run delivers instead.

The engine's methods pass the component rows each synthetic bar was built from
(``GenerationModel.indices``), so windows copied from (or, for ``garch``, shaped by) held-out
history are purged exactly; the random walk has none.

``--write-docs`` replaces the tables in docs/methodology.md (between their markers).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from pipeline import SyntheticDataFactory  # noqa: E402
from pipeline.core.generators import METHODS  # noqa: E402
from pipeline.core.reconstruction import OHLCV_FIELDS  # noqa: E402
from pipeline.evaluation import (  # noqa: E402
    CLASSIFIERS,
    calibration_test,
    classifier_two_sample_test,
    gaussian_random_walk,
    verbatim_share,
)
from pipeline.io.panel import load_panel, panel_names  # noqa: E402

WALK = "gaussian_rw"
ORDER = ("stationary", "circular", "moving", "garch", "regime", "iid")
LABEL = {"gbm": "GBM", "rocket": "ROCKET"}


def _arrays(frame, series) -> list[np.ndarray]:
    """The factory's scenarios as arrays, assets' OHLC[V] side by side."""
    if isinstance(frame, dict):
        return [np.concatenate([item[s][list(OHLCV_FIELDS[: item[s].shape[1]])].to_numpy()
                                for s in frame], axis=1) for item in series]
    return [item[list(OHLCV_FIELDS[: item.shape[1]])].to_numpy() for item in series]


def _verbatim(frame, bars: list[np.ndarray]) -> float:
    frames = list(frame.values()) if isinstance(frame, dict) else [frame]
    arr = np.stack(bars)
    f = arr.shape[2] // len(frames)
    shares = []
    for a, fr in enumerate(frames):
        x = np.diff(np.log(fr["Close"].to_numpy(dtype=float)))
        shares.append(np.mean(verbatim_share(x, np.diff(np.log(arr[:, :, a * f + 3]), axis=1))))
    return float(np.mean(shares))


def _draw(frame, method: str, n: int, seed: int, min_fidelity: float
          ) -> tuple[list[np.ndarray], list[np.ndarray] | None, float]:
    """Scenarios of one method, the original bars each synthetic bar came from, median score."""
    if method == WALK:
        return list(gaussian_random_walk(frame, n, seed)), None, float("nan")
    factory = SyntheticDataFactory(frame, method=method, seed=seed)
    series = factory.generate(n, min_fidelity=min_fidelity)
    idx, _ = factory.model.indices(factory.seed, range(n), series.attempts)
    return _arrays(frame, series), list(idx + 1), float(np.median(series.scores))


def run_series(name: str, methods: list[str], n: int, folds: int, seed: int,
               min_fidelity: float) -> dict:
    frame = load_panel(name)
    started = time.perf_counter()
    calibration = calibration_test(frame, n_folds=folds, seed=seed)
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        bars, sources, fidelity = _draw(frame, method, n, seed, min_fidelity)
        result = classifier_two_sample_test(frame, bars, n_folds=folds, sources=sources,
                                            calibration=calibration, seed=seed)
        rows.append({"method": method, "result": result, "median_fidelity": fidelity,
                     "verbatim": _verbatim(frame, bars)})
        print(f"  {name} {method}: {result.verdict} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return {"series": name, "bars": len(next(iter(frame.values())) if isinstance(frame, dict)
                                         else frame),
            "calibration": calibration, "rows": rows,
            "seconds": time.perf_counter() - started}


def _cell(scores, stat: str) -> str:
    mean, lo, hi = scores.interval(stat)
    return f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def table(res: dict) -> str:
    head = ["method"] + [f"{LABEL[c]} {s}" for c in CLASSIFIERS
                         for s in ("bal. accuracy", "AUC")] + [
        "verdict", "top feature (AUC drop)", "verbatim share", "median fidelity"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    cal = res["calibration"]
    floors = [f"floor {lo:.2f}–{hi:.2f}" for c in CLASSIFIERS
              for lo, hi in [cal.floor(c, res["rows"][0]["result"].n_folds)]]
    lines.append("| *real vs real* | " + " | ".join(
        f"{_cell(cal.scores[c], 'balanced_accuracy')} | {_cell(cal.scores[c], 'auc')} "
        f"({floors[i]})" for i, c in enumerate(CLASSIFIERS)) + " | calibration | – | – | – |")
    for row in res["rows"]:
        r = row["result"]
        drop = np.mean([r.scores[c].importance[r.top_feature] for c in CLASSIFIERS])
        fidelity = "–" if not np.isfinite(row["median_fidelity"]) else \
            f"{row['median_fidelity']:.1f}"
        lines.append(f"| {row['method']} | " + " | ".join(
            f"{_cell(r.scores[c], 'balanced_accuracy')} | {_cell(r.scores[c], 'auc')}"
            for c in CLASSIFIERS) + f" | {r.verdict} | {r.top_feature} ({drop:+.3f}) | "
            f"{row['verbatim']:.2f} | {fidelity} |")
    return "\n".join(lines)


def _jsonable(res: dict) -> dict:
    return {"series": res["series"], "bars": res["bars"], "seconds": res["seconds"],
            "calibration": asdict(res["calibration"]),
            "rows": [{**{k: v for k, v in r.items() if k != "result"},
                      "result": asdict(r["result"])} for r in res["rows"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=",".join(panel_names()),
                        help="comma-separated panel series (default: all)")
    parser.add_argument("--methods", default=",".join([*ORDER, WALK]),
                        help=f"comma-separated methods of {', '.join([*METHODS, WALK])}")
    parser.add_argument("--n-scenarios", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--min-fidelity", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--json", help="also write every number to this JSON file")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in (*METHODS, WALK)]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; allowed: {', '.join([*METHODS, WALK])}")
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    results = []
    for name in (s.strip() for s in args.series.split(",") if s.strip()):
        results.append(run_series(name, methods, args.n_scenarios, args.folds, args.seed,
                                  args.min_fidelity))
        # Written after every series, so a long panel run keeps what it has finished.
        _write(results, args, time.perf_counter() - started)


def _write(results: list[dict], args: argparse.Namespace, total: float) -> None:
    text = "\n\n".join(f"**{r['series']}** ({r['bars']:,} bars; {r['seconds']:.0f} s)\n\n"
                       f"{table(r)}" for r in results)
    print(text)
    print(f"total {total:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps([_jsonable(r) for r in results], indent=1))
    if args.write_docs:
        command = (f"python benchmarks/classifier_panel.py --series {args.series} "
                   f"--n-scenarios {args.n_scenarios} --folds {args.folds} "
                   f"--min-fidelity {args.min_fidelity:g} --seed {args.seed} --write-docs")
        write_block("classifier_panel", f"Made by `{command}` ({total / 60:.0f} minutes on a "
                    f"shared 2-core machine):\n\n{text}")

if __name__ == "__main__":
    main()
