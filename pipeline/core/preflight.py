"""Preflight: will a run reach its threshold, and how long will it take?

Before any work, the fidelity of a few dozen pilot candidates (the block-length pilot's, at the
block size in use; see :mod:`pipeline.core.blocks`) estimates the share ``p`` of candidates that
reach ``min_fidelity``. Each scenario then needs a geometric number of attempts, so

* expected attempts per scenario ``E[min(G, A)] = (1 - (1 - p)^A) / p`` (``A = max_attempts``);
* the chance that a scenario finds nothing within ``A`` attempts is ``(1 - p)^A``, and that at
  least one of ``N`` scenarios does ``1 - (1 - (1 - p)^A)^N``.

``p`` comes with a 95 % Wilson interval; the verdict uses its lower end for "may fail", so a run
that a small pilot cannot clear is flagged rather than waved through. When the estimate is poor
the preflight suggests the highest threshold (in steps of 0.5) that :data:`TARGET_ACCEPTANCE`
of the pilot candidates reach. It never changes the threshold itself: the caller shows the
suggestion and the user decides.

The estimate is reproducible: the pilot's candidates come from a fixed random stream, so one
input, method and threshold always give the same preflight. Only the time estimate is measured
(the pilot's cost per candidate, spread over the worker threads); :meth:`Preflight.reproducible`
drops it, for records that must not change between reruns (the run manifest).

When a run has failed, :func:`rerun_threshold` turns the failed scenarios' best scores into a
threshold at which a rerun completes (see its notes).

What it cannot see: the pilot is a small sample from one fixed random stream. Its estimate of
the acceptance rate is unbiased but wide (24 candidates of which half pass give a 95 % interval
of 31-69 %), which is why the verdict reads the interval and why the pilot is extended to
:data:`PREFLIGHT_MAX_CANDIDATES` candidates when fewer than three of its own pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from pipeline.core.blocks import PILOT_SEED

__all__ = [
    "TARGET_ACCEPTANCE",
    "PREFLIGHT_MAX_CANDIDATES",
    "SLOW_ATTEMPTS",
    "Preflight",
    "preflight",
    "estimate",
    "rerun_threshold",
]

#: Acceptance rate a suggested threshold aims at (about four attempts per scenario).
TARGET_ACCEPTANCE = 0.25
#: Most candidates the preflight scores when the pilot's own are too few to judge.
PREFLIGHT_MAX_CANDIDATES = 96
#: Expected attempts per scenario above which a run is called slow.
SLOW_ATTEMPTS = 10.0


def _wilson(passed: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = passed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _expected_attempts(p: float, max_attempts: int) -> float:
    if p <= 0:
        return float(max_attempts)
    return (1 - (1 - p) ** max_attempts) / p


def _p_run_fails(p: float, max_attempts: int, n_samples: int) -> float:
    miss = (1 - p) ** max_attempts
    # 1 - (1 - miss)^N without cancellation when miss is tiny.
    return float(-math.expm1(n_samples * math.log1p(-miss))) if miss < 1 else 1.0


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Preflight:
    """The preflight's estimate for a run; see the module notes.

    Attributes
    ----------
    min_fidelity, n_samples, max_attempts
        The run's settings.
    n_pilot, passed : int
        Pilot candidates scored and how many reached ``min_fidelity``.
    acceptance, acceptance_low, acceptance_high : float
        Estimated acceptance rate and its 95 % interval.
    median_fidelity : float
        Median fidelity of the pilot candidates.
    expected_attempts : float
        Expected attempts per scenario.
    expected_candidates : float
        Expected candidates for the whole run.
    p_run_fails : float
        Chance that at least one scenario exhausts ``max_attempts`` (at the point estimate).
    p_run_fails_high : float
        The same at the interval's lower acceptance (the pessimistic case).
    suggested_min_fidelity : float or None
        A threshold :data:`TARGET_ACCEPTANCE` of the pilot candidates reach, offered when the
        verdict is not ``ok``.
    verdict : {"ok", "slow", "may_fail", "will_fail"}
    message : str
        The estimate in one paragraph for people.
    seconds_per_candidate : float or None
        Measured cost of one candidate on one core, when the caller knows it (measured, so not
        reproducible; see :meth:`reproducible`).
    threads : int
        Worker threads the run's candidates are spread over (for the time estimate).
    """

    min_fidelity: float
    n_samples: int
    max_attempts: int
    n_pilot: int
    passed: int
    acceptance: float
    acceptance_low: float
    acceptance_high: float
    median_fidelity: float
    expected_attempts: float
    expected_candidates: float
    p_run_fails: float
    p_run_fails_high: float
    suggested_min_fidelity: float | None
    verdict: str
    message: str
    seconds_per_candidate: float | None = None
    threads: int = 1

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def expected_seconds(self) -> float | None:
        """Expected time of the run's candidates on ``threads`` threads, when the candidate
        cost is known."""
        if self.seconds_per_candidate is None:
            return None
        return self.expected_candidates * self.seconds_per_candidate / max(1, self.threads)

    def reproducible(self) -> Preflight:
        """The same estimate without the measured time (identical whenever it is recomputed)."""
        if self.seconds_per_candidate is None and self.threads == 1:
            return self
        plain = replace(self, seconds_per_candidate=None, threads=1)
        return replace(plain, message=_message(plain))

    def to_dict(self) -> dict:
        """JSON-ready fields (rounded; the time estimate only when measured)."""
        out = {
            "min_fidelity": self.min_fidelity,
            "n_samples": self.n_samples,
            "max_attempts": self.max_attempts,
            "pilot_candidates": self.n_pilot,
            "pilot_passed": self.passed,
            "acceptance": round(self.acceptance, 4),
            "acceptance_interval": [round(self.acceptance_low, 4),
                                    round(self.acceptance_high, 4)],
            "median_fidelity": round(self.median_fidelity, 3),
            "expected_attempts": round(self.expected_attempts, 2),
            "expected_candidates": round(self.expected_candidates, 1),
            "p_run_fails": round(self.p_run_fails, 4),
            "p_run_fails_high": round(self.p_run_fails_high, 4),
            "suggested_min_fidelity": self.suggested_min_fidelity,
            "verdict": self.verdict,
            "message": self.message,
        }
        if self.seconds_per_candidate is not None:
            out["expected_seconds"] = round(self.expected_seconds, 2)
            out["threads"] = self.threads
        return out


def _suggest(scores: np.ndarray, target: float) -> float:
    """Highest threshold, in steps of 0.5, that ``target`` of ``scores`` reach."""
    k = max(1, math.ceil(target * scores.size))
    kth = float(np.sort(scores)[::-1][k - 1])
    return math.floor(kth * 2) / 2


def _message(pf: Preflight) -> str:
    text = (f"About {100 * pf.acceptance:.0f} % of candidates reach fidelity "
            f"{pf.min_fidelity:g} (95 % interval {100 * pf.acceptance_low:.0f}-"
            f"{100 * pf.acceptance_high:.0f} %, from {pf.n_pilot} pilot candidates; their median "
            f"fidelity is {pf.median_fidelity:.1f}): about {pf.expected_attempts:.1f} attempts "
            f"per scenario, {pf.expected_candidates:,.0f} candidates for {pf.n_samples:,} "
            "scenarios")
    seconds = pf.expected_seconds
    if seconds is not None:
        where = "one core" if pf.threads == 1 else f"{pf.threads} worker threads"
        text += f" ({_duration(seconds)} on {where})"
    text += "."
    if pf.verdict == "will_fail":
        text += (f" The run will most likely fail: the chance that some scenario finds no "
                 f"candidate within max_attempts={pf.max_attempts} is "
                 f"{100 * pf.p_run_fails:.0f} %.")
    elif pf.verdict == "may_fail":
        text += (f" The run may fail: at the low end of the interval, the chance that some "
                 f"scenario finds no candidate within max_attempts={pf.max_attempts} is "
                 f"{100 * pf.p_run_fails_high:.0f} %.")
    elif pf.verdict == "slow":
        text += f" That is slow: more than {SLOW_ATTEMPTS:g} attempts per scenario."
    suggestion = pf.suggested_min_fidelity
    if suggestion is not None:
        text += (f" A threshold of {suggestion:g} is reached by about "
                 f"{100 * TARGET_ACCEPTANCE:.0f} % of candidates (min_fidelity: {suggestion:g}).")
    return text


def estimate(scores: np.ndarray, min_fidelity: float, n_samples: int, max_attempts: int,
             *, seconds_per_candidate: float | None = None, threads: int = 1) -> Preflight:
    """The preflight from pilot fidelities ``scores`` (no candidates are drawn here)."""
    scores = np.asarray(scores, dtype=float)
    n = int(scores.size)
    passed = int(np.sum(scores >= min_fidelity))
    p = passed / n if n else 0.0
    low, high = _wilson(passed, n)
    attempts = _expected_attempts(p, max_attempts)
    fails, fails_high = _p_run_fails(p, max_attempts, n_samples), _p_run_fails(low, max_attempts,
                                                                               n_samples)
    if fails > 0.5:
        verdict = "will_fail"
    elif fails_high > 0.05:
        verdict = "may_fail"
    elif attempts > SLOW_ATTEMPTS:
        verdict = "slow"
    else:
        verdict = "ok"
    suggestion = None
    if verdict != "ok" and n:
        candidate = _suggest(scores, TARGET_ACCEPTANCE)
        suggestion = candidate if candidate < min_fidelity else None
    pf = Preflight(
        min_fidelity=float(min_fidelity), n_samples=int(n_samples),
        max_attempts=int(max_attempts), n_pilot=n, passed=passed, acceptance=p,
        acceptance_low=low, acceptance_high=high,
        median_fidelity=float(np.median(scores)) if n else float("nan"),
        expected_attempts=attempts, expected_candidates=n_samples * attempts,
        p_run_fails=fails, p_run_fails_high=fails_high, suggested_min_fidelity=suggestion,
        verdict=verdict, message="", seconds_per_candidate=seconds_per_candidate,
        threads=max(1, int(threads)),
    )
    return replace(pf, message=_message(pf))


def preflight(model, min_fidelity: float, n_samples: int, max_attempts: int, *,
              seconds_per_candidate: float | None = None, threads: int = 1) -> Preflight:
    """The preflight of a run of ``model`` (a :class:`~pipeline.core.sampler.GenerationModel`).

    Uses the block pilot's candidates at the model's block size; when fewer than three of them
    pass, more are drawn from the same fixed stream, up to :data:`PREFLIGHT_MAX_CANDIDATES`.
    ``seconds_per_candidate`` (one core) and ``threads`` give the time estimate.
    """
    choice = model.block_choice
    scores = np.asarray(choice.pilot_scores if choice is not None else (), dtype=float)
    if np.sum(scores >= min_fidelity) < 3 and scores.size < PREFLIGHT_MAX_CANDIDATES:
        extra = model.evaluate_first_attempts(PILOT_SEED, scores.size, PREFLIGHT_MAX_CANDIDATES)
        scores = np.concatenate([scores, *(c.scores for c in extra)])
    return estimate(scores, min_fidelity, n_samples, max_attempts,
                    seconds_per_candidate=seconds_per_candidate, threads=threads)


def rerun_threshold(failed_best: Iterable[float], min_fidelity: float) -> float | None:
    """The highest threshold (in steps of 0.1) at which a rerun of a failed run completes.

    Parameters
    ----------
    failed_best : iterable of float
        The best fidelity each failed scenario reached within ``max_attempts``.
    min_fidelity : float
        The threshold the run failed at.

    Returns
    -------
    float or None
        The failed scenarios' lowest best score, rounded down; None when no scenario failed.

    Notes
    -----
    A rerun with the same seed and ``max_attempts`` scores the same candidates. At a threshold
    no higher than every failed scenario's best score, each of them has a passing attempt, and
    every accepted scenario keeps one (its accepted attempt still passes): the rerun cannot
    fail. Above the lowest best score, that scenario fails again, whatever the preflight
    expects; only more ``max_attempts`` can change that.
    """
    best = [float(b) for b in failed_best if math.isfinite(float(b))]
    if not best:
        return None
    out = math.floor(round(min(best) * 10, 6)) / 10
    return out if out < min_fidelity else None
