"""Timestamps as real exports write them: 12-hour clocks, dotted day-first dates, explicit
formats and UTC offsets.

:mod:`pipeline.io.readers` parses time columns; the text forms that pandas does not read on its
own, or reads ambiguously, are rewritten here into ISO 8601 first:

* **12-hour clocks** -- ``2019-10-17 09-AM`` (CryptoDataDownload), ``2019-10-17 9:00 PM``,
  ``10/17/2019 09 PM``: the hour is converted to 24 hours and the rest of the cell kept;
* **dotted dates** -- ``01.01.2017 22:00:00.000`` (Dukascopy, MetaTrader, most European
  exports): always day first, as every source that writes dots does;
* **an explicit format** -- ``date_format="%d.%m.%Y %H:%M"`` (``strftime`` codes) when
  detection is not enough; cells that do not match it are unparseable, never guessed.

UTC offsets (``+02:00``, ``Z``) are converted to UTC and dropped. A column where some
timestamps carry an offset and others do not is refused: their order cannot be known.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import pandas as pd

from pipeline.errors import InputDataError

__all__ = ["TimeText", "check_offsets", "parse_text", "parse_with_format", "prepare_time_text"]

_AMPM = r"\s*-?\s*(?P<p>[AaPp])\.?[Mm]\.?"
_CLOCK12 = r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2}(?:\.\d+)?))?" + _AMPM
_TWELVE_HOUR = re.compile(r"^(?:(?P<day>.*?\d)[ T]+)?" + _CLOCK12 + r"$")
_DOTTED = re.compile(r"^(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4})(?P<rest>(?:[ T].*)?)$")
_ENDS_AMPM = re.compile(r"[AaPp]\.?[Mm]\.?$")
_OFFSET_TAIL = re.compile(r"(?:Z|UTC|GMT|[+-]\d\d:?\d\d)$")


@dataclass(frozen=True)
class TimeText:
    """Time cells rewritten for parsing, and how they were written (for the read report)."""

    text: pd.Series
    how: str  # "" (left as written), "12-hour clock" or "day-first dotted dates"
    dayfirst: bool = False  # dotted dates: parse day first, without guessing


def _twelve_hour(text: pd.Series) -> pd.Series | None:
    parts = text.str.extract(_TWELVE_HOUR)
    if parts["h"].isna().any():
        return None
    hour = parts["h"].astype(int)
    if ((hour < 1) | (hour > 12)).any():
        return None
    hour = hour % 12 + parts["p"].str.lower().eq("p").astype(int) * 12
    clock = (hour.astype(str).str.zfill(2) + ":" + parts["m"].fillna("00") + ":"
             + parts["s"].fillna("00"))
    day = parts["day"].fillna("")
    return (day + " " + clock).str.strip()


def _dotted(text: pd.Series) -> bool:
    """Whether every cell is a dotted date (one cheap look at the first cell decides most)."""
    return bool(_DOTTED.match(text.iloc[0])) and bool(text.str.match(_DOTTED).all())


def prepare_time_text(text: pd.Series) -> TimeText:
    """Rewrite 12-hour clocks as 24-hour text; recognise dotted (day-first) dates.

    Parameters
    ----------
    text : pandas.Series of str
        The non-empty cells of a time column, stripped.

    Returns
    -------
    TimeText
        The cells to parse, and which rewrite was applied (``""`` when none applied to every
        cell: a rewrite is all or nothing, so one odd cell cannot change how the rest read).
    """
    if not len(text):
        return TimeText(text, "")
    if _ENDS_AMPM.search(text.iloc[0]) and text.str.contains(_ENDS_AMPM).all():
        rewritten = _twelve_hour(text)
        if rewritten is not None:
            if _dotted(rewritten):
                return TimeText(rewritten, "12-hour clock, day-first dotted dates", True)
            return TimeText(rewritten, "12-hour clock")
    if _DOTTED.match(text.iloc[0]) and _dotted(text):
        return TimeText(text, "day-first dotted dates", True)
    return TimeText(text, "")


def parse_with_format(text: pd.Series, date_format: str) -> pd.Series:
    """Parse ``text`` with one ``strftime`` format; cells that do not match become NaT.

    Raises
    ------
    InputDataError
        ``date_format`` is not a usable format (pandas rejects it).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
        except (ValueError, TypeError) as exc:
            raise InputDataError(
                f"date_format {date_format!r} is not a usable strftime format ({exc}); write it "
                "like '%Y-%m-%d %H:%M' or '%d.%m.%Y %I:%M %p'") from None


def check_offsets(text: pd.Series, column: str, label: str) -> list[str]:
    """The distinct UTC offsets written in a time column (at most three shown).

    Raises
    ------
    InputDataError
        Some timestamps carry an offset and others do not: as UTC and as local time they
        would interleave wrongly, so the reader refuses rather than guess.
    """
    if ":" not in text.iloc[0]:
        return []  # dates without a clock time carry no offset (and 01-08-2016 is no offset)
    # The last six characters hold any offset: short strings keep this fast on large files.
    tails = text.str[-6:]
    aware = tails.str.contains(_OFFSET_TAIL)
    if not aware.any():
        return []
    if not aware.all():
        first_naive = int((~aware).to_numpy().argmax())
        first_aware = int(aware.to_numpy().argmax())
        raise InputDataError(
            f"Cannot use {label!r} as OHLCV input: column {column!r} mixes timestamps with a "
            f"UTC offset ({int(aware.sum())}, e.g. {text.iloc[first_aware]!r}) and without one "
            f"({int((~aware).sum())}, e.g. {text.iloc[first_naive]!r}), so their order is "
            "unknown. Write every timestamp with its offset (e.g. 2024-01-31 09:30:00+01:00), "
            "or every one in the same local time without an offset.")
    offsets = {_OFFSET_TAIL.search(tail).group(0) for tail in tails[aware].unique()}
    return sorted(offsets)[:3]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([+-]\d{2}:?\d{2}|Z)?$")


def parse_text(text: pd.Series, date_format: str | None = None) -> tuple[pd.Series, str]:
    """Parse date strings; return them (UTC) and how they were read, for the read report.

    An explicit ``date_format`` is used as it is. Otherwise 12-hour clocks and dotted dates
    are rewritten as ISO 8601 (:mod:`pipeline.io.times`), ISO text is parsed strictly, and
    anything else is tried month-first and day-first, keeping the better reading.
    """
    if date_format is not None:
        return parse_with_format(text, date_format), f"date_format {date_format!r}"
    prepared = prepare_time_text(text)
    text = prepared.text
    if prepared.dayfirst:
        # Dotted dates are day first wherever they are written: one parse, no guessing.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(text, errors="coerce", utc=True, dayfirst=True)
        return parsed, prepared.how
    present = text.dropna()
    if len(present) and bool(present.str.match(_ISO_DATE).all()):
        # Year-first ISO dates are unambiguous: one strict parse instead of two guesses
        # (about 4 s saved on a 1,000,000-row file).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
            except (ValueError, TypeError, OverflowError):
                parsed = None
        if parsed is not None and not parsed[text.notna()].isna().any():
            return parsed, prepared.how or "ISO 8601"
    best: pd.Series | None = None
    best_key: tuple[int, int] | None = None
    how = ""
    for dayfirst in (False, True):
        with warnings.catch_warnings():
            # "Could not infer format" and dayfirst warnings are expected on messy input.
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(text, errors="coerce", utc=True, dayfirst=dayfirst)
            except (ValueError, TypeError, OverflowError):
                continue
        valid = parsed.dropna()
        # Fewest unparseable cells first, then a reading that is in time order (ascending or
        # descending) beats one that jumps around, which is how 01/02 vs 02/01 is decided.
        ordered = valid.is_monotonic_increasing or valid.is_monotonic_decreasing
        key = (int(parsed.isna().sum()), 0 if ordered else 1)
        if best_key is None or key < best_key:
            best, best_key = parsed, key
            how = "day first" if dayfirst else "month first"
    if best is None:
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]"), ""
    return best, prepared.how or how
