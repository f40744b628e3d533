"""The real-data panel table: every method's default settings on every panel series.

For each series of :mod:`pipeline.io.panel` and each method, with the defaults of
``SyntheticDataFactory`` (``block_size: auto``, ``min_fidelity: 90``, ``max_attempts: 200``):

* the chosen block size and the input's dependence length (with the pilot's reason);
* raw candidates (attempt 0 of ``--raw`` scenarios): median fidelity and the share at or above
  the threshold (the acceptance rate);
* a default run of ``--scenarios`` scenarios: whether it completes, the median number of attempts
  per accepted scenario, and the median of the accepted scenarios' ``vol_clustering`` and
  ``vol_persistence`` against the original's, in units of the metric's sampling spread;
* the verbatim share of the accepted scenarios (bars inside copied stretches of 20+ returns).

Run ``python benchmarks/panel.py --write-docs`` (``make panel``) to rebuild the table in
docs/methodology.md. The test suite asserts the same criteria on the same panel
(tests/test_panel.py).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from pipeline import SyntheticDataFactory  # noqa: E402
from pipeline.core.generators import METHODS  # noqa: E402
from pipeline.errors import FidelityNotReachedError  # noqa: E402
from pipeline.evaluation import verbatim_share  # noqa: E402
from pipeline.io.panel import PANEL, PANEL_PAIRS, load_panel, panel_names  # noqa: E402

VOL_METRICS = ("vol_clustering", "vol_persistence")


def spread_error(factory: SyntheticDataFactory, metrics, name: str) -> float:
    """Median of the accepted scenarios' ``name`` minus the original's, in spreads.

    For several assets the worst asset (largest absolute error) is reported.
    """
    scorer = factory.model.scorer
    keys = [k for k in scorer.names if k == name or k.endswith(f":{name}")]
    worst = 0.0
    for key in keys:
        i = scorer.names.index(key)
        err = (float(np.median(metrics[key])) - scorer.reference[i]) / scorer.spread[i]
        worst = err if abs(err) > abs(worst) else worst
    return worst


def closes(item) -> list[np.ndarray]:
    frames = item.values() if isinstance(item, dict) else [item]
    return [f["Close"].to_numpy() for f in frames]


def run_cell(frame, method: str, n_scenarios: int, n_raw: int, seed: int) -> dict:
    """One (series, method) cell of the table."""
    started = time.perf_counter()
    factory = SyntheticDataFactory(frame, method=method, seed=seed)
    fit_s = time.perf_counter() - started
    raw = factory.generate(n_raw, min_fidelity=0.0).scores
    row = {
        "block": factory.block_size,
        "dependence": factory.model.block_choice.reference,
        "reason": factory.model.block_choice.reason,
        "median_fidelity": float(np.median(raw)),
        "acceptance": float(np.mean(raw >= 90.0)),
        "fit_s": fit_s,
    }
    if method == "iid":
        return row
    try:
        series = factory.generate(n_scenarios, min_fidelity=90.0)
    except FidelityNotReachedError as exc:
        row["failed"] = str(exc)
        return row
    row["attempts"] = float(np.median(series.attempts + 1))
    for name in VOL_METRICS:
        row[name] = spread_error(factory, series.metrics, name)
    originals = closes(factory.frame if not isinstance(factory.frame, dict) else factory.frame)
    shares = []
    for item in series:
        for orig, syn in zip(originals, closes(item), strict=True):
            shares.append(verbatim_share(np.diff(np.log(orig)),
                                         np.diff(np.log(np.r_[orig[0], syn]))))
    row["verbatim"] = float(np.median(shares))
    return row


def fmt(row: dict, method: str) -> str:
    """One markdown row of the table (a failed or baseline cell leaves the run columns blank)."""
    cells = [method, str(row["block"]), f"{row['median_fidelity']:.1f}",
             f"{100 * row['acceptance']:.0f} %"]
    if "failed" in row or method == "iid":
        cells += ["**fails**" if "failed" in row else "baseline", "", "", ""]
    else:
        cells += [f"{row['attempts']:.0f}", f"{row['vol_clustering']:+.2f}",
                  f"{row['vol_persistence']:+.2f}", f"{row['verbatim']:.2f}"]
    return "| " + " | ".join(cells) + " |"


def table(results: dict[str, dict[str, dict]], command: str) -> str:
    lines = [
        f"Rebuilt by `{command}`: {next(iter(results.values()))['_n']} scenarios per cell at "
        "the default threshold (90) and 200 attempts; raw fidelity and acceptance from "
        f"{next(iter(results.values()))['_raw']} raw candidates. Vol clustering and vol "
        "persistence: median of the accepted scenarios minus the original's, in sampling "
        "spreads (worst asset for the pair). Verbatim: median share of bars inside copied "
        "stretches of 20 or more returns.",
        "",
    ]
    for name, cells in results.items():
        info = PANEL.get(name)
        title = (f"{name}: {info.description} ({info.market}, {info.frequency}, "
                 f"{cells['_bars']} bars)" if info else
                 f"{name}: {' + '.join(PANEL_PAIRS[name])} as two assets ({cells['_bars']} bars)")
        dep = next(c["dependence"] for k, c in cells.items() if not k.startswith("_"))
        lines += [f"**{title}**, dependence length {dep} bars", "",
                  "| method | block | median raw fidelity | acceptance at 90 | median attempts "
                  "| vol clustering error | vol persistence error | verbatim |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [fmt(c, m) for m, c in cells.items() if not m.startswith("_")]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", default=",".join(panel_names()),
                        help="comma-separated panel series (default: all)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--raw", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the panel table in docs/methodology.md")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    results: dict[str, dict] = {}
    for name in args.series.split(","):
        frame = load_panel(name)
        first = next(iter(frame.values())) if isinstance(frame, dict) else frame
        cells: dict = {"_bars": len(first), "_n": args.scenarios, "_raw": args.raw}
        for method in args.methods.split(","):
            cells[method] = row = run_cell(frame, method, args.scenarios, args.raw, args.seed)
            print(f"{name:10s} {fmt(row, method)}  fit {row['fit_s']:.1f}s", flush=True)
        results[name] = cells
    command = (f"python benchmarks/panel.py --scenarios {args.scenarios} --seed {args.seed} "
               "--write-docs")
    text = table(results, command)
    if args.write_docs:
        write_block("panel-table", text)
    else:
        print(text)
    failed = [(n, m) for n, c in results.items() for m, r in c.items()
              if not m.startswith("_") and "failed" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
