"""Defaults that hold on every series of the real-data panel, for every method.

For each panel series (pipeline.io.panel: four markets, daily and hourly bars, an index pair) and
each method but the iid baseline, the default settings of ``SyntheticDataFactory`` must:

* reach the default threshold for 20 scenarios (no FidelityNotReachedError);
* need at most 5 attempts per accepted scenario in median;
* keep the accepted scenarios' ``vol_clustering`` and ``vol_persistence`` within
  ``VOL_TOLERANCE`` sampling spreads of the original's, in median. This is judged on 120
  scenarios (the first 20 are the 20 above: a scenario does not depend on the others), because
  the median of 20 moves by about 0.3 spread from one seed to the next (0.12 for 120), and
  generating candidates is cheap next to the fit.

The same cells, with more scenarios, make the table in docs/methodology.md
(``python benchmarks/panel.py --write-docs``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from benchmarks.panel import spread_error
from pipeline import SyntheticDataFactory
from pipeline.errors import PreflightWarning, SMEWarning
from pipeline.io.panel import load_panel, panel_names

METHODS = ("stationary", "circular", "moving", "garch", "regime")
#: How far, in sampling spreads, the accepted scenarios' median may sit from the original's.
VOL_TOLERANCE = 1.0
#: Cells known to miss VOL_TOLERANCE, with the bound they are held to instead and why. Each is
#: in docs/methodology.md (section 14); a cell that improves past VOL_TOLERANCE fails the test
#: until it is taken off this list.
KNOWN_GAPS = {
    # A GARCH(1,1) fitted to daily Bitcoin (alpha 0.30, beta 0.69) forgets a volatility shock
    # faster than the series does; its scenarios' vol_persistence sits 1.0-1.1 spreads low at
    # every residual block length the pilot may use (at 49 bars they copy 7 % of history).
    ("btc_1d", "garch", "vol_persistence"): 1.25,
}


@pytest.fixture(scope="module", params=panel_names())
def series(request):
    return request.param, load_panel(request.param)


@pytest.mark.parametrize("method", METHODS)
def test_defaults_reach_the_threshold_on_the_panel(series, method):
    name, frame = series
    with warnings.catch_warnings():
        # A preflight warning would fail here too; the input's own warnings (the daily Bitcoin
        # file's one-bar low of 0.06) are the panel's business, not this test's.
        warnings.simplefilter("ignore", SMEWarning)
        warnings.simplefilter("error", PreflightWarning)
        factory = SyntheticDataFactory(frame, method=method, seed=2024)
        result = factory.generate(120, min_fidelity=90.0)
    attempts = np.median(result.attempts[:20] + 1)
    assert attempts <= 5, f"{name}/{method}: {attempts} attempts per scenario"
    for metric in ("vol_clustering", "vol_persistence"):
        err = spread_error(factory, result.metrics, metric)
        gap = KNOWN_GAPS.get((name, method, metric))
        if gap is None:
            assert abs(err) <= VOL_TOLERANCE, f"{name}/{method}: {metric} {err:+.2f} spreads"
        else:
            assert VOL_TOLERANCE < abs(err) <= gap, (
                f"{name}/{method}: {metric} {err:+.2f} spreads; update KNOWN_GAPS")


def test_iid_baseline_stays_below_the_threshold(series):
    """The score can say no on every panel series: iid resampling, which keeps every bar but no
    time dependence, does not reach the default threshold in median."""
    name, frame = series
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SMEWarning)
        factory = SyntheticDataFactory(frame, method="iid", seed=2024)
    raw = factory.generate(16, min_fidelity=0.0).scores
    assert np.median(raw) < 86.0, f"{name}: iid median {np.median(raw):.1f}"
