"""Walk-forward calibration on the real-data panel's daily series: the table and PIT plots of
docs/methodology.md (section 16).

For each daily series of :mod:`pipeline.io.panel` it runs :func:`pipeline.calibrate` (h = 21
bars, N = 500 scenarios, an origin every 21 bars after a first fit of 500, expanding window)
for the engine's ``stationary``, ``garch`` and ``regime`` methods with their default options and
the ``iid`` bootstrap as the stateless baseline, and prints one row per series and method: the
share of origins whose realized value fell in the scenarios' central 90 % band for each path
statistic (the binomial band a calibrated forecast stays in is given per series), the KS
uniformity p of the volatility PITs, the CRPS of the 21-bar return, and the verdicts.

The last row group is the control, ``garch_sim``: 5,000 daily bars simulated from a known
GARCH(1,1) with Student-t shocks (:func:`simulated_garch`), where the truth is known. There the
``garch`` method is the right model and should come out calibrated for the volatility, and the
stateless ``iid`` bootstrap should not: the check that the table can say yes as well as no.

Nothing here is tuned to the panel: every method runs with the defaults a user gets. The
calibrations are kept under ``--out`` (resumable: an interrupted run continues, a finished one is
read back), so ``--write-docs`` after a run only redraws. ``make calibration-panel`` runs it on
the local cluster and rewrites the table and the PNGs under docs/img/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from pipeline import calibrate  # noqa: E402
from pipeline.core.calibration import statistic_label  # noqa: E402
from pipeline.io.panel import PANEL, load_panel  # noqa: E402
from pipeline.runner.cluster import connect  # noqa: E402

DAILY = [name for name, s in PANEL.items() if s.frequency == "1D"]
CONTROL = "garch_sim"
METHODS = ["stationary", "garch", "regime", "iid"]
#: Statistics the table shows (the path high is the mirror of the low and left to the report).
SHOWN = ("return", "volatility", "max_drawdown", "var_exceedances", "path_low")
SHORT = {"return": "ret", "volatility": "vol", "max_drawdown": "mdd",
         "var_exceedances": "VaR#", "path_low": "low"}
IMG = ROOT / "docs" / "img"


def simulated_garch(n: int = 5000, seed: int = 20261201) -> pd.DataFrame:
    """Daily OHLCV bars whose close log-returns follow a known GARCH(1,1) with Student-t (5 d.f.)
    shocks: omega 0.02, alpha 0.08, beta 0.90 (percent units; a daily equity index's typical
    persistence 0.98, unconditional volatility 1 % a day). Opens sit a little off the previous
    close, highs and lows reach beyond the body by a fraction of the day's volatility."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta, dof = 0.02, 0.08, 0.90, 5.0
    z = rng.standard_t(dof, n) / np.sqrt(dof / (dof - 2.0))
    var = np.empty(n)
    r = np.empty(n)
    var[0] = omega / (1.0 - alpha - beta)
    for t in range(n):
        if t:
            var[t] = omega + alpha * r[t - 1] ** 2 + beta * var[t - 1]
        r[t] = np.sqrt(var[t]) * z[t]
    sigma = np.sqrt(var) / 100.0
    close = 100.0 * np.exp(np.cumsum(r / 100.0))
    prev = np.concatenate([[100.0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, 0.1, n) * sigma)
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = body_high * np.exp(np.abs(rng.normal(0.0, 0.4, n)) * sigma)
    low = body_low * np.exp(-np.abs(rng.normal(0.0, 0.4, n)) * sigma)
    volume = np.exp(rng.normal(14.0, 0.3, n) + 20.0 * np.abs(r / 100.0))
    index = pd.bdate_range("2000-01-03", periods=n, name="Date")
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close,
                         "Volume": volume}, index=index)


def load_series(name: str) -> pd.DataFrame:
    return simulated_garch() if name == CONTROL else load_panel(name)


def panel_config(path: Path, out: str, args) -> dict:
    return {
        "input": {"path": str(path)},
        "generation": {"seed": args.seed},
        "scoring": {"n_replicates": args.replicates},
        "output": {"path": out},
        "calibration": {"methods": METHODS, "horizon": args.horizon,
                        "n_scenarios": args.scenarios, "step": args.step,
                        "min_window": args.min_window},
    }


def rows_of(name: str, result) -> list[dict]:
    out = []
    failed = result.failed_fits()
    for method in result.summary.methods:
        row = {"series": name, "method": method}
        n = None
        for stat in SHOWN:
            s = result.summary.get(method, stat)
            cov = s.at(0.9)
            flag = {"ok": "", "too narrow": " ▼", "too wide": " ▲"}.get(cov.verdict, " ?")
            row[SHORT[stat]] = f"{cov.share:.2f}{flag}"
            n = s.n
        vol = result.summary.get(method, "volatility")
        ret = result.summary.get(method, "return")
        band = vol.at(0.9).band
        row.update({"origins": n, "band": f"{band[0]:.2f}-{band[1]:.2f}",
                    "vol p": f"{vol.uniformity_p:.2g}", "vol PIT": f"{vol.mean_pit:.2f}",
                    "CRPS ret": f"{ret.crps:.4f}",
                    "verdicts (ret / vol / mdd)": " / ".join(
                        result.summary.get(method, s).verdict for s in
                        ("return", "volatility", "max_drawdown")),
                    "failed fits": failed.get(method, 0)})
        out.append(row)
    return out


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", default=",".join([*DAILY, CONTROL]),
                   help=f"comma-separated panel series (and {CONTROL}, the simulated control)")
    p.add_argument("--horizon", type=int, default=21)
    p.add_argument("--scenarios", type=int, default=500)
    p.add_argument("--step", type=int, default=21)
    p.add_argument("--min-window", type=int, default=500)
    p.add_argument("--replicates", type=int, default=64,
                   help="scoring.n_replicates of each fit (the automatic block size uses it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=str(ROOT / ".sme-cache" / "calibration-panel"),
                   help="where the calibrations are kept (reruns resume or read them back)")
    p.add_argument("--write-docs", action="store_true",
                   help="rewrite the table in docs/methodology.md and the PNGs in docs/img/")
    args = p.parse_args()
    names = [s.strip() for s in args.series.split(",") if s.strip()]
    rows, results, seconds = [], {}, {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, connect(_cluster(args)) as client:
        for name in names:
            path = Path(tmp) / f"{name}.parquet"
            load_series(name).to_parquet(path)
            t0 = time.perf_counter()
            result = calibrate(panel_config(path, f"{args.out}/{name}/{{run_id}}", args),
                               client=client)
            seconds[name] = time.perf_counter() - t0
            print(f"{name}: {result.origins} origins in {seconds[name]:.0f} s "
                  f"({result.resumed} read back)", file=sys.stderr)
            results[name] = result
            rows.extend(rows_of(name, result))
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False))
    total = time.perf_counter() - started
    print(f"total {total:.0f} s", file=sys.stderr)
    if args.write_docs:
        write_docs(table, results, args, names)


def _cluster(args):
    from pipeline.config import ClusterConfig

    return ClusterConfig(n_workers=args.workers)


def write_docs(table: pd.DataFrame, results: dict, args, names: list[str]) -> None:
    from pipeline.report.calibration import save_pit_png

    IMG.mkdir(parents=True, exist_ok=True)
    images = []
    for name in names:
        target = IMG / f"calibration_pit_{name}.png"
        save_pit_png(results[name].summary, target,
                     statistics=("return", "volatility", "max_drawdown"))
        images.append(f"![PIT histograms, {name}](img/{target.name})")
    legend = ", ".join(f"{v} = {statistic_label(k, args.horizon)}" for k, v in SHORT.items())
    command = (f"python benchmarks/calibration_panel.py --series {','.join(names)} "
               f"--horizon {args.horizon} --scenarios {args.scenarios} --step {args.step} "
               f"--min-window {args.min_window} --replicates {args.replicates} "
               f"--seed {args.seed} --write-docs")
    body = (f"Made by `{command}` (`make calibration-panel`). Share of origins whose realized "
            f"value fell in the scenarios' central 90 % band ({legend}); ▼ below the binomial "
            "band a calibrated forecast stays in (too narrow), ▲ above it (too wide). *vol p*: "
            "Kolmogorov-Smirnov p-value of the volatility PITs against uniform; *vol PIT*: their "
            "mean (0.5 if unbiased, above it when the scenarios ran too calm). *CRPS ret*: mean "
            "CRPS of the 21-bar log return (lower is better).\n\n" + markdown(table)
            + "\n\n" + "\n".join(images))
    write_block("calibration_panel", body)


if __name__ == "__main__":
    main()
