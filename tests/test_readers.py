"""Tests of pipeline.io.readers: formats, normalization, validation messages, repair, samples."""

from __future__ import annotations

import gzip
import io
import warnings
from pathlib import Path
from unittest import mock

import fsspec
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import DataRepairWarning, InputDataError, MissingVolumeWarning
from pipeline.io import readers
from pipeline.io.readers import (
    MIN_ROWS,
    OHLCV_COLUMNS,
    REPAIR_REASONS,
    SAMPLE_NAMES,
    load_ohlcv,
    load_sample,
)

SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "sample_ohlcv.csv"
PACKAGE_SAMPLE_CSV = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "sample_ohlcv.csv"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    """The bundled sample as a plain frame with a ``Date`` column (750 rows)."""
    return pd.read_csv(SAMPLE_CSV)


@pytest.fixture(scope="module")
def sample_text() -> str:
    return SAMPLE_CSV.read_text()


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def csv_bytes(lines: list[str]) -> io.BytesIO:
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def assert_valid_ohlcv(frame: pd.DataFrame, *, volume: bool = True, min_rows: int = MIN_ROWS):
    """The output invariants every successful load must satisfy."""
    expected = list(OHLCV_COLUMNS) if volume else list(OHLCV_COLUMNS[:4])
    assert list(frame.columns) == expected
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "Date"
    assert frame.index.tz is None
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique
    assert not frame.index.hasnans
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    values = frame.to_numpy()
    assert np.isfinite(values).all()
    o, h, low, c = (frame[name].to_numpy() for name in ("Open", "High", "Low", "Close"))
    assert (low > 0).all()
    assert (low <= np.minimum(o, c)).all()
    assert (np.maximum(o, c) <= h).all()
    if volume:
        assert (frame["Volume"].to_numpy() >= 0).all()
    assert len(frame) >= min_rows


def load_error(source, **kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingVolumeWarning)
        with pytest.raises(InputDataError) as info:
            load_ohlcv(source, **kwargs)
    return str(info.value)


def expected_frame(sample: pd.DataFrame) -> pd.DataFrame:
    dates = pd.DatetimeIndex(pd.to_datetime(sample["Date"]), name="Date").as_unit("ns")
    out = sample.set_index(dates)
    return out[list(OHLCV_COLUMNS)].astype(np.float64)


# --------------------------------------------------------------------------- formats


def test_csv_path_matches_pandas(sample):
    frame = load_ohlcv(SAMPLE_CSV)
    assert_valid_ohlcv(frame)
    pd.testing.assert_frame_equal(frame, expected_frame(sample))
    assert frame.index.dtype == "datetime64[ns]"
    assert frame.attrs["source"] == str(SAMPLE_CSV)


@pytest.mark.parametrize(("sep", "suffix"), [(";", ".csv"), ("\t", ".tsv"), ("\t", ".txt")])
def test_csv_delimiters(tmp_path, sample, sep, suffix):
    path = tmp_path / f"prices{suffix}"
    sample.to_csv(path, sep=sep, index=False)
    frame = load_ohlcv(path)
    pd.testing.assert_frame_equal(frame, expected_frame(sample))


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_comma(tmp_path, sample, sep):
    path = tmp_path / "european.csv"
    sample.to_csv(path, sep=sep, decimal=",", index=False)
    assert "1945,97" in path.read_text()
    frame = load_ohlcv(path)
    pd.testing.assert_frame_equal(frame, expected_frame(sample))


def test_decimal_comma_with_thousands_dots_and_day_first_dates(sample_text):
    lines = lines_of(sample_text)
    out = ["Datum;Open;High;Low;Close;Volume".replace("Datum", "Date")]
    for line in lines[1:]:
        date, *numbers = line.split(",")
        year, month, day = date.split("-")
        prices = [
            f"{float(x):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
            for x in numbers[:4]
        ]
        out.append(";".join([f"{day}.{month}.{year}", *prices, numbers[4]]))
    frame = load_ohlcv(csv_bytes(out), name="de.csv")
    assert frame["Open"].iloc[0] == 1945.97
    assert frame.index[0] == pd.Timestamp("2016-01-08")
    assert_valid_ohlcv(frame)


def test_gzip_csv(tmp_path, sample_text, sample):
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(gzip.compress(sample_text.encode()))
    pd.testing.assert_frame_equal(load_ohlcv(path), expected_frame(sample))


def test_xlsx_and_sheet_name(tmp_path, sample):
    path = tmp_path / "prices.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"note": ["not prices"]}).to_excel(writer, sheet_name="Readme", index=False)
        with_dates = sample.assign(Date=pd.to_datetime(sample["Date"]))
        with_dates.to_excel(writer, sheet_name="Prices", index=False)
    frame = load_ohlcv(path, sheet_name="Prices")
    pd.testing.assert_frame_equal(frame, expected_frame(sample))
    message = load_error(path)  # the first sheet is the readme
    assert "prices.xlsx" in message and "not found" in message and "'note'" in message


def test_parquet_with_datetime_index(tmp_path, sample):
    path = tmp_path / "prices.parquet"
    expected_frame(sample).to_parquet(path)
    pd.testing.assert_frame_equal(load_ohlcv(path), expected_frame(sample))


def test_parquet_with_date_column_and_pq_extension(tmp_path, sample):
    path = tmp_path / "prices.pq"
    sample.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(load_ohlcv(path), expected_frame(sample))


def test_format_sniffed_from_magic_bytes(tmp_path, sample):
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    frame = load_ohlcv(io.BytesIO(buffer.getvalue()), name="upload.bin")
    pd.testing.assert_frame_equal(frame, expected_frame(sample))
    xlsx = tmp_path / "prices.xlsx"
    sample.to_excel(xlsx, index=False)
    renamed = tmp_path / "prices.data"
    renamed.write_bytes(xlsx.read_bytes())
    assert len(load_ohlcv(renamed)) == len(sample)


def test_fsspec_memory_url(sample_text, sample):
    url = "memory://bucket/prices.csv"
    with fsspec.open(url, "wb") as handle:
        handle.write(sample_text.encode())
    frame = load_ohlcv(url, storage_options={})
    pd.testing.assert_frame_equal(frame, expected_frame(sample))
    assert frame.attrs["source"] == url
    message = load_error("memory://bucket/missing.csv")
    assert "missing.csv" in message and "does not exist" in message


def test_file_like_upload(sample_text, sample):
    upload = io.BytesIO(sample_text.encode())
    frame = load_ohlcv(upload, name="my upload.csv")
    pd.testing.assert_frame_equal(frame, expected_frame(sample))
    assert frame.attrs["source"] == "my upload.csv"


def test_dataframe_input_is_not_modified(sample):
    before = sample.copy()
    frame = load_ohlcv(sample)
    pd.testing.assert_frame_equal(sample, before)
    assert frame.attrs["source"] == "<DataFrame>"
    pd.testing.assert_frame_equal(frame, expected_frame(sample))


# --------------------------------------------------------------------------- normalization


def test_case_blanks_and_aliases(sample):
    renamed = sample.rename(
        columns={
            "Date": " DATE ",
            "Open": "o",
            "High": " HIGH",
            "Low": "l",
            "Close": "C",
            "Volume": "Vol",
        }
    )
    frame = load_ohlcv(renamed)
    pd.testing.assert_frame_equal(frame, expected_frame(sample))


def test_metatrader_style_headers(sample):
    renamed = sample.rename(columns={c: f"<{c.upper()}>" for c in sample.columns})
    pd.testing.assert_frame_equal(load_ohlcv(renamed), expected_frame(sample))


def test_adj_close_is_dropped_and_never_used_as_close(sample):
    with_adj = sample.assign(**{"Adj Close": sample["Close"] * 0.5, "Dividends": 0.0})
    frame = load_ohlcv(with_adj)
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    np.testing.assert_array_equal(frame["Close"], sample["Close"])
    message = load_error(with_adj.drop(columns="Close"))
    assert "Close" in message and "Adj Close" in message and "never used as Close" in message


def test_date_and_time_columns_are_combined(sample):
    minutes = pd.date_range("2024-03-01 09:30", periods=len(sample), freq="min")
    intraday = sample.assign(Date=minutes.strftime("%Y-%m-%d"), Time=minutes.strftime("%H:%M"))
    frame = load_ohlcv(intraday)
    np.testing.assert_array_equal(frame.index, minutes.as_unit("ns"))
    intraday.loc[4, "Time"] = "25:99"
    assert "column 'Date + Time': 1 unparseable timestamp(s) at row 5" in load_error(intraday)


def test_datetime_column_with_timezones_becomes_utc_naive(sample):
    stamps = pd.date_range("2024-03-01 09:30", periods=len(sample), freq="h", tz="America/New_York")
    text = sample.drop(columns="Date").assign(Datetime=stamps.strftime("%Y-%m-%dT%H:%M:%S%z"))
    frame = load_ohlcv(text)
    np.testing.assert_array_equal(frame.index, stamps.tz_convert("UTC").tz_localize(None))
    aware = sample.drop(columns="Date").set_index(stamps)
    assert load_ohlcv(aware).index[0] == pd.Timestamp("2024-03-01 14:30")


@pytest.mark.parametrize("scale", [1, 1000])
def test_epoch_timestamps(sample, scale):
    dates = pd.to_datetime(sample["Date"])
    seconds = (dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    epochs = sample.drop(columns="Date").assign(timestamp=seconds * scale)
    frame = load_ohlcv(epochs)
    np.testing.assert_array_equal(frame.index, dates.to_numpy())


def test_epoch_seconds_in_a_date_column_but_not_row_counters(sample):
    dates = pd.to_datetime(sample["Date"])
    seconds = (dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    np.testing.assert_array_equal(load_ohlcv(sample.assign(Date=seconds)).index, dates)
    message = load_error(sample.assign(Date=np.arange(len(sample))))
    assert "750 unparseable timestamp(s) at rows 1 (0), 2 (1)" in message
    assert "unix epoch" in message


def test_clock_times_alone_are_rejected_with_a_hint(sample):
    clock = sample.drop(columns="Date").assign(Time=["09:30"] * len(sample))
    assert "add a Date column" in load_error(clock)


def test_yyyymmdd_integer_dates(sample):
    ints = sample.assign(Date=pd.to_datetime(sample["Date"]).dt.strftime("%Y%m%d").astype(int))
    pd.testing.assert_frame_equal(load_ohlcv(ints), expected_frame(sample))


def test_unnamed_first_column_from_pandas_index_dump(tmp_path, sample):
    path = tmp_path / "dump.csv"
    expected = expected_frame(sample)
    expected.rename_axis(None).to_csv(path)
    assert path.read_text().startswith(",Open")
    pd.testing.assert_frame_equal(load_ohlcv(path), expected)


def test_text_date_index_of_a_dataframe(sample):
    pd.testing.assert_frame_equal(load_ohlcv(sample.set_index("Date")), expected_frame(sample))


def test_unsorted_input_is_sorted(sample):
    reversed_rows = sample.iloc[::-1]
    pd.testing.assert_frame_equal(load_ohlcv(reversed_rows), expected_frame(sample))


def test_blank_rows_are_skipped_and_numbering_stays_aligned(sample_text):
    lines = lines_of(sample_text)
    lines.insert(5, ",,,,,")
    lines[12] = lines[12].replace(lines[12].split(",")[4], "oops")
    message = load_error(csv_bytes(lines), name="blank.csv")
    assert "at row 12 ('oops')" in message


def test_missing_volume_warns():
    frame = load_sample("sample").drop(columns="Volume")
    with pytest.warns(MissingVolumeWarning, match="volume metrics are skipped"):
        out = load_ohlcv(frame)
    assert_valid_ohlcv(out, volume=False)


def test_all_zero_volume_counts_as_missing(sample):
    with pytest.warns(MissingVolumeWarning, match="zero in every row"):
        out = load_ohlcv(sample.assign(Volume=0))
    assert "Volume" not in out.columns


# --------------------------------------------------------------------------- errors


def test_empty_inputs(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty.csv" in load_error(empty) and "empty" in load_error(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("Date,Open,High,Low,Close,Volume\n")
    assert "no data rows" in load_error(header_only)
    assert "no data rows" in load_error(pd.DataFrame(columns=list("abc")))


def test_missing_file_and_bad_source_type(tmp_path):
    message = load_error(tmp_path / "nope.csv")
    assert "nope.csv" in message and "does not exist" in message
    with pytest.raises(InputDataError, match="pass a path"):
        load_ohlcv(12345)


def test_binary_junk_and_fake_extensions(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    assert "binary file" in load_error(junk)
    fake = tmp_path / "fake.xlsx"
    fake.write_text("Date,Open\n")
    message = load_error(fake)
    assert "fake.xlsx" in message and "the extension says .xlsx" in message
    broken_zip = tmp_path / "broken.xlsx"
    broken_zip.write_bytes(b"PK\x03\x04" + b"garbage" * 20)
    message = load_error(broken_zip)
    assert "broken.xlsx" in message and "could not be read as an XLSX workbook" in message
    assert "could not be read as a Parquet file" in load_error(io.BytesIO(b"PAR1xxxx"), name="p")


def test_ragged_csv_is_reported_with_the_line(sample_text):
    lines = lines_of(sample_text)
    lines[40] += ",1,2"
    message = load_error(csv_bytes(lines), name="ragged.csv")
    assert "ragged.csv" in message and "line 41" in message


def test_missing_columns_list_found_and_aliases(sample):
    message = load_error(sample.drop(columns=["High", "Low"]).rename(columns={"Open": "Opn"}))
    assert "<DataFrame>" in message
    assert "Open, High, Low not found" in message
    assert "'Opn'" in message and "'Close'" in message  # the columns that are there
    assert "High: high, h" in message  # the accepted aliases


def test_no_time_column(sample):
    message = load_error(sample.drop(columns="Date"))
    assert "no time column" in message and "Timestamp" in message and "'Open'" in message


def test_two_columns_for_one_field(sample):
    message = load_error(sample.assign(c=sample["Close"]))
    assert "several columns could be Close" in message and "'c'" in message


def test_non_numeric_cells_name_column_rows_and_values(sample_text):
    lines = lines_of(sample_text)
    for row in (3, 7):
        fields = lines[row].split(",")
        fields[4] = "n.a." if row == 3 else "12abc"
        lines[row] = ",".join(fields)
    message = load_error(csv_bytes(lines), name="prices.csv")
    assert "'prices.csv'" in message
    assert "column 'Close': 2 non-numeric value(s) at rows 3 ('n.a.'), 7 ('12abc')" in message
    assert "first data row" in message and "repair=True" in message


def test_empty_price_cell(sample):
    broken = sample.copy()
    broken.loc[9, "Low"] = np.nan
    message = load_error(broken)
    assert "column 'Low': 1 empty cell(s) at row 10" in message


def test_non_positive_prices_and_negative_volume(sample):
    broken = sample.copy()
    broken.loc[0, "Open"] = 0.0
    broken.loc[4, "Volume"] = -10
    message = load_error(broken)
    assert "column 'Open': 1 non-positive price(s) at row 1 (0.0)" in message
    assert "column 'Volume': 1 negative volume(s) at row 5 (-10)" in message
    assert "2 problems" in message


def test_high_low_violations(sample):
    broken = sample.copy()
    broken.loc[2, ["High", "Low"]] = sample.loc[2, ["Low", "High"]].to_numpy()  # swapped
    broken.loc[5, "High"] = broken.loc[5, "Close"] - 1  # below Close, above Low
    broken.loc[8, "Low"] = broken.loc[8, "Open"] + 0.5  # above min(Open, Close)
    message = load_error(broken)
    assert "column 'High': 1 High below Low at row 3" in message
    assert "column 'High': 2 High below max(Open, Close) at rows 3 (O=" in message
    assert "6 (O=" in message
    assert "column 'Low': 2 Low above min(Open, Close) at rows 3 (O=" in message
    assert "9 (O=" in message


def test_unparseable_and_empty_timestamps(sample):
    broken = sample.copy()
    broken.loc[1, "Date"] = "2016-02-30"
    broken.loc[3, "Date"] = "yesterday"
    broken.loc[6, "Date"] = ""
    message = load_error(broken)
    assert "column 'Date': 2 unparseable timestamp(s) at rows 2 ('2016-02-30'), 4" in message
    assert "column 'Date': 1 empty timestamp cell(s) at row 7" in message


def test_duplicate_timestamps(sample):
    broken = sample.copy()
    broken.loc[20, "Date"] = broken.loc[19, "Date"]
    message = load_error(broken)
    assert "column 'Date': 2 rows sharing a timestamp with another row at rows 20" in message
    assert "rows 20 (2016-02-05), 21 (2016-02-05)" in message


def test_many_problems_show_five_rows_and_a_count(sample):
    broken = sample.copy()
    broken.loc[10:29, "Volume"] = -1
    message = load_error(broken)
    assert (
        "20 negative volume(s) at rows 11 (-1), 12 (-1), 13 (-1), 14 (-1), 15 (-1) and 15 more"
        in message
    )


def test_too_few_rows(sample):
    short = sample.head(MIN_ROWS - 1).astype(object)
    short.loc[3, "Close"] = "junk"  # the length is reported first: fixing cells cannot help
    message = load_error(short)
    assert f"{MIN_ROWS - 1} data rows" in message and f"at least {MIN_ROWS}" in message
    assert "junk" not in message
    assert_valid_ohlcv(load_ohlcv(sample.head(MIN_ROWS)))


def test_error_is_a_value_error():
    assert issubclass(InputDataError, ValueError)


# --------------------------------------------------------------------------- repair


def test_repair_drops_and_fixes_and_reports(sample):
    broken = sample.astype(object)
    broken.loc[0, "Date"] = "not a date"
    broken.loc[1, "Close"] = np.nan
    broken.loc[2, "Open"] = "abc"
    broken.loc[3, "Low"] = -1.0
    broken.loc[4, "Volume"] = -5
    broken.loc[6, "Date"] = broken.loc[5, "Date"]  # duplicate: row 7 (the last) is kept
    broken.loc[6, "Close"] = broken.loc[6, "Low"]
    broken.loc[8, ["High", "Low"]] = sample.loc[8, ["Low", "High"]].to_numpy()
    broken.loc[9, "High"] = broken.loc[9, "Close"] - 1.0
    with pytest.warns(DataRepairWarning, match="dropped 6 of 750 rows") as record:
        frame = load_ohlcv(broken, repair=True)
    assert len(record) == 1
    assert "fixed High/Low in 2" in str(record[0].message)
    assert_valid_ohlcv(frame)
    assert len(frame) == 744
    report = frame.attrs["repair_report"]
    assert list(report) == list(REPAIR_REASONS)
    assert report == {
        "bad_timestamp": 1,
        "missing_value": 1,
        "non_numeric_value": 1,
        "non_positive_price": 1,
        "negative_volume": 1,
        "duplicate_timestamp": 1,
        "high_low_fixed": 2,
    }
    kept = frame.loc[pd.Timestamp(sample.loc[5, "Date"])]
    assert kept["Close"] == sample.loc[6, "Low"]
    swapped = frame.loc[pd.Timestamp(sample.loc[8, "Date"])]
    assert swapped["High"] == sample.loc[8, "High"] and swapped["Low"] == sample.loc[8, "Low"]
    widened = frame.loc[pd.Timestamp(sample.loc[9, "Date"])]
    assert widened["High"] == max(sample.loc[9, ["Open", "Close"]])


def test_repair_of_clean_input_is_silent(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = load_ohlcv(sample, repair=True)
    assert frame.attrs["repair_report"] == dict.fromkeys(REPAIR_REASONS, 0)


def test_repair_still_requires_enough_rows(sample):
    broken = sample.head(MIN_ROWS + 2).astype(object)
    broken.loc[:5, "Close"] = "x"
    with pytest.warns(DataRepairWarning):
        message = load_error(broken, repair=True)
    assert f"{MIN_ROWS - 4} usable rows after repair dropped 6 rows" in message


# --------------------------------------------------------------------------- samples


def test_load_sample_sp500():
    frame = load_sample()
    assert len(frame) == 5031
    assert_valid_ohlcv(frame)
    assert frame.index[0] == pd.Timestamp("1999-01-04")
    assert frame.attrs["source"] == "arch.data.sp500"


def test_load_sample_nasdaq():
    frame = load_sample("nasdaq")
    assert_valid_ohlcv(frame)
    assert len(frame) > 5000


def test_load_sample_csv_is_the_sp500_tail():
    small = load_sample("sample")
    assert_valid_ohlcv(small)
    assert len(small) == 750
    tail = load_sample("sp500").iloc[-750:]
    np.testing.assert_array_equal(small.index, tail.index)
    np.testing.assert_allclose(small[["Open", "Close"]], tail[["Open", "Close"]], atol=0.005)
    assert PACKAGE_SAMPLE_CSV.read_bytes() == SAMPLE_CSV.read_bytes()


def test_unknown_sample_lists_the_names():
    with pytest.raises(InputDataError) as info:
        load_sample("dow")
    assert "'dow'" in str(info.value)
    assert all(repr(name) in str(info.value) for name in SAMPLE_NAMES)


# --------------------------------------------------------------------------- property tests

BASE_ROWS = MIN_ROWS + 20
JUNK = [
    "",
    "abc",
    "-1",
    "0",
    "nan",
    "inf",
    "1e400",
    "1,5",
    "2020-13-45",
    "None",
    " ",
    "--",
    "12:30",
    "0x10",
    "1.2.3",
    "99999999999999999999",
    "-0.0",
    "True",
]
HEAD_FIELDS = ["Date", "Open", "High", "Low", "Close", "Volume"]


@pytest.fixture(scope="module")
def base_lines(sample_text) -> list[str]:
    return lines_of(sample_text)[: BASE_ROWS + 1]


def check_outcome(make_source, repair: bool, min_rows: int = MIN_ROWS) -> None:
    """A load either yields a frame with every invariant or raises InputDataError.

    ``min_rows`` below ``MIN_ROWS`` lowers the module's limit for the call, so that short
    random inputs reach the cell and row checks instead of stopping at the length check.
    """
    with warnings.catch_warnings(), mock.patch.object(readers, "MIN_ROWS", min_rows):
        warnings.simplefilter("ignore")
        try:
            frame = load_ohlcv(make_source(), repair=repair, name="fuzz.csv")
        except InputDataError as exc:
            assert "fuzz.csv" in str(exc)
            return
    assert_valid_ohlcv(frame, volume="Volume" in frame.columns, min_rows=min_rows)


corruption = st.one_of(
    st.tuples(st.just("delete_column"), st.integers(0, 5)),
    st.tuples(
        st.just("junk"),
        st.integers(0, BASE_ROWS),
        st.integers(0, 5),
        st.one_of(st.sampled_from(JUNK), st.text(max_size=8)),
    ),
    st.tuples(st.just("negative"), st.integers(1, BASE_ROWS), st.integers(1, 4)),
    st.tuples(st.just("swap_high_low"), st.integers(1, BASE_ROWS)),
    st.tuples(st.just("duplicate"), st.integers(1, BASE_ROWS), st.integers(1, BASE_ROWS)),
    st.tuples(st.just("shuffle"), st.randoms(use_true_random=False)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("separator"), st.sampled_from([";", "\t", "|"])),
    st.tuples(st.just("insert_bytes"), st.floats(0, 1), st.binary(min_size=1, max_size=12)),
)


def corrupt(lines: list[str], steps) -> bytes:
    lines = list(lines)
    sep = ","
    tail = b""
    cut = None
    for step in steps:
        kind = step[0]
        rows = [line.split(sep) for line in lines]
        if kind == "delete_column":
            rows = [r[: step[1]] + r[step[1] + 1 :] for r in rows]
        elif kind == "junk" and step[1] < len(rows) and step[2] < len(rows[step[1]]):
            rows[step[1]][step[2]] = step[3]
        elif kind == "negative" and step[1] < len(rows) and step[2] < len(rows[step[1]]):
            rows[step[1]][step[2]] = "-" + rows[step[1]][step[2]]
        elif kind == "swap_high_low" and step[1] < len(rows) and len(rows[step[1]]) > 3:
            rows[step[1]][2], rows[step[1]][3] = rows[step[1]][3], rows[step[1]][2]
        elif kind == "duplicate" and step[1] < len(rows):
            rows.insert(min(step[2], len(rows)), list(rows[step[1]]))
        elif kind == "shuffle":
            body = rows[1:]
            step[1].shuffle(body)
            rows = rows[:1] + body
        elif kind == "truncate":
            cut = step[1]
        elif kind == "separator":
            sep_new = step[1]
            lines = [sep_new.join(r) for r in rows]
            sep = sep_new
            continue
        elif kind == "insert_bytes":
            tail += step[2]
        lines = [sep.join(r) for r in rows]
    data = ("\n".join(lines) + "\n").encode()
    if cut is not None:
        data = data[: int(len(data) * cut)]
    if tail:
        pos = len(data) // 2
        data = data[:pos] + tail + data[pos:]
    return data


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(corruption, min_size=1, max_size=4), repair=st.booleans())
def test_corrupted_sample_loads_valid_or_raises_input_error(base_lines, steps, repair):
    data = corrupt(base_lines, steps)
    check_outcome(lambda: io.BytesIO(data), repair)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("0123456789-.,;:\t\n DateOpnHighLwClsVu")), max_size=400
    ),
    repair=st.booleans(),
)
def test_random_csv_text_raises_input_error(text, repair):
    source = ("Date,Open,High,Low,Close,Volume\n" + text).encode()
    check_outcome(lambda: io.BytesIO(source), repair, min_rows=1)


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"PK\x03\x04", b"PAR1", b"\x1f\x8b", b"Date,Open\n"]),
    data=st.binary(max_size=300),
)
def test_random_bytes_raise_input_error(prefix, data):
    check_outcome(lambda: io.BytesIO(prefix + data), repair=False, min_rows=1)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.dates(
                min_value=pd.Timestamp("1990-01-01").date(),
                max_value=pd.Timestamp("2030-01-01").date(),
            ),
            st.lists(
                st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6)),
                min_size=5,
                max_size=5,
            ),
        ),
        min_size=0,
        max_size=30,
    ),
    repair=st.booleans(),
)
def test_random_frames_load_valid_or_raise_input_error(rows, repair):
    frame = (
        pd.DataFrame([[date, *values] for date, values in rows], columns=HEAD_FIELDS)
        if rows
        else pd.DataFrame(columns=HEAD_FIELDS)
    )
    check_outcome(lambda: frame, repair, min_rows=2)
