"""Which line is the header and which column is which field: detection, and explicit mapping.

:func:`~pipeline.io.readers.load_ohlcv` asks this module two questions about a table as
people download it.

**Where is the header?** (:func:`find_header`) Exports from exchanges and data sites often
start with a banner (``Created on 10-17-2019,https://...``) above the real header. The header
is the first of the first :data:`HEADER_SEARCH_LINES` lines that (a) has at least
:data:`MIN_FIELDS` fields under its own delimiter, (b) is mostly words, not numbers, and (c)
has as many fields as most of the lines right after it. The lines above it are skipped and
listed in the read report. ``skiprows=N`` overrides the detection.

**Which column is which field?** (:func:`find_layout`) Names are compared ignoring case, blanks,
``_``, ``-``, ``.`` and ``<>``. An explicit ``columns={"time": ..., "open": ...}`` mapping wins
for the fields it names; the rest are detected:

* time: a date-time column (``DateTime``, ``Timestamp``, ``dt``, ``Gmt time``, ``Local time``,
  ``Open time``), else ``Date`` + ``Time`` combined, else ``Date``, else ``Time``, else an
  unnamed first column of dates, else a DataFrame's ``DatetimeIndex``;
* prices: ``Open/High/Low/Close`` or ``o/h/l/c``; ``Adj Close`` is never used;
* volume, by this precedence (the first class present wins, and the report says which column
  was taken and which were passed over): (1) ``Volume``/``Vol``/``v`` as written; (2) quote
  volume: ``VolumeTo``, ``Quote volume``, ``Quote asset volume``, or ``Volume <currency>`` whose
  currency is the symbol's second one or a fiat/stable coin (USD, USDT, EUR, ...); (3) base
  volume: ``VolumeFrom``, ``Base volume``, or ``Volume <currency>`` otherwise (``volume_btc``);
  (4) traded value: ``Turnover``, ``Value``. Two candidates of one class are refused.
* a ``Symbol``/``Ticker``/``Pair`` column holding one symbol is set aside (the symbol is
  recorded); holding several, the table is refused with the ``layout: long`` option named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.errors import InputDataError

__all__ = [
    "FIELDS",
    "WIDE_FIELDS",
    "parse_wide_column",
    "HEADER_SEARCH_LINES",
    "MIN_FIELDS",
    "VOLUME_KINDS",
    "Layout",
    "check_read_options",
    "find_header",
    "find_layout",
    "normalize_name",
    "option_hint",
    "skip_banner",
]

#: Keys of an explicit ``columns`` mapping.
FIELDS = ("time", "open", "high", "low", "close", "volume")
#: How many lines from the top are searched for the header.
HEADER_SEARCH_LINES = 30
#: Fewest fields a header line may have: a time and four prices.
MIN_FIELDS = 5
#: Volume classes in order of precedence, as named in the read report.
VOLUME_KINDS = ("volume", "quote volume", "base volume", "turnover")

_PRICE_ALIASES = {
    "Open": ("open", "o"),
    "High": ("high", "h"),
    "Low": ("low", "l"),
    "Close": ("close", "c"),
}
_VOLUME_ALIASES = {
    "volume": ("volume", "vol", "v"),
    "quote volume": ("volumeto", "quotevolume", "volumequote", "quoteassetvolume"),
    "base volume": ("volumefrom", "basevolume", "volumebase", "baseassetvolume"),
    "turnover": ("turnover", "value", "tradedvalue"),
}
#: Currencies that are the quote side whenever they appear in ``Volume <currency>``.
_QUOTE_CURRENCIES = frozenset({"usd", "usdt", "usdc", "busd", "tusd", "dai", "eur", "gbp",
                               "jpy", "krw", "cny", "aud", "cad", "chf", "try", "rub"})
_VOLUME_CURRENCY = re.compile(r"^vol(?:ume)?(?P<cur>[a-z]{2,6})$")
_DATETIME_ALIASES = ("datetime", "timestamp", "dt", "gmttime", "localtime", "utctime",
                     "opentime")
_DATE_ALIASES = ("date",)
_TIME_ALIASES = ("time",)
_SYMBOL_ALIASES = ("symbol", "ticker", "pair")
_ADJ_CLOSE_ALIASES = ("adjclose", "adjustedclose")
_NUMBER = re.compile(r"^[+-]?[\d.,:/\s\-eE]+$")


def normalize_name(name: object) -> str:
    """A column name as compared: lower case, without blanks, ``_ - . < >``."""
    return re.sub(r"[\s_\-.<>]+", "", str(name).lower())


# --------------------------------------------------------------------------- options and hints


_OPTION_FORMS = {
    "columns": ("columns={{'{key}': '<column>'}}", "input.columns.{key}",
                "--column {key}=<column>", "columns={{\"{key}\": \"<column>\"}}"),
    "skiprows": ("skiprows={n}", "input.skiprows: {n}", "--skiprows {n}", "skiprows={n}"),
    "date_format": ("date_format='{fmt}'", "input.date_format: '{fmt}'",
                    "--date-format '{fmt}'", "date_format={fmt}"),
}


def option_hint(option: str, key: str = "", *, n: int | None = None,
                fmt: str = "%d.%m.%Y %H:%M") -> str:
    """How to pass a read option everywhere it exists, for refusal messages.

    ``option_hint("columns", "time")`` gives ``columns={'time': '<column>'} (YAML:
    input.columns.time, CLI: --column time=<column>, REST upload: columns={"time": ...})``.
    """
    python, yaml, cli, rest = (form.format(key=key, n="N" if n is None else n, fmt=fmt)
                               for form in _OPTION_FORMS[option])
    return f"{python} (YAML: {yaml}, CLI: {cli}, REST upload field: {rest})"


def check_read_options(columns: Mapping[str, Any] | None, skiprows: Any, date_format: Any,
                       label: str) -> dict[str, str]:
    """Validate the explicit read options; return the column mapping with lower-case keys.

    Raises
    ------
    InputDataError
        An unknown mapping key, a column name that is not a non-empty string, a negative or
        non-integer ``skiprows``, or a ``date_format`` without any ``%`` code.
    """
    mapping: dict[str, str] = {}
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise InputDataError(f"{label}: columns must be a mapping of field to column name, "
                                 f"e.g. {{'time': 'dt'}}; got {type(columns).__name__}")
        for key, value in columns.items():
            field_name = str(key).strip().lower()
            if field_name not in FIELDS:
                raise InputDataError(f"{label}: columns has an unknown key {key!r}; the keys "
                                     f"are {', '.join(FIELDS)}")
            if not isinstance(value, str) or not value.strip():
                raise InputDataError(f"{label}: columns.{field_name} must name a column of the "
                                     f"file, got {value!r}")
            mapping[field_name] = value
    if skiprows is not None and (isinstance(skiprows, bool) or not isinstance(skiprows, int)
                                 or skiprows < 0):
        raise InputDataError(f"{label}: skiprows must be a whole number of lines >= 0, got "
                             f"{skiprows!r}")
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
        raise InputDataError(f"{label}: date_format must be a strftime format such as "
                             f"'%d.%m.%Y %H:%M', got {date_format!r}")
    return mapping


# --------------------------------------------------------------------------- the header line


def _sniff(line: str) -> tuple[str, int]:
    counts = {sep: line.count(sep) for sep in ("\t", ";", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return (best, counts[best]) if counts[best] else (",", 0)


def _mostly_words(line: str, sep: str) -> bool:
    cells = [c.strip().strip('"') for c in line.split(sep)]
    filled = [c for c in cells if c]
    words = [c for c in filled if not _NUMBER.match(c)]
    return len(words) * 2 > len(filled)


def find_header(lines: Sequence[str]) -> int:
    """Index of the header among ``lines`` (the file's first lines); 0 when nothing better.

    A line is the header when it has at least :data:`MIN_FIELDS` fields, is mostly words,
    and most of the (up to five) non-empty lines after it have as many fields. The first
    line is preferred whenever it qualifies, so files without a banner read as before.
    """
    candidates = list(lines[:HEADER_SEARCH_LINES])
    for i, line in enumerate(candidates):
        sep, count = _sniff(line)
        if count + 1 < MIN_FIELDS or not _mostly_words(line, sep):
            continue
        after = [other for other in candidates[i + 1:] if other.strip()][:5]
        if not after:
            return i
        same = sum(other.count(sep) == count for other in after)
        if same * 2 > len(after):
            return i
    return 0


_BANNER_SHOWN = 120  # characters of a skipped line kept in the read report


def skip_banner(text: str, skiprows: int | None, label: str) -> tuple[str, list[str], int]:
    """Drop the lines above the header: ``skiprows`` of them, or those :func:`find_header`
    finds. Returns the rest of the text, the skipped lines (for the report) and their count."""
    skip = find_header(text[:1 << 16].splitlines()) if skiprows is None else skiprows
    if not skip:
        return text, [], 0
    pos = 0
    for _ in range(skip):  # by position, so a large file is not split into lines
        end = text.find("\n", pos)
        if end < 0:
            raise InputDataError(f"Cannot use {label!r} as OHLCV input: skiprows={skip} skips "
                                 "every line of the file; give the number of lines above the "
                                 "header row.")
        pos = end + 1
    banner = [line[:_BANNER_SHOWN] for line in text[:pos].splitlines()[:10]]
    return text[pos:], banner, skip


def _suggest_skiprows(raw: pd.DataFrame, already: int, name: str | None = None) -> int | None:
    """Lines to skip so that a row of ``raw`` holding price names (or ``name``) becomes the
    header; None when no such row is near the top."""
    wanted = {a for aliases in _PRICE_ALIASES.values() for a in aliases if len(a) > 1}
    for i in range(min(len(raw), HEADER_SEARCH_LINES)):
        cells = {normalize_name(v) for v in raw.iloc[i].tolist() if isinstance(v, str)}
        if len(cells & wanted) >= 3 or (name is not None and normalize_name(name) in cells):
            return already + 1 + i
    return None


def _header_below(raw: pd.DataFrame, name: str | None = None) -> str:
    skip = _suggest_skiprows(raw, int(raw.attrs.get("sme_read_info", {}).get("skipped_lines")
                                     or 0), name)
    if skip is None:
        return ""
    return (f" A row below the header holds column names: if the header is further down, "
            f"skip the lines above it with {option_hint('skiprows', n=skip)}.")


# --------------------------------------------------------------------------- the columns


@dataclass
class Layout:
    """Which input columns feed which output fields, and what detection decided."""

    values: dict[str, str]  # output name -> input column
    time_columns: tuple[str, ...]  # () means the frame's DatetimeIndex
    time_kind: str  # "datetime", "date+time", "date", "time", "unnamed" or "index"
    volume_kind: str = ""  # one of VOLUME_KINDS, "" without volume
    passed_over: list[str] = field(default_factory=list)  # other volume candidates
    symbol: str | None = None  # the one symbol of a symbol column, set aside
    explicit: list[str] = field(default_factory=list)  # fields named by ``columns``
    volume_note: str = ""  # why a volume column was not used


class _Columns:
    """The table's columns keyed by their compared name."""

    def __init__(self, raw: pd.DataFrame, label: str) -> None:
        self.raw = raw
        self.label = label
        self.by_key: dict[str, list[str]] = {}
        for column in raw.columns:
            self.by_key.setdefault(normalize_name(column), []).append(column)

    def found(self) -> str:
        return "[" + ", ".join(repr(str(c)) for c in self.raw.columns[:40]) + (
            ", ..." if len(self.raw.columns) > 40 else "") + "]"

    def lookup(self, aliases: Sequence[str], what: str, key: str) -> str | None:
        found = [c for alias in aliases for c in self.by_key.get(alias, [])]
        if len(found) > 1:
            raise InputDataError(
                f"Cannot use {self.label!r} as OHLCV input: several columns could be {what}: "
                f"{', '.join(map(repr, found))}. Keep one of them or rename the others, or "
                f"pick one with {option_hint('columns', key)}.")
        return found[0] if found else None

    def named(self, key: str, name: str) -> str:
        """The column an explicit mapping names: exactly, else by compared name."""
        if name in self.raw.columns:
            return name
        matches = self.by_key.get(normalize_name(name), [])
        if len(matches) == 1:
            return matches[0]
        raise InputDataError(
            f"Cannot use {self.label!r} as OHLCV input: columns.{key} names {name!r}, which is "
            f"not a column of the file. Its columns are {self.found()}."
            + _header_below(self.raw, name))


def _volume(cols: _Columns, symbol: str | None) -> tuple[str | None, str, list[str]]:
    classes: dict[str, list[str]] = {kind: [] for kind in VOLUME_KINDS}
    for kind, aliases in _VOLUME_ALIASES.items():
        classes[kind] += [c for a in aliases for c in cols.by_key.get(a, [])]
    pair = normalize_name(symbol or "")
    for key, columns in cols.by_key.items():
        m = _VOLUME_CURRENCY.match(key)
        if not m or key in _VOLUME_ALIASES["volume"] or m.group("cur") in ("to", "from"):
            continue
        cur = m.group("cur")
        quote = cur in _QUOTE_CURRENCIES or (len(pair) > len(cur) and pair.endswith(cur))
        classes["quote volume" if quote else "base volume"] += columns
    for kind in VOLUME_KINDS:
        if len(classes[kind]) > 1:
            raise InputDataError(
                f"Cannot use {cols.label!r} as OHLCV input: several columns could be the "
                f"{kind}: {', '.join(map(repr, classes[kind]))}. Pick one with "
                f"{option_hint('columns', 'volume')}.")
        if classes[kind]:
            others = [c for k in VOLUME_KINDS if k != kind for c in classes[k]]
            return classes[kind][0], kind, others
    return None, "", []


def _symbol(cols: _Columns) -> tuple[str | None, str | None]:
    column = cols.lookup(_SYMBOL_ALIASES, "the symbol", "symbol")
    if column is None:
        return None, None
    values = cols.raw[column].dropna().astype(str).str.strip()
    distinct = [v for v in values.unique()[:6] if v]
    if len(distinct) > 1:
        shown = ", ".join(map(repr, distinct[:5]))
        raise InputDataError(
            f"Cannot use {cols.label!r} as OHLCV input: column {column!r} holds several symbols "
            f"({shown}{', ...' if len(distinct) > 5 else ''}), so this is a long table of several "
            f"assets. Load it with layout='long' (Python: load_assets(path, layout='long', "
            f"symbol_column={column!r}); YAML: input.layout: long and input.symbol_column: "
            f"{column}; REST upload: layout=long), or keep one symbol's rows.")
    return column, (distinct[0] if distinct else None)


def _missing_prices(cols: _Columns, missing: list[str]) -> InputDataError:
    accepted = "; ".join(f"{t}: {', '.join(a)}" for t, a in _PRICE_ALIASES.items())
    hint = ""
    if "Close" in missing and any(k in cols.by_key for k in _ADJ_CLOSE_ALIASES):
        hint = (" An 'Adj Close' column is present but is never used as Close, because "
                "adjusted prices do not match Open/High/Low; add the unadjusted Close.")
    wide = _wide_symbols(cols.raw.columns)
    if wide:
        hint += (f" The columns look like a wide table of several assets ({', '.join(wide[:6])}):"
                 " load it with layout='wide' (Python: load_assets(path, layout='wide'); YAML: "
                 "input.layout: wide; REST upload: layout=wide).")
    hint += _header_below(cols.raw)
    keys = ", ".join(f"'{m.lower()}': ..." for m in missing)
    return InputDataError(
        f"Cannot use {cols.label!r} as OHLCV input: required column(s) {', '.join(missing)} not "
        f"found. Found columns: {', '.join(repr(str(c)) for c in cols.raw.columns[:40]) or 'none'}."
        f" Accepted names (case, blanks and '_' ignored) - {accepted}. Or name them with "
        f"columns={{{keys}}} (YAML: input.columns.{missing[0].lower()}, CLI: --column "
        f"{missing[0].lower()}=<column>).{hint}")


#: The field names a wide table's columns carry beside their symbol (``SPX:close``), by their
#: normalized spelling.
WIDE_FIELDS = {"open": "Open", "o": "Open", "high": "High", "h": "High", "low": "Low",
               "l": "Low", "close": "Close", "c": "Close", "volume": "Volume", "vol": "Volume",
               "v": "Volume", "adjclose": "Adj Close"}
_TOKENS = re.compile(r"([ _.:/\-])")


def _field_of(tokens: list[str]) -> tuple[str, str] | None:
    """``(symbol, field)`` when the first or last one or two tokens name a field."""
    for size in (1, 2):
        if len(tokens) <= size:
            continue
        tail = normalize_name("".join(tokens[-size:]))
        if tail in WIDE_FIELDS:
            return "".join(tokens[:-size]).strip(" _.:/-"), WIDE_FIELDS[tail]
        head = normalize_name("".join(tokens[:size]))
        if head in WIDE_FIELDS:
            return "".join(tokens[size:]).strip(" _.:/-"), WIDE_FIELDS[head]
    return None


def parse_wide_column(column: Any) -> tuple[str, str] | None:
    """``(symbol as written, field)`` of a wide table's column, or None for a shared column.

    Accepts ``SYM:field``, ``SYM_field``, ``SYM.field``, ``field_SYM`` (any of the
    separators ``: _ . / - space``, the symbol itself may contain them: ``BTC/USD:close``) and
    ``(symbol, field)`` or ``(field, symbol)`` pairs of a two-row header.
    """
    if isinstance(column, tuple):
        a, b = (str(p).strip() for p in column[:2]) if len(column) >= 2 else ("", "")
        if normalize_name(b) in WIDE_FIELDS and a:
            return a, WIDE_FIELDS[normalize_name(b)]
        if normalize_name(a) in WIDE_FIELDS and b:
            return b, WIDE_FIELDS[normalize_name(a)]
        return None
    tokens = [t for t in _TOKENS.split(str(column).strip()) if t]
    found = _field_of(tokens)
    return found if found and found[0] else None


def _wide_symbols(columns: Sequence[Any]) -> list[str]:
    """Symbols of ``SYM:field`` / ``SYM_field`` / ``field.SYM`` columns, when there are several."""
    symbols = []
    for column in columns:
        found = parse_wide_column(column)
        if found and found[0] not in symbols:
            symbols.append(found[0])
    return symbols if len(symbols) > 1 else []


def _time_layout(cols: _Columns, values: dict[str, str],
                 looks_like_times: Callable[[pd.Series], bool]) -> tuple[tuple[str, ...], str]:
    datetime_col = cols.lookup(_DATETIME_ALIASES, "the timestamp", "time")
    date_col = cols.lookup(_DATE_ALIASES, "the date", "time")
    time_col = cols.lookup(_TIME_ALIASES, "the time", "time")
    if datetime_col is not None:
        return (datetime_col,), "datetime"
    if date_col is not None and time_col is not None:
        return (date_col, time_col), "date+time"
    if date_col is not None:
        return (date_col,), "date"
    if time_col is not None:
        return (time_col,), "time"
    raw = cols.raw
    first = raw.columns[0]
    if _looks_unnamed(first) and first not in values.values() and looks_like_times(raw[first]):
        return (first,), "unnamed"
    if isinstance(raw.index, pd.DatetimeIndex):
        return (), "index"
    raise InputDataError(
        f"Cannot use {cols.label!r} as OHLCV input: no time column found among {cols.found()}. "
        f"Accepted for time: Date, Time, Date + Time, DateTime, Timestamp, dt (any case; unix "
        f"seconds or milliseconds also accepted), an unnamed first column of dates (a saved "
        f"pandas index), or a DatetimeIndex. Or name it with {option_hint('columns', 'time')}.")


def _looks_unnamed(column: object) -> bool:
    text = str(column).strip()
    return text == "" or text.lower().startswith("unnamed:") or text.lower() == "index"


def find_layout(raw: pd.DataFrame, label: str, columns: Mapping[str, str],
                looks_like_times: Callable[[pd.Series], bool]) -> Layout:
    """Map the table's columns onto the output fields.

    Parameters
    ----------
    raw : pandas.DataFrame
        The table as read, every column name a string.
    label : str
        The file's name in messages.
    columns : mapping
        The explicit mapping (checked by :func:`check_read_options`); may be empty.
    looks_like_times : callable
        Whether a column holds mostly dates (asked of an unnamed first column only).

    Raises
    ------
    InputDataError
        A named column is missing, a field is ambiguous, a price or the time is not found,
        or a symbol column holds several symbols; each message names the option that helps.
    """
    cols = _Columns(raw, label)
    explicit = {key: cols.named(key, name) for key, name in columns.items()}
    values = {key.capitalize(): col for key, col in explicit.items() if key != "time"}
    symbol_col, symbol = _symbol(cols)
    for target, aliases in _PRICE_ALIASES.items():
        if target not in values:
            column = cols.lookup(aliases, target, target.lower())
            if column is not None:
                values[target] = column
    missing = [c for c in _PRICE_ALIASES if c not in values]
    if missing:
        raise _missing_prices(cols, missing)
    volume_kind, passed_over = "", []
    if "Volume" in values:
        key = normalize_name(values["Volume"])
        volume_kind = next((kind for kind, aliases in _VOLUME_ALIASES.items() if key in aliases),
                           "volume")
    else:
        column, volume_kind, passed_over = _volume(cols, symbol)
        if column is not None:
            values["Volume"] = column
    if "time" in explicit:
        time_columns, time_kind = (explicit["time"],), "datetime"
    else:
        time_columns, time_kind = _time_layout(cols, values, looks_like_times)
    used = set(values.values()) | set(time_columns)
    if symbol_col in used:
        symbol = None
    return Layout(values, time_columns, time_kind, volume_kind,
                  [c for c in passed_over if c not in used], symbol, sorted(explicit))
