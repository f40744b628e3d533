"""Hostile uploads against `sme serve` in its own process: each is refused by a limit (or its
time budget) while `/api/health` keeps answering and the server's memory stays flat.

The files are made here, as small as each attack allows: what they cost the server is what
they inflate to, not what they weigh.
"""

from __future__ import annotations

import gzip
import io
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.netutil import sme_serve
from tests.test_hostile_input import xlsx_of_empty_rows

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"
TOKEN = "hostile-live-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Options of the server under test (stricter than the defaults where a test needs it).
SERVER_OPTIONS = ["--max-upload-inflated-mb", "64", "--max-upload-line-kb", "4096",
                  "--upload-parse-seconds", "4"]
#: The server's own memory may grow by at most this much over all the hostile uploads.
RSS_GROWTH_BOUND = 150 * 2**20
#: Slowest /api/health answer allowed while uploads are parsed.
HEALTH_BOUND = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`sme serve` (a thread cluster) on a free port; stopped at the end with its children."""
    tmp_path = tmp_path_factory.mktemp("hostile-live")
    options = ["--threads", "--workers", "1", *SERVER_OPTIONS, "--log-level", "info"]
    with sme_serve(tmp_path, options, TOKEN) as (base, proc, port):
        yield base, proc, tmp_path, port


class Watch:
    """Polls /api/health and the server's memory in a thread until stopped."""

    def __init__(self, base: str, pid: int) -> None:
        self.base, self.process = base, psutil.Process(pid)
        self.latencies: list[float] = []
        self.rss: list[int] = []
        self.tree_rss: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                assert client.get("/api/health").status_code == 200
                self.latencies.append(time.perf_counter() - started)
                rss = self.process.memory_info().rss
                self.rss.append(rss)
                tree = rss
                for child in self.process.children(recursive=True):
                    try:
                        tree += child.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                self.tree_rss.append(tree)
                self._stop.wait(0.05)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _repeated_names() -> bytes:
    return b"Date,Open,High,Low,Close,Volume" + b",x" * 100_000 + b"\n2020-01-02,1,2,1,1,1\n"


def _million_columns() -> bytes:
    line = b"," * 999_999 + b"\n"
    return gzip.compress(b"Date,Open,High,Low,Close,Volume" + line[6:] + line * 10)


def _one_line() -> bytes:
    return gzip.compress(b"1," * (23 * 2**20))  # 46 MB without a line break


def _gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (200 * 2**20), compresslevel=9)  # 200 KB -> 200 MB


def _parquet_rows(n: int = 2_000_000) -> bytes:
    ones = pa.array(np.ones(n))
    table = pa.table({"Date": pa.array(np.zeros(n, "datetime64[ns]")), "Open": ones,
                      "High": ones, "Low": ones, "Close": ones})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _slow_csv(n: int = 999_000) -> bytes:
    """Within every limit, but month-first dates without a format take ~12 s to parse."""
    minutes = np.arange(n)
    day, month = 1 + (minutes // 1440) % 28, 1 + (minutes // (1440 * 28)) % 12
    year, hour, minute = 2000 + minutes // (1440 * 336), (minutes // 60) % 24, minutes % 60
    close = np.where(minutes % 2 == 0, "1.5", "1.6")
    lines = [f"{m}/{d}/{y} {h}:{mi:02d},1.5,2,1,{c},10" for m, d, y, h, mi, c in
             zip(month.tolist(), day.tolist(), year.tolist(), hour.tolist(), minute.tolist(),
                 close.tolist(), strict=True)]
    return gzip.compress(("Date,Open,High,Low,Close,Volume\n" + "\n".join(lines)).encode(), 1)


HOSTILE = [
    # name, file maker, status, limit named, server option named
    ("names.csv", _repeated_names, 422, "max_columns", "--max-upload-columns"),
    ("columns.csv.gz", _million_columns, 422, "max_columns", "--max-upload-columns"),
    ("oneline.csv.gz", _one_line, 422, "max_line_bytes", "--max-upload-line-kb"),
    ("bomb.csv.gz", _gzip_bomb, 413, "max_bytes", "--max-upload-inflated-mb"),
    ("rows.parquet", _parquet_rows, 422, "max_rows", "--max-upload-rows"),
    ("rows.xlsx", lambda: xlsx_of_empty_rows(1_000_001, 1), 422, "max_rows", "--max-upload-rows"),
    ("slow.csv.gz", _slow_csv, 422, "took longer than 4 s", "--upload-parse-seconds"),
]


def test_hostile_uploads_are_refused_while_health_answers_and_memory_stays_flat(server):
    base, proc, tmp_path, _port = server
    files = [(name, make(), status, limit, option)
             for name, make, status, limit, option in HOSTILE]
    sizes = {name: len(data) for name, data, *_ in files}
    assert max(sizes.values()) < 3 * 2**20, sizes  # small uploads, large costs
    with httpx.Client(base_url=base, headers=AUTH, timeout=120) as client:
        assert client.post("/api/datasets", files={"file": ("warm.csv", SAMPLE.read_bytes())}
                           ).status_code == 201  # the forkserver is up before the baseline
        baseline = psutil.Process(proc.pid).memory_info().rss
        took = {}
        with Watch(base, proc.pid) as watch:
            for name, data, status, limit, option in files:
                started = time.perf_counter()
                r = client.post("/api/datasets", files={"file": (name, data)})
                took[name] = time.perf_counter() - started
                assert r.status_code == status, (name, r.text)
                detail = r.json()["detail"]
                assert name in detail and limit in detail and option in detail, detail
                assert str(tmp_path) not in detail
            r = client.post("/api/datasets", files={"file": ("after.csv", SAMPLE.read_bytes())})
            assert r.status_code == 201, r.text
        assert len(watch.latencies) > 20
        peak = max(watch.rss)
        print(f"\nupload sizes {sizes}\nanswered in {({k: round(v, 2) for k, v in took.items()})}"
              f"\nhealth: {len(watch.latencies)} polls, slowest {max(watch.latencies):.3f} s; "
              f"server RSS baseline {baseline / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB; "
              f"server + parse processes peak {max(watch.tree_rss) / 2**20:.0f} MB")
        assert max(watch.latencies) < HEALTH_BOUND
        assert peak - baseline < RSS_GROWTH_BOUND
        # Only the two good uploads were stored; no parse process is left behind.
        assert len(client.get("/api/datasets").json()) == 2
    # Parse processes are forked from the forkserver; each one ended with its upload.
    forkservers = [p for p in psutil.Process(proc.pid).children()
                   if "forkserver" in " ".join(p.cmdline())]
    assert len(forkservers) == 1
    assert not forkservers[0].children()


def test_unauthenticated_upload_is_refused_before_its_body_is_sent(server):
    _base, _proc, _tmp, port = server
    head = (b"POST /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 47185920\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)  # and not one byte of the 45 MB body
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_tokens_in_query_strings_are_not_written_to_the_access_log(server):
    base, _proc, tmp_path, _port = server
    job = "job_" + "0" * 32
    for path in (f"/api/jobs/{job}/events", f"/api/jobs/{job}/download/manifest.json"):
        r = httpx.get(f"{base}{path}", params={"token": TOKEN}, timeout=10)
        assert r.status_code == 404
    deadline = time.monotonic() + 10
    while "download/manifest.json?token=" not in (log := (tmp_path / "server.log").read_text()):
        assert time.monotonic() < deadline, log[-2000:]
        time.sleep(0.1)
    assert "events?token=***" in log and "manifest.json?token=***" in log
    assert TOKEN not in log
