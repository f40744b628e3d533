"""Hostile and degenerate input through the library and `sme run`: each gets a clear error (or
the correct result) and leaves nothing half-written."""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from pipeline import SyntheticDataFactory, load_ohlcv
from pipeline.cli import main
from pipeline.config import MAX_YAML_NODES, load_config
from pipeline.core.blocks import dependence_block_length, politis_white_block_length
from pipeline.core.fit import check_settings
from pipeline.core.generators import METHODS
from pipeline.errors import ConfigError, InputDataError, MissingVolumeWarning
from pipeline.factory import fit_model
from pipeline.io.limits import (
    LIBRARY_LIMITS,
    SERVER_LIMITS,
    InputLimitError,
    InputLimits,
    unique_names,
)
from pipeline.io.readers import load_sample
from pipeline.redaction import REDACTED, RedactingFilter, redact, redact_text
from pipeline.runner.coordinator import run_pipeline

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"
#: Keeps the runs of these tests small: a thread cluster, few replicates, two scenarios.
TINY_RUN = ["--set", "input.sample=sample", "--set", "generation.n_samples=2",
            "--set", "generation.min_fidelity=0", "--set", "scoring.n_replicates=20",
            "--set", "cluster.processes=false", "--set", "cluster.n_workers=1",
            "--set", "cache.path=null", "--no-progress"]


def _walk(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame({"Close": close}, index=pd.bdate_range("2020-01-01", periods=n,
                                                                name="Date"))
    frame["Open"] = frame["Close"].shift(1).fillna(100.0)
    frame["High"] = frame[["Open", "Close"]].max(axis=1) * 1.002
    frame["Low"] = frame[["Open", "Close"]].min(axis=1) * 0.998
    frame["Volume"] = rng.integers(1000, 2000, n).astype(float)
    return frame[["Open", "High", "Low", "Close", "Volume"]]


def _flat(n: int = 400, high: float = 100.0, low: float = 100.0) -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", periods=n, name="Date")
    return pd.DataFrame({"Open": 100.0, "High": high, "Low": low, "Close": 100.0,
                         "Volume": 1000.0}, index=index)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv().encode()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# ------------------------------------------------------------------------- degenerate series


@pytest.mark.parametrize("frame, what", [
    (_flat(), "every price is 100 in all 400 rows"),
    (_flat(high=101.0, low=99.0), "Close is 100 in all 400 rows"),
])
def test_prices_that_never_change_are_refused_at_load_for_every_method(frame, what):
    with pytest.raises(InputDataError, match="prices never change") as err:
        load_ohlcv(io.BytesIO(_csv(frame)), name="flat.csv")
    assert "flat.csv" in str(err.value) and what in str(err.value)
    assert "nothing to resample" in str(err.value)
    for method in METHODS:  # the factory loads through the reader: the same error, no 0/0
        with pytest.raises(InputDataError, match="prices never change"):
            SyntheticDataFactory(frame, method=method, block_size=10 if method != "iid" else 1)
    # Frames that reach the model without the reader (aligned assets) are refused too.
    with pytest.raises(InputDataError, match="prices never change"):
        fit_model(frame, method="stationary", n_replicates=20)


def test_block_length_of_a_constant_series_is_no_estimate_not_a_division_by_zero():
    b_sb, b_cb = politis_white_block_length(np.zeros(400))
    assert math.isnan(b_sb) and math.isnan(b_cb)
    assert dependence_block_length(np.zeros(400)) == 40  # no estimate: the upper clamp, n / 10
    # The sizes of an evenly alternating price's returns are constant too.
    alternating = np.diff(np.log(np.where(np.arange(401) % 2 == 0, 100.0, 101.0)))
    assert 5 <= dependence_block_length(alternating) <= 40


@pytest.mark.parametrize("method", METHODS)
def test_volume_zero_everywhere_is_dropped_with_a_warning_and_every_method_runs(method):
    frame = _walk(seed=3)
    frame["Volume"] = 0.0
    with pytest.warns(MissingVolumeWarning, match="zero in every row; it is treated as no "
                                                  "volume, and volume metrics are skipped"):
        loaded = load_ohlcv(frame)
    assert "Volume" not in loaded.columns
    regime = {"labels": "quantile"} if method == "regime" else None
    model = fit_model(loaded, method=method, n_replicates=20, regime=regime)
    assert "volume_volatility_corr" not in model.scorer.names


@pytest.mark.parametrize("method", [m for m in METHODS if m != "iid"])
def test_a_fixed_block_longer_than_the_series_is_refused_before_any_fit(method):
    frame = load_ohlcv(_walk(n=250))
    with pytest.raises(ConfigError, match=r"generation\.block_size: 250 is out of range; it "
                                          r"must be between 1 and .* \(249\)"):
        fit_model(frame, method=method, block_size=250, n_replicates=20)
    with pytest.raises(ConfigError, match="generation.block_size"):
        fit_model(frame, method=method, block_size=10**30, n_replicates=20)
    fit_model(frame, method="iid", block_size=10**6, n_replicates=20)  # iid has no blocks


def test_degenerate_input_through_sme_run_exits_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "flat.csv"
    path.write_bytes(_csv(_flat()))
    out = tmp_path / "out"
    code = main(["run", *TINY_RUN, "--set", f"input.path={path}", "--set", "input.sample=null",
                 "--set", f"output.path={out}/{{run_id}}"])
    err = capsys.readouterr().err
    assert code == 2 and "prices never change" in err and "Traceback" not in err
    assert not out.exists()


# ------------------------------------------------------------------------- settings vs data


def test_settings_the_data_cannot_support_are_config_errors_naming_the_key():
    index = load_sample("sample").index  # 750 business days to 2018
    cases = [
        (dict(length=70_000), r"generation\.length: 70000 bars .* past 2262-04-11"),
        (dict(method="regime", regime={"labels": "quantile", "window": 5000}),
         r"generation\.regime\.window: 5000 bars is too long for the input's 749 returns"),
        (dict(timeframes=["-1D"]), r"generation\.timeframes: '-1D' is not a positive span"),
        (dict(timeframes=["1000000D"]), "generation.timeframes: '1000000D' is longer than 100"),
        (dict(block_size=751), r"generation\.block_size: 751 is out of range"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_settings(index, **kwargs)
    # The largest length the message offers is accepted.
    most = int(str(pytest.raises(ConfigError, check_settings, index, length=70_000).value)
               .rsplit("at most ", 1)[1].split()[0])
    check_settings(index, length=most)


def test_timeframes_that_are_not_positive_spans_are_refused_by_the_config():
    for rule, message in (("-1D", "not a positive span"), ("0h", "not a positive span"),
                          ("1000000D", "longer than 100 years"), ("1500M", "longer than 100")):
        with pytest.raises(ConfigError, match=f"generation.timeframes.*{message}"):
            load_config({"generation": {"timeframes": [rule]}})
    load_config({"generation": {"timeframes": ["1h", "W", "3M", "Q-DEC"]}})


def test_length_past_the_calendar_exits_2_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    started = time.perf_counter()
    code = main(["run", *TINY_RUN, "--set", "generation.length=70000",
                 "--set", f"output.path={out}/{{run_id}}"])
    err = capsys.readouterr().err
    assert code == 2 and "generation.length: 70000" in err and "Traceback" not in err
    assert time.perf_counter() - started < 30  # refused before the fit, not after
    assert not out.exists()


# ------------------------------------------------------------------------- YAML


def _alias_bomb(levels: int = 9) -> str:
    lines = ["input:", "  sample: sample", "  storage_options:",
             '    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [_alias_bomb(), "input:\n  storage_options:\n    a: &a [1, *a]\n"],
                         ids=["billion-laughs", "recursive"])
def test_yaml_alias_bombs_are_config_errors_and_exit_2(tmp_path, capsys, text):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    assert path.stat().st_size < 1000
    with pytest.raises(ConfigError, match=f"more than {MAX_YAML_NODES:,} values"):
        load_config(path)
    out = tmp_path / "out"
    assert main(["run", str(path), "--set", f"output.path={out}"]) == 2
    assert "anchors and aliases" in capsys.readouterr().err and not out.exists()
    # The same document as a --set value.
    flow = text.split("storage_options:\n", 1)[1].strip().replace("\n    ", ", ")
    with pytest.raises(ConfigError, match="anchors and aliases"):
        load_config(None, ["input.storage_options={" + flow + "}"])


def test_a_few_aliases_are_fine(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("generation: &g\n  n_samples: 3\n  timeframes: &t [1h]\n"
                    "scoring: {weights: {volatility: 2}}\n")
    assert load_config(path).generation.n_samples == 3


# ------------------------------------------------------------------------- input limits


def _limit_error(data: bytes, name: str, limits: InputLimits = LIBRARY_LIMITS) -> InputLimitError:
    with pytest.raises(InputLimitError) as err:
        load_ohlcv(io.BytesIO(data), name=name, limits=limits)
    return err.value


def test_a_gzip_bomb_is_refused_while_inflating():
    bomb = gzip.compress(b"0" * (64 * 2**20), compresslevel=9)
    assert len(bomb) < 100_000
    err = _limit_error(bomb, "bomb.csv.gz", InputLimits(max_bytes=16 * 2**20))
    assert err.status == 413 and err.limit == "max_bytes" and err.found > 16 * 2**20
    assert "bomb.csv.gz" in str(err) and "InputLimits(max_bytes=...)" in str(err)
    # Concatenated members are still read (as gzip.decompress reads them).
    sample = SAMPLE.read_bytes()
    two = gzip.compress(sample[:1000]) + gzip.compress(sample[1000:])
    assert len(load_ohlcv(io.BytesIO(two), name="two.csv.gz")) == 750


def test_csv_shape_limits_name_the_server_option():
    header = b"Date,Open,High,Low,Close,Volume" + b",x" * 100_000 + b"\n"
    err = _limit_error(header + b"2020-01-01,1,1,1,1,1\n", "names.csv", SERVER_LIMITS)
    assert err.status == 422 and err.limit == "max_line_bytes"
    err = _limit_error(header, "names.csv", SERVER_LIMITS.replace(max_line_bytes=2**20))
    assert err.limit == "max_columns" and err.found == 100_006
    assert "sme serve --max-upload-columns" in str(err)
    rows = SAMPLE.read_bytes()
    err = _limit_error(rows, "rows.csv", InputLimits(max_rows=700))
    assert err.limit == "max_rows" and err.found == 750


def test_repeated_header_names_are_renamed_like_pandas_in_linear_time():
    names = ["Date", "x", "x", "x.1", "", "x", "Close", "Close.1", "Close"]
    expected = list(pd.read_csv(io.StringIO(",".join(names) + "\n" + ",".join("1" * 9))).columns)
    assert unique_names([n or f"Unnamed: {i}" for i, n in enumerate(names)]) == expected
    started = time.perf_counter()
    renamed = unique_names(["x"] * 200_000)
    assert len(set(renamed)) == 200_000 and renamed[:3] == ["x", "x.1", "x.2"]
    assert time.perf_counter() - started < 5  # pandas' own renaming takes minutes here
    frame = _walk(n=250)
    text = frame.to_csv().splitlines()
    text[0] += ",note,note,note"
    data = "\n".join([text[0]] + [line + ",a,b,c" for line in text[1:]]).encode()
    assert list(load_ohlcv(io.BytesIO(data), name="dup.csv").columns) == list(frame.columns)


def test_parquet_rows_are_counted_from_its_footer():
    n = 2_000_000
    table = pa.table({"Date": pa.array(np.zeros(n, "datetime64[ns]")),
                      "Open": pa.array(np.ones(n)), "High": pa.array(np.ones(n)),
                      "Low": pa.array(np.ones(n)), "Close": pa.array(np.ones(n))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    assert buffer.tell() < 600_000
    err = _limit_error(buffer.getvalue(), "rows.parquet", SERVER_LIMITS)
    assert err.limit == "max_rows" and err.found == n and "--max-upload-rows" in str(err)


def xlsx_of_empty_rows(n_rows: int, columns: int = 6) -> bytes:
    """A minimal workbook whose one sheet has ``n_rows`` rows of ``columns`` numbers."""
    cells = "".join(f'<c t="n"><v>{i}</v></c>' for i in range(columns))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
             'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             + "".join(f"<row>{cells}</row>" for _ in range(n_rows))
             + "</sheetData></worksheet>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def test_xlsx_rows_and_columns_are_counted_before_openpyxl_reads_them():
    err = _limit_error(xlsx_of_empty_rows(1_000_001, 1), "rows.xlsx", SERVER_LIMITS)
    assert err.limit == "max_rows" and err.found > 1_000_000
    err = _limit_error(xlsx_of_empty_rows(2, 1_500), "wide.xlsx", SERVER_LIMITS)
    assert err.limit == "max_columns" and err.found == 1_500
    err = _limit_error(xlsx_of_empty_rows(10, 6), "big.xlsx", InputLimits(max_bytes=1000))
    assert err.status == 413


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_rows"):
        InputLimits(max_rows=0)
    assert SERVER_LIMITS.replace(max_rows=5).max_rows == 5


# ------------------------------------------------------------------------- credentials


def test_redaction_rule():
    options = {"key": "AKIAXYZ", "secret": "s3cr3t", "token": None, "anon": False,
               "client_kwargs": {"endpoint_url": "http://u:pw@127.0.0.1:9/?X-Amz-Signature=abc",
                                 "aws_session_token": "tok", "region_name": "us-east-1"}}
    clean = redact(options)
    assert clean["key"] == clean["secret"] == REDACTED and clean["token"] is None
    assert clean["client_kwargs"] == {"endpoint_url": "http://u:***@127.0.0.1:9/?X-Amz-"
                                                      "Signature=***",
                                      "aws_session_token": REDACTED, "region_name": "us-east-1"}
    assert options["key"] == "AKIAXYZ"  # a copy
    assert redact_text("s3://AKIA:sec@bucket/x.csv?token=abc&versionId=2") == \
        "s3://AKIA:***@bucket/x.csv?token=***&versionId=2"
    assert redact_text("gcs://oauthtoken@bucket/x") == "gcs://***@bucket/x"
    assert redact_text("a@b.c and 2020-01-01") == "a@b.c and 2020-01-01"


def test_log_records_are_redacted():
    logger = logging.getLogger("tests.hostile.redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter())
    try:
        logger.warning('%s "GET %s HTTP/1.1" 200', "127.0.0.1", "/api/jobs/x/events?token=t0k")
        try:
            raise OSError("cannot open s3://AKIA:p4ss@bucket/x")
        except OSError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "token=***" in text and "t0k" not in text and "p4ss" not in text
    assert "s3://AKIA:***@bucket" in text


def test_manifest_holds_no_credentials_and_the_run_id_ignores_them(s3_server, s3_bucket,
                                                                   tmp_path):
    options = dict(s3_server.storage_options)
    config = {"input": {"sample": "sample"},
              "generation": {"n_samples": 2, "min_fidelity": 0, "seed": 1},
              "scoring": {"n_replicates": 20},
              "cluster": {"processes": False, "n_workers": 1},
              "cache": {"path": None},
              "output": {"path": f"{s3_bucket}/runs/{{run_id}}", "storage_options": options,
                         "formats": ["csv"], "zip": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = run_pipeline(config)
        # The same run with the credentials from the environment instead: the same run id.
        env_only = {**options}
        del env_only["key"], env_only["secret"]
        second = run_pipeline({**config, "output": {**config["output"],
                                                    "storage_options": env_only}})
    assert first.run_id == second.run_id
    from pipeline.io.writers import OutputStore

    store = OutputStore(f"{s3_bucket}/runs/{first.run_id}", storage_options=options)
    text = store.read_bytes("manifest.json").decode()
    manifest = json.loads(text)
    saved = manifest["config"]["output"]["storage_options"]
    assert saved["key"] == saved["secret"] == REDACTED
    assert saved["client_kwargs"]["endpoint_url"] == s3_server.endpoint_url
    assert '"testing"' not in text


# ------------------------------------------------------------------------- S3 output


def test_unreachable_or_refused_s3_output_is_one_line_and_exit_2(s3_server, s3_bucket, capsys):
    options = {**s3_server.storage_options, "key": "AKIAWRONGKEY", "secret": "wr0ng-s3cret"}
    so = json.dumps(options)
    for url in (f"s3://sme-missing-{time.monotonic_ns()}/runs/{{run_id}}",
                f"{s3_bucket}/runs/{{run_id}}"):
        auth = url.startswith(s3_bucket)
        if auth:  # moto checks credentials from here on: the made-up key is unknown
            previous = requests.post(f"{s3_server.endpoint_url}/moto-api/reset-auth",
                                     data=b"0", timeout=10).json()
        try:
            code = main(["run", *TINY_RUN, "--set", f"output.path={url}",
                         "--set", f"output.storage_options={so}"])
        finally:
            if auth:
                requests.post(f"{s3_server.endpoint_url}/moto-api/reset-auth",
                              data=previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"].encode(),
                              timeout=10)
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert err.count("\n") == 0 and err.startswith("error: output location 's3://")
        assert ("bucket does not exist" if not auth else "PermissionError") in err
        assert "wr0ng-s3cret" not in err and "AKIAWRONGKEY" not in err
    client = s3_server.client()
    assert client.list_objects_v2(Bucket=s3_bucket[5:]).get("KeyCount", 0) == 0
