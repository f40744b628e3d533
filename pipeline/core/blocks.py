"""Automatic block size for the block bootstraps.

The block size is chosen by the Politis–White (2004) rule with the Patton–Politis–White (2009)
correction, the same estimator as :func:`arch.bootstrap.optimal_block_length` (the reference the
tests compare against), applied to the **squared** close log-returns.

Why squared returns: daily returns are nearly uncorrelated, so the rule applied to the returns
themselves picks short blocks (about 9 bars on the S&P 500 sample). Short blocks cut the long
volatility clusters that the fidelity score checks (``vol_clustering``, ``arch_lm_p``,
``vol_persistence``, ``hurst``). Squared returns carry that dependence, so their optimal block
keeps it. Their estimate is then clamped to ``[MIN_AUTO_BLOCK, sqrt(n)]``: the lower bound keeps
some dependence even for nearly iid inputs, the upper one keeps enough distinct blocks in a series
for scenarios to differ (at least ``sqrt(n)`` blocks per series of the input's length).
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.errors import ConfigError

__all__ = ["MIN_AUTO_BLOCK", "politis_white_block_length", "auto_block_size", "resolve_block_size"]

MIN_AUTO_BLOCK = 5


def politis_white_block_length(x: np.ndarray) -> tuple[float, float]:
    """Optimal block length for the stationary and the circular bootstrap.

    Parameters
    ----------
    x : ndarray
        One-dimensional series.

    Returns
    -------
    stationary : float
        Optimal expected block length of the stationary bootstrap (NaN for a constant ``x``).
    circular : float
        Optimal block length of the circular (and moving) block bootstrap (NaN likewise).

    Notes
    -----
    The tuning parameter ``m`` is the first lag after which ``k_n = max(5, log10(n))`` consecutive
    autocorrelations lie inside ``±2 sqrt(log10(n)/n)``; the flat-top lag window then gives

    .. math:: b = \\left(\\frac{2 g^2}{d} n\\right)^{1/3}

    with ``d = 2 sigma^4`` (stationary) or ``4/3 sigma^4`` (circular). Both are capped at
    ``min(3 sqrt(n), n/3)``.

    References
    ----------
    .. [1] Politis, D. N. & White, H. (2004). Automatic Block-Length Selection for the Dependent
       Bootstrap. Econometric Reviews, 23(1), 53-70.
    .. [2] Patton, A., Politis, D. N. & White, H. (2009). Correction to "Automatic Block-Length
       Selection for the Dependent Bootstrap". Econometric Reviews, 28(4), 372-375.
    """
    x = np.asarray(x, dtype=float)
    nobs = x.shape[0]
    eps = x - x.mean()
    b_max = math.ceil(min(3 * math.sqrt(nobs), nobs / 3))
    kn = max(5, int(math.log10(nobs)))
    m_max = int(math.ceil(math.sqrt(nobs))) + kn
    cv = 2 * math.sqrt(math.log10(nobs) / nobs)

    lags = np.arange(m_max + 1)
    cross = np.array([eps[i:] @ eps[: nobs - i] for i in lags])
    acv = cross / nobs
    # Autocorrelation normalised by the two overlapping segments, as in the reference.
    sq = np.concatenate([[0.0], np.cumsum(eps**2)])
    v1 = sq[-1] - sq[lags + 1]  # sum of eps[i+1:]**2
    v2 = sq[nobs - lags - 1]  # sum of eps[:-(i+1)]**2
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_acorr = np.abs(cross) / np.sqrt(v1 * v2)

    opt_m = None
    for i in range(kn, m_max + 1):
        if np.all(abs_acorr[i - kn : i] < cv):
            opt_m = i - kn
            break
    m = 2 * max(opt_m, 1) if opt_m is not None else m_max
    m = min(m, m_max)

    k = np.arange(1, m + 1)
    lam = np.where(k / m <= 0.5, 1.0, 2 * (1 - k / m))
    g = float(np.sum(2 * lam * k * acv[1 : m + 1]))
    lr_acv = float(acv[0] + np.sum(2 * lam * acv[1 : m + 1]))
    if lr_acv == 0:
        # A constant series (squared returns of a flat or evenly alternating price) has no
        # dependence to measure; callers treat NaN as "no estimate".
        return math.nan, math.nan
    b_sb = ((2 * g**2) / (2 * lr_acv**2)) ** (1 / 3) * nobs ** (1 / 3)
    b_cb = ((2 * g**2) / (4 / 3 * lr_acv**2)) ** (1 / 3) * nobs ** (1 / 3)
    return min(b_sb, b_max), min(b_cb, b_max)


def auto_block_size(log_returns: np.ndarray, method: str = "stationary") -> int:
    """The engine's automatic block size for ``method``, from the close log-returns.

    Parameters
    ----------
    log_returns : ndarray
        Close log-returns of the input.
    method : {"stationary", "circular", "moving", "iid"}
        Bootstrap method; ``iid`` always gets 1.

    Returns
    -------
    int
        Politis–White on squared returns, rounded and clamped to ``[MIN_AUTO_BLOCK, sqrt(n)]``.
    """
    if method == "iid":
        return 1
    r = np.asarray(log_returns, dtype=float)
    b_sb, b_cb = politis_white_block_length(r**2)
    # Fixed-length blocks (circular, moving) take the circular-bootstrap estimate; the others
    # draw geometric blocks like the stationary bootstrap.
    raw = b_cb if method in ("circular", "moving") else b_sb
    upper = max(MIN_AUTO_BLOCK, int(math.sqrt(r.shape[0])))
    if not np.isfinite(raw):
        return upper
    return int(min(max(round(raw), MIN_AUTO_BLOCK), upper))


def resolve_block_size(block_size: int | str, log_returns: np.ndarray, method: str) -> int:
    """Turn a configured ``block_size`` (``"auto"`` or a positive int) into an int.

    Raises
    ------
    ConfigError
        If ``block_size`` is neither ``"auto"`` nor an int in ``[1, n]``.
    """
    n = int(np.asarray(log_returns).shape[0])
    if method == "iid":
        return 1
    if isinstance(block_size, str):
        if block_size.strip().lower() == "auto":
            return auto_block_size(log_returns, method)
        raise ConfigError(f"block_size: expected 'auto' or a positive integer, got {block_size!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
        raise ConfigError(f"block_size: expected 'auto' or a positive integer, got {block_size!r}")
    if not 1 <= int(block_size) <= n:
        raise ConfigError(
            f"block_size: {block_size} is out of range; it must be between 1 and the number of "
            f"returns in the input ({n})"
        )
    return int(block_size)
