"""ML and backtest export of a finished run: Parquet dataset, NPZ and TFRecord windows, layouts.

The run is real (a small ``run_pipeline`` call); windows are recomputed here with plain loops,
TFRecord files are read back with the independent ``tfrecord`` package (protobuf) and their
framing checked with the ``crc32c`` package, and the backtest layouts are fed to backtrader and
backtesting.py themselves when installed.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest

from pipeline import run_pipeline
from pipeline.cli import main
from pipeline.errors import ConfigError, InputDataError
from pipeline.export import (
    DEFAULT_FEATURES,
    FEATURES,
    LAYOUTS,
    crc32c,
    export_npz,
    export_parquet_dataset,
    export_run,
    export_tfrecord,
    iter_run_frames,
    masked_crc32c,
    to_backtest_frame,
    window_tensors,
)
from pipeline.io.writers import OutputStore

LENGTH = 250
N_SAMPLES = 6
TF_DESCRIPTION = {"window": "float", "shape": "int", "scenario": "int", "start": "int",
                  "feature_names": "byte"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real, small finished run with Parquet and CSV series (a few seconds)."""
    out = tmp_path_factory.mktemp("export") / "run"
    run_pipeline({
        "input": {"sample": "sample"},
        "generation": {"n_samples": N_SAMPLES, "length": LENGTH, "min_fidelity": 0, "seed": 1},
        "scoring": {"n_replicates": 20},
        "cluster": {"n_workers": 1, "processes": False},
        "output": {"path": str(out), "formats": ["parquet", "csv"], "zip": False},
        "cache": {"path": None},
    })
    return out


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _series(run: Path) -> dict[int, pd.DataFrame]:
    """Each scenario's series, read straight from its Parquet file."""
    return {e["scenario"]: pd.read_parquet(run / e["files"]["parquet"])
            for e in _manifest(run)["scenarios"]}


def _copy_run(src: Path, dst: Path, edit=None) -> Path:
    """A copy of the run's manifest and series files, the manifest optionally edited."""
    dst.mkdir(parents=True)
    for path in src.iterdir():
        if path.is_file():
            shutil.copy2(path, dst / path.name)
    if edit is not None:
        manifest = _manifest(src)
        edit(manifest)
        (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def _expected_windows(frame: pd.DataFrame, window: int, stride: int) -> tuple[list, list]:
    """Default-feature windows by plain loops over bars, with math.log (not the module's code)."""
    o, h, lo, c, v = (frame[k].tolist() for k in ("Open", "High", "Low", "Close", "Volume"))
    rows = [[math.log(c[t] / c[t - 1]), math.log(h[t] / c[t]), math.log(lo[t] / c[t]),
             math.log(o[t] / c[t - 1]), math.log1p(v[t])] for t in range(1, len(c))]
    starts = list(range(1, len(c) - window + 1, stride))
    return [rows[s - 1 : s - 1 + window] for s in starts], starts


def _read_tfrecord_framing(path: Path) -> list[bytes]:
    """Walk TFRecord framing and check both masked CRC-32Cs of every record (crc32c package)."""
    crc32c_pkg = pytest.importorskip("crc32c")

    def masked(data: bytes) -> int:
        crc = crc32c_pkg.crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    raw = path.read_bytes()
    records, pos = [], 0
    while pos < len(raw):
        length_bytes = raw[pos : pos + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", raw[pos + 8 : pos + 12])
        data = raw[pos + 12 : pos + 12 + length]
        (data_crc,) = struct.unpack("<I", raw[pos + 12 + length : pos + 16 + length])
        assert length_crc == masked(length_bytes)
        assert data_crc == masked(data)
        records.append(data)
        pos += 16 + length
    assert pos == len(raw)
    return records


# -- CRC-32C ------------------------------------------------------------------------------------


def test_crc32c_known_vector_and_mask():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32
    writer = pytest.importorskip("tfrecord.writer")  # its masked CRC, built on crc32c
    assert struct.pack("<I", masked_crc32c(b"123456789")) == \
        writer.TFRecordWriter.masked_crc(b"123456789")


def test_crc32c_matches_the_crc32c_package_on_random_data():
    crc32c_pkg = pytest.importorskip("crc32c")
    rng = np.random.default_rng(7)
    for size in (1, 7, 8, 255, 1000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert crc32c(data) == crc32c_pkg.crc32c(data)


# -- Parquet dataset ------------------------------------------------------------------------------


def test_parquet_dataset_round_trip_equals_series_files(run_dir, tmp_path):
    dest = tmp_path / "dataset"
    assert export_parquet_dataset(run_dir, dest) == str(dest)
    names = [p.relative_to(dest).as_posix() for p in _files_under(dest)]
    assert names == [f"scenario={k}/part-0.parquet" for k in range(1, N_SAMPLES + 1)]

    table = pads.dataset(dest, partitioning="hive").to_table()
    assert table.column_names == ["timestamp", "Open", "High", "Low", "Close", "Volume",
                                  "scenario"]
    frame = table.to_pandas()
    series = _series(run_dir)
    assert sorted(frame["scenario"].unique()) == sorted(series)
    for k, expected in series.items():
        got = frame[frame["scenario"] == k].sort_values("timestamp")
        assert (got["timestamp"].to_numpy() == expected.index.to_numpy()).all()
        for col in expected.columns:  # exactly the stored values, not approximately
            np.testing.assert_array_equal(got[col].to_numpy(), expected[col].to_numpy())

    via_pandas = pd.read_parquet(dest)  # pandas discovers the hive partitions too
    assert len(via_pandas) == N_SAMPLES * LENGTH
    assert sorted(via_pandas["scenario"].astype(int).unique()) == list(range(1, N_SAMPLES + 1))


def test_parquet_dataset_default_dest_is_idempotent_and_drops_stale_partitions(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    path = Path(export_parquet_dataset(run))
    assert path == run / "ml" / "dataset"
    first = {p: p.read_bytes() for p in _files_under(path)}
    stale = path / "scenario=99" / "part-0.parquet"
    stale.parent.mkdir()
    stale.write_bytes(next(iter(first.values())))
    export_parquet_dataset(run)
    assert {p: p.read_bytes() for p in _files_under(path)} == first


def test_csv_only_run_gives_the_same_dataset(run_dir, tmp_path):
    def csv_only(manifest):
        for e in manifest["scenarios"]:
            e["files"] = {"csv": e["files"]["csv"]}

    run = _copy_run(run_dir, tmp_path / "run", csv_only)
    a = pads.dataset(export_parquet_dataset(run_dir, tmp_path / "a"), partitioning="hive")
    b = pads.dataset(export_parquet_dataset(run, tmp_path / "b"), partitioning="hive")
    ta, tb = (d.to_table().sort_by([("scenario", "ascending"), ("timestamp", "ascending")])
              for d in (a, b))
    for col in ("Open", "High", "Low", "Close", "Volume"):  # CSV keeps round-trip precision
        np.testing.assert_array_equal(ta[col].to_numpy(), tb[col].to_numpy())
    assert (ta["timestamp"].to_numpy() == tb["timestamp"].to_numpy()).all()


# -- windows and NPZ ------------------------------------------------------------------------------


def test_npz_shapes_feature_order_and_values(run_dir, tmp_path):
    dest = tmp_path / "w.npz"
    assert export_npz(run_dir, dest, window=24) == str(dest)
    with np.load(dest) as z:  # no pickle needed
        assert sorted(z.files) == ["feature_names", "scenario", "start", "windows"]
        windows, scen, start, names = (z[k] for k in ("windows", "scenario", "start",
                                                       "feature_names"))
    assert list(names) == list(DEFAULT_FEATURES)  # the sample has volume
    per_series = (LENGTH - 1) // 24  # bar 0 has no previous close
    assert windows.dtype == np.float32
    assert windows.shape == (N_SAMPLES * per_series, 24, len(DEFAULT_FEATURES))
    assert scen.dtype == start.dtype == np.int64
    assert list(scen) == [k for k in range(1, N_SAMPLES + 1) for _ in range(per_series)]

    for k, frame in _series(run_dir).items():
        expected, starts = _expected_windows(frame, 24, 24)
        assert list(start[scen == k]) == starts
        np.testing.assert_allclose(windows[scen == k], np.array(expected), rtol=2e-7, atol=0)


def test_window_tensors_stride_raw_features_and_order(run_dir):
    frames = _series(run_dir)
    frame = frames[1]
    win, meta = window_tensors(frame, 10, stride=3, features=["Close", "log_return", "Open"])
    assert meta.feature_names == ("Close", "log_return", "Open")
    assert list(meta.start) == list(range(1, LENGTH - 10 + 1, 3))
    assert (meta.scenario == 1).all() and (meta.window, meta.stride) == (10, 3)
    s = int(meta.start[4])
    np.testing.assert_array_equal(win[4, :, 0], frame["Close"].iloc[s : s + 10].to_numpy(
        dtype=np.float32))
    np.testing.assert_array_equal(win[4, :, 2], frame["Open"].iloc[s : s + 10].to_numpy(
        dtype=np.float32))

    # Raw prices only: no previous close needed, so the first window starts at bar 0 and a
    # window as long as the series fits exactly once.
    win, meta = window_tensors(frame, LENGTH, features=["Open", "High", "Low", "Close"])
    assert win.shape == (1, LENGTH, 4) and list(meta.start) == [0]
    # A sequence is numbered from 1, as a run numbers its scenarios; a mapping keeps its keys.
    _, meta = window_tensors([frames[1], frames[2]], 100, stride=100)
    assert list(meta.scenario) == [1, 1, 2, 2]
    _, meta = window_tensors({5: frames[1]}, 100)
    assert set(meta.scenario) == {5}


def test_window_tensors_volume_is_optional_only_by_default(run_dir):
    frame = _series(run_dir)[1].drop(columns="Volume")
    win, meta = window_tensors(frame, 24)
    assert meta.feature_names == DEFAULT_FEATURES[:4]
    assert win.shape[2] == 4
    with pytest.raises(InputDataError, match="Volume"):
        window_tensors(frame, 24, features=["log_return", "log1p_volume"])


def test_window_tensors_rejects_bad_arguments(run_dir):
    frame = _series(run_dir)[1]
    with pytest.raises(ConfigError, match=r"unknown feature\(s\) 'rsi'.*log_return"):
        window_tensors(frame, 24, features=["log_return", "rsi"])
    for bad in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="window"):
            window_tensors(frame, bad)
    with pytest.raises(ConfigError, match="stride"):
        window_tensors(frame, 24, stride=0)
    with pytest.raises(ConfigError, match="longer than the 249 bars"):
        window_tensors(frame, LENGTH)
    broken = frame.copy()
    broken.iloc[7, broken.columns.get_loc("Low")] = -1.0
    with pytest.raises(InputDataError, match="log_low_close.*bar 7"):
        window_tensors(broken, 24)
    assert set(FEATURES) >= set(DEFAULT_FEATURES)


# -- TFRecord -------------------------------------------------------------------------------------


def test_tfrecord_round_trip_with_an_independent_reader(run_dir, tmp_path):
    reader = pytest.importorskip("tfrecord.reader")
    npz = export_npz(run_dir, tmp_path / "w.npz", window=24, stride=12)
    path = Path(export_tfrecord(run_dir, tmp_path / "w.tfrecord", window=24, stride=12))
    with np.load(npz) as z:
        windows, scen, start, names = (z[k] for k in ("windows", "scenario", "start",
                                                       "feature_names"))

    records = list(reader.tfrecord_loader(str(path), None, TF_DESCRIPTION))
    assert len(records) == len(windows) == len(_read_tfrecord_framing(path))
    for i, rec in enumerate(records):
        assert list(rec["shape"]) == [24, len(names)]
        assert rec["window"].dtype == np.float32
        np.testing.assert_array_equal(rec["window"].reshape(24, len(names)), windows[i])
        assert list(rec["scenario"]) == [scen[i]] and list(rec["start"]) == [start[i]]
        assert [b.decode() for b in rec["feature_names"]] == list(names)


def test_tfrecord_large_starts_and_many_records_keep_valid_framing(run_dir, tmp_path):
    """stride=1: starts above 127 take two-byte varints, so records differ in length."""
    path = Path(export_tfrecord(run_dir, tmp_path / "w.tfrecord", window=5, stride=1,
                                features=["log_return"]))
    records = _read_tfrecord_framing(path)
    assert len(records) == N_SAMPLES * (LENGTH - 1 - 5 + 1)
    assert len({len(r) for r in records}) == 2


# -- errors: clear, and nothing written ---------------------------------------------------------


@pytest.mark.parametrize("export", [export_parquet_dataset, export_npz, export_tfrecord,
                                    export_run, iter_run_frames])
def test_missing_manifest_is_a_clear_error(tmp_path, export):
    (tmp_path / "run").mkdir()
    with pytest.raises(InputDataError, match=r"manifest\.json: not found"):
        export(tmp_path / "run")
    assert _files_under(tmp_path) == []


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputDataError, match="not valid JSON"):
        export_npz(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"run_id": "x"}))
    with pytest.raises(InputDataError, match="no 'scenarios' list"):
        export_parquet_dataset(tmp_path)


def test_window_longer_than_the_series_writes_nothing(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    for export in (export_npz, export_tfrecord):
        with pytest.raises(ConfigError, match="longer than the 249 bars"):
            export(run, window=LENGTH)
    with pytest.raises(ConfigError, match="longer than"):
        export_run(run, window=LENGTH)
    assert not (run / "ml").exists()

    # Without the manifest's length the series themselves tell, and the half-written output
    # is dropped.
    bare = _copy_run(run_dir, tmp_path / "bare", lambda m: m.pop("model"))
    for export in (export_npz, export_tfrecord):
        with pytest.raises(ConfigError, match="scenario 1"):
            export(bare, window=LENGTH)
    assert not (bare / "ml").exists()


def test_missing_or_corrupt_series_file_writes_nothing(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    victim = _manifest(run)["scenarios"][3]["files"]["parquet"]
    (run / victim).unlink()
    for export in (export_parquet_dataset, export_npz, export_tfrecord):
        with pytest.raises(InputDataError, match="scenario 4 listed in the manifest is missing"):
            export(run)
    assert not (run / "ml").exists()

    (run / victim).write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputDataError, match="cannot read the series"):
        export_parquet_dataset(run)
    with pytest.raises(InputDataError, match="cannot read the series"):
        export_tfrecord(run)
    assert not (run / "ml").exists()  # partitions 1-3 and their directories were removed


def test_unknown_layout_and_feature_are_config_errors(run_dir, tmp_path):
    frame = _series(run_dir)[1]
    with pytest.raises(ConfigError, match="unknown layout 'pandas'.*'zipline'"):
        to_backtest_frame(frame, "pandas")
    with pytest.raises(ConfigError, match="unknown layout"):
        iter_run_frames(run_dir, layout="Backtrader")
    run = _copy_run(run_dir, tmp_path / "run")
    with pytest.raises(ConfigError, match="unknown feature"):
        export_npz(run, features=["log_return", "close"])
    assert not (run / "ml").exists()


# -- backtest layouts -----------------------------------------------------------------------------


def test_backtest_layouts(run_dir):
    frame = _series(run_dir)[1]
    bp = to_backtest_frame(frame, "backtesting.py")
    assert list(bp.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert isinstance(bp.index, pd.DatetimeIndex) and bp.index.tz is None
    pd.testing.assert_frame_equal(bp, frame, check_names=False)
    pd.testing.assert_frame_equal(to_backtest_frame(frame, "vectorbt"), bp)

    bt = to_backtest_frame(frame, "backtrader")
    assert list(bt.columns) == ["open", "high", "low", "close", "volume", "openinterest"]
    assert (bt["openinterest"] == 0).all() and bt.index.name == "datetime"
    np.testing.assert_array_equal(bt["close"].to_numpy(), frame["Close"].to_numpy())

    zl = to_backtest_frame(frame, "zipline")
    assert list(zl.columns) == ["open", "high", "low", "close", "volume"]
    assert str(zl.index.tz) == "UTC"
    assert (zl.index.tz_localize(None) == frame.index).all()

    # The dataset's rows (a timestamp column) convert too.
    rows = frame.rename_axis("timestamp").reset_index()
    pd.testing.assert_frame_equal(to_backtest_frame(rows, "backtesting.py"), bp)
    with pytest.raises(InputDataError, match="zipline needs volume"):
        to_backtest_frame(frame.drop(columns="Volume"), "zipline")
    with pytest.raises(InputDataError, match="lacks column"):
        to_backtest_frame(frame.drop(columns="High"), "backtrader")


def test_iter_run_frames_one_scenario_at_a_time(run_dir):
    series = _series(run_dir)
    frames = iter_run_frames(run_dir)
    assert iter(frames) is frames  # lazy: a generator, not a list of every series
    got = list(frames)
    assert [k for k, _ in got] == sorted(series)
    for k, frame in got:
        pd.testing.assert_frame_equal(frame, series[k])
    k, zl = next(iter_run_frames(run_dir, layout="zipline"))
    assert k == 1 and str(zl.index.tz) == "UTC" and "volume" in zl.columns


def test_backtrader_reads_the_backtrader_layout(run_dir):
    bt = pytest.importorskip("backtrader")
    _, frame = next(iter_run_frames(run_dir))
    seen = []

    class Record(bt.Strategy):
        def next(self):
            d = self.data
            seen.append((d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0],
                         d.openinterest[0]))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=to_backtest_frame(frame, "backtrader")))
    cerebro.addstrategy(Record)
    cerebro.run()
    expected = frame[["Open", "High", "Low", "Close", "Volume"]].to_numpy()
    np.testing.assert_array_equal(np.array(seen)[:, :5], expected)
    assert np.array(seen)[:, 5].tolist() == [0.0] * len(frame)


def test_backtesting_py_runs_on_its_layout(run_dir):
    backtesting = pytest.importorskip("backtesting")
    _, frame = next(iter_run_frames(run_dir, layout="backtesting.py"))

    class BuyAndHold(backtesting.Strategy):
        def init(self):
            pass

        def next(self):
            if not self.position:
                self.buy()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = backtesting.Backtest(frame, BuyAndHold, cash=1e7, finalize_trades=True).run()
    assert stats["Start"] == frame.index[0] and stats["End"] == frame.index[-1]
    assert stats["# Trades"] == 1


# -- multi-asset scenarios ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multi_run_dir(tmp_path_factory) -> Path:
    """A real multi-asset run: two assets per scenario, one series file per asset."""
    out = tmp_path_factory.mktemp("export-multi") / "run"
    run_pipeline({
        "input": {"assets": {"SPY": "sample:sp500", "NDX": "sample:nasdaq"}},
        "generation": {"n_samples": 3, "length": LENGTH, "min_fidelity": 0, "seed": 1},
        "scoring": {"n_replicates": 20},
        "cluster": {"n_workers": 1, "processes": False},
        "output": {"path": str(out), "formats": ["parquet"], "zip": False},
        "cache": {"path": None},
    })
    return out


def test_multi_asset_run(multi_run_dir):
    entries = _manifest(multi_run_dir)["scenarios"]
    assert sorted(entries[0]["assets"]) == ["NDX", "SPY"]  # what the exporter relies on
    per_asset = {e["scenario"]: {a: pd.read_parquet(multi_run_dir / f["parquet"])
                                 for a, f in e["assets"].items()} for e in entries}

    table = pads.dataset(export_parquet_dataset(multi_run_dir), partitioning="hive").to_table()
    assert table.column_names[:2] == ["timestamp", "asset"]
    frame = table.to_pandas()
    assert len(frame) == len(entries) * 2 * LENGTH
    for k, assets in per_asset.items():
        for a, expected in assets.items():
            got = frame[(frame["scenario"] == k) & (frame["asset"] == a)]
            np.testing.assert_array_equal(got["Close"].to_numpy(), expected["Close"].to_numpy())
            assert (got["timestamp"].to_numpy() == expected.index.to_numpy()).all()

    with np.load(export_npz(multi_run_dir, window=24)) as z:
        names, windows, scen = list(z["feature_names"]), z["windows"], z["scenario"]
    assert names == [f"{a}:{f}" for a in ("NDX", "SPY") for f in DEFAULT_FEATURES]
    assert windows.shape == (len(entries) * ((LENGTH - 1) // 24), 24, 10)
    for k, assets in per_asset.items():  # assets side by side, in sorted symbol order
        ndx, _ = _expected_windows(assets["NDX"], 24, 24)
        spy, _ = _expected_windows(assets["SPY"], 24, 24)
        np.testing.assert_allclose(windows[scen == k], np.concatenate([ndx, spy], axis=2),
                                   rtol=2e-7, atol=0)

    k, frames = next(iter_run_frames(multi_run_dir, layout="backtrader"))
    assert k == 1 and sorted(frames) == ["NDX", "SPY"]
    assert "openinterest" in frames["SPY"].columns


def test_window_tensors_of_a_multi_asset_mapping(run_dir):
    series = _series(run_dir)
    win, meta = window_tensors({"B": series[1], "A": series[2]}, 24)  # one scenario, 2 assets
    single, _ = window_tensors([series[2], series[1]], 24)
    per = len(win)
    assert meta.feature_names[:2] == ("A:log_return", "A:log_high_close")
    np.testing.assert_array_equal(win[..., :5], single[:per])
    np.testing.assert_array_equal(win[..., 5:], single[per:])
    shifted = series[2].iloc[1:]
    with pytest.raises(InputDataError, match="share one time index"):
        window_tensors({"B": series[1], "A": shifted}, 24)


# -- S3 -------------------------------------------------------------------------------------------


def test_exports_on_s3(run_dir, s3_server, s3_bucket):
    import s3fs

    opts = s3_server.storage_options
    url = f"{s3_bucket}/runs/r1"
    store = OutputStore(url, storage_options=opts)
    for path in run_dir.iterdir():
        if path.is_file():
            store.write_bytes(path.name, path.read_bytes())

    dataset_url = export_parquet_dataset(url, storage_options=opts)
    assert dataset_url == f"{url}/ml/dataset"
    fs = s3fs.S3FileSystem(**opts)
    fs.invalidate_cache()
    remote = pads.dataset(dataset_url.removeprefix("s3://"), filesystem=fs,
                          partitioning="hive").to_table().to_pandas()
    assert len(remote) == N_SAMPLES * LENGTH
    for k, expected in _series(run_dir).items():
        got = remote[remote["scenario"] == k].sort_values("timestamp")
        np.testing.assert_array_equal(got["Close"].to_numpy(), expected["Close"].to_numpy())

    npz_url = export_npz(url, storage_options=opts)
    assert npz_url == f"{url}/ml/windows.npz"
    with np.load(io.BytesIO(store.read_bytes("ml/windows.npz"))) as z:
        local, _ = window_tensors(_series(run_dir), 24)
        np.testing.assert_array_equal(z["windows"], local)
    assert sorted(store.list("ml/")) == [f"ml/dataset/scenario={k}/part-0.parquet"
                                         for k in range(1, N_SAMPLES + 1)] + ["ml/windows.npz"]


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_export(run_dir, tmp_path, capsys):
    run = _copy_run(run_dir, tmp_path / "run")
    assert main(["export", str(run), "--window", "12", "--stride", "6"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"parquet dataset: {run / 'ml' / 'dataset'}",
                   f"npz windows: {run / 'ml' / 'windows.npz'}",
                   f"tfrecord windows: {run / 'ml' / 'windows.tfrecord'}"]
    with np.load(run / "ml" / "windows.npz") as z:
        assert z["windows"].shape == (N_SAMPLES * ((LENGTH - 1 - 12) // 6 + 1), 12, 5)

    dest = tmp_path / "only-npz"
    assert main(["export", str(run), "--npz", "--dest", str(dest),
                 "--features", "log_return,Close"]) == 0
    assert [p.name for p in _files_under(dest)] == ["windows.npz"]
    with np.load(dest / "windows.npz") as z:
        assert list(z["feature_names"]) == ["log_return", "Close"]


def test_cli_export_bad_input_exits_2_and_writes_nothing(run_dir, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "manifest.json: not found" in capsys.readouterr().err
    dest = tmp_path / "out"
    assert main(["export", str(run_dir), "--window", "500", "--dest", str(dest)]) == 2
    assert "longer than" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--features", "nope", "--dest", str(dest)]) == 2
    assert not dest.exists()
    assert set(LAYOUTS) == {"backtesting.py", "backtrader", "vectorbt", "zipline"}
