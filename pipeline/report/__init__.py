"""The fidelity report of a finished run: one self-contained HTML file.

:func:`write_report` reads a run's output directory (``manifest.json``, the series files) and the
run's original input, and writes ``report.html``: plots as inline base64 PNG (matplotlib, Agg),
inline CSS, no external asset, readable offline. Sections:

1. **Run** — run id, input, method, block size and how it was chosen (the dependence
   length, the pilot's median fidelity at each length tried, the reason), series,
   fidelity, threshold, the preflight's estimate; a partial run is marked as such, with
   why.
2. **Price paths** — fan chart of the synthetic closes (5–95 % and 25–75 % bands, median, a few
   sample paths) over the original close.
3. **Returns** — density of the close log-returns (pooled synthetic vs original, linear and log
   scale) and a QQ plot.
4. **Dependence** — ACF of returns and of absolute returns, lags 1–40: the original as a line, the
   synthetic series as a 5–95 % band across series.
5. **Metrics** — each metric's distribution across scenarios with the original's value marked,
   and a table (original, synthetic min/median/max, weight, spread).
6. **Scores and drawdowns** — fidelity histogram with ``min_fidelity``; max drawdown histogram.
7. **Diversity** — how different the scenarios are from one another and from the original
   (:func:`pipeline.evaluation.verbatim_share`).
8. **Indistinguishability** — the purged, blocked classifier two-sample test
   (:func:`pipeline.evaluation.classifier_two_sample_test`) beside its real-versus-real
   calibration row, with a verdict and each bar feature's attribution, and train-on-synthetic /
   test-on-real prediction (:func:`pipeline.evaluation.predictive_score`).

Runs of other shapes get more sections:

* **Multi-asset runs** (``manifest["model"]["assets"]``): an **asset overview** (one row per
  asset), **cross-asset correlations** (the matrices of pairwise correlations of returns and of
  absolute returns — original, median over the scenarios, and their difference — as annotated
  heatmaps and as tables, and each pair's distribution across scenarios with the original
  marked), the scores section with one drawdown histogram per asset, then sections 2–5, 7 and 8
  for every asset (in a foldable ``<details>`` block; section ids end in ``-SYMBOL``). Each
  asset is compared with its own original (the ``SYMBOL:metric`` reference values).
* **Regime runs** (``model.regimes``): **regimes** — fitted and used transition matrices, the
  share of bars in each regime across scenarios against the input's shares and the long-run
  shares, a strip plot of the first scenarios' regime paths, and per regime the volatility and
  mean stay. A *conditioned* run says so in the header, the regime section and the metric
  tables, and shows the original and the conditioned reference side by side: its fidelity
  measures distance to the conditioned generator, not to the original.
* **Timeframe runs** (``model.timeframes``): **timeframes** — the fidelity distribution at each
  higher timeframe next to the base one, a scatter of the same scenarios' scores, and per
  timeframe the metrics of the scenarios against the original aggregated to that timeframe.

The numbers of sections 7 and 8 are also embedded as JSON in
``<script type="application/json" id="report-data">`` for tools that read reports: keys
``diversity`` and ``indistinguishability`` for a single series; ``assets`` (per symbol:
``diversity``, ``indistinguishability``, ``overview``) and ``cross_asset`` for several assets;
``regimes`` and ``timeframes`` when the run has them.

Definitions
-----------
*Log-returns.* ``r_t = log(C_t / C_{t-1})``. A synthetic series' first return is taken against
the run's start price (the close before its first bar), so it has as many returns as bars.

*Verbatim share*, *windows*, the *purged two-sample test* with its calibration row and
verdict, and *train on synthetic, test on real*: see :mod:`pipeline.evaluation`, which computes
them. For a ``garch`` run the report redraws, from the run's model, seed and attempts, which
input bar each synthetic bar was built from, so that windows shaped by held-out history are
purged as exactly as the bootstraps' verbatim copies.

Layout
------
:mod:`~pipeline.report.data` loads a finished run (in one function,
:func:`~pipeline.report.data.load_run`) and computes what the report shows;
:mod:`~pipeline.report.figures` draws it; :mod:`~pipeline.report.render` turns it into table
rows and fills ``templates/report.html.j2`` (Jinja2, autoescaped), inlining
``templates/report.css``; :mod:`~pipeline.report.build` arranges the three. The calibration
page of a walk forward (PIT histograms, interval coverage and verdicts of each method side by
side) is :mod:`~pipeline.report.calibration` (``templates/calibration.html.j2``). The report
imports no part of the runner (the runner writes the report at the end of a run): a run's input and
model are passed in, or reloaded and refitted from the manifest's configuration through
:mod:`pipeline.run_input`.
"""

from pipeline.report.build import REPORT, build_report, write_report
from pipeline.report.calibration import (
    CALIBRATION_REPORT,
    calibration_context,
    pit_figure,
    render_calibration,
    save_pit_png,
    write_calibration_report,
)

__all__ = [
    "REPORT",
    "build_report",
    "write_report",
    "CALIBRATION_REPORT",
    "calibration_context",
    "render_calibration",
    "write_calibration_report",
    "pit_figure",
    "save_pit_png",
]
