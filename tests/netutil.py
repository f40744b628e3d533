"""Small helpers for tests that start servers: they bind to 127.0.0.1 only."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def sme_serve(tmp_path: Path, options: list[str], token: str,
              timeout: float = 90.0) -> Iterator[tuple[str, subprocess.Popen, int]]:
    """`sme serve` on a free 127.0.0.1 port, its output in ``tmp_path/server.log``.

    Yields ``(base URL, process, port)`` once ``/api/health`` answers; at the end the server is
    terminated and its child processes must end with it.
    """
    import httpx
    import psutil

    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in finally
    env = {**os.environ, "SME_API_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pipeline.cli", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(tmp_path / "data"), *options]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base, proc, port
    finally:
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None \
            else []
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=20)
        for child in alive:
            child.kill()
        log.close()
        assert not alive, f"processes outlived the server: {alive}"
