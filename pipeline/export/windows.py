"""Fixed-length windows of per-bar features, the tensors ML models train on.

The features (:data:`FEATURES`) and their definitions are listed in :mod:`pipeline.export`.
:func:`window_tensors` cuts frames in memory; :func:`pipeline.export.export_npz` and
:func:`pipeline.export.export_tfrecord` cut a whole run, scenario by scenario, with the same
functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError, InputDataError
from pipeline.io.run import OHLC

__all__ = [
    "FEATURES",
    "DEFAULT_FEATURES",
    "WindowMeta",
    "window_tensors",
    "check_window",
    "check_features",
    "feature_lag",
    "scenario_features",
    "cut_windows",
    "scenario_windows",
]

#: Every window feature this module computes, in its canonical order.
FEATURES: tuple[str, ...] = (
    "log_return",
    "log_high_close",
    "log_low_close",
    "log_open_gap",
    "log1p_volume",
    "Open",
    "High",
    "Low",
    "Close",
    "Volume",
)
#: Features used when none are asked for (``log1p_volume`` only for series with volume).
DEFAULT_FEATURES: tuple[str, ...] = FEATURES[:5]

_LAGGED = frozenset({"log_return", "log_open_gap"})
_NEEDS_VOLUME = frozenset({"log1p_volume", "Volume"})


def feature_lag(names: Sequence[str]) -> int:
    """1 when a feature needs the previous close (bar 0 then has no row), else 0."""
    return 1 if _LAGGED.intersection(names) else 0




@dataclass(frozen=True)
class WindowMeta:
    """What each window of :func:`window_tensors` is.

    Attributes
    ----------
    scenario : ndarray of int64, shape (n_windows,)
        The scenario (series) each window comes from.
    start : ndarray of int64, shape (n_windows,)
        Position (0-based) in its series of the window's first bar.
    feature_names : tuple of str
        Names along the last axis of the windows.
    window : int
        Bars per window.
    stride : int
        Bars between the starts of consecutive windows of a series.
    """

    scenario: np.ndarray
    start: np.ndarray
    feature_names: tuple[str, ...]
    window: int
    stride: int


def check_window(window: Any, stride: Any) -> tuple[int, int]:
    """``(window, stride)`` as positive integers (the stride defaults to the window: windows
    that do not overlap); a ConfigError saying what to give otherwise."""
    try:
        w = int(window)
        st = w if stride is None else int(stride)
    except (TypeError, ValueError):
        raise ConfigError(f"window/stride: expected integers, got {window!r}, {stride!r}"
                          ) from None
    if w < 1 or w != window:
        raise ConfigError(f"window: expected an integer >= 1, got {window!r}")
    if st < 1 or (stride is not None and st != stride):
        raise ConfigError(f"stride: expected an integer >= 1, got {stride!r}")
    return w, st


def check_features(features: Sequence[str] | str | None) -> tuple[tuple[str, ...], bool]:
    """The asked-for features, and whether ``log1p_volume`` may be dropped (the default)."""
    if features is None:
        return DEFAULT_FEATURES, True
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    names = tuple(str(f) for f in features)
    if not names:
        raise ConfigError("features: expected at least one feature")
    unknown = [f for f in names if f not in FEATURES]
    if unknown:
        raise ConfigError(
            f"features: unknown feature(s) {', '.join(map(repr, unknown))}; "
            f"allowed values are {', '.join(FEATURES)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"features: repeated feature in {list(names)}")
    return names, False


def _resolve_features(names: tuple[str, ...], optional_volume: bool, has_volume: bool,
                      where: str) -> tuple[str, ...]:
    if has_volume:
        return names
    if optional_volume:
        return tuple(f for f in names if f not in _NEEDS_VOLUME)
    wanted = [f for f in names if f in _NEEDS_VOLUME]
    if wanted:
        raise InputDataError(
            f"{where}: feature(s) {', '.join(wanted)} need volume but the series has no Volume "
            "column; leave them out of features"
        )
    return names


def _feature_matrix(frame: pd.DataFrame, names: tuple[str, ...], where: str
                    ) -> tuple[np.ndarray, int]:
    """``(bars - lag, n_features)`` float64 features of ``frame``, and ``lag`` (0 or 1)."""
    lag = feature_lag(names)
    cols = {c: np.asarray(frame[c], dtype=np.float64) for c in frame.columns if c in FEATURES}
    close = cols["Close"]
    prev_close = close[:-1]
    cur = {c: v[lag:] for c, v in cols.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        compute = {
            "log_return": lambda: np.log(cur["Close"] / prev_close),
            "log_high_close": lambda: np.log(cur["High"] / cur["Close"]),
            "log_low_close": lambda: np.log(cur["Low"] / cur["Close"]),
            "log_open_gap": lambda: np.log(cur["Open"] / prev_close),
            "log1p_volume": lambda: np.log1p(cur["Volume"]),
        }
        columns = [compute[f]() if f in compute else cur[f] for f in names]
    values = np.stack(columns, axis=1) if columns else np.empty((len(close) - lag, 0))
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputDataError(
            f"{where}: feature {names[col]!r} is not finite at bar {row + lag} "
            "(prices must be > 0 and volume >= 0)"
        )
    return values, lag


def scenario_features(data: pd.DataFrame | Mapping[str, pd.DataFrame], names: tuple[str, ...],
                       optional_volume: bool, where: str
                       ) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """Features of one scenario (assets side by side): values, lag, feature names."""
    if isinstance(data, pd.DataFrame):
        frames: dict[str | None, pd.DataFrame] = {None: data}
    elif isinstance(data, Mapping) and data:
        frames = {str(a): data[a] for a in sorted(data, key=str)}
    else:
        raise InputDataError(f"{where}: expected a DataFrame or a non-empty {{asset: DataFrame}}")
    blocks, labels, lag, index = [], [], 0, None
    for asset, frame in frames.items():
        at = where if asset is None else f"{where}, asset {asset!r}"
        if not isinstance(frame, pd.DataFrame):
            raise InputDataError(f"{at}: expected a DataFrame, got {type(frame).__name__}")
        missing = [c for c in OHLC if c not in frame.columns]
        if missing:
            raise InputDataError(f"{at}: missing column(s) {', '.join(missing)}")
        if index is not None and not frame.index.equals(index):
            raise InputDataError(f"{at}: the assets of a scenario must share one time index")
        index = frame.index
        used = _resolve_features(names, optional_volume, "Volume" in frame.columns, at)
        values, lag = _feature_matrix(frame, used, at)
        blocks.append(values)
        labels.extend(used if asset is None else [f"{asset}:{f}" for f in used])
    return np.concatenate(blocks, axis=1), lag, tuple(labels)


def cut_windows(values: np.ndarray, lag: int, window: int, stride: int, where: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``window`` rows every ``stride`` rows of ``values`` (rows, features) as
    float32 (windows, window, features), and their start rows in the series, whose first ``lag``
    rows ``values`` leaves out; ``where`` names the series in the error a series shorter than
    one window gets."""
    usable = values.shape[0]
    if window > usable:
        extra = " that have every feature (bar 0 has no previous close)" if lag else ""
        raise ConfigError(
            f"window: {window} bars is longer than the {usable} bars of {where}{extra}; "
            "choose a smaller window"
        )
    starts = np.arange(0, usable - window + 1, stride, dtype=np.int64)
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (n, F, window)
    out = view[starts].transpose(0, 2, 1).astype(np.float32)  # copy, C-contiguous
    return out, starts + lag


def scenario_windows(scenarios: Iterable[tuple[int, Any]], window: int, stride: int,
                     names: tuple[str, ...], optional_volume: bool
                     ) -> Iterator[tuple[int, np.ndarray, np.ndarray, tuple[str, ...]]]:
    """Windows of series after series: ``(scenario, windows, starts, feature names)``.

    Parameters
    ----------
    scenarios : iterable of (int, DataFrame or {symbol: DataFrame})
        Scenario numbers and series, read lazily if the iterable is lazy.
    window, stride : int
        As checked by :func:`check_window`.
    names, optional_volume
        As returned by :func:`check_features`.

    Raises
    ------
    ConfigError, InputDataError
        As :func:`window_tensors`; series whose feature sets differ from the first's.
    """
    feature_names, first = None, None
    for k, data in scenarios:
        where = f"scenario {k}"
        values, lag, labels = scenario_features(data, names, optional_volume, where)
        if feature_names is not None and labels != feature_names:
            raise InputDataError(
                f"{where}: features {list(labels)} differ from scenario {first}'s "
                f"{list(feature_names)}"
            )
        feature_names, first = labels, first if first is not None else k
        out, starts = cut_windows(values, lag, window, stride, where)
        yield k, out, starts, labels


def _as_scenarios(frames: Any) -> list[tuple[int, Any]]:
    if isinstance(frames, pd.DataFrame):
        return [(1, frames)]
    if isinstance(frames, Mapping):
        if frames and all(isinstance(v, pd.DataFrame) for v in frames.values()) and not all(
            isinstance(k, int | np.integer) for k in frames
        ):
            return [(1, frames)]  # {asset: frame}: one multi-asset series
        try:
            return [(int(k), frames[k]) for k in frames]
        except (TypeError, ValueError):
            raise InputDataError("frames: mapping keys must be scenario numbers") from None
    if isinstance(frames, Sequence) and not isinstance(frames, str | bytes):
        return list(enumerate(frames, start=1))
    raise InputDataError(
        f"frames: expected a DataFrame, a sequence of them or {{scenario: DataFrame}}, got "
        f"{type(frames).__name__}"
    )


def window_tensors(
    frames: pd.DataFrame | Sequence[pd.DataFrame] | Mapping[int, pd.DataFrame],
    window: int,
    stride: int | None = None,
    features: Sequence[str] | None = None,
) -> tuple[np.ndarray, WindowMeta]:
    """Cut OHLCV series into fixed-length windows of per-bar features.

    Parameters
    ----------
    frames : DataFrame, sequence of DataFrames, or mapping of scenario number to DataFrame
        OHLCV series (columns ``Open, High, Low, Close[, Volume]``). A sequence is numbered from
        1 (as a run numbers its scenarios). A value may also be ``{symbol: DataFrame}`` for a
        multi-asset scenario whose assets share one time index.
    window : int
        Bars per window, >= 1.
    stride : int, optional
        Bars between the starts of consecutive windows of a series; default ``window``
        (non-overlapping windows). ``stride=1`` gives every window.
    features : sequence of str, optional
        Names from :data:`FEATURES`, in the order wanted along the last axis. Default
        :data:`DEFAULT_FEATURES`, where ``log1p_volume`` is left out for series without volume
        (asked for explicitly, a volume feature on such a series is an error).

    Returns
    -------
    windows : ndarray of float32, shape (n_windows, window, n_features)
        Windows of all series, series after series, each in order of ``start``.
    meta : WindowMeta
        ``scenario``, ``start`` (per window), ``feature_names``, ``window``, ``stride``.

    Raises
    ------
    ConfigError
        Bad ``window``/``stride``, unknown feature, or a window longer than a series.
    InputDataError
        A frame lacking OHLC columns, a volume feature asked for without volume, non-finite
        features (non-positive prices), or series whose feature sets differ.

    Notes
    -----
    Series ``k`` with ``n`` bars gives windows starting at bars ``lag, lag + stride, ...`` up to
    ``n - window``, where ``lag`` is 1 if a feature needs the previous close, else 0. Features
    are computed in float64 and then rounded to float32.
    """
    w, st = check_window(window, stride)
    names, optional_volume = check_features(features)
    tensors, scen, starts, feature_names = [], [], [], None
    for k, out, first, labels in scenario_windows(_as_scenarios(frames), w, st, names,
                                                  optional_volume):
        feature_names = labels
        tensors.append(out)
        scen.append(np.full(len(first), k, dtype=np.int64))
        starts.append(first)
    if feature_names is None:
        raise InputDataError("frames: no series given")
    meta = WindowMeta(np.concatenate(scen), np.concatenate(starts), feature_names, w, st)
    return np.concatenate(tensors), meta

