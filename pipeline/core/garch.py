"""GARCH-filtered bootstrap: new conditional-volatility paths from resampled standardized residuals.

A volatility model is fitted once per input with :mod:`arch` (quasi-maximum likelihood):

=============  =====================================================================================
``garch``      ``s2_t = omega + alpha e2_{t-1} + beta s2_{t-1}``
``gjr``        ``s2_t = omega + (alpha + gamma 1[e_{t-1} < 0]) e2_{t-1} + beta s2_{t-1}``
``egarch``     ``log s2_t = omega + alpha (|z_{t-1}| - sqrt(2/pi)) + gamma z_{t-1} + beta log s2_{t-1}``
=============  =====================================================================================

with ``r_t = mu + e_t``, ``e_t = s_t z_t``. The fit's standardized residuals ``z_t = (r_t - mu) / s_t``
are what is resampled (in blocks, so what dependence the filter left in them survives), and each
candidate runs them back through the fitted recursion: the volatility path is *new*, driven by
the order in which shocks arrive, rather than a reshuffle of the original's volatility.

**Stationarity under the resampled shocks.** The recursion's persistence depends on the moments
of the shocks that drive it, and the resampled residuals are the data's own, not the
likelihood's symmetric ones: on the S&P 500 sample ``E[z2 1(z < 0)]`` is 0.56, not 0.5, which
lifts GJR's persistence from 0.982 to 0.992. The fit is accepted only if the persistence under
the empirical residuals, ``beta + alpha E[z2] + gamma E[z2 1(z<0)]``, is below one. (Resetting
``omega`` to target the sample variance was tried: it matches the *mean* variance across
scenarios but, near a unit root, pulls the *median* scenario's volatility 25 % below the
input's, so the fitted ``omega`` is kept.)

Because ``sign(e) = sign(z)`` and ``s > 0``, the GARCH and GJR recursions are linear in ``s2`` with a
time-varying coefficient, ``s2_t = omega + a_t s2_{t-1}`` with ``a_t = beta + (alpha + gamma
1[z_{t-1} < 0]) z2_{t-1}``; EGARCH is linear in ``log s2`` with the constant coefficient ``beta``
(a first-order IIR filter). Both are evaluated for a whole batch at once.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from pipeline.errors import ConfigError, InputDataError

__all__ = [
    "GARCH_VOLS", "GARCH_DISTS", "GarchFit", "fit_garch", "intraday_profile", "simulate_garch",
    "volume_elasticity", "forecast_variance"]

GARCH_VOLS = ("garch", "gjr", "egarch")
GARCH_DISTS = ("normal", "t", "skewt")
#: Returns are fitted in percent: arch's optimizer is tuned for values of order one.
_SCALE = 100.0
_ARCH_DIST = {"normal": "normal", "t": "studentst", "skewt": "skewstudent"}


@dataclass(frozen=True, eq=False)
class GarchFit:
    """A fitted volatility model and the input's filtered series (returns in percent).

    Attributes
    ----------
    vol, dist : str
        Model and error distribution of the fit.
    mu, omega, alpha, gamma, beta : float
        Parameters (``gamma`` is 0 for plain GARCH).
    params : dict
        All fitted parameters as arch names them (including the distribution's).
    std_resid : ndarray, shape (n,)
        Standardized residuals ``z_t``, one per component row.
    sigma : ndarray, shape (n,)
        Conditional volatility ``s_t`` of the input, in percent (of the deseasonalized returns
        when ``seasonal`` is set).
    seasonal : ndarray, shape (n,), optional
        Intraday bars: each row's time-of-day volatility factor (the mean ``|r|`` of its slot
        of the day over the overall mean). The model is fitted to ``r / seasonal`` and
        simulated returns are multiplied back by the matched row's factor.
    unmoved : ndarray of bool, shape (n,), optional
        Rows whose close equals the previous close; a simulated bar matched to one keeps a
        zero return. None when there are none.
    """

    vol: str
    dist: str
    mu: float
    omega: float
    alpha: float
    gamma: float
    beta: float
    params: dict
    std_resid: np.ndarray
    sigma: np.ndarray
    seasonal: np.ndarray | None = None
    unmoved: np.ndarray | None = None

    @property
    def persistence(self) -> float:
        """Persistence under the resampled residuals: ``beta + alpha E[z2] + gamma E[z2 1(z<0)]``
        (GARCH/GJR) or ``beta`` (EGARCH)."""
        return _persistence(self.vol, self.alpha, self.gamma, self.beta, self.std_resid)

    def __repr__(self) -> str:
        return (f"GarchFit(vol={self.vol!r}, dist={self.dist!r}, mu={self.mu:.4g}, "
                f"omega={self.omega:.4g}, alpha={self.alpha:.4g}, gamma={self.gamma:.4g}, "
                f"beta={self.beta:.4g})")


def _persistence(vol: str, alpha: float, gamma: float, beta: float, z: np.ndarray) -> float:
    if vol == "egarch":
        return beta
    z2 = z * z
    return float(beta + alpha * z2.mean() + gamma * (z2 * (z < 0)).mean())


def intraday_profile(log_returns: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Each row's time-of-day volatility factor: its slot's mean ``|r|`` over the overall mean.

    Slots with fewer than ten rows get 1 (too few to estimate).
    """
    a = np.abs(np.asarray(log_returns, dtype=float))
    phase = np.asarray(phase)
    slots = int(phase.max()) + 1
    count = np.bincount(phase, minlength=slots)
    total = np.bincount(phase, weights=a, minlength=slots)
    overall = a.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(count >= 10, total / np.maximum(count, 1) / overall, 1.0)
    factor = np.where(np.isfinite(factor) & (factor > 0), factor, 1.0)
    return factor[phase]


def _unmoved(log_returns: np.ndarray) -> np.ndarray | None:
    flat = np.asarray(log_returns) == 0.0
    return flat if flat.any() else None


def fit_garch(log_returns: np.ndarray, vol: str = "garch", dist: str = "normal", *,
              phase: np.ndarray | None = None) -> GarchFit:
    """Fit a constant-mean volatility model to log-returns.

    Parameters
    ----------
    log_returns : ndarray, shape (n,)
    vol : {"garch", "gjr", "egarch"}
        GARCH(1,1), GJR-GARCH(1,1,1) or EGARCH(1,1,1).
    dist : {"normal", "t", "skewt"}
        Error distribution of the likelihood. The residuals are resampled whatever it is, so it
        only changes the estimates (normal QML is consistent under fat tails).
    phase : ndarray of int, shape (n,), optional
        Intraday bars: each row's slot of the day. The model is then fitted to returns divided
        by their slot's volatility factor (:func:`intraday_profile`; Andersen & Bollerslev
        1997): a GARCH(1,1) cannot follow a daily cycle, and fitted to raw hourly returns it
        mistakes every busy hour for a volatility shock.

    Raises
    ------
    ConfigError
        Unknown ``vol`` or ``dist``.
    InputDataError
        The optimizer did not converge, or the fit is not stationary (its volatility would
        explode when simulated); the message says what was found and what to try.
    """
    from arch import arch_model

    if vol not in GARCH_VOLS:
        raise ConfigError(f"generation.garch.vol: unknown model {vol!r}; allowed: "
                          f"{', '.join(GARCH_VOLS)}")
    if dist not in GARCH_DISTS:
        raise ConfigError(f"generation.garch.dist: unknown distribution {dist!r}; allowed: "
                          f"{', '.join(GARCH_DISTS)}")
    seasonal = None if phase is None else intraday_profile(log_returns, phase)
    r = np.asarray(log_returns, dtype=float) * _SCALE
    if seasonal is not None:
        r = r / seasonal
    if r.size < 100 or not np.all(np.isfinite(r)) or np.std(r) == 0:
        raise InputDataError(f"GARCH fit: needs at least 100 finite, varying returns "
                             f"(got {r.size})")
    spec = dict(mean="Constant", p=1, q=1, o=0 if vol == "garch" else 1,
                vol="EGARCH" if vol == "egarch" else "GARCH", dist=_ARCH_DIST[dist])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arch's convergence warnings: checked below instead
        try:
            res = arch_model(r, rescale=False, **spec).fit(
                disp="off", show_warning=False,
                # scipy's SLSQP stops at 100 iterations; an EGARCH likelihood can need more
                # (newer scipy releases reach the limit where older ones converged). A fit that
                # converges sooner stops sooner, so this changes no fit that converged before.
                options={"maxiter": _MAX_ITERATIONS})
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise InputDataError(f"GARCH fit ({vol}, {dist}) failed: {exc}. Try another "
                                 "generation.garch.vol or dist, or a bootstrap method.") from None
    values = {k: float(v) for k, v in res.params.items()}
    alpha, gamma, beta = values.get("alpha[1]", 0.0), values.get("gamma[1]", 0.0), values["beta[1]"]
    z = np.ascontiguousarray(np.asarray(res.std_resid, dtype=float))
    sigma = np.ascontiguousarray(np.asarray(res.conditional_volatility, dtype=float))
    fit = GarchFit(vol=vol, dist=dist, mu=values["mu"], omega=values["omega"], alpha=alpha,
                   gamma=gamma, beta=beta, params=values, std_resid=z, sigma=sigma,
                   seasonal=seasonal, unmoved=_unmoved(log_returns))
    if res.convergence_flag != 0:
        raise InputDataError(
            f"GARCH fit ({vol}, {dist}) did not converge (optimizer flag "
            f"{res.convergence_flag}: {res.optimization_result.message}). Try "
            "generation.garch.vol: gjr or egarch, dist: normal, or a bootstrap method.")
    if not (np.all(np.isfinite(fit.std_resid)) and np.all(fit.sigma > 0)):
        raise InputDataError(f"GARCH fit ({vol}, {dist}) produced non-finite residuals")
    if not fit.persistence < 1.0 or (vol != "egarch" and not fit.omega > 0):
        raise InputDataError(
            f"GARCH fit ({vol}, {dist}) is not stationary under the input's own residuals "
            f"(persistence {fit.persistence:.4f} >= 1, omega {fit.omega:.3g}): simulated "
            f"volatility would drift without bound. Try {_other_options(vol, dist)}, or a "
            "bootstrap method.")
    return fit


#: Iterations the GARCH likelihood's optimizer may take (scipy's SLSQP default is 100).
_MAX_ITERATIONS = 1000


def _other_options(vol: str, dist: str) -> str:
    """The settings to suggest after a non-stationary fit: those not already in use."""
    tries = [f"generation.garch.{key}: {value}"
             for key, value, used in (("vol", "egarch", vol), ("dist", "normal", dist))
             if used != value]
    return " or ".join(tries) if tries else "generation.garch.vol: gjr"


def forecast_variance(fit: GarchFit) -> float:
    """The fit's one-step-ahead conditional variance after its last row (percent squared).

    ``omega + (alpha + gamma 1[e_T < 0]) e_T^2 + beta s_T^2`` with ``e_T = s_T z_T`` (GARCH,
    GJR), or ``exp(omega + alpha (|z_T| - sqrt(2/pi)) + gamma z_T + beta log s_T^2)``
    (EGARCH): the variance of the first bar after the input's last, the state a scenario
    continuing the history starts from (deseasonalized when the fit is).
    """
    z, s = float(fit.std_resid[-1]), float(fit.sigma[-1])
    if fit.vol == "egarch":
        log_var = (fit.omega + fit.alpha * (abs(z) - math.sqrt(2.0 / math.pi))
                   + fit.gamma * z + fit.beta * math.log(s * s))
        return math.exp(log_var)
    e = s * z
    return fit.omega + (fit.alpha + fit.gamma * (e < 0)) * e * e + fit.beta * s * s


def simulate_garch(fit: GarchFit, indices: np.ndarray, start_variance: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Run resampled residuals through the fitted recursion.

    Parameters
    ----------
    fit : GarchFit
    indices : ndarray of int, shape (batch, length)
        Component rows whose standardized residuals arrive at each step.
    start_variance : float, optional
        The conditional variance of every candidate's first step (percent squared), e.g.
        :func:`forecast_variance` for scenarios that continue the input. None starts each
        candidate at the input's fitted volatility of the first row it draws.

    Returns
    -------
    log_returns : ndarray, shape (batch, length)
    sigma : ndarray, shape (batch, length)
        Conditional volatility of each step (percent; deseasonalized when the fit is), to scale
        the matched bars' ranges against ``fit.sigma`` of the same rows.
    """
    z = np.take(fit.std_resid, indices)
    batch, length = z.shape
    s0 = (np.take(fit.sigma, indices[:, 0]) if start_variance is None
          else np.full(batch, math.sqrt(start_variance)))
    if fit.vol == "egarch":
        c = math.sqrt(2.0 / math.pi)
        drive = fit.omega + fit.alpha * (np.abs(z[:, :-1]) - c) + fit.gamma * z[:, :-1]
        h0 = np.log(s0 * s0)
        # h_t = drive_t + beta h_{t-1}: one IIR filter per row, started from h_0.
        h_rest, _ = lfilter([1.0], [1.0, -fit.beta], drive, axis=1, zi=(fit.beta * h0)[:, None])
        sigma = np.exp(0.5 * np.concatenate([h0[:, None], h_rest], axis=1))
    else:
        # Time runs down the rows of a (length, batch) array so each step touches contiguous
        # memory; the loop is over time, vectorized over the batch.
        zt = np.ascontiguousarray(z.T)
        coef = zt * zt
        coef *= fit.alpha + fit.gamma * (zt < 0)
        coef += fit.beta
        s2 = np.empty_like(zt)
        s2[0] = s0 * s0
        omega = fit.omega
        for t in range(1, length):
            np.multiply(coef[t - 1], s2[t - 1], out=s2[t])
            s2[t] += omega
        sigma = np.sqrt(s2).T
    # A runaway path (extreme residual streaks in a near-unit-root fit) is capped so prices
    # stay finite; it then scores far from the original and is rejected.
    np.minimum(sigma, 1e6, out=sigma)
    returns = (fit.mu + sigma * z) / _SCALE
    if fit.seasonal is not None:
        # The matched row's slot of the day (joins keep slots in order) sets its factor.
        returns *= np.take(fit.seasonal, indices)
    if fit.unmoved is not None:
        # A bar on which the input's close did not move stays unmoved: its tick was too coarse
        # for the day's volatility (a third of Microsoft's daily closes before 1995), and
        # continuous returns in their place gave GARCH scenarios away to the classifier.
        returns[np.take(fit.unmoved, indices)] = 0.0
    return returns, sigma


def volume_elasticity(fit: GarchFit, abnormal_log_volume: np.ndarray) -> float:
    """Least-squares slope of detrended log-volume on the fit's log conditional volatility.

    How much more (in log units) the input traded when its volatility was ``e`` times higher;
    the GARCH-filtered bootstrap moves a matched bar's volume by it. 0 when undefined.
    """
    x = np.log(np.asarray(fit.sigma, dtype=float))
    y = np.asarray(abnormal_log_volume, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return 0.0
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    var = float(x @ x)
    return float(x @ y / var) if var > 0 else 0.0
