"""Exceptions and warnings of the Synthetic Market Engine, kept in one module.

The tree::

    SMEError                          base of every error the engine raises on purpose
    ├── InputDataError (ValueError)   a file or frame that cannot be used as OHLCV input;
    │                                 the message names the file, the column and the first
    │                                 offending rows
    ├── ConfigError (ValueError)      a bad configuration value; the message names the key
    │                                 and what is allowed
    └── FidelityNotReachedError       a scenario found no candidate above ``min_fidelity``
        (RuntimeError)                within ``max_attempts``; carries the best score
                                      reached, the attempts spent and (from the pipeline)
                                      where the accepted scenarios were kept

    SMEWarning (UserWarning)          base of every warning
    ├── DataRepairWarning             input rows were dropped or fixed (``repair=True``)
    ├── MissingVolumeWarning          input has no volume; volume metrics are skipped
    ├── SuspectDataWarning            input bars that look like bad ticks (a price spike
    │                                 that reverts the next bar) were kept
    └── PreflightWarning              the preflight expects a run to be slow or to fail at
                                      its threshold; the message suggests one that works
"""

from __future__ import annotations

__all__ = [
    "SMEError",
    "InputDataError",
    "ConfigError",
    "FidelityNotReachedError",
    "SMEWarning",
    "DataRepairWarning",
    "MissingVolumeWarning",
    "SuspectDataWarning",
    "PreflightWarning",
]


class SMEError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputDataError(SMEError, ValueError):
    """Input that cannot be used as OHLCV data.

    The message says which file (or ``<DataFrame>``), which column and which rows, and what to fix.
    """


class ConfigError(SMEError, ValueError):
    """A configuration value that is unknown or out of range; the message names the key."""


class FidelityNotReachedError(SMEError, RuntimeError):
    """No candidate reached ``min_fidelity`` within ``max_attempts``.

    Parameters
    ----------
    message : str
        What happened and what to try.
    best_score : float
        The best fidelity score reached by any attempt (over all failed scenarios).
    attempts : int
        Candidates evaluated for the failed scenarios, in total.
    failed_scenarios : list of int
        The scenario numbers that found no acceptable candidate.
    output_path : str, optional
        Where the accepted scenarios were written, with a manifest marked ``partial`` (the
        batch pipeline); None when nothing was kept (``SyntheticDataFactory.generate``). It
        is kept out of the message, which may be shown to people who must not see server
        paths.
    accepted : int
        Scenarios that were accepted and kept.
    suggested_min_fidelity : float, optional
        A threshold at which a rerun completes
        (:func:`pipeline.core.preflight.rerun_threshold`).
    """

    def __init__(
        self,
        message: str,
        *,
        best_score: float,
        attempts: int,
        failed_scenarios: list[int] | None = None,
        output_path: str | None = None,
        accepted: int = 0,
        suggested_min_fidelity: float | None = None,
    ) -> None:
        super().__init__(message)
        self.best_score = float(best_score)
        self.attempts = int(attempts)
        self.failed_scenarios = list(failed_scenarios or [])
        self.output_path = output_path
        self.accepted = int(accepted)
        self.suggested_min_fidelity = suggested_min_fidelity


class SMEWarning(UserWarning):
    """Base class of every warning the engine emits."""


class DataRepairWarning(SMEWarning):
    """Rows of the input were dropped or fixed because ``repair=True`` was asked for."""


class MissingVolumeWarning(SMEWarning):
    """The input has no volume column: series are generated without volume."""


class SuspectDataWarning(SMEWarning):
    """Input bars that look like bad ticks were kept; the scenarios will resample them."""


class PreflightWarning(SMEWarning):
    """The preflight expects the run to be slow or to fail at its ``min_fidelity``.

    The threshold is never changed: the message says what the pilot saw and suggests one.
    """
