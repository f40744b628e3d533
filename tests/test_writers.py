"""Tests of pipeline.io.writers: local, memory:// and S3 (moto server) outputs."""

from __future__ import annotations

import io
import os
import pickle
import uuid
import zipfile

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import ConfigError
from pipeline.io import writers
from pipeline.io.writers import EXTENSIONS, FORMATS, OutputStore, frame_to_bytes


def make_frame(n: int = 50, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(12, 0.5, n)
    index = pd.bdate_range("2021-01-04", periods=n, name="Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index
    )


def read_frame(data: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(data), index_col="Date", parse_dates=["Date"])
    elif fmt == "xlsx":
        frame = pd.read_excel(io.BytesIO(data), index_col="Date", engine="openpyxl")
    else:
        frame = pd.read_parquet(io.BytesIO(data))
    return frame


def assert_same_values(got: pd.DataFrame, want: pd.DataFrame, fmt: str) -> None:
    # CSV and Parquet round-trip float64 bit for bit. openpyxl writes numbers with "%.16g"
    # (16 significant digits, one short of round-trip), so XLSX is exact to 1e-15 relative.
    # The datetime unit may differ by reader (ns vs us), which is not a difference in value.
    assert list(got.columns) == list(want.columns)
    assert got.index.name == "Date"
    np.testing.assert_array_equal(
        got.index.to_numpy("datetime64[ns]"), want.index.to_numpy("datetime64[ns]")
    )
    if fmt == "xlsx":
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-15, atol=0)
    else:
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


@pytest.fixture(params=["local", "memory", "s3"])
def store(request, tmp_path) -> OutputStore:
    if request.param == "local":
        return OutputStore(tmp_path / "out")
    if request.param == "memory":
        return OutputStore(f"memory://sme-tests/{uuid.uuid4().hex}")
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return OutputStore(f"{bucket}/run-1", storage_options=server.storage_options)


# -- round trips -------------------------------------------------------------------------------


def test_bytes_round_trip_and_listing(store):
    assert store.list() == []
    assert not store.exists("a/b.bin")
    store.write_bytes("a/b.bin", b"\x00\x01payload")
    store.write_bytes("a/c.bin", b"")
    store.write_bytes("top.txt", "héllo".encode())
    assert store.read_bytes("a/b.bin") == b"\x00\x01payload"
    assert store.read_bytes("a/c.bin") == b""
    assert store.exists("a/b.bin")
    assert store.list() == ["a/b.bin", "a/c.bin", "top.txt"]
    assert store.list("a/") == ["a/b.bin", "a/c.bin"]
    assert store.list("a/b") == ["a/b.bin"]
    assert store.list("zzz/") == []
    store.remove("a/b.bin")
    store.remove("a/b.bin")  # missing: no error
    assert not store.exists("a/b.bin")
    assert store.list() == ["a/c.bin", "top.txt"]
    with pytest.raises(FileNotFoundError):
        store.read_bytes("a/b.bin")


def test_path_joins_url_and_name(store):
    assert store.path("series/s1.csv") == f"{store.url}/series/s1.csv"
    assert "://" in store.path("x") or os.path.isabs(store.path("x"))
    with pytest.raises(ValueError, match="relative path"):
        store.path("../escape.csv")


def test_json_round_trip(store):
    obj = {
        "b": [1, 2.5, float("nan")],
        "a": {"inf": float("inf"), "z": "ü"},
        "np": np.float64(0.25),
        "arr": np.arange(3),
        "when": pd.Timestamp("2024-01-02"),
    }
    store.write_json("manifest.json", obj)
    assert store.read_json("manifest.json") == {
        "a": {"inf": None, "z": "ü"},
        "arr": [0, 1, 2],
        "b": [1, 2.5, None],
        "np": 0.25,
        "when": "2024-01-02T00:00:00",
    }
    text = store.read_bytes("manifest.json").decode("utf-8")
    assert text.startswith('{\n  "a": {')  # indent 2, sorted keys
    assert "NaN" not in text and "Infinity" not in text and "ü" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_frame_round_trip(store, fmt):
    frame = make_frame()
    name = f"series/s00001{EXTENSIONS[fmt]}"
    store.write_frame(name, frame, fmt)
    data = store.read_bytes(name)
    assert data == frame_to_bytes(frame, fmt)
    assert_same_values(read_frame(data, fmt), frame, fmt)


def test_zip_round_trip(store):
    members = {"b.csv": b"2,3\n", "a/x.json": b"{}", "c.bin": bytes(range(256)) * 100}
    store.write_zip("all.zip", members)
    with zipfile.ZipFile(io.BytesIO(store.read_bytes("all.zip"))) as archive:
        assert archive.namelist() == sorted(members)
        assert {n: archive.read(n) for n in archive.namelist()} == members
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in archive.infolist())


def test_zip_from_store_files(store):
    frame = make_frame(20)
    for i in (2, 1):
        store.write_frame(f"series/s{i}.csv", frame * i, "csv")
    store.write_zip_from(
        "bundle.zip", ["series/s2.csv", "series/s1.csv"], arcnames=["two.csv", "one.csv"]
    )
    with zipfile.ZipFile(io.BytesIO(store.read_bytes("bundle.zip"))) as archive:
        assert archive.namelist() == ["one.csv", "two.csv"]
        assert archive.read("two.csv") == store.read_bytes("series/s2.csv")
    # Same members through write_zip give the very same archive.
    direct = {
        "one.csv": store.read_bytes("series/s1.csv"),
        "two.csv": store.read_bytes("series/s2.csv"),
    }
    store.write_zip("direct.zip", direct)
    assert store.read_bytes("direct.zip") == store.read_bytes("bundle.zip")
    with pytest.raises(ValueError, match="arcnames"):
        store.write_zip_from("bad.zip", ["series/s1.csv"], arcnames=["a", "b"])


# -- determinism and idempotence ---------------------------------------------------------------


def shift_clock(monkeypatch, days: int = 400) -> None:
    """Move every clock openpyxl and zipfile read ``days`` into the future."""
    import datetime as dt
    import time
    import types

    import openpyxl.packaging.core
    import openpyxl.writer.excel

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(days=days)

    fake = types.SimpleNamespace(datetime=Later, timezone=dt.timezone)
    monkeypatch.setattr(openpyxl.writer.excel, "datetime", fake)
    monkeypatch.setattr(openpyxl.packaging.core, "datetime", fake)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + days * 86_400)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_frame_gives_identical_bytes(fmt, monkeypatch):
    frame = make_frame()
    first = frame_to_bytes(frame, fmt)
    # Wall-clock time is what leaks into files (xlsx core.xml and ZIP entry times): move the
    # clock and the bytes must not move.
    shift_clock(monkeypatch)
    assert frame_to_bytes(frame.copy(), fmt) == first
    assert frame_to_bytes(make_frame(seed=8), fmt) != first


def test_clock_shift_would_change_unpinned_xlsx(monkeypatch):
    # Guards the test above: openpyxl on its own does embed the (shifted) clock.
    frame = make_frame(5)
    plain = io.BytesIO()
    frame.to_excel(plain, engine="openpyxl")
    shift_clock(monkeypatch)
    later = io.BytesIO()
    frame.to_excel(later, engine="openpyxl")
    assert plain.getvalue() != later.getvalue()


def test_xlsx_pins_document_times():
    data = frame_to_bytes(make_frame(5), "xlsx")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        core = archive.read("docProps/core.xml").decode()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
    assert "2000-01-01T00:00:00Z" in core
    assert core.count("2000-01-01T00:00:00Z") == 2  # created and modified


def test_frame_with_unnamed_index_is_written_as_date():
    frame = make_frame(5).rename_axis(None)
    for fmt in FORMATS:
        got = read_frame(frame_to_bytes(frame, fmt), fmt)
        assert_same_values(got, frame.rename_axis("Date"), fmt)
    assert frame.index.name is None  # the caller's frame is untouched


def test_zip_is_deterministic():
    members = {"z": b"1" * 1000, "a": b"2"}
    first = writers._build_zip((k, len(v), io.BytesIO(v)) for k, v in sorted(members.items()))
    store = OutputStore(f"memory://sme-tests/{uuid.uuid4().hex}")
    store.write_zip("x.zip", members)
    store.write_zip("y.zip", dict(reversed(members.items())))
    assert store.read_bytes("x.zip") == store.read_bytes("y.zip") == first


def test_idempotent_rewrite(store):
    frame = make_frame()
    store.write_frame("s.parquet", frame, "parquet")
    before = store.read_bytes("s.parquet")
    store.write_frame("s.parquet", frame, "parquet")
    assert store.read_bytes("s.parquet") == before
    assert store.list() == ["s.parquet"]
    store.write_bytes("s.parquet", b"replaced")
    assert store.read_bytes("s.parquet") == b"replaced"


# -- atomicity (local) -------------------------------------------------------------------------


def test_failure_during_serialization_writes_nothing(tmp_path, monkeypatch):
    store = OutputStore(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("serializer crashed")

    import pipeline.io.writers as writers

    monkeypatch.setattr(writers.pq, "write_table", broken)
    with pytest.raises(RuntimeError, match="serializer crashed"):
        store.write_frame("series/s.parquet", make_frame(), "parquet")
    assert not (tmp_path / "series" / "s.parquet").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_failure_in_rename_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    store = OutputStore(tmp_path)
    store.write_bytes("keep.csv", b"old")

    def broken_replace(src, dst):
        raise OSError(5, "I/O error during rename")

    monkeypatch.setattr(writers.os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="I/O error during rename"):
        store.write_bytes("new.csv", b"new content")
    with pytest.raises(ConfigError):
        store.write_bytes("keep.csv", b"new content")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]
    assert (tmp_path / "keep.csv").read_bytes() == b"old"  # the old version survives intact


def test_failure_while_writing_temp_leaves_nothing(tmp_path, monkeypatch):
    store = OutputStore(tmp_path, fsync=True)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers.os, "fsync", broken_fsync)
    with pytest.raises(ConfigError, match="No space left on device"):
        store.write_bytes("a/b.csv", b"data")
    monkeypatch.undo()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_leftover_temp_files_are_not_listed(tmp_path):
    store = OutputStore(tmp_path)
    store.write_bytes("s.csv", b"x")
    (tmp_path / f".s.csv.tmp-{uuid.uuid4().hex}").write_bytes(b"half")  # a killed writer
    assert store.list() == ["s.csv"]


def test_orphaned_temporaries_are_swept_and_nothing_else(tmp_path):
    store = OutputStore(tmp_path)
    store.write_bytes("s.csv", b"x")
    store.write_bytes("sub/t.csv", b"y")
    (tmp_path / f".s.csv.tmp-{uuid.uuid4().hex}").write_bytes(b"half")
    (tmp_path / "sub" / f".t.csv.tmp-{uuid.uuid4().hex}").write_bytes(b"half")
    (tmp_path / ".s.csv.tmp-not-a-uuid").write_bytes(b"user file")  # not ours: kept
    assert store.remove_orphaned_temporaries() == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        ".s.csv.tmp-not-a-uuid", "s.csv", "t.csv"]
    assert store.remove_orphaned_temporaries() == 0


def test_written_files_follow_umask(tmp_path):
    store = OutputStore(tmp_path)
    store.write_bytes("s.csv", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "s.csv").stat().st_mode & 0o777 == 0o666 & ~umask


def test_relative_local_path_is_pinned_at_creation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = OutputStore("outputs/run")
    assert store.url == str(tmp_path / "outputs" / "run")
    monkeypatch.chdir("/")
    store.write_bytes("x.bin", b"1")
    assert (tmp_path / "outputs" / "run" / "x.bin").read_bytes() == b"1"


# -- pickling ----------------------------------------------------------------------------------


def test_pickle_round_trip_then_use(store):
    store.write_bytes("before.bin", b"1")  # builds and caches the filesystem
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store
    assert clone._fs is None
    clone.write_bytes("after.bin", b"2")
    assert store.read_bytes("after.bin") == b"2"
    assert clone.list() == ["after.bin", "before.bin"]


def test_repr_hides_credentials(s3_server):
    store = OutputStore("s3://bucket/p", storage_options=s3_server.storage_options)
    assert "testing" not in repr(store)
    assert "s3://bucket/p" in repr(store)


# -- errors ------------------------------------------------------------------------------------


def test_unknown_format_names_the_key_and_allowed_values(tmp_path):
    with pytest.raises(ConfigError, match=r"output\.formats.*'xls'.*'csv', 'xlsx', 'parquet'"):
        frame_to_bytes(make_frame(5), "xls")
    with pytest.raises(ConfigError, match="output.formats"):
        OutputStore(tmp_path).write_frame("s.json", make_frame(5), "json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_directory_is_a_config_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        store = OutputStore(locked / "run")
        with pytest.raises(ConfigError, match=r"not writable.*Permission"):
            store.write_bytes("s.csv", b"x")
    finally:
        locked.chmod(0o755)


def test_path_under_a_file_is_a_config_error(tmp_path):
    # Works as root too, unlike permissions: a regular file cannot be a directory.
    (tmp_path / "blocker").write_bytes(b"")
    store = OutputStore(tmp_path / "blocker" / "run")
    with pytest.raises(ConfigError) as info:
        store.ensure_writable()
    message = str(info.value)
    assert str(tmp_path / "blocker" / "run") in message
    assert "\n" not in message


def test_missing_bucket_is_a_config_error(s3_server):
    store = OutputStore(
        f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/run", storage_options=s3_server.storage_options
    )
    with pytest.raises(ConfigError) as info:
        store.write_frame("s.csv", make_frame(5), "csv")
    message = str(info.value)
    assert store.url in message and "\n" not in message
    assert "bucket" in message.lower()


def test_unreachable_endpoint_is_a_config_error():
    import socket

    with socket.socket() as sock:  # a port on 127.0.0.1 that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {
        "key": "testing",
        "secret": "testing",
        "skip_instance_cache": True,
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
    }
    store = OutputStore("s3://bucket/run", storage_options=options)
    with pytest.raises(ConfigError, match=f"s3://bucket/run.*127.0.0.1:{port}"):
        store.write_bytes("s.csv", b"x")


def test_permission_denied_is_a_config_error(tmp_path, monkeypatch):
    # The read-only directory test above cannot run as root; this checks the same path.
    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(writers.os, "makedirs", denied)
    store = OutputStore(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"'.*run' is not writable .*Permission denied"):
        store.write_bytes("sub/s.csv", b"x")


def test_write_chunks_is_atomic_and_streams(tmp_path):
    store = OutputStore(tmp_path)
    store.write_chunks("big/manifest.json", (b"[%d]" % i for i in range(3)))
    assert (tmp_path / "big" / "manifest.json").read_bytes() == b"[0][1][2]"

    def failing():
        yield b"partial"
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError, match="generator failed"):
        store.write_chunks("big/other.json", failing())
    assert sorted(p.name for p in (tmp_path / "big").iterdir()) == ["manifest.json"]


def test_write_chunks_to_memory_fs():
    store = OutputStore(f"memory://sme-chunks-{uuid.uuid4().hex}")
    store.write_chunks("m.json", [b"a", b"b"])
    assert store.read_bytes("m.json") == b"ab"


def test_parquet_bytes_do_not_depend_on_attrs_or_earlier_frames():
    from pipeline.io.writers import _PANDAS_META, frame_to_bytes

    _PANDAS_META.clear()
    first = make_frame()
    first.attrs["source"] = "somewhere.csv"
    frame_to_bytes(first, "parquet")  # primes any per-layout cache with attrs present
    plain = make_frame()
    assert frame_to_bytes(plain, "parquet") == frame_to_bytes(make_frame(), "parquet")
    assert b"somewhere.csv" not in frame_to_bytes(plain, "parquet")


def test_zip_members_are_deflated_at_level_one(store):
    """ZipFile ignores its compresslevel for a ZipInfo given to open(); the level must be set on
    the member itself (level 6 was five times slower on CSV)."""
    import zlib

    data = make_frame(300).to_csv().encode() * 20
    store.write_zip("one.zip", {"a.csv": data})
    with zipfile.ZipFile(io.BytesIO(store.read_bytes("one.zip"))) as archive:
        member = archive.getinfo("a.csv")
        assert archive.read("a.csv") == data
    fast = zlib.compressobj(1, zlib.DEFLATED, -15)
    assert member.compress_size == len(fast.compress(data) + fast.flush())
