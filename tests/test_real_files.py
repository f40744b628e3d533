"""Files written the way free data sources write them: they load to the right frame, with a
read report that says how, or are refused with a message that names the option to use.

Each file is built here from one small known table, written as the source writes it (banner
lines, 12-hour clocks, newest first, a symbol column, odd volume names, wide tables with late
listings in every header style), so the expected frame is known exactly. The two Coinbase
exports the package ships are loaded as they are and compared with the panel's explicit read.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.errors import InputDataError, SMEWarning, SuspectDataWarning
from pipeline.io.assets import load_assets
from pipeline.io.inspect import preview_table
from pipeline.io.panel import load_panel
from pipeline.io.readers import inspect_ohlcv, load_ohlcv

ROWS = 240
PANEL = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "panel"
CDD_BANNER = "Created on 10-17-2019,https://www.CryptoDataDownload.com"


def known(freq: str = "h", start: str = "2019-03-14 00:00", rows: int = ROWS,
          seed: int = 0) -> pd.DataFrame:
    """A valid OHLCV frame with values exact to 4 decimals (so text round trips are exact)."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows))), 4)
    opens = np.round(np.r_[close[0], close[:-1]], 4)
    high = np.round(np.maximum(opens, close) * 1.002, 4)
    low = np.round(np.minimum(opens, close) * 0.998, 4)
    volume = np.round(rng.uniform(1e3, 1e4, rows), 2)
    index = pd.DatetimeIndex(pd.date_range(start, periods=rows, freq=freq), name="Date")
    return pd.DataFrame({"Open": opens, "High": high, "Low": low, "Close": close,
                         "Volume": volume}, index=index.as_unit("ns"))


def write(frame: pd.DataFrame, columns: dict[str, str], *, time_format: str | None = None,
          sep: str = ",", banner: tuple[str, ...] = (), newest_first: bool = False,
          extra: dict[str, object] | None = None) -> bytes:
    """``frame`` as a source writes it: ``columns`` maps Time/Open/.../Volume to its names."""
    out = pd.DataFrame(index=range(len(frame)))
    if "Time" in columns:
        stamps = frame.index
        out[columns["Time"]] = (stamps.strftime(time_format) if time_format
                                else stamps.strftime("%Y-%m-%d %H:%M:%S"))
    for field, value in (extra or {}).items():
        out[field] = value
    for field in ("Open", "High", "Low", "Close", "Volume"):
        if field in columns:
            out[columns[field]] = frame[field].to_numpy()
    if newest_first:
        out = out.iloc[::-1]
    text = out.to_csv(index=False, sep=sep, lineterminator="\n")
    return ("".join(line + "\n" for line in banner) + text).encode()


def load(data: bytes, name: str = "file.csv", **options) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SMEWarning)
        return load_ohlcv(io.BytesIO(data), name=name, **options)


def refused(data: bytes, name: str = "file.csv", **options) -> str:
    with pytest.raises(InputDataError) as info:
        load(data, name, **options)
    return str(info.value)


def report_of(frame: pd.DataFrame) -> dict:
    return frame.attrs["read_report"]


# --------------------------------------------------------------------------- crypto exports


def test_cryptodatadownload_daily_banner_newest_first_symbol_and_two_volumes():
    frame = known("D", "2019-01-01")
    quote = frame["Volume"]
    data = write(frame.assign(Volume=quote), {"Time": "date", "Open": "open", "High": "high",
                                               "Low": "low", "Close": "close"},
                 time_format="%Y-%m-%d", banner=(CDD_BANNER,), newest_first=True,
                 extra={"symbol": "BTCUSD"})
    # CryptoDataDownload writes the base volume before the quote volume.
    table = pd.read_csv(io.BytesIO(data), skiprows=1)
    table["volume_btc"] = np.round(table["close"] * 0 + 1.5, 2)
    table["volume"] = quote.to_numpy()[::-1]
    data = (CDD_BANNER + "\n" + table.to_csv(index=False)).encode()
    loaded = load(data, "Coinbase_BTCUSD_d.csv")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    report = report_of(loaded)
    assert report["skipped_lines"] == 1 and report["banner"] == [CDD_BANNER]
    assert report["order"] == "newest first"
    assert report["volume"] == "volume" and report["volume_kind"] == "volume"
    assert report["volume_passed_over"] == ["volume_btc"]
    assert report["symbol"] == "BTCUSD"
    assert report["frequency"] == "1 day" and report["gaps"]["count"] == 0


@pytest.mark.parametrize("clock", ["%Y-%m-%d %I-%p", "%Y-%m-%d %I:%M %p", "%Y-%m-%d %I %p",
                                   "%m/%d/%Y %I:%M:%S %p"])
def test_twelve_hour_clocks(clock):
    frame = known("h")  # 240 hours: every hour of the clock, noon and midnight included
    data = write(frame, {"Time": "date", "Open": "open", "High": "high", "Low": "low",
                         "Close": "close", "Volume": "volume"},
                 time_format=clock, banner=(CDD_BANNER,), newest_first=True)
    loaded = load(data)
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    assert report_of(loaded)["time_format"].startswith("12-hour clock")
    assert report_of(loaded)["frequency"] == "1 hour"


def test_volume_from_and_volume_to_take_the_quote_volume():
    frame = known("D", "2018-01-01")
    data = write(frame, {"Time": "Date", "Open": "Open", "High": "High", "Low": "Low",
                         "Close": "Close", "Volume": "VolumeTo"},
                 extra={"Symbol": "BTCUSD", "VolumeFrom": 3.25}, newest_first=True)
    loaded = load(data, "bitfinex-1d-btc-usd.csv")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    report = report_of(loaded)
    assert (report["volume"], report["volume_kind"]) == ("VolumeTo", "quote volume")
    assert report["volume_passed_over"] == ["VolumeFrom"]
    assert "Volume" in loaded.columns  # no longer lost


@pytest.mark.parametrize(("names", "taken", "kind"), [
    (["Volume BTC", "Volume USD"], "Volume USD", "quote volume"),
    (["volume_btc"], "volume_btc", "base volume"),
    (["Quote asset volume", "Base volume"], "Quote asset volume", "quote volume"),
    (["turnover"], "turnover", "turnover"),
    (["vol", "turnover"], "vol", "volume"),
])
def test_volume_precedence(names, taken, kind):
    frame = known("D", "2018-01-01")
    extra = {name: 1.0 for name in names if name != taken}
    data = write(frame, {"Time": "date", "Open": "open", "High": "high", "Low": "low",
                         "Close": "close", "Volume": taken}, extra=extra)
    loaded = load(data)
    np.testing.assert_array_equal(loaded["Volume"], frame["Volume"])
    assert (report_of(loaded)["volume"], report_of(loaded)["volume_kind"]) == (taken, kind)


def test_two_volumes_of_one_class_are_refused_with_the_option():
    frame = known("D", "2018-01-01")
    data = write(frame, {"Time": "date", "Open": "open", "High": "high", "Low": "low",
                         "Close": "close", "Volume": "VolumeTo"}, extra={"quote volume": 2.0})
    message = refused(data)
    assert "several columns could be the quote volume" in message
    assert "columns={'volume': '<column>'}" in message and "input.columns.volume" in message
    assert load(data, columns={"volume": "VolumeTo"})["Volume"].iloc[3] == frame["Volume"].iloc[3]


def test_several_symbols_are_refused_naming_the_long_layout():
    frame = known("D", "2018-01-01")
    data = write(frame, {"Time": "date", "Open": "open", "High": "high", "Low": "low",
                         "Close": "close"}, extra={"symbol": ["BTCUSD", "ETHUSD"] * (ROWS // 2)})
    message = refused(data, "two.csv")
    assert "'two.csv'" in message and "'BTCUSD', 'ETHUSD'" in message
    assert "layout='long'" in message and "input.layout: long" in message


# --------------------------------------------------------------------------- stock and FX


def test_exchange_file_with_dt_and_value_turnover():
    frame = known("D", "2020-01-01")
    data = write(frame, {"Time": "dt", "Open": "open", "High": "high", "Low": "low",
                         "Close": "close", "Volume": "value"}, time_format="%Y-%m-%d")
    loaded = load(data, "moex.csv")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    report = report_of(loaded)
    assert report["columns"]["time"] == "dt"
    assert (report["volume"], report["volume_kind"]) == ("value", "turnover")


def test_dotted_day_first_times_as_dukascopy_writes_them():
    frame = known("h", "2017-01-01 22:00")
    data = write(frame, {"Time": "Time", "Open": "Open", "High": "High", "Low": "Low",
                         "Close": "Close", "Volume": "Volume"},
                 time_format="%d.%m.%Y %H:%M:%S.000")
    loaded = load(data, "FOREX_EURUSD_1H_ASK.csv")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    assert report_of(loaded)["time_format"] == "day-first dotted dates"
    assert report_of(loaded)["order"] == "oldest first"
    report = inspect_ohlcv(io.BytesIO(data), name="FOREX_EURUSD_1H_ASK.csv")
    assert report.to_dict() == report_of(loaded)
    assert "time format  day-first dotted dates" in report.to_text()


def test_unknown_time_column_is_refused_then_named():
    frame = known("D", "2020-01-01")
    data = write(frame, {"Time": "dt2", "Open": "o", "High": "h", "Low": "l", "Close": "c"},
                 time_format="%Y-%m-%d")
    message = refused(data, "odd.csv")
    assert "'odd.csv'" in message
    assert "no time column found among ['dt2', 'o', 'h', 'l', 'c']" in message
    assert "columns={'time': '<column>'}" in message
    assert "YAML: input.columns.time" in message and "CLI: --column time=<column>" in message
    loaded = load(data, "odd.csv", columns={"time": "dt2"})
    pd.testing.assert_frame_equal(loaded, frame.drop(columns="Volume"), check_freq=False)
    assert report_of(loaded)["explicit"] == ["time"]


def test_explicit_mapping_errors_name_file_column_and_columns():
    data = write(known("D"), {"Time": "Date", "Open": "Open", "High": "High", "Low": "Low",
                              "Close": "Close"})
    message = refused(data, "m.csv", columns={"time": "Datum"})
    assert "'m.csv'" in message and "'Datum'" in message
    assert "['Date', 'Open', 'High', 'Low', 'Close']" in message
    message = refused(data, "m.csv", columns={"stamp": "Date"})
    assert "unknown key 'stamp'" in message and "time, open, high, low, close, volume" in message


def test_explicit_skiprows_and_date_format():
    frame = known("h", "2020-01-02")
    data = write(frame, {"Time": "when", "Open": "o", "High": "h", "Low": "l", "Close": "c",
                         "Volume": "v"}, time_format="%d/%m/%Y %Hh%M",
                 banner=("Exported prices", "source,exchange,market,kind,unit,note"))
    # A banner line shaped like a header is taken for it; the message finds the real one.
    message = refused(data, columns={"time": "when"})
    assert "skip the lines above it with skiprows=2 (YAML: input.skiprows: 2" in message
    loaded = load(data, skiprows=2, columns={"time": "when"}, date_format="%d/%m/%Y %Hh%M")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    assert report_of(loaded)["skipped_lines"] == 2 and report_of(loaded)["skiprows"] == 2
    message = refused(data, skiprows=2, columns={"time": "when"}, date_format="%Y-%m-%d")
    assert "unparseable timestamp" in message and "date_format" in message
    assert "skiprows=5000 skips every line" in refused(data, skiprows=5000)
    assert "skiprows must be a whole number" in refused(data, skiprows=-1)


def test_mixed_naive_and_aware_timestamps_are_refused_with_the_fix():
    frame = known("h", "2021-03-01")
    stamps = frame.index.strftime("%Y-%m-%d %H:%M:%S").to_numpy().astype(object)
    stamps[::2] = [s + "+01:00" for s in stamps[::2]]
    table = frame.reset_index(drop=True).assign(Datetime=stamps)
    message = refused(table.to_csv(index=False).encode(), "tz.csv")
    assert "'tz.csv'" in message and "mixes timestamps with a UTC offset" in message
    assert "Write every timestamp with its offset" in message
    aware = table.assign(Datetime=frame.index.strftime("%Y-%m-%d %H:%M:%S+01:00"))
    loaded = load(aware.to_csv(index=False).encode())
    np.testing.assert_array_equal(loaded.index, frame.index - pd.Timedelta(hours=1))
    assert report_of(loaded)["timezone"].startswith("converted to UTC from +01:00")


@pytest.mark.parametrize("spike", [1000.0, 1e305])
def test_price_spike_that_reverts_loads_with_a_warning_and_is_reported(spike):
    frame = known("D", "2020-01-01")
    bad = frame.copy()
    bad.iloc[100, :4] = bad.iloc[100, :4] * spike  # one bar x1000 (or at ~1e307), then back
    data = write(bad, {"Time": "Date", "Open": "Open", "High": "High", "Low": "Low",
                       "Close": "Close", "Volume": "Volume"})
    with pytest.warns(SuspectDataWarning, match="price spike") as record:
        loaded = load_ohlcv(io.BytesIO(data), name="spike.csv")
    message = str(record[0].message)
    assert "'spike.csv'" in message and "resample such a bar like any other" in message
    assert loaded["Close"].iloc[100] == bad["Close"].iloc[100]  # kept, as the warning says
    spikes = report_of(loaded)["spikes"]
    assert {s["column"] for s in spikes} == {"Open", "High", "Low", "Close"}
    assert all(s["time"] == frame.index[100].isoformat() and s["factor"] > 100 for s in spikes)


# --------------------------------------------------------------------------- wide tables


def wide_assets() -> dict[str, pd.DataFrame]:
    """BTC from the start; ETH listed 40 days later, LTC 70 days later (empty before)."""
    return {"BTC": known("D", "2016-01-01", 320, seed=1),
            "ETH": known("D", "2016-02-10", 280, seed=2),
            "LTC": known("D", "2016-03-11", 250, seed=3)}


def wide_frame(assets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(assets, axis=1, join="outer")  # (symbol, field) columns, empty gaps


@pytest.mark.parametrize("style", ["SYM:field", "SYM_field", "SYM.field", "field_SYM",
                                   "two rows", "two rows, field first"])
def test_wide_tables_with_late_listings_in_every_header_style(tmp_path, style):
    assets = wide_assets()
    table = wide_frame(assets)
    table.index = table.index.strftime("%Y-%m-%d")
    if style.startswith("two rows"):
        if style.endswith("field first"):  # yfinance: Price/Ticker rows, then Date
            table.columns = table.columns.swaplevel()
            table.columns.names = ["Price", "Ticker"]
        table.index.name = "Date"
        text = table.to_csv()
    else:
        sep = {"SYM:field": ":", "SYM_field": "_", "SYM.field": "."}.get(style, "_")
        table.columns = [f"{f.lower()}{sep}{s}" if style == "field_SYM" else f"{s}{sep}{f.lower()}"
                         for s, f in table.columns]
        text = table.iloc[::-1].to_csv()  # newest first, first column unnamed
    path = tmp_path / "wide.csv"
    path.write_text(text)
    with pytest.warns(SMEWarning, match="trimmed before alignment: ETH 40, LTC 70"):
        loaded = load_assets(str(path), layout="wide")
    assert list(loaded) == ["BTC", "ETH", "LTC"]
    common = assets["LTC"].index
    for symbol, frame in loaded.items():
        pd.testing.assert_frame_equal(frame, assets[symbol].loc[common], check_freq=False)
    alignment = loaded["BTC"].attrs["alignment"]
    assert alignment["ETH"] == {"rows": 280, "dropped": 30, "trimmed": 40}
    assert alignment["LTC"] == {"rows": 250, "dropped": 0, "trimmed": 70}
    assert alignment["BTC"] == {"rows": 320, "dropped": 70}
    assert loaded["ETH"].attrs["trimmed_rows"] == 40


def test_a_wide_table_loaded_as_one_series_names_the_wide_layout():
    table = wide_frame(wide_assets())
    table.columns = [f"{s}:{f.lower()}" for s, f in table.columns]
    message = refused(table.to_csv().encode(), "bitstamp_(BTC,ETH,LTC)USD_d.csv")
    assert "wide table of several assets (BTC, ETH, LTC" in message
    assert "layout='wide'" in message and "input.layout: wide" in message


def test_wide_symbols_with_path_characters_are_kept_under_safe_names():
    assets = {"BTC/USD": known("D", "2016-01-01", 220, 1), "ETH/USD": known("D", "2016-01-01",
                                                                           220, 2)}
    table = wide_frame(assets)
    table.columns = [f"{s}:{f.lower()}" for s, f in table.columns]
    with pytest.warns(SMEWarning, match="'BTC/USD' -> 'BTC-USD'"):
        loaded = load_assets(table.reset_index(names="Date"), layout="wide")
    assert list(loaded) == ["BTC-USD", "ETH-USD"]
    pd.testing.assert_frame_equal(loaded["ETH-USD"], assets["ETH/USD"], check_freq=False)
    clash = table.copy()
    clash.columns = [c.replace("ETH/USD", "BTC|USD") for c in table.columns]
    with pytest.raises(InputDataError, match="are both BTC-USD"):
        load_assets(clash.reset_index(names="Date"), layout="wide")


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("freq", ["1d", "1h"])
def test_shipped_coinbase_exports_load_with_plain_load_ohlcv(freq):
    path = PANEL / f"coinbase_btcusd_{freq}.csv.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SuspectDataWarning)  # 2017-04-15: a Low of 0.06
        loaded = load_ohlcv(path)
        panel = load_panel(f"btc_{freq}")
    pd.testing.assert_frame_equal(loaded, panel)
    report = report_of(loaded)
    assert report["skipped_lines"] == 1 and "CryptoDataDownload" in report["banner"][0]
    assert report["order"].startswith("newest first")
    assert report["volume"] == "volume" and report["symbol"] == "BTCUSD"
    assert report["frequency"] == ("1 day" if freq == "1d" else "1 hour")


def test_preview_of_a_refused_file_is_bounded_and_finds_the_header():
    data = write(known("D"), {"Time": "dt2", "Open": "o", "High": "h", "Low": "l", "Close": "c"},
                 banner=(CDD_BANNER,))
    preview = preview_table(data + b"x" * 10_000 + b"\n", "odd.csv")
    assert preview["header_row"] == 1 and preview["delimiter"] == ","
    assert preview["rows"][1] == ["dt2", "o", "h", "l", "c"] and len(preview["rows"]) == 12
    assert json.dumps(preview).count("odd.csv") == 0 and len(json.dumps(preview)) < 20_000


# --------------------------------------------------------------------------- property test

BASE = known("h", "2020-03-14 00:00", 210)
TIME_NAMES = ["Date", "date", "DATETIME", "timestamp", "dt", "Time", "Gmt time"]
PRICE_NAMES = {"Open": ["Open", "open", "OPEN", "o", "<OPEN>"],
               "High": ["High", "high", "h", "HIGH"],
               "Low": ["Low", "low", "l", " LOW "],
               "Close": ["Close", "close", "c", "CLOSE"]}
VOLUME_NAMES = ["Volume", "vol", "VolumeTo", "Volume USD", "volume_btc", "turnover", "value"]
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%d.%m.%Y %H:%M", "%Y-%m-%d %I-%p",
                "%m/%d/%Y %I:%M %p", "%Y-%m-%d %H:%M:%S.000", "epoch"]
BANNERS = ["Created on 10-17-2019,https://www.CryptoDataDownload.com", "Prices export",
           "# source: example exchange; times in UTC", ""]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(time_name=st.sampled_from(TIME_NAMES),
       prices=st.fixed_dictionaries({k: st.sampled_from(v) for k, v in PRICE_NAMES.items()}),
       volume=st.sampled_from(VOLUME_NAMES), time_format=st.sampled_from(TIME_FORMATS),
       sep=st.sampled_from([",", ";", "\t"]), banner=st.lists(st.sampled_from(BANNERS),
                                                              max_size=2),
       newest_first=st.booleans(), symbol=st.booleans())
def test_header_and_format_variations_load_the_same_frame(time_name, prices, volume,
                                                           time_format, sep, banner,
                                                           newest_first, symbol):
    columns = {"Time": time_name, **prices, "Volume": volume}
    frame = BASE
    if time_format == "epoch":
        text_frame = frame.reset_index(drop=True)
        stamps = (frame.index - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
        text_frame.insert(0, time_name, stamps)
        text_frame.columns = [time_name, *[columns[c] for c in frame.columns]]
        if newest_first:
            text_frame = text_frame.iloc[::-1]
        data = ("".join(b + "\n" for b in banner)
                + text_frame.to_csv(index=False, sep=sep)).encode()
    else:
        data = write(frame, columns, time_format=time_format, sep=sep, banner=tuple(banner),
                     newest_first=newest_first, extra={"Symbol": "EURUSD"} if symbol else None)
    try:
        loaded = load(data, "variation.csv")
    except InputDataError as exc:
        assert "variation.csv" in str(exc)
        return
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    report = report_of(loaded)
    assert report["time_format"] != "" and (time_format != "epoch"
                                            or report["time_format"] == "unix epoch seconds")
    assert report["order"] == ("newest first" if newest_first else "oldest first")
    assert report["volume"] == volume and report["skipped_lines"] == len(banner)


# --------------------------------------------------------------------------- sme inspect


@pytest.fixture()
def cdd_file(tmp_path) -> Path:
    path = tmp_path / "Coinbase_BTCUSD_1h.csv"
    path.write_bytes(write(known("h"), {"Time": "date", "Open": "open", "High": "high",
                                        "Low": "low", "Close": "close", "Volume": "volume"},
                           time_format="%Y-%m-%d %I-%p", banner=(CDD_BANNER,),
                           newest_first=True, extra={"symbol": "BTCUSD"}))
    return path


def test_sme_inspect_text(cdd_file, capsys):
    assert main(["inspect", str(cdd_file)]) == 0
    out = capsys.readouterr().out
    assert "lines skipped  1 above the header (detected banner)" in out
    assert CDD_BANNER in out and "time format    12-hour clock" in out
    assert "order          newest first; sorted oldest first" in out
    assert "volume         'volume' (volume)" in out and "frequency      1 hour" in out
    assert "symbol         BTCUSD" in out and "gaps           0" in out


def test_sme_inspect_json_and_options(tmp_path, cdd_file, capsys):
    assert main(["inspect", str(cdd_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == ROWS and report["columns"]["time"] == "date"
    assert report["order"] == "newest first" and report["spikes"] == []
    odd = tmp_path / "odd.csv"
    odd.write_bytes(write(known("D"), {"Time": "when", "Open": "o", "High": "h", "Low": "l",
                                       "Close": "c"}, time_format="%d/%m/%Y"))
    assert main(["inspect", str(odd)]) == 2
    err = capsys.readouterr().err
    assert "no time column found" in err and "--column time=<column>" in err
    assert "the header is row 0" in err and " 0| when | o | h | l | c" in err
    assert main(["inspect", str(odd), "--json", "--column", "time=when",
                 "--date-format", "%d/%m/%Y"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["explicit"] == ["time"] and report["time_format"] == "date_format '%d/%m/%Y'"
    assert main(["inspect", str(odd), "--column", "when"]) == 2
    assert "expected FIELD=NAME" in capsys.readouterr().err


# --------------------------------------------------------------------------- sme run


def test_sme_run_with_yaml_read_options(tmp_path):
    frame = known("D", "2015-01-01", 260)
    data_path = tmp_path / "exchange.csv"
    data_path.write_bytes(write(frame, {"Time": "when", "Open": "o", "High": "h", "Low": "l",
                                        "Close": "c", "Volume": "value"},
                                time_format="%d/%m/%Y", banner=("Exported", "by, a, tool, x, y")))
    cfg = {"input": {"path": str(data_path), "skiprows": 2, "date_format": "%d/%m/%Y",
                     "columns": {"time": "when"}},
           "generation": {"n_samples": 2, "min_fidelity": 50.0, "seed": 3, "max_attempts": 50},
           "scoring": {"n_replicates": 32},
           "cluster": {"n_workers": 1, "processes": False, "task_candidates": 8},
           "output": {"path": str(tmp_path / "out" / "{run_id}"), "formats": ["csv"],
                      "zip": False},
           "cache": {"path": None}}
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    sme = Path(sys.executable).parent / "sme"
    done = subprocess.run([str(sme), "run", str(cfg_path), "--no-progress"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(next((tmp_path / "out").rglob("manifest.json")).read_text())
    assert manifest["input"]["rows"] == 260 and manifest["input"]["start"].startswith("2015-01-01")
    cfg["input"]["columns"] = {"time": "when", "colour": "x"}
    cfg_path.write_text(yaml.safe_dump(cfg))
    bad = subprocess.run([str(sme), "run", str(cfg_path)], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "input.columns.colour: unknown key" in bad.stderr
